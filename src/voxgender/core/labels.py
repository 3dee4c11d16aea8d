"""The labels a network decides between, their logit indices, and the one rule from p_female to a label."""

from __future__ import annotations

LABELS = ("female", "male")  # logit index -> label
FEMALE, MALE = 0, 1
SAMPLE_RATE = 16000  # Hz: all audio inside the package, once decoded


def label_of(p_female: float) -> str:
    """The label of a probability (ties go to female)."""
    return "female" if p_female >= 0.5 else "male"
