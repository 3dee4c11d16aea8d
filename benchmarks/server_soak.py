"""A bounded soak of ``voxgender serve`` with hostile input mixed in: uploads (voices in every
container, the same mutated as ``fuzz_audio.py`` mutates them, hours of silence in a small FLAC)
and WebSocket streams (speech, noise, garbage bytes, odd byte counts, NaN samples, bad parameters,
clients that vanish mid-stream), several at a time. It counts every answer by kind, samples the
server's memory (its process and the engine's) once a second, and checks ``/healthz`` at the end.

Pass: no 5xx answer, no stream closed by an internal error, every 4xx a one-line JSON error, the
server healthy at the end, and memory flat (the last samples within ``--flat-mb`` of the first
after warm-up).

    python benchmarks/server_soak.py --requests 10000 --streams 1000      # the long run
    python benchmarks/server_soak.py --requests 200 --streams 40          # what `make test` runs
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
import websockets
from fuzz_audio import mutate, seeds
from live_server import running_server

from voxgender.synth import synth_clip

STREAM_KINDS = ("speech", "noise", "garbage", "odd_bytes", "nan", "bad_rate", "text", "vanish")


def process_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the engine), from /proc."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) / 1024
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    return total + sum(process_rss_mb(c) for c in children)


def upload_cases(n: int, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """``n`` uploads: a third valid voices, the rest mutated, and two decoded-size bombs."""
    base = seeds()
    names = sorted(base)
    silence = io.BytesIO()
    sf.write(silence, np.zeros(16000 * 60 * 40, np.int16), 16000, format="FLAC")  # 40 min of silence, a few kB
    cases = [("silence_bomb.flac", silence.getvalue())]
    for i in range(n - len(cases)):
        name = names[i % len(names)]
        if i % 3 == 0:
            cases.append((f"valid.{name}", base[name]))
        else:
            cases.append((f"mutated.{name}", mutate(base[name], base[names[rng.integers(len(names))]], rng)))
    return cases


async def upload(client: httpx.AsyncClient, name: str, data: bytes, counts: Counter, problems: list[str]) -> None:
    try:
        response = await client.post("/v1/predict", params={"name": name}, content=data)
    except httpx.HTTPError as err:
        counts["upload connection error"] += 1
        problems.append(f"{name}: {type(err).__name__}")
        return
    kind = f"upload {response.status_code // 100}xx"
    counts[kind] += 1
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
    if response.status_code >= 500 or body is None:
        problems.append(f"{name}: {response.status_code} {response.text[:200]!r}")
    elif response.status_code >= 400 and ("\n" in body.get("error", "\n")):
        problems.append(f"{name}: a {response.status_code} without a one-line error: {body!r}")


def stream_payload(kind: str, rng: np.random.Generator) -> tuple[str, list[bytes | str]]:
    """The query and the messages of one stream of ``kind``."""
    voice = (synth_clip(("female", "male")[int(rng.integers(2))], 1.5, int(rng.integers(1000))) * 32767).astype("<i2")
    frames: list[bytes | str]
    query = "sample_rate=16000&encoding=pcm_s16le"
    if kind == "speech":
        frames = [voice[i:i + 1600].tobytes() for i in range(0, len(voice), 1600)]
    elif kind == "noise":
        frames = [(rng.standard_normal(1600) * 3000).astype("<i2").tobytes() for _ in range(10)]
    elif kind == "garbage":
        frames = [rng.bytes(int(rng.integers(1, 9000))) for _ in range(5)]
    elif kind == "odd_bytes":
        frames = [voice[:1600].tobytes() + b"\x01"]
    elif kind == "nan":
        query = "sample_rate=16000&encoding=pcm_f32le"
        frames = [np.full(1600, np.nan, "<f4").tobytes()]
    elif kind == "bad_rate":
        query = f"sample_rate={int(rng.choice([0, 1, 7999, 10**9]))}"
        frames = []
    elif kind == "text":
        frames = [voice[:3200].tobytes(), "{not json", "\x00" * 100]
    else:  # vanish: speech, then the client goes away without "end"
        frames = [voice[i:i + 1600].tobytes() for i in range(0, 8000, 1600)]
    return query, frames


async def stream(base: str, kind: str, rng: np.random.Generator, counts: Counter, problems: list[str]) -> None:
    query, frames = stream_payload(kind, rng)
    try:
        async with websockets.connect(f"{base}/v1/stream?{query}", max_size=2**20, open_timeout=30) as ws:
            for frame in frames:
                await ws.send(frame)
            if kind == "vanish":
                counts["stream vanished"] += 1
                return
            await ws.send("end")
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
                if message.get("final"):
                    counts["stream final"] += 1
                    return
                if "error" in message:
                    counts["stream error message"] += 1
                    if "\n" in message["error"]:
                        problems.append(f"{kind}: an error of several lines: {message['error']!r}")
                    return
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else None
        counts[f"stream closed {code}"] += 1
        if code == 1011:
            problems.append(f"{kind}: closed by an internal error")
    except (OSError, asyncio.TimeoutError, websockets.InvalidStatus) as err:
        counts["stream failed"] += 1
        problems.append(f"{kind}: {type(err).__name__}: {err}")


async def run(base: str, pid: int, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    cases = upload_cases(args.requests, rng)
    kinds = [STREAM_KINDS[i % len(STREAM_KINDS)] for i in range(args.streams)]
    counts: Counter = Counter()
    problems: list[str] = []
    memory: list[float] = []
    http = base.replace("ws://", "http://")
    async with httpx.AsyncClient(base_url=http, timeout=120) as client:

        async def sample_memory() -> None:
            while True:
                memory.append(process_rss_mb(pid))
                await asyncio.sleep(1.0)

        async def uploads() -> None:
            queue = iter(cases)
            async def worker() -> None:
                for name, data in queue:
                    await upload(client, name, data, counts, problems)
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))

        async def streams() -> None:
            queue = iter(kinds)
            async def worker() -> None:
                for kind in queue:
                    await stream(base, kind, rng, counts, problems)
            await asyncio.gather(*(worker() for _ in range(args.stream_concurrency)))

        sampler = asyncio.create_task(sample_memory())
        started = time.perf_counter()
        await asyncio.gather(uploads(), streams())
        seconds = time.perf_counter() - started
        sampler.cancel()
        healthy = (await client.get("/healthz")).status_code == 200
    warm = memory[min(5, len(memory) - 1):] or memory
    tail = warm[-max(1, len(warm) // 10):]
    return {"requests": args.requests, "streams": args.streams, "seconds": round(seconds, 1), "counts": dict(counts),
            "problems": problems[:20], "problem_count": len(problems), "healthy_at_end": healthy,
            "rss_mb": {"after_warmup": round(warm[0]), "max": round(max(warm)), "end": round(tail[-1]),
                       "growth": round(max(tail) - warm[0])}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="uploads in flight at once")
    parser.add_argument("--stream-concurrency", type=int, default=16, help="streams open at once")
    parser.add_argument("--flat-mb", type=float, default=100.0, help="largest memory growth that counts as flat")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with running_server(extra=["--max-duration", "600"]) as (base, pid):
        result = asyncio.run(run(base, pid, args))
    result["flat"] = result["rss_mb"]["growth"] <= args.flat_mb
    passed = result["problem_count"] == 0 and result["healthy_at_end"] and result["flat"] and \
        not any(k.endswith("5xx") for k in result["counts"])
    print(json.dumps(result, indent=1))
    print(f"{'PASS' if passed else 'FAIL'}: {args.requests} uploads and {args.streams} streams in {result['seconds']} s; "
          f"answers {dict(sorted(result['counts'].items()))}; {result['problem_count']} problems; "
          f"server memory {result['rss_mb']['after_warmup']} -> {result['rss_mb']['end']} MB (max {result['rss_mb']['max']})")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
