"""Label-preserving augmentation of waveform batches for training.

Each transform takes a (batch, samples) float tensor and a torch.Generator and returns a new
tensor; ``augment_batch`` applies each one to a random subset of the batch. Speed perturbation
(pitch, formants and tempo together: another voice of the same kind) happens while cropping,
where the audio around a crop is at hand: ``speed_factors`` draws it. Pitch perturbation plays a
crop faster or slower in the same way (``pitch_factors``) and then moves its spectral envelope back
(``restore_formants``), so that the pitch moves and the vocal tract stays: a man's voice raised as
in excited or shouted speech is still labelled male.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, Sequence, get_args

import numpy as np
import soxr
import torch

from voxgender.core.labels import SAMPLE_RATE

PitchDirection = Literal["both", "toward_other"]
PITCH_DIRECTIONS = get_args(PitchDirection)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each transform; ``strength`` 0 disables all of them."""

    strength: float = 1.0
    p_gain: float = 0.5
    gain_db: tuple[float, float] = (-20.0, 6.0)
    p_noise: float = 0.4
    snr_db: tuple[float, float] = (0.0, 30.0)
    p_telephone: float = 0.2
    p_reverb: float = 0.25
    rt60_s: tuple[float, float] = (0.15, 0.8)
    p_codec: float = 0.1
    p_eq: float = 0.5
    eq_db: float = 6.0
    p_music: float = 0.2
    music_snr_db: tuple[float, float] = (0.0, 20.0)
    p_babble: float = 0.15
    babble_snr_db: tuple[float, float] = (5.0, 25.0)
    p_speed: float = 0.0
    speed_range: tuple[float, float] = (0.92, 1.08)  # playback speed factors (pitch and formants scale with it)
    p_pitch: float = 0.0
    pitch_range: tuple[float, float] = (0.75, 1.5)  # pitch factors with the formants kept
    pitch_direction: PitchDirection = "both"  # "toward_other": women's crops only lowered, men's only raised
    pitch_rate_women: float = 1.0  # women's crops are pitch-moved at this multiple of p_pitch, men's at p_pitch
    p_formant: float = 0.0
    formant_range: tuple[float, float] = (0.9, 1.1)  # formant (vocal-tract length) factors with the pitch kept
    p_onset: float = 0.0  # share of training crops that start at the clip's first speech (leading silence cut)
    p_effort: float = 0.0  # share of crops given the spectrum of raised vocal effort (shouting, excitement)
    effort_tilt_db: tuple[float, float] = (2.0, 8.0)  # its extra level per decade above 1 kHz
    band_masks: int = 0  # SpecAugment-style feature masks per training crop (0 = none)
    band_mask_width: int = 10  # each covers up to this many feature dimensions

    def __post_init__(self) -> None:
        if self.pitch_direction not in PITCH_DIRECTIONS:
            raise ValueError(f"pitch_direction {self.pitch_direction!r}: expected one of {', '.join(PITCH_DIRECTIONS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AugmentConfig":
        """A saved config (its ranges come back from JSON as lists); unknown names are ignored."""
        return cls(**{f.name: tuple(data[f.name]) if isinstance(f.default, tuple) else data[f.name]
                      for f in fields(cls) if f.name in data})

    def with_settings(self, settings: Sequence[str]) -> "AugmentConfig":
        """This config with ``NAME=VALUE`` settings applied (a range as ``LOW,HIGH``); a bad one
        raises ValueError naming it."""
        current, changes = self.to_dict(), {}
        for item in settings:
            name, sep, value = item.partition("=")
            if not sep or name not in current:
                raise ValueError(f"augmentation setting {item!r}: expected NAME=VALUE, NAME one of {', '.join(current)}")
            default = getattr(self, name)
            try:
                parsed = tuple(float(v) for v in value.split(",")) if isinstance(default, tuple) else type(default)(value)
            except ValueError:
                parsed = None
            if parsed is None or (isinstance(default, tuple) and len(parsed) != len(default)):
                raise ValueError(f"augmentation setting {item!r}: {value!r} is not like {default!r}")
            changes[name] = parsed
        return replace(self, **changes)


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def gain(x: torch.Tensor, gen: torch.Generator, db: tuple[float, float]) -> torch.Tensor:
    """Scale each row by a random gain in decibels."""
    g = 10 ** (_uniform(x.shape[0], *db, gen) / 20)
    return x * g[:, None]


def coloured_noise(n: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    """Noise with a random spectral slope between white (0) and brown (-2) per row."""
    white = torch.randn(n, samples, generator=gen)
    spec = torch.fft.rfft(white)
    freqs = torch.fft.rfftfreq(samples, 1 / SAMPLE_RATE).clamp_min(20.0)
    slope = _uniform(n, -2.0, 0.0, gen)[:, None]
    spec = spec * (freqs[None, :] / 1000.0) ** (slope / 2)
    noise = torch.fft.irfft(spec, n=samples)
    return noise / noise.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)


def add_at_snr(x: torch.Tensor, other: torch.Tensor, gen: torch.Generator, snr_db: tuple[float, float]) -> torch.Tensor:
    """Add ``other`` to each row of ``x``, scaled to a random signal-to-``other`` ratio."""
    power = x.pow(2).mean(dim=1, keepdim=True).clamp_min(1e-10)
    other_power = other.pow(2).mean(dim=1, keepdim=True).clamp_min(1e-10)
    snr = _uniform(x.shape[0], *snr_db, gen)[:, None]
    return x + other * torch.sqrt(power / other_power / 10 ** (snr / 10))


def add_noise(x: torch.Tensor, gen: torch.Generator, snr_db: tuple[float, float]) -> torch.Tensor:
    """Add coloured noise at a random signal-to-noise ratio."""
    return add_at_snr(x, coloured_noise(x.shape[0], x.shape[1], gen), gen, snr_db)


def tones(n: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    """Music-like backgrounds: successive notes of 1-3 harmonic tones (fundamentals 50-1000 Hz,
    2-8 partials with a random roll-off, vibrato and a decaying envelope), per row. Pitched
    backgrounds are what most often pulls a gender recogniser towards the wrong label."""
    t = torch.arange(samples) / SAMPLE_RATE
    out = torch.zeros(n, samples)
    note = int(0.1 * SAMPLE_RATE) + int(torch.randint(int(0.9 * SAMPLE_RATE), (1,), generator=gen))
    for start in range(0, samples, note):
        length = min(note, samples - start)
        span = t[:length][None, :]
        for _ in range(int(torch.randint(1, 4, (1,), generator=gen))):
            f0 = 10 ** _uniform(n, math.log10(50.0), math.log10(1000.0), gen)[:, None]
            vibrato = 1 + 0.01 * torch.sin(2 * math.pi * _uniform(n, 3.0, 7.0, gen)[:, None] * span)
            rolloff = _uniform(n, 0.3, 0.8, gen)[:, None]
            envelope = torch.exp(-span * _uniform(n, 0.5, 6.0, gen)[:, None])
            phase = 2 * math.pi * torch.cumsum(f0 * vibrato, dim=1) / SAMPLE_RATE
            partials = int(torch.randint(2, 9, (1,), generator=gen))
            wave = sum(rolloff ** k * torch.sin((k + 1) * phase) for k in range(partials))
            out[:, start:start + length] += envelope * wave
    return out


def add_music(x: torch.Tensor, gen: torch.Generator, snr_db: tuple[float, float]) -> torch.Tensor:
    """Add a music-like background at a random signal-to-noise ratio."""
    return add_at_snr(x, tones(x.shape[0], x.shape[1], gen), gen, snr_db)


def add_babble(x: torch.Tensor, gen: torch.Generator, snr_db: tuple[float, float]) -> torch.Tensor:
    """Add another row's speech (a different speaker, either gender) well below this one's, as
    background talk; the label stays this row's. Needs at least two rows."""
    if x.shape[0] < 2:
        return x
    shift = 1 + int(torch.randint(x.shape[0] - 1, (1,), generator=gen))
    return add_at_snr(x, torch.roll(x, shift, dims=0), gen, snr_db)


def band_limit(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Telephone-like channel: a random band-pass around 300-3400 Hz with soft edges."""
    n = x.shape[1]
    freqs = torch.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    low = _uniform(x.shape[0], 200.0, 400.0, gen)[:, None]
    high = _uniform(x.shape[0], 3000.0, 4000.0, gen)[:, None]
    mask = torch.sigmoid((freqs - low) / 40.0) * torch.sigmoid((high - freqs) / 150.0)
    return torch.fft.irfft(torch.fft.rfft(x) * mask, n=n)


def random_eq(x: torch.Tensor, gen: torch.Generator, depth_db: float) -> torch.Tensor:
    """A random smooth channel (microphone, room, codec colouring): a spectral tilt of up to
    ±``depth_db`` per decade from 1 kHz plus three bell curves of up to ±``depth_db`` at random
    centres on a log-frequency axis, with the row's level kept."""
    n, samples = x.shape
    log_f = torch.log10(torch.fft.rfftfreq(samples, 1 / SAMPLE_RATE).clamp_min(50.0))[None, :]
    db = _uniform(n, -depth_db, depth_db, gen)[:, None] * (log_f - 3.0)
    for _ in range(3):
        centre = _uniform(n, math.log10(100.0), math.log10(6000.0), gen)[:, None]
        width = _uniform(n, 0.1, 0.4, gen)[:, None]
        db = db + _uniform(n, -depth_db, depth_db, gen)[:, None] * torch.exp(-0.5 * ((log_f - centre) / width) ** 2)
    y = torch.fft.irfft(torch.fft.rfft(x) * 10 ** (db / 20), n=samples)
    return y * x.pow(2).mean(dim=1, keepdim=True).sqrt() / y.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)


def raise_effort(x: torch.Tensor, gen: torch.Generator, tilt_db: tuple[float, float]) -> torch.Tensor:
    """The spectrum of raised vocal effort: each row's energy above 1 kHz raised by a random
    ``tilt_db`` per decade (a flatter spectral tilt, as in shouted or excited speech), level kept."""
    n, samples = x.shape
    log_f = torch.log10(torch.fft.rfftfreq(samples, 1 / SAMPLE_RATE).clamp_min(1000.0))[None, :]
    db = _uniform(n, *tilt_db, gen)[:, None] * (log_f - 3.0)
    y = torch.fft.irfft(torch.fft.rfft(x) * 10 ** (db / 20), n=samples)
    return y * x.pow(2).mean(dim=1, keepdim=True).sqrt() / y.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)


def reverberate(x: torch.Tensor, gen: torch.Generator, rt60_s: tuple[float, float]) -> torch.Tensor:
    """Convolve with a synthetic room response: direct path plus exponentially decaying noise."""
    n, samples = x.shape
    rt60 = _uniform(n, *rt60_s, gen)[:, None]
    length = int(max(rt60_s) * SAMPLE_RATE)
    t = torch.arange(length) / SAMPLE_RATE
    tail = torch.randn(n, length, generator=gen) * torch.exp(-6.9 * t[None, :] / rt60)
    tail[:, : int(0.002 * SAMPLE_RATE)] = 0.0
    direct_to_reverb = 10 ** (_uniform(n, -3.0, 10.0, gen)[:, None] / 20)
    rir = tail / tail.pow(2).sum(dim=1, keepdim=True).sqrt().clamp_min(1e-8)
    rir[:, 0] += direct_to_reverb.squeeze(1)
    size = 1 << (samples + length - 1).bit_length()
    wet = torch.fft.irfft(torch.fft.rfft(x, n=size) * torch.fft.rfft(rir, n=size), n=size)[:, :samples]
    scale = x.pow(2).mean(dim=1, keepdim=True).sqrt() / wet.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)
    return wet * scale


def mu_law_codec(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """8-bit mu-law companding, the distortion of G.711 telephone audio."""
    mu = 255.0
    peak = x.abs().amax(dim=1, keepdim=True).clamp_min(1e-6)
    y = torch.sign(x / peak) * torch.log1p(mu * (x / peak).abs()) / math.log1p(mu)
    y = torch.round(y * 127) / 127
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu * peak


def mask_bands(feats: torch.Tensor, fill: torch.Tensor, gen: torch.Generator, masks: int, max_width: int) -> torch.Tensor:
    """SpecAugment-style frequency masking of features (batch, frames, dim): per row, ``masks``
    runs of 0 to ``max_width`` adjacent dimensions are set to ``fill`` (the training mean, which
    the model normalises to zero), so that no narrow band, where a corpus's channel leaves its
    mark, decides alone."""
    n, _, dim = feats.shape
    index = torch.arange(dim)[None, :]
    out = feats
    for _ in range(masks):
        width = torch.randint(0, max_width + 1, (n, 1), generator=gen)
        start = (torch.rand(n, 1, generator=gen) * (dim - width + 1)).long()
        hit = (index >= start) & (index < start + width)
        out = torch.where(hit[:, None, :], fill, out)
    return out


def _factors(n: int, probability: float | np.ndarray, bounds: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """1 per row, or with ``probability`` (one, or one per row) a factor drawn log-uniformly within
    ``bounds``."""
    if np.all(np.asarray(probability) <= 0):  # no draws: recipes without it keep their random streams
        return np.ones(n)
    chosen = rng.random(n) < np.minimum(1.0, probability)
    log_low, log_high = np.log(bounds)
    return np.where(chosen, np.exp(rng.uniform(log_low, log_high, n)), 1.0)


def speed_factors(n: int, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Playback speed per training crop: 1 (unchanged), or with probability ``p_speed`` (scaled by
    ``strength``) a factor drawn log-uniformly from ``speed_range``."""
    return _factors(n, cfg.p_speed * cfg.strength, cfg.speed_range, rng)


def pitch_factors(n: int, cfg: AugmentConfig, rng: np.random.Generator, female: np.ndarray) -> np.ndarray:
    """Pitch factor per training crop: 1, or with probability ``p_pitch`` (scaled by ``strength``)
    a factor drawn log-uniformly from ``pitch_range``. The crop is played that much faster and
    ``restore_formants`` then moves its envelope back.

    With ``pitch_direction="toward_other"`` a factor f moves the voice toward the other gender's
    range: a woman's crop (``female``) gets the smaller of f and 1/f, a man's the larger. So the
    network hears low women and high men with their own vocal tracts, where pitch alone misleads
    (the same draws, so a seed pairs with the two-way recipe's). Women's crops are chosen with
    ``pitch_rate_women`` times the probability of men's, with the same draws too."""
    probability = cfg.p_pitch * cfg.strength * np.where(female, cfg.pitch_rate_women, 1.0)
    factors = _factors(n, probability, cfg.pitch_range, rng)
    if cfg.pitch_direction == "toward_other":
        factors = np.where(female, np.minimum(factors, 1 / factors), np.maximum(factors, 1 / factors))
    return factors


def formant_factors(n: int, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Formant factor per training crop (vocal-tract length perturbation): 1, or with probability
    ``p_formant`` (scaled by ``strength``) a factor drawn log-uniformly from ``formant_range``. The
    crop's spectral envelope moves by the factor and its pitch stays: ``restore_formants`` with the
    crop's playback factor divided by it."""
    return _factors(n, cfg.p_formant * cfg.strength, cfg.formant_range, rng)


def onset_crops(n: int, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray | None:
    """Per training crop, whether it starts at its clip's first speech (probability ``p_onset``,
    scaled by ``strength``) rather than anywhere: so that the network also learns to start without
    the silence before the first word, as after the segmenter's restarts at speech onsets. None
    when off (no draws: recipes without it keep their random streams)."""
    probability = cfg.p_onset * cfg.strength
    return rng.random(n) < probability if probability > 0 else None


ENVELOPE_N_FFT = 1024  # 64 ms frames: the harmonics of every voice are resolved
ENVELOPE_HOP = 256
ENVELOPE_LIFTER = 24  # cepstral coefficients kept (1.5 ms): below the pitch period of any voice up to 600 Hz
ENVELOPE_MAX_GAIN = math.log(10.0)  # 20 dB: bands that slower playback left empty stay near-empty


def _cosines(frequency_bins: torch.Tensor) -> torch.Tensor:
    """cos(2π q k / N) for the kept quefrencies q (rows) at frequency bins k (last dimension)."""
    q = torch.arange(ENVELOPE_LIFTER, dtype=frequency_bins.dtype)
    return torch.cos(2 * math.pi * q[:, None] * frequency_bins[..., None, :] / ENVELOPE_N_FFT)


def restore_formants(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Undo the envelope shift of rows played ``factors``× as fast, keeping their pitch shift; on
    rows not played faster, this moves the envelope by ``1 / factors`` and keeps the pitch.

    Each frame's spectral envelope (its log magnitude smoothed by keeping the first cepstral
    coefficients: a short cosine series in frequency) is evaluated at ``factor × f`` and the frame
    is scaled by the ratio of that to the envelope at ``f``: formants go back to where they were
    before the playback, harmonics stay where the playback put them. Rows with a factor of 1 are
    returned unchanged (all of them: ``x`` itself); every row keeps its level.
    """
    rows = factors != 1.0
    if not rows.any():
        return x
    v, r = x[rows], factors[rows].to(x.dtype)
    window = torch.hann_window(ENVELOPE_N_FFT, dtype=x.dtype)
    spec = torch.stft(v, ENVELOPE_N_FFT, ENVELOPE_HOP, window=window, return_complex=True)  # (n, bins, frames)
    bins = torch.arange(spec.shape[1], dtype=x.dtype)
    cosines = _cosines(bins)
    bin_weights = torch.where((bins == 0) | (bins == bins[-1]), 1.0, 2.0) / ENVELOPE_N_FFT
    cepstrum = (cosines * bin_weights) @ torch.log(spec.abs().clamp_min(1e-5))  # (n, quefrencies, frames)
    cepstrum[:, 1:] *= 2.0  # the symmetric half: the log envelope is c0 + 2 Σ c_q cos(2π q k / N)
    envelope = cosines.T @ cepstrum
    target = _cosines((bins[None, :] * r[:, None]).clamp(max=bins[-1])).transpose(1, 2) @ cepstrum
    spec = spec * torch.exp((target - envelope).clamp(max=ENVELOPE_MAX_GAIN))
    y = torch.istft(spec, ENVELOPE_N_FFT, ENVELOPE_HOP, window=window, length=v.shape[1])
    level = v.pow(2).mean(dim=1, keepdim=True).sqrt() / y.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)
    out = x.clone()
    out[rows] = y * level
    return out


def play_faster(audio: np.ndarray, factor: float) -> np.ndarray:
    """``audio`` (samples, or rows × samples) played ``factor``× as fast: pitch, formants and tempo
    all scale by the factor, and the length by its inverse (soxr)."""
    return np.ascontiguousarray(soxr.resample(np.ascontiguousarray(audio.T), SAMPLE_RATE * factor, SAMPLE_RATE, quality="MQ").T)


def shift_pitch(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Rows (batch, samples) with their pitch (and tempo) scaled by ``factor`` and their formants
    kept: played ``factor``× as fast, then ``restore_formants``."""
    return restore_formants(torch.from_numpy(play_faster(x.numpy(), factor)), torch.full((x.shape[0],), factor))


def augment_features(feats: torch.Tensor, fill: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """The feature-domain augmentation of a training batch (band masks; none at ``strength`` 0)."""
    if cfg.strength <= 0 or not cfg.band_masks:
        return feats
    return mask_bands(feats, fill, gen, cfg.band_masks, cfg.band_mask_width)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Apply each transform to a random subset of rows (probabilities scaled by ``strength``)."""
    if cfg.strength <= 0:
        return x
    transforms = [
        (cfg.p_reverb, lambda v: reverberate(v, gen, cfg.rt60_s)),
        (cfg.p_eq, lambda v: random_eq(v, gen, cfg.eq_db)),
        (cfg.p_telephone, lambda v: band_limit(v, gen)),
        (cfg.p_babble, lambda v: add_babble(v, gen, cfg.babble_snr_db)),
        (cfg.p_noise, lambda v: add_noise(v, gen, cfg.snr_db)),
        (cfg.p_music, lambda v: add_music(v, gen, cfg.music_snr_db)),
        (cfg.p_codec, lambda v: mu_law_codec(v, gen)),
        (cfg.p_gain, lambda v: gain(v, gen, cfg.gain_db)),
    ]
    if cfg.p_effort > 0:  # drawn only when on, so that recipes without it keep their random streams
        transforms.insert(0, (cfg.p_effort, lambda v: raise_effort(v, gen, cfg.effort_tilt_db)))
    out = x.clone()
    for prob, fn in transforms:
        rows = torch.rand(x.shape[0], generator=gen) < min(1.0, prob * cfg.strength)
        if rows.any():
            out[rows] = fn(out[rows])
    return out.clamp(-1.0, 1.0)
