#!/usr/bin/env python3
"""Peers, side by side, same clips, same run.

Compares voxgender's bundled model with three gender recognisers people use
today, on the bundled model's held-out TEST speakers:

* ``praat_f0_165``   median F0 from Praat's pitch tracker (praat-parselmouth,
                      default ``To Pitch``: 75-600 Hz); female if median > 165 Hz.
* ``voice2gender``    PyPI voice2gender, its bundled XGBoost booster (20 Kaggle
                      "voice gender" features); audio resampled to its
                      documented 44.1 kHz int16 input.
* ``pyaudioanalysis`` pyAudioAnalysis's shipped ``svm_rbf_speaker_male_female``
                      SVM (mid-term feature averages over the clip), run
                      exactly as ``audioTrainTest.file_classification`` does,
                      with the FLAC decoded to int16 by soundfile (its own
                      reader only knows WAV/AIFF, and MP3/OGG through ffmpeg).
* ``voxgender``       ``voxgender predict --files-from LIST --format jsonl`` run
                      as a subprocess with the package's venv, timed end to end.

Run with the peers' venv (built by ``benchmarks/peers/setup.sh``)::

    benchmarks/.venv-peers/bin/python benchmarks/peers_benchmark.py

Every tool sees the same clips in the same run. A clip a tool fails on (it
raises, or returns no decision) counts as a WRONG answer in its UAR and recalls,
and is also counted in the ``failures`` column.

Speed is ×real-time: seconds of audio / wall-clock seconds for that tool's
whole pass over all clips, including imports, model loading (once) and
decoding. The CPU-time variant (audio s / CPU s of the process doing the work)
is reported beside it, because on a shared 2-core machine the wall figure
depends on what else runs; the load average is recorded before and after each
tool.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_DATA = Path(os.environ.get("VOXGENDER_DATA", REPO.parent / "shared" / "data"))
DEFAULT_SPLITS = REPO / "src" / "voxgender" / "pretrained" / "voxgender-gru" / "splits.json"
DEFAULT_VOXGENDER = REPO / ".venv" / "bin" / "voxgender"
DEFAULT_OUT = HERE / "results" / "peers"
ALL_TOOLS = ("voxgender", "praat_f0_165", "voice2gender", "pyaudioanalysis")
# Opt-in variants (--tools ...): voice2gender fed the clips' own 16 kHz instead of
# its documented 44.1 kHz input (0.1.1 accepts any rate; its frame sizes are in samples).
EXTRA_TOOLS = ("voice2gender_native",)
F0_THRESHOLD_HZ = 165.0
LABELS = ("f", "m")


# --------------------------------------------------------------------------
# Clips


def load_clips(data_dir: Path, splits_path: Path, max_per_corpus: int | None, seed: int):
    """Test-speaker clips of every corpus in data_dir, optionally capped per corpus.

    The cap keeps both genders and spreads the clips over speakers: each
    gender's clips are ordered round-robin over its speakers (clips shuffled
    within a speaker with a fixed seed), then female and male are interleaved.
    """
    test = set(json.loads(splits_path.read_text())["test"])
    rng = random.Random(seed)
    clips = []
    for labels in sorted(data_dir.glob("*/labels.csv")):
        corpus_dir = labels.parent
        with labels.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["speaker"] in test]
        if not rows:
            continue
        if max_per_corpus:
            by_gender = {}
            for g in LABELS:
                per_spk = defaultdict(list)
                for r in rows:
                    if r["gender"] == g:
                        per_spk[r["speaker"]].append(r)
                order = []
                lists = []
                for spk in sorted(per_spk):
                    lst = sorted(per_spk[spk], key=lambda r: r["path"])
                    rng.shuffle(lst)
                    lists.append(lst)
                depth = 0
                while any(depth < len(lst) for lst in lists):
                    order += [lst[depth] for lst in lists if depth < len(lst)]
                    depth += 1
                by_gender[g] = order
            picked = []
            i = 0
            while len(picked) < max_per_corpus and (
                i < len(by_gender["f"]) or i < len(by_gender["m"])
            ):
                for g in LABELS:
                    if i < len(by_gender[g]) and len(picked) < max_per_corpus:
                        picked.append(by_gender[g][i])
                i += 1
            rows = picked
        for r in rows:
            age = r.get("age") or ""
            clips.append(
                {
                    "corpus": corpus_dir.name,
                    "rel": r["path"],
                    "path": str((corpus_dir / r["path"]).resolve()),
                    "speaker": r["speaker"],
                    "gender": r["gender"],
                    "age": int(float(age)) if age.strip() else None,
                    "duration_s": float(r["duration_s"]),
                }
            )
    return clips


# --------------------------------------------------------------------------
# Tools. Each returns (predictions, timing) where predictions is a list, one
# per clip, of {"pred": "f"|"m"|None, "p_female": float|None, "error": str|None}.


def _cpu_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _read_int16(path: str):
    import soundfile as sf

    x, sr = sf.read(path, dtype="int16", always_2d=True)
    return x.mean(axis=1).astype("int16") if x.shape[1] > 1 else x[:, 0], sr


def run_praat(clips):
    import numpy as np
    import parselmouth

    out = []
    for c in clips:
        try:
            x, sr = _read_int16(c["path"])
            snd = parselmouth.Sound(x.astype(np.float64) / 32768.0, sampling_frequency=sr)
            f0 = snd.to_pitch().selected_array["frequency"]
            f0 = f0[f0 > 0]
            if f0.size == 0:
                raise ValueError("no voiced frame")
            med = float(np.median(f0))
            out.append({"pred": "f" if med > F0_THRESHOLD_HZ else "m", "p_female": None,
                        "score": med, "error": None})
        except Exception as exc:  # noqa: BLE001 - a peer's failure is data
            out.append({"pred": None, "p_female": None, "score": None,
                        "error": f"{type(exc).__name__}: {exc}"})
    return out


def run_voice2gender(clips, resample=True):
    import numpy as np
    from scipy.signal import resample_poly
    from voice2gender import predict

    target = 44_100
    out = []
    for c in clips:
        try:
            x, sr = _read_int16(c["path"])
            rate = target if resample else sr
            if rate != sr:
                g = np.gcd(sr, rate)
                y = resample_poly(x.astype(np.float64), rate // g, sr // g)
                x = np.clip(np.round(y), -32768, 32767).astype("<i2")
            res = predict([x.astype("<i2").tobytes()], sample_rate=int(rate))
            pf = float(res["female_probability"])
            out.append({"pred": "f" if pf >= 0.5 else "m", "p_female": pf,
                        "score": pf, "error": None})
        except Exception as exc:  # noqa: BLE001
            out.append({"pred": None, "p_female": None, "score": None,
                        "error": f"{type(exc).__name__}: {exc}"})
    return out


def run_pyaudioanalysis(clips):
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        # pydub warns at import that ffmpeg is absent (not used here); sklearn
        # warns that the SVC was pickled with scikit-learn 0.24.2.
        warnings.simplefilter("ignore")
        import pyAudioAnalysis
        from pyAudioAnalysis import MidTermFeatures as aF
        from pyAudioAnalysis import audioTrainTest as aT

        model = os.path.join(
            os.path.dirname(pyAudioAnalysis.__file__), "data", "models",
            "svm_rbf_speaker_male_female",
        )
        clf, mean, std, classes, mid_w, mid_s, short_w, short_s, beat = aT.load_model(model)
    cls = [str(c).lower() for c in classes]  # ['male', 'female']
    out = []
    for c in clips:
        try:
            x, sr = _read_int16(c["path"])
            # as audioTrainTest.file_classification, from the decoded signal
            w = min(mid_w, x.shape[0] / float(sr))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                feats, st, _ = aF.mid_feature_extraction(
                    x, sr, w * sr, mid_s * sr, round(sr * short_w), round(sr * short_s)
                )
                feats = feats.mean(axis=1)
                if beat:
                    b, bc = aF.beat_extraction(st, short_s)
                    feats = np.append(feats, [b, bc])
                fv = (feats - mean) / std
                if not np.all(np.isfinite(fv)):
                    raise ValueError("non-finite features")
                cid, prob = aT.classifier_wrapper(clf, "svm_rbf", fv)
            name = cls[int(cid)]
            pf = float(prob[cls.index("female")])
            out.append({"pred": "f" if name == "female" else "m", "p_female": pf,
                        "score": pf, "error": None})
        except Exception as exc:  # noqa: BLE001
            out.append({"pred": None, "p_female": None, "score": None,
                        "error": f"{type(exc).__name__}: {exc}"})
    return out


def run_voxgender(clips, exe: Path, workdir: Path):
    listing = workdir / "voxgender_files.txt"
    listing.write_text("".join(c["path"] + "\n" for c in clips))
    proc = subprocess.run(
        [str(exe), "predict", "--files-from", str(listing), "--format", "jsonl"],
        capture_output=True, text=True, check=False,
    )
    by_path = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        rec = json.loads(line)
        by_path[rec["path"]] = rec
    out = []
    for c in clips:
        rec = by_path.get(c["path"])
        if rec is None:
            err = f"no output line (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
            out.append({"pred": None, "p_female": None, "score": None, "error": err})
        elif "error" in rec:
            out.append({"pred": None, "p_female": None, "score": None, "error": rec["error"]})
        else:
            pred = {"female": "f", "male": "m"}.get(rec.get("label"))
            pf = rec.get("p_female")
            out.append({"pred": pred, "p_female": pf, "score": pf,
                        "error": None if pred else f"unknown label {rec.get('label')!r}"})
    return out


def timed(tool: str, clips, args, workdir: Path):
    load_before = os.getloadavg()
    cpu0, cpuc0 = _cpu_self(), _cpu_children()
    t0 = time.perf_counter()
    if tool == "voxgender":
        preds = run_voxgender(clips, args.voxgender, workdir)
    elif tool == "praat_f0_165":
        preds = run_praat(clips)
    elif tool == "voice2gender":
        preds = run_voice2gender(clips)
    elif tool == "voice2gender_native":
        preds = run_voice2gender(clips, resample=False)
    elif tool == "pyaudioanalysis":
        preds = run_pyaudioanalysis(clips)
    else:
        raise ValueError(tool)
    wall = time.perf_counter() - t0
    cpu = (_cpu_self() - cpu0) + (_cpu_children() - cpuc0)
    return preds, {
        "wall_s": wall,
        "cpu_s": cpu,
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
    }


# --------------------------------------------------------------------------
# Metrics and report


def _decided(truth, preds):
    """Predictions with failures turned into the wrong answer."""
    other = {"f": "m", "m": "f"}
    return [p if p in LABELS else other[t] for t, p in zip(truth, preds)]


def metrics(clips, preds):
    from sklearn.metrics import balanced_accuracy_score, recall_score

    def block(idx):
        if not idx:
            return None
        truth = [clips[i]["gender"] for i in idx]
        raw = [preds[i]["pred"] for i in idx]
        y = _decided(truth, raw)
        res = {
            "clips": len(idx),
            "speakers": len({clips[i]["speaker"] for i in idx}),
            "failures": sum(p is None for p in raw),
        }
        if len(set(truth)) == 2:
            res["uar"] = float(balanced_accuracy_score(truth, y))
        else:
            res["uar"] = None
        for g, name in (("f", "female_recall"), ("m", "male_recall")):
            res[name] = (
                float(recall_score(truth, y, labels=[g], average="macro", zero_division=0))
                if g in truth else None
            )
        res["accuracy"] = sum(a == b for a, b in zip(truth, y)) / len(idx)
        return res

    all_idx = list(range(len(clips)))
    per_corpus = {}
    for corpus in sorted({c["corpus"] for c in clips}):
        per_corpus[corpus] = block([i for i in all_idx if clips[i]["corpus"] == corpus])
    uars = [v["uar"] for v in per_corpus.values() if v and v["uar"] is not None]
    children = [i for i in all_idx if clips[i]["age"] is not None and clips[i]["age"] < 13]
    adults_so = [i for i in all_idx if clips[i]["corpus"] == "speechocean762"
                 and clips[i]["age"] is not None and clips[i]["age"] >= 13]
    return {
        "overall": block(all_idx),
        "mean_corpus_uar": sum(uars) / len(uars) if uars else None,
        "per_corpus": per_corpus,
        "children_under_13": block(children),
        "speechocean762_13_and_over": block(adults_so),
    }


def fmt(v, digits=3):
    return "–" if v is None else f"{v:.{digits}f}"


def markdown_table(tools, results, corpora, audio_s):
    head = (["tool"] + [c for c in corpora]
            + ["mean corpus UAR", "pooled UAR", "female recall", "male recall",
               "×RT wall", "×RT CPU", "failures"])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for t in tools:
        m = results[t]["metrics"]
        tm = results[t]["timing"]
        row = [t] + [fmt(m["per_corpus"][c]["uar"]) for c in corpora]
        row += [
            fmt(m["mean_corpus_uar"]), fmt(m["overall"]["uar"]),
            fmt(m["overall"]["female_recall"]), fmt(m["overall"]["male_recall"]),
            f"{audio_s / tm['wall_s']:.0f}", f"{audio_s / max(tm['cpu_s'], 1e-9):.0f}",
            f"{m['overall']['failures']}/{m['overall']['clips']}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def bar_chart(tools, results, corpora, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = list(corpora) + ["pooled"]
    x = np.arange(len(groups))
    width = 0.8 / len(tools)
    fig, ax = plt.subplots(figsize=(10, 5), dpi=120)
    for k, t in enumerate(tools):
        m = results[t]["metrics"]
        vals = [m["per_corpus"][c]["uar"] or 0.0 for c in corpora] + [m["overall"]["uar"] or 0.0]
        bars = ax.bar(x + (k - (len(tools) - 1) / 2) * width, vals, width, label=t)
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, v + 0.005, f"{v:.2f}", ha="center",
                    va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(x)
    ax.set_xticklabels([g.replace("_", "\n", 1) for g in groups], fontsize=8)
    ax.set_ylabel("UAR (balanced accuracy)")
    ax.set_ylim(0.4, 1.08)
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.set_title("Gender recognition on voxgender's held-out test speakers: UAR per corpus")
    ax.legend(fontsize=8, ncol=len(tools), loc="upper center", bbox_to_anchor=(0.5, -0.13),
              frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def failure_summary(clips, preds, limit=3):
    msgs = defaultdict(list)
    for c, p in zip(clips, preds):
        if p["pred"] is None:
            msgs[(p["error"] or "?")[:120]].append(f"{c['corpus']}/{c['rel']}")
    out = []
    for msg, paths in sorted(msgs.items(), key=lambda kv: -len(kv[1])):
        out.append({"error": msg, "count": len(paths), "examples": paths[:limit]})
    return out


def bundled_model_info(splits: Path):
    """sha256 and training summary of the model folder that holds splits.json."""
    import hashlib

    folder = splits.parent
    info = {"folder": str(folder.relative_to(REPO)) if folder.is_relative_to(REPO) else str(folder)}
    weights = folder / "model.safetensors"
    if weights.is_file():
        info["model_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
        info["model_bytes"] = weights.stat().st_size
    cfg = folder / "config.json"
    if cfg.is_file():
        try:
            c = json.loads(cfg.read_text())
            info["features"] = c.get("features", {}).get("kind")
            info["cell"] = c.get("model", {}).get("cell")
            info["hidden"] = c.get("model", {}).get("hidden")
            info["layers"] = c.get("model", {}).get("layers")
        except (ValueError, AttributeError):
            pass
    return info


def main(argv=None):  # noqa: C901 - the run of every peer tool, in order
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder of corpora with labels.csv (default: ../shared/data)")
    ap.add_argument("--splits", type=Path, default=DEFAULT_SPLITS,
                    help="splits.json whose 'test' speakers are used (default: the bundled model's)")
    ap.add_argument("--voxgender", type=Path, default=DEFAULT_VOXGENDER,
                    help="voxgender executable (default: .venv/bin/voxgender)")
    ap.add_argument("--max-per-corpus", type=int, default=0,
                    help="cap on clips per corpus, balanced by gender and spread over "
                         "speakers; 0 = all test clips (the default: 415 clips, ~22 min "
                         "of audio, a few minutes on 2 cores)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS),
                    help=f"comma-separated subset of {','.join(ALL_TOOLS)} (default: all), "
                         f"optionally with {','.join(EXTRA_TOOLS)}")
    ap.add_argument("--repeats", type=int, default=1,
                    help="timed passes per tool, in rotated order; speeds are the median "
                         "(default 1: one pass, ~2-4 min on a busy 2-core machine)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    args.splits = args.splits.resolve()
    args.out = args.out.resolve()

    if not args.data.is_dir() or not any(args.data.glob("*/labels.csv")):
        print(f"skipped: no corpora at {args.data} (folders with labels.csv); "
              "the peers benchmark needs ../shared/data")
        return 0
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in ALL_TOOLS + EXTRA_TOOLS]
    if bad:
        ap.error(f"unknown tool(s) {bad}; choose from {ALL_TOOLS}")
    if "voxgender" in tools and not args.voxgender.exists():
        ap.error(f"voxgender executable not found: {args.voxgender} (run `make install`)")
    missing = []
    for mod, tool in (("parselmouth", "praat_f0_165"), ("voice2gender", "voice2gender"),
                      ("voice2gender", "voice2gender_native"),
                      ("pyAudioAnalysis", "pyaudioanalysis"), ("soundfile", None),
                      ("sklearn", None), ("matplotlib", None)):
        if (tool is None or tool in tools):
            import importlib.util

            if importlib.util.find_spec(mod) is None:
                missing.append(mod)
    if missing:
        print(f"error: {', '.join(missing)} not importable by {sys.executable}.\n"
              "Build the peers venv and run with it:\n"
              "  bash benchmarks/peers/setup.sh\n"
              "  benchmarks/.venv-peers/bin/python benchmarks/peers_benchmark.py",
              file=sys.stderr)
        return 2

    clips = load_clips(args.data, args.splits, args.max_per_corpus or None, args.seed)
    if not clips:
        print(f"skipped: none of the test speakers of {args.splits} is in {args.data}")
        return 0
    corpora = sorted({c["corpus"] for c in clips})
    audio_s = sum(c["duration_s"] for c in clips)
    print(f"{len(clips)} clips, {audio_s:.0f} s of audio, {len({c['speaker'] for c in clips})} "
          f"test speakers, corpora: {', '.join(corpora)}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "cache"
    cache.mkdir(exist_ok=True)

    # Read every clip once so that no tool pays for a cold disk cache.
    for c in clips:
        Path(c["path"]).read_bytes()

    model_info = bundled_model_info(args.splits)
    startup = None
    if "voxgender" in tools:
        # voxgender's fixed cost (process start, torch import, model load) on one clip,
        # reported beside its ×RT; the main pass below includes it once.
        t0 = time.perf_counter()
        run_voxgender(clips[:1], args.voxgender, cache)
        startup = time.perf_counter() - t0
        print(f"voxgender on one clip (start-up cost): {startup:.1f} s", flush=True)

    results = {}
    passes = defaultdict(list)
    for r in range(max(1, args.repeats)):
        # rotate the order on each repeat so that no tool always meets the same load
        order = tools[r % len(tools):] + tools[:r % len(tools)]
        for t in order:
            print(f"[pass {r + 1}] running {t} ...", end=" ", flush=True)
            preds, timing = timed(t, clips, args, cache)
            passes[t].append(timing)
            if t not in results:  # every tool here is deterministic: keep the first pass
                m = metrics(clips, preds)
                results[t] = {"metrics": m, "failures": failure_summary(clips, preds),
                              "_preds": preds}
            m = metrics(clips, preds)
            print(f"{timing['wall_s']:.1f} s wall, {audio_s / timing['wall_s']:.0f}× real-time, "
                  f"UAR {fmt(m['overall']['uar'])}, {m['overall']['failures']} failures", flush=True)
    for t in tools:
        ps = passes[t]
        results[t]["timing"] = {
            "wall_s": statistics.median(p["wall_s"] for p in ps),
            "cpu_s": statistics.median(p["cpu_s"] for p in ps),
            "passes": ps,
        }

    # per-clip predictions (paths point into ../shared/data: kept out of git)
    with (cache / "predictions.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["corpus", "path", "speaker", "gender", "age", "duration_s"]
                   + [f"{t}_{k}" for t in tools for k in ("pred", "score", "error")])
        for i, c in enumerate(clips):
            row = [c["corpus"], c["rel"], c["speaker"], c["gender"], c["age"], c["duration_s"]]
            for t in tools:
                p = results[t]["_preds"][i]
                row += [p["pred"] or "", "" if p["score"] is None else f"{p['score']:.4f}",
                        p["error"] or ""]
            w.writerow(row)

    table = markdown_table(tools, results, corpora, audio_s)
    print()
    print(table)

    ncpu = os.cpu_count()
    loads = [p[k][0] for t in tools for p in passes[t] for k in ("loadavg_before", "loadavg_after")]
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    spk = {c: len({x["speaker"] for x in clips if x["corpus"] == c}) for c in corpora}
    nclip = {c: sum(x["corpus"] == c for x in clips) for c in corpora}
    md = [
        "# Peers, side by side: same clips, same run",
        "",
        f"Generated by `benchmarks/peers_benchmark.py` on {now}. Clips: the held-out **test "
        f"speakers** of the bundled model (`{args.splits.relative_to(REPO) if args.splits.is_relative_to(REPO) else args.splits}`, "
        f"key `test`), {len(clips)} clips, {audio_s:.0f} s of audio"
        + (f", at most {args.max_per_corpus} per corpus" if args.max_per_corpus else ", all of them")
        + ".",
        "",
        "Clips (speakers) per corpus: " + ", ".join(f"{c} {nclip[c]} ({spk[c]})" for c in corpora)
        + ". Few speakers (slr45_freest_en has 2, audiomnist_az and baved 6) make a per-corpus "
        "UAR coarse: one speaker misjudged moves it a lot.",
        "",
        f"voxgender model: `{model_info.get('folder')}` "
        f"({model_info.get('cell')}, {model_info.get('layers')}×{model_info.get('hidden')}, "
        f"{model_info.get('features')}; sha256 `{str(model_info.get('model_sha256', '?'))[:12]}…`, "
        f"{model_info.get('model_bytes', 0) / 1e3:.0f} kB).",
        "",
        table,
        "",
        "![UAR per corpus](peers_uar.png)",
        "",
        "- **UAR** = balanced accuracy (mean of female and male recall, scikit-learn). "
        "*mean corpus UAR* averages the per-corpus figures; *pooled UAR* is over all clips.",
        "- **A failure counts as a wrong answer** (in UAR and recalls) and is also listed in "
        "*failures*.",
        "- **×RT wall** = seconds of audio / wall-clock seconds of the tool's whole pass "
        "(imports, model loading once, decoding, features, model). **×RT CPU** = seconds of "
        "audio / CPU seconds of that pass (user+system, the voxgender subprocess included): "
        "less sensitive to other jobs on the machine, though not immune (threads that "
        "spin-wait while descheduled still burn CPU)."
        + (f" Both are the median of {args.repeats} passes per tool, the tools' order "
           "rotated on each pass; every pass is in peers.json." if args.repeats > 1 else ""),
        f"- Machine: {ncpu} cores, {platform.python_implementation()} {platform.python_version()}; "
        f"1-min load average {min(loads):.1f}–{max(loads):.1f} during the run, the benchmark "
        "itself included; wall-clock speeds depend on it and on the machine, so compare tools "
        "within one run: all tools ran one after another in the same run.",
        "- voxgender's clips are *unseen speakers* of corpora it was trained on; the peers "
        "were trained elsewhere (voice2gender: Kaggle voice-gender features; pyAudioAnalysis: "
        "its own speaker data), so every corpus here is out-of-domain for them.",
        f"- Children (age < 13, speechocean762, {sum(1 for c in clips if c['age'] is not None and c['age'] < 13)} clips): "
        + "; ".join(
            f"{t} UAR {fmt(results[t]['metrics']['children_under_13']['uar'] if results[t]['metrics']['children_under_13'] else None)}"
            for t in tools)
        + " — versus speechocean762 speakers aged 13 and over: "
        + "; ".join(
            f"{t} {fmt((results[t]['metrics']['speechocean762_13_and_over'] or {}).get('uar'))}"
            for t in tools)
        + ".",
        "",
        "## How each tool was run",
        "",
        "- `voxgender`: `voxgender predict --files-from LIST --format jsonl` (package venv), "
        "bundled model, one subprocess over all clips, timed end to end (process start, "
        "torch import, model load included)"
        + (f"; the same command on one clip took {startup:.1f} s, the fixed start-up cost inside "
           "its ×RT." if startup is not None else "."),
        "- `praat_f0_165`: praat-parselmouth `Sound.to_pitch()` with Praat's defaults "
        "(floor 75 Hz, ceiling 600 Hz); median F0 of voiced frames; female if > 165 Hz. "
        "A clip with no voiced frame is a failure.",
        "- `voice2gender`: PyPI voice2gender 0.1.1, bundled XGBoost booster (xgboost 3.2, "
        "installed `--no-deps`); audio resampled 16 kHz → 44.1 kHz int16 (its documented "
        "input) with `scipy.signal.resample_poly`; female if `female_probability` ≥ 0.5. "
        "It raises `ValueError` on clips it cannot extract features from: failures."
        + (" `voice2gender_native` (opt-in) is the same model fed the clips' own 16 kHz "
           "samples, outside its documented contract." if "voice2gender_native" in tools else ""),
        "- `pyaudioanalysis`: pyAudioAnalysis 0.3.14's shipped `svm_rbf_speaker_male_female` "
        "model (`data/models/` inside the installed package), the steps of "
        "`audioTrainTest.file_classification` on the FLAC decoded to int16 by soundfile "
        "(its own reader has no FLAC); the SVC was pickled by scikit-learn 0.24.2 and is "
        "loaded by a current scikit-learn (it warns; predictions are sane).",
        "",
        "## Failures",
        "",
    ]
    anyfail = False
    for t in tools:
        for f in results[t]["failures"]:
            anyfail = True
            md.append(f"- `{t}`: {f['count']} × `{f['error']}` (e.g. {', '.join(f['examples'])})")
    if not anyfail:
        md.append("None.")
    md += [
        "",
        "## Reproduce",
        "",
        "```bash",
        "bash benchmarks/peers/setup.sh          # benchmarks/.venv-peers (python3.11)",
        "benchmarks/.venv-peers/bin/python benchmarks/peers_benchmark.py"
        + (f" --max-per-corpus {args.max_per_corpus}" if args.max_per_corpus else "")
        + ("" if tools == list(ALL_TOOLS) else f" --tools {','.join(tools)}")
        + (f" --repeats {args.repeats}" if args.repeats > 1 else ""),
        "```",
        "",
    ]
    (args.out / "peers.md").write_text("\n".join(md))
    bar_chart(tools, results, corpora, args.out / "peers_uar.png")

    def _ver(dist):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(dist)
        except PackageNotFoundError:
            return None

    payload = {
        "generated": now,
        "splits": str(args.splits.relative_to(REPO)) if args.splits.is_relative_to(REPO) else str(args.splits),
        "max_per_corpus": args.max_per_corpus or None,
        "clips": len(clips),
        "audio_s": audio_s,
        "clips_per_corpus": nclip,
        "speakers_per_corpus": spk,
        "cpu_count": ncpu,
        "python": platform.python_version(),
        "versions": {d: _ver(d) for d in ("praat-parselmouth", "voice2gender", "xgboost",
                                          "pyAudioAnalysis", "scikit-learn", "numpy", "scipy")},
        "failure_policy": "a failure counts as a wrong answer in UAR and recalls",
        "voxgender_model": model_info,
        "voxgender_startup_1clip_s": startup,
        "tools": {
            t: {
                "metrics": results[t]["metrics"],
                "timing": results[t]["timing"],
                "x_realtime_wall": audio_s / results[t]["timing"]["wall_s"],
                "x_realtime_cpu": audio_s / max(results[t]["timing"]["cpu_s"], 1e-9),
                "failures": results[t]["failures"],
            }
            for t in tools
        },
    }
    (args.out / "peers.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.out / 'peers.md'}, peers.json, peers_uar.png "
          f"(per-clip predictions: {cache / 'predictions.csv'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
