"""Synthetic conversations with a known timeline, for the segmentation tests.

Importable as ``import recordings``: tests/ is on pytest's ``pythonpath`` (pyproject.toml).
"""

from __future__ import annotations

import numpy as np

from voxgender.synth import synth_clip

RATE = 16000


def conversation(turns: list[tuple[str, float]], pause_s: float = 1.0, seed: int = 0,
                 noise: float = 1e-3) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Turns of synthetic female/male speech separated by pauses (with a faint noise floor).

    Returns the audio and the reference speech turns as (start, end, label) in seconds.
    """
    rng = np.random.default_rng(seed)
    pieces, reference, t = [], [], pause_s
    pieces.append(np.zeros(int(pause_s * RATE), np.float32))
    for i, (label, seconds) in enumerate(turns):
        clip = synth_clip(label, seconds, seed=seed * 100 + i)
        pieces += [clip, np.zeros(int(pause_s * RATE), np.float32)]
        reference.append((t, t + len(clip) / RATE, label))
        t += (len(clip) + int(pause_s * RATE)) / RATE
    audio = np.concatenate(pieces)
    return (audio + noise * rng.standard_normal(len(audio))).astype(np.float32), reference


def label_at(segments, t: float) -> str:
    """The label of the segment (objects with start/end/label) that holds time ``t``."""
    return next(s.label for s in segments if s.start <= t < s.end)
