"""Writers for result records (dicts) in table, json, jsonl and csv formats.

jsonl and csv are written as results arrive; table and json once at the end.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Any, Literal, TextIO

Format = Literal["table", "json", "jsonl", "csv"]
FORMATS = ("table", "json", "jsonl", "csv")
PREDICTION_FIELDS = ("path", "label", "p_female", "confidence", "duration_s", "speech_s", "error")


class RecordWriter:
    """Collects or streams records with the given fields; errors are records with an ``error`` key."""

    def __init__(self, fmt: Format, fields: tuple[str, ...] = PREDICTION_FIELDS, stream: TextIO | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
        self.fmt = fmt
        self.fields = fields
        self.stream = stream or sys.stdout
        self.records: list[dict[str, Any]] = []
        self._csv = None
        if fmt == "csv":
            self._csv = csv.DictWriter(self.stream, fieldnames=list(fields), extrasaction="ignore")
            self._csv.writeheader()

    def write(self, record: dict[str, Any]) -> None:
        if self.fmt == "jsonl":
            self.stream.write(json.dumps(record) + "\n")
            self.stream.flush()
        elif self._csv is not None:
            self._csv.writerow(record)
            self.stream.flush()
        else:
            self.records.append(record)
            if self.fmt == "table" and "error" in record:
                print(f"error: {record['error']}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.fmt == "json":
            self.stream.write(json.dumps(self.records, indent=2) + "\n")
        elif self.fmt == "table":
            self._print_table()

    def _print_table(self) -> None:
        """Aligned plain-text columns: thousands of rows print in milliseconds, and a pipe gets
        the same text as a terminal."""
        rows = [r for r in self.records if "error" not in r]
        if not rows:
            return
        columns = [f for f in self.fields if f != "error"]
        lines = [columns, *([_cell(row.get(c)) for c in columns] for row in rows)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
        self.stream.writelines("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() + "\n"
                               for line in lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)
