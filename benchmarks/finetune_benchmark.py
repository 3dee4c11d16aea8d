"""Fine-tuning on a new corpus (maintenance): how much a few of its speakers lift a model that
has never heard it, and what the model forgets meanwhile.

For each corpus C, the leave-one-corpus-out model trained without C (from
``accuracy_benchmark.py loco``) is fine-tuned on N speakers per gender of C (N = 2 or 10), chooses
its epoch on 2 other speakers per gender of C, and is scored on all the remaining adult speakers of
C, which no step or choice has seen, and on the bundled model's test speakers of the other corpora
(forgetting).

    python benchmarks/finetune_benchmark.py --jobs 2      # 9 fine-tunings, about 15 minutes on 2 cores

Writes results/finetune/report.md and results.json; the fine-tuned models go to runs/finetune.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from split_clips import DATA

from voxgender.io.model_dir import bundled_model_dir, split_speakers
from voxgender.model import load_model
from voxgender.training.data import Utterance, read_corpus
from voxgender.training.evaluate import evaluate_model
from voxgender.training.model_files import load_torch_model
from voxgender.training.networks import member_networks
from voxgender.training.trainer import TrainConfig, load_clips, train_networks

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "finetune"
LOCO = ROOT / "benchmarks" / "results" / "accuracy" / "loco"
SPEAKERS_PER_GENDER = (2, 10)
VAL_PER_GENDER = 2


def speaker_roles(utterances: list[Utterance], n_train: int, n_val: int, seed: int) -> dict[str, set[str]] | None:
    """Per gender, ``n_train`` fine-tuning and ``n_val`` validation speakers drawn reproducibly, the
    rest for test; None if a gender has too few speakers to leave any for test."""
    rng = np.random.default_rng(seed)
    roles: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for gender in ("female", "male"):
        pool = list(rng.permutation(sorted({u.speaker for u in utterances if u.gender == gender})))
        if len(pool) <= n_train + n_val:
            return None
        roles["train"] |= set(pool[:n_train])
        roles["val"] |= set(pool[n_train:n_train + n_val])
        roles["test"] |= set(pool[n_train + n_val:])
    return roles


def fine_tune(corpus: str, per_gender: int, loco_dir: Path, out: Path, cfg: TrainConfig) -> dict[str, Any] | None:
    """Fine-tune the model that never heard ``corpus`` on ``per_gender`` of its speakers per gender;
    score it before and after (None when the corpus has too few speakers)."""
    adults = [u for u in read_corpus(DATA / corpus) if not u.is_child]
    roles = speaker_roles(adults, per_gender, VAL_PER_GENDER, cfg.seed)
    if roles is None:
        return None
    part = {role: [u for u in adults if u.speaker in speakers] for role, speakers in roles.items()}
    bundled_test = split_speakers(bundled_model_dir(), "test")
    others_test = [u for folder in sorted(DATA.iterdir()) if (folder / "labels.csv").is_file() and folder.name != corpus
                   for u in read_corpus(folder) if u.speaker in bundled_test and not u.is_child]
    start = load_torch_model(loco_dir / corpus)
    model_dir = out / f"{corpus}_{per_gender}"
    # An ensemble is fine-tuned member by member, each from its own weights (as `voxgender train --init-from`).
    summaries = train_networks(load_clips(part["train"], "fine-tuning"), load_clips(part["val"], "validation"), model_dir,
                               start.features, start.net.cfg, cfg, member_networks(start.net), resume=True,
                               show_progress=False)

    def uar(model_path: Path, utterances: list[Utterance]) -> float:
        return evaluate_model(load_model(model_path), utterances, crop_lengths=(), show_progress=False)["overall"]["uar"]

    return {"corpus": corpus, "per_gender": per_gender, "clips": len(part["train"]),
            "test_speakers": len(roles["test"]), "test_clips": len(part["test"]),
            "best_epoch": "/".join(str(s["best_epoch"]) for s in summaries),
            "val_before": uar(loco_dir / corpus, part["val"]), "val_after": uar(model_dir, part["val"]),
            "test_before": uar(loco_dir / corpus, part["test"]), "test_after": uar(model_dir, part["test"]),
            "others_before": uar(loco_dir / corpus, others_test), "others_after": uar(model_dir, others_test)}


def markdown(rows: list[dict[str, Any]], cfg: TrainConfig, command: str) -> list[str]:
    lines = ["# Fine-tuning on a corpus the model never heard", "", f"`{command}`", "",
             "Start: the leave-one-corpus-out model that trained without the corpus. Fine-tuning data: N "
             f"speakers per gender of the corpus; epoch chosen on {VAL_PER_GENDER} other speakers per gender "
             "(epoch 0, the start, stays unless an epoch beats it); UAR on full clips of all its remaining adult "
             "speakers, which nothing saw. *Other corpora*: the bundled model's test speakers of the other four "
             "(what fine-tuning forgets).", "",
             f"Settings: {cfg.epochs} epochs × {cfg.steps_per_epoch} steps, learning rate {cfg.lr:g} "
             f"(cosine), batch {cfg.batch_size}, the default augmentation, weights averaged (EMA {cfg.ema_decay}).", "",
             "| corpus | N per gender | clips | test speakers (clips) | epoch kept | test UAR before | after | "
             "other corpora before | after |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['corpus']} | {r['per_gender']} | {r['clips']} | {r['test_speakers']} ({r['test_clips']}) | "
                     f"{r['best_epoch']} | {r['test_before']:.3f} | **{r['test_after']:.3f}** | "
                     f"{r['others_before']:.3f} | {r['others_after']:.3f} |")
    for n in SPEAKERS_PER_GENDER:
        chosen = [r for r in rows if r["per_gender"] == n]
        if chosen:
            mean = {k: float(np.mean([r[k] for r in chosen])) for k in ("test_before", "test_after", "others_before", "others_after")}
            lines.append(f"| **mean, N = {n}** ({len(chosen)} corpora) | | | | | {mean['test_before']:.3f} | "
                         f"**{mean['test_after']:.3f}** | {mean['others_before']:.3f} | {mean['others_after']:.3f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loco", type=Path, default=LOCO, help="folder of LOCO models, one per held-out corpus")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "finetune", help="fine-tuned models")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: no corpora at {DATA}")
        return 0
    corpora = [p.name for p in sorted(DATA.iterdir()) if (p / "labels.csv").is_file()]
    missing = [c for c in corpora if not (args.loco / c / "config.json").is_file()]
    if missing:
        raise SystemExit(f"no LOCO model for {', '.join(missing)} in {args.loco}: run accuracy_benchmark.py loco first")
    cfg = TrainConfig(epochs=args.epochs, steps_per_epoch=args.steps, lr=args.lr, patience=3, threads=1)
    jobs = [(c, n) for c in corpora for n in SPEAKERS_PER_GENDER]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = pool.map(fine_tune, *zip(*jobs), *([x] * len(jobs) for x in (args.loco, args.out, cfg)))
        rows = [r for r in results if r is not None]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = markdown(rows, cfg, "python benchmarks/finetune_benchmark.py " + shlex.join(sys.argv[1:]))
    (OUT / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
