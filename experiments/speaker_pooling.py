"""Would pooling segment's gender evidence per speaker remove the gender confusion on conversations?

On ``benchmarks/conversation_benchmark.py``'s conversations (validation speakers by default), the
bundled model's segments are relabelled three ways, each speech segment cut into pieces of at most
``--piece`` seconds:

- **oracle**: each speaker's frames (the builder's turns, one speaker at a time) get the label most
  of them carry, an upper bound that needs perfect speaker identities;
- **clusters**: pieces grouped by agglomerative clustering (cosine, average linkage) of an
  embedding, each cluster labelled by most of its seconds; embeddings are GE2E's
  (``predict --encoder``'s, exported from Resemblyzer's wheel) or each piece's MFCC means and deviations, standardised per recording;
- **neighbours**: each piece takes the duration-weighted mean log-odds of the pieces whose GE2E
  cosine similarity exceeds a level.

Frame counts with the 0.25-s collar, as the benchmark's cross-check counts them.

    PYTHONPATH=benchmarks python experiments/speaker_pooling.py --wheel runs/resemblyzer/Resemblyzer-0.1.4-py3-none-any.whl
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import numpy as np
from broadcast import FEMALE, MALE, frame_errors, hypothesis_frames, rates, total
from conversation import Conversation, build_conversation
from segmentation_benchmark import evaluate, load_pool
from sklearn.cluster import AgglomerativeClustering

from voxgender.core.calibration import logit
from voxgender.core.features import FeatureConfig, base_features
from voxgender.core.timeline import Segment
from voxgender.io.audio import SAMPLE_RATE
from voxgender.io.model_dir import bundled_model_dir
from voxgender.model import load_model
from voxgender.runtime import one_thread
from voxgender.segment import SegmentConfig
from voxgender.training.speaker_encoder import encoder_from_wheel

COLLAR_S = 0.25
Relabel = Callable[[Conversation, list[Segment]], np.ndarray]


def pieces(segments: list[Segment], longest_s: float) -> list[Segment]:
    """The speech segments cut into equal pieces of at most ``longest_s``."""
    out = []
    for s in segments:
        if s.label in ("female", "male"):
            edges = np.linspace(s.start, s.end, int(np.ceil(s.duration / longest_s)) + 1)
            out += [Segment(float(a), float(b), s.label, s.p_female) for a, b in zip(edges[:-1], edges[1:])]
    return out


def oracle(conv: Conversation, segments: list[Segment]) -> np.ndarray:
    """Frames of each speaker alone relabelled with the label most of them carry."""
    rec = conv.recording
    hyp = hypothesis_frames(segments, len(rec.reference))
    owner = np.full(len(hyp), "", object)
    for turn in rec.turns:
        span = owner[turn.start:turn.end]
        owner[turn.start:turn.end] = np.where(span == "", turn.speaker, "*")
    pooled = hyp.copy()
    for speaker in {t.speaker for t in rec.turns}:
        mine = (owner == speaker) & ((hyp == FEMALE) | (hyp == MALE))
        if mine.any():
            pooled[mine] = FEMALE if (hyp[mine] == FEMALE).mean() > 0.5 else MALE
    return pooled


def by_clusters(parts: list[Segment], vectors: np.ndarray, distance: float) -> list[Segment]:
    """Each cluster's pieces labelled by the label most of its seconds carry."""
    groups = (AgglomerativeClustering(n_clusters=None, distance_threshold=distance, metric="cosine", linkage="average")
              .fit_predict(vectors) if len(parts) > 1 else np.zeros(len(parts), int))
    seconds = np.array([p.duration for p in parts])
    female = np.array([p.label == "female" for p in parts])
    share = {g: seconds[groups == g][female[groups == g]].sum() / seconds[groups == g].sum() for g in set(groups)}
    return [Segment(p.start, p.end, "female" if share[g] > 0.5 else "male") for p, g in zip(parts, groups)]


def by_neighbours(parts: list[Segment], vectors: np.ndarray, similarity: float) -> list[Segment]:
    """Each piece labelled by the duration-weighted mean log-odds of the pieces similar to it."""
    weights = (vectors @ vectors.T > similarity) * np.array([p.duration for p in parts])[None]
    log_odds = np.clip(logit(np.array([p.p_female for p in parts])), -4, 4)
    pooled = weights @ log_odds / weights.sum(1)
    return [Segment(p.start, p.end, "female" if z > 0 else "male") for p, z in zip(parts, pooled)]


def mfcc_statistics(audio: np.ndarray, parts: list[Segment]) -> np.ndarray:
    config = FeatureConfig()
    stats = np.array([np.concatenate([f.mean(0), f.std(0)]) for f in
                      (base_features(audio[int(p.start * SAMPLE_RATE):int(p.end * SAMPLE_RATE)], config) for p in parts)])
    return (stats - stats.mean(0)) / (stats.std(0) + 1e-9)


def score(convs: list[Conversation], hypotheses: list[np.ndarray]) -> str:
    r = rates(total([frame_errors(c.recording.reference, h, c.recording.scored, COLLAR_S) for c, h in zip(convs, hypotheses)]))
    return f"IER {100 * r['ier']:5.2f}%  confusion {100 * r['confusion']:5.2f}%  female-share error {r['female_share_error_pp']:.2f} pts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="Resemblyzer 0.1.4's wheel")
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--conversations", type=int, default=24)
    parser.add_argument("--piece", type=float, default=4.0, help="longest piece of a speech segment, seconds")
    args = parser.parse_args()
    one_thread()
    model_dir = bundled_model_dir()
    pool = load_pool(model_dir, args.split, False, set())
    convs = [build_conversation(pool, f"conversation{i:02d}", 5.0, seed=100 + i) for i in range(args.conversations)]
    _, segmented, _ = evaluate([c.recording for c in convs], load_model(model_dir), SegmentConfig())
    frames = lambda segs_of: [hypothesis_frames(s, len(c.recording.reference)) for c, s in zip(convs, segs_of)]  # noqa: E731
    print(f"segment as it is      {score(convs, frames(segmented))}")
    print(f"oracle speakers       {score(convs, [oracle(c, s) for c, s in zip(convs, segmented)])}")
    encoder = encoder_from_wheel(args.wheel)
    parts = [pieces(s, args.piece) for s in segmented]
    ge2e = [np.array([encoder.embed(c.recording.audio[int(p.start * SAMPLE_RATE):int(p.end * SAMPLE_RATE)]) for p in ps])
            for c, ps in zip(convs, parts)]
    mfcc = [mfcc_statistics(c.recording.audio, ps) for c, ps in zip(convs, parts)]
    for distance in (0.2, 0.3, 0.4, 0.5):
        print(f"GE2E clusters {distance:.1f}     {score(convs, frames(by_clusters(p, v, distance) for p, v in zip(parts, ge2e)))}")
    for distance in (0.3, 0.5, 0.7, 0.9):
        print(f"MFCC clusters {distance:.1f}     {score(convs, frames(by_clusters(p, v, distance) for p, v in zip(parts, mfcc)))}")
    for similarity in (0.7, 0.8, 0.9):
        print(f"GE2E neighbours {similarity:.1f}   {score(convs, frames(by_neighbours(p, v, similarity) for p, v in zip(parts, ge2e)))}")


if __name__ == "__main__":
    main()
