"""Accuracy figures reproduced from a clean checkout: the bundled model on its held-out
test speakers (full clips and 1 s / 0.5 s crops, per corpus, children apart), and
leave-one-corpus-out (LOCO): for each corpus, train on the others with the bundled recipe and test
on it. Writes a Markdown report with tables and PNG plots.

    python benchmarks/accuracy_benchmark.py pooled            # minutes
    python benchmarks/accuracy_benchmark.py loco --jobs 2     # one training per corpus, two at a time
    python benchmarks/accuracy_benchmark.py loco --out runs/loco_pitch --train-args='--pitch-bins 32'   # another recipe
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from split_clips import flagged_speakers, label_ceiling

from voxgender.io.audio import load_audio
from voxgender.io.model_dir import bundled_model_dir, split_speakers
from voxgender.model import load_model
from voxgender.training.data import CHILD_AGE, Utterance, read_corpus
from voxgender.training.evaluate import evaluate_model, write_report

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "accuracy"
RECIPE_FILE = ROOT / "benchmarks" / "bundled_recipe.args"  # `make model` trains with it too


def bundled_recipe() -> list[str]:
    """The `voxgender train` options of the bundled recipe (``RECIPE_FILE``, comments left out)."""
    lines = RECIPE_FILE.read_text().splitlines()
    return [arg for line in lines if not line.lstrip().startswith("#") for arg in shlex.split(line)]


def corpus_folders() -> dict[str, Path]:
    return {p.name: p for p in sorted(DATA.iterdir()) if (p / "labels.csv").is_file()}


def corpus_adults(folder: Path, leave_out: Collection[str] = ()) -> tuple[list[Utterance], list[np.ndarray]]:
    """The adults of the corpus in ``folder``, but for the speakers in ``leave_out``, and their decoded audio."""
    adults = [u for u in read_corpus(folder) if not u.is_child and u.speaker not in leave_out]
    return adults, [load_audio(u.path) for u in adults]


def pooled(out: Path, model_dir: Path) -> dict:
    """The model on the speakers its splits.json holds out as test, plus all children (never trained on)."""
    utterances = read_corpus(DATA)
    test_speakers = split_speakers(model_dir, "test")
    model = load_model(model_dir)
    results = {}
    test = [u for u in utterances if u.speaker in test_speakers and not u.is_child]
    flagged = flagged_speakers()
    for name, subset in (("test", test), ("test_unflagged", [u for u in test if u.speaker not in flagged] if flagged else []),
                         ("children", [u for u in utterances if u.is_child])):
        if subset:
            results[name] = evaluate_model(model, subset)
            write_report(results[name], out / f"pooled_{name}", title=f"Bundled model: {name} speakers")
    results["label_ceiling"] = label_ceiling(test, flagged)
    return results


def train_loco_model(corpus: str, folders: dict[str, Path], out: Path, options: list[str],
                     left_out: Collection[str] | None = None) -> Path:
    """Train (or resume) the model that leaves ``corpus`` out (or, when given, every corpus of
    ``left_out``, a fold named ``corpus``); ``{corpus}`` in ``options`` becomes the fold's name (say,
    for a teacher of the same fold: --teacher runs/loco_ens2/loco/{corpus})."""
    options = [option.replace("{corpus}", corpus) for option in options]
    model_dir = out / "loco" / corpus
    excluded = set(left_out) if left_out is not None else {corpus}
    others = [str(p) for name, p in folders.items() if name not in excluded]
    cmd = [str(Path(sys.executable).parent / "voxgender"), "train", "--data", *others, "--out", str(model_dir.resolve()),
           "--exclude-children", "--test-fraction", "0", "--threads", "1", "--resume", *options]
    log = (out / "loco" / f"{corpus}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:  # run from the checkout's root, which the recipe's paths are relative to
        subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=True, cwd=ROOT)
    return model_dir


def loco(out: Path, jobs: int, held_out_speakers: set[str], extra: list[str]) -> dict:
    """Train (or resume) the five LOCO models and evaluate each on its held-out corpus.

    Each corpus is also scored on its *choosing speakers* (``adults_choosing``: those outside
    ``held_out_speakers``, the bundled model's pooled test speakers), the figure recipe choices are
    made on, and on the pooled test speakers alone (``adults_test``), which no choice may look at.
    """
    folders = corpus_folders()
    options = [*bundled_recipe(), *extra]  # the recipe first, so that ``extra`` overrides it
    with ThreadPoolExecutor(jobs) as pool:
        model_dirs = dict(zip(folders, pool.map(lambda c: train_loco_model(c, folders, out, options), folders)))
    results = {}
    flagged = flagged_speakers()
    for corpus, model_dir in model_dirs.items():
        utterances = read_corpus(folders[corpus])
        model = load_model(model_dir)
        adults = [u for u in utterances if not u.is_child]
        subsets = {"adults": adults, "adults_unflagged": [u for u in adults if u.speaker not in flagged],
                   "adults_choosing": [u for u in adults if u.speaker not in held_out_speakers],
                   "adults_test": [u for u in adults if u.speaker in held_out_speakers],
                   "with_children": utterances}
        results[corpus] = {name: evaluate_model(model, subset, show_progress=False)
                           for name, subset in subsets.items()
                           if subset and (name == "adults" or len(subset) != len(adults))}
        results[corpus]["label_ceiling"] = label_ceiling(adults, flagged)
    return results


def command_line(results: dict, part: str) -> list[str]:
    """The command that last wrote a part's figures, where the results record it."""
    command = results.get("commands", {}).get(part)
    return [f"Command: `{command}`", ""] if command else []


def loco_markdown(results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = {"with_children": "UAR incl. children", "adults_unflagged": "UAR, audit-flagged speakers out",
               "adults_choosing": "UAR, choosing speakers", "adults_test": "UAR, test speakers"}
    lines = ["## Leave-one-corpus-out", "", "Each row: a model trained on the other corpora (children left out), "
             "tested on every clip of this corpus. *Choosing speakers* are the adults outside the bundled model's "
             "test split, on which recipes are compared; *test speakers* are its test split, which no choice "
             "may look at. *Label ceiling*: the highest UAR on the adults for a recogniser that goes by the voice, "
             "if the [label audit](../label_audit.md) is right about the speakers it flags.", "",
             "| held-out corpus | clips | UAR (adults) | female recall | male recall | " + " | ".join(columns.values()) +
             " | label ceiling |", "|---|---|---|---|---|" + "---|" * (len(columns) + 1)]
    means: dict[str, list[float]] = {name: [] for name in ("adults", *columns)}
    ceilings = [r.get("label_ceiling") for r in results.values()]  # absent from results written before it
    for (corpus, r), ceiling in zip(results.items(), ceilings):
        a = r["adults"]["overall"]
        for name, values in means.items():
            values.append(r.get(name, r["adults"])["overall"]["uar"])
        lines.append(f"| {corpus} | {a['n']} | {a['uar']:.4f} | {a['per_class']['female']['recall']:.4f} | "
                     f"{a['per_class']['male']['recall']:.4f} | " + " | ".join(f"{means[c][-1]:.4f}" for c in columns) +
                     f" | {_num(ceiling)} |")
    mean = {name: sum(values) / len(values) for name, values in means.items()}
    mean_ceiling = None if None in ceilings else sum(ceilings) / len(ceilings)
    lines.append(f"| **mean** | | **{mean['adults']:.4f}** | | | " + " | ".join(f"{mean[c]:.4f}" for c in columns) +
                 f" | {_num(mean_ceiling)} |")
    uars, uars_all = means["adults"], means["with_children"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(list(results), uars, color="tab:blue", label="adults")
    ax.bar(list(results), [u - a for u, a in zip(uars_all, uars)], bottom=uars, color="tab:red", alpha=0.6,
           label="change with children included")
    ax.axhline(0.95, color="gray", ls="--", lw=1, label="target 0.95")
    ax.set(ylim=(0.5, 1.0), ylabel="UAR", title="Leave-one-corpus-out UAR")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "loco_uar.png", dpi=110)
    plt.close(fig)
    return lines + ["", "![LOCO UAR](loco_uar.png)", ""]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def pooled_markdown(results: dict) -> list[str]:
    t = results["test"]
    lines = ["## Bundled model, held-out test speakers (speaker-disjoint, children apart)", "",
             "| clips | crop | accuracy | UAR |", "|---|---|---|---|"]
    for length, m in t["by_length"].items():
        lines.append(f"| {m['n']} | {'full clip' if length == 'full' else length + ' s'} | {m['accuracy']:.4f} | {m['uar']:.4f} |")
    lines += ["", "| corpus | clips | UAR | female recall | male recall |", "|---|---|---|---|---|"]
    for corpus, m in t["per_corpus"].items():
        lines.append(f"| {corpus} | {m['n']} | {m['uar']:.4f} | {_num(m['female_recall'])} | {_num(m['male_recall'])} |")
    if "test_unflagged" in results:
        u = results["test_unflagged"]
        lines += ["", f"Without the test speakers the [label audit](../label_audit.md) flags (their recorded gender "
                  f"contradicts their voice pitch): {u['overall']['n']} clips, full-clip UAR {u['by_length']['full']['uar']:.4f}, "
                  f"1 s {u['by_length']['1.0']['uar']:.4f}, 0.5 s {u['by_length']['0.5']['uar']:.4f}."]
    if "label_ceiling" in results:
        lines += ["", f"Label ceiling: if the audit is right about them, a recogniser that goes by the voice calls "
                  f"their clips by the other label, and the highest full-clip UAR it can reach on the test "
                  f"speakers is {results['label_ceiling']:.4f}."]
    if "children" in results:
        c = results["children"]["overall"]
        lines += ["", f"Children under {CHILD_AGE} (never in training): {c['n']} clips, UAR {c['uar']:.4f}, "
                  f"female recall {c['per_class']['female']['recall']:.4f}, male recall {c['per_class']['male']['recall']:.4f}."]
    return lines + ["", "Details: [pooled_test/report.md](pooled_test/report.md), "
                    "[pooled_children/report.md](pooled_children/report.md).", ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("pooled", "loco", "all"))
    parser.add_argument("--model", type=Path, default=bundled_model_dir())
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--jobs", type=int, default=2, help="LOCO: trainings in parallel")
    parser.add_argument("--train-args", default="", help="LOCO: `voxgender train` options after the bundled "
                        "recipe's, to try another (for example --train-args='--pitch-bins 32' or '--epochs 6')")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: no corpora at {DATA}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    parts = ("pooled", "loco") if args.what == "all" else (args.what,)
    if "pooled" in parts:
        results["pooled"] = pooled(args.out, args.model)
    if "loco" in parts:
        results["loco"] = loco(args.out, args.jobs, split_speakers(args.model, "test"), shlex.split(args.train_args))
    ran = f"python benchmarks/accuracy_benchmark.py {shlex.join(sys.argv[1:])}` on {datetime.date.today()}, model `{args.model}"
    results.setdefault("commands", {}).update(dict.fromkeys(parts, ran))
    results_file.write_text(json.dumps(results, indent=1))
    print(benchmark_report(results, args.out))
    return 0


def benchmark_report(results: dict, out: Path) -> str:
    """report.md from results.json: each part's figures, ending with the command and date that made them."""
    lines = ["# voxgender accuracy benchmark", "", "Reproduce: `python benchmarks/accuracy_benchmark.py all` "
             "(figures below from the last run of each part, which ends with its command).", ""]
    for part, markdown in (("pooled", pooled_markdown), ("loco", lambda r: loco_markdown(r, out))):
        if part in results:
            lines += markdown(results[part]) + command_line(results, part)
    (out / "report.md").write_text("\n".join(lines))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
