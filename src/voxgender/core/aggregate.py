"""Turn per-frame posteriors into decisions. Each function takes and returns plain arrays.

``log_post`` arrays have shape (frames, 2) with columns (female, male) and hold log-probabilities;
``p_female`` arrays have shape (frames,).
"""

from __future__ import annotations

from typing import Callable, Literal

import numpy as np

Aggregation = Literal["mean_log", "majority", "speech_mean_log"]
SPEECH_ONLY = "speech_mean_log"  # mean_log over the frames voice-activity detection calls speech
# Under mean_log, an ensemble's first member alone decides a file whose mean log-odds it puts beyond
# this margin; the other members run on the rest (Model.cascade_margin). Chosen on the bundled model's validation
# speakers, where no decision changes from 1.5 up (experiments/LOG.md).
CASCADE_MARGIN = 2.0


def mean_log_posterior(log_post: np.ndarray) -> float:
    """p_female from the mean of the frame log-posteriors (a product of frame likelihoods, tempered)."""
    mean = log_post.mean(axis=0)
    mean = mean - mean.max()
    probs = np.exp(mean)
    return float(probs[0] / probs.sum())


def mean_log_odds(log_post: np.ndarray) -> float:
    """Mean female-vs-male log-odds of the frames; 0 for no frames."""
    return float((log_post[:, 0] - log_post[:, 1]).mean()) if len(log_post) else 0.0


def majority_vote(log_post: np.ndarray) -> float:
    """Share of frames whose female posterior exceeds one half."""
    return float(np.mean(log_post[:, 0] > log_post[:, 1]))


AGGREGATIONS: dict[str, Callable[[np.ndarray], float]] = {
    "mean_log": mean_log_posterior,
    "majority": majority_vote,
}


def aggregate(log_post: np.ndarray, method: Aggregation = "mean_log") -> float:
    """File-level p_female from frame log-posteriors by the named method."""
    try:
        fn = AGGREGATIONS[method]
    except KeyError:
        raise ValueError(f"unknown aggregation {method!r}; choose from {sorted(AGGREGATIONS)}") from None
    if log_post.shape[0] == 0:
        return 0.5
    return fn(log_post)


def exponential_smoothing(p_female: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average of p_female with weight ``alpha`` on each new frame."""
    if not 0 < alpha <= 1:
        raise ValueError("alpha must be in (0, 1]")
    out = np.empty_like(p_female, dtype=np.float64)
    acc = 0.5
    for i, p in enumerate(p_female):
        acc = (1 - alpha) * acc + alpha * p
        out[i] = acc
    return out


def moving_majority(p_female: np.ndarray, window: int) -> np.ndarray:
    """Share of female decisions over the last ``window`` frames (a causal majority vote)."""
    votes = (np.asarray(p_female) > 0.5).astype(np.float64)
    csum = np.concatenate([[0.0], np.cumsum(votes)])
    idx = np.arange(1, len(votes) + 1)
    start = np.maximum(0, idx - window)
    return (csum[idx] - csum[start]) / (idx - start)


def hysteresis(p_female: np.ndarray, margin: float = 0.2, min_frames: int = 1) -> np.ndarray:
    """Binary labels (1 = female) that switch only after ``min_frames`` frames beyond 0.5 ± margin.

    Before the first confident stretch the label follows ``p_female > 0.5``.
    """
    labels = np.empty(len(p_female), dtype=np.int8)
    current = None
    run = 0
    for i, p in enumerate(p_female):
        target = 1 if p > 0.5 + margin else 0 if p < 0.5 - margin else current
        if current is None:
            current = int(p > 0.5)
        if target is not None and target != current:
            run += 1
            if run >= min_frames:
                current, run = target, 0
        else:
            run = 0
        labels[i] = current
    return labels


def viterbi_binary(p_female: np.ndarray, switch_prob: float = 0.01) -> np.ndarray:
    """Most likely female(1)/male(0) state sequence for a two-state HMM with a symmetric switch probability.

    Frame posteriors are used as scaled likelihoods (flat prior), as in hybrid HMM decoding.
    """
    if len(p_female) == 0:
        return np.zeros(0, dtype=np.int8)
    eps = 1e-9
    emit = np.log(np.stack([1 - np.asarray(p_female), np.asarray(p_female)], axis=1).clip(eps, 1))
    stay, switch = np.log(1 - switch_prob), np.log(switch_prob)
    trans = np.array([[stay, switch], [switch, stay]])
    score = emit[0] + np.log(0.5)
    back = np.zeros((len(p_female), 2), dtype=np.int8)
    for t in range(1, len(p_female)):
        cand = score[:, None] + trans
        back[t] = cand.argmax(axis=0)
        score = cand.max(axis=0) + emit[t]
    path = np.empty(len(p_female), dtype=np.int8)
    path[-1] = int(score.argmax())
    for t in range(len(p_female) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
