"""Process policy in one place: OpenMP's wait policy and how many threads torch uses.

Small recurrent models spend their time in many tiny matrix products. With OpenMP's default
busy-waiting, two threads on a loaded machine slow each other down by an order of magnitude, and
a second thread waiting for the first makes each tiny live call many times slower
(``benchmarks/stream_chunk_time.py --threads 2``). Parallelism comes from running several files or
streams at once instead.
"""

from __future__ import annotations

import os


def passive_wait() -> None:
    """OpenMP threads sleep instead of spinning while they wait; only takes effect before torch is imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def use_threads(threads: int) -> None:
    """Run torch's operations on ``threads`` threads (0 leaves torch's default)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def one_thread() -> None:
    """One torch thread: for live work and for workers that each run their own batch."""
    use_threads(1)
