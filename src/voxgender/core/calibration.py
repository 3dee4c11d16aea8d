"""Calibrated probabilities: Platt scaling of a file's mean log-odds, and the measures that check it.

A network trained on crops and averaged over frames is over-confident on speech unlike its
training data, and leans toward one label where pitch misleads it. ``Calibration`` maps the mean
female-vs-male log-odds ``z`` of a file to ``sigmoid(scale * z + bias)``; it is fitted on
validation speakers with both genders weighted alike (so that 0.5 is where the two kinds of error
balance) and stored in the model's config. Arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

ECE_BINS = 10
EPSILON = 1e-6


def logit(p: np.ndarray | float) -> np.ndarray:
    """log(p / (1 - p)), with p clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=float), EPSILON, 1 - EPSILON)
    return np.log(q / (1 - q))


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


@dataclass(frozen=True)
class Calibration:
    """p_female = sigmoid(scale * log-odds + bias); the identity is scale 1, bias 0."""

    scale: float = 1.0
    bias: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.scale) and self.scale > 0 and np.isfinite(self.bias)):
            raise ValueError(f"calibration needs a finite positive scale and a finite bias, not {self}")

    def __call__(self, p_female: np.ndarray | float) -> np.ndarray:
        """Calibrated p_female of uncalibrated ones (the sigmoid of the mean log-odds)."""
        return sigmoid(self.scale * logit(p_female) + self.bias)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Calibration | None":
        return None if not data else cls(float(data["scale"]), float(data["bias"]))


def fit_calibration(p_female: Sequence[float], is_female: Sequence[bool]) -> Calibration:
    """Platt scaling of uncalibrated ``p_female`` against the truth, each gender weighted alike."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(is_female, dtype=int)
    if len(set(y.tolist())) < 2:
        raise ValueError("calibration needs clips of both genders")
    z = logit(p_female).reshape(-1, 1)
    fit = LogisticRegression(C=1e4, class_weight="balanced").fit(z, y)
    return Calibration(float(fit.coef_[0, 0]), float(fit.intercept_[0]))


def confidence_of(p_female: np.ndarray) -> np.ndarray:
    """The probability of the chosen label."""
    p = np.asarray(p_female, dtype=float)
    return np.maximum(p, 1 - p)


def reliability(p_female: Sequence[float], is_female: Sequence[bool], bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per confidence bin over [0.5, 1]: clips, mean confidence and accuracy (empty bins left out)."""
    p = np.asarray(p_female, dtype=float)
    correct = (p >= 0.5) == np.asarray(is_female, dtype=bool)
    confidence = confidence_of(p)
    edges = np.linspace(0.5, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    return [{"low": float(edges[b]), "high": float(edges[b + 1]), "n": int((index == b).sum()),
             "confidence": float(confidence[index == b].mean()), "accuracy": float(correct[index == b].mean())}
            for b in range(bins) if (index == b).any()]


def expected_calibration_error(p_female: Sequence[float], is_female: Sequence[bool], bins: int = ECE_BINS) -> float:
    """The clip-weighted mean gap between confidence and accuracy over ``bins`` confidence bins."""
    rows = reliability(p_female, is_female, bins)
    total = sum(r["n"] for r in rows)
    return float(sum(r["n"] * abs(r["confidence"] - r["accuracy"]) for r in rows) / total) if total else 0.0


def coverage_curve(p_female: Sequence[float], is_female: Sequence[bool],
                   thresholds: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)) -> list[dict[str, float]]:
    """For each minimum confidence: the share of clips answered (coverage), the error among them and
    their UAR (None where a gender has no answered clip)."""
    p = np.asarray(p_female, dtype=float)
    female = np.asarray(is_female, dtype=bool)
    correct = (p >= 0.5) == female
    confidence = confidence_of(p)
    rows = []
    for threshold in thresholds:
        kept = confidence >= threshold
        recalls = [correct[kept & (female == g)].mean() for g in (True, False) if (kept & (female == g)).any()]
        rows.append({"min_confidence": float(threshold), "coverage": float(kept.mean()),
                     "error": float(1 - correct[kept].mean()) if kept.any() else None,
                     "uar": float(np.mean(recalls)) if len(recalls) == 2 else None})
    return rows
