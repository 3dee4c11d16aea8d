"""voxgender: speaker gender recognition (female/male) from audio with a small recurrent network.

>>> import voxgender
>>> model = voxgender.load_model()          # the bundled pretrained model, offline
>>> model.predict("speech.wav")
Prediction(path='speech.wav', label='female', p_female=0.97, confidence=0.97, duration_s=3.2)

The label is a binary acoustic estimate from the voice, not a person's gender identity.
"""

from importlib import import_module
from typing import Any

from voxgender.runtime import set_thread_pool_policy

set_thread_pool_policy()  # before any runtime starts its threads

from voxgender.errors import AudioError, DataError, ModelError, VoxgenderError  # noqa: E402

__version__ = "0.1.0"

# The rest of the API loads onnxruntime, so it loads on first use (``voxgender --help`` stays instant).
_LAZY = {
    "load_audio": "io.audio",
    "Model": "model", "Prediction": "model", "InferenceConfig": "model", "load_model": "model",
    "Stream": "streaming", "StreamOptions": "core.decisions", "Decision": "core.decisions", "Summary": "core.decisions",
    "Segmenter": "segment", "SegmentConfig": "segment",
    "Segment": "core.timeline", "SegmentSummary": "core.timeline", "SegmentationResult": "core.timeline",
    "CollectionSummary": "core.timeline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AudioError", "CollectionSummary", "DataError", "Decision", "InferenceConfig", "Model", "ModelError", "Prediction",
    "Segment", "SegmentConfig",
    "SegmentSummary", "SegmentationResult", "Segmenter", "Stream", "StreamOptions", "Summary", "VoxgenderError",
    "load_audio", "load_model", "__version__",
]
