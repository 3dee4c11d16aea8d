"""A speaker encoder added to a model: exported from a wheel, its probe fitted, and heard by predict and segment."""

import dataclasses
import io
import shutil
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

from voxgender.cli.main import main
from voxgender.core.speaker_encoder import EMBEDDING_DIM, N_MELS, WINDOW_FRAMES, SpeakerEncoder
from voxgender.errors import ModelError
from voxgender.io.model_dir import ENCODER_FILE
from voxgender.model import LONG_BLOCK_S, load_model
from voxgender.segment import ENCODER_WEIGHT, Segmenter
from voxgender.training.speaker_encoder import LICENSE_FILE, WEIGHTS_IN_WHEEL, Ge2eEncoder, export_encoder


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A stand-in for Resemblyzer's wheel: GE2E's architecture with random weights, where the wheel keeps them."""
    torch.manual_seed(0)
    lstm, linear = torch.nn.LSTM(N_MELS, EMBEDDING_DIM, 3, batch_first=True), torch.nn.Linear(EMBEDDING_DIM, EMBEDDING_DIM)
    state = {**{f"lstm.{k}": v for k, v in lstm.state_dict().items()}, **{f"linear.{k}": v for k, v in linear.state_dict().items()},
             "similarity_weight": torch.tensor([10.0])}
    buffer = io.BytesIO()
    torch.save({"model_state": state}, buffer)
    path = tmp_path_factory.mktemp("wheel") / "Resemblyzer-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(WEIGHTS_IN_WHEEL, buffer.getvalue())
        archive.writestr("Resemblyzer-0.1.4.dist-info/LICENSE", "Apache License, Version 2.0")
    return path


@pytest.fixture(scope="module")
def encoded_model_dir(tiny_model_dir, synthetic_corpora, wheel, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("encoded") / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    assert main(["add-encoder", "--model", str(model_dir), "--data", str(synthetic_corpora["train"]), "--wheel", str(wheel)]) == 0
    return model_dir


def test_the_exported_graph_embeds_as_the_torch_network_does(wheel, tmp_path):
    graph = export_encoder(wheel, tmp_path / ENCODER_FILE)
    with zipfile.ZipFile(wheel) as archive:
        network = Ge2eEncoder(torch.load(io.BytesIO(archive.read(WEIGHTS_IN_WHEEL)))["model_state"])
    mel = np.random.default_rng(0).gamma(0.5, 20, (3, WINDOW_FRAMES, N_MELS)).astype(np.float32)  # raw power's long tail
    ours = SpeakerEncoder(graph.read_bytes()).session.run(None, {"mel": mel})[0]
    theirs = network(torch.from_numpy(mel)).detach().numpy()
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-4)
    assert (ours * theirs).sum(axis=1).min() > 0.9999  # weights stored in half precision, computed in single
    assert graph.stat().st_size < 0.55 * 4 * sum(p.numel() for p in network.parameters())


def test_a_wheel_without_the_encoders_weights_or_licence_is_one_clear_error(wheel, tmp_path):
    no_weights, no_licence = tmp_path / "no_weights.whl", tmp_path / "no_licence.whl"
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(no_weights, "w") as a, zipfile.ZipFile(no_licence, "w") as b:
        a.writestr("Resemblyzer-0.1.4.dist-info/LICENSE", "Apache License, Version 2.0")
        b.writestr(WEIGHTS_IN_WHEEL, source.read(WEIGHTS_IN_WHEEL))
    for bad in (no_weights, no_licence, tmp_path / "missing.whl"):
        with pytest.raises(ModelError, match=f"{bad}: not Resemblyzer's wheel"):
            export_encoder(bad, tmp_path / ENCODER_FILE)


def test_add_encoder_stores_the_graph_the_probe_and_its_validation_figures(encoded_model_dir):
    import json

    setting = json.loads((encoded_model_dir / "config.json").read_text())["inference"]["speaker_encoder"]
    assert (encoded_model_dir / ENCODER_FILE).is_file()
    assert "Apache" in (encoded_model_dir / LICENSE_FILE).read_text()
    assert len(setting["weights"]) == EMBEDDING_DIM and setting["fusion_weight"] == 0.5
    assert setting["check"]["train_clips"] > 0 and 0 <= setting["check"]["val_uar_fused"] <= 1


def test_predict_with_the_encoder_adds_the_probes_log_odds_to_the_networks(encoded_model_dir, female_clip):
    plain, fused = load_model(encoded_model_dir), load_model(encoded_model_dir, encoder=True)
    encoder, probe = fused.encoder
    p_network = plain.p_female_of_arrays([female_clip], calibrated=False)
    expected = probe.fused(p_network, encoder.embed(female_clip)[None])
    assert np.allclose(fused.p_female_of_arrays([female_clip]), expected)
    assert fused.predict(female_clip).p_female == pytest.approx(float(expected[0]), abs=1e-4)


def test_a_long_recording_read_in_blocks_is_heard_by_the_encoder_too(encoded_model_dir, female_clip, tmp_path):
    model = load_model(encoded_model_dir, encoder=True, speech_check="off")
    encoder, probe = model.encoder
    long_file = tmp_path / "long.flac"
    sf.write(long_file, np.tile(female_clip, int(LONG_BLOCK_S * 1.5 / 2)), 16000)
    certain_male = dataclasses.replace(probe, weights=(0.0,) * EMBEDDING_DIM, bias=-60.0)
    certain_female = dataclasses.replace(probe, weights=(0.0,) * EMBEDDING_DIM, bias=60.0)
    model.encoder = (encoder, certain_male)
    assert model.predict(str(long_file)).label == "male"
    model.encoder = (encoder, certain_female)
    assert model.predict(str(long_file)).label == "female"


def test_asking_for_the_encoder_of_a_model_without_one_names_the_model_and_the_remedy(tiny_model_dir, capsys, tmp_path, female_clip):
    with pytest.raises(ModelError, match="add-encoder"):
        load_model(tiny_model_dir, encoder=True)
    clip = tmp_path / "f.wav"
    sf.write(clip, female_clip, 16000)
    assert main(["predict", str(clip), "--model", str(tiny_model_dir), "--encoder"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no speaker encoder" in err and str(tiny_model_dir) in err


def test_the_card_of_a_model_with_an_encoder_says_what_it_is_its_licence_and_its_validation_figures(encoded_model_dir, tiny_model_dir):
    import json

    from voxgender.training.card import render_card

    card = render_card(json.loads((encoded_model_dir / "config.json").read_text()), [])
    assert "## Speaker encoder (`--encoder`)" in card and "Apache-2.0" in card and "weight 0.5" in card
    assert "`segment --encoder`" in card and f"weight {ENCODER_WEIGHT:g}" in card
    assert "Speaker encoder" not in render_card(json.loads((tiny_model_dir / "config.json").read_text()), [])


def test_segment_with_the_encoder_adds_its_windows_log_odds_to_the_frames(encoded_model_dir, female_clip, tmp_path):
    model = load_model(encoded_model_dir, encoder=True)
    encoder, probe = model.encoder
    audio = np.concatenate([np.zeros(8000, np.float32), np.tile(female_clip, 3), np.zeros(8000, np.float32)])
    labels = {}
    for name, bias in (("male", -60.0), ("female", 60.0)):
        model.encoder = (encoder, dataclasses.replace(probe, weights=(0.0,) * EMBEDDING_DIM, bias=bias))
        with Segmenter(model) as segmenter:
            labels[name] = {s.label for s in segmenter.segment_array(audio).segments} - {"nonspeech"}
    assert labels == {"male": {"male"}, "female": {"female"}}
    path = tmp_path / "talk.wav"
    sf.write(path, audio, 16000)
    assert main(["segment", str(path), "--model", str(encoded_model_dir), "--encoder", "--out", str(tmp_path / "out")]) == 0


def test_batch_predictions_and_segmentations_hear_the_encoder(encoded_model_dir, female_clip, tmp_path):
    import json

    clip = tmp_path / "f.wav"
    sf.write(clip, female_clip, 16000)
    out = tmp_path / "results.jsonl"
    assert main(["batch", str(clip), "--model", str(encoded_model_dir), "--encoder", "--out", str(out), "--workers", "1"]) == 0
    record = json.loads(out.read_text().splitlines()[0])
    assert record["p_female"] == pytest.approx(load_model(encoded_model_dir, encoder=True).predict(str(clip)).p_female, abs=1e-4)
    segments = tmp_path / "s.jsonl"
    assert main(["batch", str(clip), "--task", "segment", "--model", str(encoded_model_dir), "--encoder",
                 "--out", str(segments), "--workers", "1"]) == 0
    record = json.loads(segments.read_text().splitlines()[0])
    with Segmenter(load_model(encoded_model_dir, encoder=True)) as segmenter:
        expected = segmenter.segment_file(str(clip)).summary.to_dict()
    assert record["female_share"] == expected["female_share"] and "error" not in record
