"""Does a speaker encoder trained on thousands of voices hear the Amharic men in fear and sadness?

A logistic-regression probe on GE2E utterance embeddings (the encoder of ``predict --encoder``,
exported from Resemblyzer's wheel) is trained on the adults of the corpora a fold keeps (test
speakers and audit-flagged speakers left out) and scores the fold's left-out corpora on the clips
``benchmarks/group_out.py`` scores: ``ased`` alone, then each of the four groups. Female and male recall per corpus and per ``style``.

    PYTHONPATH=benchmarks python experiments/speaker_encoder_probe.py \\
        --wheel runs/resemblyzer/Resemblyzer-0.1.4-py3-none-any.whl --embeddings runs/ge2e/embeddings_encoder.npz
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from accuracy_benchmark import corpus_folders
from group_out import GROUPS, choosing_clips
from sklearn.linear_model import LogisticRegression
from split_clips import flagged_speakers

from voxgender.io.audio import load_audio
from voxgender.io.progress import progress_bar
from voxgender.training.data import Utterance, read_corpora, speaker_split
from voxgender.training.speaker_encoder import encoder_from_wheel


def embeddings(utterances: list[Utterance], wheel: Path, cache: Path) -> dict[str, np.ndarray]:
    """Each clip's embedding by path, computed once and kept in ``cache``."""
    if not cache.is_file():
        encoder = encoder_from_wheel(wheel)
        vectors = [encoder.embed(load_audio(u.path)) for u in progress_bar(utterances, "embedding", True)]
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, embeddings=np.array(vectors), paths=np.array([u.path for u in utterances]))
    saved = np.load(cache)
    return dict(zip(saved["paths"], saved["embeddings"]))


def recall_rows(clips: list[Utterance], p_male: np.ndarray) -> dict[str, tuple[float, str]]:
    """Female and male recall (clips) and UAR per corpus and per corpus:style, as report lines."""
    hits: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for u, p in zip(clips, p_male):
        for key in (u.corpus, f"{u.corpus}:{u.style}" if u.style else ""):
            if key:
                hits[key, u.gender][0] += int((p > 0.5) == (u.gender == "male"))
                hits[key, u.gender][1] += 1
    rows = {}
    for key in sorted({k for k, _ in hits}):
        recall = {g: hits[key, g][0] / hits[key, g][1] for g in ("female", "male") if (key, g) in hits}
        cells = "  ".join(f"{g} {r:.3f} ({hits[key, g][1]})" for g, r in recall.items())
        rows[key] = (float(np.mean(list(recall.values()))), f"{key:42s} {cells}  UAR {np.mean(list(recall.values())):.3f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="Resemblyzer 0.1.4's wheel")
    parser.add_argument("--embeddings", type=Path, default=Path("runs/ge2e/embeddings_encoder.npz"), help="cache of the clips' embeddings")
    args = parser.parse_args()
    adults = [u for u in read_corpora(list(corpus_folders().values())) if not u.is_child]
    vectors = embeddings(adults, args.wheel, args.embeddings)
    held_back = {u.speaker for u in speaker_split(adults)["test"]} | flagged_speakers()
    corpus_uar = {}
    for fold, corpora in {"ased": ("ased",), **GROUPS}.items():
        train = [u for u in adults if u.corpus not in corpora and u.speaker not in held_back]
        probe = LogisticRegression(max_iter=5000, class_weight="balanced").fit(
            np.array([vectors[u.path] for u in train]), [u.gender == "male" for u in train])
        clips = choosing_clips(corpora)
        p_male = probe.predict_proba(np.array([vectors[u.path] for u in clips]))[:, 1]
        rows = recall_rows(clips, p_male)
        print(f"\n## {fold} left out", *(line for _, line in rows.values()), sep="\n")
        if fold in GROUPS:
            corpus_uar.update({key: uar for key, (uar, _) in rows.items() if ":" not in key})
    print(f"\nleave one group out: mean UAR over {len(corpus_uar)} corpora {np.mean(list(corpus_uar.values())):.3f}, "
          f"worst corpus {min(corpus_uar, key=corpus_uar.get)} {min(corpus_uar.values()):.3f}")


if __name__ == "__main__":
    main()
