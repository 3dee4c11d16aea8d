"""voxgender: speaker gender recognition (female/male) from audio with a small recurrent network.

>>> import voxgender
>>> model = voxgender.load_model()          # the bundled pretrained model, offline
>>> model.predict_file("speech.wav")
Prediction(path='speech.wav', label='female', p_female=0.97, confidence=0.97, duration_s=3.2)

The label is a binary acoustic estimate from the voice, not a person's gender identity.
"""

import os
from importlib import import_module
from typing import Any

# Small recurrent models spend their time in many tiny matrix products; with OpenMP's default
# busy-waiting, two threads on a loaded machine slow each other down by an order of magnitude.
# Passive waiting avoids that; it only takes effect if set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import AudioError, DataError, ModelError, VoxgenderError  # noqa: E402

__version__ = "0.1.0"

# The rest of the API imports torch, so it loads on first use (``voxgender --help`` stays instant).
_LAZY = {
    "load_audio": "audio", "FeatureConfig": "features", "Model": "inference", "Prediction": "inference",
    "load_model": "inference", "GenderRNN": "model", "ModelConfig": "model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AudioError", "DataError", "FeatureConfig", "GenderRNN", "Model", "ModelConfig", "ModelError",
    "Prediction", "VoxgenderError", "load_audio", "load_model", "__version__",
]
