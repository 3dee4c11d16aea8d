"""The choosing panel: a model scored on every kind of speech we hold, decided by its worst group.

A mean over speech like the training data hides the failure that matters (men at high arousal
heard as women, over-confident probabilities), so a recipe is chosen by the lowest score of these
groups, each from speakers that the model never trained on (one split of all twelve corpora):

- every corpus (full clips);
- each emotion of the emotional corpora (``ased``, ``nemo``, ``emotiontts_kr_emotional``; ``style``);
- the long TV and interview excerpts of ``mexican_voices`` (clips of 10 s or more);
- 1-s crops from each clip's first speech;
- synthetic arousal on the clips of the non-emotional corpora: men's pitch raised 1.2-1.6× with
  the formants kept, a flatter spectral tilt and 6 dB more level (raised vocal effort); women's
  pitch lowered 0.7-0.85×.

A group's score is its UAR, or the recall of its one gender (the arousal groups). Choose on
``--split val``; ``--split test`` is for reporting only.

    python benchmarks/panel.py --model runs/X --out benchmarks/results/panel/X            # val
    python benchmarks/panel.py --split test --out benchmarks/results/panel/bundled_test    # report
    python benchmarks/panel.py --encoder --out benchmarks/results/panel/bundled_val_encoder  # predict --encoder
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from voxgender.core.calibration import coverage_curve, expected_calibration_error, reliability
from voxgender.io.audio import SAMPLE_RATE, load_audio
from voxgender.io.model_dir import SPLITS_FILE, bundled_model_dir
from voxgender.io.progress import progress_bar
from voxgender.model import Model, load_model
from voxgender.runtime import one_thread
from voxgender.training.augment import raise_effort, shift_pitch
from voxgender.training.data import Utterance, read_corpora, read_speaker_list, speaker_split
from voxgender.training.evaluate import plot_reliability
from voxgender.training.trainer import speech_onset

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
LABEL_AUDIT = ROOT / "benchmarks" / "results" / "label_audit.csv"  # speakers whose voice contradicts their label
EMOTIONAL = ("ased", "nemo", "emotiontts_kr_emotional")
EXCERPT_CORPUS, EXCERPT_MIN_S = "mexican_voices", 10.0
CROP_S = 1.0
AROUSAL_CLIPS_PER_SPEAKER = 2
MALE_PITCH, FEMALE_PITCH = (1.2, 1.6), (0.7, 0.85)
EFFORT_TILT_DB_PER_DECADE, EFFORT_GAIN_DB = 6.0, 6.0
MIN_GROUP_CLIPS = 12  # smaller groups are listed but do not decide the worst group
CHUNK = 64


def split_speakers_of(utterances: Sequence[Utterance], split: str, model_dir: Path) -> list[Utterance]:
    """The utterances of ``split`` of the twelve-corpus split (seed 0, as ``voxgender train`` makes it).
    Refuses a model that trained on any of them."""
    chosen = speaker_split(utterances)[split]
    splits_file = model_dir / SPLITS_FILE
    if splits_file.is_file():
        trained = set(json.loads(splits_file.read_text()).get("train", []))
        leaked = sorted({u.speaker for u in chosen} & trained)
        if leaked:
            raise SystemExit(f"{model_dir}: trained on {len(leaked)} {split} speakers (e.g. {leaked[0]}): not a fair panel")
    return chosen


def raised_effort(audio: np.ndarray) -> np.ndarray:
    """A flatter spectral tilt (+``EFFORT_TILT_DB_PER_DECADE`` per decade above 1 kHz, the training
    augmentation's transform at a fixed tilt) and ``EFFORT_GAIN_DB`` more level, clipped to [-1, 1]."""
    tilt = (EFFORT_TILT_DB_PER_DECADE, EFFORT_TILT_DB_PER_DECADE)
    tilted = raise_effort(torch.from_numpy(audio[None, :]), torch.Generator(), tilt)[0].numpy()
    return np.clip(tilted * 10 ** (EFFORT_GAIN_DB / 20), -1.0, 1.0).astype(np.float32)


def aroused(audio: np.ndarray, gender: str, rng: np.random.Generator) -> np.ndarray:
    """A man's clip raised as in excited speech, or a woman's lowered as in sad speech (formants kept)."""
    low, high = MALE_PITCH if gender == "male" else FEMALE_PITCH
    factor = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    shifted = shift_pitch(torch.from_numpy(audio[None, :]), factor)[0].numpy()
    return raised_effort(shifted) if gender == "male" else shifted.astype(np.float32)


def arousal_clips(utterances: Sequence[Utterance]) -> list[Utterance]:
    """Up to ``AROUSAL_CLIPS_PER_SPEAKER`` clips of each speaker of the non-emotional corpora."""
    taken: dict[str, int] = defaultdict(int)
    out = []
    for utt in utterances:
        if utt.corpus not in EMOTIONAL and utt.corpus != "baved" and taken[utt.speaker] < AROUSAL_CLIPS_PER_SPEAKER:
            taken[utt.speaker] += 1
            out.append(utt)
    return out


def clip_groups(utt: Utterance) -> list[str]:
    """The panel groups a full clip belongs to."""
    groups = [f"corpus {utt.corpus}"]
    if utt.corpus in EMOTIONAL and utt.style:
        groups.append(f"emotion {utt.corpus}/{utt.style}")
    if utt.corpus == EXCERPT_CORPUS and (utt.duration_s or 0) >= EXCERPT_MIN_S:
        groups.append(f"excerpts {utt.corpus} (>= {EXCERPT_MIN_S:g} s)")
    return groups


def record_groups(condition: str, utt: Utterance) -> list[str]:
    """The panel groups of a scored clip: a full clip's (``clip_groups``), the crops', or arousal's by gender."""
    if condition == "full":
        return clip_groups(utt)
    return ["1-s crops from speech onset"] if condition == "crop" else [f"synthetic arousal ({utt.gender})"]


def score_records(model: Model, utterances: Sequence[Utterance], seed: int, show: bool) -> list[dict[str, Any]]:
    """One record per scored clip and condition: groups, speaker, gender, p_female."""
    rng = np.random.default_rng(seed)
    arousal = {id(u) for u in arousal_clips(utterances)}
    records: list[dict[str, Any]] = []
    for start in progress_bar(range(0, len(utterances), CHUNK), "panel", show):
        batch = utterances[start:start + CHUNK]
        audios = [load_audio(u.path) for u in batch]
        onsets = [speech_onset(a) for a in audios]
        crops = [a[start:start + int(CROP_S * SAMPLE_RATE)] for a, start in zip(audios, onsets)]
        shifted = [(u, aroused(a, u.gender, rng)) for u, a in zip(batch, audios) if id(u) in arousal]
        conditions = [("full", batch, audios), ("crop", batch, crops),
                      ("arousal", [u for u, _ in shifted], [a for _, a in shifted])]
        for condition, utts, waves in conditions:
            if not waves:
                continue
            for utt, p in zip(utts, model.p_female_of_arrays(waves)):
                records.append({"condition": condition, "groups": record_groups(condition, utt), "path": utt.path, "speaker": utt.speaker,
                                "corpus": utt.corpus, "style": utt.style, "gender": utt.gender, "p_female": float(p)})
    return records


def group_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per group: clips, speakers, female and male recall, and its score (UAR, or the one recall)."""
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        for group in record["groups"]:
            members[group].append(record)
    rows = []
    for group, recs in members.items():
        recall = {}
        for gender in ("female", "male"):
            own = [r for r in recs if r["gender"] == gender]
            if own:
                recall[gender] = float(np.mean([(r["p_female"] >= 0.5) == (gender == "female") for r in own]))
        rows.append({"group": group, "clips": len(recs), "speakers": len({r["speaker"] for r in recs}),
                     "female_recall": recall.get("female"), "male_recall": recall.get("male"),
                     "score": float(np.mean(list(recall.values())))})
    return sorted(rows, key=lambda r: r["score"])


def summary(records: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Worst group, the means the targets name, and calibration of the full clips."""
    full = [r for r in records if r["condition"] == "full"]
    p = np.array([r["p_female"] for r in full])
    female = np.array([r["gender"] == "female" for r in full])
    decided = [r for r in rows if r["clips"] >= MIN_GROUP_CLIPS]
    corpora = [r for r in rows if r["group"].startswith("corpus ")]
    by_name = {r["group"]: r for r in rows}
    ased_male = [r for r in full if r["corpus"] == "ased" and r["gender"] == "male"]
    return {
        "worst_group": decided[0]["group"] if decided else None,
        "worst_score": decided[0]["score"] if decided else None,
        "corpus_mean_uar": float(np.mean([r["score"] for r in corpora])),
        "worst_corpus": corpora[0]["group"] if corpora else None,
        "worst_corpus_uar": corpora[0]["score"] if corpora else None,
        "crop_uar": by_name.get("1-s crops from speech onset", {}).get("score"),
        "arousal_male_recall": by_name.get("synthetic arousal (male)", {}).get("score"),
        "arousal_female_recall": by_name.get("synthetic arousal (female)", {}).get("score"),
        "ased_male_recall": float(np.mean([r["p_female"] < 0.5 for r in ased_male])) if ased_male else None,
        "ece": expected_calibration_error(p, female),
        "reliability": reliability(p, female),
        "coverage": coverage_curve(p, female),
        "clips": len(full),
        "speakers": len({r["speaker"] for r in full}),
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def report_markdown(title: str, command: str, result: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    s = result
    lines = [
        f"# Choosing panel: {title}",
        f"{s['clips']} clips of {s['speakers']} speakers the model never trained on (`{command}`), without the "
        "label audit's speakers whose voice contradicts their label. A group's score is its UAR, or the recall of its one gender; "
        f"groups under {MIN_GROUP_CLIPS} clips are listed but do not decide the worst group.",
        "",
        "| measure | figure |",
        "|---|---|",
        f"| **worst group** ({s['worst_group']}) | **{_fmt(s['worst_score'])}** |",
        f"| mean UAR over the corpora | {_fmt(s['corpus_mean_uar'])} |",
        f"| worst corpus ({s['worst_corpus']}) | {_fmt(s['worst_corpus_uar'])} |",
        f"| 1-s crops from speech onset, UAR | {_fmt(s['crop_uar'])} |",
        f"| synthetic arousal, male recall | {_fmt(s['arousal_male_recall'])} |",
        f"| synthetic arousal, female recall | {_fmt(s['arousal_female_recall'])} |",
        f"| `ased` male recall (all emotions) | {_fmt(s['ased_male_recall'])} |",
        f"| expected calibration error, full clips (10 bins) | {_fmt(s['ece'])} |",
        "",
        "## Groups, worst first",
        "",
        "| group | clips | speakers | female recall | male recall | score |",
        "|---|---|---|---|---|---|",
        *(f"| {r['group']} | {r['clips']} | {r['speakers']} | {_fmt(r['female_recall'])} | {_fmt(r['male_recall'])} | "
          f"{_fmt(r['score'])} |" for r in rows),
        "",
        "## Calibration (full clips)",
        "",
        "![Reliability](reliability.png)",
        "",
        "| confidence bin | clips | mean confidence | accuracy |",
        "|---|---|---|---|",
        *(f"| {b['low']:.2f}-{b['high']:.2f} | {b['n']} | {b['confidence']:.3f} | {b['accuracy']:.3f} |" for b in s["reliability"]),
        "",
        "Abstention (`--min-confidence C`: files below C are labelled `unknown`):",
        "",
        "| C | answered | error of the answered | UAR of the answered |",
        "|---|---|---|---|",
        *(f"| {c['min_confidence']:.2f} | {c['coverage']:.1%} | {_fmt(c['error'])} | {_fmt(c['uar'])} |" for c in s["coverage"]),
    ]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, title: str, command: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    rows = group_rows(records)
    result = summary(records, rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"title": title, "command": command, **result, "groups": rows}, indent=1) + "\n")
    with (out / "scores.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["condition", "path", "speaker", "corpus", "style", "gender", "p_female"])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != "groups"} for r in records)
    (out / "report.md").write_text(report_markdown(title, command, result, rows))
    plot_reliability(result, out / "reliability.png")  # reads ece, reliability and coverage
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=bundled_model_dir())
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic arousal factors")
    parser.add_argument("--all-members", action="store_true", help="an ensemble runs every member on every clip")
    parser.add_argument("--encoder", action="store_true", help="with the model's speaker encoder (predict --encoder)")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} not present")
        return
    one_thread()  # one thread per network call, as voxgender predict runs
    folders = sorted(p for p in args.data.iterdir() if (p / "labels.csv").is_file())
    adults = [u for u in read_corpora(folders) if not u.is_child]
    flagged = read_speaker_list(LABEL_AUDIT)
    utterances = [u for u in split_speakers_of(adults, args.split, args.model) if u.speaker not in flagged]
    model = load_model(args.model, all_members=args.all_members, encoder=args.encoder)
    records = score_records(model, utterances, args.seed, show=True)
    flags = (" --all-members" if args.all_members else "") + (" --encoder" if args.encoder else "")
    command = f"python benchmarks/panel.py --split {args.split} --model {args.model}{flags}"
    what = f"{args.model.name}{', with the speaker encoder' if args.encoder else ''}, {args.split} speakers"
    result = write_outputs(args.out, what, command, records)
    print((args.out / "report.md").read_text().split("## Groups")[0])
    print(f"worst group: {result['worst_group']} {result['worst_score']:.3f}")


if __name__ == "__main__":
    main()
