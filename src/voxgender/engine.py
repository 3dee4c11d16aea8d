"""Many live streams through one model: each step makes one VAD call per 32 ms chunk round and one
RNN call for all streams that have new audio (micro-batching), which is what lets one process
serve hundreds of real-time streams.

Per stream the engine keeps its resampler, the audio not yet consumed, its silero-vad and RNN
states (as rows of shared tensors) and a :class:`DecisionTracker`. Features are computed
incrementally and are exactly the batch frames (frames are not centred; Δ/ΔΔ wait for their
look-ahead), and the RNN state is carried, so a stream gives the same frame posteriors as one
batch call over the same audio.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from itertools import count

import numpy as np
import soxr

from voxgender.core.decisions import Decision, DecisionTracker, StreamOptions, Summary
from voxgender.core.features import frame_features, with_deltas
from voxgender.core.networks import network_state
from voxgender.core.vad import CHUNK, SileroVad, VadState, centre_chunks, shared_vad
from voxgender.errors import AudioError, ModelError
from voxgender.model import Model

MIN_RATE, MAX_RATE = 8000, 192000


@dataclass
class Update:
    """What one step produced for one stream; ``summary`` is set once the stream has ended."""

    decisions: list[Decision] = field(default_factory=list)
    summary: Summary | None = None


@dataclass
class _Stream:
    sid: int
    options: StreamOptions
    tracker: DecisionTracker
    resampler: soxr.ResampleStream | None
    slot: int
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    offset: int = 0  # absolute index of audio[0]
    received: int = 0  # 16 kHz samples so far
    vad_pos: int = 0  # samples the VAD has covered (= received without VAD)
    probs: list[float] = field(default_factory=list)  # VAD probability per chunk from chunk prob_offset
    prob_offset: int = 0
    base_done: int = 0  # frames whose base features exist
    history: np.ndarray | None = None  # base frames kept for Δ/ΔΔ context and look-ahead
    final_done: int = 0  # frames whose full features exist
    ready: list[np.ndarray] = field(default_factory=list)  # full features waiting for the RNN
    rnn_done: int = 0
    silence: int = 0  # VAD chunks of non-speech in a row
    spoke: bool = False  # speech since the last reset
    resets: deque[int] = field(default_factory=deque)  # frame indices where the RNN state restarts
    ending: bool = False

    def samples(self, start: int, stop: int) -> np.ndarray:
        return self.audio[start - self.offset: stop - self.offset]


class StreamEngine:
    """Live gender decisions for any number of streams, micro-batched.

    >>> engine = StreamEngine(load_model())
    >>> sid = engine.open(sample_rate=48000)
    >>> engine.push(sid, samples); engine.step()[sid].decisions
    >>> engine.end(sid); engine.step()[sid].summary
    """

    def __init__(self, model: Model, vad: SileroVad | None = None) -> None:
        if model.network.cfg.bidirectional:
            raise ModelError("this model is bidirectional (batch-only): it cannot stream")
        self.model = model
        self.features = model.features
        self._hop, self._win = model.features.hop_length, model.features.win_length
        self._vad = vad
        self._streams: dict[int, _Stream] = {}
        self._ids = count()
        self._free: list[int] = []
        self._capacity = 0
        self._net_state: list[np.ndarray] = []
        self._vad_state = VadState.zeros(0)

    def __len__(self) -> int:
        return len(self._streams)

    # -- stream lifecycle ------------------------------------------------------------------
    def open(self, sample_rate: int = 16000, options: StreamOptions | None = None) -> int:
        """Start a stream of mono audio at ``sample_rate``; returns its id."""
        if not MIN_RATE <= sample_rate <= MAX_RATE:
            raise AudioError(f"sample rate {sample_rate}: must be between {MIN_RATE} and {MAX_RATE} Hz")
        options = options or StreamOptions()
        if options.vad and self._vad is None:
            self._vad = shared_vad()
        resampler = None
        if sample_rate != self.features.sample_rate:
            resampler = soxr.ResampleStream(sample_rate, self.features.sample_rate, 1, dtype="float32", quality="HQ")
        sid = next(self._ids)
        tracker = DecisionTracker(options, self.features, self.model.calibration)
        self._streams[sid] = _Stream(sid, options, tracker, resampler, self._take_slot())
        return sid

    def push(self, sid: int, samples: np.ndarray) -> None:
        """Append float32 mono samples (at the stream's rate) to a stream."""
        s = self._streams[sid]
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not np.isfinite(samples).all():
            raise AudioError("audio contains NaN or infinite samples")
        if s.resampler is not None:
            samples = s.resampler.resample_chunk(samples, last=False)
        self._append(s, samples)

    def end(self, sid: int) -> None:
        """No more audio for this stream: the next step flushes it and reports its summary."""
        s = self._streams[sid]
        if s.resampler is not None:
            self._append(s, s.resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        s.ending = True

    def drop(self, sid: int) -> None:
        """Forget a stream without a summary (a client that went away)."""
        s = self._streams.pop(sid, None)
        if s is not None:
            self._free.append(s.slot)

    def step(self) -> dict[int, Update]:
        """Process all complete audio of every stream; an Update for each stream that produced one."""
        if not self._streams:
            return {}
        updates: dict[int, Update] = {}
        self._run_vad()
        self._run_features()
        self._run_rnn(updates)
        for sid, s in list(self._streams.items()):
            if s.ending:
                decisions, summary = s.tracker.close(s.received)
                update = updates.setdefault(sid, Update())
                update.decisions += decisions
                update.summary = summary
                self.drop(sid)
            else:
                self._trim(s)
        return updates

    # -- internals ---------------------------------------------------------------------------
    def _append(self, s: _Stream, samples: np.ndarray) -> None:
        s.audio = np.concatenate([s.audio, samples]) if s.audio.size else samples
        s.received += len(samples)
        if not s.options.vad:
            s.vad_pos = s.received

    def _take_slot(self) -> int:
        if not self._free:
            grow = max(8, self._capacity)
            self._net_state = [np.concatenate([t, np.zeros((t.shape[0], grow, t.shape[2]), np.float32)], axis=1)
                               for t in self._net_state or network_state(self.model.network.cfg, 0)]
            self._vad_state = VadState.stack([self._vad_state, VadState.zeros(grow)])
            self._free = list(range(self._capacity + grow - 1, self._capacity - 1, -1))
            self._capacity += grow
        slot = self._free.pop()
        for t in self._net_state:
            t[:, slot] = 0
        self._vad_state.state[:, slot] = 0
        self._vad_state.context[slot] = 0
        return slot

    def _run_vad(self) -> None:
        """silero-vad on every 32 ms chunk the streams hold: one batched call for all the streams
        with the same number of chunks waiting, over all those chunks at once."""
        waiting: dict[int, list[_Stream]] = {}
        for s in self._streams.values():
            if s.options.vad and (rounds := self._vad_rounds(s)):
                waiting.setdefault(rounds, []).append(s)
        for rounds, batch in waiting.items():
            chunks = np.zeros((len(batch), rounds * CHUNK), np.float32)
            for row, s in enumerate(batch):
                piece = s.samples(s.vad_pos, s.vad_pos + rounds * CHUNK)
                chunks[row, :len(piece)] = piece  # the last chunk of an ending stream is zero-padded
            rows = [s.slot for s in batch]
            assert self._vad is not None  # opened streams with VAD loaded it
            probs, state = self._vad.step(chunks.reshape(len(batch), rounds, CHUNK), self._vad_state.select(rows))
            self._vad_state.state[:, rows] = state.state
            self._vad_state.context[rows] = state.context
            for s, stream_probs in zip(batch, probs.tolist()):
                for p in stream_probs:
                    self._on_vad(s, p)

    @staticmethod
    def _vad_rounds(s: _Stream) -> int:
        """The stream's whole chunks not yet through the VAD, and its last partial one once it ends."""
        waiting = s.received - s.vad_pos
        return waiting // CHUNK + (1 if s.ending and waiting % CHUNK else 0)

    def _on_vad(self, s: _Stream, p: float) -> None:
        s.probs.append(p)
        s.vad_pos = min(s.vad_pos + CHUNK, s.received)
        reset_after = s.options.reset_after_s
        if p >= s.options.vad_threshold:
            s.silence, s.spoke = 0, True
        else:
            s.silence += 1
            if s.spoke and reset_after is not None and s.silence * CHUNK >= reset_after * self.features.sample_rate:
                s.resets.append(math.ceil(s.vad_pos / self._hop))
                s.spoke = False

    def _run_features(self) -> None:
        """Base features of the new frames of all streams in one call, then their Δ/ΔΔ if the model uses them."""
        hop, win = self._hop, self._win
        todo = [(s, self._frames_ready(s) - s.base_done) for s in self._streams.values()]
        todo = [(s, n) for s, n in todo if n > 0]
        if todo:  # every new frame of every stream as one row (no padding): the same numbers as batch
            pieces = [s.samples(s.base_done * hop, (s.base_done + n - 1) * hop + win) for s, n in todo]
            counts = np.array([n for _, n in todo])
            sizes = np.array([len(p) for p in pieces])
            piece_starts = np.cumsum(sizes) - sizes
            index_in_piece = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            starts = np.repeat(piece_starts, counts) + index_in_piece * hop
            frames = np.lib.stride_tricks.sliding_window_view(np.concatenate(pieces), win)[starts]
            new_frames = np.split(frame_features(frames, self.features), np.cumsum(counts)[:-1])
            for s, n in todo:
                s.base_done += n
            self._finalise([(s, new) for (s, _), new in zip(todo, new_frames)])
        nothing_new = np.zeros((0, self.features.base_dim), np.float32)  # ending streams' last frames wait for no look-ahead
        self._finalise([(s, nothing_new) for s in self._streams.values() if s.ending and s.final_done < s.base_done])

    def _frames_ready(self, s: _Stream) -> int:
        """Frames whose audio has arrived and whose centre lies in a chunk the VAD has seen."""
        whole = 0 if s.received < self._win else 1 + (s.received - self._win) // self._hop
        if not s.options.vad or s.vad_pos == s.received:
            return whole
        return min(whole, max(0, -(-(s.vad_pos - self._win // 2) // self._hop)))

    def _finalise(self, new_frames: list[tuple[_Stream, np.ndarray]]) -> None:
        """Turn streams' new base frames into full features. With Δ/ΔΔ, frames wait for their
        look-ahead (or the stream's end), and the streams whose held frames number the same get
        their deltas in one call."""
        if not self.features.deltas:
            for s, base in new_frames:
                s.ready.append(base)
                s.final_done += base.shape[0]
            return
        look = self.features.lookahead_frames
        by_length: dict[int, list[tuple[_Stream, int]]] = {}
        for s, base in new_frames:
            s.history = base if s.history is None else np.concatenate([s.history, base])
            stop = s.base_done if s.ending else s.base_done - look
            if stop > s.final_done:
                by_length.setdefault(len(s.history), []).append((s, stop))
        for group in by_length.values():
            full = with_deltas(np.stack([s.history for s, _ in group]))
            for (s, stop), features in zip(group, full):
                hist_start = s.base_done - len(s.history)
                s.ready.append(features[s.final_done - hist_start: stop - hist_start])
                s.final_done = stop
                s.history = s.history[max(0, stop - look - hist_start):]

    def _run_rnn(self, updates: dict[int, Update]) -> None:
        """One RNN call for every stream with new features (a second only where a reset splits a stream's frames).

        Per-stream work stays in numpy: onnxruntime calls release the GIL, and on a server each
        release lets the event loop in, so only the batched calls go through onnxruntime.
        """
        while True:
            batch: list[tuple[_Stream, np.ndarray]] = []
            for s in self._streams.values():
                while s.resets and s.resets[0] <= s.rnn_done:
                    s.resets.popleft()
                    for t in self._net_state:
                        t[:, s.slot] = 0
                    s.tracker.reset()
                if not s.ready:
                    continue
                ready = np.concatenate(s.ready) if len(s.ready) > 1 else s.ready[0]
                limit = s.resets[0] - s.rnn_done if s.resets else len(ready)
                batch.append((s, ready[:limit]))
                s.ready = [ready[limit:]] if limit < len(ready) else []
            if not batch:
                return
            self._rnn_batch(batch, updates)

    def _rnn_batch(self, batch: list[tuple[_Stream, np.ndarray]], updates: dict[int, Update]) -> None:
        """The new frames of these streams through the network: one call per number of frames
        (no padding, so every stream's state after the call is exact)."""
        by_count: dict[int, list[tuple[_Stream, np.ndarray]]] = {}
        for s, frames in batch:
            by_count.setdefault(len(frames), []).append((s, frames))
        for same_count in by_count.values():
            rows = [s.slot for s, _ in same_count]
            logp, new = self.model.network(np.stack([frames for _, frames in same_count]), tuple(t[:, rows] for t in self._net_state))
            for t, n in zip(self._net_state, new):
                t[:, rows] = n
            for row, (s, frames) in enumerate(same_count):
                speech = self._speech_flags(s, s.rnn_done, len(frames))
                s.rnn_done += len(frames)
                decisions = s.tracker.add(logp[row], speech, s.received)
                if decisions:
                    updates.setdefault(s.sid, Update()).decisions += decisions

    def _speech_flags(self, s: _Stream, first: int, n: int) -> np.ndarray:
        """Speech flag of frames ``first .. first + n``: the VAD decision of the chunk holding each frame's centre."""
        if not s.options.vad:
            return np.ones(n, dtype=bool)
        chunks = centre_chunks(first, n, self.features) - s.prob_offset
        lo = int(chunks[0])
        return np.array(s.probs[lo:int(chunks[-1]) + 1], dtype=np.float32)[chunks - lo] >= s.options.vad_threshold

    def _trim(self, s: _Stream) -> None:
        """Drop audio and VAD probabilities that no future frame or chunk needs."""
        keep_from = min(s.vad_pos, s.base_done * self._hop)
        if keep_from - s.offset > 4 * CHUNK:
            s.audio = s.audio[keep_from - s.offset:].copy()
            s.offset = keep_from
        first_chunk = (s.rnn_done * self._hop + self._win // 2) // CHUNK
        if first_chunk - s.prob_offset > 64:
            del s.probs[: first_chunk - s.prob_offset]
            s.prob_offset = first_chunk
