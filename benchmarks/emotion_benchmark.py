"""Raised pitch in real speech: female and male recall per emotion level of BAVED (Arabic words
spoken by each speaker at a low, a neutral and a high emotion level; the level is the fifth field
of its file names), on the BAVED speakers that a model has never trained or selected on. Excited
or angry men heard as women is the classic failure of gender recognisers; this measures it.

    python benchmarks/emotion_benchmark.py                          # bundled model: its BAVED test speakers
    python benchmarks/emotion_benchmark.py --model runs/loco/baved  # a model that never heard BAVED: all of them
    python benchmarks/emotion_benchmark.py --model A --model B --out results/emotion.md   # side by side
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from voxgender.io.audio import load_audio
from voxgender.training.data import read_corpus
from voxgender.model import load_model
from voxgender.io.model_dir import bundled_model_dir, split_speakers

from split_clips import DATA

LEVELS = {"0": "low", "1": "neutral", "2": "high"}


def emotion_level(path: str) -> str:
    """BAVED's emotion level of a clip, from its file name (speaker-gender-age-word-level-id)."""
    return LEVELS[Path(path).stem.split("-")[4]]


def mean_or_dash(values: np.ndarray) -> str:
    """The mean (of booleans: the share true), or a dash for an empty array."""
    return f"{values.mean():.3f}" if values.size else "–"


def emotion_table(model_dir: Path) -> list[str]:
    """Markdown lines: the model's recall per emotion level on the BAVED speakers it never saw."""
    seen = split_speakers(model_dir, "train") | split_speakers(model_dir, "val")
    utterances = [u for u in read_corpus(DATA / "baved") if not u.is_child and u.speaker not in seen]
    p_female = np.asarray(load_model(model_dir).p_female_of_arrays([load_audio(u.path) for u in utterances]))
    female = np.array([u.gender == "female" for u in utterances])
    levels = np.array([emotion_level(u.path) for u in utterances])
    women = {u.speaker for u in utterances if u.gender == "female"}
    lines = [f"`{model_dir}`: {len(utterances)} clips of {len({u.speaker for u in utterances})} speakers "
             f"({len(women)} women) that it never trained or selected on", "",
             "| emotion level | clips | female recall | male recall | UAR | mean p_female of men |", "|---|---|---|---|---|---|"]
    for level in (*LEVELS.values(), "all"):
        pick = levels == level if level != "all" else np.ones(len(levels), dtype=bool)
        guess, truth = p_female[pick] >= 0.5, female[pick]
        recalls = guess[truth], ~guess[~truth]
        uar = f"{(recalls[0].mean() + recalls[1].mean()) / 2:.3f}" if all(r.size for r in recalls) else "–"
        lines.append(f"| {level} | {pick.sum()} | {mean_or_dash(recalls[0])} | {mean_or_dash(recalls[1])} | {uar} | "
                     f"{mean_or_dash(p_female[pick][~truth])} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", help="model directory, repeatable (default: bundled)")
    parser.add_argument("--out", type=Path, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    if not (DATA / "baved").is_dir():
        print(f"skipped: no BAVED corpus at {DATA / 'baved'}")
        return 0
    lines = [f"`python benchmarks/emotion_benchmark.py {shlex.join(sys.argv[1:])}`"]
    for model_dir in args.model or [bundled_model_dir()]:
        lines += ["", *emotion_table(model_dir)]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(["# Recall per BAVED emotion level", "", *lines, ""]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
