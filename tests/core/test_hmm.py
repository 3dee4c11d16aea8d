"""The minimum-duration Viterbi decoder against exhaustive search, fed whole and in pieces."""

import numpy as np
import pytest

from voxgender.core.hmm import SegmentDecoder


def best_segmentation(scores: np.ndarray, min_frames: np.ndarray, penalty: np.ndarray) -> float:
    """Score of the best segmentation by exhaustive search (first and last segment may be short)."""
    frames, labels = scores.shape
    cum = np.vstack([np.zeros(labels), np.cumsum(scores, axis=0)])
    best = -np.inf

    def search(t: int, prev: int, score: float) -> None:
        nonlocal best
        if t == frames:
            best = max(best, score)
            return
        for s in range(labels):
            if s == prev:
                continue
            for length in range(1, frames - t + 1):
                if 0 < t and t + length < frames and length < min_frames[s]:
                    continue
                step = cum[t + length, s] - cum[t, s] - (penalty[prev, s] if prev >= 0 else 0.0)
                search(t + length, s, score + step)

    search(0, -1, 0.0)
    return best


def decode(scores: np.ndarray, min_frames, penalty, cuts=()) -> list[tuple[int, int, int]]:
    decoder = SegmentDecoder(min_frames, penalty)
    bounds = [0, *cuts, len(scores)]
    segments = []
    for a, b in zip(bounds, bounds[1:]):
        segments += decoder.push(scores[a:b])
    return segments + decoder.finish()


def score_of(segments, scores, penalty) -> float:
    total, prev = 0.0, -1
    for a, b, s in segments:
        total += scores[a:b, s].sum() - (penalty[prev, s] if prev >= 0 else 0.0)
        prev = s
    return total


def check_valid(segments, min_frames, frames) -> None:
    assert segments[0][0] == 0 and segments[-1][1] == frames
    for i, (a, b, s) in enumerate(segments):
        assert b > a
        if i:
            assert segments[i - 1][1] == a and segments[i - 1][2] != s
        if 0 < i < len(segments) - 1:
            assert b - a >= min_frames[s]


def test_matches_exhaustive_search_on_small_inputs():
    rng = np.random.default_rng(0)
    for _ in range(150):
        labels, frames = int(rng.integers(2, 4)), int(rng.integers(1, 10))
        min_frames = rng.integers(1, 5, size=labels)
        penalty = rng.uniform(0, 3, size=(labels, labels))
        scores = np.log(rng.dirichlet(np.ones(labels), size=frames))
        cuts = sorted(set(rng.integers(1, frames, size=2))) if frames > 2 else []
        segments = decode(scores, min_frames, penalty, cuts)
        check_valid(segments, min_frames, frames)
        assert score_of(segments, scores, penalty) == pytest.approx(best_segmentation(scores, min_frames, penalty))


def test_pieces_give_the_one_pass_result_with_bounded_memory():
    rng = np.random.default_rng(1)
    truth = np.repeat(rng.integers(0, 3, size=300), 80)
    probs = np.full((len(truth), 3), 0.2)
    probs[np.arange(len(truth)), truth] = 0.6
    probs += rng.uniform(0, 0.5, size=probs.shape)
    scores = np.log(probs / probs.sum(axis=1, keepdims=True))
    min_frames, penalty = [10, 30, 30], np.full((3, 3), 8.0)
    whole = decode(scores, min_frames, penalty)
    decoder = SegmentDecoder(min_frames, penalty)
    pieces, pending = [], []
    for a in range(0, len(scores), 997):
        pieces += decoder.push(scores[a:a + 997])
        pending.append(decoder.frames - decoder.base)
    pieces += decoder.finish()
    assert pieces == whole
    check_valid(whole, min_frames, len(scores))
    assert max(pending) < 3000  # of 24000 frames: only the undecided tail is kept
    agree = np.mean(np.concatenate([np.full(b - a, s) for a, b, s in whole]) == truth)
    assert agree > 0.9


def test_minimum_duration_removes_short_blips():
    scores = np.log(np.full((100, 2), [0.9, 0.1]))
    scores[50:55] = np.log([0.1, 0.9])  # 5 frames of the other label
    assert decode(scores, [10, 10], np.ones((2, 2))) == [(0, 100, 0)]
    assert decode(scores, [3, 3], np.ones((2, 2))) == [(0, 50, 0), (50, 55, 1), (55, 100, 0)]


def test_rejects_bad_settings():
    with pytest.raises(ValueError):
        SegmentDecoder([0, 5], np.zeros((2, 2)))
    with pytest.raises(ValueError):
        SegmentDecoder([5, 5], np.zeros((3, 3)))
    with pytest.raises(ValueError):
        SegmentDecoder([5, 5], np.zeros((2, 2))).push(np.zeros((4, 3)))
