"""onnxruntime sessions, all made one way: CPU, with the process's thread policy.

Inference runs every network through onnxruntime (the gender networks and silero-vad), so an
install for inference needs neither torch nor its start-up time.
"""

from __future__ import annotations

import onnxruntime as ort

_threads = 0  # intra-op threads of new sessions; 0 lets onnxruntime choose (one per core)


def set_threads(threads: int) -> None:
    """Intra-op threads of the sessions made from now on (0: onnxruntime's default)."""
    global _threads
    _threads = max(0, int(threads))


def new_session(model: str | bytes) -> ort.InferenceSession:
    """A CPU session of an ONNX model (a path or its bytes)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = _threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's concern
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
