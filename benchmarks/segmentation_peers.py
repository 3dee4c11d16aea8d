"""voxgender and inaSpeechSegmenter, the reference tool for gender segmentation of broadcasts, on the
same synthetic broadcast recordings (those of segmentation_benchmark.py: same speakers, builder,
seeds and backgrounds), scored by the same frame-level code, in one run.

    bash benchmarks/peers/setup_ina.sh                 # benchmarks/.venv-ina: TensorFlow + inaSpeechSegmenter
    python benchmarks/segmentation_peers.py            # test speakers -> results/segmentation/peers
    python benchmarks/segmentation_peers.py --loco runs/loco --conditions clean,noise10 \
        --out benchmarks/results/segmentation/peers_loco   # each corpus's adults, voxgender's LOCO models

With --loco, the recordings are those of segmentation_loco.py (every adult of each corpus), and each
corpus is segmented by voxgender's model trained without it; --conditions keeps some of the nine
background conditions (inaSpeechSegmenter runs at about 10-25x real time: all of them take hours).

inaSpeechSegmenter runs in its own venv (it needs TensorFlow) through peers/ina_segment.py, with its
default settings (speech/music/noise detector, batch size 32) and TensorFlow's default threads;
voxgender runs in this process with SegmentConfig's defaults, one thread per network call.
Speed is given per wall-clock second and per CPU-second of each tool's segmentation calls, models
loaded and warmed up beforehand. Writes report.md, metrics.json and PNG plots into --out.
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
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import soundfile as sf
from accuracy_benchmark import corpus_folders
from broadcast import Recording
from segmentation_benchmark import (
    CONDITIONS,
    DATA,
    TARGETS,
    build,
    condition_name,
    evaluate,
    interval_text,
    load_pool,
    pct,
    reference_segments,
    scored_row,
    summarise,
)
from segmentation_loco import corpus_broadcasts
from split_clips import flagged_speakers

from voxgender.core.timeline import Segment
from voxgender.io.audio import SAMPLE_RATE
from voxgender.io.model_dir import bundled_model_dir
from voxgender.io.plots import plot_timelines
from voxgender.model import Model, load_model
from voxgender.runtime import one_thread
from voxgender.segment import SegmentConfig

HERE = Path(__file__).resolve().parent
INA_GENDERS = {"female", "male"}  # its other labels (noEnergy, noise, music) are non-speech
MOSTLY_WRONG = 0.5  # a speaker whose scored speech is confused more than this
TOOLS = ("voxgender", "inaSpeechSegmenter")
POOLED = "all corpora"


def ina_segments(raw: list[list[Any]]) -> list[Segment]:
    """inaSpeechSegmenter's (label, start, end) rows as voxgender segments."""
    return [Segment(float(a), float(b), lab if lab in INA_GENDERS else "nonspeech") for lab, a, b in raw]


def condition_key(background: str, snr_db: float | None) -> str:
    """The name --conditions uses: clean, noise20, music5, ..."""
    return "clean" if snr_db is None else f"{background}{snr_db:g}"


def without_audio(rec: Recording) -> Recording:
    """``rec`` as scoring needs it: reference, turns and length, with no audio held (the speech
    becomes a zero-stride array of the same length)."""
    return dataclasses.replace(rec, audio=None, speech=np.broadcast_to(np.float32(0), rec.speech.shape))


def run_ina(paths: list[Path], venv: Path, batch_size: int, tmp: Path) -> list[dict[str, Any]]:
    """inaSpeechSegmenter's results for WAV files, run in its venv; one result per file, in order."""
    (tmp / "list.txt").write_text("\n".join(map(str, paths)) + "\n")
    out = tmp / "ina.jsonl"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([str(venv / "bin" / "python"), str(HERE / "peers" / "ina_segment.py"), str(tmp / "list.txt"), str(out),
                    "--batch-size", str(batch_size)], check=True, env=env)
    results = [json.loads(line) for line in out.read_text().splitlines()]
    if [r["path"] for r in results] != list(map(str, paths)):
        raise SystemExit(f"{out}: inaSpeechSegmenter did not return one result per recording")
    return results


def segment_group(model: Model, broadcasts: Iterable[list[Recording]],
                  args: argparse.Namespace) -> tuple[dict[str, list], dict[str, list], list[Recording]]:
    """Segment a group's recordings with both tools: rows of scored_row and segments per tool, and the
    recordings without their audio."""
    rows: dict[str, list] = {tool: [] for tool in TOOLS}
    hypotheses: dict[str, list] = {tool: [] for tool in TOOLS}
    recs: list[Recording] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for batch in broadcasts:
            tool_rows, tool_segments, _ = evaluate(batch, model, SegmentConfig())
            rows["voxgender"] += tool_rows
            hypotheses["voxgender"] += tool_segments
            for rec in batch:  # the same samples voxgender got
                paths.append(Path(tmp) / f"{len(paths):04d}-{rec.name}-{condition_key(rec.background, rec.snr_db)}.wav")
                sf.write(paths[-1], rec.audio, SAMPLE_RATE, subtype="FLOAT")
                recs.append(without_audio(rec))
        for rec, result in zip(recs, run_ina(paths, args.ina_venv, args.batch_size, Path(tmp))):
            hypotheses["inaSpeechSegmenter"].append(ina_segments(result["segments"]))
            rows["inaSpeechSegmenter"].append(scored_row(rec, hypotheses["inaSpeechSegmenter"][-1], result["wall_s"],
                                                         result["cpu_s"]))
    return rows, hypotheses, recs


def mostly_wrong(summary: dict[str, Any]) -> set[str]:
    """Speakers with more than MOSTLY_WRONG of their scored speech given the other gender."""
    return {name for name, c in summary["confusion_by_speaker"].items()
            if c["confused_s"] > MOSTLY_WRONG * max(c["speech_s"], 1e-9)}


def plot_by_condition(summaries: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(summaries.values()))["conditions"])
    x = np.arange(len(names))
    width = 0.8 / len(summaries)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for ax, metric, title in ((axes[0], "ier", "identification error rate"), (axes[1], "confusion", "gender confusion")):
        for k, (tool, summary) in enumerate(summaries.items()):
            ax.bar(x + (k - (len(summaries) - 1) / 2) * width, [100 * summary["conditions"][n][metric] for n in names],
                   width, label=tool)
        ax.axhline(100 * TARGETS[metric], color="red", ls="--", lw=0.8, label="target")
        ax.set_xticks(x, names, rotation=35, ha="right")
        ax.set(ylabel="% of reference speech time", title=title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def headline_row(group: str, tool: str, s: dict[str, Any]) -> str:
    h = s["headline"]
    stress = pct(s["stress_0dB"]["ier"]) if s["stress_0dB"] else "–"
    return (f"| {group} | {tool} | {len(s['confusion_by_speaker'])} | {pct(h['ier'])} | {interval_text(s, 'ier')} | "
            f"{pct(h['missed'])} | {pct(h['false_alarm'])} | {pct(h['confusion'])} | {interval_text(s, 'confusion')} | "
            f"{pct(h['confusion'] / (1 - h['missed']))} | {h['female_share_error_pp']:.2f} pp | "
            f"{interval_text(s, 'female_share_error_pp')} | {pct(s['headline_collar_0.25s']['ier'])} | {stress} | "
            f"{s['xrt_1_process_wall']:.0f}× | {s['xrt_1_process_cpu']:.0f}× |")


def write_report(out: Path, args: argparse.Namespace, summaries: dict[str, dict[str, dict[str, Any]]],
                 rows: dict[str, dict[str, list[dict[str, Any]]]], load: tuple[float, float, float]) -> None:
    """report.md: per group and tool the headline figures, then, for the last group (all of them pooled),
    by condition and the speakers."""
    pooled = summaries[list(summaries)[-1]]
    source = (f"the adults of each corpus in the recordings of `segmentation_loco.py`, each corpus segmented by "
              f"voxgender's model trained without it (`{args.loco}`)" if args.loco else
              f"{args.recordings} recordings of {args.minutes:g} min from the **{args.split}** speakers of the bundled model, "
              "those of `segmentation_benchmark.py`")
    kept = ", ".join(pooled["voxgender"]["conditions"])
    lines = [
        "# Segmentation: voxgender and inaSpeechSegmenter on the same broadcasts", "",
        f"`python benchmarks/segmentation_peers.py {shlex.join(sys.argv[1:])}`", "",
        f"Synthetic broadcast recordings (broadcast.py), {source}"
        f"{', without the speakers the label audit flags' if args.exclude_flagged else ''}; conditions {kept}; "
        f"{pooled['voxgender']['audio_hours']:.2f} h of audio, scored by `segmentation_benchmark.py`'s code. "
        "inaSpeechSegmenter 0.8.0 with its default settings (speech/music/noise detector, the Keras models of its "
        "releases), trained on French broadcasts. voxgender with `SegmentConfig()`, whose settings were chosen on "
        "broadcasts of the pooled validation speakers.", "",
        "## Headline figures", "",
        "Over the conditions above but 0 dB (the headline conditions of `segmentation_benchmark.py`, where present).", "",
        "| speakers of | tool | speakers | IER | 95% interval | missed | false alarm | confusion | 95% interval | "
        "confusion of the speech found | female-share error | 95% interval | IER, 0.25 s collar | IER at 0 dB | "
        "×real time (wall) | ×real time per CPU-second |",
        "| --- | " + "--- | " * 15,
    ]
    for group, by_tool in summaries.items():
        lines += [headline_row(f"**{group}**" if group == POOLED else group, tool, s) for tool, s in by_tool.items()]
    last = list(rows)[-1]
    if any(r["background"] == "music" for r in rows[last]["voxgender"]):
        for tool in TOOLS:
            kept_rows = [r for r in rows[last][tool] if r["background"] != "music"]
            lines.append(headline_row(f"{last}, music left out", tool, summarise(kept_rows)))
    lines += ["", f"Targets: IER ≤ {pct(TARGETS['ier'])}, confusion ≤ {pct(TARGETS['confusion'])}, "
              f"female-share error ≤ {TARGETS['female_share_error_pp']:g} pp. *Confusion of the speech found*: confused "
              "seconds over the reference speech the tool did not miss, its gender decisions apart from its speech "
              "detection. The intervals resample the speakers 2000 times (false alarm held at its rate). Speed: audio "
              "seconds over the seconds spent in each tool's segmentation calls, models loaded and warmed up (wall "
              "clock, and CPU time of the process: inaSpeechSegmenter's TensorFlow uses both cores, voxgender one thread per network call "
              f"thread and the VAD thread). Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
              f"{os.cpu_count()} cores.", "",
              "## By condition", "",
              "The music backgrounds are synthetic tones (broadcast.py), not recorded music; voxgender's training "
              "augmentation adds tones of another generator, so these conditions are nearer to its training than to "
              "inaSpeechSegmenter's, whose speech/music detector learnt from recorded music. The headline table "
              "therefore also gives the figures with the music conditions left out.", "",
              "| condition | " + " | ".join(f"{t} IER | missed | confusion" for t in TOOLS) + " |",
              "| --- | " + "--- | " * (3 * len(TOOLS))]
    for name in pooled["voxgender"]["conditions"]:
        lines.append(f"| {name} | " + " | ".join(" | ".join(pct(s["conditions"][name][k]) for k in ("ier", "missed", "confusion"))
                                                for s in pooled.values()) + " |")
    lines += ["", "![by condition](by_condition.png)", "", "![timeline](timeline.png)", ""]
    lines += speaker_section(pooled)
    (out / "report.md").write_text("\n".join(lines) + "\n")


def speaker_section(summaries: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown: the speakers each tool gets mostly wrong, and how many both do."""
    flagged = flagged_speakers()
    wrong = {tool: mostly_wrong(s) for tool, s in summaries.items()}
    shared = set.intersection(*wrong.values())
    lines = ["## Speakers mostly confused", "",
             f"Speakers with more than {MOSTLY_WRONG:.0%} of their scored speech (headline conditions) given the other "
             "gender. Flagged: the label audit finds the speaker's median pitch on the other gender's side "
             "(`results/label_audit.md`).", "",
             "| tool | speakers mostly confused | of them flagged |", "| --- | --- | --- |"]
    lines += [f"| {tool} | {len(w)} | {len(w & flagged)} |" for tool, w in wrong.items()]
    lines += [f"| both | {len(shared)} | {len(shared & flagged)} |", "",
              "| speaker | label | flagged | " + " | ".join(f"{t} confused" for t in summaries) + " |",
              "| --- | --- | --- | " + "--- | " * len(summaries)]
    for name in sorted(set.union(*wrong.values())):
        cells = []
        for s in summaries.values():
            c = s["confusion_by_speaker"][name]
            cells.append(pct(c["confused_s"] / max(c["speech_s"], 1e-9)))
        gender = next(iter(summaries.values()))["confusion_by_speaker"][name]["gender"]
        lines.append(f"| {name} | {gender} | {'yes' if name in flagged else ''} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("test", "val"), default="test", help="speakers of the bundled model's splits.json")
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=5.0, help="length of each recording")
    parser.add_argument("--loco", type=Path, metavar="RUNS",
                        help="instead of --split: every corpus's adults, with the LOCO models in RUNS/loco/CORPUS")
    parser.add_argument("--conditions", help="comma-separated, e.g. clean,noise10,music5 (default: all nine)")
    parser.add_argument("--exclude-flagged", action="store_true",
                        help="leave out the speakers the label audit flags (results/label_audit.csv)")
    parser.add_argument("--ina-venv", type=Path, default=HERE / ".venv-ina", help="made by peers/setup_ina.sh")
    parser.add_argument("--batch-size", type=int, default=32, help="inaSpeechSegmenter's batch size (its default)")
    parser.add_argument("--out", type=Path, help="report folder (default: benchmarks/results/segmentation/peers)")
    args = parser.parse_args()
    known = {condition_key(kind, snr): (kind, snr) for kind, snr in CONDITIONS}
    wanted = args.conditions.split(",") if args.conditions else list(known)
    if unknown := set(wanted) - set(known):
        parser.error(f"--conditions: unknown {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    conditions = [c for key, c in known.items() if key in wanted]  # in CONDITIONS' order
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the benchmark builds its recordings from it)")
        return 0
    if not (args.ina_venv / "bin" / "python").is_file():
        parser.error(f"{args.ina_venv}: no inaSpeechSegmenter venv (run benchmarks/peers/setup_ina.sh)")
    one_thread()  # one thread per network call, as voxgender predict runs
    out = args.out or HERE / "results" / "segmentation" / "peers"
    out.mkdir(parents=True, exist_ok=True)
    exclude = flagged_speakers() if args.exclude_flagged else set()
    if args.loco:
        groups = {corpus: (args.loco / "loco" / corpus, corpus_broadcasts(folder, exclude, 2.0, args.minutes, conditions))
                  for corpus, folder in corpus_folders().items()}
    else:
        model_dir = bundled_model_dir()
        groups = {f"{args.split} split": (model_dir, [build(load_pool(model_dir, args.split, False, exclude),
                                                              args.recordings, args.minutes, conditions)])}
    rows: dict[str, dict[str, list]] = {}
    first: tuple[Recording, dict[str, list[Segment]]] | None = None
    for group, (model_dir, broadcasts) in groups.items():
        rows[group], hypotheses, recs = segment_group(load_model(model_dir), broadcasts, args)
        if first is None:
            i = next((i for i, r in enumerate(recs) if condition_key(r.background, r.snr_db) == "noise10"), 0)
            first = recs[i], {tool: h[i] for tool, h in hypotheses.items()}
    if len(groups) > 1:  # the last group is the pooled one
        rows[POOLED] = {tool: [r for by_tool in rows.values() for r in by_tool[tool]] for tool in TOOLS}
    pooled = list(rows)[-1]
    summaries = {group: {tool: summarise(tool_rows) for tool, tool_rows in by_tool.items()} for group, by_tool in rows.items()}
    for group, by_tool in summaries.items():
        for tool, s in by_tool.items():
            h = s["headline"]
            print(f"{group} {tool}: IER {pct(h['ier'])}, confusion {pct(h['confusion'])}, share error "
                  f"{h['female_share_error_pp']:.2f} pp, {s['xrt_1_process_wall']:.0f}x real time")
    rec, segments = first
    plot_timelines([("reference", reference_segments(rec.reference)), *segments.items()], out / "timeline.png",
                   title=f"{rec.name}, {condition_name(rec)}")
    plot_by_condition(summaries[pooled], out / "by_condition.png")
    load = os.getloadavg()
    metrics = {"summaries": summaries, "load_average": load,
               "recordings": {tool: [{k: v for k, v in r.items() if k != "speakers"} for r in tool_rows]
                              for tool, tool_rows in rows[pooled].items()}}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_report(out, args, summaries, rows, load)
    print(f"wrote {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
