"""Timeline statistics: runs of a per-frame score, and what the shares leave out."""

import numpy as np
import pytest

from voxgender.core.timeline import Segment, SegmentSummary, runs_above


def test_runs_above_a_threshold_are_found_when_long_enough():
    values = np.array([0.1, 0.9, 0.9, 0.2, 0.8, 0.8, 0.8, 0.1, 0.7])
    assert runs_above(values, 0.5, 1) == [(1, 3), (4, 7), (8, 9)]
    assert runs_above(values, 0.5, 3) == [(4, 7)]
    assert runs_above(values, 0.95, 1) == [] and runs_above(np.zeros(0), 0.5, 1) == []


def test_overlap_is_counted_apart_and_left_out_of_every_share():
    segments = [Segment(0, 10, "female", 0.9), Segment(10, 15, "overlap", 0.5), Segment(15, 25, "male", 0.1),
                Segment(25, 29, "unknown", 0.5), Segment(29, 30, "nonspeech")]
    s = SegmentSummary.of(segments, 30.0)
    assert (s.female_s, s.male_s, s.overlap_s, s.unknown_s, s.nonspeech_s) == (10.0, 10.0, 5.0, 4.0, 1.0)
    assert s.female_share == 0.5
    assert (s.female_share_lowest, s.female_share_highest) == pytest.approx((10 / 24, 14 / 24), abs=1e-4)
    assert s.female_turns == 1 and s.male_turns == 1
