"""Resemblyzer's GE2E voice encoder, read from its wheel, for experiments only (not a dependency).

A 3-layer LSTM over 40 power-mel bands, trained for speaker verification on LibriSpeech
train-other-500, VoxCeleb1 and VoxCeleb2 (several thousand speakers, Apache-2.0 weights); it never
saw a gender label. Its frames are librosa's melspectrogram (Slaney filters), rebuilt here without
librosa and webrtcvad; silences are not cut before embedding.

    .venv/bin/pip download resemblyzer==0.1.4 --no-deps -d runs/resemblyzer
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from voxgender.io.audio import SAMPLE_RATE

WEIGHTS_IN_WHEEL = "resemblyzer/pretrained.pt"
N_FFT, HOP, N_MELS = 400, 160, 40  # 25-ms window, 10-ms step, 40 bands
PARTIAL, PARTIAL_STEP = 160, 77  # 1.6-s windows, about 1.3 per second (Resemblyzer's embed_utterance)
TARGET_DBFS = -30.0  # quieter audio is raised to this level, never lowered


def slaney_mel_filters(n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa's default mel filters (Slaney scale, area norm), shape (n_mels, n_fft // 2 + 1)."""
    step, log_step = 200.0 / 3, np.log(6.4) / 27  # linear below 1 kHz, logarithmic above

    def to_mel(hz: np.ndarray) -> np.ndarray:
        return np.where(hz >= 1000, 15 + np.log(np.maximum(hz, 1e-9) / 1000) / log_step, hz / step)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel >= 15, 1000 * np.exp(log_step * (mel - 15)), mel * step)

    fft_hz = np.linspace(0, SAMPLE_RATE / 2, n_fft // 2 + 1)
    edges = to_hz(np.linspace(0, to_mel(np.array(SAMPLE_RATE / 2)), n_mels + 2))
    rising = (fft_hz[None] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - fft_hz[None]) / np.diff(edges)[1:, None]
    filters = np.maximum(0, np.minimum(rising, falling))
    return (filters * (2 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


class SpeakerEncoder(torch.nn.Module):
    """L2-normalised 256-d embeddings of 1.6-s windows, averaged per utterance."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        self.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in ("lstm", "linear")})
        self.register_buffer("mel", torch.from_numpy(slaney_mel_filters()), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.eval()

    @classmethod
    def from_wheel(cls, wheel: Path) -> SpeakerEncoder:
        with zipfile.ZipFile(wheel) as archive:
            checkpoint = torch.load(io.BytesIO(archive.read(WEIGHTS_IN_WHEEL)), map_location="cpu")
        return cls(checkpoint["model_state"])

    def mel_frames(self, wave: np.ndarray) -> torch.Tensor:
        """Power-mel frames (frames, 40) of 16-kHz audio, raised to -30 dBFS if quieter."""
        rms_db = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) + 1e-12)
        gain = max(1.0, 10 ** ((TARGET_DBFS - rms_db) / 20))
        x = torch.from_numpy((wave * gain).astype(np.float32))
        spec = torch.stft(x, N_FFT, HOP, N_FFT, self.window, center=True, pad_mode="constant", return_complex=True)
        return (self.mel @ spec.abs() ** 2).T

    @torch.inference_mode()
    def embed(self, wave: np.ndarray) -> np.ndarray:
        """The utterance embedding: its windows' embeddings averaged and renormalised."""
        frames = self.mel_frames(wave)
        if len(frames) < PARTIAL:
            frames = torch.cat([frames, frames.new_zeros(PARTIAL - len(frames), N_MELS)])
        starts = list(range(0, len(frames) - PARTIAL + 1, PARTIAL_STEP))
        if len(frames) - (starts[-1] + PARTIAL) > PARTIAL // 4:
            starts.append(len(frames) - PARTIAL)
        _, (hidden, _) = self.lstm(torch.stack([frames[s:s + PARTIAL] for s in starts]))
        windows = torch.relu(self.linear(hidden[-1]))
        mean = (windows / windows.norm(dim=1, keepdim=True)).mean(0)
        return (mean / mean.norm()).numpy()
