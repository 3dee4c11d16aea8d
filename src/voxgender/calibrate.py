"""Fit a model's calibration on labelled speakers (normally its validation split) and store it,
when it makes the probabilities truer on speakers it was not fitted on.

Platt scaling fitted on a few hundred clips can make a well-calibrated network worse: it follows the
handful of speakers it sees. So the fit is first judged by cross-validation over the speakers
(fitted on four fifths, applied to the fifth): it is stored only if its out-of-fold log-loss, a
proper scoring rule, is lower than the network's own; otherwise the model keeps no calibration.
The expected calibration error is reported beside it, but on a few hundred clips it moves by more
than a fit changes it, so it does not decide."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from voxgender.core.calibration import Calibration, expected_calibration_error, fit_calibration
from voxgender.errors import DataError, VoxgenderError
from voxgender.io.audio import load_audio
from voxgender.io.model_dir import update_inference
from voxgender.io.progress import progress_bar, say
from voxgender.model import Model
from voxgender.training.data import Utterance

CHUNK = 64  # clips decoded and scored together
FOLDS = 5  # of the speakers, for judging a fit


def decoded_chunks(utterances: Sequence[Utterance], label: str,
                   show_progress: bool = True) -> Iterator[tuple[list[Utterance], list[np.ndarray]]]:
    """The utterances ``CHUNK`` at a time with their audio, each undecodable one skipped with a
    one-line note naming it."""
    for start in progress_bar(range(0, len(utterances), CHUNK), label, show_progress):
        kept, audios = [], []
        for utt in utterances[start:start + CHUNK]:
            try:
                audios.append(load_audio(utt.path))
            except VoxgenderError as err:
                say(f"skipped: {err}")
                continue
            kept.append(utt)
        yield kept, audios


def raw_scores(model: Model, utterances: Sequence[Utterance],
               show_progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uncalibrated p_female of each decodable utterance, whether it is female, and its speaker."""
    scores: list[float] = []
    truth: list[bool] = []
    speakers: list[str] = []
    for utts, audios in decoded_chunks(utterances, "scoring for calibration", show_progress):
        if audios:
            scores.extend(model.p_female_of_arrays(audios, calibrated=False).tolist())
        truth += [u.gender == "female" for u in utts]
        speakers += [u.speaker for u in utts]
    if not scores:
        raise DataError("no decodable utterance to calibrate on")
    return np.asarray(scores), np.asarray(truth), np.asarray(speakers)


def out_of_fold(raw: np.ndarray, female: np.ndarray, speakers: np.ndarray, folds: int = FOLDS) -> np.ndarray:
    """Each clip's p_female calibrated by a fit on the other folds of speakers (raw where that fit
    is impossible: a gender missing, or scores that fall as the truth rises)."""
    names = np.unique(speakers)
    fold_of = dict(zip(names, np.random.default_rng(0).permutation(len(names)) % folds))
    fold = np.array([fold_of[s] for s in speakers])
    out = raw.astype(float).copy()
    for k in range(folds):
        held, rest = fold == k, fold != k
        try:
            out[held] = fit_calibration(raw[rest], female[rest])(raw[held])
        except ValueError:
            continue
    return out


def log_loss(p_female: np.ndarray, female: np.ndarray) -> float:
    """Mean negative log-probability of the truth."""
    p = np.clip(np.where(female, p_female, 1 - p_female), 1e-6, 1.0)
    return float(-np.log(p).mean())


def judge_calibration(raw: np.ndarray, female: np.ndarray, speakers: np.ndarray) -> dict[str, Any]:
    """Platt scaling fitted on all the clips, and whether to keep it: its out-of-fold log-loss
    (``out_of_fold``) beats the uncalibrated one. With the log-losses, the expected calibration
    errors: uncalibrated, out of fold and in sample."""
    calibration: Calibration = fit_calibration(raw, female)
    held_out = out_of_fold(raw, female, speakers)
    loss_raw, loss_out_of_fold = log_loss(raw, female), log_loss(held_out, female)
    return {"calibration": calibration.to_dict(), "kept": loss_out_of_fold < loss_raw, "clips": int(len(raw)),
            "speakers": int(len(np.unique(speakers))), "log_loss_before": loss_raw, "log_loss_out_of_fold": loss_out_of_fold,
            "ece_before": expected_calibration_error(raw, female),
            "ece_out_of_fold": expected_calibration_error(held_out, female),
            "ece_after": expected_calibration_error(calibration(raw), female)}


def calibrate_model_dir(model_dir: str | Path, model: Model, utterances: Sequence[Utterance],
                        show_progress: bool = True) -> dict[str, Any]:
    """Score ``utterances`` with ``model``, judge a calibration on them (``judge_calibration``) and
    write it into ``model_dir``'s config if kept, else write none, with the figures of the judgement
    (``calibration_check``, for the model card); return the judgement."""
    judgement = judge_calibration(*raw_scores(model, utterances, show_progress))
    check = {k: v for k, v in judgement.items() if k not in ("calibration", "kept")}
    update_inference(model_dir, calibration=judgement["calibration"] if judgement["kept"] else None, calibration_check=check)
    return judgement
