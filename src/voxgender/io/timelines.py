"""Timeline files: write and read segmentation results as CSV, JSON, JSON lines, RTTM, Praat
TextGrid and Audacity labels.

What each format holds:

- ``csv``: ``path,start,end,label,p_female``, every segment (non-speech too);
- ``json``: one object with ``path``, ``duration_s``, ``summary`` and ``segments``;
- ``jsonl``: one object per segment, then ``{"path": ..., "summary": {...}}``;
- ``rttm``: NIST RTTM ``SPEAKER`` lines for speech segments, the label as speaker name and
  ``p_female`` as confidence;
- ``textgrid``: a Praat TextGrid with one interval tier ``gender`` covering the whole file;
- ``audacity``: an Audacity label track (tab-separated start, end, label) of speech segments.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from voxgender.core.timeline import Segment, SegmentationResult

SEGMENT_FORMATS = ("csv", "json", "jsonl", "rttm", "textgrid", "audacity")
EXTENSIONS = {"csv": ".csv", "json": ".json", "jsonl": ".jsonl", "rttm": ".rttm", "textgrid": ".TextGrid",
              "audacity": ".txt"}
CSV_FIELDS = ("path", "start", "end", "label", "p_female")
SPEECH = ("female", "male", "unknown")


@dataclass(frozen=True)
class Timeline:
    """What a timeline file holds: segments (speech only for rttm/audacity), and for json/jsonl
    the path and summary."""

    segments: list[Segment]
    path: str | None = None
    summary: dict[str, Any] | None = None


def _time(t: float) -> str:
    return f"{t:.3f}"


def _speech(result: SegmentationResult) -> list[Segment]:
    return [s for s in result.segments if s.label in SPEECH]


# -- writers --------------------------------------------------------------------------------------
def _csv(result: SegmentationResult, header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(CSV_FIELDS)
    for s in result.segments:
        writer.writerow([result.path, _time(s.start), _time(s.end), s.label, "" if s.p_female is None else s.p_female])
    return out.getvalue()


def _json(result: SegmentationResult, header: bool) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


def _jsonl(result: SegmentationResult, header: bool) -> str:
    lines = [json.dumps({"path": result.path, **s.to_dict()}) for s in result.segments]
    lines.append(json.dumps({"path": result.path, "summary": result.summary.to_dict()}))
    return "\n".join(lines) + "\n"


def rttm_file_id(path: str) -> str:
    """The RTTM file id of a path: its stem, without whitespace."""
    return re.sub(r"\s+", "_", Path(path).stem) or "audio"


def _rttm(result: SegmentationResult, header: bool) -> str:
    file_id = rttm_file_id(result.path)
    return "".join(
        f"SPEAKER {file_id} 1 {_time(s.start)} {_time(s.duration)} <NA> <NA> {s.label} {s.p_female:.4f} <NA>\n"
        for s in _speech(result)
    )


def _textgrid(result: SegmentationResult, header: bool) -> str:
    end = _time(result.duration_s)
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {end}",
             "tiers? <exists>", "size = 1", "item []:", "    item [1]:", '        class = "IntervalTier"',
             '        name = "gender"', "        xmin = 0", f"        xmax = {end}",
             f"        intervals: size = {len(result.segments)}"]
    for i, s in enumerate(result.segments, 1):
        lines += [f"        intervals [{i}]:", f"            xmin = {_time(s.start)}", f"            xmax = {_time(s.end)}",
                  f'            text = "{s.label}"']
    return "\n".join(lines) + "\n"


def _audacity(result: SegmentationResult, header: bool) -> str:
    return "".join(f"{s.start:.6f}\t{s.end:.6f}\t{s.label}\n" for s in _speech(result))


WRITERS: dict[str, Callable[[SegmentationResult, bool], str]] = {
    "csv": _csv, "json": _json, "jsonl": _jsonl, "rttm": _rttm, "textgrid": _textgrid, "audacity": _audacity,
}


def render(result: SegmentationResult, fmt: str, header: bool = True) -> str:
    """``result`` as text in format ``fmt``; ``header=False`` leaves out the CSV header line."""
    if fmt not in WRITERS:
        raise ValueError(f"format must be one of {SEGMENT_FORMATS}, not {fmt!r}")
    return WRITERS[fmt](result, header)


# -- readers --------------------------------------------------------------------------------------
def _float_or_none(value: Any) -> float | None:
    return None if value in (None, "", "<NA>") else float(value)


def _read_csv(text: str) -> Timeline:
    rows = list(csv.DictReader(io.StringIO(text)))
    segments = [Segment(float(r["start"]), float(r["end"]), r["label"], _float_or_none(r["p_female"])) for r in rows]
    return Timeline(segments, rows[0]["path"] if rows else None)


def _segment_of(d: dict[str, Any]) -> Segment:
    return Segment(float(d["start"]), float(d["end"]), d["label"], _float_or_none(d.get("p_female")))


def _read_json(text: str) -> Timeline:
    data = json.loads(text)
    return Timeline([_segment_of(d) for d in data["segments"]], data["path"], data["summary"])


def _read_jsonl(text: str) -> Timeline:
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    summary = next((r["summary"] for r in records if "summary" in r), None)
    path = records[0]["path"] if records else None
    return Timeline([_segment_of(r) for r in records if "summary" not in r], path, summary)


def _read_rttm(text: str) -> Timeline:
    segments = []
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            start, duration = float(f[3]), float(f[4])
            segments.append(Segment(start, round(start + duration, 3), f[7], _float_or_none(f[8])))
    return Timeline(segments)


_INTERVAL = re.compile(r'intervals \[\d+\]:\s*xmin = ([\d.]+)\s*xmax = ([\d.]+)\s*text = "([^"]*)"')


def _read_textgrid(text: str) -> Timeline:
    return Timeline([Segment(float(a), float(b), label) for a, b, label in _INTERVAL.findall(text)])


def _read_audacity(text: str) -> Timeline:
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return Timeline([Segment(round(float(a), 3), round(float(b), 3), label) for a, b, label in rows])


READERS: dict[str, Callable[[str], Timeline]] = {
    "csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl, "rttm": _read_rttm, "textgrid": _read_textgrid,
    "audacity": _read_audacity,
}


def parse(text: str, fmt: str) -> Timeline:
    """Read a timeline written by :func:`render` (or by another tool in the same format)."""
    if fmt not in READERS:
        raise ValueError(f"format must be one of {SEGMENT_FORMATS}, not {fmt!r}")
    return READERS[fmt](text)
