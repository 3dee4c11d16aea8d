"""``voxgender train``, ``tune``, ``evaluate``, ``calibrate``, ``export``, ``ensemble`` and ``card``:
models of your own (the ``train`` extra)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxgender.cli.config_options import Option, add_config_options, config_from_args
from voxgender.cli.inputs import add_all_members
from voxgender.errors import ModelError, VoxgenderError
from voxgender.io.progress import say

if TYPE_CHECKING:
    from voxgender.core.features import FeatureConfig
    from voxgender.core.networks import ModelConfig
    from voxgender.training.model_files import TorchModel
    from voxgender.training.trainer import TrainConfig


# -- train ---------------------------------------------------------------------------------------
def load_training_data(args: argparse.Namespace) -> tuple[list, list, dict]:
    """Read the corpora, split by speaker, drop any --exclude-speakers from train and val, record the
    split in OUT/splits.json, decode train and val."""
    from voxgender.training.card import find_sources
    from voxgender.training.data import read_corpora, read_speaker_list, speaker_split, summarise
    from voxgender.training.trainer import load_clips, write_splits

    listed = read_speaker_list(args.exclude_speakers) if args.exclude_speakers else set()
    utterances = read_corpora(args.data)
    if args.exclude_children:
        utterances = [u for u in utterances if not u.is_child]
    split_seed = args.seed if args.split_seed is None else args.split_seed
    splits = speaker_split(utterances, args.val_fraction, args.test_fraction, split_seed)
    # Listed speakers leave training and validation only: the test split stays the one the same
    # seed gives without the list, and its figures keep every speaker.
    excluded = sorted({u.speaker for part in ("train", "val") for u in splits[part]} & listed)
    splits = {name: utts if name == "test" else [u for u in utts if u.speaker not in listed] for name, utts in splits.items()}
    if is_main_process():
        write_splits(args.out, splits)
    metadata = {"data": {name: summarise(utts) for name, utts in splits.items()},
                "exclude_children": args.exclude_children, "excluded_speakers": excluded,
                "sources": find_sources(args.data)}
    return load_clips(splits["train"], "training"), load_clips(splits["val"], "validation"), metadata


def add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", nargs="+", required=True, help="corpus folders, folders of corpora, or manifest CSV files")
    g.add_argument("--val-fraction", type=float, default=0.1)
    g.add_argument("--test-fraction", type=float, default=0.1, help="speakers held out entirely (see evaluate --split test)")
    g.add_argument("--exclude-children", action="store_true", help="leave speakers under 13 out of all splits")
    g.add_argument("--exclude-speakers", metavar="CSV", help="leave the speakers of this file's speaker column out "
                   "of training and validation, not of the test split (e.g. benchmarks/results/label_audit.csv: "
                   "labels that the voice contradicts)")
    g.add_argument("--seed", type=int, default=0, help="seed of the split and of training")
    g.add_argument("--split-seed", type=int, help="seed of the split alone (default: --seed), so that networks "
                   "trained with other seeds share one split, as the members of an ensemble must")


def train_recipe(args: argparse.Namespace) -> tuple[FeatureConfig, ModelConfig, TrainConfig]:
    """The feature, architecture and training configs that parsed ``train`` options ask for."""
    from voxgender.core.features import FeatureConfig
    from voxgender.core.networks import ModelConfig
    from voxgender.training.augment import AugmentConfig
    from voxgender.training.trainer import TrainConfig

    try:  # a value a config refuses (say --hidden 0) is one line of error, not a traceback
        augment = config_from_args(AugmentConfig, args, AUGMENT_OPTIONS).with_settings(args.augment_set)
        features = config_from_args(FeatureConfig, args, FEATURE_OPTIONS)
        arch = config_from_args(ModelConfig, args, MODEL_OPTIONS)
        cfg = config_from_args(TrainConfig, args, TRAIN_OPTIONS, seed=args.seed, augment=augment, threads=args.threads,
                               distill=args.distill if args.teacher else 0.0)
    except ValueError as err:
        raise VoxgenderError(str(err)) from None
    return features, arch, cfg


def cmd_train(args: argparse.Namespace) -> int:
    from voxgender.training.networks import member_networks
    from voxgender.training.trainer import claim_out_dir, train_networks

    if args.members < 1:
        raise VoxgenderError(f"--members {args.members}: must be 1 or more")
    if is_main_process():
        claim_out_dir(args.out, args.resume, args.overwrite)
    features, arch, cfg = train_recipe(args)
    start = named_model(args.init_from)
    if start is not None and args.members > 1:
        raise VoxgenderError("--init-from fine-tunes the networks of the model it starts from: leave out --members")
    teacher = named_model(args.teacher)
    train_clips, val_clips, metadata = load_training_data(args)
    if teacher is not None:
        record_origin(metadata, "teacher", args.teacher, teacher)
    starts = [None] * args.members
    if start is not None:  # an ensemble is fine-tuned member by member
        starts = member_networks(start.net)
        features, arch = start.features, start.net.cfg
        record_origin(metadata, "fine_tuned_from", args.init_from, start)
    summaries = train_networks(train_clips, val_clips, args.out, features, arch, cfg, starts,
                               resume=args.resume, metadata=metadata, teacher=teacher)
    if is_main_process():
        for model_dir in [s["out_dir"] for s in summaries] + ([args.out] if len(summaries) > 1 else []):
            write_card(model_dir, {})
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2))
    return 0


def named_model(name: str | None) -> TorchModel | None:
    """The model a ``train`` option names: a model directory, 'bundled' for the shipped one, or None."""
    from voxgender.io.model_dir import bundled_model_dir
    from voxgender.training.model_files import load_torch_model

    return load_torch_model(bundled_model_dir() if name == "bundled" else name) if name else None


def record_origin(metadata: dict[str, Any], key: str, name: str, model: TorchModel) -> None:
    """Record in ``metadata[key]`` a model that the new one learns from (the start of a fine-tuning,
    a distillation's teacher) with that model's training data, and add its corpora's sources."""
    earlier = model.config.get("metadata", {})
    metadata[key] = {"model": name, "data": earlier.get("data", {})}
    metadata["sources"] += [s for s in earlier.get("sources", []) if s not in metadata["sources"]]


def is_main_process() -> bool:
    """False in the worker processes of a torchrun launch (only rank 0 writes and prints)."""
    return int(os.environ.get("RANK", "0")) == 0


def write_card(model_dir: str | Path, evaluations: dict[str, dict], name: str | None = None,
               data: list[str] | None = None, figures: str | None = None) -> Path:
    """Render MODEL_CARD.md of a model directory from its config and the given evaluation results.

    Corpus origins and licences come from the SOURCE.txt files of ``data`` when given, else from
    what training recorded.
    """
    from voxgender.io.model_dir import CARD, CONFIG, atomic_write_text
    from voxgender.training.card import find_sources, render_card

    root = Path(model_dir)
    config = json.loads((root / CONFIG).read_text())
    sources = find_sources(data) if data else config.get("metadata", {}).get("sources", [])
    atomic_write_text(root / CARD, render_card(config, sources, evaluations, name or root.name, figures))
    return root / CARD


# The options of `train`, each setting one field of a config (its type, choices and default come from the field).
FEATURE_OPTIONS: list[Option] = [
    ("--features", "kind", "log-mel bands or their cepstrum (MFCC)"),
    ("--n-mels", "n_mels", "mel bands"),
    ("--n-mfcc", "n_mfcc", "cepstral coefficients kept (--features mfcc)"),
    ("--deltas", "deltas", "append Δ and ΔΔ"),
    ("--win-ms", "win_ms", "analysis window (ms)"),
    ("--hop-ms", "hop_ms", "hop between frames (ms)"),
    ("--pitch-bins", "pitch_bins", "cepstral pitch bands (55-500 Hz) appended to each frame; 0 for none"),
]
MODEL_OPTIONS: list[Option] = [
    ("--cell", "cell", "recurrent cell"),
    ("--layers", "layers", "recurrent layers"),
    ("--hidden", "hidden", "units per recurrent layer"),
    ("--dense", "dense", "units of the dense layer before the two outputs"),
    ("--bidirectional", "bidirectional", "batch-only model (cannot stream)"),
    ("--dropout", "dropout", "dropout between layers"),
    ("--normalisation", "normalisation", "causal: subtract each recording's running feature mean (a constant channel "
     "colouring cancels within seconds) before the global scaling"),
]
TRAIN_OPTIONS: list[Option] = [
    ("--optimizer", "optimizer", "optimiser"),
    ("--lr", "lr", "learning rate"),
    ("--lr-schedule", "lr_schedule", "cosine: decay from --lr to a few percent of it over --epochs"),
    ("--ema-decay", "ema_decay", "validate and save a moving average of the weights with this decay per step (0 = off)"),
    ("--batch-size", "batch_size", "crops per step"),
    ("--epochs", "epochs", "epochs of the schedule"),
    ("--steps-per-epoch", "steps_per_epoch", "steps between validations"),
    ("--crop-s", "crop_s", "longest random training crop (seconds)"),
    ("--patience", "patience", "--keep best: epochs without validation gain before stopping"),
    ("--keep", "keep", "weights to save: the best validation epoch (stopping early), or the last epoch of the schedule"),
    ("--corpus-power", "corpus_power", "corpora drawn in proportion to their speakers to this power: 0 = every corpus "
     "alike, 1 = every speaker alike"),
    ("--corpus-adversary", "corpus_adversary", "domain-adversarial training: a corpus classifier on the recurrent "
     "output, whose gradient reaches the network reversed and scaled up to this weight (0 = off)"),
]
AUGMENT_OPTIONS: list[Option] = [
    ("--augment", "strength", "augmentation strength (0 = off)"),
    ("--speed-perturb", "p_speed", "share of training crops played faster or slower (speed_range, 0.92-1.08x by "
     "default; pitch and formants with it)"),
    ("--pitch-perturb", "p_pitch", "share of training crops with the pitch moved (pitch_range, 0.75-1.5x by default) "
     "and the formants kept"),
    ("--pitch-direction", "pitch_direction", "toward_other: with --pitch-perturb, women's crops are only lowered and "
     "men's only raised"),
    ("--band-masks", "band_masks", "SpecAugment-style masks of up to 10 feature bands per training crop"),
]


def add_train(p: argparse.ArgumentParser) -> None:
    from voxgender.core.features import FeatureConfig
    from voxgender.core.networks import ModelConfig
    from voxgender.training.augment import AugmentConfig
    from voxgender.training.trainer import TrainConfig

    add_data_options(p)
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="delete what OUT holds and train afresh")
    p.add_argument("--members", type=int, default=1, help="train this many networks on one split, with seeds "
                   "--seed, --seed + 1, ... (each in OUT/memberI), and save their ensemble in OUT")
    p.add_argument("--init-from", metavar="MODEL_DIR",
                   help="fine-tune: start from this model ('bundled' for the shipped one); its features, "
                        "architecture and normalisation are kept, so the options of those groups are ignored; "
                        "an ensemble is fine-tuned member by member, each from its own weights")
    add_config_options(p.add_argument_group("features"), FeatureConfig(), FEATURE_OPTIONS)
    add_config_options(p.add_argument_group("model"), ModelConfig(), MODEL_OPTIONS)
    g = p.add_argument_group("training")
    add_config_options(g, TrainConfig(), TRAIN_OPTIONS)
    add_config_options(g, AugmentConfig(), AUGMENT_OPTIONS)
    g.add_argument("--augment-set", action="append", default=[], metavar="NAME=VALUE",
                   help="one augmentation setting, e.g. p_noise=0.6 or snr_db=0,20; "
                        f"repeatable; names: {', '.join(AugmentConfig().to_dict())}")
    g.add_argument("--teacher", metavar="MODEL_DIR",
                   help="distil: also learn this model's frame posteriors on each training crop ('bundled' for "
                        "the shipped one), for example to turn an ensemble into one network of a single network's "
                        "cost; it must use the same features")
    g.add_argument("--distill", type=float, default=0.8, metavar="WEIGHT",
                   help="with --teacher: weight of its posteriors as targets, the labels get 1 - WEIGHT")
    g.add_argument("--threads", type=int, default=TrainConfig().threads, help="torch threads (0 = default)")
    p.set_defaults(handler=cmd_train)


# -- tune ----------------------------------------------------------------------------------------
def cmd_tune(args: argparse.Namespace) -> int:
    from voxgender.training.tune import run_study

    train_clips, val_clips, _ = load_training_data(args)
    study = run_study(train_clips, val_clips, args.out, n_trials=args.trials, epochs=args.epochs,
                      steps_per_epoch=args.steps_per_epoch, study_name=args.study_name, seed=args.seed,
                      timeout_s=args.timeout_min * 60 if args.timeout_min else None)
    best = study.best_trial
    print(json.dumps({"best_trial": best.number, "val_uar": best.value, "params": best.params}, indent=2))
    say(f"report: {Path(args.out) / 'report.md'}")
    return 0


def add_tune(p: argparse.ArgumentParser) -> None:
    add_data_options(p)
    p.add_argument("--out", required=True, help="study folder (study.db, trials/, report.md, plots)")
    p.add_argument("--trials", type=int, default=12, help="total trials of the study (a rerun continues it)")
    p.add_argument("--epochs", type=int, default=6, help="epochs per trial")
    p.add_argument("--steps-per-epoch", type=int, default=60)
    p.add_argument("--study-name", default="voxgender")
    p.add_argument("--timeout-min", type=float, default=0, help="stop starting trials after this long (0 = no limit)")
    p.set_defaults(handler=cmd_tune)


# -- evaluate ------------------------------------------------------------------------------------
def split_utterances(args: argparse.Namespace) -> list:
    """The utterances of ``args.data`` in ``args.split`` of the model's splits.json (or ``--splits-file``)."""
    from voxgender.io.model_dir import SPLITS_FILE, bundled_model_dir, split_speakers
    from voxgender.training.data import read_corpora

    utterances = read_corpora(args.data)
    if args.split == "all":
        return utterances
    splits_file = Path(args.splits_file or Path(args.model or bundled_model_dir()) / SPLITS_FILE)
    try:
        speakers = split_speakers(splits_file, args.split)
    except ModelError as err:
        raise VoxgenderError(f"{err}; give --splits-file or --split all") from None
    utterances = [u for u in utterances if u.speaker in speakers]
    if not utterances:
        raise VoxgenderError(f"{splits_file}: no utterance of the data belongs to the {args.split} split")
    return utterances


def add_split_options(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--model", help="model directory (default: the bundled model)")
    p.add_argument("--data", nargs="+", required=True, help="corpus folders or manifest CSV files")
    p.add_argument("--split", choices=("test", "val", "train", "all"), default=default,
                   help="only the speakers of this split of the model's splits.json")
    p.add_argument("--splits-file", help="splits.json to use (default: the model's own)")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from voxgender.model import load_model
    from voxgender.training.evaluate import evaluate_model, format_summary, write_report

    model = load_model(args.model, all_members=args.all_members)
    result = evaluate_model(model, split_utterances(args))
    print(format_summary(result))
    for path in write_report(result, args.out, title=f"voxgender evaluation ({args.split} split)"):
        say(f"wrote {path}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from voxgender.calibrate import calibrate_model_dir
    from voxgender.model import load_model

    if args.model is None:
        raise VoxgenderError("calibrate writes into a model directory: give --model DIR")
    model = load_model(args.model, all_members=True)
    fit = calibrate_model_dir(args.model, model, split_utterances(args))
    c = fit["calibration"]
    verdict = "kept" if fit["kept"] else "not kept: the model stays uncalibrated"
    say(f"{args.model}: p_female = sigmoid({c['scale']:.4f} * log-odds + {c['bias']:+.4f}) fitted on {fit['clips']} "
        f"{args.split} clips of {fit['speakers']} speakers; fitted on other speakers, log-loss {fit['log_loss_before']:.4f} -> "
        f"{fit['log_loss_out_of_fold']:.4f} and expected calibration error {fit['ece_before']:.4f} -> "
        f"{fit['ece_out_of_fold']:.4f} ({fit['ece_after']:.4f} in sample): {verdict}")
    return 0


def cmd_add_encoder(args: argparse.Namespace) -> int:
    from voxgender.model import load_model
    from voxgender.training.speaker_encoder import add_encoder

    model = load_model(args.model, all_members=True)
    train, val = (split_utterances(argparse.Namespace(**{**vars(args), "split": split})) for split in ("train", "val"))
    check = add_encoder(args.model, model, args.wheel, train, val)
    say(f"{args.model}: speaker encoder added; probe fitted on {check['train_clips']} training clips; validation UAR "
        f"{check['val_uar_network']:.4f} (network) -> {check['val_uar_fused']:.4f} (fused) on {check['val_clips']} clips "
        f"of {check['val_speakers']} speakers; calibration {'kept' if check['calibration_kept'] else 'not kept'}")
    return 0


def add_add_encoder(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model directory to add the encoder to")
    p.add_argument("--data", nargs="+", required=True, help="the corpus folders the model was trained on")
    p.add_argument("--wheel", required=True, help="Resemblyzer 0.1.4's wheel (pip download resemblyzer==0.1.4 --no-deps)")
    p.add_argument("--splits-file", help="splits.json to use (default: the model's own)")
    p.set_defaults(handler=cmd_add_encoder)


def cmd_export(args: argparse.Namespace) -> int:
    from voxgender.training.model_files import export_model_dir

    for path in export_model_dir(args.model):
        say(f"wrote {path}")
    return 0


def add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model directory whose torch weights to export")
    p.set_defaults(handler=cmd_export)


def add_calibrate(p: argparse.ArgumentParser) -> None:
    add_split_options(p, default="val")
    p.set_defaults(handler=cmd_calibrate)


def add_evaluate(p: argparse.ArgumentParser) -> None:
    add_split_options(p, default="all")
    p.add_argument("--out", default="evaluation", help="report folder (metrics.json, PNGs, report.md)")
    add_all_members(p)
    p.set_defaults(handler=cmd_evaluate)


# -- ensemble ------------------------------------------------------------------------------------
def cmd_ensemble(args: argparse.Namespace) -> int:
    from voxgender.training.ensemble import build_ensemble

    out = build_ensemble(args.models, args.out)
    say(f"wrote {out} ({len(args.models)} members) and {write_card(out, {})}")
    return 0


def add_ensemble(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", help="model directories: one architecture and features, one speaker "
                   "split (train them with other --seed and the same --split-seed)")
    p.add_argument("--out", required=True, help="model directory to write")
    p.set_defaults(handler=cmd_ensemble)


# -- card ----------------------------------------------------------------------------------------
def cmd_card(args: argparse.Namespace) -> int:
    evaluations = {}
    for item in args.evaluation:
        title, sep, path = item.partition("=")
        if not sep:
            raise VoxgenderError(f"{item}: expected TITLE=metrics.json")
        try:
            evaluations[title] = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise VoxgenderError(f"{path}: cannot read evaluation results ({err})") from None
    figures = None
    if args.figures:
        try:
            figures = Path(args.figures).read_text()
        except OSError as err:
            raise VoxgenderError(f"{args.figures}: cannot read figures ({err.strerror})") from None
    say(f"wrote {write_card(args.model, evaluations, args.name, args.data, figures)}")
    return 0


def add_card(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model directory")
    p.add_argument("--evaluation", nargs="*", default=[], metavar="TITLE=METRICS_JSON",
                   help="evaluation results (metrics.json of voxgender evaluate) with a section title")
    p.add_argument("--name", help="model name in the card title (default: the folder name)")
    p.add_argument("--figures", metavar="MARKDOWN", help="further measured figures to include "
                   "(benchmarks/results/figures.md, written by benchmarks/figures.py)")
    p.add_argument("--data", nargs="*", help="corpus folders whose SOURCE.txt give origin and licence "
                   "(default: those recorded at training)")
    p.set_defaults(handler=cmd_card)
