"""GenderRNN: normalisation -> stacked GRU/LSTM -> dense -> two logits (female, male) per frame.

``forward(x, state) -> (logits, state)`` carries the recurrent state explicitly, so streaming is
the same call on small chunks. A unidirectional model streams exactly; a bidirectional one is
batch-only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Optional, Union

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CellKind = Literal["gru", "lstm"]
LABELS = ("female", "male")  # logit index -> label
FEMALE, MALE = 0, 1
State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor], None]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a GenderRNN. Stored inside every model."""

    input_dim: int = 40
    cell: CellKind = "gru"
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.1
    bidirectional: bool = False
    dense: int = 32

    def __post_init__(self) -> None:
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', not {self.cell!r}")
        if self.layers < 1 or self.hidden < 1:
            raise ValueError("layers and hidden must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, State]:
        """``x``: (batch, frames, input_dim) raw features -> logits (batch, frames, 2), new state.

        ``lengths`` (batch,) marks the valid frames of a padded batch; frames beyond a length get
        logits that must be ignored.
        """
        z = (x - self.feat_mean) / self.feat_std
        if lengths is not None:
            packed = pack_padded_sequence(z, lengths.cpu().clamp_min(1), batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed, state)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=z.shape[1])
        else:
            out, state = self.rnn(z, state)
        return self.head(out), state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
