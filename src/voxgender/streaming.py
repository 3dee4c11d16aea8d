"""Real-time gender recognition of one live stream: chunks of any size and rate in, decisions out.

>>> stream = Stream(load_model(), sample_rate=48000, smoothing="hysteresis")
>>> for chunk in microphone_chunks():
...     for d in stream.feed(chunk):
...         print(d.t, d.label, d.p_female)
>>> decisions, summary = stream.finish()

Each 10 ms of audio costs one RNN step: the recurrent state is carried from chunk to chunk, and
silero-vad gates the decisions (label "none" without speech). See :class:`StreamOptions` for the
interval, the smoothing and the gating, and :mod:`voxgender.engine` for many streams at once.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np

from voxgender.core.decisions import Decision, StreamOptions, Summary
from voxgender.core.labels import SAMPLE_RATE
from voxgender.engine import StreamEngine
from voxgender.model import Model


class Stream:
    """One live stream: ``feed`` chunks, read decisions, ``finish`` for the last ones and the summary."""

    def __init__(self, model: Model, sample_rate: int = SAMPLE_RATE, options: StreamOptions | None = None,
                 **fields: Any) -> None:
        """A stream of mono audio at ``sample_rate``; ``options``, or StreamOptions ``fields`` such as
        ``smoothing="ema"``, say how decisions are made."""
        if options is not None and fields:
            raise ValueError("give StreamOptions or its fields, not both")
        self.sample_rate = sample_rate
        self.options = options or StreamOptions(**fields)
        self._engine = StreamEngine(model)
        self._id = self._engine.open(sample_rate, self.options)
        self._finished = False

    def feed(self, samples: np.ndarray) -> list[Decision]:
        """Add float32 mono samples in [-1, 1] at ``sample_rate``; return the decisions now due."""
        if self._finished:
            raise RuntimeError("this stream is finished")
        self._engine.push(self._id, samples)
        update = self._engine.step().get(self._id)
        return update.decisions if update else []

    def finish(self) -> tuple[list[Decision], Summary]:
        """End the stream: the remaining decisions and the summary of all its speech."""
        if self._finished:
            raise RuntimeError("this stream is finished")
        self._finished = True
        self._engine.end(self._id)
        update = self._engine.step()[self._id]
        assert update.summary is not None  # an ended stream always reports its summary
        return update.decisions, update.summary


def stream_chunks(stream: Stream, chunks: Iterable[np.ndarray]) -> Iterator[Decision | Summary]:
    """Feed every chunk and yield each decision as it comes, then the summary."""
    for chunk in chunks:
        yield from stream.feed(chunk)
    decisions, summary = stream.finish()
    yield from decisions
    yield summary
