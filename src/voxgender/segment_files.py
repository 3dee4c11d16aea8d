"""``voxgender segment`` over many inputs: one timeline file (and plot) per input in a folder, or
the timelines on standard output; a summary line per input and one for the whole collection (with
intervals from resampling the files); errors reported and skipped."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, Sequence, TextIO

from voxgender.core.timeline import CollectionSummary, SegmentationResult, SegmentSummary
from voxgender.errors import VoxgenderError
from voxgender.io.progress import say
from voxgender.io.timelines import EXTENSIONS, render
from voxgender.segment import Segmenter

STREAMABLE = ("csv", "jsonl", "rttm")  # formats whose outputs for several inputs simply follow each other
SUMMARY_FIELDS = ("path", *SegmentSummary.__dataclass_fields__, "error")


def output_stems(paths: Sequence[str]) -> list[str]:
    """A distinct file stem per input: its own stem, with -2, -3, ... on repeats."""
    seen: dict[str, int] = {}
    stems = []
    for p in paths:
        stem = Path(p).stem or "audio"
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return stems


def _span(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def describe(result: SegmentationResult) -> str:
    """One line: duration, speaking times and the female share of speech."""
    s = result.summary
    share = ("no speech" if not s.unknown_s else "no speech of a decided gender") if s.female_share is None else (
        f"female share {100 * s.female_share:.1f}% of speech (95% interval {100 * s.female_share_low:.1f}-"
        f"{100 * s.female_share_high:.1f}%, {s.female_turns} female and {s.male_turns} male turns, median {s.median_turn_s:.1f} s)")
    unknown = "" if not s.unknown_s else (
        f"; unknown {_span(s.unknown_s)}, left out of the share ({100 * s.female_share_lowest:.1f}-"
        f"{100 * s.female_share_highest:.1f}% were it all male or all female)")
    return (f"{result.path}: {_span(s.duration_s)}, female {_span(s.female_s)}, male {_span(s.male_s)}, "
            f"non-speech {_span(s.nonspeech_s)}, {share}{unknown}")


def _between(low: float | None, high: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "" if low is None or high is None else f" (95% {scale * low:.{digits}f}-{scale * high:.{digits}f})"


def describe_collection(d: dict[str, Any]) -> str:
    """One line: a collection's speaking times (minutes), share, turns and median turn, each with
    its 95% interval from resampling the files (``CollectionSummary.to_dict()``)."""

    def figure(name: str, unit: str = "", scale: float = 1.0, digits: int = 1) -> str:
        value = d[name]
        return "n/a" if value is None else f"{scale * value:.{digits}f}{unit}{_between(d[f'{name}_low'], d[f'{name}_high'], scale, digits)}"

    return (f"all {d['files']} files ({_span(d['duration_s'])}): female {figure('female_s', ' min', 1 / 60)}, male "
            f"{figure('male_s', ' min', 1 / 60)}, female share {figure('female_share', '%', 100)}, "
            f"{figure('female_turns', digits=0)} female and {figure('male_turns', digits=0)} male turns, "
            f"median turn {figure('median_turn_s', ' s')}; intervals from resampling the files")


def unwritable(target: Path, err: OSError) -> VoxgenderError:
    """The one-line error for an output that cannot be written (full disk, read-only folder, ...)."""
    return VoxgenderError(f"{target}: cannot write ({err.strerror or err})")


def segment_inputs(segmenter: Segmenter, paths: Sequence[str], fmt: str, out: str | None = None,
                   plot: bool = False, stream: TextIO | None = None) -> int:
    """Segment every input; return the number that failed."""
    if out is None and (plot or (fmt not in STREAMABLE and len(paths) > 1)):
        raise VoxgenderError(f"{'--plot' if plot else f'--format {fmt} with several inputs'} needs --out DIR")
    folder = Path(out) if out is not None else None
    summary = None
    failures = written = 0
    done: list[tuple[str, SegmentSummary]] = []
    try:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            summary_file = (folder / "summary.csv").open("w", newline="", encoding="utf-8")
            summary = csv.DictWriter(summary_file, SUMMARY_FIELDS)
            summary.writeheader()
        for path, stem in zip(paths, output_stems(paths)):
            try:
                result = segmenter.segment_file(path)
            except VoxgenderError as err:
                failures += 1
                say(f"voxgender: error: {err}")
                if summary is not None:
                    summary.writerow({"path": path, "error": str(err)})
                continue
            say(describe(result))
            done.append((Path(path).name, result.summary))
            if folder is None:
                (stream or sys.stdout).write(render(result, fmt, header=not written))
                written += 1
                continue
            (folder / f"{stem}{EXTENSIONS[fmt]}").write_text(render(result, fmt), encoding="utf-8")
            summary.writerow({"path": path, **result.summary.to_dict()})
            if plot:
                from voxgender.io.plots import plot_timelines

                plot_timelines([(Path(path).name, result.segments)], folder / f"{stem}.png", title=describe(result))
        if len(done) > 1:
            collection = CollectionSummary.of([s for _, s in done])
            say(describe_collection(collection.to_dict()))
            if folder is not None:
                (folder / "collection.json").write_text(json.dumps(collection.to_dict(), indent=2) + "\n", encoding="utf-8")
        if plot and done:
            from voxgender.io.plots import plot_shares

            rows = [(name, s.female_share, (s.female_share_low, s.female_share_high) if s.female_share_low is not None else None)
                    for name, s in done]
            if len(done) > 1:
                rows.append((f"all {len(done)} files", collection.female_share, collection.intervals["female_share"]))
            plot_shares(rows, folder / "shares.png")
    except OSError as err:
        raise unwritable(Path(err.filename) if err.filename else folder or Path("<stdout>"), err) from None
    finally:
        if summary is not None:
            summary_file.close()
    return failures
