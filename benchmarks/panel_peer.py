"""inaSpeechSegmenter on the choosing panel's full clips, beside a voxgender panel run on the same clips.

inaSpeechSegmenter's gender CNN was trained on French broadcasts, so every corpus here is unseen by
it, as each group is unseen by the leave-one-group-out models of group_out.py. It runs file by file
(its default speech/music/noise detector); a clip's answer is the gender with most seconds, and a
clip where it finds no speech counts as wrong, as in the comparison of unseen corpora that the
project is measured on.

    bash benchmarks/peers/setup_ina.sh     # once: its venv
    python benchmarks/panel_peer.py --voxgender runs/logo/panel/scores.csv --out benchmarks/results/panel/peer
    python benchmarks/panel_peer.py --voxgender runs/logo_new/panel/scores.csv --peer-from benchmarks/results/panel/peer/metrics.json \
        --out benchmarks/results/panel/peer      # another voxgender run beside the peer's saved answers

It runs at about 5-15x real time, so ``--per-speaker`` (default 2) keeps that many clips of each
speaker in each style: every emotion of every emotional speaker stays, the other corpora thin out.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import soundfile as sf
from group_out import choosing_clips
from panel import _fmt, clip_groups, group_rows
from segmentation_peers import run_ina

from voxgender.io.audio import SAMPLE_RATE, load_audio
from voxgender.io.progress import progress_bar
from voxgender.training.data import Utterance

HERE = Path(__file__).resolve().parent


def thinned(clips: list[Utterance], per_speaker: int) -> list[Utterance]:
    """The first ``per_speaker`` clips of each speaker in each style (all of them at 0)."""
    taken: dict[tuple[str, str | None], int] = {}
    out = []
    for clip in clips:
        key = (clip.speaker, clip.style)
        taken[key] = taken.get(key, 0) + 1
        if not per_speaker or taken[key] <= per_speaker:
            out.append(clip)
    return out


def ina_p_female(segments: list[list[Any]], gender: str) -> float:
    """The female share of the seconds it calls female or male; no speech: the wrong answer."""
    seconds = {"female": 0.0, "male": 0.0}
    for label, start, end in segments:
        if label in seconds:
            seconds[label] += end - start
    speech = seconds["female"] + seconds["male"]
    return seconds["female"] / speech if speech > 0 else float(gender == "male")


def ina_records(clips: list[Utterance], venv: Path) -> list[dict[str, Any]]:
    """One panel record per clip, inaSpeechSegmenter's answer as its p_female."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, clip in enumerate(progress_bar(clips, "decoding", True)):
            paths.append(Path(tmp) / f"{i:05d}.wav")
            sf.write(paths[-1], load_audio(clip.path), SAMPLE_RATE, subtype="PCM_16")
        results = run_ina(paths, venv, 32, Path(tmp))
    return [{"condition": "full", "groups": clip_groups(u), "path": u.path, "speaker": u.speaker, "corpus": u.corpus,
             "style": u.style, "gender": u.gender, "p_female": ina_p_female(r["segments"], u.gender)}
            for u, r in zip(clips, results)]


def voxgender_records(scores: Path, paths: set[str], by_path: dict[str, Utterance]) -> list[dict[str, Any]]:
    """A panel run's full-clip records (its scores.csv) for the same clips."""
    with scores.open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["condition"] == "full" and r["path"] in paths]
    return [{**r, "groups": clip_groups(by_path[r["path"]]), "p_female": float(r["p_female"])} for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxgender", type=Path, help="scores.csv of a group_out.py panel, shown beside the peer")
    parser.add_argument("--ina-venv", type=Path, default=HERE / ".venv-ina")
    parser.add_argument("--peer-from", type=Path, metavar="METRICS_JSON",
                        help="the peer's groups from an earlier run's metrics.json (same clips) instead of running it")
    parser.add_argument("--per-speaker", type=int, default=2, help="clips of each speaker in each style (0: all)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    clips = thinned(choosing_clips(), args.per_speaker)
    if not clips:
        print("skipped: no corpora")
        return
    records = {} if args.peer_from else {"inaSpeechSegmenter": ina_records(clips, args.ina_venv)}
    if args.voxgender:
        records["voxgender"] = voxgender_records(args.voxgender, {u.path for u in clips}, {u.path: u for u in clips})
    rows = {tool: {r["group"]: r for r in group_rows(recs)} for tool, recs in records.items()}
    if args.peer_from:
        rows = {"inaSpeechSegmenter": {r["group"]: r for r in json.loads(args.peer_from.read_text())["inaSpeechSegmenter"]}, **rows}
    tools = list(rows)
    ina_rows = sorted(rows["inaSpeechSegmenter"].values(), key=lambda r: r["score"])
    lines = [f"# inaSpeechSegmenter on the choosing panel ({len(clips)} full clips)", "",
             f"`python benchmarks/panel_peer.py {' '.join(sys.argv[1:])}`", "",
             "Each group: female recall / male recall / score (UAR, or one gender's recall), worst for the peer first. "
             + ("voxgender: the leave-one-group-out models (each group scored by a model that never trained on it)."
                if args.voxgender else ""),
             "", "| group | clips | " + " | ".join(tools) + " |", "|---|---|" + "---|" * len(tools)]
    for r in ina_rows:
        cells = " | ".join("{} / {} / **{}**".format(_fmt(t.get("female_recall")), _fmt(t.get("male_recall")), _fmt(t["score"]))
                           if (t := rows[tool].get(r["group"])) else "-" for tool in tools)
        lines.append(f"| {r['group']} | {r['clips']} | {cells} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    (args.out / "metrics.json").write_text(json.dumps({t: list(r.values()) for t, r in rows.items()}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
