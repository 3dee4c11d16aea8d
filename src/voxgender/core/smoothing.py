"""Live smoothing of gender evidence: one update per decision interval, O(1) work per update.

Each smoother takes the log-posteriors (frames, 2) of the speech frames of one interval and
returns the smoothed ``p_female`` and a label. They are the incremental forms of the array
functions in :mod:`voxgender.core.aggregate` (the tests check that both give the same numbers):

- ``cumulative``: mean log-posterior of every speech frame since the last reset, which is what a
  batch prediction computes over the same frames;
- ``none``: the mean log-posterior of the interval alone;
- ``ema``: exponential moving average of the interval values (``alpha`` on the newest);
- ``majority``: share of female decisions over the last ``window`` intervals;
- ``hysteresis``: the label changes only after ``min_intervals`` intervals beyond 0.5 ± ``margin``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal, Protocol

import numpy as np

from voxgender.core.aggregate import exponential_smoothing, mean_log_posterior, moving_majority
from voxgender.core.labels import label_of

SmoothingKind = Literal["cumulative", "none", "ema", "majority", "hysteresis"]
SMOOTHINGS: tuple[str, ...] = ("cumulative", "none", "ema", "majority", "hysteresis")


class Smoother(Protocol):
    def update(self, log_post: np.ndarray) -> tuple[float, str]:
        """Take one interval's speech-frame log-posteriors (n >= 1, 2); return (p_female, label)."""
        ...


class Cumulative:
    """Mean log-posterior over all frames so far."""

    def __init__(self) -> None:
        self._sum = np.zeros(2)
        self._count = 0

    def update(self, log_post: np.ndarray) -> tuple[float, str]:
        self._sum += log_post.sum(axis=0)
        self._count += len(log_post)
        return self.value()

    def value(self) -> tuple[float, str]:
        """The current (p_female, label): ``mean_log_posterior`` of all frames so far (0.5 before any)."""
        male_minus_female = float(self._sum[1] - self._sum[0]) / max(1, self._count)
        p = 1.0 / (1.0 + math.exp(min(700.0, male_minus_female)))
        return p, label_of(p)


class Instant:
    """The interval alone."""

    def update(self, log_post: np.ndarray) -> tuple[float, str]:
        p = mean_log_posterior(log_post)
        return p, label_of(p)


class Ema:
    """Exponential moving average of interval values, starting from 0.5 like ``exponential_smoothing``."""

    def __init__(self, alpha: float) -> None:
        exponential_smoothing(np.zeros(0), alpha)  # validates alpha
        self.alpha = alpha
        self._acc = 0.5

    def update(self, log_post: np.ndarray) -> tuple[float, str]:
        self._acc = (1 - self.alpha) * self._acc + self.alpha * mean_log_posterior(log_post)
        return self._acc, label_of(self._acc)


class Majority:
    """Share of female interval decisions over the last ``window`` intervals."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("majority window must be at least 1")
        self._recent: deque[float] = deque(maxlen=window)

    def update(self, log_post: np.ndarray) -> tuple[float, str]:
        self._recent.append(mean_log_posterior(log_post))
        share = float(moving_majority(np.array(self._recent), len(self._recent))[-1])
        return share, label_of(share)


class Hysteresis:
    """A label that switches only after ``min_intervals`` interval values beyond 0.5 ± ``margin``.

    ``p_female`` is the interval's own value, so it can sit on the other side of 0.5 than the
    label while the evidence has not yet held long enough.
    """

    def __init__(self, margin: float, min_intervals: int) -> None:
        if not 0 <= margin < 0.5:
            raise ValueError("hysteresis margin must be in [0, 0.5)")
        self.margin, self.min_intervals = margin, max(1, min_intervals)
        self._label: str | None = None
        self._run = 0

    def update(self, log_post: np.ndarray) -> tuple[float, str]:
        p = mean_log_posterior(log_post)
        if self._label is None:
            self._label = "female" if p > 0.5 else "male"  # as postprocess.hysteresis starts
        target = "female" if p > 0.5 + self.margin else "male" if p < 0.5 - self.margin else self._label
        self._run = self._run + 1 if target != self._label else 0
        if self._run >= self.min_intervals:
            self._label, self._run = target, 0
        return p, self._label
