"""Mutation fuzzing of the decoder: every case must end within its time and memory limit with
audio or the package's own AudioError, never a crash or another exception.

Seeds are short voices in every container and codec the package reads (WAV, FLAC, Ogg Vorbis,
Ogg Opus, MP3, M4A/AAC, WebM/Opus, Matroska with 8 channels); each case is a seed with bytes
flipped, header fields overwritten with extreme numbers, a cut, a repeated or deleted run, or two
seeds spliced. A worker process decodes the cases one by one (so a native crash costs one case, is
counted, and the worker is restarted), and this process watches its time per case.

    python benchmarks/fuzz_audio.py --cases 50000            # the long run
    python benchmarks/fuzz_audio.py --cases 300 --seed 1     # what `make test` runs
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

TIME_LIMIT_S = 10.0
MEMORY_LIMIT_MB = 1024
EXTREMES = (b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\x7f", b"\x01\x00\x00\x00", b"\x00\x00\x80\x7f")


def seeds() -> dict[str, bytes]:
    """A 1.5-s synthetic voice in each container and codec."""
    import soundfile as sf

    from voxgender.synth import synth_clip

    voice = synth_clip("female", 1.5, seed=3)
    out = {}
    for name, fmt, subtype in (("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS"),
                               ("opus", "OGG", "OPUS"), ("mp3", "MP3", "MPEG_LAYER_III")):
        buffer = io.BytesIO()
        sf.write(buffer, voice, 16000, format=fmt, subtype=subtype)
        out[name] = buffer.getvalue()
    for name, codec, container, channels in (("m4a", "aac", "ipod", 2), ("webm", "libopus", "webm", 1),
                                             ("mka", "pcm_s16le", "matroska", 8)):
        out[name] = _pyav(np.tile(voice[:, None], (1, channels)), codec, container)
    return out


def _pyav(audio: np.ndarray, codec: str, container: str) -> bytes:
    import av

    layout = {1: "mono", 2: "stereo"}.get(audio.shape[1], f"{audio.shape[1]}c")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=16000 if codec != "libopus" else 48000, layout=layout)
        fmt = stream.codec_context.codec.audio_formats[0].name
        samples = np.repeat(audio, 3, axis=0) if codec == "libopus" else audio
        data = (samples.T if fmt.endswith("p") else samples.reshape(1, -1)).astype(np.float32)
        if fmt.startswith("s16"):
            data = (data * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
        frame.sample_rate = stream.codec_context.sample_rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def mutate(data: bytes, other: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation of ``data`` (``other``: a second seed, for splicing)."""
    b = bytearray(data)
    kind = rng.integers(6)
    if kind == 0:  # flip bytes, mostly near the header
        for _ in range(rng.integers(1, 20)):
            b[min(len(b) - 1, int(rng.exponential(200)))] ^= int(rng.integers(1, 256))
    elif kind == 1:  # an extreme number over a header field
        at = int(rng.integers(0, min(len(b) - 4, 512)))
        b[at:at + 4] = EXTREMES[rng.integers(len(EXTREMES))]
    elif kind == 2:  # cut
        b = b[: int(rng.integers(0, len(b)))]
    elif kind == 3:  # repeat a run
        at, size = int(rng.integers(0, len(b))), int(rng.integers(1, 4096))
        b[at:at] = b[at:at + size] * int(rng.integers(2, 50))
    elif kind == 4:  # delete a run
        at = int(rng.integers(0, len(b)))
        del b[at:at + int(rng.integers(1, 2048))]
    else:  # splice two seeds
        cut = int(rng.integers(0, len(b)))
        b = b[:cut] + other[int(rng.integers(0, len(other))):]
    return bytes(b)


def worker(folder: Path, start: int) -> None:
    """Decode the cases of ``folder`` from ``start`` on; print one JSON line per case."""
    from voxgender.errors import AudioError
    from voxgender.io.audio import load_audio

    cases = sorted(folder.glob("case-*.bin"))
    for path in cases[start:]:
        print(json.dumps({"case": path.name, "start": True}), flush=True)
        began = time.perf_counter()
        try:
            load_audio(path.read_bytes(), name=path.name, max_duration_s=3600)
            outcome = "audio"
        except AudioError as err:
            outcome = "audio_error" if "\n" not in str(err) and path.name in str(err) else f"bad message: {err!r}"
        except Exception as err:  # noqa: BLE001 - exactly what the fuzzing looks for
            outcome = f"{type(err).__name__}: {err}"[:200]
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"case": path.name, "outcome": outcome, "seconds": round(time.perf_counter() - began, 3),
                          "rss_mb": round(rss_mb)}), flush=True)


def run_cases(folder: Path, total: int) -> Counter:
    """Run the worker over every case, restarting it after a crash or a hang."""
    counts: Counter = Counter()
    done = 0
    while done < total:
        process = subprocess.Popen([sys.executable, __file__, "--worker", str(folder), "--start", str(done)],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started_case, deadline = None, None
        while True:
            line = _read_line(process, deadline)
            if line is None:  # the worker died, or a case ran over its time
                process.kill()
                process.wait()
                counts["hang" if deadline is not None and time.monotonic() > deadline else "crash"] += 1
                hung = time.monotonic() > (deadline or 0)
                print(f"case {started_case}: {f'over {TIME_LIMIT_S:g} s' if hung else 'the worker died'}")
                done += 1
                break
            record = json.loads(line)
            if record.get("start"):
                started_case, deadline = record["case"], time.monotonic() + TIME_LIMIT_S
                continue
            done += 1
            deadline = None
            outcome = record["outcome"]
            counts[outcome if outcome in ("audio", "audio_error") else "other exception"] += 1
            if outcome not in ("audio", "audio_error"):
                print(f"case {record['case']}: {outcome}")
            if record["seconds"] > TIME_LIMIT_S or record["rss_mb"] > MEMORY_LIMIT_MB:
                counts["over limit"] += 1
                print(f"case {record['case']}: {record['seconds']} s, peak {record['rss_mb']} MB")
            if done >= total:
                break
        if process.poll() is None:
            process.stdout.close()
            process.wait()
    return counts


def _read_line(process: subprocess.Popen, deadline: float | None) -> str | None:
    """The worker's next line, or None if it ends or ``deadline`` passes first."""
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    ready = selector.select(timeout)
    selector.close()
    if not ready:
        return None
    line = process.stdout.readline()
    return line or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.start)
    rng = np.random.default_rng(args.seed)
    base = seeds()
    names = sorted(base)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.cases):
            name, other = names[i % len(names)], names[int(rng.integers(len(names)))]
            (folder / f"case-{i:06d}-{name}.bin").write_bytes(mutate(base[name], base[other], rng))
        counts = run_cases(folder, args.cases)
    print(f"{args.cases} mutated inputs of {len(names)} containers/codecs in {time.perf_counter() - started:.0f} s: "
          f"{counts['audio']} decoded, {counts['audio_error']} AudioError, {counts['crash']} crashes, "
          f"{counts['hang']} over {TIME_LIMIT_S:g} s, {counts['over limit']} over the time or {MEMORY_LIMIT_MB} MB limit, "
          f"{counts['other exception']} other exceptions")


if __name__ == "__main__":
    main()
