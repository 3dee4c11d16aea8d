"""Is the failure on an unheard corpus a shift of p_female that a threshold could undo, or a loss of
separation? For each corpus of a panel's scores.csv (``benchmarks/group_out.py``: models that never
trained on the clip's corpus), the full clips' UAR at 0.5, at the best threshold (an oracle, with
the labels), and at a threshold found without labels: the crossing point of a two-component
Gaussian mixture over the clips' log-odds, as a tool could adapt to one collection. With two or
more scores.csv files of the same clips, their log-odds averaged (an ensemble of the folds' seeds)
is scored too.

    python experiments/threshold_per_collection.py runs/lo_ased/panel/scores.csv [runs/lo_ased_s1/panel/scores.csv]
"""

import csv
import sys
from collections import defaultdict

import numpy as np
from sklearn.mixture import GaussianMixture

from voxgender.core.calibration import logit, sigmoid


def uar(female: np.ndarray, z: np.ndarray, threshold: float = 0.0) -> float:
    return float(((z[female] >= threshold).mean() + (z[~female] < threshold).mean()) / 2)


def mixture_threshold(z: np.ndarray) -> float:
    """The log-odds between the two components' means where the mixture's posterior crosses 1/2."""
    mixture = GaussianMixture(2, random_state=0).fit(z[:, None])
    low, high = np.argsort(mixture.means_.ravel())
    grid = np.linspace(mixture.means_[low, 0], mixture.means_[high, 0], 400)
    return float(grid[np.argmin(abs(mixture.predict_proba(grid[:, None])[:, high] - 0.5))])


def full_clips(path: str) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {r["path"]: r for r in csv.DictReader(f) if r["condition"] == "full"}


def main() -> None:
    runs = [full_clips(path) for path in sys.argv[1:]]
    shared = sorted(set.intersection(*(set(run) for run in runs)))
    by_corpus = defaultdict(list)
    for path in shared:
        by_corpus[runs[0][path]["corpus"]].append(path)
    print("corpus | clips | scores | UAR at 0.5 | best threshold (p_female): UAR | mixture threshold: UAR")
    for corpus, paths in sorted(by_corpus.items()):
        female = np.array([runs[0][p]["gender"] == "female" for p in paths])
        scores = {f"run {i + 1}": logit(np.array([float(run[p]["p_female"]) for p in paths])) for i, run in enumerate(runs)}
        if len(runs) > 1:
            scores["mean log-odds"] = np.mean(list(scores.values()), axis=0)
        for name, z in scores.items():
            best = max(np.linspace(-5, 5, 201), key=lambda t: uar(female, z, t))
            adapted = mixture_threshold(z)
            print(f"{corpus} | {len(paths)} | {name} | {uar(female, z):.3f} | {sigmoid(best):.2f}: "
                  f"{uar(female, z, best):.3f} | {sigmoid(adapted):.2f}: {uar(female, z, adapted):.3f}")


if __name__ == "__main__":
    main()
