"""Processing time of one live stream per 100 ms chunk (silero-vad + features + GRU + decisions).

Feeds synthetic speech with pauses (voices alternate, as in a conversation) to ``Stream(model)``
in 100 ms chunks as fast as it goes, and times every ``feed`` call after a warm-up.

    .venv/bin/python benchmarks/stream_chunk_time.py [--seconds 120] [--threads 1] [--rate 16000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import soxr

from voxgender.model import load_model
from voxgender.runtime import use_threads
from voxgender.streaming import Stream
from voxgender.synth import synth_clip

WARMUP_CHUNKS = 20


def conversation(seconds: float, seed: int = 0) -> np.ndarray:
    """Alternating synthetic voices of 2.5-5 s with 0.3-1.5 s pauses, at 16 kHz."""
    rng = np.random.default_rng(seed)
    parts, total, turn = [], 0.0, 0
    while total < seconds:
        speech = 2.5 + turn % 6 * 0.5
        pause = float(rng.uniform(0.3, 1.5))
        voice = synth_clip(("female", "male")[turn % 2], speech, seed + turn)
        parts += [voice, np.zeros(int(pause * 16000), np.float32)]
        total += speech + pause
        turn += 1
    return np.concatenate(parts)[: int(seconds * 16000)]


def time_stream(model, audio: np.ndarray, rate: int, step: int) -> tuple[list[float], list[float], int]:
    """Wall and CPU seconds of every ``feed`` of ``step`` samples, and the decisions made."""
    stream = Stream(model, rate)
    wall, cpu, decisions = [], [], 0
    for i in range(0, len(audio) - step + 1, step):
        start, start_cpu = time.perf_counter(), time.thread_time()
        decisions += len(stream.feed(audio[i:i + step]))
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    return wall, cpu, decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="audio to stream")
    parser.add_argument("--threads", type=int, default=1, help="threads per network call")
    parser.add_argument("--rate", type=int, default=16000, help="input sample rate (others are resampled)")
    parser.add_argument("--chunk-ms", type=float, default=100.0)
    parser.add_argument("--models", nargs="+", default=[None], metavar="DIR",
                        help="model directories, timed in turn in the same run (default: the bundled model)")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the models, alternating")
    args = parser.parse_args()

    use_threads(args.threads)
    audio = conversation(args.seconds)
    if args.rate != 16000:
        audio = soxr.resample(audio, 16000, args.rate).astype(np.float32)
    step = int(args.rate * args.chunk_ms / 1000)
    models = {name or "bundled": load_model(name) for name in args.models}
    timed: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in models}
    decisions = 0
    for _ in range(args.rounds):
        for name, model in models.items():
            wall, cpu, decisions = time_stream(model, audio, args.rate, step)
            timed[name][0].extend(wall[WARMUP_CHUNKS:])
            timed[name][1].extend(cpu[WARMUP_CHUNKS:])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"one stream at a time, {args.rate} Hz input, {args.chunk_ms:g} ms chunks, {args.rounds} round(s), "
          f"threads per call {args.threads}, load average {load} on {os.cpu_count()} cores")
    for name, (wall, cpu) in timed.items():
        for kind, times in (("wall", wall), ("CPU", cpu)):
            ms = np.array(times) * 1000
            print(f"{name}: {kind} time per chunk over {len(ms)} chunks: p50 {np.percentile(ms, 50):.2f} ms, "
                  f"p99 {np.percentile(ms, 99):.2f} ms, max {ms.max():.2f} ms, mean {ms.mean():.2f} ms "
                  f"({args.chunk_ms / ms.mean():.0f}x real time)")
    print(f"{decisions} decisions per pass")


if __name__ == "__main__":
    main()
