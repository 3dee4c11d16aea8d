"""The model card: what a model was trained on (origin and licence of each corpus), how, what was
measured on it, its limits and how to use it responsibly. Rendered from the model's config.json
and, when given, evaluation results (metrics.json of ``voxgender evaluate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from voxgender.core.aggregate import CASCADE_MARGIN
from voxgender.segment import ENCODER_WEIGHT

SOURCE_FILE = "SOURCE.txt"

RESPONSIBLE_USE = """\
## Responsible use

The label is a **binary acoustic estimate from the voice** (female-like or male-like),
not a person's gender identity, which a voice cannot reveal. Do not use it to decide anything about an
individual person (access, eligibility, identity checks). It is meant for aggregate measurement,
such as the share of speaking time of female and male voices in a broadcast archive, and for voice
analytics where occasional errors are acceptable and disclosed.
"""

LIMITS = """\
## Known limits

- **Children**: before puberty, boys' and girls' voices barely differ acoustically; accuracy on
  speakers under 13 is far below that on adults (measured separately above where the data has
  ages).
- **Voice disorders, hormone therapy, whispering, falsetto and singing** change pitch and timbre
  and were not in the training data.
- **Overlapping speakers**: a clip holds one label; with two voices at once the estimate is a blend.
  Use `voxgender segment` for recordings with several speakers; it has no overlap label, so speech
  of a woman and a man at once counts toward one of them.
- **Telephone audio**: one corpus of real telephone lines (Indian English) was in training, and the
  augmentation simulates narrow bands and codecs; other networks, codecs and packet loss are untested.
- **Raised-pitch speech** (emotional, shouted or excited) from male speakers, and lowered-pitch
  speech (sad, tired) from female speakers, are the classic errors of every gender recogniser,
  including this one: the choosing panel below measures them per emotion and on synthetic arousal.
  With its emotional corpora left out of training, the recipe hears Amharic men in fear as women on
  a third of their clips and Amharic women in sadness as men on a third of theirs. With the other
  emotional corpora heard and the Amharic ones left out, as this model meets emotional speech it has
  never heard, it hears a quarter of the Amharic men as women, and its probabilities there are
  over-confident (expected calibration error 0.09).
- **Languages and recording conditions** beyond those listed under training data are untested.
- **Speaking-time shares of a new collection**: on recordings unlike the training corpora, the
  errors on one kind of voice add up over the whole collection instead of cancelling, so the female
  share of speech found can be off by several points. Check a sample by ear before reporting a
  share (`benchmarks/segmentation_loco.py` measures this on corpora left out of training).
"""


def read_source(folder: Path) -> dict[str, str]:
    """The ``Key: value`` lines of a corpus folder's SOURCE.txt, plus the folder name."""
    entries = {"folder": folder.name}
    for line in (folder / SOURCE_FILE).read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            entries[key.strip().lower()] = value.strip()
    return entries


def find_sources(paths: Iterable[str | Path]) -> list[dict[str, str]]:
    """SOURCE.txt records of the given corpus folders, or of the corpus folders inside them."""
    sources = []
    for path in map(Path, paths):
        folders = [path] if (path / SOURCE_FILE).is_file() else sorted(p for p in path.glob("*") if (p / SOURCE_FILE).is_file())
        sources += [read_source(f) for f in folders]
    return sources


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _selection_sentence(meta: dict[str, Any]) -> str:
    """Which epoch's weights the model holds, and how that epoch was chosen."""
    split = "speaker-disjoint validation split" + (" of the fine-tuning data" if "start_val_uar" in meta else "")
    if meta.get("train", {}).get("keep") == "final":
        kept, best = meta.get("kept_epoch", "?"), meta.get("best_epoch")
        best_note = f"; its best epoch was {best}" if best != kept else ""
        text = (f"The weights of the last epoch ({kept}) of the schedule, validation UAR "
                f"{_pct(meta.get('val_uar'))} ({split}, monitored but not used to select{best_note})")
    else:
        text = f"Selected at epoch {meta.get('best_epoch', '?')} by validation UAR {_pct(meta.get('val_uar'))} ({split})"
    if "start_val_uar" not in meta:
        return text + "."
    if meta.get("best_epoch") == 0 and meta.get("train", {}).get("keep") != "final":
        return text + "; epoch 0 is the starting model, which no later epoch beat."
    return text + f"; {_pct(meta['start_val_uar'])} before fine-tuning."


def _selection_lines(meta: dict[str, Any]) -> list[str]:
    """How the weights were chosen: one sentence, or one per member of an ensemble."""
    members = meta.get("members")
    if not members:
        return [_selection_sentence(meta), ""]
    return [f"- Member {i} (`{m['model']}`, seed {m['train'].get('seed')}): {_selection_sentence(m)}"
            for i, m in enumerate(members, 1)] + [""]


def _excluded_clause(speakers: list[str]) -> str:
    """The speakers left out by ``train --exclude-speakers``, as a clause of the training-data sentence."""
    return (f"; {len(speakers)} listed speakers left out of training and validation ({', '.join(speakers)})"
            if speakers else "")


def _data_table(data: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = ["| split | corpus | utterances | speakers (f/m) | hours |", "|---|---|---|---|---|"]
    for split, rows in data.items():
        for row in rows:
            lines.append(f"| {split} | {row['corpus']} | {row['utterances']} | {row['speakers']} "
                         f"({row['female_speakers']}/{row['male_speakers']}) | {row['hours']:.2f} |")
    return lines


def _origin_lines(origin: dict[str, Any] | None, how: str) -> list[str]:
    """A model this one learnt from (``how``: "Fine-tuned from", "Distilled from"), and its training data."""
    if not origin:
        return []
    return [f"{how} `{origin['model']}`, which was trained on:", "", *_data_table(origin.get("data", {})), ""]


def _sources_table(sources: list[dict[str, str]]) -> list[str]:
    lines = ["| corpus | origin | licence |", "|---|---|---|"]
    for s in sources:
        origin = s.get("source repository", "?") + (f" @ {s['commit'][:12]}" if "commit" in s else "")
        lines.append(f"| {s.get('corpus', s['folder'])} | {origin} | {s.get('licence', 'not stated')} |")
    return lines


def _evaluation_section(evaluation: dict[str, Any], title: str) -> list[str]:
    overall = evaluation["overall"]
    lines = [f"## {title}", "", f"{overall['n']} clips: accuracy {_pct(overall['accuracy'])}, "
             f"UAR {_pct(overall['uar'])}, female recall {_pct(overall['per_class']['female']['recall'])}, "
             f"male recall {_pct(overall['per_class']['male']['recall'])}.", "",
             "| corpus | clips | UAR | female recall | male recall |", "|---|---|---|---|---|"]
    for corpus, m in evaluation.get("per_corpus", {}).items():
        lines.append(f"| {corpus} | {m['n']} | {_pct(m['uar'])} | {_pct(m['female_recall'])} | {_pct(m['male_recall'])} |")
    lines += ["", "| clip length | clips | accuracy | UAR |", "|---|---|---|---|"]
    for length, m in evaluation.get("by_length", {}).items():
        label = "full clip" if length == "full" else f"{length} s crop"
        lines.append(f"| {label} | {m['n']} | {_pct(m['accuracy'])} | {_pct(m['uar'])} |")
    if "calibration" in evaluation:
        lines += ["", f"Expected calibration error of p_female (10 bins): {evaluation['calibration']['ece']:.3f}."]
    if "children" in evaluation:
        c = evaluation["children"]
        lines += ["", f"Children (under 13) in this set: {c['n']} clips, accuracy {_pct(c['accuracy'])}, UAR {_pct(c['uar'])}."]
    return lines


def _calibration_sentence(inference: dict[str, Any]) -> str:
    """How p_female is calibrated (see ``voxgender.core.calibration``)."""
    c, check = inference.get("calibration"), inference.get("calibration_check")
    judged = "" if not check else (
        f" Judged on {check['clips']} validation clips of {check['speakers']} speakers, fitted on four fifths of the speakers "
        f"and scored on the fifth: log-loss {check['log_loss_before']:.4f} uncalibrated, {check['log_loss_out_of_fold']:.4f} "
        f"calibrated; expected calibration error {check['ece_before']:.3f} and {check['ece_out_of_fold']:.3f}.")
    if not c:
        return (" p_female is the network's own, uncalibrated" + (": a Platt scaling did not make it truer on speakers it "
                                                                  "was not fitted on (`voxgender calibrate`)." if check else ".") + judged)
    return (f" p_female is calibrated: sigmoid({c['scale']:.3f} × mean log-odds {c['bias']:+.3f}), Platt scaling fitted "
            "on the validation speakers of every corpus with both genders weighted alike (`voxgender calibrate`)." + judged)


def _encoder_lines(inference: dict[str, Any]) -> list[str]:
    """What ``predict --encoder`` and ``segment --encoder`` add, when the model carries a speaker encoder (``voxgender add-encoder``)."""
    setting = inference.get("speaker_encoder")
    if not setting:
        return []
    check = setting.get("check", {})
    return ["## Speaker encoder (`--encoder`)", "",
            "With `--encoder` (in Python `load_model(encoder=True)`), a file's decision also hears a speaker encoder: "
            "Resemblyzer's GE2E voice encoder (a 3-layer LSTM over 40 power-mel bands, trained for speaker verification "
            "on LibriSpeech train-other-500, VoxCeleb1 and VoxCeleb2 by Resemblyzer's authors; Apache-2.0, "
            "`speaker_encoder.LICENSE`), its weights stored in half precision. It never saw a gender label: a "
            f"logistic probe on its embeddings, fitted on {check.get('train_clips', '?')} clips of this model's training "
            f"speakers, gives female log-odds that are added to the network's at weight {setting['fusion_weight']:g}. "
            f"On the validation speakers the UAR went from {check.get('val_uar_network', float('nan')):.4f} to "
            f"{check.get('val_uar_fused', float('nan')):.4f}"
            + ("; a Platt scaling of the fused probability is kept, as it lowered the log-loss out of fold."
               if setting.get("calibration") else "; the fused probability carries no further calibration (a Platt "
               "scaling did not lower the log-loss out of fold).")
            + f" `segment --encoder` hears it along a recording: the probe's log-odds on its 1.6-s windows join every "
            f"frame's in the decoding at weight {ENCODER_WEIGHT:g} (`--encoder-weight`, chosen on validation "
            "conversations), and each segment's p_female fuses the two as a file's does.", ""]


def _cascade_sentence(inference: dict[str, Any]) -> str:
    """How `voxgender predict` runs an ensemble (see ``Model.cascade_margin``)."""
    margin = inference.get("cascade_margin", CASCADE_MARGIN)
    if margin is None:
        return ""
    return (f" `voxgender predict` runs it as a cascade: the first network hears every file, the others only the files "
            f"whose mean log-odds the first puts within ±{margin:g}, and a file it is surer of gets its answer "
            "(`--all-members` runs every network on every file).")


def _as_card_section(markdown: str) -> str:
    """A benchmark report inside the card: its headings one level down, its images left out (the
    card ships without them)."""
    lines = [("#" + line if line.startswith("#") else line) for line in markdown.strip().splitlines()
             if not line.startswith("![")]
    return "\n".join(lines)


def render_card(
    config: dict[str, Any], sources: list[dict[str, str]], evaluations: dict[str, dict[str, Any]] | None = None,
    name: str = "voxgender model", figures: str | None = None,
) -> str:
    """Markdown model card. ``evaluations`` maps a section title to an evaluate_model result;
    ``figures`` is Markdown with further measured figures (benchmarks/results/figures.md)."""
    meta = config.get("metadata", {})
    features, model = config["features"], config["model"]
    members = meta.get("members", [])
    train = dict(members[0]["train"], seed=", ".join(str(m["train"].get("seed")) for m in members)) if members \
        else meta.get("train", {})
    kind = (f"{features['n_mels']}-band log-mel" if features["kind"] == "logmel"
            else f"{features['n_mfcc']} MFCCs of {features['n_mels']} mel bands")
    if features.get("pitch_bins"):
        kind += (f" and {features['pitch_bins']} cepstral pitch bands "
                 f"({features['pitch_fmin']:g}-{features['pitch_fmax']:g} Hz)")
    kind += " + Δ + ΔΔ" if features["deltas"] else ""
    lines = [
        f"# Model card: {name}", "",
        "Speaker gender recognition (female / male) from the voice. "
        + (f"An ensemble of {len(members)} networks trained on the same split with different seeds, whose frame "
           "log-posteriors are averaged; each is a " if members else "A ")
        + f"{'bidirectional ' if model['bidirectional'] else 'unidirectional '}{model['layers']}-layer "
        f"{model['cell'].upper()} with {model['hidden']} units over {kind} features "
        f"({features['win_ms']:g} ms windows every {features['hop_ms']:g} ms)"
        + (", each frame less its recording's running mean (causal normalisation)" if model.get("normalisation") == "causal" else "")
        + f", a {model['dense']}-unit dense layer and "
        "a softmax over {female, male} per frame; a file's decision is the mean of its frame log-posteriors."
        + (_cascade_sentence(config.get("inference", {})) if members else "")
        + _calibration_sentence(config.get("inference", {})), "",
        *_selection_lines(meta),
        "## Training data", "",
        "Speaker-disjoint train / validation / test splits, stratified by corpus and gender"
        + (", children (under 13) left out of every split" if meta.get("exclude_children") else "")
        + _excluded_clause(meta.get("excluded_speakers", [])) + ".", "",
        *_data_table(meta.get("data", {})), "",
        *_origin_lines(meta.get("fine_tuned_from"), "Fine-tuned from"),
        *_origin_lines(meta.get("teacher"), "Distilled from"),
        "Origin and licence of each corpus. Some licences are non-commercial or research-only (none "
        "stated): a model trained on them inherits those terms, so this model is for research and "
        "evaluation unless you retrain it on data whose licence allows your use.", "",
        *_sources_table(sources), "",
        "## Training configuration", "",
        "| setting | value |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in train.items() if k != "augment"],
        f"| augmentation | {train.get('augment', {})} |", "",
    ]
    lines += _encoder_lines(config.get("inference", {}))
    for title, evaluation in (evaluations or {}).items():
        lines += [*_evaluation_section(evaluation, title), ""]
    if figures:
        lines += ["## Benchmarks", "", _as_card_section(figures), ""]
    lines += [LIMITS, RESPONSIBLE_USE]
    return "\n".join(lines)
