"""Training: balanced random crops, augmentation, frame-level cross-entropy, validation UAR,
early stopping, atomic per-epoch checkpoints and resume.

Outputs in ``out_dir``: the best model (``model.safetensors``, ``config.json``, ``MODEL_CARD.md``),
``checkpoint.pt`` (the last epoch, for ``resume``), ``history.csv``, ``curves.png``, ``splits.json``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

from voxgender.core.aggregate import aggregate
from voxgender.core.features import FeatureConfig
from voxgender.core.labels import FEMALE, MALE
from voxgender.core.networks import ModelConfig
from voxgender.errors import VoxgenderError
from voxgender.io.audio import SAMPLE_RATE, frame_levels_db, load_audio
from voxgender.io.model_dir import SPLITS_FILE, atomic_write_text
from voxgender.io.progress import progress_bar, say
from voxgender.model import Model
from voxgender.runtime import use_threads
from voxgender.training.adversary import CorpusAdversary, adversary_scale
from voxgender.training.augment import (
    AugmentConfig,
    augment_batch,
    augment_features,
    formant_factors,
    onset_crops,
    pitch_factors,
    play_faster,
    restore_formants,
    speed_factors,
)
from voxgender.training.data import Utterance
from voxgender.training.distributed import join, wait_for_all
from voxgender.training.features import FeatureExtractor
from voxgender.training.model_files import TorchModel, save_model_dir
from voxgender.training.networks import GenderRNN, torch_network

OptimizerKind = Literal["adam", "rmsprop"]
ScheduleKind = Literal["cosine", "constant"]
KeepKind = Literal["best", "final"]
CHECKPOINT = "checkpoint.pt"
HISTORY = "history.csv"
NORM_CLIPS = 400


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the features and architecture are separate configs)."""

    epochs: int = 40
    steps_per_epoch: int = 150
    batch_size: int = 64
    crop_s: float = 3.0
    min_crop_s: float = 0.5
    optimizer: OptimizerKind = "adam"
    lr: float = 3e-3
    lr_schedule: ScheduleKind = "cosine"
    final_lr_fraction: float = 0.03  # the cosine schedule ends at lr times this
    ema_decay: float = 0.995  # validate and keep an exponential moving average of the weights (0 = off)
    weight_decay: float = 1e-5
    grad_clip: float = 5.0
    patience: int = 8  # keep="best": epochs without validation gain before stopping
    keep: KeepKind = "best"  # the saved weights: best validation epoch, or the last of the schedule
    seed: int = 0
    corpus_power: float = 0.0  # corpora drawn ∝ speakers**power: 0 = every corpus alike, 1 = every speaker alike
    corpus_adversary: float = 0.0  # weight of the reversed gradient of a corpus classifier (0 = off)
    distill: float = 0.0  # weight of a teacher model's frame posteriors as soft targets, the labels' is 1 - distill (0 = off)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    threads: int = 0

    def __post_init__(self) -> None:
        if min(self.epochs, self.steps_per_epoch, self.batch_size, self.patience) < 1:
            raise ValueError("epochs, steps_per_epoch, batch_size and patience must be at least 1")
        if min(self.crop_s, self.min_crop_s) <= 0 or self.lr < 0:
            raise ValueError("crop_s and min_crop_s must be positive, and lr cannot be negative")
        if not 0 <= self.ema_decay < 1:
            raise ValueError("ema_decay must be in [0, 1)")
        if self.corpus_adversary < 0:
            raise ValueError("corpus_adversary cannot be negative")
        if not 0 <= self.distill <= 1:
            raise ValueError("distill must be in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """A saved config, such as a model's ``metadata.train``; unknown names are ignored."""
        known = {f.name for f in fields(cls)} - {"augment"}
        return cls(**{k: v for k, v in data.items() if k in known}, augment=AugmentConfig.from_dict(data.get("augment", {})))


ONSET_FRAME = SAMPLE_RATE // 100  # 10 ms
ONSET_FLOOR_DB = -35.0  # the first frame this close to the clip's loudest starts its speech


def speech_onset(audio: np.ndarray) -> int:
    """First sample of the first 10 ms frame within ONSET_FLOOR_DB of the clip's loudest frame."""
    db = frame_levels_db(audio, ONSET_FRAME)
    return int(np.argmax(db >= db.max() + ONSET_FLOOR_DB)) * ONSET_FRAME if len(db) else 0


@dataclass
class Clip:
    """A decoded training clip."""

    audio: np.ndarray
    target: int
    speaker: str
    corpus: str

    @cached_property
    def speech_start(self) -> int:
        """The sample where the clip's leading silence ends (found when an onset crop first needs it)."""
        return speech_onset(self.audio)


def load_clips(utterances: Sequence[Utterance], what: str, show_progress: bool = True) -> list[Clip]:
    """Decode utterances to 16 kHz; a file that fails is reported in one line and skipped."""
    clips = []
    for utt in progress_bar(utterances, f"decoding {what}", show_progress):
        try:
            audio = load_audio(utt.path)
        except VoxgenderError as err:
            say(f"skipped: {err}")
            continue
        clips.append(Clip(audio, FEMALE if utt.gender == "female" else MALE, utt.speaker, utt.corpus))
    if not clips:
        raise VoxgenderError(f"no usable {what} clips")
    return clips


class BalancedSampler:
    """Draws clip indices: a corpus, then gender 50/50, then speaker, then clip.

    So a gender with more speakers or a speaker with many clips does not dominate what the model
    learns. Corpora are drawn with probability ∝ (their speakers)**``corpus_power``: at 0 every
    corpus alike, so a large corpus does not dominate either; at 1 every speaker alike, so the few
    speakers of a small corpus are not each drawn many times more often than others.
    """

    def __init__(self, clips: Sequence[Clip], corpus_power: float = 0.0) -> None:
        tree: dict[str, dict[int, dict[str, list[int]]]] = {}
        for i, clip in enumerate(clips):
            tree.setdefault(clip.corpus, {}).setdefault(clip.target, {}).setdefault(clip.speaker, []).append(i)
        self.tree = [[list(speakers.values()) for speakers in genders.values()] for genders in tree.values()]
        sizes = np.array([sum(len(speakers) for speakers in genders) for genders in self.tree], dtype=float)
        # None keeps the uniform draw's random stream, so seeded runs of earlier recipes repeat exactly.
        self.corpus_p = sizes**corpus_power / (sizes**corpus_power).sum() if corpus_power else None

    def sample(self, n: int, rng: np.random.Generator) -> list[int]:
        out = []
        for _ in range(n):
            corpus = rng.integers(len(self.tree)) if self.corpus_p is None else rng.choice(len(self.tree), p=self.corpus_p)
            genders = self.tree[corpus]
            speakers = genders[rng.integers(len(genders))]
            clips = speakers[rng.integers(len(speakers))]
            out.append(clips[rng.integers(len(clips))])
        return out


def crop_batch(clips: Sequence[Clip], idx: Sequence[int], crop: int, rng: np.random.Generator,
               speeds: np.ndarray | None = None, at_onset: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops of ``crop`` samples (shorter clips whole, zero-padded) and their sample lengths.
    A row with a ``speeds`` factor other than 1 takes ``crop × speed`` source samples and plays them
    at that speed (``play_faster``), which scales pitch and formants by the factor. A row marked
    ``at_onset`` starts at its clip's ``speech_start`` instead of a random sample."""
    x = np.zeros((len(idx), crop), dtype=np.float32)
    lengths = np.zeros(len(idx), dtype=np.int64)
    for row, i in enumerate(idx):
        audio = clips[i].audio
        speed = 1.0 if speeds is None else float(speeds[row])
        source = int(round(crop * speed))
        if at_onset is not None and at_onset[row]:
            audio = audio[clips[i].speech_start:clips[i].speech_start + source]
        elif len(audio) > source:
            start = int(rng.integers(len(audio) - source + 1))
            audio = audio[start:start + source]
        if speed != 1.0:
            audio = play_faster(audio, speed)[:crop]
        x[row, : len(audio)] = audio
        lengths[row] = len(audio)
    return torch.from_numpy(x), torch.from_numpy(lengths)


def feature_statistics(clips: Sequence[Clip], extractor: FeatureExtractor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of the features over (a sample of) the training clips."""
    pick = rng.permutation(len(clips))[:NORM_CLIPS]
    with torch.no_grad():
        feats = torch.cat([extractor(torch.from_numpy(clips[i].audio)) for i in pick])
    return feats.mean(dim=0), feats.std(dim=0)


def validate(model: Model, clips: Sequence[Clip]) -> dict[str, float]:
    """Validation UAR of file-level decisions and mean frame cross-entropy."""
    log_posts = model.posteriors([c.audio for c in clips])
    targets = np.array([c.target for c in clips])
    p_female = np.array([aggregate(lp, model.aggregation) for lp in log_posts])
    predicted = np.where(p_female >= 0.5, FEMALE, MALE)
    loss = float(np.mean([-lp[:, t].mean() for lp, t in zip(log_posts, targets) if len(lp)]))
    return {"val_uar": float(balanced_accuracy_score(targets, predicted)), "val_loss": loss}


def is_better(metrics: dict[str, float], best_uar: float, best_loss: float) -> bool:
    """Whether an epoch beats the best so far: a higher validation UAR, or the same UAR with a
    lower validation loss. On a small validation set UAR moves in steps and often plateaus; without
    the tie-break the first, least-trained epoch of a plateau would be kept."""
    return metrics["val_uar"] > best_uar or (metrics["val_uar"] == best_uar and metrics["val_loss"] < best_loss)


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop', not {cfg.optimizer!r}")


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Learning rate at global ``step`` (0-based): constant, or a cosine from ``lr`` down to
    ``lr * final_lr_fraction`` over all the epochs (a function of the step, so resume needs no state)."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule != "cosine":
        raise ValueError(f"lr_schedule must be 'cosine' or 'constant', not {cfg.lr_schedule!r}")
    progress = min(1.0, step / max(1, cfg.epochs * cfg.steps_per_epoch))
    return cfg.lr * (cfg.final_lr_fraction + (1 - cfg.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


def weight_average(net: GenderRNN, decay: float) -> torch.optim.swa_utils.AveragedModel | None:
    """An exponential moving average of ``net``'s weights, or None when ``decay`` is 0."""
    if not decay:
        return None
    return torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay),
                                               use_buffers=True)


def frame_lengths(sample_lengths: torch.Tensor, features: FeatureConfig) -> torch.Tensor:
    """Number of feature frames in each of ``sample_lengths``."""
    return torch.tensor([features.num_frames(int(n)) for n in sample_lengths])


def train_step(
    net: torch.nn.Module, extractor: FeatureExtractor, opt: torch.optim.Optimizer, wave: torch.Tensor,
    lengths: torch.Tensor, targets: torch.Tensor, grad_clip: float,
    feature_augment: Callable[[torch.Tensor], torch.Tensor] = lambda feats: feats, packed: bool = False,
    adversary: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    teacher: torch.nn.Module | None = None, distill: float = 0.0,
) -> float:
    """One optimisation step of frame-level cross-entropy over the valid frames; returns the
    gender loss (against the labels).

    A causal network's valid frames do not depend on the padding after them, so unless ``packed``
    (which a bidirectional network needs) the padded batch runs as one tensor: on CPU several times
    faster than a packed sequence. ``adversary(hidden, valid)``, if given, is a loss on the
    recurrent output (batch, frames, width) at the ``valid`` frames, added to the gender loss.
    With a ``teacher`` (a model over the same features, in eval mode) the loss is ``1 - distill``
    times the gender loss plus ``distill`` times the cross-entropy against the teacher's frame
    posteriors on the same augmented crop (knowledge distillation).
    """
    net.train()
    with torch.no_grad():
        feats = feature_augment(extractor(wave))
    frames = frame_lengths(lengths, extractor.cfg).clamp(1, feats.shape[1])
    logits, _, hidden = net(feats, lengths=frames if packed else None, return_hidden=True)
    valid = torch.arange(feats.shape[1])[None, :] < frames[:, None]
    frame_targets = targets[:, None].expand(-1, feats.shape[1])
    loss = torch.nn.functional.cross_entropy(logits[valid], frame_targets[valid])
    total = loss
    if teacher is not None:
        with torch.no_grad():
            teacher_logits, _ = teacher(feats, lengths=frames if teacher.cfg.bidirectional else None)
            soft_targets = torch.softmax(teacher_logits[valid], dim=-1)
        total = (1 - distill) * loss + distill * torch.nn.functional.cross_entropy(logits[valid], soft_targets)
    if adversary is not None:
        total = total + adversary(hidden, valid)
    opt.zero_grad(set_to_none=True)
    total.backward()
    torch.nn.utils.clip_grad_norm_([p for group in opt.param_groups for p in group["params"]], grad_clip)
    opt.step()
    return loss.item()


def make_corpus_adversary(train_clips: Sequence[Clip], width: int, weight: float) -> tuple[CorpusAdversary, dict[str, int]] | None:
    """The corpus classifier of ``--corpus-adversary`` and each training corpus's index, or None
    when ``weight`` is 0."""
    if not weight:
        return None
    corpora = sorted({clip.corpus for clip in train_clips})
    if len(corpora) < 2:
        raise VoxgenderError(f"--corpus-adversary needs at least two training corpora, not {len(corpora)}")
    return CorpusAdversary(width, len(corpora)), {name: i for i, name in enumerate(corpora)}


def batch_adversary(adversary: torch.nn.Module, corpus: torch.Tensor, scale: float
                    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``train_step``'s adversary loss for a batch whose rows come from corpora ``corpus``."""
    return lambda hidden, valid: adversary(hidden[valid], corpus[:, None].expand_as(valid)[valid], scale)


def _write_history(out: Path, history: list[dict[str, float]]) -> None:
    tmp = out / f".{HISTORY}.tmp"
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, out / HISTORY)
    plot_curves(history, out / "curves.png")


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """Training loss, validation loss and validation UAR against epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_uar) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train (augmented crops)")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], label="validation (full clips)")
    ax_loss.set(xlabel="epoch", ylabel="frame cross-entropy", title="Loss")
    ax_loss.legend()
    ax_uar.plot(epochs, [h["val_uar"] for h in history], color="tab:green")
    ax_uar.set(xlabel="epoch", ylabel="UAR", title="Validation UAR (file level)")
    ax_uar.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _save_checkpoint(out: Path, state: dict[str, Any]) -> None:
    tmp = out / f".{CHECKPOINT}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, out / CHECKPOINT)


def weights_fingerprint(net: torch.nn.Module) -> str:
    """A short hash of a network's weights and buffers."""
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _identity_settings(features: FeatureConfig, arch: ModelConfig, cfg: TrainConfig) -> dict[str, Any]:
    """The configs as a run identity records them: all but the thread count, which does not change
    the result."""
    return {"features": features.to_dict(), "arch": arch.to_dict(), "train": {**cfg.to_dict(), "threads": None}}


def run_identity(features: FeatureConfig, arch: ModelConfig, cfg: TrainConfig, train_clips: Sequence[Clip],
                 val_clips: Sequence[Clip], start_from: GenderRNN | None = None,
                 teacher: TorchModel | None = None) -> dict[str, Any]:
    """What a checkpoint records of its run, for ``resume`` to refuse a different one: the feature,
    architecture and training configs, the number of training and validation clips (a different
    --data or split changes them), and the fingerprints of the weights a fine-tuning started from
    and of a distillation's teacher."""
    return {**_identity_settings(features, arch, cfg), "train_clips": len(train_clips), "val_clips": len(val_clips),
            "start_weights": weights_fingerprint(start_from) if start_from is not None else None,
            "teacher_weights": weights_fingerprint(teacher.net) if teacher is not None else None}


def upgraded_identity(saved: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's ``run_identity`` with the settings added since it was written at their
    defaults, which it trained with."""
    return {**saved, **_identity_settings(FeatureConfig.from_dict(saved["features"]),
                                          ModelConfig.from_dict(saved["arch"]), TrainConfig.from_dict(saved["train"]))}


def identity_changes(saved: dict[str, Any], requested: dict[str, Any], prefix: str = "") -> list[str]:
    """The settings that differ between two ``run_identity`` records, as ``name saved -> requested``."""
    changes = []
    for key in sorted(saved.keys() | requested.keys()):
        old, new = saved.get(key), requested.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes += identity_changes(old, new, f"{prefix}{key}.")
        elif old != new:
            changes.append(f"{prefix}{key} {old} -> {new}")
    return changes


def claim_out_dir(out_dir: str | Path, resume: bool, overwrite: bool) -> None:
    """Make sure a training run may write into ``out_dir``: empty or absent, or ``resume`` (continue
    its run) or ``overwrite`` (delete what is there first). Raises VoxgenderError otherwise."""
    out = Path(out_dir)
    if resume and overwrite:
        raise VoxgenderError("--resume continues the run in --out and --overwrite deletes it: give one of them")
    if out.exists() and not out.is_dir():
        raise VoxgenderError(f"{out}: is a file, not a folder for the model")
    if not out.is_dir() or not any(out.iterdir()) or resume:
        return
    if not overwrite:
        raise VoxgenderError(f"{out}: not empty; add --resume to continue its run or --overwrite to train afresh")
    shutil.rmtree(out)


def write_splits(out_dir: str | Path, splits: dict[str, list[Utterance]]) -> Path:
    """Record which speakers are in which split (``splits.json``), for evaluate --split."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    speakers = {name: sorted({u.speaker for u in utts}) for name, utts in splits.items()}
    atomic_write_text(out / SPLITS_FILE, json.dumps(speakers, indent=1) + "\n")
    return out / SPLITS_FILE


def seed_epoch(seed: int, rank: int, epoch: int) -> tuple[np.random.Generator, torch.Generator]:
    """Random streams of one epoch of one process, derived from (seed, rank, epoch) alone, so a
    resumed run draws exactly what an uninterrupted one would, and processes draw differently."""
    sequence = np.random.SeedSequence([seed, rank, epoch])
    torch_seed, augment_seed = (int(v) for v in sequence.generate_state(2))
    torch.manual_seed(torch_seed)
    return np.random.default_rng(sequence), torch.Generator().manual_seed(augment_seed)


@dataclass
class _Run:
    """One network's training: what it learns from, where it writes, and what each epoch changes."""

    train_clips: Sequence[Clip]
    val_clips: Sequence[Clip]
    out: Path
    features: FeatureConfig
    arch: ModelConfig
    cfg: TrainConfig
    world: Any  # training.distributed's view of the processes
    teacher: TorchModel | None
    net: GenderRNN
    extractor: FeatureExtractor
    adversary: CorpusAdversary | None
    corpus_index: dict[str, int]
    opt: torch.optim.Optimizer
    average: torch.optim.swa_utils.AveragedModel | None
    model: Model  # the kept weights as the validation sees them
    identity: dict[str, Any]
    metadata: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    best_uar: float = -1.0
    best_loss: float = math.inf
    best_epoch: int = 0
    start_epoch: int = 1
    start: dict[str, float] = field(default_factory=dict)  # the fine-tuning start's validation UAR

    @property
    def kept(self) -> GenderRNN:
        """The weights that are validated and saved: the moving average, if there is one."""
        return self.average.module if self.average is not None else self.net


def _check_inputs(train_clips: Sequence[Clip], val_clips: Sequence[Clip], features: FeatureConfig, cfg: TrainConfig,
                  teacher: TorchModel | None) -> None:
    if not train_clips or not val_clips:
        raise VoxgenderError("training needs at least one training and one validation clip")
    if (teacher is not None) != (cfg.distill > 0):
        raise VoxgenderError("distillation needs both a teacher model and a distill weight above 0")
    if teacher is not None and teacher.features != features:
        raise VoxgenderError("the teacher model's features differ from the student's: a teacher must "
                             "run on the same feature frames")


def _new_run(train_clips: Sequence[Clip], val_clips: Sequence[Clip], out_dir: str | Path, features: FeatureConfig,
             arch: ModelConfig | None, cfg: TrainConfig, metadata: dict[str, Any] | None, start_from: GenderRNN | None,
             teacher: TorchModel | None) -> _Run:
    """The network (from ``start_from``'s weights, or fresh with the training set's feature
    statistics), its optimiser, moving average and corpus adversary, in the order that fixes their
    random initialisation."""
    world = join()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    use_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    arch = ModelConfig(**{**(arch or ModelConfig()).to_dict(), "input_dim": features.dim})
    extractor = FeatureExtractor(features)
    net = GenderRNN(arch)
    if start_from is not None:
        net.load_state_dict(start_from.state_dict())
    else:
        net.set_normalisation(*feature_statistics(train_clips, extractor, np.random.default_rng(cfg.seed)))
    adversarial = make_corpus_adversary(train_clips, arch.hidden * (2 if arch.bidirectional else 1), cfg.corpus_adversary)
    adversary, corpus_index = adversarial if adversarial is not None else (None, {})
    opt = make_optimizer([*net.parameters(), *(adversary.parameters() if adversary is not None else [])], cfg)
    average = weight_average(net, cfg.ema_decay)
    kept = average.module if average is not None else net
    window_s = max(cfg.crop_s, 8.0) if not arch.bidirectional else 30.0
    model = Model(torch_network(kept), features, {"inference": {"window_s": window_s, "aggregation": "mean_log"}})
    identity = run_identity(features, arch, cfg, train_clips, val_clips, start_from, teacher)
    return _Run(train_clips, val_clips, out, features, arch, cfg, world, teacher, net, extractor, adversary, corpus_index,
                opt, average, model, identity, {**(metadata or {}), "train": cfg.to_dict(), "world_size": world.size})


def _resume(run: _Run) -> None:
    """Continue from the run's checkpoint: weights, optimiser, average, adversary and history (it
    refuses, in one line, a checkpoint of other settings)."""
    checkpoint = run.out / CHECKPOINT
    if not checkpoint.exists():
        if run.world.is_main:
            say(f"no checkpoint in {run.out}: starting afresh")
        return
    state = torch.load(checkpoint, weights_only=True)
    changes = identity_changes(upgraded_identity(state["identity"]), run.identity) if "identity" in state else []
    if changes:
        raise VoxgenderError(f"{checkpoint}: cannot resume with other settings ({', '.join(changes)}); "
                             "rerun with the checkpoint's settings, or train into a new --out")
    run.net.load_state_dict(state["net"])
    run.opt.load_state_dict(state["optimizer"])
    if run.average is not None:
        run.average.load_state_dict(state["average"])
    if run.adversary is not None:
        run.adversary.load_state_dict(state["adversary"])
    run.history = state["history"]
    run.best_uar, run.best_epoch, run.start_epoch = state["best_uar"], state["best_epoch"], state["epoch"] + 1
    run.best_loss = run.history[run.best_epoch - 1]["val_loss"] if run.best_epoch else state["best_loss"]
    if run.world.is_main:
        say(f"resuming {run.out} after epoch {state['epoch']} (best validation UAR {run.best_uar:.4f} at epoch {run.best_epoch})")


def _measure_start(run: _Run, start_from: GenderRNN) -> None:
    """Fine-tuning: the start's validation UAR, and (before any epoch) the start saved as epoch 0,
    which an epoch must beat to replace it."""
    before = validate(Model(torch_network(start_from), run.features, run.model.config), run.val_clips)
    run.start = {"start_val_uar": before["val_uar"]}
    run.metadata = {**run.metadata, **run.start}
    if not run.history:
        run.best_uar, run.best_loss, run.best_epoch = before["val_uar"], before["val_loss"], 0
        if run.world.is_main:
            save_model_dir(run.out, start_from, run.features, run.model.config["inference"],
                           {**run.metadata, "best_epoch": 0, "val_uar": run.best_uar, "val_loss": run.best_loss})
    if run.world.is_main:
        say(f"fine-tuning: validation UAR {before['val_uar']:.4f} before the first step")


class _Steps:
    """The training steps of a run: batches drawn, cropped, augmented, and one optimiser step each."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.trainer = run.world.wrap(run.net)
        self.adversary = run.world.wrap(run.adversary) if run.adversary is not None else None
        self.sampler = BalancedSampler(run.train_clips, run.cfg.corpus_power)
        self.crop_max = int(run.cfg.crop_s * SAMPLE_RATE)
        self.crop_min = int(min(run.cfg.min_crop_s, run.cfg.crop_s) * SAMPLE_RATE)

    def epoch(self, epoch: int, show_progress: bool) -> list[float]:
        """The losses of one epoch's steps."""
        run, cfg = self.run, self.run.cfg
        rng, gen = seed_epoch(cfg.seed, run.world.rank, epoch)
        losses = []
        for step in progress_bar(range(cfg.steps_per_epoch), f"epoch {epoch}/{cfg.epochs}", show_progress and run.world.is_main):
            global_step = (epoch - 1) * cfg.steps_per_epoch + step
            for group in run.opt.param_groups:
                group["lr"] = learning_rate(cfg, global_step)
            losses.append(self.step(global_step, rng, gen))
            if run.average is not None:
                run.average.update_parameters(run.net)
        return losses

    def step(self, global_step: int, rng: np.random.Generator, gen: torch.Generator) -> float:
        run, cfg, clips = self.run, self.run.cfg, self.run.train_clips
        idx = self.sampler.sample(cfg.batch_size, rng)
        crop = int(rng.integers(self.crop_min, self.crop_max + 1))
        targets = torch.tensor([clips[i].target for i in idx])
        pitches = pitch_factors(len(idx), cfg.augment, rng, (targets == FEMALE).numpy())
        wave, lengths = crop_batch(clips, idx, crop, rng, speed_factors(len(idx), cfg.augment, rng) * pitches,
                                   onset_crops(len(idx), cfg.augment, rng))
        envelope_shifts = pitches / formant_factors(len(idx), cfg.augment, rng)
        wave = augment_batch(restore_formants(wave, torch.from_numpy(envelope_shifts)), cfg.augment, gen)
        adversary_loss = None if self.adversary is None else batch_adversary(
            self.adversary, torch.tensor([run.corpus_index[clips[i].corpus] for i in idx]),
            adversary_scale(cfg.corpus_adversary, global_step / (cfg.epochs * cfg.steps_per_epoch)))
        return train_step(self.trainer, run.extractor, run.opt, wave, lengths, targets, cfg.grad_clip,
                          lambda feats: augment_features(feats, run.net.feat_mean, cfg.augment, gen),
                          packed=run.arch.bidirectional, adversary=adversary_loss,
                          teacher=run.teacher.net if run.teacher is not None else None, distill=cfg.distill)


def _record_epoch(run: _Run, metrics: dict[str, float]) -> None:
    """Keep an epoch's figures; save its weights if they are kept, the checkpoint and the history."""
    epoch = int(metrics["epoch"])
    run.history.append(metrics)
    improved = is_better(metrics, run.best_uar, run.best_loss)
    if improved:
        run.best_uar, run.best_loss, run.best_epoch = metrics["val_uar"], metrics["val_loss"], epoch
    if not run.world.is_main:
        return
    if improved or run.cfg.keep == "final":
        save_model_dir(run.out, run.kept, run.features, run.model.config["inference"],
                       {**run.metadata, "best_epoch": run.best_epoch, "kept_epoch": epoch,
                        "val_uar": metrics["val_uar"], "val_loss": metrics["val_loss"]})
    _save_checkpoint(run.out, {"net": run.net.state_dict(), "optimizer": run.opt.state_dict(), "epoch": epoch,
                               "average": run.average.state_dict() if run.average is not None else None,
                               "adversary": run.adversary.state_dict() if run.adversary is not None else None,
                               "history": run.history, "best_uar": run.best_uar, "best_loss": run.best_loss,
                               "best_epoch": run.best_epoch, "identity": run.identity})
    _write_history(run.out, run.history)
    say(f"epoch {epoch}: train loss {metrics['train_loss']:.4f}, validation loss {metrics['val_loss']:.4f}, "
        f"validation UAR {metrics['val_uar']:.4f}{' (best)' if improved else ''} [{metrics['seconds']} s]")


def train(
    train_clips: Sequence[Clip],
    val_clips: Sequence[Clip],
    out_dir: str | Path,
    features: FeatureConfig = FeatureConfig(),
    arch: ModelConfig | None = None,
    cfg: TrainConfig = TrainConfig(),
    resume: bool = False,
    show_progress: bool = True,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    metadata: dict[str, Any] | None = None,
    start_from: GenderRNN | None = None,
    teacher: TorchModel | None = None,
) -> dict[str, Any]:
    """Train on ``train_clips``, validate every epoch on ``val_clips``; return a summary.

    ``cfg.keep`` says which weights are saved: "best" keeps the epoch with the best validation UAR
    and stops early after ``cfg.patience`` epochs without a gain; "final" runs the whole schedule
    and keeps its last epoch (validation is then monitored, not used to select).

    ``start_from`` fine-tunes: training begins from that network's weights and keeps its
    normalisation (``features`` and ``arch`` must be the ones it was trained with); the summary
    then also gives its validation UAR before any step (``start_val_uar``).

    ``teacher`` distils: a model over the same ``features`` (typically an ensemble) whose frame
    posteriors on each training crop are soft targets of weight ``cfg.distill``.

    Under ``torchrun`` the processes train data-parallel (see ``distributed``); each validates
    the same weights, so all take the same early-stopping decision, and rank 0 writes the files.
    ``on_epoch(epoch, metrics)`` is called after each epoch (for example by a tuner that prunes);
    it may raise to stop the run. ``metadata`` goes into the saved model's config.
    """
    _check_inputs(train_clips, val_clips, features, cfg, teacher)
    run = _new_run(train_clips, val_clips, out_dir, features, arch, cfg, metadata, start_from, teacher)
    if resume:
        _resume(run)
    if start_from is not None:
        _measure_start(run, start_from)
    steps = _Steps(run)
    for epoch in range(run.start_epoch, cfg.epochs + 1):
        stale = run.history[-1]["epoch"] - run.best_epoch if run.history else 0
        if cfg.keep == "best" and stale >= cfg.patience:
            break
        started = time.perf_counter()
        losses = steps.epoch(epoch, show_progress)
        metrics = {"epoch": epoch, "train_loss": float(np.mean(losses)), **validate(run.model, val_clips),
                   "seconds": round(time.perf_counter() - started, 1)}
        _record_epoch(run, metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
    wait_for_all(run.world)
    kept_epoch = run.history[-1]["epoch"] if cfg.keep == "final" and run.history else run.best_epoch
    return {"out_dir": str(run.out), "best_epoch": run.best_epoch, "kept_epoch": kept_epoch, "val_uar": run.best_uar,
            "epochs_run": len(run.history), "world_size": run.world.size, **run.start}


def train_networks(
    train_clips: Sequence[Clip],
    val_clips: Sequence[Clip],
    out_dir: str | Path,
    features: FeatureConfig,
    arch: ModelConfig,
    cfg: TrainConfig,
    starts: Sequence[GenderRNN | None] = (None,),
    **options: Any,
) -> list[dict[str, Any]]:
    """One network per entry of ``starts`` (None trains from scratch, a network is fine-tuned), on one
    split with seeds ``cfg.seed``, ``cfg.seed`` + 1, ...; ``options`` go to ``train``. One network is
    saved in ``out_dir``; several in ``out_dir/memberI``, with the split of ``out_dir`` if it records
    one, and their ensemble in ``out_dir``. Returns each network's summary."""
    from voxgender.training.ensemble import build_ensemble, member_dirs

    out = Path(out_dir)
    dirs = member_dirs(out, len(starts))
    summaries = [train(train_clips, val_clips, member_dir, features, replace(arch, members=1),
                       replace(cfg, seed=cfg.seed + i), start_from=start, **options)
                 for i, (member_dir, start) in enumerate(zip(dirs, starts))]
    if len(dirs) > 1 and join().is_main:
        if (out / SPLITS_FILE).is_file():
            for member_dir in dirs:
                shutil.copyfile(out / SPLITS_FILE, member_dir / SPLITS_FILE)
        build_ensemble(dirs, out)
    return summaries
