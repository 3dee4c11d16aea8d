"""GenderRNN: normalisation -> stacked GRU/LSTM -> dense -> two logits (female, male) per frame.
GenderEnsemble: several GenderRNNs over the same features, saved as one model.

``forward(x, state) -> (logits, state)`` carries the state explicitly, so streaming is the same
call on small chunks. A unidirectional model streams exactly; a bidirectional one is batch-only.

Normalisation is either ``global`` (the training set's mean and standard deviation) or ``causal``:
each frame first has the running mean of its recording so far subtracted, with the training mean
as a prior worth ``prior_frames`` frames, so a channel's constant colouring (microphone, codec,
room) cancels within seconds while the model stays causal. The running sum and count are part of
the state.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from voxgender.core.networks import Ensemble, FrameNetwork, ModelConfig, NumpyState, zero_state

State = Optional[tuple[torch.Tensor, ...]]  # (h,) for a GRU, (h, c) for an LSTM, then the running sums if causal


class GenderRNN(nn.Module):
    """Per-frame gender logits from (normalised inside) feature frames."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feat_mean", torch.zeros(cfg.input_dim))
        self.register_buffer("feat_std", torch.ones(cfg.input_dim))
        rnn_cls = nn.GRU if cfg.cell == "gru" else nn.LSTM
        self.rnn = rnn_cls(
            cfg.input_dim, cfg.hidden, num_layers=cfg.layers, batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0, bidirectional=cfg.bidirectional,
        )
        width = cfg.hidden * (2 if cfg.bidirectional else 1)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(width, cfg.dense), nn.ReLU(), nn.Linear(cfg.dense, 2))

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training-set feature statistics used to normalise every input."""
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp_min(1e-5))

    def zero_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        """The state of ``batch`` fresh streams, each tensor with the streams along dimension 1."""
        return tuple(torch.from_numpy(t) for t in zero_state(self.cfg, batch))

    def normalise(
        self, x: torch.Tensor, running: Optional[torch.Tensor] = None, lengths: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Normalised frames and, if causal, the new running (sum, count) of shape (1, batch, dim + 1)."""
        if self.cfg.normalisation == "global":
            return (x - self.feat_mean) / self.feat_std, None
        batch, frames, dim = x.shape
        if running is None:
            running = x.new_zeros(1, batch, dim + 1)
        past_sum, past_count = running[0, :, None, :dim], running[0, :, None, dim:]
        sums = torch.cumsum(x, dim=1)
        counts = torch.arange(1, frames + 1, dtype=x.dtype).view(1, frames, 1)
        prior = self.cfg.prior_frames
        mean = (past_sum + sums + prior * self.feat_mean) / (past_count + counts + prior)
        used = torch.full((batch,), frames) if lengths is None else lengths.cpu().clamp(0, frames)
        sums = torch.cat([x.new_zeros(batch, 1, dim), sums], dim=1)[torch.arange(batch), used]
        new = torch.cat([past_sum[:, 0] + sums, past_count[:, 0] + used[:, None].to(x.dtype)], dim=1)[None]
        return (x - mean) / self.feat_std, new

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: Optional[torch.Tensor] = None, return_hidden: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]] | tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
        """``x``: (batch, frames, input_dim) raw features -> logits (batch, frames, 2), new state,
        and with ``return_hidden`` the last recurrent layer's output (batch, frames, width) too.

        ``lengths`` (batch,) marks the valid frames of a padded batch; frames beyond a length get
        logits that must be ignored.
        """
        cells = 2 if self.cfg.cell == "lstm" else 1
        state = state or (None,) * (cells + 1)
        rnn_state = state[0] if cells == 1 else (None if state[0] is None else tuple(state[:2]))
        z, running = self.normalise(x, state[cells] if len(state) > cells else None, lengths)
        if lengths is not None:
            packed = pack_padded_sequence(z, lengths.cpu().clamp_min(1), batch_first=True, enforce_sorted=False)
            out, rnn_state = self.rnn(packed, rnn_state)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=z.shape[1])
        else:
            out, rnn_state = self.rnn(z, rnn_state)
        new_state = (rnn_state,) if cells == 1 else tuple(rnn_state)
        new_state += (running,) if running is not None else ()
        return (self.head(out), new_state, out) if return_hidden else (self.head(out), new_state)



class GenderEnsemble(nn.Module):
    """``cfg.members`` GenderRNNs of one architecture over the same features, saved as one model.
    Inference runs each member's graph and combines their frame log-posteriors
    (``voxgender.core.networks.combine_members``: a frame's log-odds are the mean of the members')."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.members = nn.ModuleList(GenderRNN(replace(cfg, members=1)) for _ in range(cfg.members))


def member_networks(net: GenderRNN | GenderEnsemble) -> list[GenderRNN]:
    """The single networks of a model: an ensemble's members, or the network itself."""
    return list(net.members) if isinstance(net, GenderEnsemble) else [net]


def build_net(cfg: ModelConfig) -> GenderRNN | GenderEnsemble:
    """The network that ``cfg`` describes: one GenderRNN, or an ensemble of ``cfg.members``."""
    return GenderEnsemble(cfg) if cfg.members > 1 else GenderRNN(cfg)


class TorchNetwork:
    """A single GenderRNN in the NumPy contract of ``FrameNetwork``: what training validates with."""

    def __init__(self, net: GenderRNN) -> None:
        self.net = net.eval()
        self.cfg = net.cfg

    @property
    def members(self) -> list["TorchNetwork"]:
        return [self]

    @torch.no_grad()
    def __call__(self, x: np.ndarray, state: NumpyState | None = None) -> tuple[np.ndarray, NumpyState]:
        self.net.eval()  # training switches it to train mode between validations
        logits, new = self.net(torch.from_numpy(x), tuple(torch.from_numpy(t) for t in state) if state else None)
        return torch.log_softmax(logits, dim=-1).numpy(), tuple(t.numpy() for t in new)


def torch_network(net: GenderRNN | GenderEnsemble) -> FrameNetwork:
    """A torch model (one network or an ensemble) in the NumPy contract that ``voxgender.Model`` runs."""
    if isinstance(net, GenderEnsemble):
        return Ensemble(net.cfg, [TorchNetwork(member) for member in net.members])
    return TorchNetwork(net)
