"""Uploads decoded and scored in worker processes.

A decoder that crashes natively on a hostile file (FFmpeg and libsndfile are C) would take the
whole service down with it if it ran in the server's process. Here it takes down one worker
process: the uploads in flight on it are tried once more on fresh workers, and a file that kills
its worker twice gets a one-line 400 while the server goes on serving.
"""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any, Callable

from voxgender.errors import AudioError
from voxgender.model import Model

Task = Callable[..., dict[str, Any]]  # (model, data, name, max_duration_s, min_confidence) -> the answer
_model: Model | None = None
_task: Task | None = None


def _start(model: Model, task: Task) -> None:
    """A worker's start: the model (its ONNX graphs travel as bytes) and the task, one thread per call."""
    from voxgender.runtime import one_thread

    global _model, _task
    one_thread()
    _model, _task = model, task


def _run(data: bytes, name: str, max_duration_s: float | None, min_confidence: float) -> dict[str, Any]:
    assert _model is not None and _task is not None
    return _task(_model, data, name, max_duration_s, min_confidence)


class UploadWorkers:
    """A pool of ``workers`` processes that run ``task`` on uploads; ``run`` blocks (call it from a thread)."""

    def __init__(self, model: Model, workers: int, task: Task) -> None:
        self._model, self._workers, self._task = model, workers, task
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self._workers, mp_context=get_context("spawn"), initializer=_start,
                                   initargs=(self._model, self._task))

    def run(self, data: bytes, name: str, max_duration_s: float | None, min_confidence: float) -> dict[str, Any]:
        """The task's answer for one upload; AudioError (one line) if the upload kills its worker twice."""
        for _ in range(2):
            pool = self._pool
            try:
                return pool.submit(_run, data, name, max_duration_s, min_confidence).result()
            except BrokenProcessPool:
                self._replace(pool)
        raise AudioError(f"{name}: the decoder crashed on this file")

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = self._new_pool()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
