"""The ONNX graphs that inference runs give the torch model's answers: the bundled model on
synthetic voices and on real speech, file decisions and streams alike."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ROOT

from voxgender.io.model_dir import bundled_model_dir, split_speakers
from voxgender.model import Model, load_model
from voxgender.streaming import Stream
from voxgender.synth import synth_clip
from voxgender.training.model_files import load_torch_model
from voxgender.training.networks import torch_network

SHARED_DATA = ROOT.parent / "shared" / "data"
TOLERANCE = 1e-3  # largest difference in p_female allowed between the ONNX graph and the torch model


@pytest.fixture(scope="module")
def both() -> tuple[Model, Model]:
    """The bundled model on onnxruntime, and the same weights on torch."""
    onnx = load_model(all_members=True)
    saved = load_torch_model(bundled_model_dir())
    return onnx, Model(torch_network(saved.net), saved.features, saved.config)


def assert_same_answers(onnx: Model, torch_model: Model, clips: list[np.ndarray]) -> None:
    p_onnx, p_torch = onnx.p_female_of_arrays(clips), torch_model.p_female_of_arrays(clips)
    assert np.abs(p_onnx - p_torch).max() <= TOLERANCE
    assert ((p_onnx >= 0.5) == (p_torch >= 0.5)).all()


def test_the_bundled_graph_decides_synthetic_voices_and_noise_as_the_torch_model_does(both):
    rng = np.random.default_rng(0)
    clips = [synth_clip(gender, seconds, seed) for seed, (gender, seconds) in
             enumerate([("female", 2.0), ("male", 2.0), ("female", 9.5), ("male", 17.0), ("female", 0.3)])]
    clips += [0.05 * rng.standard_normal(24000).astype(np.float32), np.zeros(8000, np.float32)]
    assert_same_answers(*both, clips)


def test_a_stream_on_the_graph_follows_the_torch_model_frame_by_frame(both):
    onnx, torch_model = both
    clip = np.concatenate([synth_clip("male", 3.0, 7), np.zeros(8000, np.float32), synth_clip("female", 3.0, 8)])
    options = dict(vad=False, interval_s=onnx.features.hop_ms / 1000, smoothing="none", hold_s=0)
    runs = []
    for model in (onnx, torch_model):
        stream = Stream(model, **options)
        decisions = stream.feed(clip)
        rest, summary = stream.finish()
        runs.append((np.array([d.p_female for d in decisions + rest if d.p_female is not None]), summary.p_female))
    assert len(runs[0][0]) == len(runs[1][0]) > 250
    np.testing.assert_allclose(runs[0][0], runs[1][0], atol=TOLERANCE)
    assert runs[0][1] == pytest.approx(runs[1][1], abs=TOLERANCE)


def test_the_bundled_graph_decides_real_test_speakers_as_the_torch_model_does(both):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    from voxgender.io.audio import load_audio
    from voxgender.training.data import read_corpus

    test_speakers = split_speakers(bundled_model_dir(), "test")
    clips = []
    for folder in sorted(p for p in SHARED_DATA.iterdir() if (p / "labels.csv").is_file()):
        held_out = [u for u in read_corpus(folder) if u.speaker in test_speakers]
        clips += [load_audio(u.path) for u in held_out[:4]]
    assert len(clips) >= 40
    assert_same_answers(*both, clips)
