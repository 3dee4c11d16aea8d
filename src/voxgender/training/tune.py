"""Hyper-parameter search with Optuna: TPE sampling, median pruning on validation UAR per epoch,
SQLite storage (a study resumes where it stopped) and a report folder with tables and plots.

Selection uses the validation split only; the test split is never looked at.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from voxgender.core.features import FeatureConfig
from voxgender.core.networks import ModelConfig
from voxgender.io.model_dir import atomic_write_text
from voxgender.io.progress import say
from voxgender.training.augment import AugmentConfig
from voxgender.training.trainer import Clip, TrainConfig, train


def suggest(trial: Any) -> tuple[FeatureConfig, ModelConfig, TrainConfig]:
    """Draw one configuration from the search space."""
    kind = trial.suggest_categorical("features", ["logmel", "mfcc"])
    n_mels = trial.suggest_categorical("n_mels", [32, 40, 64])
    features = FeatureConfig(kind=kind, n_mels=n_mels, n_mfcc=min(20, n_mels),
                             deltas=kind == "mfcc" and trial.suggest_categorical("deltas", [False, True]))
    arch = ModelConfig(
        cell=trial.suggest_categorical("cell", ["gru", "lstm"]),
        layers=trial.suggest_int("layers", 1, 3),
        hidden=trial.suggest_categorical("hidden", [32, 48, 64, 96, 128]),
        dropout=trial.suggest_float("dropout", 0.0, 0.4),
        bidirectional=trial.suggest_categorical("bidirectional", [False, True]),
    )
    cfg = TrainConfig(
        lr=trial.suggest_float("lr", 3e-4, 1e-2, log=True),
        optimizer=trial.suggest_categorical("optimizer", ["adam", "rmsprop"]),
        batch_size=trial.suggest_categorical("batch_size", [16, 32, 64]),
        crop_s=trial.suggest_float("crop_s", 1.0, 4.0),
        augment=AugmentConfig(strength=trial.suggest_float("augment", 0.0, 1.5)),
        ema_decay=0.0,  # trials of a few hundred steps are too short for a ~200-step weight average
    )
    return features, arch, cfg


def run_study(
    train_clips: Sequence[Clip],
    val_clips: Sequence[Clip],
    out_dir: str | Path,
    n_trials: int = 12,
    epochs: int = 6,
    steps_per_epoch: int = 60,
    study_name: str = "voxgender",
    seed: int = 0,
    timeout_s: float | None = None,
) -> Any:
    """Run (or continue) the study stored in ``out_dir/study.db``; write the report; return the study."""
    import optuna

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=study_name, storage=f"sqlite:///{out / 'study.db'}", load_if_exists=True, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, n_trials)),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
    )
    done = sum(t.state.is_finished() for t in study.trials)

    def objective(trial: Any) -> float:
        features, arch, cfg = suggest(trial)
        cfg = replace(cfg, epochs=epochs, steps_per_epoch=steps_per_epoch, seed=seed, patience=epochs)

        def report(epoch: int, metrics: dict[str, float]) -> None:
            trial.report(metrics["val_uar"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        result = train(train_clips, val_clips, out / "trials" / f"{trial.number:03d}", features, arch, cfg,
                       show_progress=False, on_epoch=report)
        return result["val_uar"]

    remaining = max(0, n_trials - done)
    if remaining:
        say(f"study {study_name}: {done} trials done, running {remaining} more")
        study.optimize(objective, n_trials=remaining, timeout=timeout_s)
    write_report(study, out)
    return study


def write_report(study: Any, out: Path) -> None:
    """trials.csv, best_config.json, optimisation history and parameter importance plots, report.md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    frame = study.trials_dataframe()
    frame.to_csv(out / "trials.csv", index=False)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    lines = [f"# Tuning report: study `{study.study_name}`", "",
             f"{len(study.trials)} trials: {len(complete)} complete, "
             f"{sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)} pruned. "
             "Objective: best validation UAR (file level) of the trial; the test split is never used.", ""]
    if complete:
        best = study.best_trial
        atomic_write_text(out / "best_config.json", json.dumps(
            {"trial": best.number, "val_uar": best.value, "params": best.params}, indent=2) + "\n")
        lines += [f"Best: trial {best.number}, validation UAR {best.value:.4f}", "", "| parameter | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in best.params.items()]
        plots = [("optimization_history.png", ovm.plot_optimization_history)]
        if len(complete) >= 2:
            plots.append(("param_importances.png", ovm.plot_param_importances))
        for name, plot in plots:
            ax = plot(study)
            ax.figure.set_size_inches(8, 4.5)
            ax.figure.tight_layout()
            ax.figure.savefig(out / name, dpi=100)
            plt.close(ax.figure)
            lines += ["", f"![{name}]({name})"]
    lines += ["", "All trials: [trials.csv](trials.csv)."]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
