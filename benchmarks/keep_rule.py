"""Which epoch to keep, measured across corpora: for finished leave-one-corpus-out runs, the epoch
kept by validation UAR (the run's model) against the last epoch's weight average (its checkpoint,
which is what `voxgender train --keep final` saves when the run is not stopped early). UAR on the
held-out corpus's choosing speakers (those outside the pooled test split, the evidence a choice may
use) and on all adults, and the last epoch's female and male recall on the choosing speakers.

    python benchmarks/keep_rule.py runs/loco_base runs/loco_aug15c

A run still training is read as far as it has got: its folds without a checkpoint are listed as
not trained yet, the others at their last epoch so far, and it gets no mean.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

from voxgender.model import Model, load_model

from accuracy_benchmark import choosing_parser, corpus_adults, corpus_folders, test_speakers


def last_epoch_model(model_dir: Path) -> tuple[Model, int]:
    """The run's model with its checkpoint's weight average, and that checkpoint's epoch."""
    state = torch.load(model_dir / "checkpoint.pt", weights_only=True)
    model = load_model(model_dir)
    model.net.load_state_dict({k.removeprefix("module."): v for k, v in state["average"].items() if k.startswith("module.")})
    return model, state["epoch"]


def main() -> int:
    parser = choosing_parser(__doc__)
    parser.add_argument("runs", type=Path, nargs="+", help="LOCO output folders (each with loco/<corpus>/)")
    args = parser.parse_args()
    held_out = test_speakers(args.model)
    if held_out is None:
        return 0
    torch.set_num_threads(1)
    folders = corpus_folders()
    corpora = {corpus: corpus_adults(folder) for corpus, folder in folders.items()  # where some run has a fold model
               if any((run / "loco" / corpus / "checkpoint.pt").is_file() for run in args.runs)}
    print("| run | held-out corpus | kept epoch | last epoch | choosing UAR, kept → last | all adults, kept → last "
          "| choosing female / male recall, last |")
    print("|---|---|---|---|---|---|---|")
    for run in args.runs:
        means = []
        for corpus in folders:
            model_dir = run / "loco" / corpus
            if not (model_dir / "checkpoint.pt").is_file():
                state = "an ensemble (its run's report.md has its figures)" if (model_dir / "member0").is_dir() else "not trained yet"
                print(f"| {run} | {corpus} | {state} | | | | |")
                continue
            adults, audios = corpora[corpus]
            female = np.array([u.gender == "female" for u in adults])
            chosen = np.array([u.speaker not in held_out for u in adults])
            last, epoch = last_epoch_model(model_dir)
            kept = load_model(model_dir)
            meta = kept.config["metadata"]
            kept_epoch = meta.get("kept_epoch", meta["best_epoch"])
            said_kept = np.asarray(kept.p_female_of_arrays(audios)) > 0.5  # all adults, once
            said_last = (said_kept if kept_epoch == epoch  # the same weights when the last epoch was kept
                         else np.asarray(last.p_female_of_arrays(audios)) > 0.5)
            said_female = [said_kept, said_last]
            row = [balanced_accuracy_score(female[subset], said[subset])
                   for subset in (chosen, slice(None)) for said in said_female]
            row += [said_last[chosen & female].mean(), 1 - said_last[chosen & ~female].mean()]
            means.append(row)
            print(f"| {run} | {corpus} | {kept_epoch} | {epoch} | "
                  f"{row[0]:.4f} → {row[1]:.4f} | {row[2]:.4f} → {row[3]:.4f} | {row[4]:.3f} / {row[5]:.3f} |")
        if len(means) < len(folders):  # a mean over some folds compares with no other run's
            continue
        m = np.mean(means, axis=0)
        print(f"| {run} | **mean** | | | **{m[0]:.4f} → {m[1]:.4f}** | {m[2]:.4f} → {m[3]:.4f} | {m[4]:.3f} / {m[5]:.3f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
