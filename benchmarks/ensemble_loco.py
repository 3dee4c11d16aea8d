"""Leave-one-corpus-out UAR of ensembles: for each held-out corpus, the fold models of several LOCO
runs (other seeds or recipes, one architecture and features) averaged as `voxgender ensemble` would
(GenderEnsemble: the mean of their frame log-posteriors), on the choosing speakers (the adults
outside the bundled model's pooled test split, the evidence a choice may use) and on all adults.

    python benchmarks/ensemble_loco.py runs/loco_mfcc_seed0,runs/loco_mfcc_seed1 runs/loco_cur_seed0,runs/loco_cur_seed1

Each argument is one ensemble: its runs joined by commas. The fold models of runs with other seeds
hold out other validation speakers, which is harmless here: none of them heard the held-out corpus.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

from voxgender.training.ensemble import ensemble_of, member_mismatch
from voxgender.model import Model, load_model

from accuracy_benchmark import choosing_parser, corpus_adults, corpus_folders, test_speakers


def fold_ensemble(runs: list[Path], corpus: str) -> Model:
    """The ensemble of the runs' models that never heard ``corpus``."""
    members = [load_model(run / "loco" / corpus) for run in runs]
    for run, m in zip(runs, members):
        reason = member_mismatch(m.net, m.features, members[0].net, members[0].features)
        if reason:
            raise SystemExit(f"{run / 'loco' / corpus}: {reason} (loco_agreement.py averages any runs' file-level log-odds)")
    return Model(ensemble_of([m.net for m in members]), members[0].features, members[0].config)


def main() -> int:
    parser = choosing_parser(__doc__)
    parser.add_argument("ensembles", nargs="+", help="LOCO output folders of one ensemble, joined by commas")
    args = parser.parse_args()
    held_out = test_speakers(args.model)
    if held_out is None:
        return 0
    torch.set_num_threads(1)
    ensembles = [[Path(run) for run in group.split(",")] for group in args.ensembles]
    rows: dict[int, list[list[float]]] = {i: [] for i in range(len(ensembles))}
    print("| ensemble | held-out corpus | choosing UAR | all adults UAR |")
    print("|---|---|---|---|")
    for corpus, folder in corpus_folders().items():
        adults, audios = corpus_adults(folder)  # decoded once for every ensemble
        female = np.array([u.gender == "female" for u in adults])
        chosen = np.array([u.speaker not in held_out for u in adults])
        for i, runs in enumerate(ensembles):
            said_female = fold_ensemble(runs, corpus).p_female_of_arrays(audios) > 0.5
            row = [balanced_accuracy_score(female[chosen], said_female[chosen]), balanced_accuracy_score(female, said_female)]
            rows[i].append(row)
            print(f"| {' + '.join(map(str, runs))} | {corpus} | {row[0]:.4f} | {row[1]:.4f} |", flush=True)
    for i, runs in enumerate(ensembles):
        mean = np.mean(rows[i], axis=0)
        print(f"| {' + '.join(map(str, runs))} | **mean** | **{mean[0]:.4f}** | {mean[1]:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
