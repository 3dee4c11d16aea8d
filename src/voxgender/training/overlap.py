"""The overlap detector: a small recurrent network that hears a woman and a man talking at once.

It is a model directory like the gender model's, with the same features (so the segmenter computes
them once), whose two classes per frame are ``overlap`` and ``one voice``. It learns from mixtures
of the training speakers' clips, made afresh at every step:

- a crop of one voice; on ``p_overlap`` of the rows, a stretch of a voice of the other gender laid
  over it at a random level;
- on ``p_handover`` of the other rows, one voice hands over to the other with no overlap, so that a
  turn change is not taken for overlap;
- then the gender model's augmentation (noise, music, babble, reverberation, telephone, codecs).

A frame is overlap where both voices are within ``ACTIVE_DB`` of their loudest frame and within
``AUDIBLE_DB`` of each other: where one drowns the other, one voice is heard.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from voxgender.core.features import FeatureConfig
from voxgender.core.labels import FEMALE
from voxgender.core.networks import ModelConfig
from voxgender.io.audio import SAMPLE_RATE, frame_levels_db
from voxgender.io.progress import progress_bar, say
from voxgender.runtime import use_threads
from voxgender.training.augment import AugmentConfig, augment_batch
from voxgender.training.features import FeatureExtractor
from voxgender.training.model_files import save_model_dir
from voxgender.training.networks import GenderRNN
from voxgender.training.trainer import Clip, feature_statistics, train_step

OVERLAP, ONE_VOICE = 0, 1
LABELS = ["overlap", "one voice"]
ACTIVE_DB = -30.0  # a voice is active in a frame within this many dB of its crop's loudest frame
AUDIBLE_DB = 10.0  # ... and both are heard where their levels are this close
VALIDATION_ROWS = 256


@dataclass(frozen=True)
class OverlapConfig:
    """How to train the overlap detector."""

    steps: int = 2500
    batch_size: int = 32
    crop_s: float = 3.0
    overlap_s: tuple[float, float] = (0.3, 2.5)  # length of the laid-over stretch
    sir_db: tuple[float, float] = (-6.0, 6.0)  # level of the first voice against the laid-over one
    p_overlap: float = 0.5
    p_handover: float = 0.3
    hidden: int = 48
    lr: float = 3e-3
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if min(self.steps, self.batch_size, self.hidden) < 1 or self.crop_s <= self.overlap_s[1]:
            raise ValueError("steps, batch_size and hidden must be positive, and crop_s longer than the overlaps")
        if not (0 <= self.p_overlap <= 1 and 0 <= self.p_handover <= 1):
            raise ValueError("p_overlap and p_handover must be in [0, 1]")


def voice_crop(clips: Sequence[Clip], samples: int, rng: np.random.Generator) -> np.ndarray:
    """``samples`` of a random clip from a random place (zero-padded when the clip is shorter)."""
    audio = clips[int(rng.integers(len(clips)))].audio
    start = int(rng.integers(max(1, len(audio) - samples + 1)))
    out = np.zeros(samples, np.float32)
    piece = audio[start:start + samples]
    out[:len(piece)] = piece
    return out


def overlap_frames(one: np.ndarray, other: np.ndarray, hop: int) -> np.ndarray:
    """Per ``hop``-sample frame, whether both voices are heard: each within ACTIVE_DB of its own
    loudest frame, and within AUDIBLE_DB of each other."""
    a, b = frame_levels_db(one, hop), frame_levels_db(other, hop)
    return (a >= a.max() + ACTIVE_DB) & (b >= b.max() + ACTIVE_DB) & (np.abs(a - b) <= AUDIBLE_DB)


def mixture(female: Sequence[Clip], male: Sequence[Clip], cfg: OverlapConfig, hop: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One training row: the audio and its overlap / one-voice target per ``hop`` frame."""
    samples = int(cfg.crop_s * SAMPLE_RATE)
    first, second = (female, male) if rng.random() < 0.5 else (male, female)
    base = voice_crop(first, samples, rng)
    targets = np.full(samples // hop, ONE_VOICE, np.int64)
    draw = rng.random()
    if draw < cfg.p_overlap:
        length = int(rng.uniform(*cfg.overlap_s) * SAMPLE_RATE)
        at = int(rng.integers(samples - length + 1))
        other = voice_crop(second, length, rng)
        gain = 10 ** (-rng.uniform(*cfg.sir_db) / 20) * _rms(base) / max(_rms(other), 1e-8)
        laid = np.zeros(samples, np.float32)
        laid[at:at + length] = other * gain
        if _rms(laid) > 0:
            targets[overlap_frames(base, laid, hop)[:len(targets)]] = OVERLAP
        base = base + laid
    elif draw < cfg.p_overlap + (1 - cfg.p_overlap) * cfg.p_handover:
        change = int(rng.integers(samples // 4, 3 * samples // 4))
        base[change:] = voice_crop(second, samples - change, rng) * _rms(base) / max(_rms(base[change:]), 1e-8)
    return base, targets


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


def mixture_batch(female: Sequence[Clip], male: Sequence[Clip], cfg: OverlapConfig, hop: int,
                  rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of ``mixture``: audio (batch, samples), sample lengths and frame targets."""
    rows = [mixture(female, male, cfg, hop, rng) for _ in range(cfg.batch_size)]
    wave = torch.from_numpy(np.stack([audio for audio, _ in rows]))
    return wave, torch.full((len(rows),), wave.shape[1]), torch.from_numpy(np.stack([t for _, t in rows]))


def frame_scores(net: GenderRNN, extractor: FeatureExtractor, wave: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Overlap precision, recall and F1 per frame (posterior ≥ 0.5) of ``net`` on a batch."""
    net.eval()
    with torch.no_grad():
        feats = extractor(wave)
        found = net(feats)[0].argmax(dim=-1) == OVERLAP
    truth = targets[:, :found.shape[1]] == OVERLAP
    found = found[:, :truth.shape[1]]
    hits = float((found & truth).sum())
    precision, recall = hits / max(1.0, float(found.sum())), hits / max(1.0, float(truth.sum()))
    return {"precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(2 * precision * recall / max(1e-9, precision + recall), 4)}


def train_overlap(train_clips: Sequence[Clip], val_clips: Sequence[Clip], out_dir: str | Path, features: FeatureConfig,
                  cfg: OverlapConfig = OverlapConfig(), show_progress: bool = True, metadata: dict[str, Any] | None = None) -> Path:
    """Train the detector on mixtures of ``train_clips``, score it on mixtures of ``val_clips``
    (other speakers) and save it as a model directory in ``out_dir`` (with ``metadata``)."""
    use_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    by_gender = [[c for c in clips if (c.target == FEMALE) == female] for clips in (train_clips, val_clips) for female in (True, False)]
    if not all(by_gender):
        raise ValueError("the overlap detector needs clips of both genders in training and validation")
    extractor = FeatureExtractor(features)
    net = GenderRNN(ModelConfig(input_dim=features.dim, hidden=cfg.hidden, layers=1, dense=16, dropout=0.0))
    net.set_normalisation(*feature_statistics(train_clips, extractor, rng))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    augment, gen = AugmentConfig(), torch.Generator().manual_seed(cfg.seed)
    hop = features.hop_length
    for step in progress_bar(range(cfg.steps), "training the overlap detector", show_progress):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        wave, lengths, targets = mixture_batch(*by_gender[:2], cfg, hop, rng)
        loss = train_step(net, extractor, opt, augment_batch(wave, augment, gen), lengths, targets, grad_clip=5.0)
        if step % 500 == 0:
            say(f"step {step}: loss {loss:.4f}")
    val_rng = np.random.default_rng(cfg.seed + 1)
    val = [mixture_batch(*by_gender[2:], OverlapConfig(**{**asdict(cfg), "batch_size": VALIDATION_ROWS}), hop, val_rng)]
    scores = frame_scores(net, extractor, val[0][0], val[0][2])
    say(f"overlap detector on mixtures of validation speakers: precision {scores['precision']}, "
        f"recall {scores['recall']}, F1 {scores['f1']}")
    return save_model_dir(out_dir, net, features, {},
                          {**(metadata or {}), "task": "overlap", "train": asdict(cfg), "validation": scores}, labels=LABELS)
