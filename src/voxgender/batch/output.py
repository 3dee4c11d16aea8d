"""Result files of batch runs: JSON lines or Parquet, written incrementally and read back.

- ``.jsonl``: one record per line, flushed as it comes. A run killed mid-line leaves a partial
  last line, which :func:`read_results` ignores and :class:`JsonlSink` cuts off before appending.
- ``.parquet``: a folder of part files (as Ray Data writes it too). Records are flushed to a new
  part every ``PART_ROWS`` records or ``PART_SECONDS`` seconds; a part is written under a hidden
  temporary name and renamed when complete, so a kill loses at most the records not yet flushed,
  which a resumed run computes again.

Records are dicts: a success carries the task's fields, a failure is ``{"path", "error"}``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

from voxgender.errors import VoxgenderError, import_extra

PART_ROWS = 256
PART_SECONDS = 30.0
SEGMENT_FIELDS = (("start", "float64"), ("end", "float64"), ("label", "string"), ("p_female", "float64"))
FIELDS = {
    "predict": (("path", "string"), ("label", "string"), ("p_female", "float64"), ("confidence", "float64"),
                ("duration_s", "float64"), ("speech_s", "float64"), ("error", "string")),
    "segment": (("path", "string"), ("duration_s", "float64"), ("female_s", "float64"), ("male_s", "float64"),
                ("nonspeech_s", "float64"), ("female_share", "float64"), ("female_share_low", "float64"),
                ("female_share_high", "float64"), ("female_turns", "int64"), ("male_turns", "int64"),
                ("median_turn_s", "float64"), *((f"{name}_{end}", "float64") for name in ("female_s", "male_s", "median_turn")
                                                 for end in ("low", "high")),
                ("unknown_s", "float64"), ("female_share_lowest", "float64"), ("female_share_highest", "float64"),
                ("segments", "segments"), ("error", "string")),
}


def output_kind(path: str | Path) -> str:
    """'jsonl' or 'parquet' from the output name; VoxgenderError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".parquet"):
        return suffix[1:]
    raise VoxgenderError(f"{path}: the output must end in .jsonl or .parquet")


def pyarrow() -> ModuleType:
    """pyarrow with its parquet module, or a one-line error naming the extra."""
    import_extra("pyarrow.parquet", "batch", "Parquet output")
    return import_extra("pyarrow", "batch", "Parquet output")


def schema(task: str) -> Any:
    """The Parquet schema of a task's records."""
    pa = pyarrow()
    types = {"float64": pa.float64(), "string": pa.string(), "int64": pa.int64(),
             "segments": pa.list_(pa.struct([(name, getattr(pa, kind)()) for name, kind in SEGMENT_FIELDS]))}
    return pa.schema([(name, types[kind]) for name, kind in FIELDS[task]])


def records_table(records: list[dict[str, Any]], task: str) -> Any:
    """The records of ``task`` as a pyarrow Table of its schema (missing fields null)."""
    task_schema = schema(task)
    return pyarrow().Table.from_pylist([{k: r.get(k) for k in task_schema.names} for r in records], schema=task_schema)


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """A record read from a table, with the null fields of its kind left out."""
    if record.get("error") is not None:
        return {"path": record["path"], "error": record["error"]}
    return {k: v for k, v in record.items() if k != "error"}


class JsonlSink:
    """Appends records to a JSON lines file, one flushed line each."""

    def __init__(self, path: Path) -> None:
        _cut_partial_line(path)
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ParquetSink:
    """Adds part files to a Parquet folder, each renamed into place once complete."""

    def __init__(self, path: Path, task: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._path, self._task = path, task
        self._run = uuid.uuid4().hex[:8]
        self._pending: list[dict[str, Any]] = []
        self._parts = 0
        self._flushed = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        self._pending.append(record)
        if len(self._pending) >= PART_ROWS or time.monotonic() - self._flushed >= PART_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            name = f"part-{self._run}-{self._parts:05d}.parquet"
            tmp = self._path / f".{name}.tmp"
            pyarrow().parquet.write_table(records_table(self._pending, self._task), tmp)
            os.replace(tmp, self._path / name)
            self._parts += 1
            self._pending = []
        self._flushed = time.monotonic()

    def close(self) -> None:
        self.flush()


def open_sink(path: str | Path, task: str) -> JsonlSink | ParquetSink:
    """A sink that appends to the results at ``path`` (created if missing)."""
    path = Path(path)
    return JsonlSink(path) if output_kind(path) == "jsonl" else ParquetSink(path, task)


def _cut_partial_line(path: Path) -> None:
    if not path.is_file() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def _jsonl_records(path: Path) -> Iterable[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill: that input is done again on resume


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Every complete record at ``path``: a JSON lines file, or a folder of Parquet or JSON line
    parts (unreadable parts, such as one cut by a kill, are skipped)."""
    path = Path(path)
    if path.is_file():
        return list(_jsonl_records(path))
    if not path.is_dir():
        return []
    records: list[dict[str, Any]] = []
    for part in sorted(p for p in path.iterdir() if not p.name.startswith((".", "_"))):
        if part.suffix == ".parquet":
            try:
                records += [_clean(r) for r in pyarrow().parquet.read_table(part).to_pylist()]
            except (pyarrow().ArrowException, OSError):
                continue
        elif part.suffix in (".json", ".jsonl"):
            records += [_clean(r) for r in _jsonl_records(part)]
    return records
