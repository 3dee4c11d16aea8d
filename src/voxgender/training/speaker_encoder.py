"""A speaker encoder beside a trained model: Resemblyzer's GE2E voice encoder exported to ONNX with
its weights stored in half precision, and a gender probe on its embeddings fitted on the model's own
speakers.

The probe (logistic regression, genders weighted alike) learns from the training split; its
log-odds join the network's at ``FUSION_WEIGHT``, chosen on the leave-one-group-out panel
(experiments/LOG.md); the fused p_female is Platt-calibrated on the validation split, kept only if
that beats it out of fold, as ``voxgender calibrate`` judges a network's calibration.

The encoder's weights come from Resemblyzer's wheel on PyPI (Apache-2.0), read at build time only:

    pip download resemblyzer==0.1.4 --no-deps -d runs/resemblyzer
    voxgender add-encoder --model runs/bundled --wheel runs/resemblyzer/Resemblyzer-0.1.4-py3-none-any.whl --data ../shared/data
"""

from __future__ import annotations

import io
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from voxgender.calibrate import decoded_chunks, judge_calibration
from voxgender.core.calibration import Calibration
from voxgender.core.speaker_encoder import EMBEDDING_DIM, N_MELS, WINDOW_FRAMES, EncoderProbe, SpeakerEncoder
from voxgender.errors import DataError, ModelError
from voxgender.io.model_dir import ENCODER_FILE, ENCODER_SETTING, update_inference
from voxgender.model import Model
from voxgender.training.data import Utterance

WEIGHTS_IN_WHEEL = "resemblyzer/pretrained.pt"
LICENSE_FILE = "speaker_encoder.LICENSE"  # Resemblyzer's Apache-2.0 licence, shipped beside its weights
FUSION_WEIGHT = 0.5  # probe log-odds per network log-odds
PROBE_C = 1.0  # inverse L2 strength of the probe
HALF_FROM_SIZE = 1024  # weights of this many values or more are stored in half precision


class Ge2eEncoder(torch.nn.Module):
    """GE2E's network: unit-length embeddings of power-mel windows (batch, WINDOW_FRAMES, N_MELS)."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(N_MELS, EMBEDDING_DIM, 3, batch_first=True)
        self.linear = torch.nn.Linear(EMBEDDING_DIM, EMBEDDING_DIM)
        self.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in ("lstm", "linear")})
        self.eval()

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mel)
        embedding = torch.relu(self.linear(hidden[-1]))
        return embedding / embedding.norm(dim=1, keepdim=True)


def export_encoder(wheel: str | Path, out: str | Path) -> Path:
    """Write Resemblyzer's encoder, read from its ``wheel``, to ``out`` as ONNX with half-precision
    weights (``stored_in_half``), and the wheel's licence beside it (``LICENSE_FILE``)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            state = torch.load(io.BytesIO(archive.read(WEIGHTS_IN_WHEEL)), map_location="cpu")["model_state"]
            licence = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/LICENSE")))
    except (OSError, KeyError, StopIteration, zipfile.BadZipFile) as err:
        raise ModelError(f"{wheel}: not Resemblyzer's wheel ({err or 'no licence file'})") from None
    (Path(out).parent / LICENSE_FILE).write_bytes(licence)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on exporting an LSTM with a batch size of its own
        full = Path(tmp) / "encoder.onnx"
        torch.onnx.export(Ge2eEncoder(state), (torch.zeros(2, WINDOW_FRAMES, N_MELS),), str(full), input_names=["mel"],
                          output_names=["embedding"], dynamic_axes={"mel": {0: "windows"}, "embedding": {0: "windows"}},
                          opset_version=17, dynamo=False)
        onnx.save(stored_in_half(onnx.load(str(full))), str(out))
    return Path(out)


def stored_in_half(graph: onnx.ModelProto) -> onnx.ModelProto:
    """``graph`` with its large float32 weights stored as float16, cast back to float32 when loaded
    (onnxruntime folds the casts): half the file, the same arithmetic. Int8 quantization is not an
    option here: the encoder reads raw power, whose range int8 activations cannot hold."""
    casts = []
    for weight in list(graph.graph.initializer):
        values = numpy_helper.to_array(weight)
        if values.dtype == np.float32 and values.size >= HALF_FROM_SIZE:
            graph.graph.initializer.remove(weight)
            graph.graph.initializer.append(numpy_helper.from_array(values.astype(np.float16), f"{weight.name}_half"))
            casts.append(helper.make_node("Cast", [f"{weight.name}_half"], [weight.name], to=TensorProto.FLOAT))
    nodes = [*casts, *graph.graph.node]
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    return graph


def encoder_from_wheel(wheel: str | Path) -> SpeakerEncoder:
    """The encoder as ``predict --encoder`` runs it, exported from the ``wheel`` on the fly."""
    with tempfile.TemporaryDirectory() as tmp:
        return SpeakerEncoder(export_encoder(wheel, Path(tmp) / ENCODER_FILE).read_bytes())


def encoder_evidence(model: Model, encoder: SpeakerEncoder, utterances: Sequence[Utterance],
                     label: str, show_progress: bool = True) -> dict[str, np.ndarray]:
    """Per decodable utterance: its embedding, the network's uncalibrated p_female, whether it is
    female, and its speaker."""
    embeddings: list[np.ndarray] = []
    p_female: list[float] = []
    kept: list[Utterance] = []
    for utts, audios in decoded_chunks(utterances, label, show_progress):
        if audios:
            p_female.extend(model.p_female_of_arrays(audios, calibrated=False).tolist())
            embeddings += [encoder.embed(a) for a in audios]
        kept += utts
    if not kept:
        raise DataError(f"no decodable utterance for the {label}")
    return {"embeddings": np.array(embeddings), "p_female": np.array(p_female),
            "female": np.array([u.gender == "female" for u in kept]), "speakers": np.array([u.speaker for u in kept])}


def fit_probe(embeddings: np.ndarray, female: np.ndarray) -> tuple[tuple[float, ...], float]:
    """Female-against-male logistic regression on embeddings, the genders weighted alike."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=PROBE_C, max_iter=5000, class_weight="balanced").fit(embeddings, female)
    return tuple(float(w) for w in fit.coef_[0]), float(fit.intercept_[0])


def uar(p_female: np.ndarray, female: np.ndarray) -> float:
    """Unweighted average recall of the 0.5 threshold."""
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(female, p_female >= 0.5))


def add_encoder(model_dir: str | Path, model: Model, wheel: str | Path, train: Sequence[Utterance],
                val: Sequence[Utterance], show_progress: bool = True) -> dict[str, Any]:
    """Export the encoder into ``model_dir``, fit its probe on ``train`` and the fused calibration
    on ``val``, store them, and return the validation figures."""
    graph = export_encoder(wheel, Path(model_dir) / ENCODER_FILE)
    encoder = SpeakerEncoder(graph.read_bytes())
    fitted = encoder_evidence(model, encoder, train, "encoder probe: training speakers", show_progress)
    weights, bias = fit_probe(fitted["embeddings"], fitted["female"])
    probe = EncoderProbe(weights, bias, FUSION_WEIGHT)
    held = encoder_evidence(model, encoder, val, "encoder probe: validation speakers", show_progress)
    fused = probe.fused(held["p_female"], held["embeddings"])
    judgement = judge_calibration(fused, held["female"], held["speakers"])
    if judgement["kept"]:
        probe = EncoderProbe(weights, bias, FUSION_WEIGHT, Calibration.from_dict(judgement["calibration"]))
    check = {"train_clips": int(len(fitted["female"])), "val_clips": judgement["clips"], "val_speakers": judgement["speakers"],
             "val_uar_network": uar(model.calibrate(held["p_female"]), held["female"]),
             "val_uar_fused": uar(probe.fused(held["p_female"], held["embeddings"]), held["female"]),
             "calibration_kept": judgement["kept"], **{k: v for k, v in judgement.items() if k.startswith(("log_loss", "ece"))}}
    update_inference(model_dir, **{ENCODER_SETTING: {**probe.to_dict(), "check": check}})
    return check

