"""Helpers the benchmark scripts share (benchmarks/ is not a package; it is on pytest's pythonpath)."""

import pytest

from voxgender.training.data import Utterance


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


def test_counts_by_speaker_split_each_speakers_scored_speech_by_what_was_found(benchmarks_dir):
    import numpy as np
    from broadcast import FEMALE, MALE, NONE, Recording, Turn, counts_by_speaker

    reference = np.array([FEMALE] * 10 + [NONE] * 5 + [MALE] * 10, np.int8)
    scored = np.ones(25, bool)
    scored[0] = False  # an unsure frame counts for no one
    hypothesis = np.array([FEMALE] * 6 + [MALE] * 2 + [NONE] * 7 + [MALE] * 5 + [FEMALE] * 3 + [NONE] * 2, np.int8)
    rec = Recording("r", np.zeros(0), reference, scored, (Turn("a", "female", 0, 10), Turn("b", "male", 15, 25)))
    counts = counts_by_speaker(rec, hypothesis)
    assert counts["a"] == pytest.approx({"gender": "female", "speech_s": 0.09, "confused_s": 0.02, "missed_s": 0.02,
                                         "female_s": 0.05, "male_s": 0.02})
    assert counts["b"] == pytest.approx({"gender": "male", "speech_s": 0.10, "confused_s": 0.03, "missed_s": 0.02,
                                         "female_s": 0.03, "male_s": 0.05})


def _speaker(gender, confused, missed=1.0):
    """Per-speaker frame counts: 100 s of speech, ``confused`` s of it given the other gender."""
    right = 100.0 - confused - missed
    female, male = (right, confused) if gender == "female" else (confused, right)
    return {"gender": gender, "speech_s": 100.0, "confused_s": confused, "missed_s": missed, "female_s": female, "male_s": male}


def test_speaker_bootstrap_is_exact_for_alike_speakers_and_spreads_for_unlike_ones(benchmarks_dir):
    from broadcast import speaker_bootstrap

    speaker = _speaker
    alike = {f"{g}{i}": speaker(g, 2.0) for g in ("female", "male") for i in range(10)}
    got = speaker_bootstrap(alike, false_alarm=0.01)
    assert got["confusion"] == pytest.approx((0.02, 0.02))
    assert got["ier"] == pytest.approx((0.04, 0.04))  # missed 1% + confusion 2% + false alarm 1%, in any draw
    assert got["female_share_error_pp"][1] > 0  # the draws' gender mix varies, and each gender errs its own way
    unlike = {**alike, "female0": speaker("female", 90.0), "male0": speaker("male", 60.0)}
    low, high = speaker_bootstrap(unlike, false_alarm=0.01)["confusion"]
    point = sum(s["confused_s"] for s in unlike.values()) / sum(s["speech_s"] for s in unlike.values())
    assert low < point < high and high - low > 0.03


def test_speakers_rates_pool_the_speakers_given_so_leaving_one_out_removes_its_errors(benchmarks_dir):
    from broadcast import speakers_rates

    speakers = {"f": _speaker("female", 10.0), "m": _speaker("male", 0.0), "odd": _speaker("male", 90.0)}
    every = speakers_rates(speakers, false_alarm=0.02)
    assert every["confusion"] == pytest.approx(100 / 300)
    assert every["ier"] == pytest.approx(103 / 300 + 0.02)
    # reference share 1/3; found: 89 s female + 90 s of "odd" against 10 + 99 + 9 s male
    assert every["female_share_error_pp"] == pytest.approx(100 * abs(179 / 297 - 1 / 3))
    without_odd = speakers_rates({k: v for k, v in speakers.items() if k != "odd"}, false_alarm=0.02)
    assert without_odd["confusion"] == pytest.approx(10 / 200)
    assert without_odd["female_share_error_pp"] == pytest.approx(100 * abs(89 / 198 - 0.5))


def test_loco_segmentation_sizes_each_corpus_and_rates_each_group_on_its_own_speech(benchmarks_dir):
    import segmentation_loco

    assert segmentation_loco.recordings_for(251, 2.0, 5.0) == 34  # 502 turns at 15 per 5-min recording
    assert segmentation_loco.recordings_for(251, 2.0, 10.0) == 17
    assert segmentation_loco.recordings_for(3, 2.0, 5.0) == 2  # never fewer than two
    summary = {"confusion_by_speaker": {"a": {"speech_s": 100.0, "missed_s": 2.0, "confused_s": 10.0},
                                        "b": {"speech_s": 300.0, "missed_s": 6.0, "confused_s": 0.0}}}
    assert segmentation_loco.speakers_subset(summary, {"a", "b"}) == pytest.approx(
        {"speakers": 2, "speech_s": 400.0, "missed": 0.02, "confusion": 0.025})
    assert segmentation_loco.speakers_subset(summary, {"b", "not there"}) == pytest.approx(
        {"speakers": 1, "speech_s": 300.0, "missed": 0.02, "confusion": 0.0})


def test_segmentation_peers_scores_inas_labels_like_voxgenders_without_holding_the_audio(benchmarks_dir):
    import numpy as np
    import segmentation_peers as peers
    from broadcast import FEMALE, MALE, NONE, Recording, Turn
    from segmentation_benchmark import scored_row

    reference = np.array([FEMALE] * 100 + [NONE] * 50 + [MALE] * 100, np.int8)  # 10 ms frames
    audio = np.ones(250 * 160, np.float32)
    rec = Recording("r", audio, reference, np.ones(250, bool), (Turn("a", "female", 0, 100), Turn("b", "male", 150, 250)),
                    background="noise", snr_db=10.0, audio=audio)
    ina = [["noEnergy", 0.0, 0.2], ["female", 0.2, 0.8], ["male", 0.8, 1.0], ["music", 1.0, 1.6], ["male", 1.6, 2.5]]
    segments = peers.ina_segments(ina)
    assert [s.label for s in segments] == ["nonspeech", "female", "male", "nonspeech", "male"]

    light = peers.without_audio(rec)
    assert light.audio is None and light.speech.strides == (0,) and light.duration_s == rec.duration_s
    row = scored_row(light, segments, 1.0, 0.5)
    assert row == scored_row(rec, segments, 1.0, 0.5)
    assert row["counts"] == pytest.approx({"speech_s": 2.0, "missed_s": 0.3, "false_alarm_s": 0.0, "confusion_s": 0.2,
                                           "ref_female_s": 1.0, "ref_male_s": 1.0, "hyp_female_s": 0.6, "hyp_male_s": 1.1})
    assert peers.condition_key(rec.background, rec.snr_db) == "noise10" and peers.condition_key("clean", None) == "clean"

    summary = {"confusion_by_speaker": {"a": {"confused_s": 6.0, "speech_s": 10.0}, "b": {"confused_s": 5.0, "speech_s": 10.0},
                                        "silent": {"confused_s": 0.0, "speech_s": 0.0}}}
    assert peers.mostly_wrong(summary) == {"a"}


def test_panel_scores_a_group_by_its_uar_or_its_one_gender_and_names_the_worst(benchmarks_dir):
    import panel

    def record(group, gender, p, condition="full"):
        return {"condition": condition, "groups": [group], "speaker": f"{group}-{gender}-{p}", "corpus": group,
                "gender": gender, "p_female": p}

    records = ([record("corpus a", "female", 0.9)] * 10 + [record("corpus a", "male", 0.2)] * 5
               + [record("corpus a", "male", 0.7)] * 5  # male recall 0.5, UAR 0.75
               + [record("synthetic arousal (male)", "male", 0.3, "arousal")] * 9
               + [record("synthetic arousal (male)", "male", 0.6, "arousal")] * 3  # recall 0.75
               + [record("emotion x/sad", "female", 0.1)] * 3)  # too few clips to decide
    rows = panel.group_rows(records)
    by_group = {r["group"]: r for r in rows}
    assert by_group["corpus a"]["score"] == pytest.approx(0.75) and by_group["corpus a"]["male_recall"] == 0.5
    assert by_group["synthetic arousal (male)"]["score"] == pytest.approx(0.75)
    assert rows[0]["group"] == "emotion x/sad" and rows[0]["score"] == 0.0  # listed first ...
    result = panel.summary(records, rows)
    assert result["worst_group"] in {"corpus a", "synthetic arousal (male)"}  # ... but too small to decide
    assert result["worst_score"] == pytest.approx(0.75) and result["arousal_male_recall"] == pytest.approx(0.75)


def test_raised_effort_flattens_the_spectral_tilt_and_raises_the_level(benchmarks_dir):
    import numpy as np
    import panel

    rng = np.random.default_rng(0)
    audio = (0.05 * rng.standard_normal(16000)).astype(np.float32)
    out = panel.raised_effort(audio)
    spectrum_in, spectrum_out = np.abs(np.fft.rfft(audio)) ** 2, np.abs(np.fft.rfft(out)) ** 2
    freqs = np.fft.rfftfreq(16000, 1 / 16000)
    high, low = freqs > 4000, freqs < 800
    gain_high = 10 * np.log10(spectrum_out[high].sum() / spectrum_in[high].sum())
    gain_low = 10 * np.log10(spectrum_out[low].sum() / spectrum_in[low].sum())
    assert gain_high - gain_low == pytest.approx(6.0 * np.log10(6.0), abs=1.0)  # about +4.7 dB at 4-8 kHz
    assert np.sqrt(np.mean(out**2)) > 1.5 * np.sqrt(np.mean(audio**2))


def test_standard_scoring_counts_a_late_change_as_confusion_unless_the_collar_covers_it(benchmarks_dir):
    """pyannote.metrics on a reference of 1 s female then 1 s male and a hypothesis that changes
    0.2 s late: 0.2 s confused of 2 s (10%) without a collar, none with 0.25 s on each side; the
    benchmark's frame counts agree."""
    import numpy as np
    from broadcast import FEMALE, MALE, frame_errors, hypothesis_frames, rates
    from standard_scoring import components, standard_rates

    from voxgender.core.timeline import Segment

    codes = np.array([FEMALE] * 100 + [MALE] * 100)
    scored = np.ones(200, bool)
    late = [Segment(0.0, 1.2, "female", 0.9), Segment(1.2, 2.0, "male", 0.1)]
    got = standard_rates([components(codes, scored, late)])
    assert got["collar_0s"]["confusion"] == pytest.approx(10.0) and got["collar_0s"]["ier"] == pytest.approx(10.0)
    assert got["collar_0.25s"]["ier"] == pytest.approx(0.0)
    assert got["collar_0.25s"]["speech_s"] == pytest.approx(1.0)  # collars at every reference boundary, the ends too
    frames = rates(frame_errors(codes, hypothesis_frames(late, 200), scored))
    assert 100 * frames["confusion"] == pytest.approx(got["collar_0s"]["confusion"], abs=0.5)
    missed = standard_rates([components(codes, scored, late[:1])])["collar_0s"]
    assert missed["missed"] == pytest.approx(40.0) and missed["detection_errors"] == pytest.approx(40.0)


def _synthetic_pool(broadcast):
    """A ClipPool of three synthetic voices of each gender, built without decoding files."""
    import numpy as np

    from voxgender.synth import synth_clip

    pool = broadcast.ClipPool.__new__(broadcast.ClipPool)
    pool.clips, pool.gender = {}, {}
    for i, gender in enumerate(["female"] * 3 + ["male"] * 3):
        clip = synth_clip(gender, 4.0, seed=i)[: 400 * broadcast.FRAME]
        speech = np.ones(400, bool)
        pool.clips[f"{gender}{i}"] = [(clip, speech, np.zeros(400, bool))]
        pool.gender[f"{gender}{i}"] = gender
    pool.speakers = {g: sorted(s for s in pool.clips if pool.gender[s] == g) for g in ("female", "male")}
    return pool


def test_a_conversation_takes_turns_with_overlap_latching_and_conditions_and_its_reference_follows(benchmarks_dir):
    import broadcast
    import numpy as np
    from conversation import CONDITIONS, build_conversation

    conv = build_conversation(_synthetic_pool(broadcast), "c", minutes=3.0, seed=1)
    rec = conv.recording
    assert len(rec.audio) == len(rec.speech) == len(rec.reference) * broadcast.FRAME
    assert np.abs(rec.audio).max() <= 1.0
    speakers = {t.speaker for t in rec.turns}
    assert 2 <= len(speakers) <= 4 and {"female", "male"} <= {t.gender for t in rec.turns}
    codes = set(np.unique(rec.reference).tolist())
    assert {broadcast.NONE, broadcast.FEMALE, broadcast.MALE, broadcast.OVERLAP} <= codes  # back-channels overlap
    direct = [b.start - a.end for a, b in zip(rec.turns, rec.turns[1:]) if a.gender != b.gender]
    assert any(gap == 0 for gap in direct)  # latched turn changes
    covered = np.zeros(len(rec.reference), bool)
    for start, end, kind in conv.stretches:
        assert kind in CONDITIONS and not covered[start:end].any()
        covered[start:end] = True
    assert covered.all() and len({kind for *_, kind in conv.stretches}) > 1
    assert build_conversation(_synthetic_pool(broadcast), "c", minutes=3.0, seed=1).recording.audio.tobytes() == rec.audio.tobytes()


def test_boundary_errors_are_signed_milliseconds_to_the_nearest_found_edge_and_far_ones_are_missed(benchmarks_dir):
    import numpy as np
    from broadcast import FEMALE, MALE, NONE
    from conversation_benchmark import boundary_errors, boundary_summary

    from voxgender.core.timeline import Segment

    # reference: speech 1-3 s and 5-6 s and 8-9 s (10-ms frames)
    reference = np.full(1000, NONE, np.int8)
    reference[100:300], reference[500:600], reference[800:900] = FEMALE, MALE, MALE
    found = [Segment(0.9, 2.0, "female"), Segment(2.0, 3.2, "male"), Segment(5.0, 5.95, "male")]
    errors = boundary_errors(reference, np.ones(1000, bool), found)
    assert errors["onset"] == pytest.approx([-0.1, 0.0]) and errors["onset_missed"] == 1  # 8 s: nothing found
    assert errors["offset"] == pytest.approx([0.2, -0.05]) and errors["offset_missed"] == 1
    summary = boundary_summary([errors])
    assert summary["onset"]["median_abs_ms"] == pytest.approx(50.0) and summary["onset"]["missed_share"] == pytest.approx(1 / 3)
    unsure = np.ones(1000, bool)
    unsure[99] = False  # the onset at 1 s borders an unscored frame: not a sure boundary
    assert boundary_errors(reference, unsure, found)["onset"] == pytest.approx([0.0])


def test_the_panel_peer_answers_by_the_gender_with_most_seconds_and_counts_no_speech_as_wrong(benchmarks_dir):
    from panel_peer import ina_p_female, thinned

    segments = [["noEnergy", 0.0, 0.5], ["female", 0.5, 1.5], ["male", 1.5, 4.5], ["music", 4.5, 5.0]]
    assert ina_p_female(segments, "female") == pytest.approx(0.25)  # one second female of four: male
    assert ina_p_female([["music", 0.0, 3.0]], "female") == 0.0  # no speech: the wrong answer ...
    assert ina_p_female([["noise", 0.0, 3.0]], "male") == 1.0  # ... for either gender
    clips = [Utterance(f"{s}-{style}-{i}", s, "male", style=style) for s, style in (("a", None), ("b", "sad"), ("b", "angry"))
             for i in range(3)]
    assert [u.path for u in thinned(clips, 2)] == ["a-None-0", "a-None-1", "b-sad-0", "b-sad-1", "b-angry-0", "b-angry-1"]
    assert thinned(clips, 0) == clips


def test_clips_as_recorded_are_wav_at_the_rates_drawn_some_stereo_and_of_the_same_length(benchmarks_dir, tmp_path,
                                                                                          female_clip):
    import soundfile as sf
    from runtime_benchmark import RECORDED_RATES, as_recorded

    stored = tmp_path / "clip.flac"
    sf.write(stored, female_clip, 16000)
    copies = as_recorded([str(stored)] * 24, tmp_path / "recorded")
    infos = [sf.info(p) for p in copies]
    assert {i.format for i in infos} == {"WAV"} and {i.samplerate for i in infos} <= set(RECORDED_RATES)
    assert len({i.samplerate for i in infos}) > 1 and {i.channels for i in infos} == {1, 2}
    assert all(i.duration == pytest.approx(len(female_clip) / 16000, abs=1e-3) for i in infos)
