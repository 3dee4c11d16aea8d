"""Shared fixtures. Helpers live in tests/helpers.py and are imported as ``import helpers``;
tests/ and benchmarks/ are on pytest's ``pythonpath`` (pyproject.toml), so tests import the
helpers the benchmark scripts share by name (neither folder is a package).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxgender.synth import synth_clip

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def benchmarks_dir() -> Path:
    """The checkout's benchmarks/ folder (on pytest's pythonpath, so its helpers import by name)."""
    return BENCHMARKS


@pytest.fixture(scope="session")
def female_clip() -> np.ndarray:
    """2 s of synthetic female speech at 16 kHz (float32, peak 0.5). Do not modify in place."""
    clip = synth_clip("female", 2.0, seed=1)
    clip.setflags(write=False)
    return clip


@pytest.fixture(scope="session")
def male_clip() -> np.ndarray:
    """2 s of synthetic male speech at 16 kHz (float32, peak 0.5). Do not modify in place."""
    clip = synth_clip("male", 2.0, seed=2)
    clip.setflags(write=False)
    return clip


def _write_synthetic_corpus(root: Path, name: str, speakers_per_gender: int, clips: int, seed: int) -> Path:
    """A corpus folder of synthetic voices with a labels.csv (the ../shared/data layout)."""
    import soundfile as sf

    from voxgender.synth import random_voice, synth_speech
    from voxgender.training.data import Utterance, write_manifest

    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    utterances = []
    for gender in ("female", "male"):
        for s in range(speakers_per_gender):
            voice = random_voice(gender, rng)
            speaker = f"{name}:{gender[0]}{s}"
            for c in range(clips):
                duration = float(rng.uniform(1.0, 2.5))
                path = folder / f"{gender[0]}{s}_{c}.wav"
                sf.write(path, synth_speech(voice, duration, rng), 16000)
                utterances.append(Utterance(str(path), speaker, gender, name, None, "synthetic", duration))
    write_manifest(utterances, folder / "labels.csv")
    return folder


@pytest.fixture(scope="session")
def synthetic_corpora(tmp_path_factory) -> dict[str, Path]:
    """A training corpus and a held-out corpus of other synthetic speakers."""
    root = tmp_path_factory.mktemp("corpora")
    return {
        "train": _write_synthetic_corpus(root, "synth_train", speakers_per_gender=10, clips=3, seed=100),
        "heldout": _write_synthetic_corpus(root, "synth_heldout", speakers_per_gender=6, clips=2, seed=200),
    }


TINY_TRAIN_ARGS = [
    "--hidden", "24", "--layers", "1", "--dense", "16", "--epochs", "4", "--steps-per-epoch", "25",
    "--batch-size", "16", "--crop-s", "1.0", "--lr", "0.01", "--patience", "4", "--val-fraction", "0.2",
    "--test-fraction", "0", "--threads", "1", "--pitch-bins", "8",
]


@pytest.fixture(scope="session")
def tiny_model_dir(synthetic_corpora, tmp_path_factory) -> Path:
    """A small model trained by the real CLI on the synthetic training corpus (shared by tests)."""
    from voxgender.cli.main import main

    out = tmp_path_factory.mktemp("models") / "tiny"
    assert main(["train", "--data", str(synthetic_corpora["train"]), "--out", str(out), *TINY_TRAIN_ARGS]) == 0
    return out
