"""The timeline of a recording: female, male and non-speech segments, and speaking-time totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

TIMELINE_LABELS = ("nonspeech", "female", "male")  # a timeline's labels, in the segment decoder's state order
RESAMPLES = 2000  # of the turns, for the female share's 95% interval


def share_interval(female_s: Sequence[float], male_s: Sequence[float], seed: int = 0) -> tuple[float, float] | None:
    """95% interval of the female share of speech time, from resampling the units (turns of one
    recording, or the recordings of a collection) with replacement; each unit's female and male
    seconds. None without speech."""
    female, male = np.asarray(female_s, dtype=float), np.asarray(male_s, dtype=float)
    if not len(female) or female.sum() + male.sum() <= 0:
        return None
    draws = np.random.default_rng(seed).integers(0, len(female), (RESAMPLES, len(female)))
    speech = female[draws].sum(axis=1) + male[draws].sum(axis=1)
    shares = female[draws].sum(axis=1)[speech > 0] / speech[speech > 0]
    low, high = np.percentile(shares, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


@dataclass(frozen=True)
class Segment:
    """A stretch of one label; ``p_female`` is the segment's mean-log posterior (speech only)."""

    start: float
    end: float
    label: str
    p_female: float | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SegmentSummary:
    """Seconds per label, the female share of speech time with its 95% interval from resampling
    the turns, the number of female and male turns and their median length (None without speech)."""

    duration_s: float
    female_s: float
    male_s: float
    nonspeech_s: float
    female_share: float | None
    female_share_low: float | None = None
    female_share_high: float | None = None
    female_turns: int = 0
    male_turns: int = 0
    median_turn_s: float | None = None

    @classmethod
    def of(cls, segments: list[Segment], duration_s: float) -> "SegmentSummary":
        seconds = {label: 0.0 for label in TIMELINE_LABELS}
        for s in segments:
            seconds[s.label] += s.duration
        speech = seconds["female"] + seconds["male"]
        share = round(seconds["female"] / speech, 4) if speech > 0 else None
        turns = [s for s in segments if s.label != "nonspeech"]
        interval = share_interval([t.duration * (t.label == "female") for t in turns],
                                  [t.duration * (t.label == "male") for t in turns])
        return cls(round(duration_s, 3), round(seconds["female"], 3), round(seconds["male"], 3),
                   round(seconds["nonspeech"], 3), share, *(interval or (None, None)),
                   sum(t.label == "female" for t in turns), sum(t.label == "male" for t in turns),
                   round(float(np.median([t.duration for t in turns])), 3) if turns else None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SegmentationResult:
    """The timeline of one input."""

    path: str
    segments: list[Segment]
    summary: SegmentSummary

    @property
    def duration_s(self) -> float:
        return self.summary.duration_s

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "duration_s": self.duration_s, "summary": self.summary.to_dict(),
                "segments": [s.to_dict() for s in self.segments]}
