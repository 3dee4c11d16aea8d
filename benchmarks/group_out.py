"""Leave one group of corpora out: the choosing panel on speech of corpora a recipe never trained on.

The corpora fall into four groups of unlike speech; for each, a model trained with the recipe on the
other three groups scores the group's adults, apart from the test speakers of the twelve-corpus
split (kept for reporting), on the panel's groups (``panel.py``: every corpus, every emotion, TV
excerpts, 1-s crops, synthetic arousal). Hundreds of unseen speakers, where the validation panel
has a handful per group, so recipes are compared here, by the worst group.

    python benchmarks/group_out.py --out runs/logo_base
    python benchmarks/group_out.py --out runs/logo_pitch --train-args='--augment-set p_pitch=0.5'

``--encoder-wheel`` adds a speaker encoder to each fold's model (``voxgender add-encoder``, its
probe fitted on the fold's own training speakers) and scores with it (``predict --encoder``) into
``OUT/panel_encoder``:

    python benchmarks/group_out.py --out runs/logo_base --encoder-wheel runs/resemblyzer/Resemblyzer-0.1.4-py3-none-any.whl

``--leave-out`` makes one fold of the corpora it names instead: ``--leave-out ased`` scores the
Amharic emotions with the other emotional corpora heard, as the bundled model meets emotional
corpora it has never heard.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from accuracy_benchmark import DATA, bundled_recipe, corpus_folders, train_loco_model
from panel import score_records, write_outputs
from split_clips import flagged_speakers

from voxgender.io.model_dir import ENCODER_FILE
from voxgender.model import load_model
from voxgender.runtime import one_thread
from voxgender.training.data import Utterance, read_corpora, speaker_split

GROUPS = {
    "emotional": ("ased", "nemo", "emotiontts_kr_emotional", "emotiontts_kr_neutral", "baved"),
    "crowd_and_tv": ("mexican_voices", "commonvoice_subsets"),
    "read_and_telephone": ("librispeech_resemblyzer", "slr45_freest_en", "hyke_telephone"),
    "non_native_and_digits": ("speechocean762", "audiomnist_az"),
}


def choosing_clips(corpora: tuple[str, ...] | None = None) -> list[Utterance]:
    """The adults of these corpora (every group's when None) outside the test split, without the
    speakers the label audit flags: the clips a fold's model is scored on."""
    folders = corpus_folders()
    adults = [u for u in read_corpora(list(folders.values())) if not u.is_child]
    excluded = {u.speaker for u in speaker_split(adults)["test"]} | flagged_speakers()
    corpora = corpora or tuple(c for g in GROUPS.values() for c in g)
    return [u for u in adults if u.corpus in corpora and u.speaker not in excluded]


def with_encoder(model_dir: Path, fold: tuple[str, ...], wheel: Path) -> Path:
    """``model_dir`` with a speaker encoder added (``voxgender add-encoder`` on the fold's corpora),
    unless it has one."""
    if not (model_dir / ENCODER_FILE).is_file():
        folders = [str(p) for name, p in corpus_folders().items() if name not in fold]
        subprocess.run([str(Path(sys.executable).parent / "voxgender"), "add-encoder", "--model", str(model_dir),
                        "--data", *folders, "--wheel", str(wheel)], check=True)
    return model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-args", default="", help="`voxgender train` options after the bundled recipe's")
    parser.add_argument("--jobs", type=int, default=2, help="trainings in parallel")
    parser.add_argument("--leave-out", nargs="+", metavar="CORPUS", help="one fold of these corpora instead of the four groups")
    parser.add_argument("--encoder-wheel", type=Path, help="Resemblyzer's wheel: score with a speaker encoder added to each fold's model")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: no corpora at {DATA}")
        return
    folders = corpus_folders()
    missing = sorted(set(folders) - {c for group in GROUPS.values() for c in group})
    if missing:
        raise SystemExit(f"corpora in no group: {missing}")
    unknown = sorted(set(args.leave_out or ()) - set(folders))
    if unknown:
        parser.error(f"--leave-out: no such corpus in {DATA}: {', '.join(unknown)}")
    folds = {"+".join(args.leave_out): tuple(args.leave_out)} if args.leave_out else GROUPS
    options = [*bundled_recipe(), *shlex.split(args.train_args)]
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = dict(zip(folds, pool.map(lambda f: train_loco_model(f, folders, args.out, options, folds[f]), folds)))
    one_thread()  # one thread per network call, as voxgender predict runs
    records = []
    for fold, model_dir in runs.items():
        if args.encoder_wheel:
            model_dir = with_encoder(model_dir, folds[fold], args.encoder_wheel)
        model = load_model(model_dir, encoder=args.encoder_wheel is not None)
        records += score_records(model, choosing_clips(folds[fold]), seed=0, show=True)
    command = f"python benchmarks/group_out.py --out {args.out}"
    if args.leave_out:
        command += f" --leave-out {' '.join(args.leave_out)}"
    if args.train_args:
        command += f" --train-args={shlex.quote(args.train_args)}"
    if args.encoder_wheel:
        command += f" --encoder-wheel {args.encoder_wheel}"
    what = f"leave {', '.join(args.leave_out)} out" if args.leave_out else "leave one group of corpora out"
    recipe = (args.train_args or "the bundled recipe") + (", with the speaker encoder" if args.encoder_wheel else "")
    panel = args.out / ("panel_encoder" if args.encoder_wheel else "panel")
    write_outputs(panel, f"{what}, {recipe}", command, records)
    (panel / "command.json").write_text(json.dumps({"train_args": args.train_args, "leave_out": args.leave_out,
                                                    "encoder": args.encoder_wheel is not None}) + "\n")
    print((panel / "report.md").read_text().split("## Groups")[0])


if __name__ == "__main__":
    main()
