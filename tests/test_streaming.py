"""The streaming engine: exact incremental features and RNN state, VAD gating, resets, smoothing, many streams."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
import torch

from voxgender.core.aggregate import exponential_smoothing, hysteresis, mean_log_posterior, moving_majority
from voxgender.core.features import FeatureConfig
from voxgender.core.networks import ModelConfig
from voxgender.core.smoothing import Ema, Hysteresis, Majority
from voxgender.engine import StreamEngine
from voxgender.errors import AudioError, ModelError
from voxgender.model import Model, load_model
from voxgender.streaming import Stream, stream_chunks
from voxgender.synth import synth_clip
from voxgender.training.model_files import save_model_dir
from voxgender.training.networks import GenderRNN, build_net, torch_network


@pytest.fixture(scope="module")
def model() -> Model:
    """The bundled model, whose batch answers run every member, as a stream does (no cascade)."""
    return load_model(all_members=True)


@pytest.fixture(scope="module")
def talk() -> np.ndarray:
    """0.5 s silence, a female voice, 2.5 s silence, a male voice, 0.3 s silence."""
    z = lambda s: np.zeros(int(s * 16000), np.float32)  # noqa: E731
    return np.concatenate([z(0.5), synth_clip("female", 2.0, 1), z(2.5), synth_clip("male", 2.0, 2), z(0.3)])


def run(stream: Stream, audio: np.ndarray, sizes: list[int] | int):
    """All decisions and the summary of ``audio`` fed in pieces of the given sizes (cycled)."""
    sizes = [sizes] if isinstance(sizes, int) else sizes
    pieces, i, k = [], 0, 0
    while i < len(audio):
        pieces.append(audio[i:i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    items = list(stream_chunks(stream, pieces))
    return items[:-1], items[-1]


def frame_values(decisions) -> list[float]:
    """With one decision per hop and no smoothing, each decision after the first whole frame holds one frame."""
    values = [d.p_female for d in decisions]
    first = next(i for i, v in enumerate(values) if v is not None)
    assert None not in values[first:]
    return values[first:]


def test_decisions_do_not_depend_on_chunk_sizes(model, talk):
    reference = run(Stream(model), talk, len(talk))
    for sizes in ([160], [1600], [7, 5000, 333, 1], [16000 * 3]):
        assert run(Stream(model), talk, sizes) == reference
    decisions, _ = reference
    assert [d.t for d in decisions] == pytest.approx(np.arange(1, len(talk) // 1600 + 1) * 0.1)


def test_without_vad_the_stream_reproduces_batch_frame_posteriors(model, female_clip):
    """interval = one hop and no smoothing: each decision is one frame's posterior, as batch computes it."""
    hop_s = model.features.hop_ms / 1000
    decisions, summary = run(Stream(model, vad=False, interval_s=hop_s, smoothing="none", hold_s=0), female_clip, 777)
    batch = np.exp(model.posteriors([female_clip])[0][:, 0])
    assert frame_values(decisions) == pytest.approx(batch, abs=2e-4)
    assert summary.p_female == pytest.approx(model.predict(female_clip).p_female, abs=2e-4)


@pytest.mark.parametrize("features, normalisation, members", [
    (FeatureConfig(kind="mfcc", deltas=True), "global", 1),
    (FeatureConfig(pitch_bins=16, deltas=True), "global", 1),
    (FeatureConfig(), "causal", 1),
    (FeatureConfig(kind="mfcc", deltas=True), "causal", 2),
], ids=["mfcc", "logmel+pitch", "causal-normalisation", "ensemble"])
def test_other_models_stream_exactly(tmp_path, female_clip, features, normalisation, members):
    """A model with Δ/ΔΔ features (and pitch bands), a running mean in its state, or several
    networks (an ensemble): frames wait for their look-ahead, the state is carried, and the stream
    matches batch, edges included."""
    torch.manual_seed(0)
    net = build_net(ModelConfig(input_dim=features.dim, cell="lstm", hidden=16, layers=1, dense=8,
                                normalisation=normalisation, members=members))
    for i, member in enumerate(net.members if members > 1 else [net]):
        member.set_normalisation(torch.linspace(-12, -2, features.dim) + i, torch.linspace(1, 3, features.dim))
    tiny = load_model(save_model_dir(tmp_path / "tiny", net, features))  # on onnxruntime, as users run it
    clip = female_clip[:16000]
    options = dict(vad=False, interval_s=features.hop_ms / 1000, smoothing="none", hold_s=0)
    decisions, _ = run(Stream(tiny, **options), clip, [999, 17])
    batch = np.exp(tiny.posteriors([clip])[0][:, 0])
    assert frame_values(decisions) == pytest.approx(batch, abs=2e-4)


def test_other_sample_rates_are_resampled_like_batch(model, female_clip):
    at_44k = soxr.resample(female_clip, 16000, 44100).astype(np.float32)
    decisions, summary = run(Stream(model, 44100), at_44k, 4410)
    reference = run(Stream(model), soxr.resample(at_44k, 44100, 16000).astype(np.float32), 1600)
    assert summary == reference[1]
    assert decisions == reference[0]
    assert summary.label == model.predict(female_clip).label


def test_silence_and_noise_give_no_label(model):
    rng = np.random.default_rng(0)
    for audio in (np.zeros(32000, np.float32), (0.05 * rng.standard_normal(32000)).astype(np.float32)):
        decisions, summary = run(Stream(model), audio, 1600)
        assert {d.label for d in decisions} == {"none"} and not any(d.speech for d in decisions)
        assert summary.label == "none" and summary.p_female is None and summary.speech_s == 0


def test_labels_follow_speakers_and_a_pause_resets(model, talk):
    decisions, summary = run(Stream(model), talk, 1600)
    at = {d.t: d for d in decisions}
    assert at[2.4].label == "female" and at[4.0].label == "none" and at[6.9].label == "male"
    # cumulative smoothing restarts after the 2.5 s pause: the male part is not coloured by the female one
    male_alone = run(Stream(model), talk[int(4.5 * 16000):], 1600)[0][23]
    assert at[6.9].p_female == pytest.approx(male_alone.p_female, abs=0.02)
    no_reset = {d.t: d for d in run(Stream(model, reset_after_s=None), talk, 1600)[0]}
    assert no_reset[6.9].p_female > at[6.9].p_female + 0.05  # without the reset the female evidence lingers
    assert summary.speech_s == pytest.approx(decisions[-1].speech_s, abs=0.05)
    assert 2.5 < summary.speech_s < 4.2


def test_hold_keeps_a_label_through_short_gaps(model, female_clip):
    gap = np.zeros(3200, np.float32)
    audio = np.concatenate([female_clip, gap, female_clip])
    labels = [d.label for d in run(Stream(model, hold_s=0.5), audio, 1600)[0] if 1.5 < d.t < 2.5]
    assert "none" not in labels
    labels = [d.label for d in run(Stream(model, hold_s=0.0), audio, 1600)[0] if 1.5 < d.t < 2.5]
    assert "none" in labels


@pytest.mark.parametrize("kind", ["ema", "majority", "hysteresis"])
def test_live_smoothers_match_the_array_functions(kind):
    rng = np.random.default_rng(3)
    intervals = [np.log(np.clip(np.stack([p, 1 - p], 1), 1e-6, 1)) for p in rng.uniform(0, 1, (60, 4))]
    values = np.array([mean_log_posterior(lp) for lp in intervals])
    if kind == "ema":
        live, expected = Ema(0.3), exponential_smoothing(values, 0.3)
        assert [live.update(lp)[0] for lp in intervals] == pytest.approx(expected)
    elif kind == "majority":
        live, expected = Majority(5), moving_majority(values, 5)
        assert [live.update(lp)[0] for lp in intervals] == pytest.approx(expected)
    else:
        live, expected = Hysteresis(0.1, 3), hysteresis(values, 0.1, 3)
        assert [live.update(lp)[1] == "female" for lp in intervals] == list(expected.astype(bool))


def test_smoothing_options_change_the_decisions(model, talk):
    runs = {kind: run(Stream(model, smoothing=kind), talk, 1600)[0] for kind in ("none", "ema", "hysteresis")}
    spread = {kind: np.std([d.p_female for d in ds if d.p_female is not None]) for kind, ds in runs.items()}
    assert spread["ema"] < spread["none"]
    switches = {kind: sum(a.label != b.label for a, b in zip(ds, ds[1:]) if "none" not in (a.label, b.label))
                for kind, ds in runs.items()}
    assert switches["hysteresis"] <= switches["none"]


def test_many_streams_in_one_engine_equal_single_streams(model, female_clip, male_clip):
    clips = [female_clip, male_clip, female_clip[:9000], np.zeros(8000, np.float32)]
    rates = [16000, 22050, 16000, 8000]
    audio = [c if r == 16000 else soxr.resample(c, 16000, r).astype(np.float32) for c, r in zip(clips, rates)]
    engine = StreamEngine(model)
    ids = [engine.open(r) for r in rates]
    got: dict[int, list] = {sid: [] for sid in ids}
    summaries, ended = {}, set()
    for start in range(0, max(len(a) for a in audio) + 2000, 2000):  # the last round ends every stream
        for sid, a in zip(ids, audio):
            if start < len(a):
                engine.push(sid, a[start:start + 2000])
            elif sid not in ended:
                engine.end(sid)
                ended.add(sid)
        for sid, update in engine.step().items():
            got[sid] += update.decisions
            if update.summary:
                summaries[sid] = update.summary
    assert len(engine) == 0
    for sid, a, r in zip(ids, audio, rates):
        assert (got[sid], summaries[sid]) == run(Stream(model, r), a, len(a))


def test_bad_input_is_refused_with_a_clear_error(model):
    with pytest.raises(AudioError, match="sample rate 100"):
        Stream(model, 100)
    with pytest.raises(ValueError, match="smoothing"):
        Stream(model, smoothing="median")
    stream = Stream(model)
    with pytest.raises(AudioError, match="NaN"):
        stream.feed(np.array([0.0, np.nan], np.float32))
    bidirectional = Model(torch_network(GenderRNN(ModelConfig(bidirectional=True))), FeatureConfig())
    with pytest.raises(ModelError, match="bidirectional"):
        Stream(bidirectional)
