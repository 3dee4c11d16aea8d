"""An ensemble from trained models: networks of one architecture over the same features, trained
on the same speaker split (with other seeds), saved as one model whose frame log-posteriors are the
mean of theirs. Every consumer (predict, segment, stream, serve) runs it as it runs one network.

    voxgender ensemble runs/seed0 runs/seed1 --out runs/ensemble
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from voxgender.core.features import FeatureConfig
from voxgender.errors import ModelError
from voxgender.io.model_dir import SPLITS_FILE
from voxgender.training.model_files import load_torch_model, save_model_dir
from voxgender.training.networks import GenderEnsemble, GenderRNN

MEMBER_KEYS = ("train", "best_epoch", "kept_epoch", "val_uar", "val_loss")  # what differs between members


def _splits(model_dir: Path) -> dict[str, list[str]] | None:
    path = model_dir / SPLITS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def member_dirs(out: str | Path, count: int) -> list[Path]:
    """Where ``count`` networks of one model train: ``out`` itself for one, ``out/memberI`` for an ensemble's."""
    out = Path(out)
    return [out] if count == 1 else [out / f"member{i}" for i in range(count)]


def member_mismatch(net: GenderRNN, features: FeatureConfig, first: GenderRNN, first_features: FeatureConfig) -> str | None:
    """Why ``net`` over ``features`` cannot join an ensemble with ``first`` over ``first_features``
    (None if it can)."""
    if net.cfg.members > 1:
        return "is an ensemble already; give its members instead"
    if features != first_features or net.cfg != first.cfg:
        return "its features or architecture differ from the first model's"
    return None


def ensemble_of(nets: Sequence[GenderRNN]) -> GenderEnsemble:
    """The ensemble of ``nets`` (one architecture), holding copies of their weights."""
    ensemble = GenderEnsemble(replace(nets[0].cfg, members=len(nets)))
    for member, net in zip(ensemble.members, nets):
        member.load_state_dict(net.state_dict())
    return ensemble.eval()


def build_ensemble(model_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Save the ensemble of the models in ``model_dirs`` to ``out``; each must be one network with
    the first's features and architecture, and (where they record one) the first's speaker split."""
    if len(model_dirs) < 2:
        raise ModelError("an ensemble needs at least two models")
    loaded = [load_torch_model(d) for d in model_dirs]
    first = loaded[0]
    splits = _splits(Path(model_dirs[0]))
    for path, model in zip(model_dirs, loaded):
        reason = member_mismatch(model.net, model.features, first.net, first.features)
        if reason:
            raise ModelError(f"{path}: {reason}")
        if _splits(Path(path)) != splits:
            raise ModelError(f"{path}: trained on another speaker split than {model_dirs[0]} "
                             "(train the members with one --split-seed)")
    ensemble = ensemble_of([model.net for model in loaded])
    shared = {k: v for k, v in first.config.get("metadata", {}).items() if k not in MEMBER_KEYS}
    members: list[dict[str, Any]] = [{"model": str(path), **{k: model.config.get("metadata", {}).get(k) for k in MEMBER_KEYS}}
                                     for path, model in zip(model_dirs, loaded)]
    out_dir = save_model_dir(out, ensemble, first.features, first.config.get("inference"), {**shared, "members": members})
    if splits is not None:
        shutil.copyfile(Path(model_dirs[0]) / SPLITS_FILE, out_dir / SPLITS_FILE)
    return out_dir
