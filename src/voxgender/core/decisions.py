"""Live decisions from per-frame evidence: options, decision records and the per-stream tracker.

The tracker receives the frames of one stream in order (log-posteriors and speech flags) and
emits a decision at every multiple of ``interval_s`` of audio, using exactly the frames that lie
inside ``[0, t]``. The decisions depend only on the audio, never on how it was cut into chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxgender.core.calibration import Calibration
from voxgender.core.features import FeatureConfig
from voxgender.core.labels import label_of
from voxgender.core.smoothing import SMOOTHINGS, Cumulative, Ema, Hysteresis, Instant, Majority, Smoother, SmoothingKind


@dataclass(frozen=True)
class StreamOptions:
    """How a live stream decides. Times are seconds of audio."""

    interval_s: float = 0.1  # one decision per interval
    smoothing: SmoothingKind = "cumulative"
    alpha: float = 0.3  # ema: weight of the newest interval
    window: int = 10  # majority: intervals voted over
    margin: float = 0.2  # hysteresis: evidence must pass 0.5 ± margin ...
    min_duration_s: float = 0.3  # ... for this long before the label changes
    vad: bool = True  # gate by silero-vad; False treats every frame as speech
    vad_threshold: float = 0.5
    hold_s: float = 0.3  # a label stays this long after the last speech frame
    reset_after_s: float | None = 1.0  # a pause this long resets the RNN state and the smoother

    def __post_init__(self) -> None:
        checks = {
            "interval_s must be in [0.01, 10]": 0.01 <= self.interval_s <= 10,
            f"smoothing must be one of {', '.join(SMOOTHINGS)}": self.smoothing in SMOOTHINGS,
            "vad_threshold must be in (0, 1)": 0 < self.vad_threshold < 1,
            "hold_s must be >= 0": self.hold_s >= 0,
            "min_duration_s must be >= 0": self.min_duration_s >= 0,
            "reset_after_s must be > 0 (or None for never)": self.reset_after_s is None or self.reset_after_s > 0,
        }
        for message, ok in checks.items():
            if not ok:
                raise ValueError(message)
        self.smoother()  # validates alpha, window and margin

    def smoother(self) -> Smoother:
        """A fresh smoother of the chosen kind."""
        if self.smoothing == "ema":
            return Ema(self.alpha)
        if self.smoothing == "majority":
            return Majority(self.window)
        if self.smoothing == "hysteresis":
            return Hysteresis(self.margin, math.ceil(round(self.min_duration_s / self.interval_s, 6)))
        return Instant() if self.smoothing == "none" else Cumulative()


def _rounded(p: float | None) -> float | None:
    return None if p is None else round(p, 4)


@dataclass(frozen=True)
class Decision:
    """The state of a stream at time ``t``: ``label`` is "none" (and p_female None) without speech."""

    t: float
    label: str
    p_female: float | None
    confidence: float | None
    speech: bool
    speech_s: float  # speech heard since the stream began

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))  # flat fields: a copy of vars() is asdict() without its deep copy


@dataclass(frozen=True)
class Summary:
    """The whole stream: the mean log-posterior of all its speech frames."""

    label: str
    p_female: float | None
    confidence: float | None
    speech_s: float
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"final": True, **vars(self)}


def _confidence(p: float, label: str) -> float:
    return p if label == "female" else 1.0 - p


class DecisionTracker:
    """Turns one stream's frames into decisions at fixed times and a final summary.

    With a model's ``calibration``, the summary and the ``cumulative`` decisions (both mean
    log-posteriors over the speech heard, as a file's prediction is) are calibrated, so that a
    stream ends with what ``predict`` says of the same audio; the other smoothings stay frame-level.
    """

    def __init__(self, options: StreamOptions, features: FeatureConfig, calibration: Calibration | None = None) -> None:
        self.options = options
        self._calibration = calibration
        self._rate, self._hop_s = features.sample_rate, features.hop_ms / 1000
        self._num_frames = features.num_frames
        self._cumulative = options.smoothing == "cumulative"
        self._interval = max(1, round(options.interval_s * features.sample_rate))
        self._hold_frames = round(options.hold_s / self._hop_s)
        self._smoother = options.smoother()
        self._overall = Cumulative()
        self._current: tuple[float, str] | None = None  # (p_female, label) since the last reset
        self._lp = np.zeros((0, 2), np.float32)  # frames waiting for their decision
        self._speech = np.zeros(0, bool)
        self._first = 0  # index of the first waiting frame
        self._last_speech = -(10**9)  # index of the last speech frame
        self._speech_frames = 0
        self._next = self._interval  # sample position of the next decision

    def reset(self) -> None:
        """Forget the evidence so far (a long pause: the next speaker starts afresh)."""
        self._smoother = self.options.smoother()
        self._current = None

    def add(self, log_post: np.ndarray, speech: np.ndarray, audio_end: int) -> list[Decision]:
        """Append the next frames; return the decisions now complete given ``audio_end`` samples received."""
        if len(log_post):
            self._lp = np.concatenate([self._lp, log_post]) if len(self._lp) else log_post
            self._speech = np.concatenate([self._speech, speech]) if len(self._speech) else speech
        out = []
        while self._next <= audio_end:
            needed = self._num_frames(self._next) - self._first
            if needed > len(self._lp):
                break
            out.append(self._decide(*self._take(needed)))
        return out

    def close(self, audio_end: int) -> tuple[list[Decision], Summary]:
        """Emit the remaining complete decisions; the frames after the last one count in the summary only."""
        out = self.add(np.zeros((0, 2), np.float32), np.zeros(0, bool), audio_end)
        lp, speech = self._take(len(self._lp))
        if speech.any():
            self._overall.update(lp[speech])
        self._speech_frames += int(speech.sum())
        return out, self._summary(audio_end)

    def _take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        lp, self._lp = self._lp[:n], self._lp[n:]
        speech, self._speech = self._speech[:n], self._speech[n:]
        return lp, speech

    def _decide(self, lp: np.ndarray, speech: np.ndarray) -> Decision:
        first, self._first = self._first, self._first + len(lp)
        t = round(self._next / self._rate, 3)
        self._next += self._interval
        voiced_count = int(np.count_nonzero(speech))
        if voiced_count:
            voiced = lp if voiced_count == len(lp) else lp[speech]
            self._current = self._smoother.update(voiced)
            if self._cumulative:
                self._current = self._calibrated(self._current)
            self._overall.update(voiced)
            self._speech_frames += voiced_count
            self._last_speech = first + len(speech) - 1 - int(speech[::-1].argmax())
        speech_s = round(self._speech_frames * self._hop_s, 3)
        if self._current is None or self._last_speech < first - self._hold_frames:
            return Decision(t, "none", None, None, False, speech_s)
        p, label = self._current
        return Decision(t, label, _rounded(p), _rounded(_confidence(p, label)), True, speech_s)

    def _calibrated(self, decision: tuple[float, str]) -> tuple[float, str]:
        """A mean-log-posterior decision through the model's calibration, if it has one."""
        if self._calibration is None:
            return decision
        p = float(self._calibration(decision[0]))
        return p, label_of(p)

    def _summary(self, audio_end: int) -> Summary:
        speech_s = round(self._speech_frames * self._hop_s, 3)
        duration_s = round(audio_end / self._rate, 3)
        if not self._speech_frames:
            return Summary("none", None, None, speech_s, duration_s)
        p, label = self._calibrated(self._overall.value())
        return Summary(label, _rounded(p), _rounded(_confidence(p, label)), speech_s, duration_s)
