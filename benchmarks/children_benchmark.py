"""Children in or out of training, as a controlled pair (issue 3).

Model A is the bundled model, trained on adults only. Model B uses the same recipe (the training
settings, seeds, features and architecture stored in A's config; for an ensemble, its members'),
the same adult training speakers and the same adult validation speakers, plus half of the child
speakers (under 13, split by speaker and stratified by corpus and gender). Both are then measured
on the adult validation speakers, the adult test speakers and the other half of the children,
whom neither heard.

    python benchmarks/children_benchmark.py              # trains B (about 20 minutes per network on one core)

Writes results/children/report.md and results.json; B's model folder goes to runs/children_in
(resumed if the run was killed).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from voxgender.training.data import CHILD_AGE, Utterance, read_corpus, speaker_split
from voxgender.training.evaluate import evaluate_model
from voxgender.core.features import FeatureConfig
from voxgender.model import load_model
from voxgender.core.networks import ModelConfig
from voxgender.io.model_dir import bundled_model_dir, member_train_settings
from voxgender.training.trainer import TrainConfig, load_clips, train_networks

from split_clips import DATA

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "children"


def groups(model_dir: Path) -> dict[str, list[Utterance]]:
    """Adult train / val / test by the bundled splits; children split in two halves by speaker."""
    utterances = read_corpus(DATA)
    splits = json.loads((model_dir / "splits.json").read_text())
    children = [u for u in utterances if u.is_child]
    halves = speaker_split(children, val_fraction=0.5, test_fraction=0.0, seed=0)
    adults = {name: [u for u in utterances if u.speaker in set(splits[name])] for name in ("train", "val", "test")}
    return {**adults, "children_train": halves["train"], "children_heldout": halves["val"]}


KEPT = {"final": "last", "best": "best validation"}


def summary(result: dict[str, Any]) -> dict[str, float]:
    overall = result["overall"]
    return {"clips": overall["n"], "uar": overall["uar"], "female_recall": overall["per_class"]["female"]["recall"],
            "male_recall": overall["per_class"]["male"]["recall"], "uar_1s": result["by_length"]["1.0"]["uar"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="default: the bundled model's")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "children_in", help="model B's folder")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: no corpora at {DATA}")
        return 0
    bundled = bundled_model_dir()
    config = json.loads((bundled / "config.json").read_text())
    data = groups(bundled)
    # A's first network's recipe; an ensemble's members differ only in their seeds, seed, seed + 1, ...
    recipe = TrainConfig.from_dict(member_train_settings(config)[0])
    recipe = replace(recipe, threads=1, epochs=args.epochs or recipe.epochs)
    arch = ModelConfig.from_dict(config["model"])
    train_networks(load_clips(data["train"] + data["children_train"], "training"), load_clips(data["val"], "validation"),
                   args.out, FeatureConfig.from_dict(config["features"]), arch, recipe, [None] * arch.members,
                   resume=True)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for label, model_dir in (("A: adults only (bundled)", bundled), ("B: adults + half of the children", args.out)):
        model = load_model(model_dir)
        results[label] = {name: summary(evaluate_model(model, data[name], show_progress=False))
                          for name in ("val", "test", "children_heldout")}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    speakers = {name: len({u.speaker for u in utts}) for name, utts in data.items()}
    lines = ["# Children in or out of training: a controlled pair", "", f"`python benchmarks/children_benchmark.py {shlex.join(sys.argv[1:])}`", "",
             f"Child speakers (under {CHILD_AGE}): {speakers['children_train']} added to B's training, "
             f"{speakers['children_heldout']} held out from both. Adults: {speakers['val']} validation and "
             f"{speakers['test']} test speakers, the same for both. Recipe of both: {recipe.epochs} epochs × "
             f"{recipe.steps_per_epoch} steps, keeping the {KEPT[recipe.keep]} epoch.", "",
             "| model | evaluated on | clips | UAR | female recall | male recall | UAR, 1 s crops |",
             "|---|---|---|---|---|---|---|"]
    for label, by_set in results.items():
        for name, s in by_set.items():
            lines.append(f"| {label} | {name} | {s['clips']} | {s['uar']:.3f} | {s['female_recall']:.3f} | "
                         f"{s['male_recall']:.3f} | {s['uar_1s']:.3f} |")
    (OUT / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
