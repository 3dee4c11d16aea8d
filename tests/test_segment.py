"""Segmentation of synthetic conversations with a known timeline, block by block and in one piece."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from recordings import conversation, label_at

from voxgender.core.timeline import Segment, SegmentSummary
from voxgender.core.vad import SileroVad
from voxgender.errors import AudioError
from voxgender.segment import SegmentConfig, Segmenter, shifted_log_posteriors

TURNS = [("female", 4.0), ("male", 5.0), ("female", 3.0), ("male", 6.0), ("female", 5.0), ("male", 3.0)]


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter()


def speech_time_by_label(segments, start: float, end: float) -> dict[str, float]:
    out = {"female": 0.0, "male": 0.0, "nonspeech": 0.0}
    for s in segments:
        out[s.label] += max(0.0, min(end, s.end) - max(start, s.start))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_timeline_matches_the_known_turns(segmenter, seed):
    audio, reference = conversation(TURNS, pause_s=1.0, seed=seed)
    result = segmenter.segment_array(audio, name="talk")
    segments = result.segments
    assert segments[0].start == 0 and segments[-1].end == pytest.approx(len(audio) / 16000, abs=1e-3)
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))
    for start, end, label in reference:
        time = speech_time_by_label(segments, start, end)
        other = "male" if label == "female" else "female"
        assert time[label] >= 0.85 * (end - start), (start, end, label, time)
        assert time[other] <= 0.02 * (end - start), (start, end, label, time)
        first = next(s for s in segments if s.label == label and s.end > start)
        assert abs(first.start - start) < 0.25
        assert all(s.p_female > 0.5 for s in segments if s.label == "female")
    for (_, end, _), (start, _, _) in zip(reference, reference[1:]):  # the pauses between turns
        assert label_at(segments, (end + start) / 2) == "nonspeech"
    female = sum(e - s for s, e, g in reference if g == "female")
    male = sum(e - s for s, e, g in reference if g == "male")
    assert result.summary.female_share == pytest.approx(female / (female + male), abs=0.05)
    total = result.summary.female_s + result.summary.male_s + result.summary.nonspeech_s
    assert total == pytest.approx(result.summary.duration_s, abs=0.01)


@pytest.mark.parametrize("preroll_s", [0.0, 0.5])
def test_long_input_block_by_block_equals_one_piece(tmp_path, preroll_s):
    turns = TURNS * 3  # about 100 s
    audio, _ = conversation(turns, pause_s=0.8, seed=5)
    one_piece = Segmenter(config=SegmentConfig(block_s=1000, preroll_s=preroll_s)).segment_array(audio)
    blocks = Segmenter(config=SegmentConfig(block_s=16, preroll_s=preroll_s))
    assert blocks.block_samples < len(audio) / 4
    in_blocks = blocks.segment_array(audio)
    assert [s.label for s in in_blocks.segments] == [s.label for s in one_piece.segments]
    for a, b in zip(in_blocks.segments, one_piece.segments):
        assert a.start == pytest.approx(b.start, abs=0.05) and a.end == pytest.approx(b.end, abs=0.05)
    for field in ("female_s", "male_s", "nonspeech_s"):
        assert getattr(in_blocks.summary, field) == pytest.approx(getattr(one_piece.summary, field), abs=0.1)
    # the same audio from a 44.1 kHz FLAC, decoded and resampled block by block
    path = tmp_path / "long.flac"
    import soxr

    sf.write(path, soxr.resample(audio, 16000, 44100), 44100)
    from_file = blocks.segment_file(path)
    assert from_file.path == str(path)
    assert from_file.summary.female_share == pytest.approx(one_piece.summary.female_share, abs=0.02)


def test_iter_segments_yields_the_calls_segments_block_by_block(tmp_path):
    audio, _ = conversation(TURNS * 3, pause_s=0.8, seed=6)  # about 100 s
    sf.write(tmp_path / "talk.wav", audio, 16000)
    with Segmenter(config=SegmentConfig(block_s=16)) as segmenter, (tmp_path / "talk.wav").open("rb") as file:
        whole = segmenter(str(tmp_path / "talk.wav")).segments
        lazy = segmenter.iter_segments(file)
        first = next(lazy)
        assert first == whole[0] and first.start == 0.0
        assert file.tell() < 0.6 * (tmp_path / "talk.wav").stat().st_size  # decided before the end was read
        assert [first, *lazy] == whole and whole[-1].end == pytest.approx(len(audio) / 16000, abs=1e-3)
        assert list(segmenter.iter_segments(np.zeros(4000, np.float32))) == [Segment(0.0, 0.25, "nonspeech")]


def test_silence_is_one_nonspeech_segment(segmenter):
    result = segmenter.segment_array(np.zeros(16000 * 3, np.float32), name="quiet")
    assert [s.label for s in result.segments] == ["nonspeech"]
    assert result.summary == SegmentSummary(3.0, 0.0, 0.0, 3.0, None)


def test_bad_input_is_a_one_line_error_naming_it(segmenter, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    for source, reason in [(bad, "not a decodable audio file"), (tmp_path / "missing.wav", "no such file")]:
        with pytest.raises(AudioError, match=reason) as err:
            segmenter.segment_file(source)
        assert str(source) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(AudioError, match="clip: too short"):
        segmenter.segment_array(np.zeros(100, np.float32), name="clip")
    with pytest.raises(AudioError, match="clip: contains NaN"):
        segmenter.segment_array(np.full(16000, np.nan, np.float32), name="clip")


def silero_onnx_file(name: str) -> Path:
    """One of the ONNX files that the silero-vad package ships (found without importing it: it imports torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the silero-vad package is not installed (the train extra has it)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def test_vad_gives_silero_own_probabilities_in_both_ways_and_does_not_depend_on_the_cut(female_clip, male_clip):
    from voxgender.core.onnx_runtime import new_session
    from voxgender.core.vad import CHUNK, CONTEXT, VadState

    audio = np.concatenate([female_clip, np.zeros(8000, np.float32), male_clip, female_clip[:1234]] * 3)
    chunks = np.pad(audio, (0, -len(audio) % CHUNK)).reshape(-1, 1, CHUNK)
    silero = new_session(str(silero_onnx_file("silero_vad.onnx")))  # silero's own graph, one chunk per call
    state, context, reference = np.zeros((2, 1, 128), np.float32), np.zeros((1, CONTEXT), np.float32), []
    for chunk in chunks:
        x = np.concatenate([context, chunk], axis=1)
        p, state = silero.run(None, {"input": x, "state": state, "sr": np.array(16000, np.int64)})
        context = x[:, -CONTEXT:]
        reference.append(float(p[0, 0]))
    vad = SileroVad()
    whole, _ = vad.probabilities(audio)
    np.testing.assert_allclose(whole, reference, atol=1e-4)
    cut = 37 * CHUNK
    first, after_cut = vad.probabilities(audio[:cut])
    rest, _ = vad.probabilities(audio[cut:], after_cut)
    np.testing.assert_allclose(np.concatenate([first, rest]), whole, atol=1e-5)
    batch = VadState.zeros(2)  # two live streams stepped together: the same audio, and silence
    stepped = []
    for chunk in chunks:
        p, batch = vad.step(np.concatenate([chunk, np.zeros((1, CHUNK), np.float32)])[:, None], batch)
        stepped.append(p[:, 0])
    stepped = np.stack(stepped)
    np.testing.assert_allclose(stepped[:, 0], reference, atol=1e-4)
    assert stepped[:, 1].max() < 0.1 and whole.max() > 0.5 and whole.min() < 0.2  # speech, pauses, silence
    rounds = 3  # several chunks of each stream in one call: as that many calls of one
    at_once, states = [], VadState.zeros(2)
    for first in range(0, len(chunks) - rounds + 1, rounds):
        block = chunks[first:first + rounds].reshape(1, rounds, CHUNK)
        p, states = vad.step(np.concatenate([block, np.zeros((1, rounds, CHUNK), np.float32)]), states)
        at_once.append(p[0])
    np.testing.assert_allclose(np.concatenate(at_once), stepped[:len(at_once) * rounds, 0], atol=1e-5)


def test_settings_are_checked():
    with pytest.raises(ValueError):
        SegmentConfig(min_speech_s=0)
    with pytest.raises(ValueError):
        SegmentConfig(speech_threshold=1.0)
    with pytest.raises(ValueError):
        SegmentConfig(vad_floor=0.4)
    with pytest.raises(ValueError):
        SegmentConfig(warmup_s=-1)
    with pytest.raises(ValueError):
        SegmentConfig(preroll_s=-0.1)
    with pytest.raises(ValueError):
        SegmentConfig(encoder_step_s=0)
    with pytest.raises(ValueError):
        SegmentConfig(encoder_weight=-1)


def test_the_encoders_log_odds_shift_each_frames_and_keep_its_posteriors_normalised():
    log_post = np.log(np.array([[0.5, 0.5], [0.8, 0.2]], np.float32))
    shifted = shifted_log_posteriors(log_post, np.array([np.log(3.0), -np.log(4.0)]))
    np.testing.assert_allclose(np.exp(shifted).sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(shifted[:, 0] - shifted[:, 1], [np.log(3.0), 0.0], atol=1e-6)


def test_each_frame_hears_the_encoder_window_whose_centre_is_nearest(segmenter):
    hop, win = segmenter.model.features.hop_length, segmenter.model.features.win_length
    centres = np.array([1000.0, 5000.0, 9000.0])
    frames = segmenter.frame_log_odds((centres, np.array([1.0, 2.0, 3.0])), 12)
    frame_centres = np.arange(12) * hop + win / 2
    expected = np.array([1.0, 2.0, 3.0])[np.abs(frame_centres[:, None] - centres).argmin(axis=1)]
    np.testing.assert_array_equal(frames, expected)
    assert segmenter.encoder_log_odds(np.zeros(16000, np.float32)) is None  # the bundled model's encoder is not loaded


def test_male_bias_shifts_only_the_gender_evidence(segmenter):
    vad = np.array([0.1, 0.5, 0.9])
    log_post = np.log(np.array([[0.5, 0.5], [0.8, 0.2], [0.3, 0.7]]))
    settled = np.full(3, 10**6)  # long after the RNN's last restart
    plain = Segmenter(segmenter.model, SegmentConfig(male_bias=0.0)).scores(vad, log_post, settled)
    biased = Segmenter(segmenter.model, SegmentConfig(male_bias=2.0)).scores(vad, log_post, settled)
    weight = SegmentConfig().gender_weight
    np.testing.assert_allclose(biased[:, 0], plain[:, 0])
    np.testing.assert_allclose(biased[:, 1], plain[:, 1] - weight)
    np.testing.assert_allclose(biased[:, 2], plain[:, 2] + weight)


def test_warmup_ramps_the_gender_evidence_after_a_restart(segmenter):
    vad = np.full(6, 0.9)
    log_post = np.log(np.tile([[0.9, 0.1]], (6, 1)))
    age = np.array([0, 1, 4, 9, 100, 0])
    config = SegmentConfig(warmup_s=0.1, male_bias=0.0)  # 5 frames of 20 ms
    scores = Segmenter(segmenter.model, config).scores(vad, log_post, age)
    full = Segmenter(segmenter.model, SegmentConfig(male_bias=0.0, warmup_s=0.0)).scores(vad, log_post, age)
    lean = scores[:, 1] - scores[:, 2]  # female against male
    np.testing.assert_allclose(lean, (full[:, 1] - full[:, 2]) * np.array([0.2, 0.4, 1, 1, 1, 0.2]))
    np.testing.assert_allclose(scores[:, 0], full[:, 0])


def test_rnn_ages_restart_at_windows_and_after_pauses(segmenter):
    ages = []

    class Recording(Segmenter):
        def scores(self, vad, log_post, age):
            ages.append(age)
            return super().scores(vad, log_post, age)

    audio, reference = conversation(TURNS, pause_s=1.0, seed=3)
    Recording(segmenter.model, SegmentConfig(block_s=16)).segment_array(audio)
    age = np.concatenate(ages)
    assert len(age) == (len(audio) - 640) // 320 + 1  # one per feature frame
    restarts = np.flatnonzero(age == 0)
    assert np.all(np.diff(age)[np.diff(age) != 1] == -age[restarts[1:] - 1])  # otherwise it counts up by one
    window = segmenter.window_frames
    assert window == round(SegmentConfig().window_s / 0.02) < segmenter.model.window_frames
    assert set(range(0, len(age), window)) <= set(restarts)  # every window of the segmenter's starts afresh
    onsets = [round(start / 0.02) for start, _, _ in reference]  # each turn starts after a 1 s pause
    assert all(np.abs(restarts - o).min() <= 8 for o in onsets)  # within the VAD's latency


def test_a_turn_change_without_a_pause_is_followed_within_the_rnn_window(segmenter):
    audio, reference = conversation([("male", 9.0), ("female", 9.0)], pause_s=0.0, seed=4)
    change = reference[1][0]
    for window_s, within_s in ((2.0, 2.6), (0.0, 8.6)):  # 0: the model's own 8-s window
        segments = Segmenter(segmenter.model, SegmentConfig(window_s=window_s)).segment_array(audio).segments
        assert label_at(segments, change + within_s) == "female"
    late = Segmenter(segmenter.model, SegmentConfig(window_s=2.0)).segment_array(audio).segments
    assert speech_time_by_label(late, change, change + 9.0)["female"] >= 6.0


def test_speech_in_doubt_is_labelled_unknown_and_left_out_of_the_share(segmenter):
    audio, _ = conversation(TURNS, pause_s=1.0, seed=0)
    decided = Segmenter(segmenter.model, SegmentConfig()).segment_array(audio)
    doubtful = Segmenter(segmenter.model, SegmentConfig(min_confidence=1.0)).segment_array(audio)
    assert "unknown" not in {s.label for s in decided.segments} and decided.summary.unknown_s == 0
    assert {s.label for s in doubtful.segments} == {"unknown", "nonspeech"}  # no posterior is sure to 1.0
    s = doubtful.summary
    assert s.female_share is None and s.unknown_s == pytest.approx(decided.summary.female_s + decided.summary.male_s, abs=0.05)
    assert (s.female_share_lowest, s.female_share_highest) == (0.0, 1.0)
    assert all(0 < seg.p_female < 1 for seg in doubtful.segments if seg.label == "unknown")
    with pytest.raises(ValueError):
        SegmentConfig(min_confidence=1.5)


def test_a_restart_is_primed_with_the_preroll_before_it(segmenter):
    evidence = []

    class Recording(Segmenter):
        def scores(self, vad, log_post, age):
            evidence.append((log_post, age))
            return super().scores(vad, log_post, age)

    audio, _ = conversation(TURNS, pause_s=1.0, seed=3)
    Recording(segmenter.model, SegmentConfig(block_s=16, preroll_s=0.5)).segment_array(audio)
    log_post, age = (np.concatenate(x) for x in zip(*evidence))
    model = segmenter.model
    feats = model.features_of(audio)
    restarts = np.flatnonzero(age == 0)
    assert len(restarts) >= len(TURNS)
    for r, following in zip(restarts[1:], [*restarts[2:], len(age)]):
        n = min(10, following - r)  # the frames until the next restart (a window's start may follow an onset)
        primed = model.feature_log_posteriors([feats[r - 25:r + n]], [25])[0]  # from 25 frames (0.5 s) before
        np.testing.assert_allclose(log_post[r:r + n], primed, atol=1e-4)


def test_a_segmenter_is_called_on_a_file_or_an_array_and_closes_its_thread(tmp_path, female_clip):
    import soundfile as sf

    path = tmp_path / "f.wav"
    sf.write(path, female_clip, 16000, subtype="FLOAT")  # the same samples as the array
    with Segmenter() as segmenter:
        from_file, from_array = segmenter(str(path)), segmenter(female_clip.copy(), name="clip")
    assert from_file.segments == from_array.segments and from_array.path == "clip"
    assert segmenter._pool._shutdown


def test_speech_before_a_pause_ends_where_its_level_falls_not_where_the_vad_lets_go(segmenter):
    audio, reference = conversation(TURNS, pause_s=1.0, seed=1)
    loose = Segmenter(segmenter.model, SegmentConfig(offset_db=0.0)).segment_array(audio).segments
    tight = Segmenter(segmenter.model, SegmentConfig(offset_db=30.0)).segment_array(audio).segments
    assert all(a.end == b.start for a, b in zip(tight, tight[1:])) and tight[-1].end == loose[-1].end
    speech = {"loose": [s for s in loose if s.label != "nonspeech"], "tight": [s for s in tight if s.label != "nonspeech"]}
    assert [s.label for s in speech["tight"]] == [s.label for s in speech["loose"]] == [label for _, _, label in reference]
    late = {k: np.array([s.end - end for s, (_, end, _) in zip(v, reference)]) for k, v in speech.items()}
    assert np.median(late["loose"]) > 0.05 and abs(np.median(late["tight"])) <= 0.02  # seconds
    assert np.all(late["tight"] <= late["loose"]) and np.all(late["loose"] - late["tight"] <= 0.4 + 1e-6)  # offset_max_s
    assert [s.start for s in speech["tight"]] == [s.start for s in speech["loose"]]  # onsets are not moved
    with pytest.raises(ValueError, match="offset_db"):
        SegmentConfig(offset_db=-1.0)
