"""Speech detection with silero-vad (its bundled 16 kHz model), with explicit state.

silero-vad looks at 512-sample (32 ms) chunks, each with the 64 samples before it as context, and
carries a recurrent state. :class:`SileroVad` runs its network in two ways: a batch of live streams
one chunk at a time, or one recording as a sequence of thousands of chunks per pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from voxgender.core.features import FeatureConfig

CHUNK = 512
CONTEXT = 64
STATE_SHAPE = (2, 128)


@dataclass
class VadState:
    """Recurrent state (h and c stacked) and audio context of a batch of streams: (2, B, 128) and (B, 64)."""

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

    @property
    def lstm_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, c), each (1, B, 128), as torch's LSTM takes them."""
        return self.state[:1].contiguous(), self.state[1:].contiguous()


@lru_cache(maxsize=1)
def silero_network() -> torch.jit.ScriptModule:
    """silero-vad's 16 kHz network (TorchScript, as silero ships it), loaded once per process."""
    threads = torch.get_num_threads()
    from silero_vad import load_silero_vad  # importing it sets torch to one thread: undo that

    torch.set_num_threads(threads)
    return load_silero_vad(onnx=False)._model


SEQUENCE_CHUNKS = 500  # chunks (16 s) per pass over a recording: memory stays small and speed is at its best
FFT_SIZE, FFT_HOP = 256, 128  # silero's spectrogram of each chunk with its context ...
REFLECT_PAD = 64  # ... after padding it on the right by reflection: 4 frames


def _as_matrix(conv: torch.nn.Module, channels: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A Conv1d on inputs of ``length`` frames as one matrix and bias acting on (channels x length)
    flattened inputs: a convolution over 1 to 4 frames runs faster as one matrix product."""
    basis = torch.eye(channels * length).reshape(-1, channels, length)
    bias = conv(torch.zeros(1, channels, length))
    return (conv(basis) - bias).flatten(1), bias.flatten()


class SileroVad:
    """Speech probability per 32 ms chunk: silero-vad's network with its own weights, run faster.

    The spectrogram is computed by FFT (silero uses a convolution, and also computes a phase it
    never uses), the encoder's convolutions over 1 to 4 frames as matrix products, the recurrent
    cell as an LSTM. Its probabilities are silero's within 1e-5 (``tests/test_segment.py``). Two
    ways to run it:

    - :meth:`step`: a batch of independent live streams, one chunk each, the state kept outside
      the network (:class:`VadState`), so that one call serves many streams;
    - :meth:`probabilities`: one recording (a clip, or a long file block by block) as a sequence:
      the spectrogram and encoder of thousands of chunks at once, then the LSTM over them in one
      call. Carrying the state from call to call, a recording cut into pieces gives what it gives
      whole.

    It gives the probabilities of silero's TorchScript run chunk by chunk within 1e-5, about 13x
    faster (experiments/LOG.md).
    """

    def __init__(self) -> None:
        net = silero_network()
        self._window = torch.hann_window(FFT_SIZE, periodic=True)
        self._encoder: list[tuple[torch.Tensor, torch.Tensor]] = []
        channels, frames = FFT_SIZE // 2 + 1, (CONTEXT + CHUNK + REFLECT_PAD - FFT_SIZE) // FFT_HOP + 1
        with torch.no_grad():
            for block in net.encoder.children():
                conv = block.reparam_conv
                weight, bias = _as_matrix(conv, channels, frames)
                self._encoder.append((weight, bias))
                channels, frames = conv.out_channels, bias.numel() // conv.out_channels
            cell = net.decoder.rnn
            self._lstm = torch.nn.LSTM(cell.input_size, cell.hidden_size, batch_first=True)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self._lstm, f"{name}_l0").copy_(getattr(cell, name))
            head = getattr(net.decoder.decoder, "2")  # (dropout, ReLU, 1x1 convolution, sigmoid)
            self._head = (head.weight[:, :, 0].T.clone(), head.bias.clone())

    @torch.no_grad()
    def step(self, chunks: torch.Tensor, state: VadState) -> tuple[torch.Tensor, VadState]:
        """``chunks`` (B, R, 512) float32, R chunks in a row of each of B streams -> speech
        probabilities (B, R) and the state after them: one call for R rounds."""
        rows, rounds, _ = chunks.shape
        wave = torch.cat([state.context, chunks.reshape(rows, rounds * CHUNK)], dim=1)
        windows = wave.unfold(1, CONTEXT + CHUNK, CHUNK).reshape(rows * rounds, CONTEXT + CHUNK)
        out, (h, c) = self._lstm(self._encode(windows).reshape(rows, rounds, -1), state.lstm_state)
        probs = self._probability(out.reshape(rows * rounds, -1)).reshape(rows, rounds)
        return probs, VadState(torch.cat([h, c]), wave[:, -CONTEXT:].clone())

    @torch.no_grad()
    def probabilities(self, audio: np.ndarray, state: VadState | None = None) -> tuple[np.ndarray, VadState]:
        """Probabilities of the chunks of one stream's ``audio`` following ``state`` (a fresh stream
        when None), and the state after them. A last partial chunk is zero-padded: only the
        stream's end may have one."""
        state = state or VadState.zeros(1)
        n = -(-len(audio) // CHUNK)
        if n == 0:
            return np.zeros(0, np.float32), state
        wave = torch.zeros(CONTEXT + n * CHUNK)
        wave[:CONTEXT] = state.context[0]
        wave[CONTEXT:CONTEXT + len(audio)] = torch.from_numpy(np.asarray(audio, dtype=np.float32))
        hc, out = state.lstm_state, []
        for first in range(0, n, SEQUENCE_CHUNKS):
            windows = wave[first * CHUNK:(first + SEQUENCE_CHUNKS) * CHUNK + CONTEXT].unfold(0, CONTEXT + CHUNK, CHUNK)
            hidden, hc = self._lstm(self._encode(windows)[None], hc)
            out.append(self._probability(hidden[0]))
        return torch.cat(out).numpy(), VadState(torch.cat(hc), wave[None, -CONTEXT:].clone())

    def _encode(self, windows: torch.Tensor) -> torch.Tensor:
        """(chunks, 576) context + chunk windows -> (chunks, 128) encoder outputs."""
        padded = torch.nn.functional.pad(windows[:, None], (0, REFLECT_PAD), mode="reflect")[:, 0]
        frames = padded.unfold(-1, FFT_SIZE, FFT_HOP) * self._window
        x = torch.fft.rfft(frames).abs().transpose(1, 2).flatten(1)  # (chunks, bins x frames)
        for weight, bias in self._encoder:
            x = torch.relu(torch.addmm(bias, x, weight))
        return x

    def _probability(self, hidden: torch.Tensor) -> torch.Tensor:
        """(chunks, 128) LSTM outputs -> (chunks,) speech probabilities."""
        weight, bias = self._head
        return torch.sigmoid(torch.addmm(bias, torch.relu(hidden), weight)).reshape(-1)


@lru_cache(maxsize=1)
def shared_vad() -> SileroVad:
    """One silero-vad per process (it is stateless: states are passed in)."""
    return SileroVad()


def centre_chunks(first: int, n: int, features: FeatureConfig) -> np.ndarray:
    """Index of the 32 ms VAD chunk that holds the centre of each frame ``first .. first + n``."""
    return (np.arange(first, first + n) * features.hop_length + features.win_length // 2) // CHUNK


def speech_frames(audio: np.ndarray, n_frames: int, features: FeatureConfig, threshold: float = 0.5) -> np.ndarray:
    """Speech flag of each of the first ``n_frames`` frames of a whole waveform, as one stream sets them."""
    probs, _ = shared_vad().probabilities(audio)
    return probs[centre_chunks(0, n_frames, features)] >= threshold
