"""Log-mel and MFCC (+Δ, ΔΔ) features, optionally with cepstral pitch bins, in NumPy: the features
of batch, streaming and the server. Training computes the same numbers with torch on batches of
augmented clips (``voxgender.training.features``); a test holds the two equal.

Mel bands 30-70 Hz wide smear the harmonics of a voice, so the pitch (the strongest and most
channel-independent cue that separates female from male voices) reaches a log-mel model only
indirectly. The optional pitch bins give it directly: the real cepstrum of each frame (inverse FFT
of the log power spectrum), where a voiced frame has a peak at the quefrency of its period,
averaged into ``pitch_bins`` log-spaced bands between ``1/pitch_fmax`` and ``1/pitch_fmin``. A
channel's colouring is smooth across frequency, so it lands at low quefrencies, below these bands.
(Measured against the bundled recipe of 2026-12-03, experiments/LOG.md: not a gain there.)

Frames are taken without centring (frame ``i`` covers samples ``[i*hop, i*hop + win)``), so a
stream that feeds the same samples in pieces gets exactly the same frames as one batch call.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import cached_property, lru_cache
from typing import Any, Literal

import numpy as np

from voxgender.core.blocks import by_blocks

FeatureKind = Literal["logmel", "mfcc"]
DELTA_WIDTH = 2  # regression half-width of the Δ and ΔΔ filters (frames)
SPECTRUM_BLOCK = 128  # frames per FFT pass: a block's float64 spectra stay in the CPU cache
LOG_FLOOR = 1e-6


@dataclass(frozen=True)
class FeatureConfig:
    """What the features are. Stored inside every model so that inference matches training."""

    kind: FeatureKind = "logmel"
    n_mels: int = 48
    n_mfcc: int = 20
    deltas: bool = False
    win_ms: float = 40.0
    hop_ms: float = 20.0
    fmin: float = 50.0
    fmax: float = 7600.0
    sample_rate: int = 16000
    pitch_bins: int = 0  # cepstral pitch bands appended to each frame (0 = none)
    pitch_fmin: float = 55.0
    pitch_fmax: float = 500.0

    def __post_init__(self) -> None:
        if self.kind not in ("logmel", "mfcc"):
            raise ValueError(f"feature kind must be 'logmel' or 'mfcc', not {self.kind!r}")
        if self.kind == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({self.n_mfcc}) cannot exceed n_mels ({self.n_mels})")
        if not 0 < self.hop_ms <= self.win_ms:
            raise ValueError("need 0 < hop_ms <= win_ms")
        if self.pitch_bins < 0:
            raise ValueError("pitch_bins cannot be negative")
        if self.pitch_bins and not (0 < self.pitch_fmin < self.pitch_fmax
                                    and self.sample_rate / self.pitch_fmin < self.win_length / 2):
            raise ValueError(f"pitch range {self.pitch_fmin}-{self.pitch_fmax} Hz needs 0 < pitch_fmin < pitch_fmax "
                             f"and two periods of pitch_fmin within the {self.win_ms} ms window")

    @cached_property  # frame counts on a stream's hot path read these often
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @cached_property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def n_fft(self) -> int:
        return 1 << (self.win_length - 1).bit_length()

    @property
    def base_dim(self) -> int:
        return (self.n_mfcc if self.kind == "mfcc" else self.n_mels) + self.pitch_bins

    @property
    def dim(self) -> int:
        return self.base_dim * (3 if self.deltas else 1)

    @property
    def lookahead_frames(self) -> int:
        """Frames of future context that Δ and ΔΔ need (0 without deltas)."""
        return 2 * DELTA_WIDTH if self.deltas else 0

    def num_frames(self, num_samples: int) -> int:
        if num_samples < self.win_length:
            return 0
        return 1 + (num_samples - self.win_length) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(cfg: FeatureConfig) -> np.ndarray:
    """Triangular HTK-style mel filters, shape (n_fft // 2 + 1, n_mels), area-normalised."""
    n_bins = cfg.n_fft // 2 + 1
    bin_hz = np.linspace(0.0, cfg.sample_rate / 2, n_bins)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(cfg.fmin)), _hz_to_mel(np.array(cfg.fmax)), cfg.n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bin_hz[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= 2.0 / (upper - lower)
    return weights.T.astype(np.float32)


def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II, shape (n_mels, n_mfcc)."""
    n = np.arange(n_mels)[:, None]
    k = np.arange(n_mfcc)[None, :]
    basis = np.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.astype(np.float32)


def _pitch_edges(cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Integer quefrencies (samples) of the pitch range and the log-quefrency edges of its bands."""
    quefrencies = np.arange(int(cfg.sample_rate // cfg.pitch_fmax), int(math.ceil(cfg.sample_rate / cfg.pitch_fmin)) + 1)
    log_q = np.log(quefrencies)
    return quefrencies, np.linspace(log_q[0], log_q[-1], cfg.pitch_bins + 2)


def pitch_pooling(cfg: FeatureConfig) -> tuple[int, np.ndarray]:
    """First quefrency (in samples) and the (quefrencies, pitch_bins) matrix that averages the
    cepstrum into triangular bands evenly spaced in log-quefrency (log-pitch), area-normalised."""
    quefrencies, edges = _pitch_edges(cfg)
    log_q = np.log(quefrencies)[None, :]
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    weights = np.maximum(0.0, np.minimum((log_q - lower) / (centre - lower), (upper - log_q) / (upper - centre)))
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return int(quefrencies[0]), weights.T.astype(np.float32)


def pitch_bin_hz(cfg: FeatureConfig) -> np.ndarray:
    """The pitch (Hz) at the centre of each pitch band, highest first (shortest period first)."""
    return cfg.sample_rate / np.exp(_pitch_edges(cfg)[1][1:-1])


def deltas(x: np.ndarray, width: int = DELTA_WIDTH) -> np.ndarray:
    """Regression deltas along the frame axis (-2) of ``x``, edges padded by repetition."""
    frames = x.shape[-2]
    if frames == 0:
        return x.copy()
    padded = np.take(x, np.clip(np.arange(-width, frames + width), 0, frames - 1), axis=-2)
    num = padded[..., width + 1: width + 1 + frames, :] - padded[..., width - 1: width - 1 + frames, :]
    for n in range(2, width + 1):
        num += n * (padded[..., width + n: width + n + frames, :] - padded[..., width - n: width - n + frames, :])
    return (num / np.float32(2 * sum(n * n for n in range(1, width + 1)))).astype(np.float32, copy=False)


def with_deltas(base: np.ndarray) -> np.ndarray:
    """Base frames followed by their Δ and ΔΔ."""
    d1 = deltas(base)
    return np.concatenate([base, d1, deltas(d1)], axis=-1)


@dataclass(frozen=True)
class FeatureTables:
    """The constant matrices of a feature config: window, mel filters, DCT and pitch pooling."""

    window: np.ndarray
    mel: np.ndarray
    dct: np.ndarray
    first_quefrency: int
    pitch: np.ndarray

    @classmethod
    def of(cls, cfg: FeatureConfig) -> "FeatureTables":
        n = np.arange(cfg.win_length)
        window = 0.5 - 0.5 * np.cos(2 * math.pi * n / cfg.win_length)  # periodic Hann, float64 (see frame_features)
        dct = dct_matrix(cfg.n_mels, cfg.n_mfcc) if cfg.kind == "mfcc" else np.zeros((0, 0), np.float32)
        first, pitch = pitch_pooling(cfg) if cfg.pitch_bins else (0, np.zeros((0, 0), np.float32))
        return cls(window, mel_filterbank(cfg), dct, first, pitch)


@lru_cache(maxsize=8)
def feature_tables(cfg: FeatureConfig) -> FeatureTables:
    return FeatureTables.of(cfg)


def frame_features(frames: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Windows ``(frames, win_length)`` -> log-mel or MFCC (+ pitch bins) ``(frames, base_dim)``,
    float32, a block of frames at a time (``core.blocks``)."""
    tables, out = feature_tables(cfg), np.empty((len(frames), cfg.base_dim), np.float32)
    return by_blocks(lambda block: _block_features(block, tables, cfg), frames, SPECTRUM_BLOCK, out)


def _block_features(frames: np.ndarray, tables: FeatureTables, cfg: FeatureConfig) -> np.ndarray:
    spectrum = np.fft.rfft(frames * tables.window, n=cfg.n_fft)  # float64: NumPy's float32 FFT is 2-3x slower
    power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
    logmel = np.log(power @ tables.mel + np.float32(LOG_FLOOR))
    spectral = logmel @ tables.dct if cfg.kind == "mfcc" else logmel
    if not cfg.pitch_bins:
        return spectral
    cepstrum = np.fft.irfft(np.log(power + np.float32(LOG_FLOOR)), n=cfg.n_fft)
    quefrencies = cepstrum[..., tables.first_quefrency: tables.first_quefrency + tables.pitch.shape[0]]
    return np.concatenate([spectral, quefrencies @ tables.pitch], axis=-1)


def base_features(wave: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Log-mel or MFCC frames ``(frames, base_dim)`` of one 16 kHz waveform, without deltas."""
    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) < cfg.win_length:
        return np.zeros((0, cfg.base_dim), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(wave, cfg.win_length)[::cfg.hop_length]  # a view: no copy
    return frame_features(frames, cfg)


def extract(wave: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Feature frames ``(frames, dim)`` of one 16 kHz waveform: what every model was trained on."""
    base = base_features(wave, cfg)
    return with_deltas(base) if cfg.deltas else base
