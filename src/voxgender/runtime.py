"""Process policy in one place: OpenMP's wait policy, NumPy's BLAS threads, and how many threads
onnxruntime (and, in training, torch) use.

Small recurrent models spend their time in many tiny matrix products. With OpenMP's default
busy-waiting, two threads on a loaded machine slow each other down by an order of magnitude, and
a second thread waiting for the first makes each tiny live call many times slower
(``benchmarks/stream_chunk_time.py --threads 2``). NumPy's OpenBLAS does the same with the
features' small matrix products: left to its own thread pool, it took a fifth of the CPU time of
``voxgender predict`` over short clips and gave nothing back. Parallelism comes from running
several files or streams at once instead.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def set_thread_pool_policy() -> None:
    """OpenMP threads sleep instead of spinning while they wait, and NumPy's BLAS runs on the
    calling thread; only takes effect before torch and NumPy are imported (``import voxgender``
    first, or set the variables yourself)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def use_threads(threads: int) -> None:
    """Run each network call on ``threads`` threads (0 leaves the runtimes' defaults): the
    onnxruntime sessions made from now on, and torch if training has imported it."""
    from threadpoolctl import ThreadpoolController

    # NumPy's OpenBLAS on the calling thread, also where NumPy was imported before voxgender (torch's MKL is left alone)
    ThreadpoolController().select(internal_api="openblas").limit(limits=1)
    if threads > 0:
        from voxgender.core.onnx_runtime import set_threads

        set_threads(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)


def one_thread() -> None:
    """One thread per network call: for live work and for workers that each run their own batch."""
    use_threads(1)


def ordered_map(fn: Callable[[Item], Result], items: Iterable[Item], workers: int, ahead: int) -> Iterator[Result]:
    """``fn`` of each item on ``workers`` threads, the results in order, with at most ``ahead``
    items taken from ``items`` and not yet given back (so a long input's memory stays bounded)."""
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[Result]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def prefetched(items: Iterable[Item], ahead: int) -> Iterator[Item]:
    """``items`` produced on a thread of their own, up to ``ahead`` before they are taken (a
    decoder that runs while its consumer works); an exception the producer raises is raised here."""
    done = object()
    buffer: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(done)
        except BaseException as err:  # handed to the consumer, which raises it
            buffer.put(err)

    producer = threading.Thread(target=produce, name="voxgender-prefetch", daemon=True)
    producer.start()
    try:
        while (item := buffer.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
