"""Aggregation and smoothing of frame posteriors."""

import numpy as np
import pytest

from voxgender.core.aggregate import (
    aggregate,
    exponential_smoothing,
    hysteresis,
    majority_vote,
    mean_log_posterior,
    moving_majority,
    viterbi_binary,
)


def log_post(p_female):
    p = np.asarray(p_female, dtype=np.float64)
    return np.log(np.stack([p, 1 - p], axis=1))


def test_mean_log_posterior_is_normalised_geometric_mean():
    lp = log_post([0.9, 0.6])
    f = np.sqrt(0.9 * 0.6)
    m = np.sqrt(0.1 * 0.4)
    assert mean_log_posterior(lp) == pytest.approx(f / (f + m))


def test_majority_vote_counts_frames():
    assert majority_vote(log_post([0.9, 0.8, 0.2, 0.1, 0.7])) == pytest.approx(0.6)


def test_aggregate_dispatch_and_empty():
    lp = log_post([0.2, 0.3])
    assert aggregate(lp, "majority") == 0.0
    assert aggregate(np.zeros((0, 2)), "mean_log") == 0.5
    with pytest.raises(ValueError):
        aggregate(lp, "median")


def test_exponential_smoothing_converges_and_lags():
    out = exponential_smoothing(np.ones(50), alpha=0.2)
    assert out[0] == pytest.approx(0.6)
    assert out[-1] > 0.999
    assert np.all(np.diff(out) > 0)


def test_moving_majority_window():
    out = moving_majority(np.array([1, 1, 0, 0, 0, 1.0]), window=3)
    np.testing.assert_allclose(out, [1, 1, 2 / 3, 1 / 3, 0, 1 / 3])


def test_hysteresis_ignores_short_excursions():
    p = np.array([0.9] * 10 + [0.1] * 3 + [0.9] * 10 + [0.1] * 10)
    labels = hysteresis(p, margin=0.2, min_frames=5)
    assert labels[:23].tolist() == [1] * 23
    assert labels[-1] == 0
    assert labels[27] == 0 and labels[26] == 1  # switches on the 5th confident frame


def test_viterbi_removes_isolated_flips_but_keeps_long_turns():
    p = np.array([0.8] * 30 + [0.3] + [0.8] * 30 + [0.2] * 40)
    path = viterbi_binary(p, switch_prob=0.01)
    assert path[30] == 1
    assert path[:61].tolist() == [1] * 61
    assert path[65:].tolist() == [0] * 36
    assert viterbi_binary(np.zeros(0)).shape == (0,)
