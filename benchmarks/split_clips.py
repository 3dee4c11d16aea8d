"""Shared by the benchmarks: the clips of one split (by the model's splits.json) of ../shared/data,
and the speakers the label audit flags (results/label_audit.csv, from label_audit.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from voxgender.io.audio import load_audio
from voxgender.io.model_dir import bundled_model_dir, split_speakers
from voxgender.training.data import Utterance, read_corpus, read_speaker_list

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
AUDIT = Path(__file__).resolve().parent / "results" / "label_audit.csv"


def flagged_speakers() -> set[str]:
    """Speakers whose label contradicts their voice pitch (empty if the audit has not run)."""
    return read_speaker_list(AUDIT) if AUDIT.is_file() else set()


def label_ceiling(utterances: Sequence[Utterance], flagged: set[str]) -> float:
    """The highest UAR a recogniser that goes by the voice can reach on ``utterances`` if the audit is
    right about the flagged speakers: every clip right except theirs, which it calls by their voice."""
    other = {"female": "male", "male": "female"}
    voiced = [other[u.gender] if u.speaker in flagged else u.gender for u in utterances]
    return float(balanced_accuracy_score([u.gender for u in utterances], voiced))


def load_split(model_dir: Path, split: str) -> tuple[list[Utterance], list[np.ndarray], np.ndarray]:
    """Utterances of the split's speakers, their 16 kHz audio, and whether each is female."""
    speakers = split_speakers(model_dir, split)
    utterances = [u for u in read_corpus(DATA) if u.speaker in speakers]
    audios = [load_audio(u.path) for u in utterances]
    return utterances, audios, np.array([u.gender == "female" for u in utterances])


def split_from_command_line(
    description: str, default_split: str, more_arguments: Callable[[argparse.ArgumentParser], object] | None = None,
) -> tuple[argparse.Namespace, tuple[list[Utterance], list[np.ndarray], np.ndarray]] | None:
    """Parse ``--model``, ``--split`` and what ``more_arguments`` adds to the parser, and load that
    split (as ``load_split``); None, after printing why, when ../shared/data is absent."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", type=Path, default=bundled_model_dir())
    parser.add_argument("--split", default=default_split, choices=("val", "test"))
    if more_arguments:
        more_arguments(parser)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: no corpora at {DATA}")
        return None
    return args, load_split(args.model, args.split)
