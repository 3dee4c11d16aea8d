"""Synthetic conversations like real ones, with the reference their builder writes.

Two to four participants (at least one woman and one man) take turns. A third of the turn changes
have no pause and an eighth overlap the turn before; a third of the turns are short (0.5-2 s), and
listeners of the other gender back-channel (0.3-0.8 s) inside long turns. Laughter, jingles and
applause fill some pauses. The recording runs in stretches of 20-60 s, each in one condition: clean,
a music bed, street noise or coloured noise under the speech (5-20 dB SNR), or the whole mix
through a telephone channel (300-3400 Hz, 8-bit mu-law).

The reference comes from the builder, not from the finished mix: a clip's speech frames are those of
broadcast.py (two detectors agree on the clean, isolated clip; frames where they disagree are not
scored; pauses under 0.5 s inside a turn are speech). Where a woman and a man speak at once the frame
is overlap; where two people of one gender do, it is not scored. Laughter, music, applause and noise
are non-speech, as in DIHARD's annotation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from broadcast import FEMALE, FRAME, FRAME_S, MALE, NONE, OVERLAP, ClipPool, Recording, Turn, coloured_noise, music

from voxgender.io.audio import SAMPLE_RATE
from voxgender.synth import random_voice, synth_speech

P_SHORT_TURN = 1 / 3  # turns of 0.5-2 s; the others 2-20 s, log-uniform
P_LATCHED = 1 / 3  # turn changes with no pause
P_OVERLAP = 1 / 8  # turn changes where the next speaker starts 0.2-1 s early
P_BACKCHANNEL = 0.4  # per turn of 3 s or more: a listener's 0.3-0.8 s inside it
PAUSE_EVENTS = {"laughter": 0.10, "jingle": 0.03, "applause": 0.03}  # per pause
CONDITIONS = {"clean": 0.4, "music bed": 0.2, "street noise": 0.15, "noise": 0.1, "telephone": 0.15}
STRETCH_S = (20.0, 60.0)
BED_SNR_DB = (5.0, 20.0)


@dataclass
class Conversation:
    """A recording and its stretches: [start, end) frames in one condition each."""

    recording: Recording
    stretches: list[tuple[int, int, str]]

    def condition_mask(self, condition: str) -> np.ndarray:
        mask = np.zeros(len(self.recording.reference), bool)
        for start, end, kind in self.stretches:
            mask[start:end] |= kind == condition
        return mask


# -- non-speech sounds ----------------------------------------------------------------------------
def laughter(gender: str, rng: np.random.Generator) -> np.ndarray:
    """0.6-1.8 s of laughter: breathy, raised-pitch bursts at about 4.5 per second."""
    voice = random_voice(gender, rng)
    voice = replace(voice, f0_hz=voice.f0_hz * rng.uniform(1.3, 1.7), breathiness=0.4)
    seconds = rng.uniform(0.6, 1.8)
    voiced = synth_speech(voice, seconds, rng)
    t = np.arange(len(voiced)) / SAMPLE_RATE
    rate = rng.uniform(4.0, 5.5)
    bursts = np.clip(np.sin(2 * np.pi * rate * t), 0, None) ** 2 * np.exp(-t / seconds)
    return (voiced * bursts * 0.6).astype(np.float32)


def applause(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A crowd clapping: 20-60 claps a second, each 5-15 ms of band-passed noise decaying fast."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n + SAMPLE_RATE // 10, np.float32)
    clap_t = np.arange(SAMPLE_RATE // 50) / SAMPLE_RATE
    for start in rng.integers(0, n, int(seconds * rng.uniform(20, 60))):
        clap = rng.standard_normal(len(clap_t)) * np.exp(-clap_t / rng.uniform(0.005, 0.015))
        out[start:start + len(clap)] += (clap * rng.uniform(0.3, 1.0)).astype(np.float32)
    spectrum = np.fft.rfft(out)
    freqs = np.fft.rfftfreq(len(out), 1 / SAMPLE_RATE)
    spectrum[(freqs < 300) | (freqs > 6000)] *= 0.1
    out = np.fft.irfft(spectrum, len(out))[:n]
    fade = np.minimum(1, np.minimum(np.arange(n), n - np.arange(n)) / (0.3 * SAMPLE_RATE))
    return (out * fade * 0.3 / (np.abs(out).max() + 1e-9)).astype(np.float32)


def street(n: int, rng: np.random.Generator) -> np.ndarray:
    """Street noise: rumbling coloured noise, cars passing every few seconds, now and then a horn."""
    out = coloured_noise(n, rng) * 0.3
    t = np.arange(n) / SAMPLE_RATE
    low = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * (np.fft.rfftfreq(n, 1 / SAMPLE_RATE) < 800), n)
    low /= np.abs(low).max() + 1e-9
    for centre in np.cumsum(rng.uniform(3, 10, int(n / SAMPLE_RATE / 3) + 1)):
        out += (low * np.exp(-0.5 * ((t - centre) / rng.uniform(0.8, 2.0)) ** 2)).astype(np.float32)
    for start in rng.uniform(0, n / SAMPLE_RATE, int(n / SAMPLE_RATE / 20)):
        span = (t >= start) & (t < start + rng.uniform(0.3, 0.8))
        out[span] += 0.3 * np.sign(np.sin(2 * np.pi * rng.uniform(350, 500) * t[span]))
    return out.astype(np.float32)


def telephone(audio: np.ndarray) -> np.ndarray:
    """``audio`` through a telephone channel: 300-3400 Hz, then 8-bit mu-law (G.711)."""
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)
    band = np.fft.irfft(spectrum * ((freqs >= 300) & (freqs <= 3400)), len(audio))
    mu, peak = 255.0, np.abs(band).max() + 1e-9
    coded = np.round(np.sign(band) * np.log1p(mu * np.abs(band / peak)) / np.log1p(mu) * 127) / 127
    return (np.sign(coded) * ((1 + mu) ** np.abs(coded) - 1) / mu * peak).astype(np.float32)


# -- the conversation ------------------------------------------------------------------------------
class _Tracks:
    """Frame-level bookkeeping while building: who speaks, what is unsure, where non-speech sounds go."""

    def __init__(self, frames: int) -> None:
        self.speech = np.zeros(frames * FRAME, np.float32)
        self.events = np.zeros(frames * FRAME, np.float32)
        self.female = np.zeros(frames, np.int16)  # speakers of each gender talking in a frame
        self.male = np.zeros(frames, np.int16)
        self.unsure = np.zeros(frames, bool)
        self.turns: list[Turn] = []

    def place(self, speaker: str, gender: str, piece: tuple[np.ndarray, np.ndarray, np.ndarray], at: int) -> int:
        """Lay a speaker's audio and masks from frame ``at``; returns the frames it covers."""
        audio, mask, doubt = piece
        n = min(len(mask), len(self.female) - at)
        self.speech[at * FRAME:(at + n) * FRAME] += audio[: n * FRAME]
        (self.female if gender == "female" else self.male)[at:at + n] += mask[:n]
        self.unsure[at:at + n] |= doubt[:n]
        self.turns.append(Turn(speaker, gender, at, at + n))
        return n

    def sound(self, audio: np.ndarray, at: int) -> int:
        n = min(len(audio) // FRAME, len(self.female) - at)
        self.events[at * FRAME:(at + n) * FRAME] += audio[: n * FRAME]
        return n

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        """Codes per frame and the scored frames (unsure ones and two speakers of one gender are not)."""
        f, m = self.female > 0, self.male > 0
        codes = np.where(f & m, OVERLAP, np.where(f, FEMALE, np.where(m, MALE, NONE))).astype(np.int8)
        same_gender = (self.female > 1) | (self.male > 1)
        return codes, (~self.unsure | (codes != NONE)) & ~same_gender


def excerpt(pool: ClipPool, speaker: str, seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """About ``seconds`` of a speaker's speech (``ClipPool.turn`` cut there), ending on speech."""
    audio, mask, doubt = pool.turn(speaker, seconds, rng)
    n = min(len(mask), max(1, int(seconds / FRAME_S)))
    speaking = np.flatnonzero(mask[:n])
    n = int(speaking[-1]) + 1 if len(speaking) else n
    return audio[: n * FRAME], mask[:n], doubt[:n]


def participants(pool: ClipPool, rng: np.random.Generator) -> list[tuple[str, str]]:
    """2-4 (speaker, gender) pairs, at least one of each gender."""
    people = [("female", str(rng.choice(pool.speakers["female"]))), ("male", str(rng.choice(pool.speakers["male"])))]
    for _ in range(int(rng.integers(0, 3))):
        gender = ("female", "male")[int(rng.integers(2))]
        others = [s for s in pool.speakers[gender] if (gender, s) not in people]
        if others:
            people.append((gender, str(rng.choice(others))))
    return [(s, g) for g, s in people]


def _turn_seconds(rng: np.random.Generator) -> float:
    if rng.random() < P_SHORT_TURN:
        return float(rng.uniform(0.5, 2.0))
    return float(np.exp(rng.uniform(np.log(2.0), np.log(20.0))))


def _pause_event(tracks: _Tracks, at: int, gender: str, rng: np.random.Generator) -> int:
    """Maybe a laughter, jingle or applause from frame ``at``; returns the frames it takes."""
    draw, edge = rng.random(), 0.0
    for kind, p in PAUSE_EVENTS.items():
        edge += p
        if draw < edge:
            sound = {"laughter": lambda: laughter(gender, rng),
                     "jingle": lambda: music(int(rng.uniform(3, 8) * SAMPLE_RATE), rng) * 0.15,
                     "applause": lambda: applause(rng.uniform(2, 5), rng)}[kind]()
            return tracks.sound(sound, at)
    return 0


def build_conversation(pool: ClipPool, name: str, minutes: float, seed: int) -> Conversation:
    """A conversation of about ``minutes`` among 2-4 of the pool's speakers, in stretches of conditions."""
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 / FRAME_S)
    tracks = _Tracks(total + int(30 / FRAME_S))
    people = participants(pool, rng)
    speaker, gender = people[int(rng.integers(len(people)))]
    pos = int(rng.uniform(0.5, 2) / FRAME_S)
    while pos < total:
        n = tracks.place(speaker, gender, excerpt(pool, speaker, _turn_seconds(rng), rng), pos)
        listeners = [p for p in people if p[1] != gender]
        if n * FRAME_S >= 3 and rng.random() < P_BACKCHANNEL:
            listener, other = listeners[int(rng.integers(len(listeners)))]
            tracks.place(listener, other, excerpt(pool, listener, rng.uniform(0.3, 0.8), rng),
                         pos + int(rng.uniform(0.3, 0.7) * n))
        pos += n
        change = rng.random()
        if change < P_OVERLAP:
            pos -= min(int(rng.uniform(0.2, 1.0) / FRAME_S), n // 2)
        elif change >= P_OVERLAP + P_LATCHED:
            pause = int(rng.uniform(0.1, 1.5) / FRAME_S)
            event = _pause_event(tracks, pos + int(0.1 / FRAME_S), gender, rng)
            pos += max(pause, event + int(0.2 / FRAME_S) if event else 0)
        speaker, gender = [p for p in people if p[0] != speaker][int(rng.integers(len(people) - 1))]
    end = min(pos + int(rng.uniform(0.5, 2) / FRAME_S), len(tracks.female))
    reference, scored = tracks.reference()
    speech = tracks.speech[: end * FRAME]
    stretches = _stretches(end, rng)
    audio = _mix(speech, tracks.events[: end * FRAME], reference[:end], stretches, rng)
    rec = Recording(name, np.clip(speech, -1, 1), reference[:end], scored[:end], tuple(tracks.turns), "conversation", None, audio)
    return Conversation(rec, stretches)


def _stretches(frames: int, rng: np.random.Generator) -> list[tuple[int, int, str]]:
    out, start = [], 0
    kinds, weights = list(CONDITIONS), np.array(list(CONDITIONS.values()))
    while start < frames:
        end = min(frames, start + int(rng.uniform(*STRETCH_S) / FRAME_S))
        out.append((start, end, kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]))
        start = end
    return out


def _mix(speech: np.ndarray, events: np.ndarray, reference: np.ndarray, stretches: list[tuple[int, int, str]],
         rng: np.random.Generator) -> np.ndarray:
    """Speech and pause sounds, each stretch under its background or through its channel."""
    talking = np.repeat(reference != NONE, FRAME)[: len(speech)]
    speech_power = float(np.mean(speech[talking].astype(np.float64) ** 2)) if talking.any() else 1e-4
    audio = speech + events
    for start, end, kind in stretches:
        span = slice(start * FRAME, end * FRAME)
        n = span.stop - span.start
        if kind in ("music bed", "street noise", "noise"):
            bed = {"music bed": music, "street noise": street, "noise": coloured_noise}[kind](n, rng).astype(np.float64)
            snr_db = rng.uniform(*BED_SNR_DB)
            audio[span] += (bed * np.sqrt(speech_power / max(np.mean(bed ** 2), 1e-12) / 10 ** (snr_db / 10))).astype(np.float32)
        elif kind == "telephone":
            audio[span] = telephone(audio[span])
    peak = float(np.abs(audio).max())
    return (audio * (0.99 / peak) if peak > 0.99 else audio).astype(np.float32)
