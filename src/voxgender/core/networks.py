"""The network as inference sees it.

``ModelConfig`` is the architecture that a model file describes. ``FrameNetwork`` is the contract
every runtime of it fulfils, in NumPy: ``network(features (B, T, D), state) -> (frame
log-posteriors (B, T, 2) over (female, male), state)``. Streaming is the same call on small chunks,
carrying the state. Inference runs the exported ONNX graph (``voxgender.core.onnx_network``);
training wraps its torch modules in the same contract (``voxgender.training.networks``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Protocol, Sequence

import numpy as np

CellKind = Literal["gru", "lstm"]
Normalisation = Literal["global", "causal"]
NumpyState = tuple[np.ndarray, ...]  # (h,) for a GRU, (h, c) for an LSTM, then the running sums if causal; streams along axis 1


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
    normalisation: Normalisation = "causal"
    prior_frames: int = 50  # causal normalisation: weight of the training mean in the running mean
    members: int = 1  # networks of this architecture averaged (an ensemble; see `voxgender ensemble`)

    def __post_init__(self) -> None:
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', not {self.cell!r}")
        if self.normalisation not in ("global", "causal"):
            raise ValueError(f"normalisation must be 'global' or 'causal', not {self.normalisation!r}")
        if self.layers < 1 or self.hidden < 1 or self.members < 1:
            raise ValueError("layers, hidden and members must be positive")

    @property
    def num_parameters(self) -> int:
        """Trainable parameters of the whole model (every member)."""
        gates, directions = (4 if self.cell == "lstm" else 3), (2 if self.bidirectional else 1)
        rnn = sum(gates * (size * self.hidden + self.hidden * self.hidden + 2 * self.hidden) * directions
                  for size in [self.input_dim] + [self.hidden * directions] * (self.layers - 1))
        head = self.hidden * directions * self.dense + self.dense + self.dense * 2 + 2
        return (rnn + head) * self.members

    def describe(self) -> str:
        """Say "GRU 2x64, 51,298 parameters" (with the members of an ensemble)."""
        members = f" x {self.members} members" if self.members > 1 else ""
        return f"{self.cell.upper()} {self.layers}x{self.hidden}{members}, {self.num_parameters:,} parameters"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """A saved config; one saved before the ``normalisation`` option was global."""
        known = {f.name for f in fields(cls)}
        return cls(**{"normalisation": "global", **{k: v for k, v in data.items() if k in known}})



def zero_state(cfg: ModelConfig, batch: int) -> NumpyState:
    """The state of ``batch`` fresh streams of one network of ``cfg``."""
    rnn = [np.zeros((cfg.layers * (2 if cfg.bidirectional else 1), batch, cfg.hidden), np.float32)
           for _ in range(2 if cfg.cell == "lstm" else 1)]
    running = [np.zeros((1, batch, cfg.input_dim + 1), np.float32)] if cfg.normalisation == "causal" else []
    return (*rnn, *running)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return (shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))).astype(np.float32, copy=False)


def combine_members(log_posteriors: Sequence[np.ndarray]) -> np.ndarray:
    """An ensemble's frame log-posteriors from its members' of the same frames: the normalised
    geometric mean of their posteriors, so a frame's log-odds are the mean of the members' log-odds."""
    return log_softmax(np.mean(np.stack(list(log_posteriors)), axis=0))


class FrameNetwork(Protocol):
    """A runtime of a gender network: frame log-posteriors from raw feature frames (it normalises them)."""

    cfg: ModelConfig

    @property
    def members(self) -> Sequence["FrameNetwork"]:
        """The single networks it averages (itself when it is one)."""

    def __call__(self, x: np.ndarray, state: NumpyState | None = None) -> tuple[np.ndarray, NumpyState]:
        """``x`` (batch, frames, input_dim) float32 -> log-posteriors (batch, frames, 2) and the state after them."""


class Ensemble:
    """Several networks of one architecture over the same features: their frame log-posteriors
    combined (``combine_members``). The state is the members' states one after the other."""

    def __init__(self, cfg: ModelConfig, members: Sequence[FrameNetwork]) -> None:
        self.cfg = cfg
        self.members = list(members)
        self._size = len(zero_state(self.members[0].cfg, 0))

    def __call__(self, x: np.ndarray, state: NumpyState | None = None) -> tuple[np.ndarray, NumpyState]:
        k = self._size
        outputs = [member(x, state[i * k:(i + 1) * k] if state else None) for i, member in enumerate(self.members)]
        return combine_members([logp for logp, _ in outputs]), tuple(t for _, s in outputs for t in s)


def network_state(cfg: ModelConfig, batch: int) -> NumpyState:
    """The zero state of a whole model of ``cfg`` (every member's, one after the other)."""
    return tuple(t for _ in range(cfg.members) for t in zero_state(cfg, batch))
