"""Calibrated probabilities: Platt scaling, its storage in a model, ECE, reliability, abstention."""

import json

import numpy as np
import pytest
import torch

from voxgender.cli.main import main
from voxgender.core.calibration import Calibration, coverage_curve, expected_calibration_error, fit_calibration, logit, reliability, sigmoid
from voxgender.core.features import FeatureConfig
from voxgender.core.networks import ModelConfig
from voxgender.io.model_dir import update_inference
from voxgender.model import Prediction, load_model
from voxgender.training.model_files import save_model_dir
from voxgender.training.networks import GenderRNN


def over_confident_scores(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose true log-odds are a third of what they claim, and lean female by 1 nat."""
    rng = np.random.default_rng(seed)
    female = rng.random(n) < 0.5
    true_log_odds = np.where(female, 1.0, -1.0) * rng.gamma(2.0, 1.0, n) + rng.normal(0, 1.0, n)
    female = rng.random(n) < sigmoid(true_log_odds)
    return sigmoid(3 * true_log_odds + 1.0), female


def test_the_identity_calibration_changes_nothing():
    p = np.array([0.01, 0.3, 0.5, 0.9])
    np.testing.assert_allclose(Calibration()(p), p, atol=1e-9)


def test_platt_scaling_recovers_the_over_confidence_and_the_lean():
    raw, female = over_confident_scores()
    fitted = fit_calibration(raw, female)
    assert fitted.scale == pytest.approx(1 / 3, abs=0.06)
    assert expected_calibration_error(fitted(raw), female) < expected_calibration_error(raw, female) / 2


def test_a_calibration_needs_both_genders_and_a_positive_scale():
    with pytest.raises(ValueError, match="both genders"):
        fit_calibration([0.2, 0.8], [True, True])
    with pytest.raises(ValueError, match="positive scale"):
        Calibration(scale=0.0)


def test_ece_is_zero_when_confidence_equals_accuracy_and_the_gap_otherwise():
    p = np.full(100, 0.8)  # confidence 0.8 for female ...
    female = np.arange(100) < 80  # ... right on 80 of 100
    assert expected_calibration_error(p, female) == pytest.approx(0.0)
    assert expected_calibration_error(p, np.arange(100) < 50) == pytest.approx(0.3)
    (row,) = reliability(p, female)
    assert (row["n"], row["confidence"], row["accuracy"]) == (100, pytest.approx(0.8), pytest.approx(0.8))


def test_coverage_curve_answers_fewer_files_with_fewer_errors():
    p = np.array([0.99, 0.95, 0.6, 0.45, 0.02, 0.3])
    female = np.array([True, True, False, True, False, False])
    rows = {r["min_confidence"]: r for r in coverage_curve(p, female, (0.5, 0.9))}
    assert rows[0.5]["coverage"] == 1.0 and rows[0.5]["error"] == pytest.approx(2 / 6)
    assert rows[0.9]["coverage"] == pytest.approx(3 / 6) and rows[0.9]["error"] == 0.0


def test_a_prediction_below_the_minimum_confidence_is_unknown():
    assert Prediction.from_p_female("a", 0.7, 1.0, min_confidence=0.8).label == "unknown"
    assert Prediction.from_p_female("a", 0.9, 1.0, min_confidence=0.8).label == "female"
    assert Prediction.from_p_female("a", 0.1, 1.0).label == "male"


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    features = FeatureConfig(n_mels=40)
    net = GenderRNN(ModelConfig(input_dim=40, hidden=16))
    return save_model_dir(tmp_path / "m", net, features, {"window_s": 4.0})


def test_a_stored_calibration_is_applied_to_file_decisions(model_dir, female_clip, male_clip):
    clips = [female_clip.copy(), male_clip.copy()]
    raw = load_model(model_dir).p_female_of_arrays(clips)
    update_inference(model_dir, calibration={"scale": 0.5, "bias": -0.25})
    model = load_model(model_dir)
    np.testing.assert_allclose(model.p_female_of_arrays(clips), sigmoid(0.5 * logit(raw) - 0.25), rtol=1e-6)
    np.testing.assert_allclose(model.p_female_of_arrays(clips, calibrated=False), raw, rtol=1e-6)
    assert json.loads((model_dir / "config.json").read_text())["inference"]["window_s"] == 4.0


def test_a_calibration_is_kept_only_when_it_is_truer_on_speakers_it_was_not_fitted_on():
    from voxgender.calibrate import judge_calibration

    raw, female = over_confident_scores()
    speakers = np.array([f"s{i % 200}" for i in range(len(raw))])
    judged = judge_calibration(raw, female, speakers)
    assert judged["kept"] and judged["log_loss_out_of_fold"] < judged["log_loss_before"] - 0.05
    assert judged["ece_out_of_fold"] < judged["ece_before"] - 0.05
    assert judged["calibration"]["scale"] < 0.6 and judged["speakers"] == 200
    honest = sigmoid(logit(raw) / 3 - 1 / 3)  # the true probabilities of those clips
    judged = judge_calibration(honest, female, speakers)
    assert judged["ece_before"] < 0.03 and abs(judged["ece_out_of_fold"] - judged["ece_before"]) < 0.02
    assert judged["kept"] == (judged["log_loss_out_of_fold"] < judged["log_loss_before"])


def test_calibrate_command_judges_a_fit_on_the_validation_speakers_and_stores_it_or_none(tmp_path, synthetic_corpora, capsys):
    out = tmp_path / "model"
    assert main(["train", "--data", str(synthetic_corpora["train"]), "--out", str(out), "--epochs", "1",
                 "--steps-per-epoch", "2", "--batch-size", "4", "--hidden", "8", "--val-fraction", "0.3"]) == 0
    assert main(["calibrate", "--model", str(out), "--data", str(synthetic_corpora["train"])]) == 0
    err = capsys.readouterr().err
    stored = json.loads((out / "config.json").read_text())["inference"]["calibration"]
    assert "log-loss" in err and "expected calibration error" in err and "fitted on other speakers" in err
    if "not kept" in err:
        assert stored is None and load_model(out).calibration is None
    else:
        assert stored["scale"] > 0 and load_model(out).calibration == Calibration(stored["scale"], stored["bias"])


def test_predict_min_confidence_labels_doubtful_files_unknown(tmp_path, model_dir, female_clip, capsys):
    import soundfile as sf

    path = tmp_path / "a.wav"
    sf.write(path, female_clip, 16000)
    assert main(["predict", str(path), "--model", str(model_dir), "--min-confidence", "1.0", "--format", "jsonl"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "unknown"
