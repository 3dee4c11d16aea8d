"""A gender network exported to ONNX, run by onnxruntime in the contract of ``FrameNetwork``.

The graph takes raw feature frames and the state (``state0``, ``state1``, ...) and returns the
frame log-posteriors and the new state (``log_posteriors``, ``state_out0``, ...), so streaming
carries the state exactly as the torch model does (``voxgender.training.export`` writes it).
"""

from __future__ import annotations

import numpy as np
from onnxruntime import InferenceSession

from voxgender.core.networks import ModelConfig, NumpyState, zero_state
from voxgender.core.onnx_runtime import new_session

FEATURES, LOG_POSTERIORS = "features", "log_posteriors"


def state_names(cfg: ModelConfig) -> tuple[list[str], list[str]]:
    """The graph's names of the state inputs and of the state outputs."""
    n = len(zero_state(cfg, 0))
    return [f"state{i}" for i in range(n)], [f"state_out{i}" for i in range(n)]


class OnnxNetwork:
    """One network of a model, from its ONNX graph (the file's bytes).

    Loading makes its session and checks the graph against the config. A network sent to another
    process pickles as its graph and makes its session there on first use, under that process's
    thread policy.
    """

    def __init__(self, cfg: ModelConfig, graph: bytes) -> None:
        self.cfg = cfg
        self._graph = graph
        self._inputs, _ = state_names(cfg)
        self._session: InferenceSession | None = None
        self._check_state_inputs()

    def __getstate__(self) -> dict[str, object]:
        return {"cfg": self.cfg, "_graph": self._graph, "_inputs": self._inputs}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state, _session=None)

    @property
    def members(self) -> list["OnnxNetwork"]:
        return [self]

    @property
    def session(self) -> InferenceSession:
        if self._session is None:
            self._session = new_session(self._graph)
        return self._session

    def _check_state_inputs(self) -> None:
        """ValueError unless the graph's state inputs have the shapes the config gives."""
        declared = {i.name: i.shape for i in self.session.get_inputs()}
        for name, expected in zip(self._inputs, zero_state(self.cfg, 1)):
            shape = declared.get(name)
            if shape is None or shape[0] != expected.shape[0] or shape[2] != expected.shape[2]:
                raise ValueError(f"the graph's {name} is {shape}, the config's {list(expected.shape)}")

    def __call__(self, x: np.ndarray, state: NumpyState | None = None) -> tuple[np.ndarray, NumpyState]:
        state = state if state is not None else zero_state(self.cfg, len(x))
        feeds = {FEATURES: np.ascontiguousarray(x, dtype=np.float32)}
        feeds.update((name, np.ascontiguousarray(t, dtype=np.float32)) for name, t in zip(self._inputs, state))
        log_posteriors, *new_state = self.session.run(None, feeds)
        return log_posteriors, tuple(new_state)
