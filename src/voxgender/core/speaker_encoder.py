"""Speaker embeddings as a second opinion on gender: arrays in, arrays out.

The encoder is Resemblyzer's GE2E voice encoder (a 3-layer LSTM over 40 power-mel bands, trained
for speaker verification on several thousand LibriSpeech and VoxCeleb voices; Apache-2.0), exported
to ONNX (weights stored in half precision) by ``voxgender add-encoder``. It never saw a gender
label: a logistic probe on its embeddings does, and its log-odds join the network's (``EncoderProbe``).

Its frames are librosa's melspectrogram with Resemblyzer's settings (25-ms Hann window, 10-ms step,
Slaney mel filters, power), computed here with numpy. A recording is heard through at most a few
1.6-s windows: the loudest of each stretch, so that the cost per file stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from voxgender.core.blocks import by_blocks
from voxgender.core.calibration import Calibration, logit, sigmoid
from voxgender.core.labels import SAMPLE_RATE
from voxgender.core.onnx_runtime import new_session

N_FFT, HOP, N_MELS = 400, 160, 40  # at 16 kHz
WINDOW_FRAMES, WINDOW_STEP = 160, 80  # 1.6-s windows, half overlapping
TARGET_DBFS = -30.0  # quieter audio is raised to this level before the frames, never lowered
EMBEDDING_DIM = 256
MEL_BLOCK = 256  # frames whose spectra are computed at once (core/blocks.py)
ENCODER_BATCH = 32  # windows run through the encoder at once: its LSTM's activations for hundreds would take hundreds of MB
MAX_WINDOWS = 16  # per recording (or per block of a long one): the loudest window of each of as many stretches


def slaney_mel_filters() -> np.ndarray:
    """librosa's default mel filters (Slaney scale, area norm), shape (N_MELS, N_FFT // 2 + 1)."""
    step, log_step = 200.0 / 3, np.log(6.4) / 27  # linear below 1 kHz, logarithmic above

    def to_mel(hz: np.ndarray) -> np.ndarray:
        return np.where(hz >= 1000, 15 + np.log(np.maximum(hz, 1e-9) / 1000) / log_step, hz / step)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel >= 15, 1000 * np.exp(log_step * (mel - 15)), mel * step)

    fft_hz = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = to_hz(np.linspace(0, to_mel(np.array(SAMPLE_RATE / 2)), N_MELS + 2))
    rising = (fft_hz[None] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - fft_hz[None]) / np.diff(edges)[1:, None]
    filters = np.maximum(0, np.minimum(rising, falling))
    return (filters * (2 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


_MEL = slaney_mel_filters()
_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic, as torch's


def raising_gain(mean_square: np.ndarray | float) -> np.ndarray:
    """The amplitude gain that raises audio of this mean square to TARGET_DBFS (1 if it is louder)."""
    rms_db = 10 * np.log10(np.asarray(mean_square, dtype=np.float64) + 1e-12)
    return np.maximum(1.0, 10 ** ((TARGET_DBFS - rms_db) / 20))


def power_mel(wave: np.ndarray, raise_quiet: bool = True) -> np.ndarray:
    """Power-mel frames (frames, N_MELS) of 16-kHz audio, centred (zero-padded by half a window)
    and raised to TARGET_DBFS first if quieter (unless ``raise_quiet`` is False)."""
    gain = float(raising_gain(np.mean(np.square(wave, dtype=np.float64)))) if raise_quiet else 1.0
    padded = np.pad(wave.astype(np.float32) * np.float32(gain), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    return by_blocks(_mel_of_frames, frames, MEL_BLOCK, np.empty((len(frames), N_MELS), np.float32))


def _mel_of_frames(frames: np.ndarray) -> np.ndarray:
    return np.square(np.abs(np.fft.rfft(frames * _HANN, axis=1))) @ _MEL.T


def every_window(mel: np.ndarray) -> np.ndarray:
    """A view of every window (k, WINDOW_FRAMES, N_MELS) of ``mel``, one starting at each frame; a
    recording shorter than one window is zero-padded to it."""
    if len(mel) < WINDOW_FRAMES:
        mel = np.concatenate([mel, np.zeros((WINDOW_FRAMES - len(mel), N_MELS), np.float32)])
    return np.lib.stride_tricks.sliding_window_view(mel, WINDOW_FRAMES, axis=0).transpose(0, 2, 1)


def loudest_windows(mel: np.ndarray, max_windows: int = MAX_WINDOWS) -> np.ndarray:
    """Windows (k, WINDOW_FRAMES, N_MELS) of ``mel``: one every WINDOW_STEP frames and one ending
    with it, when there are at most ``max_windows``; else the loudest of each of ``max_windows``
    equal stretches of them. A recording shorter than one window is zero-padded to it."""
    every = every_window(mel)
    starts = np.arange(0, len(every), WINDOW_STEP)
    windows = every[np.append(starts, len(every) - 1) if starts[-1] != len(every) - 1 else starts]
    if len(windows) > max_windows:
        loudness = np.log(windows.sum(axis=(1, 2)) + 1e-10)
        stretches = np.array_split(np.arange(len(windows)), max_windows)
        windows = windows[[s[np.argmax(loudness[s])] for s in stretches]]
    return np.ascontiguousarray(windows)


def window_track(wave: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows (k, WINDOW_FRAMES, N_MELS) of ``wave`` every ``step`` frames from its start, each
    raised to TARGET_DBFS on its own if quieter (as a clip is), and the sample at each one's centre.
    Audio shorter than one window gives one window, zero-padded."""
    every = every_window(power_mel(wave, raise_quiet=False))
    starts = np.arange(0, len(every), step)
    squares = np.concatenate([[0.0], np.cumsum(np.square(wave, dtype=np.float64))])
    first = np.clip(starts * HOP - N_FFT // 2, 0, len(wave))
    last = np.clip((starts + WINDOW_FRAMES - 1) * HOP + N_FFT // 2, 0, len(wave))
    mean_square = (squares[last] - squares[first]) / np.maximum(last - first, 1)
    windows = every[starts] * np.square(raising_gain(mean_square)).astype(np.float32)[:, None, None]
    return np.ascontiguousarray(windows), (starts + (WINDOW_FRAMES - 1) / 2) * HOP


def unit_mean(rows: np.ndarray) -> np.ndarray:
    """The mean of unit-length rows, made unit length: an utterance's embedding from its windows'."""
    mean = rows.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


class SpeakerEncoder:
    """GE2E embeddings (unit length, EMBEDDING_DIM) of 1.6-s windows, run by onnxruntime."""

    def __init__(self, graph: str | bytes) -> None:
        self.session = new_session(graph)
        self.input_name = self.session.get_inputs()[0].name

    def embeddings(self, windows: np.ndarray) -> np.ndarray:
        """Unit-length embeddings (k, EMBEDDING_DIM) of windows (k, WINDOW_FRAMES, N_MELS), ENCODER_BATCH at a time."""
        out = np.empty((len(windows), EMBEDDING_DIM), np.float32)
        return by_blocks(lambda batch: self.session.run(None, {self.input_name: batch})[0], windows, ENCODER_BATCH, out)

    def window_embeddings(self, wave: np.ndarray, max_windows: int = MAX_WINDOWS) -> np.ndarray:
        """Unit-length embeddings (k, EMBEDDING_DIM) of ``wave``'s ``loudest_windows``."""
        return self.embeddings(loudest_windows(power_mel(wave), max_windows))

    def track(self, wave: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Unit-length embeddings of ``wave``'s windows every ``step`` frames, and their centres
        (in samples): the encoder's opinion along a recording (``window_track``)."""
        windows, centres = window_track(wave, step)
        return self.embeddings(windows), centres

    def embed(self, wave: np.ndarray, max_windows: int = MAX_WINDOWS) -> np.ndarray:
        """The recording's embedding: its windows' embeddings averaged (``unit_mean``)."""
        return unit_mean(self.window_embeddings(wave, max_windows))


@dataclass(frozen=True)
class EncoderProbe:
    """A logistic probe's female log-odds on embeddings, fused with the network's:
    p_female = calibration(sigmoid(network log-odds + fusion_weight * probe log-odds))."""

    weights: tuple[float, ...]
    bias: float
    fusion_weight: float
    calibration: Calibration | None = None

    def __post_init__(self) -> None:
        if len(self.weights) != EMBEDDING_DIM or not np.all(np.isfinite(self.weights)) or not np.isfinite(self.bias):
            raise ValueError(f"an encoder probe needs {EMBEDDING_DIM} finite weights and a finite bias")
        if not (np.isfinite(self.fusion_weight) and self.fusion_weight >= 0):
            raise ValueError(f"an encoder probe's fusion_weight must be finite and non-negative, not {self.fusion_weight}")

    def log_odds(self, embeddings: np.ndarray) -> np.ndarray:
        """The probe's female log-odds of each embedding (n, EMBEDDING_DIM)."""
        return np.asarray(embeddings, dtype=np.float64) @ np.asarray(self.weights) + self.bias

    def fused(self, p_female: Sequence[float] | np.ndarray, embeddings: np.ndarray, calibrated: bool = True) -> np.ndarray:
        """p_female of the network (uncalibrated) and the probe on ``embeddings`` together, calibrated unless asked not."""
        return self.fused_with_log_odds(p_female, self.log_odds(embeddings), calibrated)

    def fused_with_log_odds(self, p_female: Sequence[float] | np.ndarray, log_odds: np.ndarray,
                            calibrated: bool = True) -> np.ndarray:
        """p_female of the network (uncalibrated) and the probe's ``log_odds`` together, calibrated unless asked not."""
        p = sigmoid(logit(np.asarray(p_female, dtype=np.float64)) + self.fusion_weight * np.asarray(log_odds))
        return self.calibration(p) if calibrated and self.calibration is not None else p

    def to_dict(self) -> dict[str, Any]:
        return {"weights": list(self.weights), "bias": self.bias, "fusion_weight": self.fusion_weight,
                "calibration": self.calibration.to_dict() if self.calibration else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderProbe:
        return cls(tuple(float(w) for w in data["weights"]), float(data["bias"]), float(data["fusion_weight"]),
                   Calibration.from_dict(data.get("calibration")))
