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


def test_f0_summary_gives_each_groups_median_pitch_per_gender(benchmarks_dir):
    import loco_agreement

    f0 = {"w1": 150.0, "w2": 170.0, "w3": 210.0, "m1": 110.0, "m2": 200.0}
    groups = {"a shared error": [("w1", "female"), ("w2", "female"), ("m2", "male")],
              "never wrong": [("w3", "female"), ("m1", "male"), ("unknown", "male")]}
    female, male = loco_agreement.f0_summary(groups, f0)
    assert female == ("- female: a shared error: 2 speakers, median F0 160 Hz (quartiles 155-165); "
                      "never wrong: 1 speakers, median F0 210 Hz (quartiles 210-210)")
    assert male.startswith("- male: a shared error: 1 speakers, median F0 200 Hz") and "never wrong: 1 speakers, median F0 110" in male
