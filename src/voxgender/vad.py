"""Speech detection with silero-vad (its bundled 16 kHz model), with explicit state.

silero-vad looks at 512-sample (32 ms) chunks, each with the 64 samples before it as context, and
carries a recurrent state. Keeping that state outside the model lets one call serve a batch of
independent streams (or of blocks of one long file), which is what makes many streams cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch

CHUNK = 512
CONTEXT = 64
CHUNK_S = CHUNK / 16000
STATE_SHAPE = (2, 128)


@dataclass
class VadState:
    """Recurrent state and audio context of a batch of streams: (2, B, 128) and (B, 64)."""

    state: torch.Tensor
    context: torch.Tensor

    @classmethod
    def zeros(cls, batch: int) -> "VadState":
        return cls(torch.zeros(STATE_SHAPE[0], batch, STATE_SHAPE[1]), torch.zeros(batch, CONTEXT))

    def select(self, rows: list[int]) -> "VadState":
        return VadState(self.state[:, rows], self.context[rows])

    @staticmethod
    def stack(states: list["VadState"]) -> "VadState":
        return VadState(torch.cat([s.state for s in states], dim=1), torch.cat([s.context for s in states]))


class SileroVad:
    """Speech probability per 32 ms chunk for a batch of streams, one model call per chunk step."""

    def __init__(self) -> None:
        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad  # importing it sets torch to one thread: undo that

        torch.set_num_threads(threads)
        self._net = load_silero_vad(onnx=False)._model

    @torch.no_grad()
    def step(self, chunks: torch.Tensor, state: VadState) -> tuple[torch.Tensor, VadState]:
        """``chunks`` (B, 512) float32 -> speech probabilities (B,) and the new state."""
        x = torch.cat([state.context, chunks], dim=1)
        prob, new_state = self._net(x, state.state)
        return prob.reshape(-1), VadState(new_state, x[:, -CONTEXT:])

    def probabilities(self, audio: np.ndarray, blocks: int = 1) -> np.ndarray:
        """Speech probability of each whole 32 ms chunk of ``audio``.

        With ``blocks`` > 1 the audio is cut into that many contiguous blocks that run as one
        batch (each block starts with a fresh state, so the first few chunks of a block see no
        history; this trades a tiny difference at block edges for batch speed).
        """
        n = len(audio) // CHUNK
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        blocks = max(1, min(blocks, n))
        per_block = -(-n // blocks)
        padded = np.zeros(per_block * blocks * CHUNK, dtype=np.float32)
        padded[: n * CHUNK] = audio[: n * CHUNK]
        grid = torch.from_numpy(padded).reshape(blocks, per_block, CHUNK)
        state = VadState.zeros(blocks)
        out = torch.empty(blocks, per_block)
        for i in range(per_block):
            out[:, i], state = self.step(grid[:, i], state)
        return out.reshape(-1)[:n].numpy()


SEQUENCE_CALL_CHUNKS = 2048  # chunks per call of the sequence model (about 65 s)


@dataclass
class SequenceState:
    """State of one stream through :class:`SequenceVad`: LSTM (h, c), each (1, 1, 128), and the
    last 64 samples seen."""

    h: np.ndarray
    c: np.ndarray
    context: np.ndarray

    @classmethod
    def zeros(cls) -> "SequenceState":
        zero = np.zeros((1, 1, STATE_SHAPE[1]), dtype=np.float32)
        return cls(zero, zero.copy(), np.zeros(CONTEXT, dtype=np.float32))


class SequenceVad:
    """silero-vad's sequence ONNX model: one call runs thousands of consecutive 32 ms chunks of a
    stream, with the recurrent loop inside ONNX Runtime (one thread, GIL released).

    The state is carried between calls, so a long file read block by block gets the same
    probabilities as one pass, and they match :class:`SileroVad` on one stream.
    """

    def __init__(self) -> None:
        import onnxruntime as ort

        threads = torch.get_num_threads()
        import silero_vad  # noqa: F401  importing it sets torch to one thread: undo that

        torch.set_num_threads(threads)
        path = resources.files("silero_vad.data") / "silero_vad_16k_sequence.onnx"
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    def probabilities(self, audio: np.ndarray, state: SequenceState | None = None) -> tuple[np.ndarray, SequenceState]:
        """Speech probability of each 32 ms chunk of ``audio`` and the state after it.

        ``audio`` must hold whole chunks, except at the end of a stream, where the last part is
        padded with zeros to a whole chunk.
        """
        state = state or SequenceState.zeros()
        n = -(-len(audio) // CHUNK)
        chunks = np.zeros((n, CHUNK), dtype=np.float32)
        chunks.reshape(-1)[: len(audio)] = audio
        probs = []
        h, c, context = state.h, state.c, state.context
        for first in range(0, n, SEQUENCE_CALL_CHUNKS):
            block = chunks[first:first + SEQUENCE_CALL_CHUNKS]
            contexts = np.concatenate([context[None], block[:-1, -CONTEXT:]])
            p, h, c = self._session.run(["speech_probs", "hn", "cn"], {"input": np.hstack([contexts, block]), "h": h, "c": c})
            probs.append(p.reshape(-1))
            context = block[-1, -CONTEXT:].copy()
        out = np.concatenate(probs) if probs else np.zeros(0, dtype=np.float32)
        return out, SequenceState(h, c, context)
