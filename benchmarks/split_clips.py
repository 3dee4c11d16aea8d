"""Shared by the benchmarks: the clips of one split (by the model's splits.json) of ../shared/data,
and the speakers the label audit flags (results/label_audit.csv, from label_audit.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from voxgender.audio import load_audio
from voxgender.data import Utterance, read_corpus

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
AUDIT = Path(__file__).resolve().parent / "results" / "label_audit.csv"


def flagged_speakers() -> set[str]:
    """Speakers whose label contradicts their voice pitch (empty if the audit has not run)."""
    return {row["speaker"] for row in csv.DictReader(AUDIT.open())} if AUDIT.is_file() else set()


def load_split(model_dir: Path, split: str) -> tuple[list[Utterance], list[np.ndarray], np.ndarray]:
    """Utterances of the split's speakers, their 16 kHz audio, and whether each is female."""
    speakers = set(json.loads((model_dir / "splits.json").read_text())[split])
    utterances = [u for u in read_corpus(DATA) if u.speaker in speakers]
    audios = [load_audio(u.path) for u in utterances]
    return utterances, audios, np.array([u.gender == "female" for u in utterances])
