"""File-level prediction over many inputs: expand folders and lists, decode in parallel, batch the
model, and turn each failure into an error record instead of stopping the run."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .audio import SAMPLE_RATE, find_audio_files, load_audio
from .errors import VoxgenderError
from .inference import Model, Prediction
from .postprocess import Aggregation
from .progress import progress_bar

BATCH_FILES = 32


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


def _decode(path: str) -> np.ndarray | VoxgenderError:
    try:
        return load_audio(path)
    except VoxgenderError as err:
        return err


def iter_predictions(
    model: Model, paths: Sequence[str], aggregation: Aggregation | None = None, show_progress: bool = True,
    workers: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one record per path, in order: a Prediction dict, or ``{"path", "error"}``."""
    workers = workers or min(4, os.cpu_count() or 1)
    batches = [paths[i:i + BATCH_FILES] for i in range(0, len(paths), BATCH_FILES)]
    with ThreadPoolExecutor(workers) as pool:
        for batch in progress_bar(batches, f"predicting {len(paths)} files", show_progress and len(paths) > BATCH_FILES):
            decoded = list(pool.map(_decode, batch))
            good = [(p, a) for p, a in zip(batch, decoded) if isinstance(a, np.ndarray)]
            ps = iter(model.p_female_of_arrays([a for _, a in good], aggregation)) if good else iter(())
            for path, audio in zip(batch, decoded):
                if isinstance(audio, VoxgenderError):
                    yield {"path": path, "error": str(audio)}
                else:
                    yield Prediction.from_p_female(path, float(next(ps)), len(audio) / SAMPLE_RATE).to_dict()
