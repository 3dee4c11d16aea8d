"""The timeline of a recording: female, male and non-speech segments, and speaking-time totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

TIMELINE_LABELS = ("nonspeech", "female", "male")  # a timeline's labels, in the segment decoder's state order


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
    """Seconds per label and the female share of speech time (None without speech)."""

    duration_s: float
    female_s: float
    male_s: float
    nonspeech_s: float
    female_share: float | None

    @classmethod
    def of(cls, segments: list[Segment], duration_s: float) -> "SegmentSummary":
        seconds = {label: 0.0 for label in TIMELINE_LABELS}
        for s in segments:
            seconds[s.label] += s.duration
        speech = seconds["female"] + seconds["male"]
        share = round(seconds["female"] / speech, 4) if speech > 0 else None
        return cls(round(duration_s, 3), round(seconds["female"], 3), round(seconds["male"], 3),
                   round(seconds["nonspeech"], 3), share)

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
