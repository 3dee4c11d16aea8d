#!/usr/bin/env python3
"""Label audit of ../shared/data: adult speakers whose recorded gender contradicts their voice pitch.

For every speaker aged 13 or over (or of unknown age), the median F0 of all voiced frames of all
their clips (Praat's pitch tracker through praat-parselmouth, Praat's defaults, 75-600 Hz). A
speaker is flagged when the pitch lies far on the other side of the usual ranges: labelled male
with a median above MALE_ABOVE_HZ, or labelled female with a median below FEMALE_BELOW_HZ (adult
male speech is typically 85-180 Hz, adult female 165-255 Hz). A flag means "label or voice is
atypical", not "label is wrong": a recogniser from the voice cannot be right on such a speaker,
so the benchmarks report their figures with and without the flagged speakers, the first being the
headline. Writes results/label_audit.csv (every flagged speaker), results/label_audit.md, and
results/speaker_f0.csv (every audited speaker's median F0, for analyses of the errors by pitch).

Runs in the peers' venv, which has praat-parselmouth (benchmarks/peers/setup.sh):

    benchmarks/.venv-peers/bin/python benchmarks/label_audit.py
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import parselmouth

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parents[1] / "shared" / "data"
OUT = ROOT / "results"
MALE_ABOVE_HZ = 200.0
FEMALE_BELOW_HZ = 135.0
ADULT_AGE = 13


def speaker_clips() -> dict[str, tuple[str, list[Path]]]:
    """Adult (or unknown-age) speakers: their label and clip paths."""
    speakers: dict[str, tuple[str, list[Path]]] = {}
    for labels in sorted(DATA.glob("*/labels.csv")):
        for row in csv.DictReader(labels.open()):
            if row["age"] and float(row["age"]) < ADULT_AGE:
                continue
            gender = {"f": "female", "m": "male"}[row["gender"]]
            speakers.setdefault(row["speaker"], (gender, []))[1].append(labels.parent / row["path"])
    return speakers


def median_f0(paths: list[Path]) -> float:
    voiced = []
    for path in paths:
        f0 = parselmouth.Sound(str(path)).to_pitch().selected_array["frequency"]
        voiced.append(f0[f0 > 0])
    frames = np.concatenate(voiced)
    return float(np.median(frames)) if len(frames) else float("nan")


def main() -> int:
    if not DATA.is_dir():
        print(f"skipped: no corpora at {DATA}")
        return 0
    speakers = speaker_clips()
    audited, flagged, by_corpus = [], [], defaultdict(int)
    for speaker, (gender, paths) in sorted(speakers.items()):
        f0 = median_f0(paths)
        by_corpus[speaker.split(":")[0]] += 1
        audited.append({"speaker": speaker, "label": gender, "median_f0_hz": round(f0, 1), "clips": len(paths)})
        if (gender == "male" and f0 > MALE_ABOVE_HZ) or (gender == "female" and f0 < FEMALE_BELOW_HZ):
            flagged.append(audited[-1])
            print(f"flagged: {speaker} labelled {gender}, median F0 {f0:.0f} Hz over {len(paths)} clips", flush=True)
    OUT.mkdir(exist_ok=True)
    for name, rows in (("label_audit.csv", flagged), ("speaker_f0.csv", audited)):
        with (OUT / name).open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["speaker", "label", "median_f0_hz", "clips"])
            writer.writeheader()
            writer.writerows(rows)
    lines = ["# Label audit", "", "`benchmarks/.venv-peers/bin/python benchmarks/label_audit.py`", "",
             f"{len(speakers)} speakers aged {ADULT_AGE}+ or of unknown age ({', '.join(f'{c} {n}' for c, n in by_corpus.items())}). "
             f"Flagged: labelled male with median F0 above {MALE_ABOVE_HZ:g} Hz, or labelled female below "
             f"{FEMALE_BELOW_HZ:g} Hz (Praat pitch, all clips of the speaker).", "",
             "| speaker | label | median F0 (Hz) | clips |", "|---|---|---|---|"]
    lines += [f"| {f['speaker']} | {f['label']} | {f['median_f0_hz']:g} | {f['clips']} |" for f in flagged]
    lines += ["", f"{len(flagged)} speakers flagged. The benchmarks give their headline figures on every speaker "
              "and, beside them, the figures without these."]
    (OUT / "label_audit.md").write_text("\n".join(lines) + "\n")
    print(f"{len(flagged)} of {len(speakers)} speakers flagged; wrote {OUT / 'label_audit.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
