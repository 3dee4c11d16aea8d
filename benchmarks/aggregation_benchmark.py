"""How frame posteriors become a file decision: UAR of each aggregation on the bundled model's
VALIDATION speakers (choices are made on validation, never on test), overall and per corpus, and
the speed of each over the same decoded clips (features + model + aggregation, VAD included, one
torch thread), as ×real time.

    python benchmarks/aggregation_benchmark.py [--split val] [--loco benchmarks/results/accuracy/loco]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

from voxgender.model import load_model

from split_clips import split_from_command_line

METHODS = ("mean_log", "majority", "speech_mean_log")


def loco_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loco", type=Path, help="folder of leave-one-corpus-out models (accuracy_benchmark.py loco): "
                        "also score each on this split's speakers of the corpus it left out")


def main() -> int:
    loaded = split_from_command_line(__doc__.splitlines()[0], "val", loco_argument)
    if loaded is None:
        return 0
    args, (utterances, audios, truth) = loaded
    speakers = {u.speaker for u in utterances}
    corpora = sorted({u.corpus for u in utterances})
    in_corpus = {c: np.array([u.corpus == c for u in utterances]) for c in corpora}
    torch.set_num_threads(1)
    model = load_model(args.model)
    audio_s = sum(len(a) for a in audios) / 16000
    print(f"{len(utterances)} clips ({audio_s / 60:.1f} min) of {len(speakers)} {args.split} speakers\n")
    print("| aggregation | UAR | ×real time | " + " | ".join(corpora) + " |")
    print("|---|---|---|" + "---|" * len(corpora))
    model.p_female_of_arrays(audios[:8], "speech_mean_log")  # warm-up: the VAD loads on first use
    for method in METHODS:
        start = time.perf_counter()
        guess = model.p_female_of_arrays(audios, method) >= 0.5
        speed = audio_s / (time.perf_counter() - start)
        per_corpus = [balanced_accuracy_score(truth[m], guess[m]) for m in in_corpus.values()]
        print(f"| {method} | {balanced_accuracy_score(truth, guess):.4f} | {speed:.0f}× | "
              + " | ".join(f"{v:.3f}" for v in per_corpus) + " |")
    if args.loco:
        print(f"\nLeave-one-corpus-out models of {args.loco}, each on its left-out corpus's {args.split} speakers:\n")
        print("| aggregation | mean UAR | " + " | ".join(corpora) + " |")
        print("|---|---|" + "---|" * len(corpora))
        folds = {c: load_model(args.loco / c) for c in corpora}
        for method in METHODS:
            per_corpus = []
            for c, m in in_corpus.items():
                fold_audios = [a for a, keep in zip(audios, m) if keep]
                per_corpus.append(balanced_accuracy_score(truth[m], folds[c].p_female_of_arrays(fold_audios, method) >= 0.5))
            print(f"| {method} | {np.mean(per_corpus):.4f} | " + " | ".join(f"{v:.3f}" for v in per_corpus) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
