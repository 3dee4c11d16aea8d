"""GenderRNN: shapes, explicit state (streaming = batch), padding, and safe save/load."""

import json

import numpy as np
import pytest
import torch

from voxgender.core.features import FeatureConfig, extract
from voxgender.core.networks import ModelConfig
from voxgender.errors import ModelError
from voxgender.io.model_dir import split_speakers
from voxgender.model import Model, load_model
from voxgender.training.model_files import load_torch_model, save_model_dir
from voxgender.training.networks import GenderRNN, torch_network


@pytest.fixture(params=[("gru", "global"), ("lstm", "global"), ("gru", "causal"), ("lstm", "causal")],
                ids=lambda p: "-".join(p))
def net(request):
    torch.manual_seed(0)
    cell, normalisation = request.param
    net = GenderRNN(ModelConfig(input_dim=40, cell=cell, hidden=16, layers=2, normalisation=normalisation)).eval()
    net.set_normalisation(torch.linspace(-1, 1, 40), torch.linspace(0.5, 2, 40))
    return net


def test_forward_shapes(net):
    logits, state = net(torch.randn(3, 50, 40))
    assert logits.shape == (3, 50, 2)
    assert state is not None


def test_chunked_calls_with_state_equal_one_call(net):
    x = torch.randn(1, 60, 40)
    whole, _ = net(x)
    state, parts = None, []
    for chunk in torch.split(x, 7, dim=1):
        out, state = net(chunk, state)
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, atol=1e-5, rtol=1e-4)


def test_padded_batch_matches_unpadded(net):
    a, b = torch.randn(1, 30, 40), torch.randn(1, 18, 40)
    padded = torch.cat([a, torch.cat([b, torch.zeros(1, 12, 40)], dim=1)])
    logits, _ = net(padded, lengths=torch.tensor([30, 18]))
    torch.testing.assert_close(logits[1, :18], net(b)[0][0], atol=1e-5, rtol=1e-4)


def test_zero_state_is_a_fresh_start(net):
    x = torch.randn(2, 25, 40)
    torch.testing.assert_close(net(x, net.zero_state(2))[0], net(x)[0])
    assert [t.shape[1] for t in net(x)[1]] == [2] * len(net.zero_state(2))


def test_causal_normalisation_cancels_a_constant_channel_offset():
    """A fixed colouring of every frame moves the normalised frames less and less as the running
    mean learns it: by prior_frames / (frames + prior_frames)."""
    net = GenderRNN(ModelConfig(input_dim=8, hidden=4, layers=1, normalisation="causal", prior_frames=50))
    x = torch.randn(1, 500, 8)
    offset = torch.linspace(-3, 3, 8)
    shift = net.normalise(x + offset)[0] - net.normalise(x)[0]
    torch.testing.assert_close(shift[0, 0], offset * 50 / 51)
    torch.testing.assert_close(shift[0, -1], offset * 50 / 550)
    global_net = GenderRNN(ModelConfig(input_dim=8, hidden=4, layers=1, normalisation="global"))
    torch.testing.assert_close((global_net.normalise(x + offset)[0] - global_net.normalise(x)[0])[0, -1], offset)


def test_configs_saved_before_the_normalisation_option_load_as_global():
    saved = {k: v for k, v in ModelConfig().to_dict().items() if k != "normalisation"}
    assert ModelConfig().normalisation == "causal" and ModelConfig.from_dict(saved).normalisation == "global"
    assert ModelConfig.from_dict(ModelConfig().to_dict()) == ModelConfig()


def test_normalisation_is_applied():
    net = GenderRNN(ModelConfig(input_dim=4, hidden=4, layers=1, normalisation="global")).eval()
    x = torch.randn(1, 5, 4)
    before, _ = net(x)
    net.set_normalisation(torch.full((4,), 3.0), torch.full((4,), 2.0))
    after, _ = net(x * 2 + 3)
    torch.testing.assert_close(before, after, atol=1e-5, rtol=1e-4)


def test_a_saved_model_runs_on_onnx_as_the_torch_network_does_state_included(tmp_path, net):
    features = FeatureConfig(n_mels=40)
    net.set_normalisation(torch.linspace(-1, 1, 40), torch.linspace(0.5, 2, 40))
    save_model_dir(tmp_path / "m", net, features, {"window_s": 4.0}, {"note": "test"}, card="# card\n")
    model = load_model(tmp_path / "m")
    assert model.features == features and model.window_s == 4.0
    x = np.random.default_rng(0).standard_normal((2, 20, 40)).astype(np.float32)
    onnx_first, onnx_state = model.network(x[:, :12])
    torch_first, torch_state = torch_network(net)(x[:, :12])
    np.testing.assert_allclose(onnx_first, torch_first, atol=1e-5)
    for a, b in zip(onnx_state, torch_state):
        np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(model.network(x[:, 12:], onnx_state)[0], torch_network(net)(x[:, 12:], torch_state)[0], atol=1e-5)
    torch.testing.assert_close(load_torch_model(tmp_path / "m").net.state_dict(), net.state_dict())
    assert (tmp_path / "m" / "MODEL_CARD.md").read_text() == "# card\n"
    assert json.loads((tmp_path / "m" / "config.json").read_text())["metadata"] == {"note": "test"}


def test_windowed_inference_matches_direct_call_within_a_window(net):
    features = FeatureConfig(n_mels=40)
    model = Model(torch_network(net), features, {"inference": {"window_s": 30.0}})
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    lp = model.posteriors([audio])[0]
    direct = torch_network(net)(extract(audio, features)[None])[0][0]
    np.testing.assert_allclose(lp, direct, atol=1e-5)


def test_primer_frames_prime_the_first_window_only_and_get_no_output(net):
    model = Model(torch_network(net), FeatureConfig(n_mels=40), {"inference": {"window_s": 0.5}})  # windows of 25 frames
    feats = np.random.default_rng(0).standard_normal((7 + 60, 40)).astype(np.float32)
    lp = model.feature_log_posteriors([feats], [7])[0]
    assert lp.shape == (60, 2)
    whole_first = torch_network(net)(feats[None, :7 + 25])[0][0]
    np.testing.assert_allclose(lp[:25], whole_first[7:], atol=1e-5)  # the first window ran on from the primer
    unprimed = model.feature_log_posteriors([feats[7:]])[0]
    np.testing.assert_allclose(lp[25:], unprimed[25:], atol=1e-5)  # later windows start afresh at the same frames
    assert not np.allclose(lp[:25], unprimed[:25], atol=1e-3)


@pytest.mark.parametrize("damage", ["missing_graph", "damaged_graph", "bad_json", "wrong_shape", "bad_inference", "not_a_dir"])
def test_broken_model_dirs_raise_model_error(tmp_path, net, damage):
    root = save_model_dir(tmp_path / "m", net, FeatureConfig(n_mels=40))
    if damage == "missing_graph":
        (root / "model.onnx").unlink()
    elif damage == "damaged_graph":
        (root / "model.onnx").write_bytes(b"\x00" * 100)
    elif damage == "bad_json":
        (root / "config.json").write_text("{not json")
    elif damage == "wrong_shape":
        config = json.loads((root / "config.json").read_text())
        config["model"]["hidden"] = 99
        (root / "config.json").write_text(json.dumps(config))
    elif damage == "bad_inference":
        config = json.loads((root / "config.json").read_text())
        config["inference"] = {"window_s": 4.0, "aggregation": "loudest"}
        (root / "config.json").write_text(json.dumps(config))
    else:
        root = tmp_path / "nowhere"
    with pytest.raises(ModelError) as err:
        load_model(root)
    assert str(root) in str(err.value) and "\n" not in str(err.value)


def test_a_model_without_torch_weights_cannot_be_fine_tuned_and_says_so(tmp_path, net):
    root = save_model_dir(tmp_path / "m", net, FeatureConfig(n_mels=40))
    (root / "model.safetensors").unlink()
    load_model(root)  # inference needs only the graph
    with pytest.raises(ModelError, match="missing model.safetensors"):
        load_torch_model(root)


def test_speech_only_aggregation_averages_the_frames_vad_calls_speech(net, female_clip):
    from voxgender.core.aggregate import mean_log_posterior
    from voxgender.core.vad import speech_frames

    model = Model(torch_network(net), FeatureConfig(n_mels=40), {"inference": {"window_s": 30.0}})
    audio = np.concatenate([np.zeros(16000, np.float32), female_clip, np.zeros(16000, np.float32)])
    lp = model.posteriors([audio])[0]
    mask = speech_frames(audio, len(lp), model.features)
    assert 0 < mask.sum() < len(mask) and not mask[:10].any()
    expected = mean_log_posterior(lp[mask])
    assert model.p_female_of_arrays([audio], "speech_mean_log")[0] == pytest.approx(expected)
    assert model.p_female_of_arrays([audio], "speech_mean_log")[0] != pytest.approx(mean_log_posterior(lp))


def test_split_speakers_reads_a_model_dir_or_a_splits_file(tmp_path):
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a", "b"], "val": ["c"], "test": []}))
    assert split_speakers(tmp_path, "train") == {"a", "b"}
    assert split_speakers(tmp_path / "splits.json", "val") == {"c"}
    with pytest.raises(ModelError, match="no 'dev' split"):
        split_speakers(tmp_path, "dev")
    with pytest.raises(ModelError, match="no splits file"):
        split_speakers(tmp_path / "elsewhere", "test")


def test_predict_takes_a_path_bytes_an_array_or_a_list_of_them(tmp_path, female_clip, male_clip):
    import soundfile as sf

    model = load_model()
    path = tmp_path / "f.wav"
    sf.write(path, female_clip, 16000)
    by_path, by_bytes, by_array = model.predict(str(path)), model.predict(path.read_bytes()), model.predict(female_clip.copy())
    assert by_path.p_female == by_bytes.p_female == pytest.approx(by_array.p_female, abs=1e-4)
    assert by_path.path == str(path) and by_bytes.path == "<bytes>"
    both = model.predict([male_clip.copy(), str(path)])
    assert [p.p_female for p in both] == [model.predict(male_clip.copy()).p_female, by_path.p_female]


def test_a_long_recording_scored_block_by_block_matches_it_whole(tmp_path, female_clip, male_clip):
    import soundfile as sf

    from voxgender.predict import predict_batch

    model = load_model(all_members=True, speech_check="full")
    talk = np.concatenate([female_clip, male_clip] * 6)  # 24 s
    path = tmp_path / "talk.flac"
    sf.write(path, talk, 16000)
    whole = model.predict(talk.copy())
    assert 10 < whole.speech_s <= 24
    for block_s in (8.0, 16.0):  # blocks of one and of two network windows
        p_female, duration, speech_s = model._p_female_of_blocks(model._blocks_of(str(path), block_s))
        assert p_female == pytest.approx(whole.p_female, abs=2e-4) and duration == pytest.approx(24.0)
        assert speech_s == pytest.approx(whole.speech_s, abs=0.033)  # silero-vad's state carried across blocks
    majority = model.p_female_of_arrays([talk.copy()], "majority")[0]
    assert model._p_female_of_blocks(model._blocks_of(str(path), 8.0), "majority")[0] == pytest.approx(majority, abs=1e-3)
    import voxgender.model as model_module

    short, short_file = predict_batch(model, [str(path)])[0], model.predict(str(path))
    saved, model_module.LONG_BLOCK_S = model_module.LONG_BLOCK_S, 8.0
    try:
        long, long_file = predict_batch(model, [str(path)])[0], model.predict(str(path))
    finally:
        model_module.LONG_BLOCK_S = saved
    assert long["p_female"] == pytest.approx(short["p_female"], abs=2e-4) and long["duration_s"] == short["duration_s"]
    assert long["speech_s"] == pytest.approx(short["speech_s"], abs=0.033)
    assert long_file.p_female == pytest.approx(short_file.p_female, abs=2e-4) == short["p_female"]


def test_the_speech_gate_gives_the_full_checks_labels_and_stops_listening_once_it_has_heard_speech(tmp_path, monkeypatch,
                                                                                                       female_clip):
    import soundfile as sf
    from helpers import synthetic_music

    import voxgender.model as model_module
    from voxgender.core.vad import speech_probabilities, speech_seconds, speech_until
    from voxgender.predict import predict_batch

    talk = np.concatenate([female_clip] * 4)
    whole = speech_seconds(speech_probabilities(talk))
    assert 0.5 <= speech_until(talk, 0.5)[0] < whole - 1  # it stops early ...
    assert speech_until(talk, 100.0)[0] == pytest.approx(whole)  # ... and short of enough, it heard it all
    music = synthetic_music()
    sf.write(tmp_path / "music.flac", np.concatenate([music] * 10), 16000)
    sf.write(tmp_path / "talk.flac", np.concatenate([talk] * 5), 16000)
    monkeypatch.setattr(model_module, "LONG_BLOCK_S", 8.0)  # the files are heard block by block

    def records(check: str) -> list[dict]:
        model = load_model(speech_check=check)
        return [p.to_dict() for p in model.predict([music, talk])] + predict_batch(model, [str(tmp_path / "music.flac"),
                                                                                            str(tmp_path / "talk.flac")])

    gate, full = records("gate"), records("full")
    assert [r["label"] for r in gate] == [r["label"] for r in full] == ["none", "female", "none", "female"]
    assert [r["p_female"] for r in gate] == [r["p_female"] for r in full]
    assert [r["speech_s"] for r in gate] == [full[0]["speech_s"], None, full[2]["speech_s"], None]
    assert full[0]["speech_s"] < 0.5 < full[1]["speech_s"] and full[2]["speech_s"] < 0.5 < full[3]["speech_s"]
    speech_only = [load_model(speech_check=check).predict(talk, aggregation="speech_mean_log") for check in ("gate", "full")]
    assert speech_only[0].p_female == speech_only[1].p_female and speech_only[0].speech_s is None  # the gate reports alike


def test_an_unknown_speech_check_is_refused_with_the_ones_there_are():
    with pytest.raises(ValueError, match="gate, full, off"):
        load_model(speech_check="partial")


@pytest.mark.parametrize("cfg", [ModelConfig(input_dim=60), ModelConfig(input_dim=40, cell="lstm", bidirectional=True, layers=3),
                                 ModelConfig(members=3)], ids=["gru", "bidirectional-lstm", "ensemble"])
def test_a_config_counts_the_parameters_of_the_networks_it_builds(cfg):
    from voxgender.training.networks import build_net

    assert cfg.num_parameters == sum(p.numel() for p in build_net(cfg).parameters())
