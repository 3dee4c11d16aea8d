"""Speed of voxgender's silero-vad runner against silero's own TorchScript network, in one run.

The same network and weights run four ways on a synthetic conversation (one torch thread):
silero's TorchScript chunk by chunk (the peer, as silero's ``get_speech_timestamps`` runs it),
:meth:`SileroVad.step` chunk by chunk, :meth:`SileroVad.probabilities` over the recording as one
sequence (how ``voxgender segment`` runs it), and, for live servers, both step functions on a
batch of streams at once. Speeds are ×real time (seconds of audio per wall-clock second, summed
over streams) and the ratio to the peer measured in the same run.

    .venv/bin/python benchmarks/vad_speed.py [--seconds 120] [--streams 64]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import torch

from voxgender.io.audio import SAMPLE_RATE
from voxgender.core.vad import CHUNK, CONTEXT, SileroVad, VadState, silero_network

from stream_chunk_time import conversation

REPEATS = 3  # the best of this many timings of each way


def best_time(run: Callable[[], object]) -> float:
    """Fastest wall time of ``run`` over REPEATS calls (after one untimed warm-up call)."""
    run()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


@torch.no_grad()
def silero_steps(chunks: torch.Tensor) -> None:
    """silero's TorchScript network over (chunks, streams, 512), one call per chunk."""
    net, streams = silero_network(), chunks.shape[1]
    state, context = torch.zeros(2, streams, 128), torch.zeros(streams, CONTEXT)
    for chunk in chunks:
        x = torch.cat([context, chunk], dim=1)
        _, state = net(x, state)
        context = x[:, -CONTEXT:]


def vad_steps(vad: SileroVad, chunks: torch.Tensor) -> None:
    """:meth:`SileroVad.step` over (chunks, streams, 512), one call per chunk."""
    state = VadState.zeros(chunks.shape[1])
    for chunk in chunks:
        _, state = vad.step(chunk, state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="audio per stream")
    parser.add_argument("--streams", type=int, default=64, help="live streams stepped together")
    args = parser.parse_args()
    torch.set_num_threads(1)
    audio = conversation(args.seconds)
    audio = audio[: len(audio) // CHUNK * CHUNK]
    one = torch.from_numpy(audio).reshape(-1, 1, CHUNK)
    many = one.expand(-1, args.streams, -1).contiguous()
    seconds = len(audio) / SAMPLE_RATE
    vad = SileroVad()
    ways = [  # (name, streams, run)
        ("silero TorchScript, chunk by chunk (peer)", 1, lambda: silero_steps(one)),
        ("SileroVad.step, chunk by chunk", 1, lambda: vad_steps(vad, one)),
        ("SileroVad.probabilities, one sequence", 1, lambda: vad.probabilities(audio)),
        (f"silero TorchScript, {args.streams} streams per call (peer)", args.streams, lambda: silero_steps(many)),
        (f"SileroVad.step, {args.streams} streams per call", args.streams, lambda: vad_steps(vad, many)),
    ]
    speeds = {name: streams * seconds / best_time(run) for name, streams, run in ways}
    print(f"{seconds:.0f} s of audio per stream, 1 torch thread, load average {os.getloadavg()[0]:.1f}\n")
    print("| way | ×real time | against its peer |\n|---|---|---|")
    for name, streams, _ in ways:
        peer = next(n for n, s, _ in ways if s == streams)
        print(f"| {name} | {speeds[name]:.0f}× | {speeds[name] / speeds[peer]:.2f} |")


if __name__ == "__main__":
    main()
