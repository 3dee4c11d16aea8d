"""The timeline of a recording: female, male and non-speech segments, and speaking-time totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

TIMELINE_LABELS = ("nonspeech", "female", "male")  # the segment decoder's states, in its order
UNKNOWN = "unknown"  # speech whose calibrated gender posterior stays in doubt (below the min_confidence asked for)
RESAMPLES = 2000  # of the turns, for the female share's 95% interval


Interval = tuple[float, float]


def resampled_intervals(units: np.ndarray, statistics: dict[str, Callable[[np.ndarray], np.ndarray]],
                        seed: int = 0) -> dict[str, Interval | None]:
    """95% intervals of ``statistics`` of ``units`` (one row per unit: a turn, or a file) from
    resampling the rows with replacement ``RESAMPLES`` times. Each statistic maps the draws
    (resamples, units, columns) to one value per draw, NaN where it is undefined; a statistic
    undefined in every draw, or units that are none, get None."""
    if not len(units):
        return dict.fromkeys(statistics)
    draws = units[np.random.default_rng(seed).integers(0, len(units), (RESAMPLES, len(units)))]
    out: dict[str, Interval | None] = {}
    for name, statistic in statistics.items():
        values = statistic(draws)
        values = values[np.isfinite(values)]
        out[name] = tuple(round(float(v), 4) for v in np.percentile(values, [2.5, 97.5])) if len(values) else None
    return out


def _column_sum(column: int) -> Callable[[np.ndarray], np.ndarray]:
    """The statistic: a column summed over the units of each draw."""
    return lambda draws: draws[..., column].sum(axis=1)


def _share(draws: np.ndarray) -> np.ndarray:
    """Female share of the speech of each draw (columns 0 and 1: female and male seconds)."""
    female, male = draws[..., 0].sum(axis=1), draws[..., 1].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(female + male > 0, female / (female + male), np.nan)


@dataclass(frozen=True)
class Segment:
    """A stretch of one label; ``p_female`` is the calibrated mean-log posterior of its frames (speech only)."""

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
    """Seconds per label, the female share of the speech whose gender was decided, the number of
    female and male turns and their median length (None without speech); the 95% intervals
    (``_low``, ``_high``) of the speaking times, the share and the median turn come from resampling
    the turns: how far they could move in another recording of turns like these. Speech labelled
    ``unknown`` is left out of the share; ``female_share_lowest`` and ``_highest`` give the share
    were all of it male or all female."""

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
    female_s_low: float | None = None
    female_s_high: float | None = None
    male_s_low: float | None = None
    male_s_high: float | None = None
    median_turn_low: float | None = None
    median_turn_high: float | None = None
    unknown_s: float = 0.0
    female_share_lowest: float | None = None
    female_share_highest: float | None = None

    @classmethod
    def of(cls, segments: list[Segment], duration_s: float) -> "SegmentSummary":
        seconds = {label: 0.0 for label in (*TIMELINE_LABELS, UNKNOWN)}
        for s in segments:
            seconds[s.label] += s.duration
        speech = seconds["female"] + seconds["male"]
        share = round(seconds["female"] / speech, 4) if speech > 0 else None
        heard, female = speech + seconds[UNKNOWN], seconds["female"]
        bounds = (round(female / heard, 4), round((female + seconds[UNKNOWN]) / heard, 4)) if heard > 0 else (None, None)
        turns = [s for s in segments if s.label in ("female", "male")]
        units = np.array([[t.duration * (t.label == "female"), t.duration * (t.label == "male")] for t in turns]).reshape(-1, 2)
        spans = resampled_intervals(units, {"share": _share, "female": _column_sum(0), "male": _column_sum(1),
                                            "median": lambda d: np.median(d.sum(axis=2), axis=1)})
        if share is None:
            spans["share"] = None
        return cls(round(duration_s, 3), round(seconds["female"], 3), round(seconds["male"], 3),
                   round(seconds["nonspeech"], 3), share, *(spans["share"] or (None, None)),
                   sum(t.label == "female" for t in turns), sum(t.label == "male" for t in turns),
                   round(float(np.median([t.duration for t in turns])), 3) if turns else None,
                   *(spans["female"] or (None, None)), *(spans["male"] or (None, None)), *(spans["median"] or (None, None)),
                   round(seconds[UNKNOWN], 3), *bounds)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


COLLECTION_FIGURES = ("female_s", "male_s", "female_share", "female_turns", "male_turns", "median_turn_s")


@dataclass(frozen=True)
class CollectionSummary:
    """A collection of recordings: summed speaking times and turns, the female share of all speech,
    the median over the recordings of their median turn, each with a 95% interval from resampling
    the recordings (``intervals``: figure -> (low, high), None where undefined)."""

    files: int
    duration_s: float
    female_s: float
    male_s: float
    female_share: float | None
    female_turns: int
    male_turns: int
    median_turn_s: float | None
    intervals: dict[str, Interval | None]

    @classmethod
    def of(cls, summaries: Sequence[SegmentSummary]) -> "CollectionSummary":
        units = np.array([[s.female_s, s.male_s, s.female_turns, s.male_turns,
                           np.nan if s.median_turn_s is None else s.median_turn_s] for s in summaries], float).reshape(-1, 5)
        statistics: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "female_s": _column_sum(0), "male_s": _column_sum(1), "female_share": _share,
            "female_turns": _column_sum(2), "male_turns": _column_sum(3), "median_turn_s": _nanmedian_of_column(4)}
        female, male = float(units[:, 0].sum()), float(units[:, 1].sum())
        medians = units[:, 4][np.isfinite(units[:, 4])]
        intervals = resampled_intervals(units, statistics)
        if female + male <= 0:
            intervals["female_share"] = None
        return cls(len(summaries), round(sum(s.duration_s for s in summaries), 3), round(female, 3), round(male, 3),
                   round(female / (female + male), 4) if female + male > 0 else None, int(units[:, 2].sum()),
                   int(units[:, 3].sum()), round(float(np.median(medians)), 3) if len(medians) else None, intervals)

    def to_dict(self) -> dict[str, Any]:
        """Flat: each figure, then its ``_low`` and ``_high``."""
        out: dict[str, Any] = {"files": self.files, "duration_s": self.duration_s}
        for name in COLLECTION_FIGURES:
            low, high = self.intervals.get(name) or (None, None)
            out.update({name: getattr(self, name), f"{name}_low": low, f"{name}_high": high})
        return out


def _nanmedian_of_column(column: int) -> Callable[[np.ndarray], np.ndarray]:
    """The statistic: the median of a column over the units of each draw where it is defined."""
    def statistic(draws: np.ndarray) -> np.ndarray:
        values = draws[..., column]
        out = np.full(len(values), np.nan)
        defined = np.isfinite(values).any(axis=1)
        out[defined] = np.nanmedian(values[defined], axis=1)
        return out
    return statistic


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
