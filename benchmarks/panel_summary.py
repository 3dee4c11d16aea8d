"""One table of the choosing panel's reports (benchmarks/results/panel/*/metrics.json) for the README
and the model card: the bundled model on test and validation speakers, and its recipe with each
group of corpora left out of training, beside the same without pitch and effort augmentation, and
with the Amharic emotions alone left out; with and without the speaker encoder (``--encoder``).

    python benchmarks/panel_summary.py [--results benchmarks/results/panel]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "panel"
COLUMNS = {"bundled_test": "bundled model, test speakers", "bundled_test_encoder": "the same with `--encoder`",
           "bundled_val": "bundled model, validation speakers",
           "group_out": "recipe, one group of corpora left out", "group_out_encoder": "the same with `--encoder`",
           "group_out_without_pitch_and_effort": "the same without pitch and effort augmentation",
           "ased_out": "recipe, `ased` left out and the other emotional corpora heard", "ased_out_encoder": "the same with `--encoder`"}
ROWS = {"worst_score": "worst group (groups of 12 clips or more)", "corpus_mean_uar": "mean UAR over the corpora",
        "worst_corpus_uar": "worst corpus", "crop_uar": "1-s crops from speech onset, UAR",
        "arousal_male_recall": "synthetic arousal: men's recall", "arousal_female_recall": "synthetic arousal: women's recall",
        "ased_male_recall": "`ased` men's recall (Amharic emotions)", "ece": "expected calibration error (10 bins)"}
NOTES = """Commands: `python benchmarks/panel.py --split test` and `--split val` (the bundled model; `make model` runs
both), `python benchmarks/group_out.py --out runs/logo` (the bundled recipe, four trainings) and `python
benchmarks/group_out.py --out runs/logo_base --train-args='--members 1 --augment-set p_pitch=0 --augment-set
p_effort=0'`, `python benchmarks/group_out.py --out runs/lo_ased --leave-out ased` (one training: Amharic emotions
unheard, the other emotional corpora heard, as the bundled model meets an emotional corpus it has never heard; a
second seed gave 0.728 / 0.839 / 0.742 / 0.089 for its worst group, UAR, men's recall and calibration error); then
this table, `python benchmarks/panel_summary.py`. The `--encoder` columns: `python benchmarks/panel.py --split test
--encoder`, and the same group_out.py commands with `--encoder-wheel runs/resemblyzer/Resemblyzer-0.1.4-py3-none-any.whl`
(a speaker encoder added to each fold's model, its probe fitted on the fold's training speakers; the fusion weight, 0.5,
was chosen on the leave-one-group-out panel). Each report lists every group with both recalls.
No model here carries a post-hoc calibration: `voxgender calibrate` keeps a fit only if it lowers the log-loss on
speakers it was not fitted on, and the bundled model's did not (experiments/LOG.md). The test and validation groups
are small (2-9 speakers per corpus),
so one speaker moves a group's figure by a tenth; the leave-one-group-out columns rest on 1049 speakers.

The peer on the same speech: inaSpeechSegmenter (trained on French broadcasts, so every corpus here is unseen by it)
on 2076 of the leave-one-group-out clips (two per speaker and style), beside the leave-one-group-out models on the
same clips: mean UAR over the corpora 0.917 against 0.943, worst group 0.373 (`ased` sad) against 0.723 (`ased`
fearful); without `ased`, 0.943 against 0.953. It is ahead on read English and Polish emotions, where voxgender's
errors are women heard as men, and on non-native English, where they are men heard as women ([report](peer/report.md),
`python benchmarks/panel_peer.py --voxgender runs/logo/panel/scores.csv --out benchmarks/results/panel/peer`; its
answers do not depend on voxgender's model, so a new recipe is set beside them with `--peer-from
benchmarks/results/panel/peer/metrics.json`)."""


def _figure(value: float | str | None) -> str:
    return "-" if value is None else value if isinstance(value, str) else f"{value:.3f}"


def summary_markdown(results: Path) -> str:
    found = {key: json.loads((results / key / "metrics.json").read_text())
             for key in COLUMNS if (results / key / "metrics.json").is_file()}
    lines = ["# The choosing panel", "",
             "Speech the model never trained on, by group: every corpus, every emotion of the emotional corpora, TV excerpts,",
             "1-s crops from speech onset, and synthetic arousal (men's pitch raised 1.2-1.6× with the formants kept and raised",
             "vocal effort; women's lowered 0.7-0.85×). Recipes are chosen by the worst group with one group of corpora",
             "(emotional; crowd and TV; read and telephone; non-native and digits) left out of training in turn.", "",
             "| | " + " | ".join(f"[{COLUMNS[k]}]({k}/report.md)" for k in found) + " |",
             "|---|" + "---|" * len(found),
             "| clips (speakers) | " + " | ".join(f"{m['clips']} ({m['speakers']})" for m in found.values()) + " |"]
    lines += [f"| {label} | " + " | ".join(_figure(m[key]) for m in found.values()) + " |" for key, label in ROWS.items()]
    lines += ["| the worst group | " + " | ".join(m["worst_group"] for m in found.values()) + " |", "", NOTES, ""]
    if "bundled_test" in found:
        lines += ["## Every group, the bundled model's test speakers", "",
                  "| group | clips | speakers | female recall | male recall | score |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['group']} | {r['clips']} | {r['speakers']} | {_figure(r['female_recall'])} | "
                  f"{_figure(r['male_recall'])} | {_figure(r['score'])} |" for r in found["bundled_test"]["groups"]]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    (args.results / "README.md").write_text(summary_markdown(args.results))
    print(summary_markdown(args.results))


if __name__ == "__main__":
    main()
