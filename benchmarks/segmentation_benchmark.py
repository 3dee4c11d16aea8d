"""Segmentation benchmark: identification error, gender confusion, female-share error, speed and
memory of ``voxgender segment`` on synthetic broadcast recordings (see broadcast.py) built from
the bundled model's held-out test speakers in ../shared/data (adults; --include-children adds
the under-13 speakers).

Prints every figure and writes report.md, metrics.json and PNG plots into --out.

    python benchmarks/segmentation_benchmark.py                 # test speakers, all measurements
    python benchmarks/segmentation_benchmark.py --split val --tune   # how SegmentConfig's defaults were chosen
    python benchmarks/segmentation_benchmark.py --set male_bias=0.5   # other decoding settings
    python benchmarks/segmentation_benchmark.py --split val --scan male_bias=0,0.5,1   # one setting's trade-off
    python benchmarks/segmentation_benchmark.py --split val --tune-check   # does that search hold on other recordings?

Headline conditions: clean speech, and coloured noise or music-like tones at 20, 10 and 5 dB SNR.
0 dB is measured and reported on its own as a stress condition. Timings depend on what else runs
on the machine: the report gives the load average next to them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import soundfile as sf
from broadcast import (
    FRAME_S,
    ClipPool,
    Recording,
    build_speech,
    counts_by_speaker,
    frame_errors,
    hypothesis_frames,
    rates,
    speaker_bootstrap,
    speaker_totals,
    total,
    with_background,
)
from split_clips import flagged_speakers
from standard_scoring import components, standard_rates

from voxgender.batch.local import BatchJob, run_batch
from voxgender.core.timeline import TIMELINE_LABELS as LABELS
from voxgender.core.timeline import Segment
from voxgender.io.audio import SAMPLE_RATE
from voxgender.io.model_dir import bundled_model_dir, split_speakers
from voxgender.io.plots import plot_timelines
from voxgender.model import Model, load_model
from voxgender.runtime import one_thread
from voxgender.segment import SegmentConfig, Segmenter
from voxgender.training.data import read_corpora

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEADLINE_SNRS = (20.0, 10.0, 5.0)
STRESS_SNR = 0.0
CONDITIONS = [("clean", None)] + [(kind, snr) for kind in ("noise", "music") for snr in (*HEADLINE_SNRS, STRESS_SNR)]
TARGETS = {"ier": 0.06, "confusion": 0.03, "female_share_error_pp": 1.0, "xrt_2_workers": 500.0}
# Decoding settings only: the evidence is computed once, so reset_after_s and reset_threshold (which change
# where the RNN restarts) are not searched.
TUNE_GRID = {"switch_penalty": [5, 10, 20, 40, 80, 160, 320], "gender_weight": [0.03, 0.05, 0.1, 0.3, 1.0],
             "min_speech_s": [0.3, 0.5, 1.0, 2.0], "speech_threshold": [0.05, 0.1, 0.15, 0.2, 0.35, 0.5],
             "speech_penalty": [0.1, 0.25, 0.5, 1, 3, 10, 20, 40],
             "min_nonspeech_s": [0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5], "male_bias": [0.0, 0.25, 0.5, 0.75, 1.0],
             "vad_floor": [1e-6, 1e-3, 0.01, 0.03, 0.1, 0.2], "warmup_s": [0.0, 0.25, 0.5, 1.0, 2.0]}
MAX_TUNE_PASSES = 5
TUNE_MIN_GAIN = 1e-4  # a change must lower the IER by 0.01 points to be taken


def headline(condition: tuple[str, float | None]) -> bool:
    return condition[1] != STRESS_SNR


def load_pool(model_dir: Path, split: str, children: bool, exclude: set[str]) -> ClipPool:
    speakers = split_speakers(model_dir, split) - exclude
    utterances = [u for u in read_corpora([p for p in sorted(DATA.iterdir()) if p.is_dir()]) if u.speaker in speakers]
    if not children:
        utterances = [u for u in utterances if not u.is_child]
    return ClipPool(utterances)


def build(pool: ClipPool, recordings: int, minutes: float,
          conditions: list[tuple[str, float | None]] = CONDITIONS) -> list[Recording]:
    base = [build_speech(pool, f"broadcast{i}", minutes, seed=10 + i) for i in range(recordings)]
    return [with_background(b, kind, snr, seed=1000 + i) for kind, snr in conditions for i, b in enumerate(base)]


def condition_name(rec: Recording) -> str:
    return "clean" if rec.snr_db is None else f"{rec.background} {rec.snr_db:g} dB"


# -- accuracy and single-process speed -------------------------------------------------------------
class RecordingSegmenter(Segmenter):
    """A Segmenter that keeps the per-frame evidence it decodes (for --tune)."""

    def __init__(self, model: Model, config: SegmentConfig) -> None:
        super().__init__(model, config)
        self.evidence: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def scores(self, vad: np.ndarray, log_post: np.ndarray, age: np.ndarray) -> np.ndarray:
        self.evidence.append((vad, log_post, age))
        return super().scores(vad, log_post, age)


def scored_row(rec: Recording, segments: list[Segment], wall_s: float, cpu_s: float) -> dict[str, Any]:
    """One recording's segmentation scored against its reference: frame counts (with and without
    a 0.25 s collar), per-speaker counts, and the seconds it took."""
    hyp = hypothesis_frames(segments, len(rec.reference))
    return {"recording": rec.name, "condition": condition_name(rec), "background": rec.background,
            "snr_db": rec.snr_db, "duration_s": rec.duration_s, "wall_s": wall_s, "cpu_s": cpu_s,
            "counts": frame_errors(rec.reference, hyp, rec.scored),
            "counts_collar": frame_errors(rec.reference, hyp, rec.scored, 0.25),
            "pyannote": components(rec.reference, rec.scored, segments),
            "speakers": counts_by_speaker(rec, hyp),
            "unscored_s": float((~rec.scored).sum() * FRAME_S)}


def evaluate(recs: list[Recording], model: Model, config: SegmentConfig) -> tuple[list[dict[str, Any]], list, list]:
    """Segment every recording; per recording: frame counts, wall and CPU seconds."""
    seg = RecordingSegmenter(model, config)
    seg.segment_array(recs[0].audio[: SAMPLE_RATE * 30])  # warm-up: first-call costs are not per-file costs
    rows, hypotheses, evidence = [], [], []
    for rec in recs:
        seg.evidence = []
        wall, cpu = time.perf_counter(), time.process_time()
        result = seg.segment_array(rec.audio, name=rec.name)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows.append(scored_row(rec, result.segments, wall, cpu))
        hypotheses.append(result.segments)
        evidence.append(tuple(np.concatenate(x) for x in zip(*seg.evidence)))
    return rows, hypotheses, evidence


def decoded_rates(recs: list[Recording], evidence: list, seg: Segmenter, config: SegmentConfig) -> dict[str, float]:
    """Headline rates of the recordings' stored evidence decoded with ``config`` (no VAD or RNN rerun)."""
    seg.config = config
    counts = []
    for rec, (vad, log_post, age) in zip(recs, evidence):
        if headline((rec.background, rec.snr_db)):
            decoder = seg.decoder()
            spans = decoder.push(seg.scores(vad, log_post, age)) + decoder.finish()
            segments = [Segment(seg.frame_seconds(a), seg.frame_seconds(b), LABELS[k]) for a, b, k in spans]
            counts.append(frame_errors(rec.reference, hypothesis_frames(segments, len(rec.reference)), rec.scored))
    return rates(total(counts))


def tune(recs: list[Recording], evidence: list, model: Model, config: SegmentConfig, log: list[str]) -> SegmentConfig:
    """Coordinate search of the decoding settings on the recordings' evidence (headline IER), pass after pass
    until a pass changes nothing; each step is appended to ``log``."""
    seg = Segmenter(model, config)

    def ier(cfg: SegmentConfig) -> float:
        return decoded_rates(recs, evidence, seg, cfg)["ier"]

    best = ier(config)
    for _ in range(MAX_TUNE_PASSES):  # passes over every setting until one changes nothing
        start = config
        for name, values in TUNE_GRID.items():
            for value in values:
                try:
                    candidate = dataclasses.replace(config, **{name: value})
                except ValueError:  # not valid beside the other settings
                    continue
                score = ier(candidate)
                if score < best - TUNE_MIN_GAIN:
                    best, config = score, candidate
            log.append(f"tune: {name} = {getattr(config, name)} -> headline IER {100 * best:.2f}%")
            print(log[-1], flush=True)
        if config == start:
            break
    return config


def tune_check(recs: list[Recording], evidence: list, model: Model, config: SegmentConfig) -> list[str]:
    """Markdown: the search of ``tune`` run on each half of the recordings (split by recording, every
    background of one recording in the same half) and scored on the other half, to tell whether
    what it finds holds beyond the recordings it was found on."""
    seg = Segmenter(model, config)
    names = sorted({r.name for r in recs})
    halves = [set(names[:len(names) // 2]), set(names[len(names) // 2:])]

    def part(half: set[str]) -> tuple[list[Recording], list]:
        pairs = [(r, e) for r, e in zip(recs, evidence) if r.name in half]
        return [r for r, _ in pairs], [e for _, e in pairs]

    before = [decoded_rates(*part(h), seg, config)["ier"] for h in halves]
    lines = ["| tuned on | settings it changed | IER there: before → after | IER on the other half: before → after |",
             "|---|---|---|---|"]
    for own, other in ((0, 1), (1, 0)):
        tuned = tune(*part(halves[own]), model, config, [])
        changed = ", ".join(f"{f.name} {getattr(config, f.name):g} → {getattr(tuned, f.name):g}"
                            for f in dataclasses.fields(SegmentConfig) if getattr(config, f.name) != getattr(tuned, f.name))
        after = [decoded_rates(*part(halves[h]), seg, tuned)["ier"] for h in (own, other)]
        lines.append(f"| {', '.join(sorted(halves[own]))} | {changed or 'none'} | {pct(before[own])} → {pct(after[0])} | "
                     f"{pct(before[other])} → {pct(after[1])} |")
    return lines


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_condition: dict[str, list] = {}
    for r in rows:
        by_condition.setdefault(r["condition"], []).append(r)
    head = [r for r in rows if headline((r["background"], r["snr_db"]))]
    speakers = speaker_totals(head)
    headline_rates = rates(total([r["counts"] for r in head]))
    return {
        "headline": headline_rates,
        "headline_interval_95": speaker_bootstrap(speakers, headline_rates["false_alarm"]),
        "headline_collar_0.25s": rates(total([r["counts_collar"] for r in head])),
        "headline_pyannote": standard_rates([r["pyannote"] for r in head]),
        "stress_0dB": rates(total(stress)) if (stress := [r["counts"] for r in rows if r["snr_db"] == STRESS_SNR]) else None,
        "conditions": {c: rates(total([r["counts"] for r in rs])) for c, rs in by_condition.items()},
        "confusion_by_speaker": dict(sorted(speakers.items(), key=lambda item: -item[1]["confused_s"])),
        "audio_hours": sum(r["duration_s"] for r in rows) / 3600,
        "unscored_share": sum(r["unscored_s"] for r in rows) / sum(r["duration_s"] for r in rows),
        "xrt_1_process_wall": sum(r["duration_s"] for r in rows) / sum(r["wall_s"] for r in rows),
        "xrt_1_process_cpu": sum(r["duration_s"] for r in rows) / sum(r["cpu_s"] for r in rows),
    }


# -- parallel speed and memory --------------------------------------------------------------------
def batch_speed(recs: list[Recording], model_dir: Path, workers: int, tmp: Path, encoder: bool = False) -> dict[str, float]:
    """×real time of `batch --task segment` with worker processes over the recordings as FLAC files."""
    paths = []
    for rec in recs:
        paths.append(str(tmp / f"{rec.name}-{condition_name(rec).replace(' ', '')}.flac"))
        sf.write(paths[-1], rec.audio, SAMPLE_RATE, subtype="PCM_16")
    audio_s = sum(r.duration_s for r in recs)
    start = time.perf_counter()
    run_batch(paths, BatchJob("segment", str(model_dir), encoder=encoder), tmp / "batch.jsonl", workers=workers, show_progress=False)
    wall = time.perf_counter() - start
    return {"workers": workers, "files": len(paths), "audio_hours": audio_s / 3600, "wall_s": wall, "xrt": audio_s / wall}


def long_file(recs: list[Recording], minutes: float, path: Path) -> Path:
    """Loop the recordings into one PCM WAV file of ``minutes``, written piece by piece."""
    remaining = int(minutes * 60 * SAMPLE_RATE)
    with sf.SoundFile(path, "w", SAMPLE_RATE, 1, "PCM_16") as f:
        while remaining > 0:
            for rec in recs:
                piece = rec.audio[:remaining]
                f.write(piece)
                remaining -= len(piece)
                if remaining <= 0:
                    break
    return path


MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(code, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def memory_by_length(recs: list[Recording], model_dir: Path, minutes: list[float], tmp: Path,
                     encoder: bool = False) -> list[dict[str, float]]:
    """Peak resident memory of `voxgender segment FILE` (its own process) by file length."""
    rows = []
    for m in minutes:
        path = long_file(recs, m, tmp / f"long-{m:g}min.wav")
        cli = [sys.executable, "-m", "voxgender", "segment", str(path), "--model", str(model_dir), "--format", "jsonl",
               "--out", str(tmp / "long"), *(["--encoder"] if encoder else [])]
        out = subprocess.run([sys.executable, "-c", MEASURE, *cli], capture_output=True, text=True, check=True).stdout
        code, wall, maxrss_kb = out.split()
        if code != "0":
            raise RuntimeError(f"voxgender segment failed on {path}")
        rows.append({"minutes": m, "peak_rss_mb": int(maxrss_kb) / 1024, "wall_s": float(wall),
                     "xrt": m * 60 / float(wall)})
        print(f"memory: {m:g} min file -> peak RSS {int(maxrss_kb) / 1024:.0f} MB, {m * 60 / float(wall):.0f}x real time "
              "(process start and model loading included)", flush=True)
        path.unlink()
    return rows


# -- report ----------------------------------------------------------------------------------------
def plot_errors_by_snr(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    snrs = sorted({*HEADLINE_SNRS, STRESS_SNR})
    clean = summary["conditions"]["clean"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, title in ((axes[0], "ier", "identification error rate"), (axes[1], "confusion", "gender confusion")):
        for kind, marker in (("noise", "o"), ("music", "s")):
            ax.plot(snrs, [100 * summary["conditions"][f"{kind} {s:g} dB"][metric] for s in snrs], marker=marker, label=kind)
        ax.axhline(100 * clean[metric], color="grey", ls=":", label="clean")
        ax.axhline(100 * TARGETS[metric], color="red", ls="--", lw=0.8, label="target")
        ax.set(xlabel="SNR (dB)", ylabel="% of reference speech time", title=title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_memory(rows: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["minutes"] for r in rows], [r["peak_rss_mb"] for r in rows], marker="o")
    ax.set(xlabel="file length (min)", ylabel="peak RSS (MB)", title="voxgender segment: memory by length", ylim=(0, None))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reference_segments(reference: np.ndarray) -> list[Segment]:
    names = ("nonspeech", "female", "male", "overlap")
    cuts = [0, *(np.flatnonzero(np.diff(reference) != 0) + 1), len(reference)]
    return [Segment(a * FRAME_S, b * FRAME_S, names[reference[a]]) for a, b in zip(cuts, cuts[1:])]


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def interval_text(summary: dict[str, Any], name: str) -> str:
    low, high = summary["headline_interval_95"][name]
    return f"{low:.2f}-{high:.2f} pp" if name == "female_share_error_pp" else f"{100 * low:.2f}-{pct(high)}"


def write_report(out: Path, args: argparse.Namespace, summary: dict[str, Any], speed: dict | None, memory: list | None,
                 config: SegmentConfig, load: tuple[float, float, float]) -> None:
    h = summary["headline"]
    lines = [
        "# Segmentation benchmark", "",
        f"`python benchmarks/segmentation_benchmark.py {shlex.join(sys.argv[1:])}`", "",
        f"{args.recordings} synthetic broadcast recordings of {args.minutes:g} min from the **{args.split}** speakers of the "
        f"model ({'with' if args.include_children else 'without'} children"
        f"{', without the speakers the label audit flags' if args.exclude_flagged else ''}), each under {len(CONDITIONS)} "
        f"background conditions: {summary['audio_hours']:.2f} h of audio. Settings: `{config}`"
        + (" (tuned on these recordings, so these figures are optimistic; the search is in tune.log)."
           if args.tune or args.split == "val" else "."), "",
        "## Targets", "",
        "| target | measured | 95% interval, speakers resampled | goal |", "| --- | --- | --- | --- |",
        f"| identification error rate (headline conditions) | {pct(h['ier'])} | {interval_text(summary, 'ier')} | ≤ 6% |",
        f"| gender confusion | {pct(h['confusion'])} | {interval_text(summary, 'confusion')} | ≤ 3% |",
        f"| female-share error | {h['female_share_error_pp']:.2f} pp | {interval_text(summary, 'female_share_error_pp')} | ≤ 1 pp |",
    ]
    if speed:
        lines.append(f"| ×real time, {speed['workers']} worker processes (wall) | {speed['xrt']:.0f}× | | ≥ 500× |")
    if memory:
        lines.append(f"| peak memory, {memory[-1]['minutes'] / 60:g} h file | {memory[-1]['peak_rss_mb']:.0f} MB | | flat, ≪ 1 GB |")
    lines += ["", f"The interval draws the {len(summary['confusion_by_speaker'])} speakers with replacement 2000 times and "
              "computes each figure from the speech of the speakers drawn (false alarm, which belongs to no speaker, is "
              "held at its rate in the IER and left out of the female share): how far the figure could move on another "
              "set of as many speakers."]
    c = summary["headline_collar_0.25s"]
    lines += [
        "", f"Headline conditions: clean, noise and music at {', '.join(f'{s:g}' for s in HEADLINE_SNRS)} dB SNR. "
        f"IER = missed speech {pct(h['missed'])} + false alarm {pct(h['false_alarm'])} + confusion {pct(h['confusion'])} "
        f"of reference speech time; female share {100 * h['female_share_ref']:.1f}% in the reference, "
        f"{100 * h['female_share_hyp']:.1f}% found. {100 * summary['unscored_share']:.1f}% of the audio is not scored "
        "(the two reference detectors disagree there). With a 0.25 s no-score collar around reference changes: "
        f"IER {pct(c['ier'])}, confusion {pct(c['confusion'])}. Stress condition (0 dB): IER {pct(summary['stress_0dB']['ier'])}, "
        f"confusion {pct(summary['stress_0dB']['confusion'])}.", "",
        *standard_lines(summary), "",
        "## By condition", "", "| condition | IER | missed | false alarm | confusion | female-share error |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in summary["conditions"].items():
        lines.append(f"| {name} | {pct(r['ier'])} | {pct(r['missed'])} | {pct(r['false_alarm'])} | {pct(r['confusion'])} | "
                     f"{r['female_share_error_pp']:.2f} pp |")
    lines += ["", "![error by SNR](error_by_snr.png)", "", "![timeline](timeline.png)", "", *speaker_rows(summary, h),
              "## Speed and memory", "",
              f"Load average during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) on "
              f"{os.cpu_count()} cores; other jobs share the machine, so wall-clock figures are lower bounds.", "",
              f"- one process (one thread per network call), in-process, all recordings: "
              f"{summary['xrt_1_process_wall']:.0f}× real time (wall), {summary['xrt_1_process_cpu']:.0f}× per CPU-second"]
    if speed:
        lines.append(f"- `batch --task segment --workers {speed['workers']}` over {speed['files']} FLAC files "
                     f"({speed['audio_hours']:.2f} h): {speed['xrt']:.0f}× real time (wall, process start included)")
    if memory:
        lines += ["", "| file length | peak RSS | ×real time (whole command) |", "| --- | --- | --- |"]
        lines += [f"| {r['minutes']:g} min | {r['peak_rss_mb']:.0f} MB | {r['xrt']:.0f}× |" for r in memory]
        lines += ["", "![memory](memory_by_length.png)"]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def standard_lines(summary: dict[str, Any]) -> list[str]:
    """Markdown: the headline conditions scored by pyannote.metrics, beside the frame counts."""
    lines = ["Scored by pyannote.metrics (`IdentificationErrorRate` and `DetectionErrorRate`, overlap skipped, the "
             "scored frames as UEM; the collar is 0.25 s on each side of every reference boundary, `collar=0.5`), "
             "headline conditions:", "",
             "| collar | IER | confusion | missed | false alarm | detection error | frame counts: IER, confusion |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    frames = {"collar_0s": summary["headline"], "collar_0.25s": summary["headline_collar_0.25s"]}
    for collar, r in summary["headline_pyannote"].items():
        f = frames[collar]
        lines.append(f"| {collar[len('collar_'):]} | {pct(r['ier'] / 100)} | {pct(r['confusion'] / 100)} | "
                     f"{pct(r['missed'] / 100)} | {pct(r['false_alarm'] / 100)} | {pct(r['detection_errors'] / 100)} | "
                     f"{pct(f['ier'])}, {pct(f['confusion'])} |")
    return lines


def speaker_rows(summary: dict[str, Any], headline_rates: dict[str, float], top: int = 10) -> list[str]:
    """Markdown: the speakers with the most confused seconds in the headline conditions."""
    speakers = summary["confusion_by_speaker"]
    confused = sum(c["confused_s"] for c in speakers.values())
    worst = [(name, c) for name, c in speakers.items() if c["confused_s"] > 0][:top]
    if not worst:
        return []
    flagged = flagged_speakers()
    speech = sum(c["speech_s"] for c in speakers.values())
    floor = sum(c["speech_s"] for name, c in speakers.items() if name in flagged) / max(speech, 1e-9)
    lines = ["## Where the confusion is", "",
             f"The {len(worst)} of {len(speakers)} speakers with the most confused speech in the headline "
             f"conditions ({confused:.0f} s confused in all, {pct(headline_rates['confusion'])} of reference speech). "
             "Flagged: the label audit finds the speaker's median pitch on the other gender's side "
             f"(`results/label_audit.md`). The flagged speakers speak {pct(floor)} of the reference speech: if the "
             "audit is right, a segmenter that goes by the voice confuses at least that much.", "",
             "| speaker | label | flagged | speech | confused | share of all confusion |", "| --- | --- | --- | --- | --- | --- |"]
    for speaker, c in worst:
        lines.append(f"| {speaker} | {c['gender']} | {'yes' if speaker in flagged else ''} | {c['speech_s']:.0f} s | "
                     f"{c['confused_s']:.0f} s ({pct(c['confused_s'] / max(c['speech_s'], 1e-9))}) | "
                     f"{pct(c['confused_s'] / confused)} |")
    return [*lines, ""]


def scan(recs: list[Recording], evidence: list, model: Model, config: SegmentConfig, name: str,
         values: list[float]) -> list[str]:
    """Markdown table of the headline figures with one setting at each of ``values``, the rest as ``config``."""
    seg = Segmenter(model, config)
    lines = [f"| {name} | IER | confusion | female-share error | female share found (reference) |", "|---|---|---|---|---|"]
    for value in values:
        r = decoded_rates(recs, evidence, seg, dataclasses.replace(config, **{name: value}))
        lines.append(f"| {value:g} | {pct(r['ier'])} | {pct(r['confusion'])} | {r['female_share_error_pp']:.2f} pp | "
                     f"{pct(r['female_share_hyp'])} ({pct(r['female_share_ref'])}) |")
    return lines


def parse_setting(parser: argparse.ArgumentParser, option: str, item: str, config: SegmentConfig,
                  names: Iterable[str]) -> tuple[str, list[float]]:
    """``NAME=V1[,V2,...]`` for a setting in ``names``, each value checked against ``config``; a
    bad one stops with a usage error naming the option and the item."""
    name, _, value = item.partition("=")
    try:
        if name not in names:
            raise ValueError(f"unknown setting (one of {', '.join(sorted(names))})")
        values = [float(v) for v in value.split(",")]
        for v in values:
            dataclasses.replace(config, **{name: v})
    except ValueError as err:
        parser.error(f"{option} {item}: {err}")
    return name, values


def settings(parser: argparse.ArgumentParser, items: list[str]) -> SegmentConfig:
    """SegmentConfig with ``NAME=VALUE`` settings applied in turn; a bad one stops with a usage error."""
    config = SegmentConfig()
    for item in items:
        name, values = parse_setting(parser, "--set", item, config, [f.name for f in dataclasses.fields(SegmentConfig)])
        if len(values) != 1:
            parser.error(f"--set {item}: one value is needed")
        config = dataclasses.replace(config, **{name: values[0]})
    return config


def add_model_and_split(parser: argparse.ArgumentParser) -> None:
    """--model and --split: whose held-out speakers the recordings are built from; --encoder: the
    model segments with its speaker encoder (``segment --encoder``)."""
    parser.add_argument("--model", type=Path, default=bundled_model_dir(), help="model directory (default: the bundled model)")
    parser.add_argument("--split", choices=("test", "val"), default="test", help="speakers of the model's splits.json")
    parser.add_argument("--encoder", action="store_true", help="segment with the model's speaker encoder heard too")


def add_settings(parser: argparse.ArgumentParser) -> None:
    """--set NAME=VALUE, read by ``settings``."""
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a segmentation setting other than SegmentConfig's default, e.g. window_s=2 (repeatable)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_and_split(parser)
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=5.0, help="length of each recording")
    parser.add_argument("--include-children", action="store_true")
    parser.add_argument("--exclude-flagged", action="store_true",
                        help="leave out the speakers the label audit flags (results/label_audit.csv)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the batch speed figure (0 = skip)")
    parser.add_argument("--memory-minutes", default="10,60,180", help="file lengths for the memory figure ('' = skip)")
    parser.add_argument("--tune", action="store_true", help="search the decoding settings on these recordings")
    parser.add_argument("--tune-check", action="store_true",
                        help="run the search of --tune on each half of the recordings, score it on the other half, write tune_check.md")
    add_settings(parser)
    parser.add_argument("--scan", metavar="NAME=V1,V2,...",
                        help="also decode with one setting at each value (evidence reused) and write scan.md")
    parser.add_argument("--out", help="report folder (default: benchmarks/results/segmentation/SPLIT)")
    args = parser.parse_args()
    config = settings(parser, args.set)
    scan_name, scan_at = parse_setting(parser, "--scan", args.scan, config, TUNE_GRID) if args.scan else ("", [])
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the benchmark builds its recordings from it)")
        return 0
    one_thread()  # one thread per network call, as voxgender predict runs
    out = Path(args.out or Path(__file__).resolve().parent / "results" / "segmentation" / args.split)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(args.model, encoder=args.encoder)
    recs = build(load_pool(args.model, args.split, args.include_children,
                               flagged_speakers() if args.exclude_flagged else set()), args.recordings, args.minutes)
    print(f"built {len(recs)} recordings ({sum(r.duration_s for r in recs) / 3600:.2f} h) from the {args.split} speakers", flush=True)
    rows, hypotheses, evidence = evaluate(recs, model, config)
    if args.tune:
        log: list[str] = []
        config = tune(recs, evidence, model, config, log)
        (out / "tune.log").write_text("\n".join([*log, f"tuned settings: {config}", ""]))
        print(f"tuned settings: {config}")
        rows, hypotheses, _ = evaluate(recs, model, config)
    if args.tune_check:
        table = tune_check(recs, evidence, model, config)
        (out / "tune_check.md").write_text("\n".join([
            f"# Does the decoding search generalise? ({args.split} broadcasts, headline conditions)", "",
            f"`python benchmarks/segmentation_benchmark.py {shlex.join(sys.argv[1:])}`", "",
            f"From `{config}`, the coordinate search of `--tune` on half of the recordings, scored on the other half.",
            "", *table, ""]))
        print("\n".join(table), flush=True)
    if scan_at:
        table = scan(recs, evidence, model, config, scan_name, scan_at)
        (out / "scan.md").write_text("\n".join([f"# {scan_name} on the {args.split} broadcasts (headline conditions)", "",
                                                f"`python benchmarks/segmentation_benchmark.py {shlex.join(sys.argv[1:])}`",
                                                "", *table, ""]))
        print("\n".join(table), flush=True)
    summary = summarise(rows)
    h = summary["headline"]
    print(f"headline: IER {pct(h['ier'])} (missed {pct(h['missed'])}, false alarm {pct(h['false_alarm'])}, "
          f"confusion {pct(h['confusion'])}), female-share error {h['female_share_error_pp']:.2f} pp")
    print("  95% intervals, speakers resampled: " + ", ".join(
        f"{name} {interval_text(summary, name)}" for name in ("ier", "confusion", "female_share_error_pp")))
    for name, r in summary["conditions"].items():
        print(f"  {name:14s} IER {pct(r['ier']):>7s}  confusion {pct(r['confusion']):>7s}  "
              f"share error {r['female_share_error_pp']:.2f} pp")
    print(f"speed, one process: {summary['xrt_1_process_wall']:.0f}x real time (wall), "
          f"{summary['xrt_1_process_cpu']:.0f}x per CPU-second", flush=True)
    speed = memory = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.workers:
            speed = batch_speed([r for r in recs if headline((r.background, r.snr_db))], args.model, args.workers, Path(tmp),
                                args.encoder)
            print(f"speed, batch with {args.workers} workers: {speed['xrt']:.0f}x real time (wall)", flush=True)
        if args.memory_minutes:
            memory = memory_by_length(recs[:args.recordings], args.model, [float(m) for m in args.memory_minutes.split(",")],
                                      Path(tmp), args.encoder)
    load = os.getloadavg()
    first = next(i for i, r in enumerate(recs) if r.background == "noise" and r.snr_db == 10.0)
    plot_timelines([("reference", reference_segments(recs[first].reference)), ("voxgender", hypotheses[first])],
                   out / "timeline.png", title=f"{recs[first].name}, {condition_name(recs[first])}")
    plot_errors_by_snr(summary, out / "error_by_snr.png")
    if memory:
        plot_memory(memory, out / "memory_by_length.png")
    metrics = {"summary": summary, "batch_speed": speed, "memory": memory, "config": dataclasses.asdict(config),
               "load_average": load, "recordings": [{k: v for k, v in r.items() if k != "speakers"} for r in rows]}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_report(out, args, summary, speed, memory, config, load)
    print(f"wrote {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
