"""Helpers shared by the test files: write and encode test audio, estimate F0, compare signals.

Importable as ``import helpers``: tests/ is on pytest's ``pythonpath`` (pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import soundfile as sf

Target = Union[str, Path, BinaryIO]
ROOT = Path(__file__).resolve().parents[1]  # the checkout


def write_audio(
    path: Target, audio: np.ndarray, rate: int = 16000, subtype: str | None = None, format: str | None = None
) -> Target:
    """Write ``audio`` ((frames,) or (frames, channels) float in [-1, 1]) with soundfile.

    The container comes from the file extension unless ``format`` is given (needed for file
    objects); ``subtype`` is e.g. "PCM_16", "FLOAT", "VORBIS", "OPUS", "MPEG_LAYER_III".
    """
    sf.write(path, audio, rate, subtype=subtype, format=format)
    return path


def encode_with_pyav(
    path: Target, audio: np.ndarray, rate: int, codec: str = "aac", container_format: str = "mp4"
) -> Target:
    """Encode mono or multichannel float ``audio`` with FFmpeg through PyAV.

    For example codec "aac" in "mp4"/"ipod" (M4A) or codec "libopus" in "webm" (Opus needs
    ``rate`` in {8000, 12000, 16000, 24000, 48000}).
    """
    import av

    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    layout = {1: "mono", 2: "stereo"}.get(data.shape[1], f"{data.shape[1]}c")
    with av.open(path, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        sample_format = stream.codec_context.codec.audio_formats[0].name
        if sample_format.endswith("p"):  # planar: (channels, frames)
            frame = av.AudioFrame.from_ndarray(
                _convert(data.T, sample_format), format=sample_format, layout=layout
            )
        else:  # packed: (1, frames * channels)
            frame = av.AudioFrame.from_ndarray(
                _convert(data.reshape(1, -1), sample_format), format=sample_format, layout=layout
            )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _convert(data: np.ndarray, sample_format: str) -> np.ndarray:
    if sample_format.startswith("s16"):
        return np.ascontiguousarray(np.round(np.clip(data, -1, 1) * 32767).astype(np.int16))
    if sample_format.startswith("s32"):
        return np.ascontiguousarray(np.round(np.clip(data, -1, 1) * 2147483647).astype(np.int32))
    return np.ascontiguousarray(data, dtype=np.float32)


def estimate_f0(audio: np.ndarray, rate: int = 16000, fmin: float = 60.0, fmax: float = 400.0) -> float:
    """Median F0 (Hz) over voiced frames by normalised autocorrelation (40 ms frames, 10 ms hop).

    A frame counts as voiced if its RMS is at least 0.3 times the clip's and the autocorrelation
    peak in [1/fmax, 1/fmin] exceeds 0.5. Returns NaN if no frame is voiced.
    """
    x = np.asarray(audio, dtype=np.float64)
    win, hop = int(0.04 * rate), int(0.01 * rate)
    lo, hi = int(rate / fmax), int(rate / fmin)
    clip_rms = np.sqrt(np.mean(x**2)) + 1e-12
    window = np.hanning(win)
    f0s = []
    for start in range(0, len(x) - win, hop):
        frame = x[start : start + win] * window
        if np.sqrt(np.mean(frame**2)) < 0.3 * clip_rms:
            continue
        spec = np.fft.rfft(frame, 2 * win)
        ac = np.fft.irfft(np.abs(spec) ** 2)[:win]
        ac /= ac[0] + 1e-12
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:
            f0s.append(rate / lag)
    return float(np.median(f0s)) if f0s else float("nan")


def max_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 0) -> float:
    """Largest correlation coefficient of ``a`` and ``b`` over relative shifts up to ``max_lag``.

    Computed by FFT on the common length and normalised by the whole signals' norms, which is
    accurate when ``max_lag`` is small compared with the length (codec delays, not offsets).
    """
    from scipy import signal

    n = min(len(a), len(b))
    x = np.asarray(a[:n], dtype=np.float64)
    y = np.asarray(b[:n], dtype=np.float64)
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt(np.sum(x**2) * np.sum(y**2))
    if denom == 0:
        return 0.0
    corr = signal.correlate(x, y, mode="full", method="fft")
    centre = n - 1
    return float(np.max(corr[centre - max_lag : centre + max_lag + 1]) / denom)


# -- stand-ins for a batch worker (module level, so spawned worker processes can import them) ---
def no_model(job, parent=None) -> None:
    """A worker initialiser that loads nothing."""


def crash_on_marked_paths(path: str) -> dict:
    """A batch task whose process dies, as on a native decoder crash, on paths containing 'crash'."""
    import os

    if "crash" in path:
        os._exit(139)
    return {"path": path, "label": "female", "p_female": 0.9, "confidence": 0.9, "duration_s": 1.0}


def crash_on_marked_uploads(model, data: bytes, name: str, max_duration_s, min_confidence) -> dict:
    """An upload task whose process dies, as on a native decoder crash, on bytes that start with b"CRASH"."""
    import os

    from voxgender.server.upload import predict_bytes

    if data.startswith(b"CRASH"):
        os._exit(139)
    return predict_bytes(model, data, name, max_duration_s, min_confidence)


def synthetic_music(seconds: float = 6.0, seed: int = 0, rate: int = 16000) -> np.ndarray:
    """Chords of harmonic tones changing every half second over drum hits: music without a voice."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    out = np.zeros_like(t)
    for beat in range(int(seconds / 0.5)):
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        span = (t >= beat * 0.5) & (t < (beat + 1) * 0.5)
        for ratio in (1, 1.25, 1.5, 2):
            for harmonic in range(1, 6):
                out[span] += 0.05 / harmonic * np.sin(2 * np.pi * root * ratio * harmonic * t[span])
        hit, start = int(0.05 * rate), int(beat * 0.5 * rate)
        out[start:start + hit] += rng.standard_normal(hit) * 0.3 * np.exp(-np.arange(hit) / 400)
    return out.astype(np.float32)
