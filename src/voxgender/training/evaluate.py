"""Evaluation of a model on labelled utterances: metrics overall, per corpus, for children and by
clip length, plus a report (``metrics.json``, plots and ``report.md``) and a terminal summary.

Decisions are file level: female when p_female >= 0.5. UAR (unweighted average recall, i.e.
balanced accuracy) is the headline metric, as the test sets need not be gender balanced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from voxgender.core.calibration import coverage_curve, expected_calibration_error, reliability
from voxgender.core.labels import LABELS
from voxgender.errors import DataError, VoxgenderError
from voxgender.io.audio import SAMPLE_RATE, load_audio
from voxgender.io.model_dir import atomic_write_text
from voxgender.io.progress import progress_bar
from voxgender.model import Model
from voxgender.training.data import CHILD_AGE, Utterance

CROP_LENGTHS_S = (0.5, 1.0, 2.0, 4.0)
EVAL_CHUNK = 64  # clips decoded and scored together
REPORT_FILES = ("metrics.json", "confusion.png", "per_corpus.png", "by_length.png", "reliability.png", "report.md")


# -- metrics ------------------------------------------------------------------------------------
def classification_metrics(y_true: Sequence[str], p_female: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, UAR, per-class and macro precision/recall/F1 and the confusion matrix.

    A clip is predicted female when ``p_female >= threshold``. The labels are always
    ("female", "male"); a class absent from ``y_true`` gets support 0 and zero scores, and UAR
    averages the recalls of the classes present only.
    """
    y = np.asarray(list(y_true), dtype=object)
    p = np.asarray(p_female, dtype=float).reshape(-1)
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels but {len(p)} scores")
    if len(y) == 0:
        raise ValueError("nothing to score: no labels")
    unknown = set(y) - set(LABELS)
    if unknown:
        raise ValueError(f"labels must be {LABELS}, not {sorted(map(str, unknown))}")
    labels = list(LABELS)
    y_pred = np.where(p >= threshold, LABELS[0], LABELS[1]).astype(object)
    precision, recall, f1, support = precision_recall_fscore_support(y, y_pred, labels=labels, zero_division=0)
    per_class = {
        label: {
            "precision": float(precision[k]), "recall": float(recall[k]), "f1": float(f1[k]), "support": int(support[k]),
        }
        for k, label in enumerate(labels)
    }
    return {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, y_pred)),
        "uar": float(recall[support > 0].mean()),
        "per_class": per_class,
        "macro": {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())},
        "confusion": {"labels": labels, "matrix": confusion_matrix(y, y_pred, labels=labels).tolist()},
    }


def _brief(metrics: dict[str, Any]) -> dict[str, Any]:
    """n, accuracy, UAR and per-class recall (None for a class that is absent)."""
    recall = {
        f"{label}_recall": m["recall"] if m["support"] else None for label, m in metrics["per_class"].items()
    }
    return {"n": metrics["n"], "accuracy": metrics["accuracy"], "uar": metrics["uar"], **recall}


def grouped_metrics(y_true: Sequence[str], p_female: np.ndarray, groups: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per group (sorted by name): n, accuracy, uar, female_recall, male_recall.

    A recall is None when the group has no clips of that class.
    """
    y = np.asarray(list(y_true), dtype=object)
    p = np.asarray(p_female, dtype=float).reshape(-1)
    g = np.asarray(list(groups), dtype=object)
    if not len(y) == len(p) == len(g):
        raise ValueError(f"{len(y)} labels, {len(p)} scores and {len(g)} groups")
    return {str(name): _brief(classification_metrics(y[g == name], p[g == name])) for name in sorted(set(g))}


def calibration_metrics(y_true: Sequence[str], p_female: np.ndarray) -> dict[str, Any]:
    """Expected calibration error, the reliability bins and the abstention (coverage-error) curve."""
    female = np.asarray([label == LABELS[0] for label in y_true])
    return {"ece": expected_calibration_error(p_female, female), "reliability": reliability(p_female, female),
            "coverage": coverage_curve(p_female, female)}


def crop_center(audio: np.ndarray, seconds: float | None) -> np.ndarray:
    """The central ``seconds`` of 16 kHz ``audio``; the whole clip if None or not longer."""
    if seconds is None:
        return audio
    n = int(round(seconds * SAMPLE_RATE))
    if len(audio) <= n:
        return audio
    start = (len(audio) - n) // 2
    return audio[start:start + n]


def _length_entry(seconds: float | None, y_true: Sequence[str], p_female: Sequence[float]) -> dict[str, Any]:
    if not len(y_true):
        return {"seconds": seconds, "n": 0, "accuracy": None, "uar": None}
    m = classification_metrics(y_true, np.asarray(p_female))
    return {"seconds": seconds, "n": m["n"], "accuracy": m["accuracy"], "uar": m["uar"]}


def _score_chunk(
    model: Model, audios: list[np.ndarray], lengths: Sequence[float]
) -> tuple[np.ndarray, dict[float, tuple[list[int], np.ndarray]]]:
    """p_female of the full clips, and per crop length the indices of long-enough clips and their scores."""
    full = model.p_female_of_arrays(audios)
    crops = {}
    for seconds in lengths:
        idx = [i for i, a in enumerate(audios) if len(a) >= int(round(seconds * SAMPLE_RATE))]
        scores = model.p_female_of_arrays([crop_center(audios[i], seconds) for i in idx]) if idx else np.zeros(0)
        crops[seconds] = (idx, scores)
    return full, crops


def evaluate_model(
    model: Model,
    utterances: Iterable[Utterance],
    crop_lengths: Sequence[float] = CROP_LENGTHS_S,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Score every utterance on the full clip and on central crops of each of ``crop_lengths``.

    A crop length only uses clips at least that long. A file that cannot be decoded is listed in
    ``errors`` and skipped. Returns ``overall``, ``per_corpus``, ``children`` (only if some
    utterances have age < 13), ``by_length`` (keys "0.5", "1.0", ..., "full"), ``errors``,
    ``n_files`` (files scored) and ``audio_hours``. Raises DataError if no file can be decoded.
    """
    lengths = [float(s) for s in crop_lengths]
    kept: list[Utterance] = []
    errors: list[dict[str, str]] = []
    p_full: list[float] = []
    crop_true: dict[float, list[str]] = {s: [] for s in lengths}
    crop_scores: dict[float, list[float]] = {s: [] for s in lengths}
    total_samples = 0
    chunk: list[tuple[Utterance, np.ndarray]] = []

    def flush() -> None:
        full, crops = _score_chunk(model, [a for _, a in chunk], lengths)
        p_full.extend(float(p) for p in full)
        for seconds, (idx, scores) in crops.items():
            crop_true[seconds].extend(chunk[i][0].gender for i in idx)
            crop_scores[seconds].extend(float(p) for p in scores)
        chunk.clear()

    for utt in progress_bar(utterances, "evaluating", show_progress):
        try:
            audio = load_audio(utt.path)
        except VoxgenderError as err:
            errors.append({"path": str(utt.path), "error": str(err)})
            continue
        kept.append(utt)
        total_samples += len(audio)
        chunk.append((utt, audio))
        if len(chunk) >= EVAL_CHUNK:
            flush()
    if chunk:
        flush()
    if not kept:
        detail = f" (first error: {errors[0]['error']})" if errors else ""
        raise DataError(f"no decodable utterances to evaluate{detail}")

    y_true = [u.gender for u in kept]
    scores = np.asarray(p_full)
    result: dict[str, Any] = {
        "overall": classification_metrics(y_true, scores),
        "per_corpus": grouped_metrics(y_true, scores, [u.corpus or "unknown" for u in kept]),
        "calibration": calibration_metrics(y_true, scores),
    }
    children = [i for i, u in enumerate(kept) if u.is_child]
    if children:
        result["children"] = classification_metrics([y_true[i] for i in children], scores[children])
    by_length = {str(s): _length_entry(s, crop_true[s], crop_scores[s]) for s in lengths}
    by_length["full"] = _length_entry(None, y_true, p_full)
    result.update(
        by_length=by_length,
        errors=errors,
        n_files=len(kept),
        audio_hours=total_samples / SAMPLE_RATE / 3600,
    )
    return result


# -- tables shared by the terminal summary and report.md -----------------------------------------
Table = tuple[list[str], list[list[str]]]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _class_table(m: dict[str, Any]) -> Table:
    rows = [
        [label, _pct(c["precision"]), _pct(c["recall"]), _pct(c["f1"]), str(c["support"])]
        for label, c in m["per_class"].items()
    ]
    macro = m["macro"]
    rows.append(["macro", _pct(macro["precision"]), _pct(macro["recall"]), _pct(macro["f1"]), str(m["n"])])
    return ["class", "precision", "recall", "F1", "support"], rows


def _confusion_table(m: dict[str, Any]) -> Table:
    labels, matrix = m["confusion"]["labels"], m["confusion"]["matrix"]
    rows = []
    for label, counts in zip(labels, matrix):
        total = sum(counts)
        rows.append([label] + [f"{c} ({100 * c / total:.1f}%)" if total else str(c) for c in counts])
    return ["true \\ predicted", *labels], rows


def _group_table(groups: dict[str, dict[str, Any]], name: str) -> Table:
    rows = [
        [group, str(g["n"]), _pct(g["accuracy"]), _pct(g["uar"]), _pct(g["female_recall"]), _pct(g["male_recall"])]
        for group, g in groups.items()
    ]
    return [name, "n", "accuracy", "UAR", "female recall", "male recall"], rows


def _crop_name(seconds: float | None) -> str:
    return "full clip" if seconds is None else f"{seconds:g} s"


def _length_table(by_length: dict[str, dict[str, Any]]) -> Table:
    rows = [[_crop_name(e["seconds"]), str(e["n"]), _pct(e["accuracy"]), _pct(e["uar"])] for e in by_length.values()]
    return ["crop", "n", "accuracy", "UAR"], rows


def _text_table(table: Table) -> str:
    headers, rows = table
    widths = [max(len(r[k]) for r in [headers, *rows]) for k in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(w) if k == 0 else cell.rjust(w) for k, (cell, w) in enumerate(zip(row, widths)))
        for row in [headers, *rows]
    ]
    return "\n".join("  " + line.rstrip() for line in lines)


def _md_table(table: Table) -> str:
    headers, rows = table

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = "| --- |" + " ---: |" * (len(headers) - 1)
    return "\n".join([line(headers), align, *(line(r) for r in rows)])


def _headline(result: dict[str, Any]) -> str:
    o = result["overall"]
    return (
        f"{result['n_files']} files, {result['audio_hours']:.2f} h of audio, {len(result['errors'])} unreadable; "
        f"accuracy {_pct(o['accuracy'])}, UAR {_pct(o['uar'])}"
    )


def _calibration_lines(result: dict[str, Any]) -> list[str]:
    c = result["calibration"]
    lines = [f"expected calibration error (10 bins): {c['ece']:.4f}",
             "with --min-confidence C: C, share answered, error of the answered"]
    return lines + [f"  {r['min_confidence']:.2f}  {_pct(r['coverage'])}  {_pct(r['error'])}" for r in c["coverage"]]


def _children_table(result: dict[str, Any]) -> Table:
    return _group_table({f"age < {CHILD_AGE}": _brief(result["children"])}, "children")


def format_summary(result: dict[str, Any]) -> str:
    """A compact plain-text summary of an ``evaluate_model`` result for the terminal."""
    overall = result["overall"]
    parts = [
        _headline(result),
        "per class",
        _text_table(_class_table(overall)),
        "confusion (rows: true, columns: predicted)",
        _text_table(_confusion_table(overall)),
        "per corpus",
        _text_table(_group_table(result["per_corpus"], "corpus")),
    ]
    if "children" in result:
        parts += ["children", _text_table(_children_table(result))]
    parts += [
        "by crop length (central crop; only clips at least that long)",
        _text_table(_length_table(result["by_length"])),
        *_calibration_lines(result),
    ]
    if result["errors"]:
        parts.append("unreadable files")
        parts += [f"  {e['error']}" for e in result["errors"][:10]]
        if len(result["errors"]) > 10:
            parts.append(f"  ... and {len(result['errors']) - 10} more")
    return "\n".join(parts)


# -- report ----------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _nan_if_none(values: Iterable[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def plot_confusion(metrics: dict[str, Any], path: Path, title: str = "Confusion matrix") -> None:
    """Confusion matrix coloured by row share, each cell annotated with its count and row %."""
    plt = _pyplot()
    labels = metrics["confusion"]["labels"]
    counts = np.asarray(metrics["confusion"]["matrix"], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    fig, ax = plt.subplots(figsize=(5, 4.2))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(counts[i, j])}\n{100 * share[i, j]:.1f}%", ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=11)
    ticks = list(range(len(labels)))
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set(xlabel="predicted", ylabel="true",
           title=f"{title}\naccuracy {_pct(metrics['accuracy'])}, UAR {_pct(metrics['uar'])}")
    fig.colorbar(image, ax=ax, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_corpus(per_corpus: dict[str, dict[str, Any]], path: Path) -> None:
    """UAR, female recall and male recall of each corpus as grouped bars."""
    plt = _pyplot()
    names = list(per_corpus)
    x = np.arange(len(names))
    width = 0.27
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(names) + 2), 4))
    series = (("UAR", "uar", "tab:green"), ("female recall", "female_recall", "tab:orange"),
              ("male recall", "male_recall", "tab:purple"))
    for k, (label, key, color) in enumerate(series):
        ax.bar(x + (k - 1) * width, _nan_if_none(per_corpus[n][key] for n in names), width, label=label, color=color)
    ax.set_xticks(x, [f"{n}\n(n={per_corpus[n]['n']})" for n in names], rotation=0 if len(names) <= 6 else 45)
    ax.set(ylim=(0, 1.18), yticks=np.linspace(0, 1, 6), ylabel="score", title="Per corpus")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_by_length(by_length: dict[str, dict[str, Any]], path: Path) -> None:
    """Accuracy and UAR against crop length (the full clips last)."""
    plt = _pyplot()
    entries = list(by_length.values())
    x = np.arange(len(entries))
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(x, _nan_if_none(e["accuracy"] for e in entries), "o-", label="accuracy")
    ax.plot(x, _nan_if_none(e["uar"] for e in entries), "s--", label="UAR")
    ax.set_xticks(x, [f"{_crop_name(e['seconds'])}\nn={e['n']}" for e in entries])
    ax.set(xlabel="central crop", ylabel="score", title="Accuracy against clip length")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(calibration: dict[str, Any], path: Path) -> None:
    """Reliability diagram (accuracy against confidence) and the abstention curve (error of the
    answered files against the share answered, per minimum confidence)."""
    plt = _pyplot()
    bins = calibration["reliability"]
    fig, (ax, ax_cov) = plt.subplots(1, 2, figsize=(9, 3.8))
    ax.plot([0.5, 1], [0.5, 1], color="grey", linestyle="--", label="perfect calibration")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", label="model")
    ax.set(xlabel="confidence of the chosen label", ylabel="accuracy", title=f"Reliability (ECE {calibration['ece']:.3f})")
    ax.legend()
    cov = [c for c in calibration["coverage"] if c["error"] is not None]
    ax_cov.plot([c["coverage"] for c in cov], [c["error"] for c in cov], marker="o")
    for c in cov:
        ax_cov.annotate(f"{c['min_confidence']:.2f}", (c["coverage"], c["error"]), fontsize=8)
    ax_cov.set(xlabel="share of files answered", ylabel="error of the answered", title="Abstention (--min-confidence)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _report_markdown(result: dict[str, Any], title: str) -> str:
    overall = result["overall"]
    parts = [
        f"# {title}",
        _headline(result) + ".",
        "Decisions are file level (female when p_female >= 0.5). "
        "UAR is the unweighted average of the per-class recalls.",
        "## Overall",
        _md_table(_class_table(overall)),
        "### Confusion matrix (counts and row %)",
        _md_table(_confusion_table(overall)),
        "![Confusion matrix](confusion.png)",
        "## Per corpus",
        _md_table(_group_table(result["per_corpus"], "corpus")),
        "![Per-corpus UAR and recall](per_corpus.png)",
    ]
    if "children" in result:
        parts += [f"## Children (age < {CHILD_AGE})", _md_table(_children_table(result)),
                  _md_table(_confusion_table(result["children"]))]
    parts += [
        "## By clip length",
        "Central crops of each length, scored on the clips at least that long.",
        _md_table(_length_table(result["by_length"])),
        "![Accuracy against clip length](by_length.png)",
        "## Calibration and abstention",
        "\n".join(_calibration_lines(result)),
        "![Reliability and abstention](reliability.png)",
    ]
    if result["errors"]:
        parts += ["## Unreadable files", "\n".join(f"- {e['error']}" for e in result["errors"])]
    return "\n\n".join(parts) + "\n"


def write_report(result: dict[str, Any], out_dir: str | Path, title: str = "voxgender evaluation") -> list[Path]:
    """Write metrics.json, confusion.png, per_corpus.png, by_length.png and report.md; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in REPORT_FILES]
    metrics_json, confusion_png, per_corpus_png, by_length_png, reliability_png, report_md = paths
    atomic_write_text(metrics_json, json.dumps(result, indent=2) + "\n")
    plot_confusion(result["overall"], confusion_png)
    plot_per_corpus(result["per_corpus"], per_corpus_png)
    plot_by_length(result["by_length"], by_length_png)
    plot_reliability(result["calibration"], reliability_png)
    atomic_write_text(report_md, _report_markdown(result, title))
    return paths
