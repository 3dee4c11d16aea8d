"""Speech detection with silero-vad's 16 kHz network, on onnxruntime, with explicit state.

silero-vad looks at 512-sample (32 ms) chunks, each with the 64 samples before it as context, and
carries a recurrent state. The bundled graph (``pretrained/silero-vad``, MIT, exported from
silero's weights by ``voxgender.training.export.vad_graph``) takes the magnitude spectra of any
number of chunks of any number of streams and runs its LSTM along them in one call; the spectra are
computed here by FFT. silero's own ONNX files run one chunk per call (``silero_vad.onnx``) or one
stream at a time (``silero_vad_16k_sequence.onnx``); a test holds this graph's probabilities to the
second one's. :class:`SileroVad` runs it two ways:

- :meth:`SileroVad.step`: a batch of live streams, several chunks each, the state kept outside
  (:class:`VadState`), so that one call serves many streams;
- :meth:`SileroVad.probabilities`: one recording (a clip, or a long file block by block) as one
  sequence; carrying the state from call to call, a recording cut into pieces gives what it gives whole.

:func:`speech_until` is the cheap question a file-level decision asks: is there enough speech? It
hears a recording half a second at a time and stops as soon as the answer is yes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from voxgender.core.blocks import by_blocks
from voxgender.core.features import FeatureConfig
from voxgender.core.labels import SAMPLE_RATE
from voxgender.core.onnx_runtime import new_session

CHUNK = 512
CHUNK_S = CHUNK / SAMPLE_RATE
CONTEXT = 64
SPEECH_THRESHOLD = 0.5  # a chunk is speech when silero-vad's probability reaches this
HIDDEN = 128
SEQUENCE_CHUNKS = 500  # chunks (16 s) per pass over a recording: memory stays small
GATE_CHUNKS = 16  # chunks (0.5 s) that ``speech_until`` hears at a time
FFT_SIZE, FFT_HOP = 256, 128  # silero's spectrogram of each chunk with its context ...
REFLECT_PAD = 64  # ... after padding it on the right by reflection: 4 frames
SPECTRUM_FRAMES = (CONTEXT + CHUNK + REFLECT_PAD - FFT_SIZE) // FFT_HOP + 1
SPECTRA_BLOCK = 256  # windows per FFT pass: a block's float64 spectra stay in the CPU cache
SPECTRA, PROBS = "spectra", "speech_probs"


def bundled_vad_graph() -> Path:
    """silero-vad's network as this package ships it (ONNX)."""
    return Path(str(resources.files("voxgender") / "pretrained" / "silero-vad" / "silero_vad_spectra.onnx"))


@dataclass
class VadState:
    """LSTM state (h and c stacked) and audio context of a batch of streams: (2, B, 128) and (B, 64)."""

    state: np.ndarray
    context: np.ndarray

    @classmethod
    def zeros(cls, batch: int) -> "VadState":
        return cls(np.zeros((2, batch, HIDDEN), np.float32), np.zeros((batch, CONTEXT), np.float32))

    def select(self, rows: list[int]) -> "VadState":
        return VadState(self.state[:, rows], self.context[rows])

    @staticmethod
    def stack(states: list["VadState"]) -> "VadState":
        return VadState(np.concatenate([s.state for s in states], axis=1), np.concatenate([s.context for s in states]))


HANN = 0.5 - 0.5 * np.cos(2 * math.pi * np.arange(FFT_SIZE) / FFT_SIZE)  # periodic; float64, as NumPy's float32 FFT is slower


def chunk_spectra(windows: np.ndarray) -> np.ndarray:
    """(..., 576) context + chunk windows -> silero's magnitude spectra (..., 129, 4), a block of
    windows at a time (``core.blocks``)."""
    flat = windows.reshape(-1, windows.shape[-1])
    out = by_blocks(_block_spectra, flat, SPECTRA_BLOCK, np.empty((len(flat), FFT_SIZE // 2 + 1, SPECTRUM_FRAMES), np.float32))
    return out.reshape(*windows.shape[:-1], *out.shape[1:])


def _block_spectra(windows: np.ndarray) -> np.ndarray:
    reflection = windows[..., -2:-2 - REFLECT_PAD:-1]  # np.pad's "reflect", without its per-call cost
    padded = np.concatenate([windows, reflection], axis=-1)
    frames = np.lib.stride_tricks.sliding_window_view(padded, FFT_SIZE, axis=-1)[..., ::FFT_HOP, :]
    return np.abs(np.fft.rfft(frames * HANN)).swapaxes(-1, -2)


def _windows(wave: np.ndarray, chunks: int) -> np.ndarray:
    """(B, 64 + chunks * 512) context and audio -> (B, chunks, 576) windows (a view)."""
    return np.lib.stride_tricks.sliding_window_view(wave, CONTEXT + CHUNK, axis=-1)[:, :chunks * CHUNK:CHUNK]


class SileroVad:
    """Speech probability per 32 ms chunk, from silero-vad's network (see the module's docstring)."""

    def __init__(self, graph: str | Path | None = None) -> None:
        self._session = new_session(str(graph or bundled_vad_graph()))

    def _run(self, windows: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, R, 576) windows and (2, B, 128) state -> probabilities (B, R) and the new state."""
        probs, h, c = self._session.run(None, {SPECTRA: chunk_spectra(windows), "h": state[:1], "c": state[1:]})
        return probs, np.concatenate([h, c])

    def step(self, chunks: np.ndarray, state: VadState) -> tuple[np.ndarray, VadState]:
        """``chunks`` (B, R, 512) float32, R chunks in a row of each of B streams -> speech
        probabilities (B, R) and the state after them: one call for R rounds."""
        rows, rounds, _ = chunks.shape
        wave = np.concatenate([state.context, chunks.reshape(rows, rounds * CHUNK)], axis=1)
        probs, new = self._run(_windows(wave, rounds), np.ascontiguousarray(state.state))
        return probs, VadState(new, wave[:, -CONTEXT:].copy())

    def probabilities(self, audio: np.ndarray, state: VadState | None = None) -> tuple[np.ndarray, VadState]:
        """Probabilities of the chunks of one stream's ``audio`` following ``state`` (a fresh stream
        when None), and the state after them. A last partial chunk is zero-padded: only the
        stream's end may have one."""
        state = state or VadState.zeros(1)
        n = -(-len(audio) // CHUNK)
        if n == 0:
            return np.zeros(0, np.float32), state
        wave = np.zeros((1, CONTEXT + n * CHUNK), np.float32)
        wave[0, :CONTEXT] = state.context[0]
        wave[0, CONTEXT:CONTEXT + len(audio)] = audio
        lstm, out = np.ascontiguousarray(state.state), []
        for first in range(0, n, SEQUENCE_CHUNKS):
            count = min(SEQUENCE_CHUNKS, n - first)
            probs, lstm = self._run(_windows(wave[:, first * CHUNK:], count), lstm)
            out.append(probs[0])
        return np.concatenate(out), VadState(lstm, wave[:, -CONTEXT:].copy())


@lru_cache(maxsize=1)
def shared_vad() -> SileroVad:
    """One silero-vad per process (it is stateless: states are passed in)."""
    return SileroVad()


def centre_chunks(first: int, n: int, features: FeatureConfig) -> np.ndarray:
    """Index of the 32 ms VAD chunk that holds the centre of each frame ``first .. first + n``."""
    return (np.arange(first, first + n) * features.hop_length + features.win_length // 2) // CHUNK


def speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """silero-vad's speech probability of each 32 ms chunk of a whole waveform."""
    return shared_vad().probabilities(audio)[0]


def speech_seconds(probs: np.ndarray, threshold: float = SPEECH_THRESHOLD) -> float:
    """Seconds of the chunks whose speech probability reaches ``threshold``."""
    return float(np.count_nonzero(probs >= threshold)) * CHUNK_S


def speech_until(audio: np.ndarray, enough_s: float, state: VadState | None = None) -> tuple[float, VadState]:
    """Seconds of speech in one stream's ``audio`` (following ``state``), heard ``GATE_CHUNKS`` at a
    time and no further once ``enough_s`` are heard; and the state after what was heard. Below
    ``enough_s`` the figure is that of the whole ``audio``, as ``probabilities`` gives it."""
    vad, heard, state = shared_vad(), 0.0, state or VadState.zeros(1)
    step = GATE_CHUNKS * CHUNK
    for start in range(0, len(audio), step):
        if heard >= enough_s:
            break
        probs, state = vad.probabilities(audio[start:start + step], state)
        heard += speech_seconds(probs)
    return heard, state


def frame_flags(probs: np.ndarray, n_frames: int, features: FeatureConfig, threshold: float = SPEECH_THRESHOLD) -> np.ndarray:
    """Speech flag of each of the first ``n_frames`` frames, from the probabilities of a waveform's chunks."""
    return probs[centre_chunks(0, n_frames, features)] >= threshold


def speech_frames(audio: np.ndarray, n_frames: int, features: FeatureConfig, threshold: float = SPEECH_THRESHOLD) -> np.ndarray:
    """Speech flag of each of the first ``n_frames`` frames of a whole waveform, as one stream sets them."""
    return frame_flags(speech_probabilities(audio), n_frames, features, threshold)
