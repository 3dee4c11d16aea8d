"""Segmentation across corpora: the adults of each corpus in ../shared/data, in synthetic broadcast
recordings (broadcast.py), segmented by the model trained without that corpus (the LOCO models of
accuracy_benchmark.py, with the bundled recipe). Every speaker is unseen by the model that
segments them, several hundred in all against the 48 of segmentation_benchmark.py's test
recordings, and the corpus is unseen too: how voxgender segments a collection it was not trained on.

    python benchmarks/accuracy_benchmark.py loco --jobs 2 --out runs/loco   # the five LOCO models first
    python benchmarks/segmentation_loco.py --runs runs/loco                # then this: minutes
    python benchmarks/segmentation_loco.py --runs runs/loco --exclude-flagged --out benchmarks/results/segmentation/loco_unflagged

Each corpus gets enough 5-min recordings for its speakers to take about two turns each on average
(turns draw speakers at random, so a few are left out: the report counts those drawn), each under
the nine background conditions of segmentation_benchmark.py. The figures are those of its
headline conditions, pooled over corpora and per corpus, each with a 95% interval from
resampling the speakers. Recipe choices were made on the LOCO clip accuracy of these speakers but
for the pooled test split, and the decoding settings on the pooled validation split's broadcasts:
the report splits its figures by that too.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from accuracy_benchmark import corpus_folders
from broadcast import ClipPool, Recording, build_speech, with_background
from segmentation_benchmark import CONDITIONS, DATA, TARGETS, evaluate, interval_text, pct, speaker_rows, summarise
from split_clips import flagged_speakers

from voxgender.io.model_dir import bundled_model_dir, split_speakers
from voxgender.io.progress import progress_bar
from voxgender.model import load_model
from voxgender.runtime import one_thread
from voxgender.segment import SegmentConfig
from voxgender.training.data import read_corpus

OUT = Path(__file__).resolve().parent / "results" / "segmentation" / "loco"
TURNS_PER_RECORDING = 15  # a 5-min broadcast of the pooled test speakers holds 13-17 turns (8 measured)


def recordings_for(speakers: int, turns_per_speaker: float, minutes: float) -> int:
    """Recordings of ``minutes`` each that give ``speakers`` about ``turns_per_speaker`` turns each."""
    return max(2, math.ceil(turns_per_speaker * speakers / (TURNS_PER_RECORDING * minutes / 5)))


def corpus_broadcasts(folder: Path, exclude: set[str], turns_per_speaker: float, minutes: float,
                      conditions: list[tuple[str, float | None]] = CONDITIONS) -> Iterator[list[Recording]]:
    """The corpus's adult broadcasts, one recording's nine conditions at a time (so that memory holds
    one recording's audio, not the corpus's); recordings_for sizes them from the speakers with clips."""
    pool = ClipPool([u for u in read_corpus(folder) if not u.is_child and u.speaker not in exclude])
    for i in progress_bar(range(recordings_for(len(pool.clips), turns_per_speaker, minutes)), description=folder.name):
        base = build_speech(pool, f"{folder.name}{i}", minutes, seed=10 + i)
        yield [with_background(base, kind, snr, seed=1000 + i) for kind, snr in conditions]


def segment_corpus(folder: Path, model_dir: Path, exclude: set[str], turns_per_speaker: float,
                   minutes: float) -> list[dict[str, Any]]:
    """Rows of segmentation_benchmark.evaluate for the corpus's adult broadcasts."""
    model = load_model(model_dir)
    return [row for recs in corpus_broadcasts(folder, exclude, turns_per_speaker, minutes)
            for row in evaluate(recs, model, SegmentConfig())[0]]


def speakers_subset(summary: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    """The speaker counts of ``summary`` for the speakers in ``keep``, as rates (false alarm excluded)."""
    mine = [c for name, c in summary["confusion_by_speaker"].items() if name in keep]
    speech = sum(c["speech_s"] for c in mine)
    return {"speakers": len(mine), "speech_s": speech,
            "missed": sum(c["missed_s"] for c in mine) / max(speech, 1e-9),
            "confusion": sum(c["confused_s"] for c in mine) / max(speech, 1e-9)}


def plot(summaries: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summaries)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, title in ((axes[0], "ier", "identification error rate"), (axes[1], "confusion", "gender confusion")):
        values = np.array([100 * summaries[n]["headline"][metric] for n in names])
        low, high = (np.array([100 * summaries[n]["headline_interval_95"][metric][k] for n in names]) for k in (0, 1))
        ax.bar(names, values, yerr=[values - low, high - values], capsize=4,
               color=["tab:grey" if n == "all corpora" else "tab:blue" for n in names])
        ax.axhline(100 * TARGETS[metric], color="red", ls="--", lw=0.8, label="target")
        ax.set(ylabel="% of reference speech time", title=f"{title}, 95% interval")
        ax.tick_params(axis="x", rotation=30)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(summaries: dict[str, dict[str, Any]], groups: dict[str, set[str]]) -> list[str]:
    """Markdown report lines: the targets on all corpora, then per corpus, then by what was chosen on whom."""
    pooled = summaries["all corpora"]
    lines = [
        "# Segmentation across corpora (leave one corpus out)", "",
        f"`python benchmarks/segmentation_loco.py {shlex.join(sys.argv[1:])}`", "",
        f"{__doc__.split(chr(10) + chr(10))[0]}", "",
        f"{len(pooled['confusion_by_speaker'])} speakers, {pooled['audio_hours']:.1f} h of audio in all; decoding settings "
        f"`SegmentConfig()`. Headline conditions as in `report.md` of the pooled test split: clean, noise and music at "
        f"20, 10 and 5 dB SNR. The interval resamples the speakers 2000 times (false alarm held at its rate).", "",
        "| corpus | speakers | audio | IER | 95% interval | missed | false alarm | confusion | 95% interval | "
        "female-share error | 95% interval | 0 dB IER |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in summaries.items():
        r = s["headline"]
        bold = "**" if name == "all corpora" else ""
        lines.append(f"| {bold}{name}{bold} | {len(s['confusion_by_speaker'])} | {s['audio_hours']:.1f} h | {pct(r['ier'])} | "
                     f"{interval_text(s, 'ier')} | {pct(r['missed'])} | {pct(r['false_alarm'])} | {pct(r['confusion'])} | "
                     f"{interval_text(s, 'confusion')} | {r['female_share_error_pp']:.2f} pp | "
                     f"{interval_text(s, 'female_share_error_pp')} | {pct(s['stress_0dB']['ier'])} |")
    lines += ["", f"Targets: IER ≤ {pct(TARGETS['ier'])}, confusion ≤ {pct(TARGETS['confusion'])}, "
              f"female-share error ≤ {TARGETS['female_share_error_pp']:g} pp.", "", "![by corpus](by_corpus.png)", "",
              "## Who was looked at before", "",
              "The recipe was chosen on these corpora's LOCO clip accuracy with the pooled test speakers kept out; the "
              "decoding settings on broadcasts of the pooled validation speakers (with the bundled model). Missed "
              "speech and confusion of each group's own speech (false alarm belongs to no speaker):", "",
              "| speakers | count | speech | missed | confusion |", "| --- | --- | --- | --- | --- |"]
    for group, keep in groups.items():
        g = speakers_subset(pooled, keep)
        lines.append(f"| {group} | {g['speakers']} | {g['speech_s'] / 3600:.2f} h | {pct(g['missed'])} | {pct(g['confusion'])} |")
    return [*lines, "", *speaker_rows(pooled, pooled["headline"])]


def print_figures(name: str, summary: dict[str, Any]) -> None:
    """One line: the headline IER, confusion and female-share error of ``summary``, with intervals."""
    h = summary["headline"]
    print(f"{name:24s} IER {pct(h['ier']):>7s} [{interval_text(summary, 'ier')}]  confusion {pct(h['confusion']):>7s} "
          f"[{interval_text(summary, 'confusion')}]  share error {h['female_share_error_pp']:.2f} pp", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, required=True, help="the --out of `accuracy_benchmark.py loco` (holds loco/CORPUS)")
    parser.add_argument("--turns-per-speaker", type=float, default=2.0, help="sets how many recordings each corpus gets")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of each recording")
    parser.add_argument("--exclude-flagged", action="store_true",
                        help="leave out the speakers the label audit flags (results/label_audit.csv)")
    parser.add_argument("--out", type=Path, default=OUT, help="report folder")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the benchmark builds its recordings from it)")
        return 0
    folders = corpus_folders()
    missing = [c for c in folders if not (args.runs / "loco" / c / "config.json").is_file()]
    if missing:
        parser.error(f"{args.runs}: no finished LOCO model for {', '.join(missing)}; "
                     f"train them with `python benchmarks/accuracy_benchmark.py loco --out {args.runs}`")
    one_thread()  # one thread per network call, as voxgender predict runs
    exclude = flagged_speakers() if args.exclude_flagged else set()
    rows_by_corpus, summaries = {}, {}
    for corpus, folder in folders.items():
        rows_by_corpus[corpus] = segment_corpus(folder, args.runs / "loco" / corpus, exclude, args.turns_per_speaker,
                                                args.minutes)
        summaries[corpus] = summarise(rows_by_corpus[corpus])
        print_figures(corpus, summaries[corpus])
    summaries["all corpora"] = summarise([r for rows in rows_by_corpus.values() for r in rows])
    print_figures("all corpora", summaries["all corpora"])
    seen = {"the pooled validation split (decoding tuned on them)": split_speakers(bundled_model_dir(), "val"),
            "the pooled test split (looked at by nothing)": split_speakers(bundled_model_dir(), "test")}
    everyone = set(summaries["all corpora"]["confusion_by_speaker"])
    groups = {"all": everyone, **seen, "the others (the recipe chosen on them)": everyone - set().union(*seen.values())}
    args.out.mkdir(parents=True, exist_ok=True)
    plot(summaries, args.out / "by_corpus.png")
    (args.out / "report.md").write_text("\n".join(report(summaries, groups)) + "\n")
    (args.out / "metrics.json").write_text(json.dumps({name: {k: v for k, v in s.items() if k != "confusion_by_speaker"}
                                                       for name, s in summaries.items()}, indent=2))
    print(f"wrote {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
