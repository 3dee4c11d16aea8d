"""The bridge between WebSocket handlers (asyncio) and one micro-batched StreamEngine (its own process).

Handlers open, feed and end streams without waiting: their commands are gathered, and each engine
step takes everything gathered since the last one and processes all streams together. Steps start
at most every ``step_interval_s``, so under load they grow larger (cheaper per stream: silero-vad
and the RNN run once per step for all streams) instead of more frequent. Each stream's updates
come back through its own queue.

Fairness: a step takes at most ``STEP_AUDIO_S`` of each stream's audio, so a client that sends
minutes of audio at once is served a slice per step like everyone else, and a stream holding more
than ``PENDING_AUDIO_S`` makes its handler stop reading (``wait_for_room``): TCP then slows the
sender, and the server's memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import count

import numpy as np

from voxgender.core.decisions import StreamOptions
from voxgender.errors import VoxgenderError
from voxgender.model import Model
from voxgender.server.engine_process import Commands, EngineProcess, Item, Packed, WireItem, from_wire, pack
from voxgender.server.metrics import Metrics

log = logging.getLogger(__name__)


class TooManyStreams(VoxgenderError):
    """The server is at its stream limit."""


class EngineFailed(VoxgenderError):
    """The engine process failed and is restarted; the streams it held are lost."""


STEP_AUDIO_S = 0.5  # of one stream's audio per engine step
PENDING_AUDIO_S = 5.0  # of one stream's audio waiting for the engine before its handler stops reading


class PendingAudio:
    """Each stream's audio not yet given to the engine, handed out a slice per stream per step."""

    def __init__(self) -> None:
        self._chunks: dict[int, deque[np.ndarray]] = {}
        self._samples: dict[int, int] = {}
        self._rates: dict[int, int] = {}
        self._ending: set[int] = set()

    def open(self, sid: int, sample_rate: int) -> None:
        self._chunks[sid], self._samples[sid], self._rates[sid] = deque(), 0, sample_rate

    def push(self, sid: int, samples: np.ndarray) -> None:
        if sid in self._chunks:
            self._chunks[sid].append(samples)
            self._samples[sid] += len(samples)

    def end(self, sid: int) -> None:
        self._ending.add(sid)

    def drop(self, sid: int) -> None:
        for table in (self._chunks, self._samples, self._rates):
            table.pop(sid, None)
        self._ending.discard(sid)

    def seconds(self, sid: int) -> float:
        """Audio of the stream still waiting for the engine."""
        return self._samples.get(sid, 0) / self._rates.get(sid, 1)

    def take(self, step_s: float) -> tuple[dict[int, list[np.ndarray]], list[int]]:
        """Up to ``step_s`` of each stream's audio, and the streams that have ended with nothing left."""
        pushes: dict[int, list[np.ndarray]] = {}
        for sid, chunks in self._chunks.items():
            budget = int(step_s * self._rates[sid])
            while chunks and budget > 0:
                chunk = chunks.popleft()
                if len(chunk) > budget:
                    chunks.appendleft(chunk[budget:])
                    chunk = chunk[:budget]
                pushes.setdefault(sid, []).append(chunk)
                budget -= len(chunk)
                self._samples[sid] -= len(chunk)
        ends = [sid for sid in self._ending if not self._chunks.get(sid)]
        for sid in ends:
            self.drop(sid)
        return pushes, ends

    @property
    def waiting(self) -> bool:
        """Whether audio or an end is left for a later step."""
        return any(self._chunks.values()) or bool(self._ending)


class StreamHub:
    """Open, feed and end streams from the event loop; one engine step serves all of them."""

    def __init__(self, model: Model, metrics: Metrics, max_streams: int, step_interval_s: float) -> None:
        self._model = model
        self._engine: EngineProcess | None = None
        self._metrics = metrics
        self._max_streams = max_streams
        self._step_interval = step_interval_s
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="voxgender-engine")  # waits on the pipe
        self._lock = threading.Lock()
        self._commands = Commands()
        self._ids = count()
        self._queues: dict[int, asyncio.Queue[Item]] = {}
        self._pending = PendingAudio()
        self._room = asyncio.Event()  # set after every step: handlers waiting for room look again
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the engine process (a few seconds) and the step loop."""
        self._engine = await asyncio.to_thread(EngineProcess, self._model)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._engine is not None:
            self._engine.close()

    @property
    def active(self) -> int:
        return len(self._queues)

    def open(self, sample_rate: int, options: StreamOptions) -> int:
        """A new stream's id (the engine opens it at its next step); TooManyStreams at the limit."""
        if self.active >= self._max_streams:
            raise TooManyStreams(f"the server is at its limit of {self._max_streams} streams; try again later")
        sid = next(self._ids)
        self._queues[sid] = asyncio.Queue()
        with self._lock:
            self._commands.opens.append((sid, sample_rate, options))
            self._pending.open(sid, sample_rate)
        return sid

    def push(self, sid: int, samples: np.ndarray) -> None:
        with self._lock:
            self._pending.push(sid, samples)
        self._wake.set()

    async def wait_for_room(self, sid: int) -> None:
        """Return once the stream holds less than ``PENDING_AUDIO_S`` of audio not yet processed."""
        while sid in self._queues and self._pending.seconds(sid) >= PENDING_AUDIO_S:
            self._room.clear()
            await self._room.wait()

    def end(self, sid: int) -> None:
        """No more audio: the stream's last decisions and its summary will arrive on its queue."""
        with self._lock:
            self._pending.end(sid)
        self._wake.set()

    def drop(self, sid: int) -> None:
        """Forget a stream at once (its client is gone, or it has its summary)."""
        if self._queues.pop(sid, None) is not None:
            with self._lock:
                self._commands.drops.append(sid)
                self._pending.drop(sid)

    async def next(self, sid: int) -> Item:
        """The stream's next update (or its error)."""
        return await self._queues[sid].get()

    def _restart(self) -> None:
        """On the worker thread: replace a failed engine process."""
        assert self._engine is not None  # started
        self._engine.close()
        self._engine = EngineProcess(self._model)

    def _next_commands(self) -> Packed:
        """What the handlers asked for since the last step, ready for the engine (on the event loop:
        Python work on the worker thread would wait for the GIL behind the loop)."""
        with self._lock:
            commands, self._commands = self._commands, Commands()
            commands.pushes, commands.ends = self._pending.take(STEP_AUDIO_S)
        return pack(commands)

    def _step(self, packed: Packed) -> dict[int, WireItem]:
        """On the worker thread: send the commands to the engine, wait for its step."""
        assert self._engine is not None  # started
        return self._engine.step(packed)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = 0.0
        while True:
            await self._wake.wait()
            if (gather := last + self._step_interval - time.perf_counter()) > 0:
                await asyncio.sleep(gather)  # gather a batch
            # else the next step leaves at once, before the handlers woken by the last one run: the
            # engine computes while they send its decisions, instead of waiting for them
            self._wake.clear()
            start = last = time.perf_counter()
            try:
                items = await loop.run_in_executor(self._executor, self._step, self._next_commands())
            except Exception:  # a crash must not stop the server: restart the engine, fail its streams
                log.exception("the stream engine failed; restarting it")
                for queue in self._queues.values():  # its streams learn at once, not after the restart
                    queue.put_nowait(EngineFailed("the stream engine failed and is being restarted: please reconnect"))
                await loop.run_in_executor(self._executor, self._restart)
                continue
            self._metrics.step_latency.observe(time.perf_counter() - start)
            for sid, item in items.items():
                queue = self._queues.get(sid)
                if queue is not None:
                    queue.put_nowait(from_wire(item))
            self._room.set()
            with self._lock:
                if self._pending.waiting:
                    self._wake.set()
