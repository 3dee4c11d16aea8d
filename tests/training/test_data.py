"""Corpus manifests, layout readers, speaker-disjoint splits and summaries (voxgender.training.data)."""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import ROOT

from voxgender.errors import DataError
from voxgender.training.data import (
    GENDERS,
    Utterance,
    normalise_gender,
    read_corpora,
    read_corpus,
    read_manifest,
    speaker_split,
    summarise,
    write_manifest,
)

SHARED_DATA = ROOT.parent / "shared" / "data"
_TONE = (0.3 * np.sin(2 * np.pi * 220 * np.arange(3200) / 16000)).astype(np.float32)  # 0.2 s at 16 kHz


def wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _TONE, 16000)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def check_paths(utterances: list[Utterance]) -> None:
    for utt in utterances:
        assert os.path.isabs(utt.path) and Path(utt.path).is_file(), utt.path
        assert utt.gender in GENDERS


def one_line_error(excinfo: pytest.ExceptionInfo, *parts: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)
    return message


# -- genders -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["f", "F", "female", "Female ", "woman", "w", "female_feminine"])
def test_normalise_female(value):
    assert normalise_gender(value) == "female"


@pytest.mark.parametrize("value", ["m", "M", "male", "MALE", "man", "male_masculine"])
def test_normalise_male(value):
    assert normalise_gender(value) == "male"


@pytest.mark.parametrize("value", ["other", "", "nan", "NaN", "x", "intersex", "do_not_wish_to_say", None])
def test_normalise_unusable(value):
    assert normalise_gender(value) is None


# -- manifests -----------------------------------------------------------------------------------
def test_read_manifest_resolves_paths_and_skips_unusable_rows(tmp_path):
    folder = tmp_path / "mycorpus"
    wav(folder / "a" / "1.wav")
    wav(folder / "a" / "2.wav")
    wav(folder / "b" / "3.wav")
    outside = wav(tmp_path / "elsewhere" / "4.wav")
    manifest = write(folder / "list.csv", (
        "path,speaker,gender,age,duration_s,language\n"
        "a/1.wav,s1,f,31,0.2,en\n"
        "a/2.wav,s1,F,,,en\n"
        f"{outside},s2,male,nan,bad,\n"
        "b/3.wav,s3,other,40,0.2,en\n"
        "b/3.wav,s3,,40,0.2,en\n"
        "b/3.wav,s3,nan,40,0.2,en\n"
    ))
    utts = read_manifest(manifest)
    assert len(utts) == 3  # three rows skipped for their gender
    check_paths(utts)
    assert [u.gender for u in utts] == ["female", "female", "male"]
    assert [u.speaker for u in utts] == ["s1", "s1", "s2"]
    assert {u.corpus for u in utts} == {"mycorpus"}  # no corpus column: the folder name
    assert utts[0].path == str(folder / "a" / "1.wav")
    assert utts[2].path == str(outside)
    assert (utts[0].age, utts[0].duration_s, utts[0].language) == (31.0, 0.2, "en")
    assert (utts[1].age, utts[1].duration_s) == (None, None)
    assert (utts[2].age, utts[2].duration_s, utts[2].language) == (None, None, "")


def test_read_manifest_tsv_with_corpus_column(tmp_path):
    wav(tmp_path / "x.wav")
    manifest = write(tmp_path / "m.tsv", "speaker\tgender\tpath\tcorpus\nk1\tm\tx.wav\tcorpusA\nk2\tw\tx.wav\t\n")
    utts = read_manifest(manifest)
    assert [(u.speaker, u.gender, u.corpus) for u in utts] == [
        ("k1", "male", "corpusA"), ("k2", "female", tmp_path.name)]
    check_paths(utts)


def test_write_manifest_round_trips(tmp_path):
    inside = wav(tmp_path / "data" / "in.wav")
    outside = wav(tmp_path / "other" / "out.wav")
    utts = [
        Utterance(str(inside), "c:1", "female", "c", age=7.0, language="en (Mandarin L1)", duration_s=1.234),
        Utterance(str(outside), "c:2", "male", "c", age=None, language="", duration_s=None),
        Utterance(str(inside), "d:1", "male", "d", age=33.5, language="ar", duration_s=0.2, style="angry"),
    ]
    for name in ("manifest.csv", "manifest.tsv"):
        target = tmp_path / "data" / name
        write_manifest(utts, target)
        assert read_manifest(target) == utts
    assert "in.wav,c:1" in (tmp_path / "data" / "manifest.csv").read_text()  # relative below the folder


@pytest.mark.parametrize("header", ["path,gender", "speaker,gender", "path,speaker"])
def test_read_manifest_missing_column(tmp_path, header):
    manifest = write(tmp_path / "bad.csv", header + "\na,b\n")
    with pytest.raises(DataError) as excinfo:
        read_manifest(manifest)
    one_line_error(excinfo, str(manifest), "missing required column")


def test_read_manifest_unreadable(tmp_path):
    for target, reason in [(tmp_path / "nope.csv", "no such file"), (tmp_path, "folder"),
                           (write(tmp_path / "empty.csv", ""), "empty")]:
        with pytest.raises(DataError) as excinfo:
            read_manifest(target)
        one_line_error(excinfo, str(target), reason)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\xfa\x00\x81" * 10)
    with pytest.raises(DataError) as excinfo:
        read_manifest(binary)
    one_line_error(excinfo, str(binary), "cannot read")


def test_read_manifest_empty_path_names_line(tmp_path):
    manifest = write(tmp_path / "m.csv", "path,speaker,gender\nx.wav,s,f\n,s,m\n")
    with pytest.raises(DataError) as excinfo:
        read_manifest(manifest)
    one_line_error(excinfo, str(manifest), "line 3", "empty path")


# -- corpus layouts ------------------------------------------------------------------------------
def test_read_corpus_labels_folder(tmp_path):
    folder = tmp_path / "shared_like"
    wav(folder / "data" / "01" / "a.flac")
    wav(folder / "data" / "02" / "b.flac")
    write(folder / "labels.csv", (
        "path,speaker,gender,age,duration_s,corpus,language\n"
        "data/01/a.flac,shared_like:01,m,,1.250,shared_like,az\n"
        "data/02/b.flac,shared_like:02,f,12,2.0,shared_like,az\n"
    ))
    utts = read_corpus(folder)
    check_paths(utts)
    assert [(u.speaker, u.gender, u.age, u.duration_s) for u in utts] == [
        ("shared_like:01", "male", None, 1.25), ("shared_like:02", "female", 12.0, 2.0)]
    assert read_corpus(folder / "labels.csv") == utts  # the manifest file itself


def make_librispeech(root: Path) -> Path:
    write(root / "SPEAKERS.TXT", (
        "; Some comments\n"
        ";ID  |SEX| SUBSET           |MINUTES| NAME\n"
        "14   | F | train-clean-360  | 25.03 | Kristin LeMoine\n"
        "16   | F | train-clean-100  | 25.11 | Alys AtteWater\n"
        "17   | M | train-clean-100  | 25.04 | Gord Mackenzie\n"
        "19   | X | train-clean-100  | 25.19 | Kara Shallenberg\n"
    ))
    for rel in ["train-clean-100/16/100/16-100-0000.flac", "train-clean-100/16/100/16-100-0001.flac",
                "train-clean-100/17/200/17-200-0000.flac", "dev-clean/14/300/14-300-0000.flac",
                "dev-clean/19/400/19-400-0000.flac",  # unusable sex: skipped
                "dev-clean/99/500/99-500-0000.flac"]:  # speaker not listed: skipped
        wav(root / rel)
    write(root / "train-clean-100" / "16" / "100" / "16-100.trans.txt", "16-100-0000 HELLO\n")
    return root


def test_read_corpus_librispeech(tmp_path):
    root = make_librispeech(tmp_path / "LibriSpeech")
    utts = read_corpus(root)
    check_paths(utts)
    assert len(utts) == 4
    assert Counter(u.speaker for u in utts) == {"LibriSpeech:16": 2, "LibriSpeech:17": 1, "LibriSpeech:14": 1}
    assert {u.speaker: u.gender for u in utts} == {
        "LibriSpeech:16": "female", "LibriSpeech:17": "male", "LibriSpeech:14": "female"}
    assert {u.corpus for u in utts} == {"LibriSpeech"} and all(u.duration_s is None for u in utts)
    subset = read_corpus(root / "train-clean-100")  # SPEAKERS.TXT one level up: same speaker ids
    assert {u.speaker for u in subset} == {"LibriSpeech:16", "LibriSpeech:17"} and len(subset) == 3


@pytest.mark.parametrize("version", ["0.92", "0.80"])
def test_read_corpus_vctk(tmp_path, version):
    root = tmp_path / "VCTK"
    if version == "0.92":
        write(root / "speaker-info.txt", (
            "ID  AGE  GENDER  ACCENTS  REGION COMMENTS \n"
            "p225  23  F    English    Southern  England\n"
            "p226  22  M    English    Surrey\n"
            "p280  25  F    French    Paris    (mic2 files unavailable)\n"
            "s5  22  ?    British    Scotland\n"
        ))
        for name in ["p225/p225_001_mic1.flac", "p225/p225_001_mic2.flac", "p226/p226_001_mic1.flac",
                     "p280/p280_001_mic1.flac", "s5/s5_001_mic1.flac"]:
            wav(root / "wav48_silence_trimmed" / name)
    else:
        write(root / "speaker-info.txt", "ID  AGE  GENDER  ACCENTS  REGION\n225  23  F  English  Southern\n"
                                         "226  22  M  English  Surrey\n280  25  F  French  Paris\n")
        for name in ["wav48/p225/p225_001.wav", "wav48/p225/p225_002.wav", "wav48/p226/p226_001.wav",
                     "wav48/p280/p280_001.wav"]:
            wav(root / name)
    write(root / "txt" / "p225" / "p225_001.txt", "Please call Stella.\n")
    utts = read_corpus(root)
    check_paths(utts)
    assert Counter(u.speaker for u in utts) == {"VCTK:p225": 2, "VCTK:p226": 1, "VCTK:p280": 1}
    assert {u.speaker: (u.gender, u.age) for u in utts} == {
        "VCTK:p225": ("female", 23.0), "VCTK:p226": ("male", 22.0), "VCTK:p280": ("female", 25.0)}


def make_common_voice(folder: Path, tsv_name: str = "validated.tsv") -> Path:
    for i in range(6):
        wav(folder / "clips" / f"common_voice_en_{i}.wav")
    write(folder / tsv_name, (
        "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\tsegment\n"
        "aaa\tcommon_voice_en_0.wav\t\"Quoted\" start\t2\t0\ttwenties\tmale_masculine\t\ten\t\n"
        "aaa\tcommon_voice_en_1.wav\tHello.\t2\t0\ttwenties\tmale_masculine\t\ten\t\n"
        "bbb\tcommon_voice_en_2.wav\tHi.\t2\t0\tfourties\tfemale_feminine\t\ten\t\n"
        "ccc\tcommon_voice_en_3.wav\tHey.\t2\t0\t\t\t\ten\t\n"
        "ddd\tcommon_voice_en_4.wav\tHo.\t2\t0\t\tother\t\ten\t\n"
        "eee\tcommon_voice_en_5.wav\tHa.\t2\t0\tteens\tfemale\t\ten\t\n"
    ))
    return folder


@pytest.mark.parametrize("tsv_name", ["validated.tsv", "train.tsv"])
def test_read_corpus_common_voice_folder(tmp_path, tsv_name):
    folder = make_common_voice(tmp_path / "cv_en", tsv_name)
    utts = read_corpus(folder)
    check_paths(utts)
    assert [(u.speaker, u.gender, u.age) for u in utts] == [
        ("cv_en:aaa", "male", 25.0), ("cv_en:aaa", "male", 25.0), ("cv_en:bbb", "female", 45.0),
        ("cv_en:eee", "female", 15.0)]
    assert {(u.corpus, u.language) for u in utts} == {("cv_en", "en")}


def test_read_corpus_common_voice_tsv_file(tmp_path):
    folder = make_common_voice(tmp_path / "cv_en")
    beside = read_corpus(folder / "validated.tsv")
    nested = write(folder / "splits" / "test.tsv", (folder / "validated.tsv").read_text())
    above = read_corpus(nested)  # clips/ one level up
    assert len(beside) == len(above) == 4
    check_paths(above)
    lonely = write(tmp_path / "lonely" / "validated.tsv", (folder / "validated.tsv").read_text())
    with pytest.raises(DataError) as excinfo:
        read_corpus(lonely)
    one_line_error(excinfo, str(lonely), "clips")


def test_read_corpus_label_folders_flat(tmp_path):
    root = tmp_path / "voices"
    for name in ["female/anna_001.wav", "female/anna_002.wav", "female/bea-01.wav", "male/carl_1.wav",
                 "male/dan.wav", "other/eve_1.wav"]:
        wav(root / name)
    utts = read_corpus(root)
    check_paths(utts)
    assert Counter((u.speaker, u.gender) for u in utts) == {
        ("voices:anna", "female"): 2, ("voices:bea", "female"): 1, ("voices:carl", "male"): 1,
        ("voices:dan", "male"): 1}
    assert {u.corpus for u in utts} == {"voices"}


@pytest.mark.parametrize("labels", [("f", "m"), ("women", "men"), ("Female", "Male")])
def test_read_corpus_label_folders_with_speaker_level(tmp_path, labels):
    root = tmp_path / "bylabel"
    for name in [f"{labels[0]}/alice/x_1.wav", f"{labels[0]}/alice/sess/x_2.wav", f"{labels[0]}/bella/x_1.wav",
                 f"{labels[1]}/carl/x_1.wav"]:
        wav(root / name)
    utts = read_corpus(root)
    check_paths(utts)
    assert Counter((u.speaker, u.gender) for u in utts) == {
        ("bylabel:alice", "female"): 2, ("bylabel:bella", "female"): 1, ("bylabel:carl", "male"): 1}


def test_read_corpus_bad_inputs(tmp_path):
    wav(tmp_path / "random" / "song.wav")
    cases = [(tmp_path / "random", "not a recognised corpus layout"), (tmp_path / "missing", "no such file"),
             (wav(tmp_path / "clip.wav"), "not a recognised corpus layout")]
    (tmp_path / "empty_labels" / "female").mkdir(parents=True)
    cases.append((tmp_path / "empty_labels", "no labelled"))
    for target, reason in cases:
        with pytest.raises(DataError) as excinfo:
            read_corpus(target)
        one_line_error(excinfo, str(target), reason)


def test_read_corpora_concatenates_and_checks_speaker_ids(tmp_path):
    libri = make_librispeech(tmp_path / "LibriSpeech")
    cv = make_common_voice(tmp_path / "cv_en")
    utts = read_corpora([libri, str(cv)])
    assert len(utts) == 4 + 4
    assert {u.corpus for u in utts} == {"LibriSpeech", "cv_en"}
    assert read_corpora(libri) == read_corpus(libri)  # a single path is accepted too

    wav(tmp_path / "x.wav")
    write(tmp_path / "a" / "train.csv", f"path,speaker,gender\n{tmp_path / 'x.wav'},7,f\n")
    write(tmp_path / "a" / "test.csv", f"path,speaker,gender\n{tmp_path / 'x.wav'},7,f\n")
    write(tmp_path / "b" / "all.csv", f"path,speaker,gender\n{tmp_path / 'x.wav'},7,m\n")
    assert len(read_corpora([tmp_path / "a" / "train.csv", tmp_path / "a" / "test.csv"])) == 2  # same corpus
    with pytest.raises(DataError) as excinfo:
        read_corpora([tmp_path / "a" / "train.csv", tmp_path / "b" / "all.csv"])
    one_line_error(excinfo, str(tmp_path / "b" / "all.csv"), "'7'", "unique")


# -- splits --------------------------------------------------------------------------------------
def synthetic(groups: dict[tuple[str, str], int], seed: int = 1) -> list[Utterance]:
    rng = random.Random(seed)
    utts = []
    for (corpus, gender), n_speakers in groups.items():
        for s in range(n_speakers):
            for k in range(rng.randint(1, 4)):
                utts.append(Utterance(f"/data/{corpus}/{gender}{s}_{k}.wav", f"{corpus}:{gender}{s}", gender,
                                      corpus, duration_s=1.5))
    rng.shuffle(utts)
    return utts


GROUPS = {("a", "female"): 100, ("a", "male"): 60, ("b", "female"): 40, ("b", "male"): 200}


def speakers_of(split: list[Utterance]) -> set[str]:
    return {u.speaker for u in split}


def test_speaker_split_properties():
    utts = synthetic(GROUPS)
    splits = speaker_split(utts, val_fraction=0.1, test_fraction=0.2, seed=3)
    assert set(splits) == {"train", "val", "test"}
    train, val, test = (speakers_of(splits[k]) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert sorted(u.path for split in splits.values() for u in split) == sorted(u.path for u in utts)
    for (corpus, gender), n in GROUPS.items():
        counts = {k: len({u.speaker for u in v if (u.corpus, u.gender) == (corpus, gender)})
                  for k, v in splits.items()}
        assert sum(counts.values()) == n
        assert abs(counts["val"] - 0.1 * n) <= 1 and abs(counts["test"] - 0.2 * n) <= 1
    order = {u.path: i for i, u in enumerate(utts)}
    assert all(sorted(v, key=lambda u: order[u.path]) == v for v in splits.values())  # input order kept


def test_speaker_split_deterministic():
    utts = synthetic(GROUPS)
    first = speaker_split(utts, seed=7)
    assert speaker_split(utts, seed=7) == first
    reordered = speaker_split(list(reversed(utts)), seed=7)  # input order does not change who goes where
    assert {k: speakers_of(v) for k, v in reordered.items()} == {k: speakers_of(v) for k, v in first.items()}
    other = speaker_split(utts, seed=8)
    assert speakers_of(other["test"]) != speakers_of(first["test"])
    # adding a corpus does not reshuffle the others
    more = speaker_split(utts + synthetic({("c", "male"): 30}), seed=7)
    assert {u.speaker for u in more["test"] if u.corpus != "c"} == speakers_of(first["test"])


@pytest.mark.parametrize("n, expected", [(1, (1, 0, 0)), (2, (2, 0, 0)), (3, (1, 1, 1)), (4, (2, 1, 1)),
                                         (10, (8, 1, 1)), (25, (19, 3, 3))])
def test_speaker_split_small_groups(n, expected):
    splits = speaker_split(synthetic({("x", "female"): n}), 0.1, 0.1, seed=0)
    assert tuple(len(speakers_of(splits[k])) for k in ("train", "val", "test")) == expected


def test_speaker_split_zero_fractions_and_bad_fractions():
    utts = synthetic(GROUPS)
    splits = speaker_split(utts, 0, 0)
    assert len(splits["train"]) == len(utts) and not splits["val"] and not splits["test"]
    only_test = speaker_split(synthetic({("x", "male"): 3}), 0, 0.1)
    assert [len(speakers_of(only_test[k])) for k in ("train", "val", "test")] == [2, 0, 1]
    for val, test in [(-0.1, 0.1), (0.5, 0.5), (1.0, 0.0)]:
        with pytest.raises(DataError, match="fractions"):
            speaker_split(utts, val, test)
    assert speaker_split([], 0.1, 0.1) == {"train": [], "val": [], "test": []}


def test_summarise():
    utts = synthetic({("b", "female"): 3, ("a", "male"): 2, ("a", "female"): 1})
    utts.append(Utterance("/x.wav", "a:male0", "male", "a", duration_s=None))
    rows = summarise(utts)
    assert [r["corpus"] for r in rows] == ["a", "b"]
    a = rows[0]
    assert (a["speakers"], a["female_speakers"], a["male_speakers"]) == (3, 1, 2)
    assert a["utterances"] == sum(u.corpus == "a" for u in utts)
    assert a["hours"] == pytest.approx((a["utterances"] - 1) * 1.5 / 3600)
    assert (rows[1]["female_speakers"], rows[1]["male_speakers"]) == (3, 0)


# -- the shared corpora --------------------------------------------------------------------------
def test_read_shared_corpora():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    folders = sorted(p for p in SHARED_DATA.iterdir() if (p / "labels.csv").is_file())
    utts = read_corpora(folders)
    assert len(folders) == 12
    assert len(utts) == 5518  # the README's table
    assert len({u.speaker for u in utts}) == 1293
    rows = {r["corpus"]: r for r in summarise(utts)}
    assert set(rows) == {"librispeech_resemblyzer", "speechocean762", "audiomnist_az", "baved", "slr45_freest_en",
                         "mexican_voices", "commonvoice_subsets", "ased", "nemo", "emotiontts_kr_emotional",
                         "emotiontts_kr_neutral", "hyke_telephone"}
    assert (rows["baved"]["female_speakers"], rows["baved"]["male_speakers"]) == (16, 44)
    assert (rows["ased"]["female_speakers"], rows["ased"]["male_speakers"]) == (25, 40)
    assert {u.style for u in utts if u.corpus == "ased"} == {"neutral", "fearful", "happy", "sad", "angry"}
    assert all(u.duration_s and Path(u.path).is_absolute() for u in utts)
    assert all(Path(u.path).is_file() for u in utts[::50])
    splits = speaker_split(utts)
    assert not speakers_of(splits["train"]) & (speakers_of(splits["val"]) | speakers_of(splits["test"]))
