"""Shared fixtures. Helpers live in tests/helpers.py and are imported as ``import helpers``.

tests/ is deliberately not a package (no __init__.py); this conftest puts its own directory on
sys.path so that ``import helpers`` works under any pytest import mode and from any directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from voxgender.synth import synth_clip  # noqa: E402


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
