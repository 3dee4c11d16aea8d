"""voxgender: speaker gender recognition (female/male) from audio with a small recurrent network.

>>> import voxgender
>>> model = voxgender.load_model()          # the bundled pretrained model, offline
>>> model.predict_file("speech.wav")
Prediction(path='speech.wav', label='female', p_female=0.97, confidence=0.97, duration_s=3.2)

The label is a binary acoustic estimate from the voice, not a person's gender identity.
"""

import os

# Small recurrent models spend their time in many tiny matrix products; with OpenMP's default
# busy-waiting, two threads on a loaded machine slow each other down by an order of magnitude.
# Passive waiting avoids that; it only takes effect if set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .audio import load_audio  # noqa: E402
from .errors import AudioError, DataError, ModelError, VoxgenderError  # noqa: E402
from .features import FeatureConfig  # noqa: E402
from .inference import Model, Prediction, load_model  # noqa: E402
from .model import GenderRNN, ModelConfig  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AudioError", "DataError", "FeatureConfig", "GenderRNN", "Model", "ModelConfig", "ModelError",
    "Prediction", "VoxgenderError", "load_audio", "load_model", "__version__",
]
