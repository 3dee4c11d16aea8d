"""How frame posteriors become a file decision: UAR of each aggregation on the bundled model's
VALIDATION speakers (choices are made on validation, never on test), overall and per corpus.

    python benchmarks/aggregation_benchmark.py [--split val]
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from voxgender.inference import load_model

from split_clips import split_from_command_line

METHODS = ("mean_log", "majority", "speech_mean_log")


def main() -> int:
    loaded = split_from_command_line(__doc__.splitlines()[0], "val")
    if loaded is None:
        return 0
    args, (utterances, audios, truth) = loaded
    speakers = {u.speaker for u in utterances}
    corpora = sorted({u.corpus for u in utterances})
    model = load_model(args.model)
    print(f"{len(utterances)} clips of {len(speakers)} {args.split} speakers\n")
    print("| aggregation | UAR | " + " | ".join(corpora) + " |")
    print("|---|---|" + "---|" * len(corpora))
    for method in METHODS:
        guess = model.p_female_of_arrays(audios, method) >= 0.5
        per_corpus = [balanced_accuracy_score(truth[m], guess[m]) for m in
                      (np.array([u.corpus == c for u in utterances]) for c in corpora)]
        print(f"| {method} | {balanced_accuracy_score(truth, guess):.4f} | " + " | ".join(f"{v:.3f}" for v in per_corpus) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
