"""How fast `voxgender predict` runs over a folder of clips, as ×real-time (audio seconds per
wall-clock second), decoding + features + model included.

Two figures: the whole command as a user runs it (process start and model loading included), and
the steady-state throughput inside one process. Each is measured ``--repeats`` times and reported
as the median beside every run, since the machines are shared and one run moves with their load.
Beside the command, in turn with it, runs its peer ``voxgender predict --all-members``: an
ensemble's every member on every clip, without the cascade (the same as the command for one network).
Uses the clips of ../shared/data when present, else synthetic voices.

    python benchmarks/speed_benchmark.py [--clips 600] [--workers 2] [--repeats 3]

Also writes the figures to results/speed.json (for figures.py and the model card).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from split_clips import DATA

from voxgender.model import load_model
from voxgender.predict import iter_predictions
from voxgender.runtime import one_thread
from voxgender.synth import synth_clip
from voxgender.training.data import read_corpus

OUT = Path(__file__).resolve().parent / "results" / "speed.json"


def pick_clips(n: int, tmp: Path) -> list[str]:
    """n clips spread over the corpora of ../shared/data, or n synthetic 3 s clips written to tmp."""
    if DATA.is_dir():
        utterances = read_corpus(DATA)
        rng = np.random.default_rng(0)
        return [utterances[i].path for i in rng.permutation(len(utterances))[:n]]
    paths = []
    for i in range(n):
        path = tmp / f"clip{i}.wav"
        sf.write(path, synth_clip(("female", "male")[i % 2], 3.0, seed=i), 16000)
        paths.append(str(path))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2, help="batches run in parallel (one per core)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement (the median and every run reported)")
    parser.add_argument("--model", help="model directory (default: bundled)")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON file for the figures")
    args = parser.parse_args()
    one_thread()  # one thread per network call, as voxgender predict runs
    with tempfile.TemporaryDirectory() as tmp:
        paths = pick_clips(args.clips, Path(tmp))
        audio_s = sum(sf.info(p).duration for p in paths)
        listing = Path(tmp) / "list.txt"
        listing.write_text("\n".join(paths) + "\n")
        cmd = [str(Path(sys.executable).parent / "voxgender"), "predict", "--files-from", str(listing), "--format", "jsonl"]
        if args.model:
            cmd += ["--model", args.model]
        command_runs, all_members_runs, steady_runs = [], [], []
        for _ in range(args.repeats):
            for runs, extra in ((command_runs, []), (all_members_runs, ["--all-members"])):
                start = time.perf_counter()
                done = subprocess.run(cmd + extra, capture_output=True, text=True, check=True)
                runs.append(time.perf_counter() - start)
        records = [json.loads(line) for line in done.stdout.splitlines()]
        model = load_model(args.model)
        list(iter_predictions(model, paths[:32], show_progress=False))  # warm-up
        for _ in range(args.repeats):
            start = time.perf_counter()
            list(iter_predictions(model, paths, show_progress=False, workers=args.workers))
            steady_runs.append(time.perf_counter() - start)
    failures = sum("error" in r for r in records)
    command_x = sorted(audio_s / t for t in command_runs)
    all_members_x = sorted(audio_s / t for t in all_members_runs)
    steady_x = sorted(audio_s / t for t in steady_runs)
    print(f"clips: {len(paths)} ({audio_s / 60:.1f} min of audio, {'../shared/data' if DATA.is_dir() else 'synthetic'}), "
          f"parallel batches: {args.workers}, failures: {failures}, runs: {args.repeats}")
    print(f"voxgender predict command (start-up + model load included): median {statistics.median(command_x):.0f}x real time "
          f"(runs: {', '.join(f'{x:.0f}x' for x in command_x)})")
    print(f"the same with --all-members (no cascade), in turn with it:  median {statistics.median(all_members_x):.0f}x real time "
          f"(runs: {', '.join(f'{x:.0f}x' for x in all_members_x)})")
    print(f"steady state in one process (decode + features + model):  median {statistics.median(steady_x):.0f}x real time "
          f"(runs: {', '.join(f'{x:.0f}x' for x in steady_x)})")
    figures = {"clips": len(paths), "audio_s": audio_s, "source": "../shared/data" if DATA.is_dir() else "synthetic",
               "workers": args.workers, "repeats": args.repeats,
               "command_x_realtime": statistics.median(command_x), "command_x_realtime_runs": command_x,
               "all_members_command_x_realtime": statistics.median(all_members_x), "all_members_command_x_realtime_runs": all_members_x,
               "steady_x_realtime": statistics.median(steady_x), "steady_x_realtime_runs": steady_x,
               "failures": failures, "load_average": os.getloadavg(), "cpu_count": os.cpu_count(),
               "command": " ".join(sys.argv)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
