"""Process policy in one place: OpenMP's wait policy and how many threads onnxruntime (and, in
training, torch) use.

Small recurrent models spend their time in many tiny matrix products. With OpenMP's default
busy-waiting, two threads on a loaded machine slow each other down by an order of magnitude, and
a second thread waiting for the first makes each tiny live call many times slower
(``benchmarks/stream_chunk_time.py --threads 2``). Parallelism comes from running several files or
streams at once instead.
"""

from __future__ import annotations

import os
import sys


def passive_wait() -> None:
    """OpenMP threads sleep instead of spinning while they wait; only takes effect before torch is imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def use_threads(threads: int) -> None:
    """Run each network call on ``threads`` threads (0 leaves the runtimes' defaults): the
    onnxruntime sessions made from now on, and torch if training has imported it."""
    if threads > 0:
        from voxgender.core.onnx_runtime import set_threads

        set_threads(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)


def one_thread() -> None:
    """One thread per network call: for live work and for workers that each run their own batch."""
    use_threads(1)
