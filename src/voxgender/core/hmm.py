"""Online Viterbi decoding of labelled segments with a minimum duration per label.

An explicit-duration HMM: the hidden state is a label; every segment lasts at least its label's
``min_frames`` (only the first and the last segment of a stream may be shorter), and a change from
label ``a`` to ``b`` costs ``penalty[a, b]`` (log-score). Frames arrive in pieces of any size.

Writing ``C_s(t)`` for the cumulative emission score of label ``s`` up to frame ``t``, the best score
of a path whose segment of ``s`` ends at ``t`` is ``C_s(t) + max_{u <= t - D_s + 1} H_s(u)``, where
``H_s(u)`` is the best score of entering ``s`` at frame ``u`` minus ``C_s(u - 1)``. So the recursion
is a running maximum delayed by ``D_s`` frames: frames go through in vectorised steps of
``min(D_s)`` frames, and only segment boundaries are traced back. Segments are committed as soon
as every surviving hypothesis agrees on them, so memory stays bounded on streams of any length.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

Segment = tuple[int, int, int]  # (first frame, end frame (exclusive), label index)


class SegmentDecoder:
    """Minimum-duration Viterbi over per-frame emission log-scores, fed piece by piece.

    ``push`` returns the segments that have become final; ``finish`` returns the rest.
    """

    def __init__(self, min_frames: Sequence[int], penalty: np.ndarray) -> None:
        self.min_frames = np.asarray(min_frames, dtype=np.int64)
        if self.min_frames.ndim != 1 or len(self.min_frames) < 2 or (self.min_frames < 1).any():
            raise ValueError("min_frames needs a positive number of frames for each of at least 2 labels")
        n = len(self.min_frames)
        cost = np.array(penalty, dtype=np.float64)
        if cost.shape != (n, n):
            raise ValueError(f"penalty must be a {n}x{n} matrix")
        cost[np.eye(n, dtype=bool)] = np.inf  # a label never follows itself as a new segment
        self._cost = cost
        self._step = int(self.min_frames.min())
        self._cols = np.arange(n)[None]
        self.frames = 0  # frames pushed so far
        self.base = 0  # first frame not yet committed: the entry of the root segment
        self._cum = np.zeros(n)  # C_s(frames - 1)
        # Rows for entry frames u in [base, frames]: running maximum of H_s up to u, the entry
        # frame where it was reached, and the label before an entry into s at u.
        self._best = np.zeros((1024, n))
        self._arg = np.zeros((1024, n), dtype=np.int64)
        self._prev = np.full((1024, n), -1, dtype=np.int8)
        self._rows = 1

    @property
    def n_labels(self) -> int:
        return len(self.min_frames)

    def push(self, scores: np.ndarray) -> list[Segment]:
        """Add frames' emission log-scores (frames, labels); return the segments now final."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 2 or scores.shape[1] != self.n_labels:
            raise ValueError(f"scores must have shape (frames, {self.n_labels})")
        self._reserve(len(scores))
        for first in range(0, len(scores), self._step):
            self._advance(scores[first:first + self._step])
        return self._commit()

    def finish(self) -> list[Segment]:
        """The segments after the last final one, up to the last frame pushed."""
        if self.frames == 0:
            return []
        last = self._rows - 2  # row of entry frame frames - 1
        label = int(np.argmax(self._cum + self._best[last]))
        segments = self._segments(self._trace(label, int(self._arg[last, label])), self.frames)
        self.base = self.frames
        return segments

    # -- recursion ---------------------------------------------------------------------------------
    def _reserve(self, frames: int) -> None:
        need = self._rows + frames
        if need > len(self._best):
            size = max(need, 2 * len(self._best))
            for name in ("_best", "_arg", "_prev"):
                old = getattr(self, name)
                new = np.empty((size, self.n_labels), dtype=old.dtype)
                new[: self._rows] = old[: self._rows]
                setattr(self, name, new)

    def _advance(self, scores: np.ndarray) -> None:
        """Frames [t0, t0 + k), k <= min(D): every delayed maximum they need is already known."""
        t0, k = self.frames, len(scores)
        cum = self._cum + np.cumsum(scores, axis=0)  # C_s(t)
        v = np.arange(t0, t0 + k)[:, None] - self.min_frames[None] + 1
        rows = np.clip(v - self.base, 0, None)
        # Before frame D_s - 1 only the stream's start (score 0) can open the segment ending at t.
        ends = cum + np.where(v >= 0, self._best[rows, self._cols], 0.0)
        cand = ends[:, :, None] - self._cost[None]  # (t, from, to)
        gain = cand.max(axis=1) - cum  # H_s(t + 1)
        r = self._rows
        stacked = np.vstack([self._best[r - 1:r], gain])
        best = np.maximum.accumulate(stacked, axis=0)
        reached = np.where(stacked >= best, np.arange(t0, t0 + k + 1)[:, None], -1)
        reached[0] = self._arg[r - 1]
        self._best[r:r + k] = best[1:]
        self._arg[r:r + k] = np.maximum.accumulate(reached, axis=0)[1:]
        self._prev[r:r + k] = cand.argmax(axis=1)
        self._rows += k
        self._cum = cum[-1]
        self.frames += k

    # -- traceback -----------------------------------------------------------------------------------
    def _entry_before(self, label: int, entry: int) -> tuple[int, int]:
        """The segment before ``label``'s segment entered at ``entry``: (its label, its entry)."""
        prev = int(self._prev[entry - self.base, label])
        v = entry - int(self.min_frames[prev])
        return prev, int(self._arg[v - self.base, prev]) if v >= self.base else self.base

    def _trace(self, label: int, entry: int) -> list[tuple[int, int]]:
        """(label, entry) of each segment back to the root, newest first."""
        chain = [(label, entry)]
        while chain[-1][1] > self.base:
            chain.append(self._entry_before(*chain[-1]))
        return chain

    def _segments(self, chain: list[tuple[int, int]], end: int) -> list[Segment]:
        out = []
        for label, entry in chain:
            out.append((entry, end, label))
            end = entry
        return out[::-1]

    def _commit(self) -> list[Segment]:
        """Commit the segments that every live hypothesis shares; drop the rows before them."""
        live = set()
        for s, d in enumerate(self.min_frames):
            first = max(self.base, self.frames - int(d))
            live.update((s, int(u)) for u in np.unique(self._arg[first - self.base:self._rows, s]))
        chains = [self._trace(*node) for node in sorted(live)]
        common = set(chains[0]).intersection(*chains[1:])
        root = next((node for node in chains[0] if node in common), None)
        if root is None or root[1] == self.base:
            return []
        older = chains[0][chains[0].index(root):]
        segments = self._segments(older, older[0][1])[:-1]
        drop = root[1] - self.base
        for table in (self._best, self._arg, self._prev):
            table[: self._rows - drop] = table[drop:self._rows]
        self._rows -= drop
        self.base = root[1]
        return segments
