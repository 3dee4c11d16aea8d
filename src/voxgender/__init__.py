"""voxgender: speaker gender recognition (female/male) from audio with a small recurrent network.

>>> import voxgender
>>> model = voxgender.load_model()          # the bundled pretrained model, offline
>>> model.predict_file("speech.wav")
Prediction(path='speech.wav', label='female', p_female=0.97, confidence=0.97, duration_s=3.2)

The label is a binary acoustic estimate from the voice, not a person's gender identity.
"""

from .audio import load_audio
from .errors import AudioError, DataError, ModelError, VoxgenderError
from .features import FeatureConfig
from .inference import Model, Prediction, load_model
from .model import GenderRNN, ModelConfig

__version__ = "0.1.0"

__all__ = [
    "AudioError", "DataError", "FeatureConfig", "GenderRNN", "Model", "ModelConfig", "ModelError",
    "Prediction", "VoxgenderError", "load_audio", "load_model", "__version__",
]
