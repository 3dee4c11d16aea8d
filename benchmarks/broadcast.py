"""Synthetic "broadcast" recordings with exact reference timelines, and frame-level scoring.

A recording alternates female and male turns of 1-30 s. A turn concatenates clips of one speaker
(each clip trimmed to its speech, 0.1-0.5 s apart); turns are separated by 0.2-2 s pauses, and a
few (10 %) overlap the previous turn by 0.5-1.5 s. The reference marks, at 10 ms resolution,
which speakers talk. Speech inside a clip is decided on the clean, isolated clip by two
independent detectors: its energy (frames within 40 dB of the clip's loudest and 10 dB above its
noise floor) and silero-vad (probability >= 0.5). Where both say speech it is speech, where both
say silence it is not, and where they disagree the frame is not scored (as a no-score collar is
used in diarization scoring). Pauses under 0.5 s inside a turn count as speech, as in turn-level
annotation. A background runs through the whole recording, pauses included: none, coloured
noise, or music-like tones (notes with harmonics), scaled to a given SNR against the speech.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from voxgender.core.timeline import Segment
from voxgender.core.vad import CHUNK, SileroVad, shared_vad
from voxgender.io.audio import SAMPLE_RATE, frame_levels_db, load_audio
from voxgender.training.data import Utterance

FRAME_S = 0.01
FRAME = int(FRAME_S * SAMPLE_RATE)
NONE, FEMALE, MALE, OVERLAP = 0, 1, 2, 3  # reference frame codes
GENDER_CODE = {"female": FEMALE, "male": MALE}
SILERO_THRESHOLD = 0.5  # silero-vad's own default for speech
SPEECH_FLOOR_DB = -40.0  # speech frames are within this of the clip's loudest ...
ABOVE_FLOOR_DB = 10.0  # ... and at least this far above its noise floor (5th percentile)
BRIDGE_S = 0.5  # pauses shorter than this inside a turn count as speech, as in turn-level annotation


@dataclass(frozen=True)
class Turn:
    """One speaker's turn: frames [start, end) of the recording (pauses inside it included)."""

    speaker: str
    gender: str
    start: int
    end: int


@dataclass
class Recording:
    """Clean speech, its reference (one code per 10 ms frame), which frames are scored, who speaks
    when, and the background added to the speech."""

    name: str
    speech: np.ndarray
    reference: np.ndarray
    scored: np.ndarray
    turns: tuple[Turn, ...] = ()
    background: str = "clean"
    snr_db: float | None = None
    audio: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        return len(self.speech) / SAMPLE_RATE


# -- speech ---------------------------------------------------------------------------------------
def energy_speech(clip: np.ndarray) -> np.ndarray:
    """Boolean speech mask per 10 ms frame of a clean clip, from its energy."""
    db = frame_levels_db(clip, FRAME)
    return db > max(db.max() + SPEECH_FLOOR_DB, np.percentile(db, 5) + ABOVE_FLOOR_DB)


def silero_speech(clip: np.ndarray, vad: SileroVad) -> np.ndarray:
    """Boolean speech mask per 10 ms frame of a clean clip, from silero-vad (frame centre's chunk)."""
    probs, _ = vad.probabilities(clip[: len(clip) // CHUNK * CHUNK])
    probs = np.append(probs, 0.0)  # the last partial chunk counts as silence
    centres = np.arange(len(clip) // FRAME) * FRAME + FRAME // 2
    return probs[np.minimum(centres // CHUNK, len(probs) - 1)] >= SILERO_THRESHOLD


def speech_frames(clip: np.ndarray, vad: SileroVad) -> tuple[np.ndarray, np.ndarray]:
    """(speech, unsure) masks per 10 ms frame: both detectors say speech, or they disagree."""
    energy, silero = energy_speech(clip), silero_speech(clip, vad)
    return energy & silero, energy ^ silero


def bridged(mask: np.ndarray) -> np.ndarray:
    """``mask`` with gaps shorter than BRIDGE_S between speech frames filled in."""
    out = mask.copy()
    idx = np.flatnonzero(mask)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a < BRIDGE_S / FRAME_S:
            out[a:b] = True
    return out


def trimmed(clip: np.ndarray, vad: SileroVad) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clip cut to its first and last speech frame, and its speech and unsure masks."""
    speech, unsure = speech_frames(clip, vad)
    idx = np.flatnonzero(speech)
    if len(idx) == 0:
        return clip[:0], speech[:0], unsure[:0]
    cut = slice(idx[0], idx[-1] + 1)
    return clip[idx[0] * FRAME:(idx[-1] + 1) * FRAME], speech[cut], unsure[cut]


class ClipPool:
    """Trimmed clips per speaker with their speech and unsure masks, grouped by gender, decoded once."""

    def __init__(self, utterances: Sequence[Utterance]) -> None:
        vad = shared_vad()
        self.clips: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.gender: dict[str, str] = {}
        for u in utterances:
            clip, speech, unsure = trimmed(load_audio(u.path), vad)
            if len(clip) >= FRAME * 20:
                self.clips.setdefault(u.speaker, []).append((clip, speech, unsure))
                self.gender[u.speaker] = u.gender
        self.speakers = {g: sorted(s for s in self.clips if self.gender[s] == g) for g in ("female", "male")}

    def turn(self, speaker: str, seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """About ``seconds`` of one speaker (clips in random order with 0.1-0.5 s gaps): audio,
        speech mask with short pauses bridged, and the unsure frames left outside speech."""
        clips = self.clips[speaker]
        audio, speech, unsure, length = [], [], [], 0
        for i in range(1000):
            if length >= seconds / FRAME_S:
                break
            if i:
                gap = int(rng.uniform(0.1, 0.5) / FRAME_S)
                audio.append(np.zeros(gap * FRAME, np.float32))
                speech.append(np.zeros(gap, bool))
                unsure.append(np.zeros(gap, bool))
                length += gap
            clip, s, u = clips[int(rng.integers(len(clips)))]
            gain = 10 ** (rng.uniform(-6, 0) / 20) * 0.5 / (np.abs(clip).max() + 1e-9)
            audio.append((clip * gain).astype(np.float32))
            speech.append(s)
            unsure.append(u)
            length += len(s)
        mask = bridged(np.concatenate(speech))
        return np.concatenate(audio), mask, np.concatenate(unsure) & ~mask


def build_speech(pool: ClipPool, name: str, minutes: float, seed: int) -> Recording:
    """Alternating female/male turns of 1-30 s with pauses and a few overlaps."""
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 / FRAME_S)
    audio = np.zeros((total + int(60 / FRAME_S)) * FRAME, np.float32)
    female = np.zeros(len(audio) // FRAME, bool)
    male = np.zeros_like(female)
    unsure = np.zeros_like(female)
    turns = []
    gender = ("female", "male")[int(rng.integers(2))]
    pos = int(rng.uniform(0.5, 2) / FRAME_S)
    while pos < total:
        speaker = pool.speakers[gender][int(rng.integers(len(pool.speakers[gender])))]
        turn, mask, doubt = pool.turn(speaker, rng.uniform(1, 30), rng)
        n = min(len(mask), len(female) - pos)
        audio[pos * FRAME:(pos + n) * FRAME] += turn[: n * FRAME]
        (female if gender == "female" else male)[pos:pos + n] |= mask[:n]
        unsure[pos:pos + n] |= doubt[:n]
        turns.append(Turn(speaker, gender, pos, pos + n))
        pos += n
        if rng.random() < 0.1:
            pos -= int(rng.uniform(0.5, 1.5) / FRAME_S)  # the next speaker starts before this one ends
        else:
            pos += int(rng.uniform(0.2, 2.0) / FRAME_S)
        gender = "male" if gender == "female" else "female"
    end = min(pos + int(rng.uniform(0.5, 2) / FRAME_S), len(female))
    reference = np.where(female & male, OVERLAP, np.where(female, FEMALE, np.where(male, MALE, NONE))).astype(np.int8)
    scored = ~unsure | (reference != NONE)  # a frame one speaker surely speaks in is scored
    return Recording(name, np.clip(audio[: end * FRAME], -1, 1), reference[:end], scored[:end], tuple(turns))


# -- backgrounds ----------------------------------------------------------------------------------
def coloured_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise with a 1/f^a spectrum (a in 0.5-1.5) and slow loudness changes."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum *= 1 / np.maximum(freqs, 20.0) ** (rng.uniform(0.5, 1.5) / 2)
    noise = np.fft.irfft(spectrum, n)
    wobble = 1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / SAMPLE_RATE * rng.uniform(0.05, 0.3))
    return (noise * wobble).astype(np.float32)


def music(n: int, rng: np.random.Generator) -> np.ndarray:
    """Music-like tones: overlapping notes of a pentatonic scale (55-880 Hz) with harmonics and decay."""
    out = np.zeros(n + SAMPLE_RATE * 2, np.float32)
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    pos = 0
    scale = np.array([0, 2, 4, 7, 9])
    while pos < n:
        for _ in range(int(rng.integers(1, 4))):  # a chord of 1-3 notes
            semis = 12 * int(rng.integers(0, 4)) + int(scale[rng.integers(len(scale))])
            f0 = 55.0 * 2 ** (semis / 12)
            length = int(rng.uniform(0.2, 2.0) * SAMPLE_RATE)
            partials = sum((0.6 ** k) * np.sin(2 * np.pi * f0 * (k + 1) * t[:length]) for k in range(5))
            envelope = np.minimum(1, t[:length] / 0.01) * np.exp(-t[:length] * rng.uniform(1, 4))
            out[pos:pos + length] += (partials * envelope).astype(np.float32)
        pos += int(rng.uniform(0.15, 0.6) * SAMPLE_RATE)
    return out[:n]


BACKGROUNDS = {"noise": coloured_noise, "music": music}


def with_background(rec: Recording, kind: str, snr_db: float | None, seed: int) -> Recording:
    """A copy of ``rec`` with ``kind`` background at ``snr_db`` against its speech (clean: kind 'clean')."""
    audio = rec.speech.copy()
    if kind != "clean":
        rng = np.random.default_rng(seed)
        background = BACKGROUNDS[kind](len(audio), rng)
        speech = np.repeat(rec.reference != NONE, FRAME)[: len(audio)]
        p_speech = float(np.mean(audio[: len(speech)][speech].astype(np.float64) ** 2))
        p_background = float(np.mean(background.astype(np.float64) ** 2))
        audio = audio + background * np.sqrt(p_speech / p_background / 10 ** (snr_db / 10))
        peak = float(np.abs(audio).max())
        if peak > 0.99:
            audio *= 0.99 / peak
    return Recording(rec.name, rec.speech, rec.reference, rec.scored, rec.turns, kind, snr_db, audio.astype(np.float32))


# -- scoring --------------------------------------------------------------------------------------
def hypothesis_frames(segments: Sequence[Segment], frames: int) -> np.ndarray:
    """Segments as one code per 10 ms frame (NONE, FEMALE, MALE)."""
    out = np.zeros(frames, np.int8)
    for s in segments:
        if s.label in GENDER_CODE:
            out[int(round(s.start / FRAME_S)):int(round(s.end / FRAME_S))] = GENDER_CODE[s.label]
    return out


def collar_mask(reference: np.ndarray, collar_s: float) -> np.ndarray:
    """Frames to score: all but those within ``collar_s`` of a reference change."""
    keep = np.ones(len(reference), bool)
    width = int(round(collar_s / FRAME_S))
    if width:
        for c in np.flatnonzero(np.diff(reference) != 0) + 1:
            keep[max(0, c - width):c + width] = False
    return keep


def frame_errors(reference: np.ndarray, hypothesis: np.ndarray, scored: np.ndarray | None = None,
                 collar_s: float = 0.0) -> dict[str, float]:
    """Frame counts (seconds) of reference speech, missed speech, false alarm and gender confusion
    over the ``scored`` frames (all by default) outside the collar.

    In overlapped speech either gender is right. Female share: female / (female + male) time,
    overlaps left out of the reference share.
    """
    keep = collar_mask(reference, collar_s) & (True if scored is None else scored)
    ref, hyp = reference[keep], hypothesis[keep]
    speech = ref != NONE
    confusion = ((ref == FEMALE) & (hyp == MALE)) | ((ref == MALE) & (hyp == FEMALE))
    return {
        "speech_s": float(speech.sum() * FRAME_S),
        "missed_s": float((speech & (hyp == NONE)).sum() * FRAME_S),
        "false_alarm_s": float((~speech & (hyp != NONE)).sum() * FRAME_S),
        "confusion_s": float(confusion.sum() * FRAME_S),
        "ref_female_s": float((reference == FEMALE).sum() * FRAME_S),
        "ref_male_s": float((reference == MALE).sum() * FRAME_S),
        "hyp_female_s": float((hypothesis == FEMALE).sum() * FRAME_S),
        "hyp_male_s": float((hypothesis == MALE).sum() * FRAME_S),
    }


SPEAKER_COUNTS = ("speech_s", "confused_s", "missed_s", "female_s", "male_s")


def counts_by_speaker(rec: Recording, hypothesis: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per speaker: gender, seconds of their scored speech (overlaps left out), and how much of it
    is labelled with the other gender, as non-speech, female and male. Summed over speakers, the
    confused seconds are ``frame_errors``'."""
    out: dict[str, dict[str, Any]] = {}
    for turn in rec.turns:
        own = GENDER_CODE[turn.gender]
        frames = slice(turn.start, turn.end)
        mine = (rec.reference[frames] == own) & rec.scored[frames]
        hyp = hypothesis[frames]
        counts = out.setdefault(turn.speaker, {"gender": turn.gender, **dict.fromkeys(SPEAKER_COUNTS, 0.0)})
        for key, frames_of in (("speech_s", mine), ("confused_s", mine & (hyp == FEMALE + MALE - own)),
                               ("missed_s", mine & (hyp == NONE)), ("female_s", mine & (hyp == FEMALE)),
                               ("male_s", mine & (hyp == MALE))):
            counts[key] += float(frames_of.sum() * FRAME_S)
    return out


def speaker_totals(rows: Sequence[dict[str, Any]], key: str = "speakers") -> dict[str, dict[str, Any]]:
    """Per speaker, their ``counts_by_speaker`` (each row's ``key``) summed over the recordings."""
    speakers: dict[str, dict[str, Any]] = {}
    for r in rows:
        for name, counts in r[key].items():
            mine = speakers.setdefault(name, {"gender": counts["gender"], **dict.fromkeys(SPEAKER_COUNTS, 0.0)})
            for count in SPEAKER_COUNTS:
                mine[count] += counts[count]
    return speakers


def speaker_figures(sums: np.ndarray, ref_female: np.ndarray, false_alarm: float) -> dict[str, np.ndarray]:
    """IER, confusion and female-share error (points) from speakers' summed ``SPEAKER_COUNTS``
    (``sums[..., count]``) and their reference female speech. False alarm belongs to no speaker:
    the IER holds it at the rate ``false_alarm`` (of reference speech), and the female share counts
    the speakers' own speech only."""
    speech, confused, missed, female, male = np.moveaxis(sums, -1, 0)
    share_error = 100 * np.abs(female / np.maximum(female + male, 1e-9) - ref_female / np.maximum(speech, 1e-9))
    return {"ier": (missed + confused) / speech + false_alarm, "confusion": confused / speech,
            "female_share_error_pp": share_error}


def speaker_table(speakers: dict[str, dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(speakers, counts) table of ``SPEAKER_COUNTS`` and each speaker's reference female speech."""
    table = np.array([[counts[c] for c in SPEAKER_COUNTS] for counts in speakers.values()]).reshape(-1, len(SPEAKER_COUNTS))
    is_female = np.array([counts["gender"] == "female" for counts in speakers.values()], dtype=bool)
    return table, table[:, 0] * is_female


def speakers_rates(speakers: dict[str, dict[str, Any]], false_alarm: float) -> dict[str, float]:
    """``speaker_figures`` of these speakers together (say, all but the label audit's flagged ones)."""
    table, ref_female = speaker_table(speakers)
    return {name: float(v) for name, v in speaker_figures(table.sum(axis=0), ref_female.sum(), false_alarm).items()}


def speaker_bootstrap(speakers: dict[str, dict[str, Any]], false_alarm: float, resamples: int = 2000,
                      seed: int = 0) -> dict[str, tuple[float, float]]:
    """95% intervals of ``speaker_figures`` with the speakers resampled (the uncertainty of a figure
    measured on this many speakers)."""
    table, ref_female = speaker_table(speakers)
    picks = np.random.default_rng(seed).integers(len(table), size=(resamples, len(table)))
    figures = speaker_figures(table[picks].sum(axis=1), ref_female[picks].sum(axis=1), false_alarm)
    return {name: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) for name, v in figures.items()}


def rates(counts: dict[str, float]) -> dict[str, float]:
    """IER, its parts (as fractions of reference speech) and the female-share error (points)."""
    speech = counts["speech_s"]
    ref_share = counts["ref_female_s"] / max(1e-9, counts["ref_female_s"] + counts["ref_male_s"])
    hyp_share = counts["hyp_female_s"] / max(1e-9, counts["hyp_female_s"] + counts["hyp_male_s"])
    return {
        "ier": (counts["missed_s"] + counts["false_alarm_s"] + counts["confusion_s"]) / speech,
        "missed": counts["missed_s"] / speech,
        "false_alarm": counts["false_alarm_s"] / speech,
        "confusion": counts["confusion_s"] / speech,
        "female_share_ref": ref_share,
        "female_share_hyp": hyp_share,
        "female_share_error_pp": 100 * abs(hyp_share - ref_share),
    }


def total(counts: Sequence[dict[str, float]]) -> dict[str, float]:
    """Sum of frame counts over recordings."""
    return {k: float(sum(c[k] for c in counts)) for k in counts[0]}
