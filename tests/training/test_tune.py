"""The Optuna study runs, resumes from its SQLite storage and writes its report."""

import csv
import json
from dataclasses import replace

import pytest

from voxgender.cli.main import main
from voxgender.training import tune

optuna = pytest.importorskip("optuna")


def test_search_space_maps_to_valid_configs():
    params = {"features": "mfcc", "n_mels": 32, "deltas": True, "cell": "lstm", "layers": 3, "hidden": 96,
              "dropout": 0.2, "bidirectional": True, "lr": 1e-3, "optimizer": "rmsprop", "batch_size": 16,
              "crop_s": 2.5, "augment": 0.7}
    features, arch, cfg = tune.suggest(optuna.trial.FixedTrial(params))
    assert features.kind == "mfcc" and features.deltas and features.dim == 60
    assert (arch.cell, arch.layers, arch.hidden, arch.bidirectional) == ("lstm", 3, 96, True)
    assert (cfg.optimizer, cfg.batch_size, cfg.crop_s, cfg.augment.strength) == ("rmsprop", 16, 2.5, 0.7)


def test_tune_runs_resumes_and_reports(synthetic_corpora, tmp_path, capsys, monkeypatch):
    real_suggest = tune.suggest

    def small(trial):  # the real search space, with the network kept small so the test is quick
        features, arch, cfg = real_suggest(trial)
        return features, replace(arch, hidden=16, layers=1, bidirectional=False), replace(cfg, batch_size=8, crop_s=1.0)

    monkeypatch.setattr(tune, "suggest", small)
    args = ["tune", "--data", str(synthetic_corpora["train"]), "--out", str(tmp_path / "study"),
            "--epochs", "2", "--steps-per-epoch", "3", "--val-fraction", "0.2", "--test-fraction", "0"]
    assert main([*args, "--trials", "2"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert 0.0 <= first["val_uar"] <= 1.0 and "cell" in first["params"]
    assert main([*args, "--trials", "3"]) == 0
    rows = list(csv.DictReader((tmp_path / "study" / "trials.csv").open()))
    assert [int(r["number"]) for r in rows] == [0, 1, 2]
    best = json.loads((tmp_path / "study" / "best_config.json").read_text())
    assert best["val_uar"] == max(float(r["value"]) for r in rows if r["value"])
    for name in ("optimization_history.png", "param_importances.png", "report.md", "study.db"):
        assert (tmp_path / "study" / name).stat().st_size > 0
    assert "Best: trial" in (tmp_path / "study" / "report.md").read_text()
