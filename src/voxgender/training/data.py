"""Corpus manifests, readers for common corpus layouts, and speaker-disjoint splits.

Every reader returns :class:`Utterance` records with absolute audio paths and a gender of
``"female"`` or ``"male"``; rows or speakers without a usable gender label are left out. Speaker
ids that a reader makes are prefixed with the corpus name (``"<corpus>:<id>"``) so that they stay
unique when corpora are combined. Durations come from the labels when given; audio is not decoded.
"""

from __future__ import annotations

import csv
import math
import os
import random
import re
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from voxgender.errors import DataError
from voxgender.io.audio import find_audio_files

PathLike = str | os.PathLike

GENDERS = ("female", "male")
SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = ("path", "speaker", "gender", "corpus", "age", "language", "duration_s", "style")
REQUIRED_COLUMNS = ("path", "speaker", "gender")
COMMON_VOICE_COLUMNS = ("client_id", "path", "gender")

_GENDER_WORDS = {
    "female": {"f", "female", "w", "woman", "women", "female_feminine"},
    "male": {"m", "male", "man", "men", "male_masculine"},
}
_COMMON_VOICE_AGES = {
    "teens": 15.0, "twenties": 25.0, "thirties": 35.0, "fourties": 45.0, "forties": 45.0,
    "fifties": 55.0, "sixties": 65.0, "seventies": 75.0, "eighties": 85.0, "nineties": 95.0,
}
_LAYOUTS = (
    "expected labels.csv, LibriSpeech SPEAKERS.TXT, VCTK speaker-info.txt, Common Voice validated.tsv "
    "or train.tsv, female/ and male/ subfolders, or a .csv/.tsv manifest"
)


CHILD_AGE = 13  # "children" are speakers younger than this


@dataclass(frozen=True)
class Utterance:
    """One labelled recording."""

    path: str  # absolute path to the audio file
    speaker: str  # unique across corpora
    gender: str  # "female" | "male"
    corpus: str = ""
    age: float | None = None
    language: str = ""
    duration_s: float | None = None
    style: str = ""  # the emotion, intensity, reading style or channel, as the corpus names it

    @property
    def is_child(self) -> bool:
        """A speaker younger than CHILD_AGE (False when the age is unknown)."""
        return self.age is not None and self.age < CHILD_AGE


def normalise_gender(value: str | None) -> str | None:
    """``"female"`` or ``"male"`` for the usual spellings (f, woman, female_feminine, ...), else None."""
    word = (value or "").strip().lower()
    for gender, words in _GENDER_WORDS.items():
        if word in words:
            return gender
    return None


def _float(value: str | None) -> float | None:
    try:
        number = float(value or "")
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _format_float(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


@contextmanager
def _table(path: Path) -> Iterator[csv.DictReader]:
    """A DictReader over a CSV/TSV file with stripped lower-case column names; errors -> DataError."""
    tsv = _delimiter(path) == "\t"
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if tsv else ",",
                                    quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
            if not reader.fieldnames:
                raise DataError(f"{path}: empty file (no header row)")
            reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
            yield reader
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a manifest file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot read ({getattr(err, 'strerror', None) or err})") from None


def _require_columns(path: Path, reader: csv.DictReader, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in reader.fieldnames]
    if missing:
        raise DataError(f"{path}: missing required column(s) {', '.join(missing)} "
                        f"(found: {', '.join(reader.fieldnames)})")


def read_manifest(path: PathLike) -> list[Utterance]:
    """Utterances of a CSV (TSV for ``.tsv``) manifest with columns path, speaker, gender.

    Optional columns: corpus (default: the manifest's folder name), age, language, duration_s, style.
    Relative audio paths are resolved against the manifest's folder; rows whose gender is not
    female/male are skipped. Raises DataError for an unreadable file or a missing column.
    """
    manifest = Path(path)
    folder = manifest.absolute().parent
    utterances = []
    with _table(manifest) as reader:
        _require_columns(manifest, reader, REQUIRED_COLUMNS)
        for row in reader:
            gender = normalise_gender(row.get("gender"))
            if gender is None:
                continue
            audio, speaker = (row.get("path") or "").strip(), (row.get("speaker") or "").strip()
            if not audio or not speaker:
                raise DataError(f"{manifest}: line {reader.line_num}: empty {'path' if not audio else 'speaker'}")
            utterances.append(Utterance(
                path=os.path.normpath(folder / audio),
                speaker=speaker,
                gender=gender,
                corpus=(row.get("corpus") or "").strip() or folder.name,
                age=_float(row.get("age")),
                language=(row.get("language") or "").strip(),
                duration_s=_float(row.get("duration_s")),
                style=(row.get("style") or "").strip(),
            ))
    return utterances


def write_manifest(utterances: Iterable[Utterance], path: PathLike) -> None:
    """Write a manifest that :func:`read_manifest` reads back to the same utterances.

    Audio below the manifest's folder is written with relative paths, other audio with absolute ones.
    """
    manifest = Path(path)
    folder = manifest.absolute().parent
    tsv = _delimiter(manifest) == "\t"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with manifest.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t" if tsv else ",",
                                quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL, lineterminator="\n")
            writer.writerow(MANIFEST_COLUMNS)
            for utt in utterances:
                audio = Path(utt.path)
                shown = audio.relative_to(folder).as_posix() if audio.is_relative_to(folder) else str(audio)
                writer.writerow([shown, utt.speaker, utt.gender, utt.corpus, _format_float(utt.age),
                                 utt.language, _format_float(utt.duration_s), utt.style])
    except (OSError, csv.Error) as err:
        raise DataError(f"{manifest}: cannot write ({err})") from None


def _entries(folder: Path) -> dict[str, Path]:
    """The folder's entries by lower-case name (corpus marker files vary in case)."""
    return {child.name.lower(): child for child in folder.iterdir()}


def _read_common_voice_tsv(tsv: Path) -> list[Utterance]:
    """A Common Voice TSV (client_id, path, gender, ...); clips in clips/ beside it or one level up."""
    tsv = tsv.absolute()
    clips = next((d for d in (tsv.parent / "clips", tsv.parent.parent / "clips") if d.is_dir()), None)
    if clips is None:
        raise DataError(f"{tsv}: no clips/ folder beside it or in its parent folder")
    corpus = clips.parent.name
    utterances = []
    with _table(tsv) as reader:
        _require_columns(tsv, reader, COMMON_VOICE_COLUMNS)
        for row in reader:
            gender = normalise_gender(row.get("gender"))
            client, clip = (row.get("client_id") or "").strip(), (row.get("path") or "").strip()
            if gender is None or not client or not clip:
                continue
            utterances.append(Utterance(
                path=str(clips / clip),
                speaker=f"{corpus}:{client}",
                gender=gender,
                corpus=corpus,
                age=_COMMON_VOICE_AGES.get((row.get("age") or "").strip().lower()),
                language=(row.get("locale") or "").strip(),
            ))
    return utterances


def _read_librispeech(folder: Path, speakers_file: Path) -> list[Utterance]:
    """LibriSpeech: SPEAKERS.TXT ('ID | SEX | SUBSET | MINUTES | NAME') and <subset>/<speaker>/<chapter>/*.flac."""
    corpus = speakers_file.parent.name
    genders = {}
    for line in _read_text(speakers_file).splitlines():
        fields = [f.strip() for f in line.split("|")]
        if line.lstrip().startswith(";") or len(fields) < 2:
            continue
        gender = normalise_gender(fields[1])
        if fields[0] and gender:
            genders[fields[0]] = gender
    utterances = []
    for audio in find_audio_files(folder):
        rel = audio.relative_to(folder)
        candidates = (*rel.parts[:-1], audio.stem.split("-")[0])
        speaker = next((c for c in candidates if c in genders), None)
        if speaker is not None:
            utterances.append(Utterance(str(audio), f"{corpus}:{speaker}", genders[speaker], corpus, language="en"))
    return utterances


def _read_vctk(folder: Path, info_file: Path) -> list[Utterance]:
    """VCTK: speaker-info.txt (ID AGE GENDER ... columns, IDs 'p225' or '225'), audio in per-speaker folders."""
    corpus = folder.name
    rows = [line.split() for line in _read_text(info_file).splitlines() if line.strip()]
    age_col, gender_col = 1, 2  # the ID is the first column
    if rows and rows[0][0].upper() == "ID":
        header = [name.upper() for name in rows.pop(0)]
        age_col = header.index("AGE") if "AGE" in header else -1
        gender_col = next((header.index(n) for n in ("GENDER", "SEX") if n in header), 2)
    speakers: dict[str, tuple[str, str, float | None]] = {}  # folder name -> (speaker, gender, age)
    for row in rows:
        gender = normalise_gender(row[gender_col]) if len(row) > gender_col else None
        if gender is None:
            continue
        sid = "p" + row[0] if row[0].isdigit() else row[0]
        age = _float(row[age_col]) if 0 <= age_col < len(row) else None
        for name in {sid, row[0], sid.removeprefix("p")}:  # folders may be p225 or 225
            speakers[name] = (sid, gender, age)
    utterances = []
    for audio in find_audio_files(folder):
        known = next((speakers[p] for p in audio.relative_to(folder).parts[:-1] if p in speakers), None)
        if known is not None:
            sid, gender, age = known
            utterances.append(Utterance(str(audio), f"{corpus}:{sid}", gender, corpus, age=age, language="en"))
    return utterances


def _label_folders(folder: Path) -> list[tuple[Path, str]]:
    return [(child, gender) for child in sorted(folder.iterdir())
            if child.is_dir() and (gender := normalise_gender(child.name)) is not None]


def _read_label_folders(folder: Path, label_dirs: list[tuple[Path, str]]) -> list[Utterance]:
    """female/ and male/ subfolders; speaker = a subfolder below the label, else the file name's first token."""
    corpus = folder.name
    utterances = []
    for label_dir, gender in label_dirs:
        for audio in find_audio_files(label_dir):
            rel = audio.relative_to(label_dir)
            speaker = rel.parts[0] if len(rel.parts) > 1 else re.split(r"[_-]", audio.stem, maxsplit=1)[0]
            utterances.append(Utterance(str(audio), f"{corpus}:{speaker}", gender, corpus))
    return utterances


def read_speaker_list(path: PathLike) -> set[str]:
    """The speaker ids in the ``speaker`` column of a CSV (TSV for ``.tsv``) file, such as a label
    audit's list of speakers whose recorded gender their voice contradicts."""
    path = Path(path)
    with _table(path) as reader:
        _require_columns(path, reader, ("speaker",))
        return {row["speaker"].strip() for row in reader if (row["speaker"] or "").strip()}


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


def _read_file(path: Path) -> list[Utterance]:
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise DataError(f"{path}: not a recognised corpus layout ({_LAYOUTS})")
    with _table(path) as reader:
        common_voice = all(c in reader.fieldnames for c in COMMON_VOICE_COLUMNS) and "speaker" not in reader.fieldnames
    return _read_common_voice_tsv(path) if common_voice else read_manifest(path)


def _read_folder(folder: Path) -> list[Utterance]:
    entries = _entries(folder)
    if "labels.csv" in entries:
        return read_manifest(entries["labels.csv"])
    if "speakers.txt" in entries:
        return _read_librispeech(folder, entries["speakers.txt"])
    if "speaker-info.txt" in entries:
        return _read_vctk(folder, entries["speaker-info.txt"])
    for name in ("validated.tsv", "train.tsv"):
        if name in entries and "clips" in entries:
            return _read_common_voice_tsv(entries[name])
    label_dirs = _label_folders(folder)
    if label_dirs:
        return _read_label_folders(folder, label_dirs)
    parent_speakers = _entries(folder.parent).get("speakers.txt")  # a LibriSpeech subset folder
    if parent_speakers is not None:
        return _read_librispeech(folder, parent_speakers)
    corpora = sorted(p for p in folder.iterdir() if p.is_dir() and "labels.csv" in _entries(p))
    if corpora:  # a folder of corpus folders, such as ../shared/data
        return read_corpora(corpora)
    raise DataError(f"{folder}: not a recognised corpus layout ({_LAYOUTS})")


def read_corpus(path: PathLike) -> list[Utterance]:
    """Utterances of a manifest, Common Voice TSV or corpus folder, whose layout is detected.

    Folders: labels.csv; LibriSpeech (SPEAKERS.TXT here or, for a subset folder, one level up);
    VCTK (speaker-info.txt); Common Voice (validated.tsv, else train.tsv, and clips/); female/ and
    male/ (or f/m, women/men) subfolders. Raises DataError for an unknown layout or no usable audio.
    """
    target = Path(path).absolute()
    if not target.exists():
        raise DataError(f"{path}: no such file or folder")
    try:
        utterances = _read_folder(target) if target.is_dir() else _read_file(target)
    except PermissionError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None
    if not utterances:
        raise DataError(f"{path}: no labelled female/male audio found")
    return utterances


def read_corpora(paths: PathLike | Iterable[PathLike]) -> list[Utterance]:
    """All utterances of several corpora; raises DataError if a speaker id occurs in two corpora."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    utterances: list[Utterance] = []
    corpus_of: dict[str, str] = {}
    for path in paths:
        for utt in read_corpus(path):
            other = corpus_of.setdefault(utt.speaker, utt.corpus)
            if other != utt.corpus:
                raise DataError(f"{path}: speaker id {utt.speaker!r} also occurs in corpus {other!r}; "
                                "speaker ids must be unique across corpora (prefix them with the corpus name)")
            utterances.append(utt)
    return utterances


def _speaker_groups(utterances: Iterable[Utterance]) -> dict[str, tuple[str, str]]:
    """speaker -> (corpus, gender), taking the speaker's most frequent pair (ties: the smallest)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for utt in utterances:
        counts[utt.speaker][(utt.corpus, utt.gender)] += 1
    return {spk: min(c, key=lambda key: (-c[key], key)) for spk, c in counts.items()}


def _round(value: float) -> int:
    return math.floor(value + 0.5)


def speaker_split(
    utterances: Sequence[Utterance], val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> dict[str, list[Utterance]]:
    """Speaker-disjoint train/val/test split, stratified by (corpus, gender).

    Within each (corpus, gender) group the sorted speakers are shuffled with a generator seeded by
    ``seed`` and the group, then the first ``round(n * test_fraction)`` go to test, the next
    ``round(n * val_fraction)`` to val, the rest to train. A group of 3 or more speakers gives val
    and test (when their fraction is > 0) at least one speaker and keeps one for train. Each split
    keeps the input order of its utterances.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DataError(f"invalid split fractions val={val_fraction:g} test={test_fraction:g} "
                        "(each in [0, 1) and together below 1)")
    members: dict[tuple[str, str], list[str]] = defaultdict(list)
    for speaker, group in _speaker_groups(utterances).items():
        members[group].append(speaker)
    split_of: dict[str, str] = {}
    for (corpus, gender), speakers in members.items():
        speakers.sort()
        random.Random(f"{seed}:{corpus}:{gender}").shuffle(speakers)
        n = len(speakers)
        n_test, n_val = _round(n * test_fraction), _round(n * val_fraction)
        if n >= 3:
            n_test = max(n_test, 1 if test_fraction > 0 else 0)
            n_val = max(n_val, 1 if val_fraction > 0 else 0)
        while n_test + n_val > max(n - 1, 0):
            if n_val >= n_test:
                n_val -= 1
            else:
                n_test -= 1
        for i, speaker in enumerate(speakers):
            split_of[speaker] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    splits: dict[str, list[Utterance]] = {name: [] for name in SPLITS}
    for utt in utterances:
        splits[split_of[utt.speaker]].append(utt)
    return splits


def summarise(utterances: Iterable[Utterance]) -> list[dict]:
    """Per corpus (sorted by name): utterance and speaker counts by gender, and hours of known duration."""
    utterances = list(utterances)
    gender_of = {speaker: gender for speaker, (_, gender) in _speaker_groups(utterances).items()}
    by_corpus: dict[str, list[Utterance]] = defaultdict(list)
    for utt in utterances:
        by_corpus[utt.corpus].append(utt)
    summary = []
    for corpus in sorted(by_corpus):
        utts = by_corpus[corpus]
        speakers = {u.speaker for u in utts}
        genders = Counter(gender_of[s] for s in speakers)
        summary.append({"corpus": corpus, "utterances": len(utts), "speakers": len(speakers),
                        "female_speakers": genders["female"], "male_speakers": genders["male"],
                        "hours": sum(u.duration_s or 0.0 for u in utts) / 3600})
    return summary
