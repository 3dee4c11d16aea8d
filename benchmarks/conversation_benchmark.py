"""Segmentation on conversations like real ones (conversation.py), scored as the field scores it, with
inaSpeechSegmenter side by side in the same run.

The conversations are built from the held-out speakers of the model's split (every corpus, the
emotional ones included, adults): turn changes without a pause, short turns, back-channels, overlap,
laughter, jingles, applause, music beds, street noise and telephone stretches. Both tools segment the
same samples; pyannote.metrics scores them with and without NIST's 0.25-s collar (overlap skipped),
the frame counts of broadcast.py cross-check it, and the speech boundaries are compared in
milliseconds.

    bash benchmarks/peers/setup_ina.sh              # once: inaSpeechSegmenter's venv
    python benchmarks/conversation_benchmark.py     # -> results/segmentation/conversations
    python benchmarks/conversation_benchmark.py --split val --no-peer --out runs/conv_val   # for choosing settings

Writes report.md, metrics.json and a timeline plot into --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from broadcast import (
    FRAME_S,
    NONE,
    Recording,
    collar_mask,
    counts_by_speaker,
    frame_errors,
    hypothesis_frames,
    rates,
    speaker_bootstrap,
    speaker_totals,
    speakers_rates,
    total,
)
from conversation import CONDITIONS, Conversation, build_conversation
from segmentation_benchmark import (
    DATA,
    add_model_and_split,
    add_settings,
    evaluate,
    load_pool,
    pct,
    reference_segments,
    scored_row,
    settings,
)
from segmentation_peers import ina_segments, run_ina
from split_clips import flagged_speakers
from standard_scoring import NIST_COLLAR_S, runs, standard_rates

from voxgender.core.timeline import Segment
from voxgender.io.audio import SAMPLE_RATE
from voxgender.io.plots import plot_timelines
from voxgender.model import load_model
from voxgender.runtime import one_thread
from voxgender.segment import SegmentConfig

HERE = Path(__file__).resolve().parent
BOUNDARY_TOLERANCE_S = 1.0  # a reference speech boundary with no found boundary this close is missed
TARGETS = {"ier_collar": 6.0, "confusion_collar": 3.0, "female_share_error_pp": 1.0, "false_alarm_no_collar": 3.0}


# -- boundaries ------------------------------------------------------------------------------------
def speech_edges(speaking: np.ndarray, scored: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frames where speech starts and ends; with ``scored``, only edges whose both sides are scored."""
    spans = np.array(runs(speaking), dtype=int).reshape(-1, 2)
    onsets, offsets = spans[:, 0], spans[:, 1]
    if scored is not None:
        def sure(edges: np.ndarray) -> np.ndarray:
            inside = (edges > 0) & (edges < len(scored))
            return edges[inside & scored[np.clip(edges - 1, 0, None)] & scored[np.clip(edges, None, len(scored) - 1)]]
        onsets, offsets = sure(onsets), sure(offsets)
    return onsets, offsets


def boundary_errors(reference: np.ndarray, scored: np.ndarray, segments: list[Segment]) -> dict[str, list[float]]:
    """Signed seconds from each sure reference speech onset (and offset) to the nearest found one,
    when within BOUNDARY_TOLERANCE_S, and the count of those with none that close. Negative: found
    early (an onset before the speech, an offset before its end)."""
    hypothesis = hypothesis_frames(segments, len(reference)) != NONE
    out: dict[str, Any] = {}
    for kind, ref_edges, hyp_edges in zip(("onset", "offset"), speech_edges(reference != NONE, scored), speech_edges(hypothesis)):
        errors, missed = [], 0
        for edge in ref_edges:
            nearest = hyp_edges[np.argmin(np.abs(hyp_edges - edge))] if len(hyp_edges) else None
            if nearest is None or abs(nearest - edge) * FRAME_S > BOUNDARY_TOLERANCE_S:
                missed += 1
            else:
                errors.append(float((nearest - edge) * FRAME_S))
        out[kind] = errors
        out[f"{kind}_missed"] = missed
    return out


def boundary_summary(per_recording: list[dict[str, Any]]) -> dict[str, float]:
    """Median and 90th percentile of |error| in ms, median signed error, and the share missed, per kind."""
    out = {}
    for kind in ("onset", "offset"):
        errors = np.array([e for r in per_recording for e in r[kind]])
        missed = sum(r[f"{kind}_missed"] for r in per_recording)
        out[kind] = {"median_abs_ms": float(np.median(np.abs(errors)) * 1000) if len(errors) else float("nan"),
                     "p90_abs_ms": float(np.percentile(np.abs(errors), 90) * 1000) if len(errors) else float("nan"),
                     "median_signed_ms": float(np.median(errors) * 1000) if len(errors) else float("nan"),
                     "missed_share": missed / max(1, missed + len(errors)), "boundaries": missed + len(errors)}
    return out


# -- scoring ---------------------------------------------------------------------------------------
def conversation_row(conv: Conversation, segments: list[Segment], wall_s: float, cpu_s: float) -> dict[str, Any]:
    """scored_row's figures, the boundary errors, and frame counts per condition stretch."""
    rec = conv.recording
    hyp = hypothesis_frames(segments, len(rec.reference))
    outside_collar = dataclasses.replace(rec, scored=rec.scored & collar_mask(rec.reference, NIST_COLLAR_S))
    return {**scored_row(rec, segments, wall_s, cpu_s), "speakers_collar": counts_by_speaker(outside_collar, hyp),
            "boundaries": boundary_errors(rec.reference, rec.scored, segments),
            "by_condition": {kind: frame_errors(rec.reference, hyp, rec.scored & conv.condition_mask(kind)) for kind in CONDITIONS}}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A tool's figures over all conversations: pyannote rates by collar, frame rates, intervals
    from resampling speakers, boundaries, conditions, speed."""
    frames, frames_collar = rates(total([r["counts"] for r in rows])), rates(total([r["counts_collar"] for r in rows]))
    speakers, speakers_collar = speaker_totals(rows), speaker_totals(rows, "speakers_collar")
    return {
        "pyannote": standard_rates([r["pyannote"] for r in rows]),
        "frames": frames,
        "frames_collar": frames_collar,
        "interval_95": {"female_share_error_pp": speaker_bootstrap(speakers, frames["false_alarm"])["female_share_error_pp"],
                        **{k: v for k, v in speaker_bootstrap(speakers_collar, frames_collar["false_alarm"]).items()
                           if k in ("ier", "confusion")}},
        "boundaries": boundary_summary([r["boundaries"] for r in rows]),
        "conditions": {kind: rates(total([r["by_condition"][kind] for r in rows])) for kind in CONDITIONS
                       if sum(r["by_condition"][kind]["speech_s"] for r in rows) > 0},
        "unflagged": unflagged_rates(speakers, speakers_collar, frames["false_alarm"], frames_collar["false_alarm"]),
        "speakers": speakers,
        "xrt_wall": sum(r["duration_s"] for r in rows) / sum(r["wall_s"] for r in rows),
        "xrt_cpu": sum(r["duration_s"] for r in rows) / max(1e-9, sum(r["cpu_s"] for r in rows)),
    }


def unflagged_rates(speakers: dict[str, dict[str, Any]], speakers_collar: dict[str, dict[str, Any]],
                    false_alarm: float, false_alarm_collar: float) -> dict[str, float]:
    """IER and confusion with the 0.25-s collar, and the female-share error, of the speakers the
    label audit does not flag (their recorded gender does not contradict their voice's pitch), from
    their own speech's frame counts."""
    flagged = flagged_speakers()
    collar = speakers_rates({k: v for k, v in speakers_collar.items() if k not in flagged}, false_alarm_collar)
    share = speakers_rates({k: v for k, v in speakers.items() if k not in flagged}, false_alarm)
    return {"ier_collar": collar["ier"], "confusion_collar": collar["confusion"],
            "female_share_error_pp": share["female_share_error_pp"]}


def unflagged_headline(s: dict[str, Any]) -> dict[str, float]:
    """``unflagged_rates`` in the units of ``headline`` (percent, points)."""
    return {key: value if key == "female_share_error_pp" else 100 * value for key, value in s["unflagged"].items()}


def target_cell(key: str, value: float, spec: str = ".2f") -> str:
    """A target figure as the report shows it: points for the female share, percent otherwise."""
    return f"{value:{spec}}{'' if key == 'female_share_error_pp' else '%'}"


def headline(s: dict[str, Any]) -> dict[str, float]:
    """The four target figures (percent, points)."""
    return {"ier_collar": s["pyannote"]["collar_0.25s"]["ier"], "confusion_collar": s["pyannote"]["collar_0.25s"]["confusion"],
            "female_share_error_pp": s["frames"]["female_share_error_pp"],
            "false_alarm_no_collar": s["pyannote"]["collar_0s"]["false_alarm"]}


# -- running the tools ----------------------------------------------------------------------------
def run_voxgender(convs: list[Conversation], model_dir: Path, config: SegmentConfig,
                  encoder: bool = False) -> tuple[list[dict[str, Any]], list[list[Segment]]]:
    rows, hypotheses, _ = evaluate([c.recording for c in convs], load_model(model_dir, encoder=encoder), config)
    return [conversation_row(c, h, r["wall_s"], r["cpu_s"]) for c, h, r in zip(convs, hypotheses, rows)], hypotheses


def run_peer(convs: list[Conversation], venv: Path) -> tuple[list[dict[str, Any]], list[list[Segment]]]:
    rows, hypotheses = [], []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for conv in convs:  # the same samples voxgender got
            paths.append(Path(tmp) / f"{conv.recording.name}.wav")
            sf.write(paths[-1], conv.recording.audio, SAMPLE_RATE, subtype="FLOAT")
        for conv, result in zip(convs, run_ina(paths, venv, 32, Path(tmp))):
            hypotheses.append(ina_segments(result["segments"]))
            rows.append(conversation_row(conv, hypotheses[-1], result["wall_s"], result["cpu_s"]))
    return rows, hypotheses


# -- report ----------------------------------------------------------------------------------------
def interval(s: dict[str, Any], name: str) -> str:
    low, high = s["interval_95"][name]
    return f"{low:.2f}-{high:.2f}" if name == "female_share_error_pp" else f"{100 * low:.1f}-{100 * high:.1f}%"


def write_report(out: Path, command: str, convs: list[Conversation], summaries: dict[str, dict[str, Any]]) -> None:
    hours = sum(c.recording.duration_s for c in convs) / 3600
    speakers = {t.speaker for c in convs for t in c.recording.turns}
    flagged = speakers & flagged_speakers()
    tools = list(summaries)
    v = summaries["voxgender"]
    lines = ["# Segmentation on conversations", "", f"`{command}`", "",
             f"{len(convs)} conversations ({hours:.2f} h) of {len(speakers)} held-out speakers"
             f"{f' ({len(flagged)} of whom the label audit flags)' if flagged else ''}, built by `benchmarks/conversation.py`: "
             "turn changes without a pause, short turns, back-channels, overlap, laughter, jingles, applause, and stretches "
             "under a music bed, street noise or coloured noise, or through a telephone channel. The reference is the "
             "builder's. Scored by pyannote.metrics (identification error, overlap skipped).", "",
             "## Targets", "", "Each figure with its 95% interval from resampling speakers.", "",
             "| figure | " + " | ".join(tools) + " | goal |",
             "|---|" + "---|" * len(tools) + "---|"]
    names = {"ier_collar": ("identification error, 0.25-s collar", "ier"),
             "confusion_collar": ("gender confusion, 0.25-s collar", "confusion"),
             "female_share_error_pp": ("female-share error (points)", "female_share_error_pp"),
             "false_alarm_no_collar": ("false alarm without a collar", None)}
    for key, (label, interval_name) in names.items():
        cells = " | ".join(target_cell(key, headline(summaries[t])[key])
                           + (f" ({interval(summaries[t], interval_name)})" if interval_name else "") for t in tools)
        lines.append(f"| {label} | {cells} | ≤ {target_cell(key, TARGETS[key], 'g')} |")
    if flagged:
        lines += ["", f"Without the {len(flagged)} speakers the label audit flags, whose recorded gender contradicts their "
                  "voice's pitch (`benchmarks/label_audit.py`; the same speakers for every tool; false alarm held at "
                  "its rate over all speech):", "",
                  "| figure | " + " | ".join(tools) + " |", "|---|" + "---|" * len(tools)]
        for key in v["unflagged"]:
            cells = " | ".join(target_cell(key, unflagged_headline(summaries[t])[key]) for t in tools)
            lines.append(f"| {names[key][0]} | {cells} |")
    lines += ["", "## Every figure", "", "| figure | " + " | ".join(tools) + " |", "|---|" + "---|" * len(tools)]
    rows = [("IER, no collar (pyannote)", lambda s: f"{s['pyannote']['collar_0s']['ier']:.2f}%"),
            ("IER, no collar (frame counts)", lambda s: pct(s["frames"]["ier"])),
            ("IER, 0.25-s collar (frame counts)", lambda s: pct(s["frames_collar"]["ier"])),
            ("missed speech, no collar", lambda s: f"{s['pyannote']['collar_0s']['missed']:.2f}%"),
            ("false alarm, 0.25-s collar", lambda s: f"{s['pyannote']['collar_0.25s']['false_alarm']:.2f}%"),
            ("confusion, no collar", lambda s: f"{s['pyannote']['collar_0s']['confusion']:.2f}%"),
            ("female share found (reference)", lambda s: f"{100 * s['frames']['female_share_hyp']:.1f}% "
                                                         f"({100 * s['frames']['female_share_ref']:.1f}%)"),
            ("speech onsets: median / p90 error, found early (-) or late (+)",
             lambda s: "{median_abs_ms:.0f} / {p90_abs_ms:.0f} ms, {median_signed_ms:+.0f} ms".format(**s["boundaries"]["onset"])),
            ("speech offsets: median / p90 error, found early (-) or late (+)",
             lambda s: "{median_abs_ms:.0f} / {p90_abs_ms:.0f} ms, {median_signed_ms:+.0f} ms".format(**s["boundaries"]["offset"])),
            (f"speech boundaries with none found within {BOUNDARY_TOLERANCE_S:g} s",
             lambda s: f"{100 * (s['boundaries']['onset']['missed_share'] + s['boundaries']['offset']['missed_share']) / 2:.1f}%"),
            ("×real time, one process (wall)", lambda s: f"{s['xrt_wall']:.0f}×")]
    lines += [f"| {label} | " + " | ".join(fn(summaries[t]) for t in tools) + " |" for label, fn in rows]
    lines += ["", "## By condition (frame counts, no collar: IER / confusion)", "",
              "| condition | " + " | ".join(tools) + " |", "|---|" + "---|" * len(tools)]
    for kind in v["conditions"]:
        cells = " | ".join(f"{pct(summaries[t]['conditions'][kind]['ier'])} / {pct(summaries[t]['conditions'][kind]['confusion'])}"
                           for t in tools)
        lines.append(f"| {kind} | {cells} |")
    lines += ["", "![timeline](timeline.png)", "", *worst_speakers(summaries), ""]
    (out / "report.md").write_text("\n".join(lines))


def worst_speakers(summaries: dict[str, dict[str, Any]], top: int = 8) -> list[str]:
    """Markdown: the speakers with the most confused speech for voxgender, and the peer on them."""
    tools = list(summaries)
    speakers = summaries["voxgender"]["speakers"]
    worst = sorted(speakers, key=lambda k: -speakers[k]["confused_s"])[:top]
    flagged = flagged_speakers()
    header = "| speaker | label | flagged | speech | " + " | ".join(f"confused, {t}" for t in tools) + " |"
    lines = ["## Where voxgender confuses", "", header,
             "|---|---|---|---|" + "---|" * len(tools)]
    for name in worst:
        c = speakers[name]
        cells = " | ".join(f"{pct(summaries[t]['speakers'][name]['confused_s'] / max(c['speech_s'], 1e-9))}" for t in tools)
        lines.append(f"| {name} | {c['gender']} | {'yes' if name in flagged else ''} | {c['speech_s']:.0f} s | {cells} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_and_split(parser)
    parser.add_argument("--conversations", type=int, default=24)
    parser.add_argument("--minutes", type=float, default=5.0, help="length of each conversation")
    parser.add_argument("--ina-venv", type=Path, default=HERE / ".venv-ina", help="inaSpeechSegmenter's venv (setup_ina.sh)")
    add_settings(parser)
    parser.add_argument("--no-peer", action="store_true", help="voxgender only")
    parser.add_argument("--with-encoder", action="store_true", help="also voxgender segment --encoder, in a column of its own")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "segmentation" / "conversations")
    args = parser.parse_args()
    config = settings(parser, args.set)
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the benchmark builds its conversations from it)")
        return 0
    if not args.no_peer and not (args.ina_venv / "bin" / "python").is_file():
        parser.error(f"--ina-venv {args.ina_venv}: no venv there (run benchmarks/peers/setup_ina.sh, or pass --no-peer)")
    one_thread()  # one thread per network call, as voxgender segment runs
    args.out.mkdir(parents=True, exist_ok=True)
    pool = load_pool(args.model, args.split, False, set())
    convs = [build_conversation(pool, f"conversation{i:02d}", args.minutes, seed=100 + i) for i in range(args.conversations)]
    print(f"built {len(convs)} conversations ({sum(c.recording.duration_s for c in convs) / 3600:.2f} h)", flush=True)
    results = {"voxgender": run_voxgender(convs, args.model, config, args.encoder)}
    if args.with_encoder:
        results["voxgender --encoder"] = run_voxgender(convs, args.model, config, encoder=True)
    if not args.no_peer:
        results["inaSpeechSegmenter"] = run_peer(convs, args.ina_venv)
    summaries = {tool: summarise(rows) for tool, (rows, _) in results.items()}
    for tool, s in summaries.items():
        print(tool, ", ".join(f"{k} {v:.2f}" for k, v in headline(s).items()), flush=True)
    rec: Recording = convs[0].recording
    plot_timelines([("reference", reference_segments(rec.reference))] + [(t, h[0]) for t, (_, h) in results.items()],
                   args.out / "timeline.png", title=f"{rec.name}: reference and each tool")
    command = f"python benchmarks/conversation_benchmark.py {shlex.join(sys.argv[1:])}".strip()
    write_report(args.out, command, convs, summaries)
    (args.out / "metrics.json").write_text(json.dumps(
        {"command": command, "load_average": os.getloadavg(), "when": time.strftime("%Y-%m-%d %H:%M"),
         "summaries": {t: {k: v for k, v in s.items() if k != "speakers"} for t, s in summaries.items()}}, indent=2))
    print(f"wrote {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
