"""The features of ``voxgender.core.features`` in torch, for training: batches of augmented clips,
on a GPU when there is one. A test holds them equal to the NumPy features that inference uses."""

from __future__ import annotations

import numpy as np
import torch

from voxgender.core.features import LOG_FLOOR, FeatureConfig, deltas, feature_tables

FRAMES_AT_A_TIME = 4096  # spectra of a few thousand frames at a time, so memory stays small for long inputs


def torch_deltas(x: torch.Tensor) -> torch.Tensor:
    """Regression deltas along the frame axis (-2), computed by ``core.features.deltas`` on the tensor's memory."""
    return torch.from_numpy(deltas(x.detach().cpu().numpy())).to(x.device)


class FeatureExtractor(torch.nn.Module):
    """Waveform ``(..., samples)`` at 16 kHz -> features ``(..., frames, dim)``."""

    def __init__(self, cfg: FeatureConfig) -> None:
        super().__init__()
        self.cfg = cfg
        tables = feature_tables(cfg)
        self.register_buffer("window", torch.from_numpy(tables.window.astype(np.float32)), persistent=False)
        self.register_buffer("mel", torch.from_numpy(tables.mel), persistent=False)
        self.register_buffer("dct", torch.from_numpy(tables.dct), persistent=False)
        self.register_buffer("pitch", torch.from_numpy(tables.pitch), persistent=False)
        self.q_lo = tables.first_quefrency

    def base(self, wave: torch.Tensor) -> torch.Tensor:
        """Log-mel or MFCC frames without deltas."""
        cfg = self.cfg
        if wave.shape[-1] < cfg.win_length:
            return wave.new_zeros(*wave.shape[:-1], 0, cfg.base_dim)
        frames = wave.unfold(-1, cfg.win_length, cfg.hop_length)  # a view: no copy yet
        return torch.cat([self._frames(piece) for piece in frames.split(FRAMES_AT_A_TIME, dim=-2)], dim=-2)

    def _frames(self, frames: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft(frames * self.window, n=self.cfg.n_fft)
        power = spectrum.real.square() + spectrum.imag.square()
        logmel = torch.log(power @ self.mel + LOG_FLOOR)
        spectral = logmel @ self.dct if self.cfg.kind == "mfcc" else logmel
        if not self.cfg.pitch_bins:
            return spectral
        cepstrum = torch.fft.irfft(torch.log(power + LOG_FLOOR), n=self.cfg.n_fft)
        quefrencies = cepstrum[..., self.q_lo: self.q_lo + self.pitch.shape[0]]
        return torch.cat([spectral, quefrencies @ self.pitch], dim=-1)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        feats = self.base(wave)
        if not self.cfg.deltas:
            return feats
        d1 = torch_deltas(feats)
        return torch.cat([feats, d1, torch_deltas(d1)], dim=-1)
