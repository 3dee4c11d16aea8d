"""File-level prediction over many inputs: expand folders and lists, decode in parallel, batch the
model, and turn each failure into an error record instead of stopping the run."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from voxgender.core.aggregate import Aggregation
from voxgender.errors import VoxgenderError
from voxgender.io.audio import SAMPLE_RATE, AudioBlock, find_audio_files
from voxgender.io.progress import progress_bar
from voxgender.model import Model

BATCH_FILES = 64  # files per parallel task: small enough that the last tasks keep every core busy
BATCH_AUDIO_S = 1200.0  # decoded audio a task holds at once: memory stays bounded


def expand_inputs(inputs: Sequence[str], files_from: str | None = None) -> list[str]:
    """Files as given, folders walked for audio files, plus the lines of ``files_from`` ('-' = stdin).

    A folder's files are named as the folder was given joined with their relative path.
    """
    items = list(inputs)
    if files_from:
        lines = sys.stdin.read().splitlines() if files_from == "-" else Path(files_from).read_text().splitlines()
        items += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    paths: list[str] = []
    for item in items:
        if os.path.isdir(item):
            paths += [os.path.join(item, str(p.relative_to(item))) for p in find_audio_files(item)]
        else:
            paths.append(item)
    return paths


Decoded = np.ndarray | Iterator[AudioBlock] | VoxgenderError  # a short file's audio, a long one's blocks, or its error


def _decode(model: Model, path: str, aggregation: Aggregation | None) -> Decoded:
    try:
        return model._open_input(path, path, aggregation)
    except VoxgenderError as err:
        return err


def _decoded_groups(model: Model, paths: Sequence[str], aggregation: Aggregation | None) -> Iterator[list[tuple[str, Decoded]]]:
    """(path, decoded) in input order, in groups holding at most ``BATCH_AUDIO_S`` of audio (a long
    recording alone)."""
    group: list[tuple[str, Decoded]] = []
    held = 0
    for path in paths:
        audio = _decode(model, path, aggregation)
        size = len(audio) if isinstance(audio, np.ndarray) else 0
        long = not isinstance(audio, (np.ndarray, VoxgenderError))
        if group and (held + size > BATCH_AUDIO_S * SAMPLE_RATE or long):
            yield group
            group, held = [], 0
        group.append((path, audio))
        held += size
    if group:
        yield group


def _record(model: Model, path: str, decoded: Decoded, aggregation: Aggregation | None) -> dict[str, Any]:
    """The record of a long recording, or of an error."""
    if isinstance(decoded, VoxgenderError):
        return {"path": path, "error": str(decoded)}
    try:
        return model._prediction(path, *model._p_female_of_blocks(decoded, aggregation)).to_dict()
    except VoxgenderError as err:
        return {"path": path, "error": str(err)}


def _group_records(model: Model, group: list[tuple[str, Decoded]], aggregation: Aggregation | None) -> list[dict[str, Any]]:
    short = [(path, audio) for path, audio in group if isinstance(audio, np.ndarray)]
    predictions = iter(model._predict_arrays([a for _, a in short], [p for p, _ in short], aggregation) if short else ())
    return [next(predictions).to_dict() if isinstance(audio, np.ndarray) else _record(model, path, audio, aggregation)
            for path, audio in group]


def predict_batch(model: Model, paths: Sequence[str], aggregation: Aggregation | None = None) -> list[dict[str, Any]]:
    """Records for a batch of paths, in order: decode each, run the decodable ones through the model
    together, a group of at most ``BATCH_AUDIO_S`` of audio at a time."""
    return [record for group in _decoded_groups(model, paths, aggregation) for record in _group_records(model, group, aggregation)]


def iter_predictions(
    model: Model, paths: Sequence[str], aggregation: Aggregation | None = None, show_progress: bool = True,
    workers: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one record per path, in input order: a Prediction dict, or ``{"path", "error"}``.

    Batches of files run on ``workers`` threads (default: one per core). Decoding, NumPy's larger
    operations and onnxruntime release the GIL, so with one thread per network call (as ``voxgender
    predict`` runs) every core decodes and scores its own batch, which is faster for a small GRU
    than splitting each tiny matrix product across cores.
    """
    workers = workers or os.cpu_count() or 1
    batches = [paths[i:i + BATCH_FILES] for i in range(0, len(paths), BATCH_FILES)]
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda batch: predict_batch(model, batch, aggregation), batches)
        for records in progress_bar(results, f"predicting {len(paths)} files", show_progress and len(batches) > 1,
                                    total=len(batches)):
            yield from records
