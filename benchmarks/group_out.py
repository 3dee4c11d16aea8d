"""Leave one group of corpora out: the choosing panel on speech of corpora a recipe never trained on.

The corpora fall into four groups of unlike speech; for each, a model trained with the recipe on the
other three groups scores the group's adults, apart from the test speakers of the twelve-corpus
split (kept for reporting), on the panel's groups (``panel.py``: every corpus, every emotion, TV
excerpts, 1-s crops, synthetic arousal). Hundreds of unseen speakers, where the validation panel
has a handful per group, so recipes are compared here, by the worst group.

    python benchmarks/group_out.py --out runs/logo_base
    python benchmarks/group_out.py --out runs/logo_pitch --train-args='--augment-set p_pitch=0.5'

``--leave-out`` makes one fold of the corpora it names instead: ``--leave-out ased`` scores the
Amharic emotions with the other emotional corpora heard, as the bundled model meets emotional
corpora it has never heard.
"""

from __future__ import annotations

import argparse
import json
import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from accuracy_benchmark import DATA, bundled_recipe, corpus_folders, train_loco_model
from panel import score_records, write_outputs
from split_clips import flagged_speakers

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-args", default="", help="`voxgender train` options after the bundled recipe's")
    parser.add_argument("--jobs", type=int, default=2, help="trainings in parallel")
    parser.add_argument("--leave-out", nargs="+", metavar="CORPUS", help="one fold of these corpora instead of the four groups")
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
        records += score_records(load_model(model_dir), choosing_clips(folds[fold]), seed=0, show=True)
    command = f"python benchmarks/group_out.py --out {args.out}"
    if args.leave_out:
        command += f" --leave-out {' '.join(args.leave_out)}"
    if args.train_args:
        command += f" --train-args={shlex.quote(args.train_args)}"
    what = f"leave {', '.join(args.leave_out)} out" if args.leave_out else "leave one group of corpora out"
    write_outputs(args.out / "panel", f"{what}, {args.train_args or 'the bundled recipe'}", command, records)
    (args.out / "panel" / "command.json").write_text(json.dumps({"train_args": args.train_args, "leave_out": args.leave_out}) + "\n")
    print((args.out / "panel" / "report.md").read_text().split("## Groups")[0])


if __name__ == "__main__":
    main()
