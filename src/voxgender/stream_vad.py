"""silero-vad for the stream engine: one call per 32 ms chunk round, with the cheaper runtime for the batch.

Per call, ONNX Runtime costs about a third of TorchScript for one or a few streams, while
TorchScript costs about half as much per stream for dozens of streams in one batch (measured on
this project's 2-core machine). Both run the same silero model with the same explicit state; their
probabilities differ by about 1e-6.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

from .vad import CONTEXT, SileroVad, VadState

ONNX_MAX_BATCH = 12  # up to this many streams per call, ONNX Runtime is the faster
SAMPLE_RATE = np.array(16000, dtype=np.int64)


class StreamVad:
    """``step(chunks (B, 512), VadState) -> (probabilities (B,), VadState)`` like :class:`SileroVad`."""

    def __init__(self) -> None:
        import onnxruntime as ort

        self._jit = SileroVad()
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        path = resources.files("silero_vad.data") / "silero_vad.onnx"
        self._onnx = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    def step(self, chunks: torch.Tensor, state: VadState) -> tuple[torch.Tensor, VadState]:
        if len(chunks) > ONNX_MAX_BATCH:
            return self._jit.step(chunks, state)
        x = torch.cat([state.context, chunks], dim=1)
        prob, new_state = self._onnx.run(None, {"input": x.numpy(), "state": state.state.numpy(), "sr": SAMPLE_RATE})
        return torch.from_numpy(prob).reshape(-1), VadState(torch.from_numpy(new_state), x[:, -CONTEXT:])
