"""``voxgender stream``: raw PCM from standard input, or a file (optionally at real-time pace),
through the streaming engine, one JSON line per decision and a final summary line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import BinaryIO, Iterable, Iterator, TextIO

import numpy as np

from voxgender.core.decisions import Decision, StreamOptions, Summary
from voxgender.core.smoothing import SMOOTHINGS
from voxgender.errors import VoxgenderError
from voxgender.io.audio import SAMPLE_RATE, load_audio
from voxgender.io.pcm import PcmReader
from voxgender.io.progress import say
from voxgender.streaming import Stream, stream_chunks

READ_BYTES = 4096


def write_jsonl(items: Iterable[Decision | Summary], out: TextIO) -> Summary:
    """Write each decision and the summary as a JSON line, flushed at once; returns the summary."""
    summary = None
    for item in items:
        out.write(json.dumps(item.to_dict()) + "\n")
        out.flush()
        if isinstance(item, Summary):
            summary = item
    assert summary is not None  # stream_chunks always ends with the summary
    return summary


def pcm_chunks(source: BinaryIO, reader: PcmReader) -> Iterator[np.ndarray]:
    """Samples as they arrive on a byte stream (``read1`` returns whatever a pipe holds)."""
    read = getattr(source, "read1", source.read)
    while data := read(READ_BYTES):
        samples = reader.feed(data)
        if samples.size:
            yield samples
    if reader.leftover:
        say(f"{reader.name}: ignored {reader.leftover} trailing bytes (not a whole {reader.encoding} sample)")


def paced_chunks(audio: np.ndarray, chunk_s: float, realtime: bool) -> Iterator[np.ndarray]:
    """``audio`` in ``chunk_s`` pieces; with ``realtime`` each piece comes when it would have been recorded."""
    step = max(1, int(round(chunk_s * SAMPLE_RATE)))
    start = time.monotonic()
    for i in range(0, len(audio), step):
        if realtime:
            time.sleep(max(0.0, start + (i + step) / SAMPLE_RATE - time.monotonic()))
        yield audio[i:i + step]


def stream_stdin(stream: Stream, encoding: str) -> Summary:
    """Raw mono PCM at ``stream.sample_rate`` from standard input to JSON lines on standard output."""
    reader = PcmReader(encoding, "stdin")
    return write_jsonl(stream_chunks(stream, pcm_chunks(sys.stdin.buffer, reader)), sys.stdout)


def stream_file(stream: Stream, path: str, chunk_s: float, realtime: bool) -> Summary:
    """An audio file (any format; decoded to 16 kHz) through ``stream`` to JSON lines, optionally at real-time pace."""
    audio = load_audio(path)
    return write_jsonl(stream_chunks(stream, paced_chunks(audio, chunk_s, realtime)), sys.stdout)


def add_stream_options(p: argparse.ArgumentParser) -> None:
    """The StreamOptions of ``stream`` and ``listen`` as command-line options."""
    o = StreamOptions()
    g = p.add_argument_group("decisions")
    g.add_argument("--model", help="model directory (default: the bundled model)")
    g.add_argument("--interval", type=float, default=o.interval_s, help="seconds of audio between decisions")
    g.add_argument("--smoothing", choices=SMOOTHINGS, default=o.smoothing,
                   help="cumulative: mean since the last pause; ema; majority; hysteresis; none")
    g.add_argument("--alpha", type=float, default=o.alpha, help="ema: weight of the newest interval")
    g.add_argument("--window", type=int, default=o.window, help="majority: intervals voted over")
    g.add_argument("--margin", type=float, default=o.margin, help="hysteresis: evidence must pass 0.5 ± margin")
    g.add_argument("--min-duration", type=float, default=o.min_duration_s, help="hysteresis: for this many seconds")
    g.add_argument("--no-vad", action="store_true", help="no speech gating: every frame counts")
    g.add_argument("--vad-threshold", type=float, default=o.vad_threshold)
    g.add_argument("--hold", type=float, default=o.hold_s, help="seconds a label stays after the last speech")
    g.add_argument("--reset-after", type=float, default=o.reset_after_s,
                   help="a pause this long (s) starts afresh (0 = never)")


def options_from_args(args: argparse.Namespace) -> StreamOptions:
    """StreamOptions from ``add_stream_options``' arguments; a VoxgenderError names a bad value."""
    try:
        return StreamOptions(interval_s=args.interval, smoothing=args.smoothing, alpha=args.alpha, window=args.window,
                             margin=args.margin, min_duration_s=args.min_duration, vad=not args.no_vad,
                             vad_threshold=args.vad_threshold, hold_s=args.hold,
                             reset_after_s=args.reset_after or None)
    except ValueError as err:
        raise VoxgenderError(f"stream options: {err}") from None
