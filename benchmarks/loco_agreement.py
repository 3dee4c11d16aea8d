"""Do leave-one-corpus-out runs of different recipes or seeds fail on the same clips? On the choosing
speakers (inside each held-out corpus, the adults outside the bundled model's pooled test split),
for each held-out corpus: every run's UAR (each fold's saved model), the UAR of their ensemble (the mean of the runs'
file-level log-odds), and the errors that every run makes. Errors that every run shares are the
bias of the data, which no recipe change or ensemble removes; errors that differ between runs are
their variance. Lists the speakers with a shared error, marking those of the label audit, with
their median F0 from results/speaker_f0.csv (written by label_audit.py), and compares the F0 of
the speakers with a shared error against that of the speakers no run got wrong.

    python benchmarks/loco_agreement.py runs/loco_cur_seed1 runs/loco_hidden96_seed1 runs/loco_formant_seed1
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

from voxgender.model import load_model

from accuracy_benchmark import choosing_parser, corpus_adults, corpus_folders, test_speakers

RESULTS = Path(__file__).resolve().parent / "results"
AUDIT, SPEAKER_F0 = RESULTS / "label_audit.csv", RESULTS / "speaker_f0.csv"


def log_odds_female(model_dir: Path, audios: list[np.ndarray]) -> np.ndarray:
    """File-level log-odds of female of each waveform under the model saved in ``model_dir``."""
    p = np.clip(np.asarray(load_model(model_dir).p_female_of_arrays(audios)), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def f0_summary(groups: dict[str, list[tuple[str, str]]], f0: dict[str, float]) -> list[str]:
    """Per gender, the median F0 (quartiles) of each group of (speaker, gender) pairs."""
    lines = []
    for gender in ("female", "male"):
        parts = []
        for name, speakers in groups.items():
            hz = [f0[s] for s, g in speakers if g == gender and s in f0]
            if hz:
                q1, q2, q3 = np.percentile(hz, [25, 50, 75])
                parts.append(f"{name}: {len(hz)} speakers, median F0 {q2:.0f} Hz (quartiles {q1:.0f}-{q3:.0f})")
        lines.append(f"- {gender}: {'; '.join(parts)}")
    return lines


def main() -> int:
    parser = choosing_parser(__doc__)
    parser.add_argument("runs", type=Path, nargs="+", help="LOCO output folders (each with loco/<corpus>/), two or more")
    args = parser.parse_args()
    if len(args.runs) < 2:
        parser.error("give two or more runs")
    held_out = test_speakers(args.model)
    if held_out is None:
        return 0
    flagged = {row["speaker"] for row in csv.DictReader(AUDIT.open())}
    f0 = {row["speaker"]: float(row["median_f0_hz"]) for row in csv.DictReader(SPEAKER_F0.open())} \
        if SPEAKER_F0.is_file() else {}
    torch.set_num_threads(1)
    names = [str(run) for run in args.runs]
    print(f"| held-out corpus | {' | '.join(names)} | ensemble | errors of each run | shared by every run |")
    print(f"|---|{'---|' * len(names)}---|---|---|")
    uars, shared_speakers, groups = [], [], {"a shared error": [], "never wrong": []}
    folders = corpus_folders()
    for corpus, folder in folders.items():
        if not all((run / "loco" / corpus / "model.safetensors").is_file() for run in args.runs):
            print(f"| {corpus} | not trained in every run |")
            continue
        chosen, audios = corpus_adults(folder, held_out)
        female = np.array([u.gender == "female" for u in chosen])
        odds = np.array([log_odds_female(run / "loco" / corpus, audios) for run in args.runs])
        said = np.vstack([odds > 0, odds.mean(axis=0) > 0])  # each run, then the ensemble
        row = [balanced_accuracy_score(female, s) for s in said]
        wrong = said[:-1] != female
        shared = wrong.all(axis=0)
        uars.append(row)
        print(f"| {corpus} | {' | '.join(f'{u:.4f}' for u in row)} | {' / '.join(str(n) for n in wrong.sum(axis=1))} "
              f"| {shared.sum()} |", flush=True)
        speakers = np.array([u.speaker for u in chosen])
        for speaker in sorted(set(speakers)):
            mine = speakers == speaker
            gender = chosen[int(np.argmax(mine))].gender
            if not wrong[:, mine].any():
                groups["never wrong"].append((speaker, gender))
            if shared[mine].any():
                groups["a shared error"].append((speaker, gender))
                pitch = f", median F0 {f0[speaker]:.0f} Hz" if speaker in f0 else ""
                shared_speakers.append(f"{speaker} ({gender}{', audit-flagged' if speaker in flagged else ''}{pitch}): "
                                       f"{shared[mine].sum()} of {mine.sum()} clips wrong in every run")
    if len(uars) == len(folders):
        print(f"| **mean** | {' | '.join(f'**{u:.4f}**' for u in np.mean(uars, axis=0))} | | |")
    print("\nSpeakers with an error that every run makes:")
    print("\n".join(f"- {line}" for line in shared_speakers))
    if f0:
        print("\nMedian F0 of the speakers with an error that every run makes, and of those no run got wrong:")
        print("\n".join(f0_summary(groups, f0)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
