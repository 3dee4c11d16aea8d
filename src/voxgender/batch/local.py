"""Batch runs over many files: parallel worker processes, incremental results, resume, summary.

Each worker process loads the model once and handles one file at a time (one torch thread each;
a segmenting worker also runs silero-vad in a helper thread). Results are written as they come
(see :mod:`voxgender.batch.output`), so a run killed at any point can be resumed: ``resume``
skips every input that already has a record, successes and failures alike.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from voxgender.batch.output import open_sink, read_results
from voxgender.core.timeline import CollectionSummary, SegmentSummary
from voxgender.errors import VoxgenderError
from voxgender.io.progress import console, say
from voxgender.model import SpeechCheck
from voxgender.runtime import one_thread
from voxgender.segment import SegmentConfig

TASKS = ("predict", "segment")
IN_FLIGHT_PER_WORKER = 4
LOG_EVERY_S = 30.0


@dataclass(frozen=True)
class BatchJob:
    """What to do with each file: the task, the model directory (None = bundled), for
    segmentation its settings, whether an ensemble predicts with every member on every file
    (``load_model``'s ``all_members``; segmentation always does), and how predictions listen to each
    file for speech (``load_model``'s ``speech_check``), and whether predictions and segmentations hear
    the model's speaker encoder too (``load_model``'s ``encoder``). The segmentation settings'
    ``min_confidence`` labels doubtful files (predict) and segments (segment) ``unknown``."""

    task: str = "predict"
    model: str | None = None
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    all_members: bool = False
    speech_check: SpeechCheck = "gate"
    encoder: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {self.task!r}")


class FileWorker:
    """Turns a path into a result record: a prediction, a segmentation, or ``{"path", "error"}``."""

    def __init__(self, job: BatchJob) -> None:
        from voxgender.model import load_model
        from voxgender.segment import Segmenter

        self.job = job
        model = load_model(job.model, all_members=job.all_members, speech_check=job.speech_check,
                           min_confidence=job.segment.min_confidence, encoder=job.encoder)
        self._segmenter = Segmenter(model, job.segment) if job.task == "segment" else None
        self._model = model

    def __call__(self, path: str) -> dict[str, Any]:
        try:
            if self._segmenter is None:
                return self._model.predict(path).to_dict()
            result = self._segmenter.segment_file(path)
            return {"path": path, **result.summary.to_dict(), "segments": [s.to_dict() for s in result.segments]}
        except VoxgenderError as err:
            return {"path": path, "error": str(err)}


# -- local engine ---------------------------------------------------------------------------------
_worker: FileWorker | None = None
PR_SET_PDEATHSIG = 1  # Linux prctl option: a signal for this process when its parent dies


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker process when the batch process ``parent`` dies (Linux), and
    end at once if it died while this worker was starting."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers then end when they next read from the pool
        pass
    if os.getppid() != parent:
        os._exit(1)


def _init_process(job: BatchJob, parent: int | None = None) -> None:
    global _worker
    if parent is not None:
        die_with_parent(parent)
    one_thread()
    _worker = FileWorker(job)


def _run_in_process(path: str) -> dict[str, Any]:
    assert _worker is not None, "worker process not initialised"
    return _worker(path)


class _PoolBroke(Exception):
    """A worker process died; ``paths`` were in flight, one of them the cause."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(f"{len(paths)} inputs in flight")
        self.paths = paths


def _pool_records(paths: Iterator[str], workers: int, task: Callable[[str], dict[str, Any]],
                  initializer: Callable[..., None], initargs: tuple) -> Iterator[dict[str, Any]]:
    """Records from a pool of ``workers`` processes while it lasts; raises _PoolBroke with the
    inputs in flight when a worker dies (a native crash in a decoder, or the kernel's OOM killer)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=initargs) as pool:
        running: dict[Future[dict[str, Any]], str] = {}
        while True:
            for path in paths:
                try:
                    running[pool.submit(task, path)] = path
                except BrokenProcessPool:  # a worker died before its future said so: this input is in flight too
                    raise _PoolBroke([*running.values(), path]) from None
                if len(running) >= workers * IN_FLIGHT_PER_WORKER:
                    break
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    record = future.result()
                except BrokenProcessPool:
                    raise _PoolBroke(list(running.values())) from None
                del running[future]
                yield record


def run_local(paths: Sequence[str], job: BatchJob, workers: int, task: Callable[[str], dict[str, Any]] = _run_in_process,
              initializer: Callable[..., None] = _init_process) -> Iterator[dict[str, Any]]:
    """Records of ``paths`` as they complete, from ``workers`` processes (1 = this process).

    When a worker process dies, the pool is replaced and the run goes on; the inputs that were in
    flight then run again one at a time in a pool of their own, and the one that kills its worker
    again gets an error record (so ``--resume`` does not stop at it again)."""
    if workers <= 1:
        initializer(job)
        yield from map(task, paths)
        return
    todo = iter(paths)
    while True:
        try:
            yield from _pool_records(todo, workers, task, initializer, (job, os.getpid()))
            return
        except _PoolBroke as broke:
            say(f"batch: a worker process died; running its {len(broke.paths)} inputs in flight one by one")
            for path in broke.paths:
                try:
                    yield from _pool_records(iter([path]), 1, task, initializer, (job, os.getpid()))
                except _PoolBroke:
                    yield {"path": path, "error": f"{path}: its worker process died on it (a crash or out of memory)"}


# -- the run ---------------------------------------------------------------------------------------
def pending_inputs(paths: Sequence[str], out: str | Path, resume: bool) -> list[str]:
    """The inputs still to do, each once. Without ``resume`` the output must not exist yet."""
    unique = list(dict.fromkeys(paths))
    if not Path(out).exists():
        return unique
    if not resume:
        raise VoxgenderError(f"{out}: already exists (add --resume to continue that run, or remove it)")
    done = {r["path"] for r in read_results(out)}
    return [p for p in unique if p not in done]


class Throughput:
    """Files and audio hours done, for the progress display and the periodic log line."""

    def __init__(self, total: int) -> None:
        self.total, self.files, self.audio_s, self.failures = total, 0, 0.0, 0
        self.started = time.monotonic()
        self._logged = self.started

    def add(self, record: dict[str, Any]) -> None:
        self.files += 1
        self.failures += "error" in record
        self.audio_s += float(record.get("duration_s") or 0.0)

    def describe(self) -> str:
        elapsed = max(1e-9, time.monotonic() - self.started)
        return f"{self.files / elapsed:.2f} files/s, {self.audio_s / elapsed:.0f}x real time, {self.failures} failed"

    def log_due(self) -> bool:
        now = time.monotonic()
        if now - self._logged >= LOG_EVERY_S:
            self._logged = now
            return True
        return False


def track(records: Iterable[dict[str, Any]], total: int, show: bool) -> Iterator[dict[str, Any]]:
    """Pass records through with a progress bar (throughput, ETA) on a terminal, else a log line
    every 30 s."""
    stats = Throughput(total)
    if show and console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("batch", total=total, rate="")
            for record in records:
                stats.add(record)
                progress.update(task, advance=1, rate=stats.describe())
                yield record
        return
    for record in records:
        stats.add(record)
        if show and stats.log_due():
            say(f"batch: {stats.files}/{total} files, {stats.describe()}")
        yield record


def run_batch(paths: Sequence[str], job: BatchJob, out: str | Path, workers: int = 1, resume: bool = False,
              show_progress: bool = True, runner: Callable[..., Iterator[dict[str, Any]]] = run_local) -> dict[str, Any]:
    """Run ``job`` on every pending input, appending records to ``out``; return the summary of
    everything ``out`` holds."""
    todo = pending_inputs(paths, out, resume)
    if len(todo) < len(paths):
        say(f"batch: {len(dict.fromkeys(paths)) - len(todo)} inputs already done, {len(todo)} to go")
    try:
        sink = open_sink(out, job.task)
        try:
            for record in track(runner(todo, job, workers), len(todo), show_progress):
                sink.write(record)
        finally:
            sink.close()
    except OSError as err:  # a full disk, a read-only folder: one line, and --resume continues later
        raise VoxgenderError(f"{out}: cannot write ({err.strerror or err})") from None
    return summarise(read_results(out), job.task)


def summarise(records: Sequence[dict[str, Any]], task: str) -> dict[str, Any]:
    """Files, failures, audio hours and the female share: of speech time (segment, with the
    collection's figures and their 95% intervals from resampling the files) or of audio time of the
    files labelled female (predict)."""
    ok = [r for r in records if "error" not in r]
    hours = sum(float(r.get("duration_s") or 0.0) for r in ok) / 3600
    if task == "segment":
        female_s, male_s = [r["female_s"] for r in ok], [r["male_s"] for r in ok]
    else:
        female_s = [r["duration_s"] * (r["label"] == "female") for r in ok]
        male_s = [r["duration_s"] * (r["label"] != "female") for r in ok]
    speech = sum(female_s) + sum(male_s)
    summary = {"files": len(records), "failures": len(records) - len(ok), "hours": round(hours, 4),
               "female_share": round(sum(female_s) / speech, 4) if speech > 0 else None}
    if task == "segment":
        fields = SegmentSummary.__dataclass_fields__
        collection = CollectionSummary.of([SegmentSummary(**{k: v for k, v in r.items() if k in fields}) for r in ok])
        summary["female_share_95"] = collection.intervals["female_share"]
        summary["collection"] = collection.to_dict()
    return summary


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))
