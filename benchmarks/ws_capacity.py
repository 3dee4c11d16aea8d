"""How many concurrent real-time streams one ``voxgender serve`` process sustains on this machine.

A load generator (one asyncio process, 127.0.0.1 only) opens N WebSocket streams at once (start
times spread over 1 s); each sends synthetic speech with pauses in 100 ms s16le frames at
real-time pace for ``--seconds``, then ``end``, and waits for its summary. For every decision at
time t the lag is its arrival minus the moment the audio up to t was recorded. A level is
sustained when every stream got its summary and the p99 lag in the steady state (after the first
2 s, while all streams connect) and over the last second stays under ``--max-lag``. Levels run in
increasing order and the run stops at the first level that is not sustained, or after the last
one; every level is bounded in time.

On a machine shared with other jobs, ``--nice -10`` (root) runs the server and the generator ahead
of them, to measure the server rather than its neighbours; the server's CPU per stream is printed
either way.

    .venv/bin/python benchmarks/ws_capacity.py [--levels 100 200 300 400 450 500] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import time
from dataclasses import dataclass, field

import numpy as np
import websockets
from live_server import FRAME_S, running_server, server_cpu_seconds, speech_frames

TALKS = 8  # different recordings, dealt out to the streams in turn
RAMP_S = 2.0  # decisions before this time (streams still connecting) count only in the overall figure


@dataclass
class StreamResult:
    lags: list[tuple[float, float]] = field(default_factory=list)  # (t, lag)
    late_sends: list[float] = field(default_factory=list)  # how late the generator sent each frame
    final: bool = False
    error: str = ""


async def one_stream(url: str, frames: list[bytes], delay: float, result: StreamResult) -> None:
    await asyncio.sleep(delay)
    try:
        async with websockets.connect(f"{url}/v1/stream?sample_rate=16000&encoding=pcm_s16le",
                                      open_timeout=30, close_timeout=5, compression=None) as ws:
            start = time.monotonic()

            async def receive() -> None:
                async for message in ws:
                    decision = json.loads(message)
                    if decision.get("final"):
                        result.final = True
                        return
                    if "error" in decision:
                        result.error = decision["error"]
                        return
                    result.lags.append((decision["t"], time.monotonic() - start - decision["t"]))

            receiver = asyncio.create_task(receive())
            for i, frame in enumerate(frames):
                due = start + (i + 1) * FRAME_S
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                result.late_sends.append(time.monotonic() - due)
                await ws.send(frame)
            await ws.send("end")
            await asyncio.wait_for(receiver, 30)
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as err:
        result.error = result.error or f"{type(err).__name__}: {err}"


async def level(url: str, pid: int, n: int, talks: list[list[bytes]], max_lag: float) -> bool:
    results = [StreamResult() for _ in range(n)]
    rng = random.Random(n)
    cpu0, wall0 = server_cpu_seconds(pid), time.monotonic()
    client0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(one_stream(url, talks[i % len(talks)], rng.uniform(0, 1), r) for i, r in enumerate(results)))
    wall = time.monotonic() - wall0
    client1 = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = (server_cpu_seconds(pid) - cpu0) / wall
    client_cpu = (client1.ru_utime + client1.ru_stime - client0.ru_utime - client0.ru_stime) / wall
    seconds = len(talks[0]) * FRAME_S
    lags = np.array([lag for r in results for _, lag in r.lags] or [np.inf])
    steady = np.array([lag for r in results for t, lag in r.lags if t > RAMP_S] or [np.inf])
    tail = np.array([lag for r in results for t, lag in r.lags if t > seconds - 1.0] or [np.inf])
    late = np.array([x for r in results for x in r.late_sends] or [0.0])
    finals = sum(r.final for r in results)
    errors = [r.error for r in results if r.error]
    ok = finals == n and np.percentile(steady, 99) < max_lag and np.percentile(tail, 99) < max_lag
    ms = {name: np.percentile(x, q) * 1000 for name, x, q in
          (("p50", steady, 50), ("p99", steady, 99), ("tail", tail, 99), ("all", lags, 99))}
    print(f"{n:4d} streams: {finals}/{n} summaries, {len(lags)} decisions, steady lag p50 {ms['p50']:.0f} ms "
          f"p99 {ms['p99']:.0f} ms, last second p99 {ms['tail']:.0f} ms, with the ramp p99 {ms['all']:.0f} ms, "
          f"server CPU {server_cpu:.0%} of a core ({server_cpu / n * 1000:.1f} ms per stream-second), "
          f"load generator CPU {client_cpu:.0%}, "
          f"generator send delay p99 {np.percentile(late, 99) * 1000:.0f} ms "
          f"-> {'sustained' if ok else 'NOT sustained'}",
          flush=True)
    if errors:
        print(f"      {len(errors)} stream errors, first: {errors[0]}", flush=True)
    return ok


async def run(levels: list[int], seconds: float, max_lag: float, nice: int) -> None:
    talks = [speech_frames(("female", "male")[k % 2], seconds, seed=100 + k)[0] for k in range(TALKS)]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{seconds:g} s of real-time audio per stream, 100 ms frames, max p99 lag {max_lag:g} s, nice {nice}; "
          f"load average {load} on {os.cpu_count()} cores before the run", flush=True)
    with running_server(max_streams=max(levels)) as (url, pid):
        best = 0
        for n in sorted(levels):
            if not await level(url, pid, n, talks, max_lag):
                break
            best = n
            await asyncio.sleep(2)
    print(f"sustained: {best} concurrent real-time streams (largest level tried that kept up)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[100, 200, 300, 400, 450, 500])
    parser.add_argument("--seconds", type=float, default=15.0, help="audio per stream at each level")
    parser.add_argument("--max-lag", type=float, default=0.5, help="largest p99 decision lag that counts as real time")
    parser.add_argument("--nice", type=int, default=0, help="scheduling priority of server and generator (< 0: root)")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    if args.nice:
        os.nice(args.nice)  # the server started below inherits it
    asyncio.run(run(args.levels, args.seconds, args.max_lag, args.nice))


if __name__ == "__main__":
    main()
