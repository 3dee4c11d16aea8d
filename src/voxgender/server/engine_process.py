"""The server's StreamEngine in a process of its own.

The event loop (WebSocket frames in, JSON out) and the engine (silero-vad, features, RNN) both
need the interpreter; in one process they would take turns on the GIL, and each engine step
would wait behind socket work. In its own process the engine runs on the second core. Each step
is one round trip over a pipe: the commands gathered since the last step go in (new streams,
audio, ends, drops), and every stream's updates come back.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field, fields, replace
from multiprocessing.connection import Connection
from operator import attrgetter

import numpy as np

from voxgender.core.decisions import Decision, StreamOptions, Summary
from voxgender.engine import StreamEngine, Update
from voxgender.errors import VoxgenderError
from voxgender.model import Model

Item = Update | VoxgenderError
WireItem = tuple[list[tuple], tuple | None] | VoxgenderError  # an Update as (decision rows, summary row)
STOP_TIMEOUT_S = 5.0
START_TIMEOUT_S = 120.0
WARMUP_S = 1.0  # audio run through a new engine before it serves: the first calls of each network are slow


@dataclass
class Commands:
    """What the handlers asked for since the last step, by the hub's stream ids."""

    opens: list[tuple[int, int, StreamOptions]] = field(default_factory=list)  # (id, sample rate, options)
    pushes: dict[int, list[np.ndarray]] = field(default_factory=dict)
    ends: list[int] = field(default_factory=list)
    drops: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Packed:
    """Commands ready for the pipe: the commands without their audio, each stream's audio length, and all the audio."""

    commands: Commands
    lengths: list[tuple[int, int]]
    audio: np.ndarray


def pack(commands: Commands) -> Packed:
    """``commands`` with every stream's audio joined into one array, in the order of its pushes."""
    lengths = [(sid, sum(len(chunk) for chunk in chunks)) for sid, chunks in commands.pushes.items()]
    chunks = [chunk for stream_chunks in commands.pushes.values() for chunk in stream_chunks]
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return Packed(replace(commands, pushes={}), lengths, audio)


def send_packed(conn: Connection, packed: Packed) -> None:
    """The pickled commands and lengths, then the audio as raw bytes (no pickling)."""
    conn.send((packed.commands, packed.lengths))
    conn.send_bytes(packed.audio)


def receive_commands(conn: Connection) -> Commands | None:
    """What :func:`send_packed` sent, or None when the pipe says stop."""
    message = conn.recv()
    if message is None:
        return None
    commands, lengths = message
    audio = np.frombuffer(conn.recv_bytes(), np.float32)
    bounds = np.cumsum([n for _, n in lengths], dtype=int)
    commands.pushes = {sid: [samples] for (sid, _), samples in zip(lengths, np.split(audio, bounds[:-1]))}
    return commands


_decision_row = attrgetter(*(f.name for f in fields(Decision)))
_summary_row = attrgetter(*(f.name for f in fields(Summary)))


def to_wire(item: Item) -> WireItem:
    """An update as plain tuples of its fields (an error as it is)."""
    if isinstance(item, VoxgenderError):
        return item
    return [_decision_row(d) for d in item.decisions], None if item.summary is None else _summary_row(item.summary)


def from_wire(item: WireItem) -> Item:
    """The update that :func:`to_wire` flattened (an error as it is)."""
    if isinstance(item, VoxgenderError):
        return item
    decisions, summary = item
    return Update([Decision(*row) for row in decisions], None if summary is None else Summary(*summary))


def apply(engine: StreamEngine, ids: dict[int, int], commands: Commands) -> dict[int, Item]:
    """Carry out ``commands`` on ``engine`` (``ids``: hub id -> engine id), step it, and return the updates."""
    failed: dict[int, Item] = {}
    for hub_id, rate, options in commands.opens:
        try:
            ids[hub_id] = engine.open(rate, options)
        except VoxgenderError as err:
            failed[hub_id] = err
    for hub_id in commands.drops:
        if hub_id in ids:
            engine.drop(ids.pop(hub_id))
    for hub_id, chunks in commands.pushes.items():
        if hub_id in ids:
            try:
                engine.push(ids[hub_id], np.concatenate(chunks))
            except VoxgenderError as err:
                failed[hub_id] = err
                engine.drop(ids.pop(hub_id))
    for hub_id in commands.ends:
        if hub_id in ids:
            engine.end(ids[hub_id])
    by_engine_id = {engine_id: hub_id for hub_id, engine_id in ids.items()}
    updates: dict[int, Item] = {by_engine_id[sid]: update for sid, update in engine.step().items()}
    for hub_id, item in updates.items():
        if isinstance(item, Update) and item.summary is not None:
            del ids[hub_id]
    return {**updates, **failed}


def _serve(conn: Connection, model: Model) -> None:
    """The engine process: one step per message until the pipe says stop (None) or closes."""
    from voxgender.runtime import one_thread

    one_thread()
    engine, ids = StreamEngine(model), {}
    warmup = engine.open()
    engine.push(warmup, np.random.default_rng(0).normal(0, 0.1, int(WARMUP_S * 16000)).astype(np.float32))
    engine.end(warmup)
    engine.step()
    conn.send("ready")
    try:
        while (commands := receive_commands(conn)) is not None:
            conn.send({hub_id: to_wire(item) for hub_id, item in apply(engine, ids, commands).items()})
    except (EOFError, KeyboardInterrupt):
        pass


class EngineProcess:
    """A StreamEngine for ``model`` in a child process, ready when constructed; ``step`` blocks, so call
    it (and the constructor) from a worker thread."""

    def __init__(self, model: Model) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, model), name="voxgender-engine", daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(START_TIMEOUT_S) or self._conn.recv() != "ready":
            self.close()
            raise RuntimeError(f"the stream engine process did not start within {START_TIMEOUT_S:g} s")

    def step(self, packed: Packed) -> dict[int, WireItem]:
        """One engine step (blocks): the updates by hub id, to be read with :func:`from_wire`."""
        send_packed(self._conn, packed)
        return self._conn.recv()

    def close(self) -> None:
        try:
            self._conn.send(None)
        except OSError:
            pass
        self._process.join(STOP_TIMEOUT_S)
        if self._process.is_alive():
            self._process.terminate()
        self._conn.close()
