"""Helpers of the WebSocket benchmarks: a ``voxgender serve`` subprocess on 127.0.0.1 and test speech."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from voxgender.synth import synth_clip

FRAME_S = 0.1  # clients send 100 ms frames, as the page does


@contextlib.contextmanager
def running_server(max_streams: int = 1000, extra: Sequence[str] = ()) -> Iterator[tuple[str, int]]:
    """``voxgender serve`` on a free loopback port in its own process (it inherits this process's
    scheduling priority), with ``extra`` options; yields its ws:// base URL and process id, then stops it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = Path(sys.executable).with_name("voxgender")
    proc = subprocess.Popen([str(script), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--max-streams", str(max_streams), "--idle-timeout", "60", *extra])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield f"ws://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its child processes (the engine), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    return own + sum(server_cpu_seconds(c) for c in children)


def speech_frames(gender: str, seconds: float, seed: int, lead_silence_s: float = 0.0) -> tuple[list[bytes], int]:
    """100 ms s16le frames of ``lead_silence_s`` of silence then a synthetic voice, and the index of the
    first frame whose audio rises above -40 dBFS (where speech starts)."""
    audio = np.concatenate([np.zeros(int(lead_silence_s * 16000), np.float32), synth_clip(gender, seconds, seed)])
    step = int(FRAME_S * 16000)
    frames = [audio[i:i + step] for i in range(0, len(audio) - step + 1, step)]
    onset = next(i for i, f in enumerate(frames) if np.sqrt(np.mean(f.astype(np.float64) ** 2)) > 0.01)
    return [(f * 32767).astype("<i2").tobytes() for f in frames], onset
