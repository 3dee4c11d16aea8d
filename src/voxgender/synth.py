"""A small source-filter voice synthesiser: synthetic female/male "speech" for tests and the demo.

The source is a Rosenberg glottal-flow pulse train on a smooth F0 contour (phrase declination,
word accents, slow drift, slight vibrato, per-cycle jitter and shimmer) plus pulsed aspiration
noise. It drives a cascade of five Klatt formant resonators whose targets move from syllable to
syllable (vowels from a small table, scaled by the voice's vocal-tract ``formant_scale``; nasal
murmurs; coarticulated by smoothing). Lip radiation is a first difference. Fricatives and stop
bursts are band-passed noise added at the lips. Words of 1-3 syllables are separated by short
pauses with a faint noise floor. The vocal tract is filtered in 8 ms blocks with its memory
carried over, so formant transitions are continuous and a 3 s clip takes about 15 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal

from voxgender.core.labels import SAMPLE_RATE

GENDERS = ("female", "male")

# Adult male formant frequencies F1-F4 in Hz (after Peterson & Barney 1952 / Hillenbrand 1995),
# plus a fixed F5 that fills in the 4-6 kHz region as real voices do.
_VOWELS = np.array(
    [
        [270, 2290, 3010, 3400, 4500],  # i  (beet)
        [390, 1990, 2550, 3400, 4500],  # ɪ  (bit)
        [530, 1840, 2480, 3450, 4500],  # ɛ  (bet)
        [660, 1720, 2410, 3450, 4500],  # æ  (bat)
        [730, 1090, 2440, 3400, 4500],  # ɑ  (father)
        [570, 840, 2410, 3350, 4500],  # ɔ  (bought)
        [440, 1020, 2240, 3300, 4500],  # ʊ  (book)
        [300, 870, 2240, 3300, 4500],  # u  (boot)
        [640, 1190, 2390, 3400, 4500],  # ʌ  (but)
        [490, 1350, 1690, 3300, 4500],  # ɝ  (bird)
    ],
    dtype=np.float64,
)
_NASAL = np.array([250.0, 1100.0, 2300.0, 3300.0, 4500.0])  # murmur of m/n: low F1
# Consonant loci (F1-F3, Hz) that formants start from before moving to the vowel: labial,
# alveolar, velar places of articulation.
_LOCI = np.array([[250.0, 900.0, 2200.0], [250.0, 1800.0, 2700.0], [250.0, 2300.0, 2500.0]])
# Bandwidth ranges (Hz) per formant.
_BW_RANGE = np.array([[50.0, 90.0], [70.0, 110.0], [100.0, 150.0], [120.0, 150.0], [200.0, 300.0]])

# Noise bands (Hz) and relative levels of the unvoiced consonants.
_FRICATIVES = {"s": (4000.0, 7500.0, 0.5), "sh": (2000.0, 5000.0, 0.45), "f": (1200.0, 7500.0, 0.12)}
_BURST = (1500.0, 6500.0, 0.6)
_CONSONANTS = ("s", "sh", "f", "h", "stop", "nasal", "none")
_CONSONANT_P = (0.13, 0.08, 0.08, 0.08, 0.25, 0.16, 0.22)

_BLOCK_S = 0.008  # vocal-tract coefficients are updated every 8 ms
_NOISE_FLOOR = 1e-4  # RMS of the noise floor (pauses), relative to full scale
_PEAK = 0.5


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker: median F0, vocal-tract scale and small voice-quality perturbations."""

    gender: str  # "female" or "male"
    f0_hz: float  # median fundamental frequency over voiced samples
    formant_scale: float  # factor on the (adult male) formant table: male ~1.0, female ~1.15-1.2
    jitter: float  # relative per-cycle F0 perturbation (standard deviation)
    shimmer: float  # relative per-cycle amplitude perturbation (standard deviation)
    breathiness: float  # aspiration noise level relative to the glottal pulse


def random_voice(gender: str, rng: np.random.Generator) -> Voice:
    """Draw a random female or male voice; raise ValueError for any other ``gender``."""
    if gender == "female":
        f0, scale, breath = rng.uniform(175.0, 255.0), rng.uniform(1.12, 1.22), rng.uniform(0.04, 0.12)
    elif gender == "male":
        f0, scale, breath = rng.uniform(85.0, 145.0), rng.uniform(0.95, 1.05), rng.uniform(0.01, 0.06)
    else:
        raise ValueError(f"gender must be one of {GENDERS}, not {gender!r}")
    return Voice(
        gender=gender,
        f0_hz=float(f0),
        formant_scale=float(scale),
        jitter=float(rng.uniform(0.003, 0.012)),
        shimmer=float(rng.uniform(0.02, 0.06)),
        breathiness=float(breath),
    )


def synth_clip(gender: str, duration_s: float, seed: int) -> np.ndarray:
    """A ``duration_s`` clip of a random ``gender`` voice at 16 kHz, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    return synth_speech(random_voice(gender, rng), duration_s, rng)


def _ramp(n: int) -> np.ndarray:
    """Raised-cosine rise from 0 to 1 over ``n`` samples."""
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / max(n, 1))


def _add_env(env: np.ndarray, start: int, stop: int, level: float, rise: int, fall: int) -> None:
    """Add a trapezoid (raised-cosine edges) of height ``level`` on [start, stop) to ``env``."""
    start, stop = max(start, 0), min(stop, env.size)
    length = stop - start
    if length <= 0:
        return
    rise, fall = min(rise, length // 2), min(fall, length // 2)
    seg = np.full(length, level)
    if rise:
        seg[:rise] *= _ramp(rise)
    if fall:
        seg[length - fall :] *= _ramp(fall)[::-1]
    env[start:stop] += seg


@lru_cache(maxsize=64)
def _bandpass(low: float, high: float, sample_rate: int) -> np.ndarray:
    nyq = sample_rate / 2
    high = min(high, 0.95 * nyq)
    low = min(low, 0.6 * high)
    return signal.butter(2, [low, high], btype="bandpass", fs=sample_rate, output="sos")


def _band_noise(noise: np.ndarray, low: float, high: float, sample_rate: int) -> np.ndarray:
    """Band-passed ``noise`` (empty when the slice ran past the end of the clip)."""
    return signal.sosfilt(_bandpass(low, high, sample_rate), noise) if noise.size else noise


def _vocal_tract(freqs: np.ndarray, bws: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """All-pole cascade of Klatt resonators (each unity gain at DC) for every row of ``freqs``.

    Returns the gains (rows,) and denominators (rows, 2 * n_formants + 1) with a[:, 0] == 1.
    """
    t = 1.0 / sample_rate
    c = -np.exp(-2 * np.pi * bws * t)
    b = 2 * np.exp(-np.pi * bws * t) * np.cos(2 * np.pi * freqs * t)
    gain = np.prod(1 - b - c, axis=1)
    a = np.ones((freqs.shape[0], 1))
    for k in range(freqs.shape[1]):
        section = np.stack([np.ones_like(b[:, k]), -b[:, k], -c[:, k]], axis=1)
        prod = np.zeros((a.shape[0], a.shape[1] + 2))
        for j in range(3):
            prod[:, j : j + a.shape[1]] += section[:, j : j + 1] * a
        a = prod
    return gain, a


def _fill_gaps(track: np.ndarray, default: np.ndarray) -> np.ndarray:
    """Replace NaN rows of a (blocks, k) track by the previous (or, at the start, next) row."""
    valid = ~np.isnan(track[:, 0])
    if not valid.any():
        return np.tile(default, (track.shape[0], 1))
    idx = np.where(valid, np.arange(track.shape[0]), 0)
    np.maximum.accumulate(idx, out=idx)
    idx[: np.argmax(valid)] = np.argmax(valid)
    return track[idx]


def _smooth_noise(rng: np.random.Generator, n: int, rate_hz: float, sample_rate: int) -> np.ndarray:
    """Unit-variance-ish random curve varying at about ``rate_hz`` (linear interpolation of knots)."""
    knots = max(int(n / sample_rate * rate_hz) + 2, 2)
    return np.interp(np.linspace(0, knots - 1, n), np.arange(knots), rng.standard_normal(knots))


def synth_speech(  # noqa: C901 - one source-filter recipe, step by step
    voice: Voice, duration_s: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Synthesise ``duration_s`` seconds of speech-like audio in ``voice``.

    Returns float32 mono at ``sample_rate`` with peak 0.5 (plus a 1e-4 RMS noise floor); the
    median F0 over voiced samples is ``voice.f0_hz``. Deterministic given the state of ``rng``.
    """
    sr = int(sample_rate)
    n_out = int(round(duration_s * sr))
    if n_out <= 0:
        return np.zeros(0, dtype=np.float32)
    n = n_out + sr // 2  # working length: the last syllable may run past the end, then is cut
    ms = sr / 1000.0
    block = max(int(round(_BLOCK_S * sr)), 1)
    n_blocks = -(-n // block)
    nyq_limit = 0.45 * sr

    voiced = np.zeros(n)  # amplitude of the glottal source
    breath_h = np.zeros(n)  # /h/: aspiration through the vocal tract
    fric = np.zeros(n)  # fricatives and bursts, added at the lips
    targets = np.full((n_blocks, _VOWELS.shape[1]), np.nan)  # formants per block (NaN: as before)
    bw_targets = np.full_like(targets, np.nan)
    accents: list[tuple[float, float, float]] = []  # (centre s, width s, log-F0 bump)
    phrase_starts = [0]

    tempo = rng.uniform(0.85, 1.15)  # speaking-rate factor of this clip
    noise = rng.standard_normal(n)  # shared white noise for fricatives/bursts
    cursor = int(rng.uniform(20, 80) * ms)

    def set_formants(start: int, stop: int, freqs: np.ndarray, bws: np.ndarray) -> None:
        b0, b1 = start // block, -(-min(stop, n) // block)
        targets[b0:b1] = np.minimum(freqs, nyq_limit)
        bw_targets[b0:b1] = bws

    while cursor < n_out:
        n_syll = int(rng.choice([1, 2, 2, 3, 3]))
        stressed = int(rng.integers(n_syll))
        word_start = cursor
        for k in range(n_syll):
            syl_len = int(rng.uniform(120, 300) * ms * tempo)
            syl_end = cursor + syl_len
            kind = str(rng.choice(_CONSONANTS, p=_CONSONANT_P))
            jiggle = rng.uniform(0.97, 1.03, (2, _VOWELS.shape[1]))
            vowel, glide = _VOWELS[rng.integers(len(_VOWELS), size=2)] * voice.formant_scale * jiggle
            bws = rng.uniform(_BW_RANGE[:, 0], _BW_RANGE[:, 1])
            locus = vowel.copy()
            locus[:3] = _LOCI[rng.integers(len(_LOCI))] * voice.formant_scale
            level = rng.uniform(0.8, 1.0) if k == stressed else rng.uniform(0.45, 0.75)
            v_start = cursor
            if kind in _FRICATIVES:
                low, high, gain = _FRICATIVES[kind]
                c_len = int(rng.uniform(50, 100) * ms)
                seg = _band_noise(noise[cursor : cursor + c_len], low, high, sr)
                env = np.zeros(seg.size)
                _add_env(env, 0, seg.size, gain * rng.uniform(0.7, 1.0), int(15 * ms), int(10 * ms))
                fric[cursor : cursor + seg.size] += seg * env
                set_formants(cursor, cursor + c_len, locus, bws)
                v_start = cursor + c_len - int(8 * ms)
            elif kind == "h":
                c_len = int(rng.uniform(30, 60) * ms)
                _add_env(breath_h, cursor, cursor + c_len, 0.6 * level, int(10 * ms), int(10 * ms))
                v_start = cursor + c_len - int(10 * ms)
            elif kind == "stop":
                closure, b_len = int(rng.uniform(20, 50) * ms), int(rng.uniform(8, 15) * ms)
                low, high, gain = _BURST
                b0 = cursor + closure
                seg = _band_noise(noise[b0 : b0 + b_len], low, high, sr)
                env = np.zeros(seg.size)
                _add_env(env, 0, seg.size, gain * level, int(1 * ms), seg.size // 2)
                fric[b0 : b0 + seg.size] += seg * env
                set_formants(cursor, b0 + b_len, locus, bws)
                v_start = b0 + b_len
            elif kind == "nasal":
                c_len = int(rng.uniform(40, 70) * ms)
                nasal = _NASAL * voice.formant_scale
                nasal[1] = locus[1]
                set_formants(cursor, cursor + c_len, nasal, _BW_RANGE[:, 1])
                _add_env(voiced, cursor, cursor + c_len + int(10 * ms), 0.3 * level, int(15 * ms), int(10 * ms))
                v_start = cursor + c_len
            v_start = min(v_start, syl_end - int(60 * ms))
            if rng.random() < 0.3:  # diphthong: glide towards a second vowel
                middle = (v_start + syl_end) // 2
                set_formants(v_start, middle, vowel, bws)
                set_formants(middle, syl_end, glide, bws)
            else:
                set_formants(v_start, syl_end, vowel, bws)
            last = k == n_syll - 1
            rise = int((10 if kind != "none" else 25) * ms)
            fall = int((rng.uniform(40, 70) if last else 25) * ms)
            overlap = 0 if last else int(20 * ms)  # crossfade into the next syllable
            _add_env(voiced, v_start, syl_end + overlap, level, rise, fall)
            if k == stressed:
                centre = (v_start + syl_end) / 2 / sr
                accents.append((centre, rng.uniform(0.08, 0.16), rng.uniform(0.06, 0.2)))
            cursor = syl_end
        pause = int(rng.uniform(50, 250) * ms)
        if pause > 180 * ms and cursor - word_start > 0:
            phrase_starts.append(cursor + pause)
        cursor += pause
    targets = _fill_gaps(targets, _VOWELS[4] * voice.formant_scale)
    bw_targets = _fill_gaps(bw_targets, _BW_RANGE.mean(axis=1))

    # ---- F0 contour (log domain): declination per phrase + accents + drift + vibrato.
    t = np.arange(n) / sr
    log_f0 = np.zeros(n)
    bounds = [s for s in phrase_starts if s < n] + [n]
    for p0, p1 in zip(bounds[:-1], bounds[1:]):
        span = max(p1 - p0, 1) / sr
        slope = rng.uniform(0.1, 0.2) / max(span, 0.5)
        log_f0[p0:p1] += slope * (span / 2 - (t[p0:p1] - p0 / sr))
    for centre, width, height in accents:
        lo, hi = int(max(centre - 3 * width, 0) * sr), int(min(centre + 3 * width, n / sr) * sr)
        log_f0[lo:hi] += height * np.exp(-0.5 * ((t[lo:hi] - centre) / width) ** 2)
    log_f0 += 0.035 * _smooth_noise(rng, n, 4.0, sr)
    log_f0 += 0.004 * np.sin(2 * np.pi * rng.uniform(4.5, 6.0) * t + rng.uniform(0, 2 * np.pi))
    is_voiced = voiced[:n_out] > 0.05
    log_f0 += np.log(voice.f0_hz) - np.median(log_f0[:n_out][is_voiced] if is_voiced.any() else log_f0)
    f0 = np.exp(log_f0)

    # ---- Glottal source: Rosenberg flow pulses with jitter and shimmer, plus aspiration.
    n_cycles = int(np.sum(f0) / sr) + 4
    cycle = np.floor(np.cumsum(f0) / sr).astype(np.int64)
    f0 = f0 * (1.0 + voice.jitter * rng.standard_normal(n_cycles))[cycle]
    phase = np.cumsum(f0) / sr
    cycle = np.floor(phase).astype(np.int64)
    frac = phase - cycle
    open_q = min(0.55 + 1.5 * voice.breathiness, 0.8)
    t_open = 0.65 * open_q
    t_close = open_q - t_open
    flow = np.where(
        frac < t_open,
        0.5 - 0.5 * np.cos(np.pi * frac / t_open),
        np.where(frac < open_q, np.cos(0.5 * np.pi * (frac - t_open) / t_close), 0.0),
    )
    flow *= (1.0 + voice.shimmer * rng.standard_normal(n_cycles + 1))[cycle]
    tilt = min(0.2 + 3.0 * voice.breathiness, 0.6)  # softer, breathier voices lose more treble
    flow = signal.lfilter([1.0 - tilt], [1.0, -tilt], flow)
    aspiration = np.diff(rng.standard_normal(n + 1))  # white noise tilted upwards
    source = voiced * (flow + 0.5 * voice.breathiness * (0.3 + flow) * aspiration)
    source += 0.25 * breath_h * aspiration

    # ---- Vocal tract: all-pole cascade, coefficients per 8 ms block. As in LPC synthesis, the
    # filter memory is the past output, so coefficient changes do not cause clicks.
    kernel = np.hanning(7)  # ~50 ms of coarticulation
    kernel /= kernel.sum()
    pad = len(kernel) // 2

    def smooth(track: np.ndarray) -> np.ndarray:
        return np.stack(
            [np.convolve(np.pad(col, pad, mode="edge"), kernel, mode="valid") for col in track.T], axis=1
        )

    gains, denoms = _vocal_tract(smooth(targets), smooth(bw_targets), sr)
    order = denoms.shape[1] - 1
    padded = np.zeros(n_blocks * block)
    padded[:n] = source
    active = np.abs(padded.reshape(n_blocks, block)).max(axis=1) > 0
    out = np.zeros(n_blocks * block + order)  # the first `order` samples are the initial memory
    for b in range(n_blocks):
        s0 = order + b * block
        history = out[s0 - order : s0][::-1]  # y[-1], y[-2], ...
        if not active[b] and np.abs(history).max() < 1e-9:
            continue
        a = denoms[b]
        zi = -np.correlate(a[1:], history, mode="full")[order - 1 :]
        out[s0 : s0 + block], _ = signal.lfilter(
            gains[b : b + 1], a, padded[b * block : (b + 1) * block], zi=zi
        )
    out = out[order : order + n]

    # ---- Lip radiation (first difference), consonant noise, level and noise floor.
    speech = np.diff(out, prepend=0.0)[:n_out]
    fric = fric[:n_out]
    n = n_out
    voiced_peak = np.max(np.abs(speech))
    speech = speech / voiced_peak if voiced_peak > 0 else speech
    speech += 0.6 * fric
    edge = min(int(10 * ms), n // 2)
    if edge:
        speech[:edge] *= _ramp(edge)
        speech[n - edge :] *= _ramp(edge)[::-1]
    peak = np.max(np.abs(speech))
    if peak > 0:
        speech *= _PEAK / peak
    speech += _NOISE_FLOOR * rng.standard_normal(n)
    return np.clip(speech, -1.0, 1.0).astype(np.float32)
