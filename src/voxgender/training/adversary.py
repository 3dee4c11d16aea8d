"""Domain-adversarial training against the corpus (Ganin & Lempitsky, 2015).

A small head learns to tell from the recurrent layers' output which training corpus a frame comes
from, while a gradient reversal pushes those layers the other way: toward features that carry the
speaker's gender but not the corpus's microphone, room, language or reading style. It exists only
while training; the saved model has no trace of it.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _ReverseGradient(torch.autograd.Function):
    """Identity on the way forward; the gradient times ``-scale`` on the way back."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` unchanged, with its gradient reversed and scaled by ``scale`` in the backward pass."""
    return _ReverseGradient.apply(x, scale)


def adversary_scale(weight: float, progress: float) -> float:
    """The reversed gradient's scale at ``progress`` (0-1) of training: it rises from 0 to
    ``weight`` along DANN's schedule 2 / (1 + e^(-10 p)) - 1, so the corpus head learns its task
    before the recurrent layers are pushed against it."""
    return weight * (2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0)


class CorpusAdversary(nn.Module):
    """Predicts the corpus of each frame from the recurrent output of width ``width``."""

    def __init__(self, width: int, corpora: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, corpora))

    def forward(self, frames: torch.Tensor, corpus: torch.Tensor, scale: float) -> torch.Tensor:
        """Cross-entropy of the corpus (one index per frame) from ``frames`` (frames, width), with
        the gradient that reaches ``frames`` reversed and scaled by ``scale``."""
        return nn.functional.cross_entropy(self.net(reverse_gradient(frames, scale)), corpus)
