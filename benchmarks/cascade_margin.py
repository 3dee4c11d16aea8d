"""The margin of an ensemble's cascade (``Model.cascade_margin``): for each margin, the share of clips
its other members still run on, and how many file decisions (mean log-posterior) differ from every
member on every clip. Chosen on the validation speakers of ``--model``; checked on the LOCO models of
``--loco`` (each pair on every adult of the corpus it left out).

    python benchmarks/cascade_margin.py [--model DIR] [--loco benchmarks/results/accuracy]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from voxgender.model import Model, load_model
from voxgender.core.networks import member_networks
from voxgender.io.model_dir import bundled_model_dir
from voxgender.core.aggregate import mean_log_odds

from accuracy_benchmark import corpus_adults, corpus_folders
from split_clips import DATA, load_split

MARGINS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def member_log_odds(model: Model, audios: Sequence[np.ndarray]) -> np.ndarray:
    """(members, clips): each member's mean log-odds over each clip's frames."""
    feats = [model.features_of(a) for a in audios]
    return np.array([[mean_log_odds(lp) for lp in model.feature_log_posteriors(feats, net=member)]
                     for member in member_networks(model.net)])


def margin_rows(log_odds: np.ndarray, female: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """Per margin: (margin, share of clips the others run on, share of decisions changed, UAR of the
    cascade, UAR of every member on every clip)."""
    full = log_odds.mean(axis=0)
    full_uar = balanced_accuracy_score(female, full > 0)
    rows = []
    for margin in MARGINS:
        unsure = np.abs(log_odds[0]) <= margin
        cascade = np.where(unsure, full, log_odds[0])
        rows.append((margin, float(unsure.mean()), float(np.mean((cascade > 0) != (full > 0))),
                     balanced_accuracy_score(female, cascade > 0), full_uar))
    return rows


def print_table(title: str, rows: list[tuple[float, float, float, float, float]]) -> None:
    print(f"\n{title}\n")
    print("| margin | others run on | decisions changed | UAR, cascade | UAR, every member |")
    print("|---|---|---|---|---|")
    for margin, unsure, changed, cascade_uar, full_uar in rows:
        print(f"| {margin:.1f} | {unsure:.1%} | {changed:.2%} | {cascade_uar:.4f} | {full_uar:.4f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=bundled_model_dir(), help="an ensemble with a splits.json")
    parser.add_argument("--loco", type=Path, help="a LOCO run of ensembles (accuracy_benchmark.py loco --out)")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: no corpora at {DATA}")
        return 0
    model = load_model(args.model)
    utterances, audios, female = load_split(args.model, "val")
    print_table(f"Validation speakers of {args.model} ({len(utterances)} clips)", margin_rows(member_log_odds(model, audios), female))
    if args.loco:
        per_corpus = []
        for corpus, folder in corpus_folders().items():
            adults, adult_audios = corpus_adults(folder)
            rows = margin_rows(member_log_odds(load_model(args.loco / "loco" / corpus), adult_audios),
                               np.array([u.gender == "female" for u in adults]))
            per_corpus.append(rows)
            print_table(f"LOCO: {corpus} left out ({len(adults)} adult clips)", rows)
        mean = [(m, *np.mean([rows[i][1:] for rows in per_corpus], axis=0)) for i, m in enumerate(MARGINS)]
        print_table("LOCO: mean over the corpora left out", mean)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
