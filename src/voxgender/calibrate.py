"""Fit a model's calibration on labelled speakers (normally its validation split) and store it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from voxgender.core.calibration import Calibration, expected_calibration_error, fit_calibration
from voxgender.errors import DataError, VoxgenderError
from voxgender.io.audio import load_audio
from voxgender.io.model_dir import update_inference
from voxgender.io.progress import progress_bar, say
from voxgender.model import Model
from voxgender.training.data import Utterance

CHUNK = 64  # clips decoded and scored together


def raw_scores(model: Model, utterances: Sequence[Utterance], show_progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Uncalibrated p_female of each decodable utterance, and whether it is female."""
    scores: list[float] = []
    truth: list[bool] = []
    for start in progress_bar(range(0, len(utterances), CHUNK), "scoring for calibration", show_progress):
        audios = []
        for utt in utterances[start:start + CHUNK]:
            try:
                audios.append(load_audio(utt.path))
            except VoxgenderError as err:
                say(f"skipped: {err}")
                continue
            truth.append(utt.gender == "female")
        if audios:
            scores.extend(model.p_female_of_arrays(audios, calibrated=False).tolist())
    if not scores:
        raise DataError("no decodable utterance to calibrate on")
    return np.asarray(scores), np.asarray(truth)


def calibrate_model_dir(model_dir: str | Path, model: Model, utterances: Sequence[Utterance],
                        show_progress: bool = True) -> dict[str, Any]:
    """Fit ``model``'s calibration on ``utterances``, write it into ``model_dir``'s config and
    return it with the expected calibration error before and after (on the same clips)."""
    raw, female = raw_scores(model, utterances, show_progress)
    calibration: Calibration = fit_calibration(raw, female)
    update_inference(model_dir, calibration=calibration.to_dict())
    return {"calibration": calibration.to_dict(), "clips": int(len(raw)),
            "ece_before": expected_calibration_error(raw, female),
            "ece_after": expected_calibration_error(calibration(raw), female)}
