"""Inference as an application developer meets it, side by side in one run: start-up, memory,
many short clips, one long file, and the network's runtimes (torch, ONNX float, ONNX int8).

- **start-up**: ``voxgender predict one.wav`` (a 2-s clip), wall time and peak RSS of the process;
- **short clips**: ``voxgender predict`` over clips of 2-8 s from every corpus of ../shared/data,
  as x real time, with its speech gate (the default), the full speech check (``--speech-check
  full``), none (``--no-speech-check``) and the speaker encoder (``--encoder``), beside the Praat median-F0 rule (the peer, run by
  benchmarks/.venv-peers on the same files, in turn with it) and the decoding of the same files
  alone, the ceiling of any tool that reads them. Two sets of the same clips: *as stored* (16 kHz
  FLAC, and Ogg Opus, whose decoding alone takes about 60% of the CPU), and *as recorded*: written
  as 16-bit WAV at 16-48 kHz, a quarter of them stereo, the formats that recordings arrive in and
  that the target was set on;
- **long file**: ``voxgender predict`` on one long recording (``--long``), x real time and peak RSS,
  with each speech check and with the speaker encoder;
- **network**: the bundled model's file decisions on every test-split clip through torch, the
  ONNX graph and its dynamic int8 quantisation: differences in p_female, labels that change,
  and throughput of the network alone.

``--torch-src`` runs the start-up, clip and long-file commands of an earlier source tree too (the
release that ran on torch: ``git worktree add /tmp/torch-release 53883d2``), in the same venv, in
turn with this one, so both are measured under the same load.

    python benchmarks/runtime_benchmark.py [--clips 1835] [--long /tmp/long3h.flac] [--torch-src /tmp/torch-release/src]

Writes the figures to results/runtime.json.
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
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from split_clips import DATA

from voxgender.io.audio import SAMPLE_RATE, load_audio
from voxgender.io.model_dir import bundled_model_dir, split_speakers
from voxgender.model import Model, load_model
from voxgender.runtime import one_thread
from voxgender.synth import synth_clip
from voxgender.training.data import read_corpus

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "runtime.json"
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
RECORDED_RATES = (16000, 22050, 44100, 48000)  # the clips as recorded: WAV at these rates ...
STEREO_SHARE = 0.25  # ... and this share of them stereo
VOXGENDER = [sys.executable, "-m", "voxgender"]
MEASURE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
           "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, code)")
DECODE = ("import sys, time; from concurrent.futures import ThreadPoolExecutor; from voxgender.io.audio import load_audio; "
          "paths = open(sys.argv[1]).read().split(); t = time.perf_counter(); "
          "list(ThreadPoolExecutor(int(sys.argv[2])).map(load_audio, paths)); print(time.perf_counter() - t)")
PRAAT = ("import json, sys, time; sys.path.insert(0, sys.argv[1]); from peers_benchmark import run_praat; "
         "paths = open(sys.argv[2]).read().split(); t = time.perf_counter(); out = run_praat([{'path': p} for p in paths]); "
         "print(json.dumps({'seconds': time.perf_counter() - t, 'errors': sum(o['error'] is not None for o in out)}))")


def measured(cmd: list[str], src: str | None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command, run with ``src`` first on the import path."""
    env = {**os.environ, **({"PYTHONPATH": src} if src else {})}
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], env=env, capture_output=True, text=True, check=True)
    seconds, rss, code = out.stdout.split()
    if code != "0":
        raise RuntimeError(f"{' '.join(cmd)} exited with {code}")
    return float(seconds), float(rss)


def trees(args: argparse.Namespace) -> dict[str, str | None]:
    return {"onnxruntime (this tree)": None, **({"torch (--torch-src)": args.torch_src} if args.torch_src else {})}


def commands(args: argparse.Namespace) -> dict[str, tuple[str | None, list[str]]]:
    """The predict commands measured: each tree as it runs by default (this one with its speech
    gate), and this one with the full speech check, without any, and with the speaker encoder."""
    return {**{name: (src, []) for name, src in trees(args).items()},
            **{f"onnxruntime, {flags}": (None, flags.split()) for flags in ("--speech-check full", "--no-speech-check", "--encoder")}}


def short_clips(n: int) -> list[str]:
    """``n`` clips of 2-8 s spread over the corpora of ../shared/data."""
    clips = [u.path for u in read_corpus(DATA) if u.duration_s and 2.0 <= u.duration_s <= 8.0]
    return [clips[i] for i in np.random.default_rng(0).permutation(len(clips))[:n]]


def startup(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    one = tmp / "one.wav"
    sf.write(one, synth_clip("female", 2.0, 1), 16000)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in trees(args)}
    for _ in range(args.repeats * 2):
        for name, src in trees(args).items():
            runs[name].append(measured([*VOXGENDER, "predict", str(one)], src))
    return {name: {"wall_s": statistics.median(r[0] for r in rs), "rss_mb": statistics.median(r[1] for r in rs),
                   "runs": rs} for name, rs in runs.items()}


def as_recorded(paths: list[str], folder: Path) -> list[str]:
    """The clips as 16-bit WAV at a sample rate drawn from ``RECORDED_RATES``, a ``STEREO_SHARE`` of
    them stereo (the second channel 1 dB quieter), written to ``folder``."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    copies = []
    for i, path in enumerate(paths):
        rate = int(rng.choice(RECORDED_RATES))
        audio = soxr.resample(load_audio(path), SAMPLE_RATE, rate)
        if rng.random() < STEREO_SHARE:
            audio = np.stack([audio, audio * 0.89], axis=1)
        copies.append(str(folder / f"{i:04d}.wav"))
        sf.write(copies[-1], audio, rate, subtype="PCM_16")
    return copies


def clip_throughput(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    stored = short_clips(args.clips)
    return {"as stored": clip_set_throughput(args, stored, tmp / "stored.txt"),
            "as recorded": clip_set_throughput(args, as_recorded(stored, tmp / "recorded"), tmp / "recorded.txt")}


def clip_set_throughput(args: argparse.Namespace, paths: list[str], listing: Path) -> dict[str, Any]:
    audio_s = sum(sf.info(p).duration for p in paths)
    listing.write_text("\n".join(paths) + "\n")
    decoding = f"decoding alone (load_audio on {os.cpu_count()} threads: the ceiling)"
    runs: dict[str, list[float]] = {name: [] for name in [*commands(args), decoding, "Praat median-F0 rule"]}
    for _ in range(args.repeats):
        for name, (src, extra) in commands(args).items():
            command = [*VOXGENDER, "predict", "--files-from", str(listing), "--format", "jsonl", *extra]
            runs[name].append(audio_s / measured(command, src)[0])
        seconds = subprocess.run([sys.executable, "-c", DECODE, str(listing), str(os.cpu_count())],
                                 capture_output=True, text=True, check=True).stdout
        runs[decoding].append(audio_s / float(seconds))
        if PEERS_PYTHON.is_file():
            praat = json.loads(subprocess.run([str(PEERS_PYTHON), "-c", PRAAT, str(HERE), str(listing)],
                                              capture_output=True, text=True, check=True).stdout)
            runs["Praat median-F0 rule"].append(audio_s / praat["seconds"])
    medians = {name: statistics.median(xs) for name, xs in runs.items() if xs}
    return {"clips": len(paths), "audio_s": audio_s, "x_realtime": medians, "runs": runs,
            "ratio_to_praat": {name: x / medians["Praat median-F0 rule"] for name, x in medians.items()
                               if "Praat median-F0 rule" in medians}}


def long_file(args: argparse.Namespace) -> dict[str, Any]:
    audio_s = sf.info(args.long).duration
    out: dict[str, Any] = {"file": str(args.long), "audio_s": audio_s}
    for name, (src, extra) in commands(args).items():
        seconds, rss = measured([*VOXGENDER, "predict", str(args.long), *extra], src)
        out[name] = {"x_realtime": audio_s / seconds, "rss_mb": rss}
    return out


def int8_model(model_dir: Path, tmp: Path) -> Model:
    """The bundled model with its graph dynamically quantised to int8 weights."""
    import shutil

    from onnxruntime.quantization import QuantType, quantize_dynamic

    copy = tmp / "int8"
    shutil.copytree(model_dir, copy)
    quantize_dynamic(str(model_dir / "model.onnx"), str(copy / "model.onnx"), weight_type=QuantType.QInt8)
    return load_model(copy)


def network_runtimes(tmp: Path) -> dict[str, Any]:
    from voxgender.training.model_files import load_torch_model
    from voxgender.training.networks import torch_network

    model_dir = bundled_model_dir()
    speakers = split_speakers(model_dir, "test")
    audios = [load_audio(u.path) for u in read_corpus(DATA) if u.speaker in speakers and not u.is_child]
    saved = load_torch_model(model_dir)
    runtimes = {"torch": Model(torch_network(saved.net), saved.features, saved.config),
                "onnx float": load_model(), "onnx int8": int8_model(model_dir, tmp)}
    feats = [runtimes["onnx float"].features_of(a) for a in audios]
    frames = sum(len(f) for f in feats)
    out: dict[str, Any] = {"clips": len(audios)}
    p = {}
    for name, model in runtimes.items():
        p[name] = model.p_female_of_arrays(audios)
        start = time.perf_counter()
        model.feature_log_posteriors(feats)
        seconds = time.perf_counter() - start
        out[name] = {"network_x_realtime": frames * model.features.hop_ms / 1000 / seconds,
                     "graph_kb": None if name == "torch" else round(_graph_bytes(model) / 1024)}
    for name in ("onnx float", "onnx int8"):
        out[name].update(max_abs_dp=float(np.abs(p[name] - p["torch"]).max()),
                         labels_changed=int(((p[name] >= 0.5) != (p["torch"] >= 0.5)).sum()))
    return out


def _graph_bytes(model: Model) -> int:
    return sum(len(member._graph) for member in model.network.members)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1835)
    parser.add_argument("--long", type=Path, help="a long recording (say 3 h) for the long-file figure")
    parser.add_argument("--torch-src", help="src folder of the torch release, measured beside this tree")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", nargs="+", default=["startup", "clips", "long", "network"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    one_thread()
    figures: dict[str, Any] = {"command": " ".join(sys.argv), "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        if "startup" in args.parts:
            figures["startup"] = startup(args, Path(tmp))
            print("start-up of `voxgender predict one.wav`:", json.dumps(figures["startup"], default=str)[:400])
        if "clips" in args.parts and DATA.is_dir():
            figures["clips"] = clip_throughput(args, Path(tmp))
            for name, clips in figures["clips"].items():
                print(f"short clips {name}:", json.dumps({k: v for k, v in clips.items() if k != "runs"}))
        if "long" in args.parts and args.long:
            figures["long"] = long_file(args)
            print("long file:", json.dumps(figures["long"]))
        if "network" in args.parts and DATA.is_dir():
            figures["network"] = network_runtimes(Path(tmp))
            print("network runtimes:", json.dumps(figures["network"]))
    figures["load_average"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
