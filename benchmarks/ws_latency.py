"""End-to-end decision latency over the WebSocket on 127.0.0.1, as a live client sees it.

A client sends 1 s of silence and then a synthetic voice in 100 ms s16le frames, each frame at the
moment its audio would have been recorded (real-time pace), to a ``voxgender serve`` process.
It measures (1) the time from the start of speech to the first decision that names a gender
(what a user waits for: it includes the 100 ms of a frame, the VAD onset and the server) and
(2) for every decision at time t, its arrival minus the moment the audio up to t was recorded.

    .venv/bin/python benchmarks/ws_latency.py [--trials 8] [--flood 20]

``--flood MIB`` adds a hostile client that sends MIB of PCM as fast as the server reads it, in
1-MiB frames, for the whole run: the figures then show what it does to everyone else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import numpy as np
import websockets
from live_server import FRAME_S, running_server, speech_frames


async def trial(url: str, frames: list[bytes], onset: int) -> tuple[float, list[float]]:
    """(seconds from speech start to the first gendered decision, lags of all decisions) of one stream."""
    async with websockets.connect(f"{url}/v1/stream?sample_rate=16000&encoding=pcm_s16le", compression=None) as ws:
        start = time.monotonic()
        first, lags = None, []

        async def receive() -> None:
            nonlocal first
            async for message in ws:
                arrived, decision = time.monotonic(), json.loads(message)
                if decision.get("final"):
                    return
                lags.append(arrived - (start + decision["t"]))
                if first is None and decision["label"] != "none":
                    first = arrived - (start + onset * FRAME_S)

        receiver = asyncio.create_task(receive())
        for i, frame in enumerate(frames):
            await asyncio.sleep(max(0.0, start + (i + 1) * FRAME_S - time.monotonic()))
            await ws.send(frame)
        await ws.send("end")
        await asyncio.wait_for(receiver, 30)
    if first is None:
        raise RuntimeError("no decision named a gender")
    return first, lags


async def flood(url: str, mib: float) -> str:
    """Send ``mib`` MiB of noise as s16le PCM as fast as the server takes it; what became of it. A
    server that stops reading (backpressure) may close it when its pongs cannot get through."""
    frame = (np.random.default_rng(0).standard_normal(512 * 1024) * 3000).astype("<i2").tobytes()  # 1 MiB
    start, sent = time.monotonic(), 0
    try:
        async with websockets.connect(f"{url}/v1/stream?sample_rate=16000&encoding=pcm_s16le", compression=None,
                                      max_size=None, ping_interval=None) as ws:
            drain = asyncio.create_task(_drain(ws))
            for _ in range(int(mib)):
                await ws.send(frame)
                sent += 1
            await ws.send("end")
            await asyncio.wait_for(drain, 600)
    except websockets.ConnectionClosed as closed:
        return f"was closed by the server after {sent} MiB and {time.monotonic() - start:.1f} s ({closed})"
    return f"sent {mib:g} MiB ({mib * 2**20 / 32000:.0f} s of audio) in {time.monotonic() - start:.1f} s"


async def _drain(ws) -> None:
    async for message in ws:
        if json.loads(message).get("final"):
            return


async def run(trials: int, flood_mib: float) -> None:
    with running_server() as (url, _):
        flooding = asyncio.create_task(flood(url, flood_mib)) if flood_mib else None
        await asyncio.sleep(1.0 if flooding else 0.0)  # the flood is under way before the first trial
        firsts, lags = [], []
        for k in range(trials):
            frames, onset = speech_frames(("female", "male")[k % 2], 3.0, seed=k, lead_silence_s=1.0)
            first, trial_lags = await trial(url, frames, onset)
            firsts.append(first)
            lags += trial_lags
        if flooding is not None:
            print(f"the flooding client {await flooding}")
    firsts_ms, lags_ms = np.array(firsts) * 1000, np.array(lags) * 1000
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    beside = " beside the flood" if flood_mib else ""
    print(f"{trials} streams in turn{beside}, 100 ms frames at real-time pace, load average {load} on {os.cpu_count()} cores")
    print(f"speech start -> first gendered decision: median {np.median(firsts_ms):.0f} ms, "
          f"max {firsts_ms.max():.0f} ms (includes the 100 ms frame)")
    print(f"decision at t -> arrival, after the audio up to t was recorded: p50 {np.percentile(lags_ms, 50):.1f} ms, "
          f"p99 {np.percentile(lags_ms, 99):.1f} ms over {len(lags_ms)} decisions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--flood", type=float, default=0.0, metavar="MIB", help="a client sending this much PCM at once")
    args = parser.parse_args()
    asyncio.run(run(args.trials, args.flood))


if __name__ == "__main__":
    main()
