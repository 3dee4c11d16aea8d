"""A model on disk: a directory with ``model.safetensors``, ``config.json`` and ``MODEL_CARD.md``.

``config.json`` holds the feature config, the architecture (with the normalisation statistics in
the weights), the inference settings and whatever the trainer measured; loading never unpickles.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from voxgender.core.features import FeatureConfig
from voxgender.core.networks import GenderEnsemble, GenderRNN, ModelConfig, build_net
from voxgender.errors import ModelError

FORMAT = "voxgender-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "MODEL_CARD.md"
SPLITS_FILE = "splits.json"  # the speakers of each split a model was trained with
BUNDLED_NAME = "voxgender-gru"


def bundled_model_dir() -> Path:
    """Directory of the pretrained model shipped inside the package."""
    return Path(str(resources.files("voxgender") / "pretrained" / BUNDLED_NAME))


def split_speakers(source: str | Path, split: str) -> set[str]:
    """The speakers of ``split`` (train, val or test) in ``source``: a model directory or a splits file."""
    path = Path(source)
    path = path / SPLITS_FILE if path.is_dir() else path
    if not path.is_file():
        raise ModelError(f"{path}: no splits file")
    splits = json.loads(path.read_text())
    if split not in splits:
        raise ModelError(f"{path}: no {split!r} split (it has {', '.join(splits)})")
    return set(splits[split])


def member_train_settings(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The training settings of each network of a saved model's config: an ensemble's members', or
    the model's own."""
    metadata = config.get("metadata", {})
    return [member["train"] for member in metadata["members"]] if "members" in metadata else [metadata["train"]]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def update_inference(model_dir: str | Path, **settings: Any) -> Path:
    """Set inference settings (such as ``calibration``) in a saved model's config.json."""
    path = Path(model_dir) / CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: cannot read the model config ({err})") from None
    config["inference"] = {**config.get("inference", {}), **settings}
    atomic_write_text(path, json.dumps(config, indent=2) + "\n")
    return path


def save_model_dir(
    out_dir: str | Path,
    net: GenderRNN | GenderEnsemble,
    features: FeatureConfig,
    inference: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    card: str | None = None,
) -> Path:
    """Save a model directory; each file is replaced atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{WEIGHTS}.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp))
    os.replace(tmp, out / WEIGHTS)
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


def load_model_dir(path: str | Path) -> tuple[GenderRNN | GenderEnsemble, FeatureConfig, dict[str, Any]]:
    """Load ``(net, feature_config, config_dict)`` from a model directory (or its config.json)."""
    root = Path(path)
    if root.is_file() and root.name in (CONFIG, WEIGHTS):
        root = root.parent
    if not root.is_dir():
        raise ModelError(f"{path}: no such model directory")
    for name in (CONFIG, WEIGHTS):
        if not (root / name).is_file():
            raise ModelError(f"{path}: not a voxgender model (missing {name})")
    try:
        config = json.loads((root / CONFIG).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelError(f"{path}: {CONFIG} is not valid JSON ({err.msg})") from None
    if config.get("format") != FORMAT:
        raise ModelError(f"{path}: {CONFIG} is not a voxgender model config")
    try:
        features = FeatureConfig.from_dict(config["features"])
        net = build_net(ModelConfig.from_dict(config["model"]))
        net.load_state_dict(load_file(str(root / WEIGHTS)))
    except (KeyError, ValueError, RuntimeError) as err:
        reason = str(err).splitlines()[0]
        raise ModelError(f"{path}: weights do not match the config ({reason})") from None
    if features.dim != net.cfg.input_dim:
        raise ModelError(f"{path}: feature dimension {features.dim} != model input {net.cfg.input_dim}")
    net.eval()
    return net, features, config
