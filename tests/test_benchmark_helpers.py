"""Helpers the benchmark scripts share (benchmarks/ is not a package: its folder goes on sys.path)."""

import pytest

from voxgender.data import Utterance


@pytest.fixture
def split_clips(benchmarks_dir):
    import split_clips

    return split_clips


def test_label_ceiling_counts_the_flagged_speakers_clips_as_called_by_the_voice(split_clips):
    clips = [Utterance("a1", "A", "female"), Utterance("a2", "A", "female"), Utterance("b1", "B", "female"),
             Utterance("c1", "C", "male"), Utterance("c2", "C", "male")]
    assert split_clips.label_ceiling(clips, set()) == 1.0
    assert split_clips.label_ceiling(clips, {"B"}) == pytest.approx((2 / 3 + 1) / 2)  # female recall 2/3
    assert split_clips.label_ceiling(clips, {"B", "C"}) == pytest.approx((2 / 3 + 0) / 2)
