"""Training step time: the padded batch as one tensor (what `voxgender train` does for a causal
network) against the same batch as a packed sequence (what it did before, and still does for a
bidirectional one), on the same batches in one run, alternating.

    python benchmarks/train_step_speed.py                 # bundled design, clips of ../shared/data
    python benchmarks/train_step_speed.py --steps 60 --hidden 96

Batches are drawn as `voxgender train` draws them (balanced sampler, one random crop length of
0.5-3 s per batch, shorter clips whole and zero-padded), without augmentation, which costs the
same in both ways. Prints the median step time of each way and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from voxgender.io.audio import SAMPLE_RATE
from voxgender.training.data import read_corpus
from voxgender.core.features import FeatureExtractor
from voxgender.model import load_model
from voxgender.core.networks import GenderRNN, ModelConfig
from voxgender.training.trainer import BalancedSampler, TrainConfig, crop_batch, load_clips, make_optimizer, train_step

from accuracy_benchmark import corpus_folders
from split_clips import DATA


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="steps of each way")
    parser.add_argument("--hidden", type=int, help="GRU units (default: the bundled model's)")
    parser.add_argument("--per-corpus", type=int, default=300, help="clips decoded per corpus")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the batches are cut from its clips)")
        return 0
    torch.set_num_threads(1)
    bundled = load_model()
    arch = ModelConfig.from_dict({**bundled.config["model"], **({"hidden": args.hidden} if args.hidden else {})})
    cfg = TrainConfig()
    adults = ([u for u in read_corpus(folder) if not u.is_child] for folder in corpus_folders().values())
    utterances = [u for corpus in adults for u in corpus[:args.per_corpus]]
    clips = load_clips(utterances, "clips")
    extractor = FeatureExtractor(bundled.features)
    sampler = BalancedSampler(clips, cfg.corpus_power)
    rng = np.random.default_rng(0)
    times: dict[bool, list[float]] = {True: [], False: []}
    nets = {}
    for packed in (True, False):
        torch.manual_seed(0)
        net = GenderRNN(arch)
        nets[packed] = (net, make_optimizer(net.parameters(), cfg))
    for _ in range(args.steps):
        idx = sampler.sample(cfg.batch_size, rng)
        crop = int(rng.integers(int(cfg.min_crop_s * SAMPLE_RATE), int(cfg.crop_s * SAMPLE_RATE) + 1))
        wave, lengths = crop_batch(clips, idx, crop, rng)
        targets = torch.tensor([clips[i].target for i in idx])
        for packed, (net, opt) in nets.items():
            started = time.perf_counter()
            train_step(net, extractor, opt, wave, lengths, targets, cfg.grad_clip, packed=packed)
            times[packed].append(time.perf_counter() - started)
    packed_s, plain_s = statistics.median(times[True]), statistics.median(times[False])
    print(f"{arch.cell.upper()} {arch.layers}x{arch.hidden}, batch {cfg.batch_size}, {args.steps} steps each, one thread")
    print(f"packed sequence: {packed_s * 1000:.0f} ms per step (median)")
    print(f"padded tensor:   {plain_s * 1000:.0f} ms per step (median)")
    print(f"padded tensor is {packed_s / plain_s:.2f}x as fast")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
