"""``voxgender stream``, ``listen`` and ``serve``: live audio."""

from __future__ import annotations

import argparse
import os

from voxgender.errors import VoxgenderError
from voxgender.runtime import one_thread


# -- stream, listen, serve: real time ------------------------------------------------------------
def cmd_stream(args: argparse.Namespace) -> int:
    from voxgender.cli.live import options_from_args, stream_file, stream_stdin
    from voxgender.model import load_model
    from voxgender.streaming import Stream

    if args.stdin == bool(args.file):
        raise VoxgenderError("stream: give either --stdin (raw PCM) or an audio FILE")
    if args.stdin and args.rate is None:
        raise VoxgenderError("stream: --stdin needs --rate (the sample rate of the raw PCM)")
    options = options_from_args(args)
    model = load_model(args.model)
    one_thread()
    if args.stdin:
        stream_stdin(Stream(model, args.rate, options), args.format)
    else:
        stream_file(Stream(model, 16000, options), args.file, args.chunk_ms / 1000, args.realtime)
    return 0


def add_stream(p: argparse.ArgumentParser) -> None:
    from voxgender.cli.live import add_stream_options

    p.add_argument("file", nargs="?", help="an audio file to stream (any format)")
    p.add_argument("--stdin", action="store_true", help="read raw mono PCM from standard input")
    p.add_argument("--rate", type=int, help="--stdin: sample rate of the PCM (Hz)")
    p.add_argument("--format", choices=("s16le", "f32le"), default="s16le", help="--stdin: sample format")
    p.add_argument("--realtime", action="store_true", help="FILE: feed it at real-time pace (demos, tests)")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="FILE: chunk size fed to the engine")
    add_stream_options(p)
    p.set_defaults(handler=cmd_stream)


def cmd_listen(args: argparse.Namespace) -> int:
    from voxgender.cli.live import options_from_args
    from voxgender.cli.microphone import listen
    from voxgender.model import load_model

    options = options_from_args(args)
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    one_thread()
    listen(load_model(args.model), options, device, args.seconds)
    return 0


def add_listen(p: argparse.ArgumentParser) -> None:
    from voxgender.cli.live import add_stream_options

    p.add_argument("--device", help="input device name or number (default: the system's)")
    p.add_argument("--seconds", type=float, help="stop after this much audio (default: Ctrl-C)")
    add_stream_options(p)
    p.set_defaults(handler=cmd_listen)


def cmd_serve(args: argparse.Namespace) -> int:
    from voxgender.cli.serve import serve

    serve(args.host, args.port, args.model, args.max_streams, args.max_upload_mb, args.idle_timeout, args.max_duration,
          args.token, tuple(origin.rstrip("/") for origin in args.allow_origin), args.upload_workers)
    return 0


def add_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", help="model directory (default: the bundled model)")
    p.add_argument("--max-streams", type=int, default=400, help="concurrent WebSocket streams")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest POST /v1/predict upload")
    p.add_argument("--max-duration", type=float, default=1800.0, help="longest decoded audio of one upload (s)")
    p.add_argument("--token", default=os.environ.get("VOXGENDER_TOKEN"),
                   help="require this bearer token on /v1/ and /metrics (default: $VOXGENDER_TOKEN; none: open)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="a web page origin that may open streams, such as https://app.example.org (default: this server's own page)")
    p.add_argument("--idle-timeout", type=float, default=30.0, help="seconds before a silent WebSocket is closed")
    p.add_argument("--upload-workers", type=int, default=2,
                   help="processes that decode and score uploads (a decoder that crashes on a file costs one, not the server)")
    p.set_defaults(handler=cmd_serve)
