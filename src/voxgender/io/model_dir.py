"""A model on disk: a directory with ``config.json``, the ONNX graph of each network
(``model.onnx``, or ``model-0.onnx``, ``model-1.onnx``, ... for an ensemble), the torch weights
``model.safetensors`` (for fine-tuning) and ``MODEL_CARD.md``.

A model may also carry a speaker encoder (``speaker_encoder.onnx``, with its probe among the
inference settings), which ``voxgender add-encoder`` adds and ``load_model(encoder=True)`` uses.

``config.json`` holds the feature config, the architecture (with the normalisation statistics in
the weights), the inference settings and whatever the trainer measured; loading never unpickles.
Inference loads the ONNX graphs: it needs no torch (``voxgender.training.model_files`` writes them).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from voxgender.core.features import FeatureConfig
from voxgender.core.networks import Ensemble, FrameNetwork, ModelConfig
from voxgender.core.onnx_network import OnnxNetwork
from voxgender.core.speaker_encoder import EncoderProbe, SpeakerEncoder
from voxgender.errors import ModelError

FORMAT = "voxgender-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "MODEL_CARD.md"
SPLITS_FILE = "splits.json"  # the speakers of each split a model was trained with
BUNDLED_NAME = "voxgender-gru"
ENCODER_FILE = "speaker_encoder.onnx"  # a speaker encoder beside the network
ENCODER_SETTING = "speaker_encoder"  # its probe, among the config's inference settings


def onnx_files(cfg: ModelConfig) -> list[str]:
    """The ONNX file of each network of a model."""
    return ["model.onnx"] if cfg.members == 1 else [f"model-{i}.onnx" for i in range(cfg.members)]


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


def read_model_dir(path: str | Path) -> tuple[Path, FeatureConfig, ModelConfig, dict[str, Any]]:
    """A model directory (or its config.json), its feature config, architecture and whole config."""
    root = Path(path)
    if root.is_file() and root.name in (CONFIG, WEIGHTS, "model.onnx"):
        root = root.parent
    if not root.is_dir():
        raise ModelError(f"{path}: no such model directory")
    if not (root / CONFIG).is_file():
        raise ModelError(f"{path}: not a voxgender model (missing {CONFIG})")
    try:
        config = json.loads((root / CONFIG).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelError(f"{path}: {CONFIG} is not valid JSON ({err.msg})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{path}: {CONFIG} is not a voxgender model config")
    try:
        features, architecture = FeatureConfig.from_dict(config["features"]), ModelConfig.from_dict(config["model"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(f"{path}: {CONFIG} does not describe a model ({err})") from None
    if features.dim != architecture.input_dim:
        raise ModelError(f"{path}: feature dimension {features.dim} != model input {architecture.input_dim}")
    return root, features, architecture, config


def require_file(path: str | Path, root: Path, name: str, remedy: str = "") -> Path:
    """``root / name``, or a ModelError naming the model and the missing file."""
    if not (root / name).is_file():
        raise ModelError(f"{path}: not a voxgender model (missing {name}{remedy})")
    return root / name


def load_model_dir(path: str | Path) -> tuple[FrameNetwork, FeatureConfig, dict[str, Any]]:
    """The network (its ONNX graphs, run by onnxruntime), feature config and config of a model directory."""
    root, features, cfg, config = read_model_dir(path)
    graphs = [require_file(path, root, name, f"; `voxgender export --model {path}` writes it") for name in onnx_files(cfg)]
    try:
        members = [OnnxNetwork(replace(cfg, members=1), graph.read_bytes()) for graph in graphs]
    except Exception as err:  # onnxruntime raises its own error types for a damaged graph
        raise ModelError(f"{path}: cannot load the ONNX graph ({str(err).splitlines()[0]})") from None
    return (members[0] if cfg.members == 1 else Ensemble(cfg, members)), features, config


def load_encoder(path: str | Path, config: dict[str, Any]) -> tuple[SpeakerEncoder, EncoderProbe]:
    """The speaker encoder and probe of the model directory ``path`` (whose config is ``config``)."""
    root = Path(path)
    root = root.parent if root.is_file() else root
    setting = config.get("inference", {}).get(ENCODER_SETTING)
    if setting is None or not (root / ENCODER_FILE).is_file():
        raise ModelError(f"{path}: the model has no speaker encoder (add one with `voxgender add-encoder --model {path}`)")
    try:
        probe = EncoderProbe.from_dict(setting)
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(f"{path}: the speaker encoder's probe is not valid ({err})") from None
    try:
        return SpeakerEncoder((root / ENCODER_FILE).read_bytes()), probe
    except Exception as err:  # onnxruntime raises its own error types for a damaged graph
        raise ModelError(f"{path}: cannot load {ENCODER_FILE} ({str(err).splitlines()[0]})") from None
