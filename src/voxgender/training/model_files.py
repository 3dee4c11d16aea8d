"""Writing and reading the torch side of a model directory: the weights that training and
fine-tuning use, and the ONNX graphs exported from them for inference (``voxgender.io.model_dir``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from voxgender.core.features import FeatureConfig
from voxgender.errors import ModelError
from voxgender.io.model_dir import (
    CARD,
    CONFIG,
    FORMAT,
    FORMAT_VERSION,
    WEIGHTS,
    atomic_write_text,
    onnx_files,
    read_model_dir,
    require_file,
)
from voxgender.training.export import onnx_graph
from voxgender.training.networks import GenderEnsemble, GenderRNN, build_net, member_networks


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def export_onnx(out_dir: str | Path, net: GenderRNN | GenderEnsemble) -> list[Path]:
    """Write the ONNX graph of each network of ``net`` into ``out_dir``."""
    paths = [Path(out_dir) / name for name in onnx_files(net.cfg)]
    for path, member in zip(paths, member_networks(net)):
        _atomic_write_bytes(path, onnx_graph(member))
    return paths


def save_model_dir(
    out_dir: str | Path,
    net: GenderRNN | GenderEnsemble,
    features: FeatureConfig,
    inference: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    card: str | None = None,
) -> Path:
    """Save a model directory: weights, ONNX graphs, config and card, each replaced atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{WEIGHTS}.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp))
    os.replace(tmp, out / WEIGHTS)
    export_onnx(out, net)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "labels": ["female", "male"],
        "features": features.to_dict(),
        "model": net.cfg.to_dict(),
        "inference": inference or {},
        "metadata": metadata or {},
    }
    atomic_write_text(out / CONFIG, json.dumps(config, indent=2) + "\n")
    if card is not None:
        atomic_write_text(out / CARD, card)
    return out


@dataclass(frozen=True)
class TorchModel:
    """A saved model's torch side: what fine-tuning starts from and what distillation learns from."""

    net: GenderRNN | GenderEnsemble
    features: FeatureConfig
    config: dict[str, Any]


def load_torch_model(path: str | Path) -> TorchModel:
    """The torch network, feature config and config of a model directory (or its config.json)."""
    root, features, cfg, config = read_model_dir(path)
    weights = require_file(path, root, WEIGHTS)
    net = build_net(cfg)
    try:
        net.load_state_dict(load_file(str(weights)))
    except (KeyError, ValueError, RuntimeError) as err:
        raise ModelError(f"{path}: weights do not match the config ({str(err).splitlines()[0]})") from None
    return TorchModel(net.eval(), features, config)


def export_model_dir(path: str | Path) -> list[Path]:
    """(Re)write the ONNX graphs of a model directory from its torch weights."""
    return export_onnx(read_model_dir(path)[0], load_torch_model(path).net)
