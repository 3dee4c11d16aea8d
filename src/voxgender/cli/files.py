"""``voxgender predict``, ``segment`` and ``batch``: files, long recordings and many of them."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from voxgender.cli.config_options import Option, add_config_options, config_from_args
from voxgender.cli.inputs import add_all_members, add_encoder, add_inputs, add_speech_check, exit_status, input_paths
from voxgender.errors import VoxgenderError
from voxgender.io.progress import say
from voxgender.io.records import FORMATS, RecordWriter
from voxgender.runtime import one_thread, use_threads

if TYPE_CHECKING:
    from voxgender.segment import SegmentConfig


# -- predict -------------------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    from voxgender.model import load_model
    from voxgender.predict import iter_predictions

    paths = input_paths(args)
    one_thread()  # parallelism comes from one batch per core in iter_predictions
    model = load_model(args.model, all_members=args.all_members, min_confidence=args.min_confidence,
                       speech_check=args.speech_check, encoder=args.encoder)
    writer = RecordWriter(args.format)
    show = args.format in ("table", "json") or sys.stdout.isatty()
    failures = 0
    for record in iter_predictions(model, paths, args.aggregation, show_progress=show):
        failures += "error" in record
        writer.write(record)
    writer.close()
    return exit_status(failures, len(paths))


def add_predict(p: argparse.ArgumentParser) -> None:
    add_inputs(p)
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--model", help="model directory (default: the bundled model)")
    p.add_argument("--aggregation", choices=("mean_log", "majority", "speech_mean_log"), help="how frame posteriors become one decision")
    p.add_argument("--min-confidence", type=float, default=0.0, metavar="C",
                   help="label a file 'unknown' when its calibrated confidence is below C (0.5-1; default 0: always decide)")
    add_encoder(p)
    add_speech_check(p)
    add_all_members(p)
    p.set_defaults(handler=cmd_predict)



# -- segment and batch: long recordings and many files -------------------------------------------
SEGMENT_OPTIONS: list[Option] = [
    ("--min-speech", "min_speech_s", "shortest female/male segment (s)"),
    ("--min-nonspeech", "min_nonspeech_s", "shortest pause (s)"),
    ("--switch-penalty", "switch_penalty", "cost of a female<->male change"),
    ("--speech-penalty", "speech_penalty", "cost of a speech<->non-speech change"),
    ("--speech-threshold", "speech_threshold", "VAD probability taken as even odds"),
    ("--vad-floor", "vad_floor", "VAD probabilities are clipped to [floor, 1 - floor]"),
    ("--male-bias", "male_bias", "log-odds added for male against female"),
    ("--warmup", "warmup_s", "seconds over which gender evidence grows to full weight after each RNN restart"),
    ("--reset-after", "reset_after_s", "the RNN restarts at speech after a pause this long (s)"),
    ("--preroll", "preroll_s", "each restart runs the RNN from this long before it, output dropped (s)"),
    ("--min-confidence", "min_confidence", "label speech 'unknown' where its calibrated confidence is below C (segment: "
                                           "per segment; batch --task predict: per file)"),
    ("--rnn-window", "window_s", "the RNN also restarts this often, to follow turn changes without a pause (s; 0: the model's window)"),
    ("--offset-db", "offset_db", "speech before a pause ends at its last frame within this many dB of its loud frames (0: off)"),
    ("--offset-max", "offset_max_s", "an end moves back by at most this much (s)"),
    ("--encoder-weight", "encoder_weight", "with --encoder: weight of the speaker encoder's log-odds added to each frame's"),
    ("--encoder-step", "encoder_step_s", "with --encoder: the speaker encoder's 1.6-s windows start this often (s)"),
]


def add_segment_options(p: argparse.ArgumentParser) -> None:
    from voxgender.segment import SegmentConfig

    add_config_options(p.add_argument_group("segmentation"), SegmentConfig(), SEGMENT_OPTIONS)


def segment_config(args: argparse.Namespace) -> "SegmentConfig":
    from voxgender.segment import SegmentConfig

    try:
        return config_from_args(SegmentConfig, args, SEGMENT_OPTIONS)
    except ValueError as err:
        raise VoxgenderError(f"segmentation settings: {err}") from None


def cmd_segment(args: argparse.Namespace) -> int:

    from voxgender.model import load_model
    from voxgender.segment import Segmenter
    from voxgender.segment_files import segment_inputs

    paths = input_paths(args)
    use_threads(args.threads)
    segmenter = Segmenter(load_model(args.model, encoder=args.encoder), segment_config(args))
    return exit_status(segment_inputs(segmenter, paths, args.format, args.out, args.plot), len(paths))


def add_segment(p: argparse.ArgumentParser) -> None:
    from voxgender.io.timelines import SEGMENT_FORMATS

    add_inputs(p)
    p.add_argument("--format", choices=SEGMENT_FORMATS, default="csv")
    p.add_argument("--out", metavar="DIR", help="write one timeline per input (and summary.csv) here; default: stdout")
    p.add_argument("--plot", action="store_true", help="also draw each timeline as DIR/NAME.png")
    p.add_argument("--model", help="model directory (default: the bundled model)")
    p.add_argument("--threads", type=int, default=1, help="threads per network call (silero-vad runs in a thread of its own)")
    add_encoder(p)
    add_segment_options(p)
    p.set_defaults(handler=cmd_segment)


def cmd_batch(args: argparse.Namespace) -> int:
    from voxgender.batch.local import BatchJob, run_batch
    from voxgender.batch.output import output_kind

    paths = input_paths(args)
    output_kind(args.out)
    try:
        job = BatchJob(args.task, args.model, segment_config(args), args.all_members, args.speech_check, args.encoder)
    except ValueError as err:
        raise VoxgenderError(str(err)) from None
    if args.engine == "ray":
        from voxgender.batch.ray import run_ray_batch

        summary = run_ray_batch(paths, job, args.out, args.workers, args.resume, args.ray_address)
    else:
        summary = run_batch(paths, job, args.out, args.workers, args.resume)
    share = "n/a" if summary["female_share"] is None else f"{100 * summary['female_share']:.1f}%"
    if summary.get("female_share_95"):
        low, high = summary["female_share_95"]
        share += f" (95% interval over the files {100 * low:.1f}-{100 * high:.1f}%)"
    what = "speech time" if args.task == "segment" else "audio of files labelled female"
    print(f"files: {summary['files']}, failures: {summary['failures']}, audio: {summary['hours']:.3f} h, "
          f"female share: {share} ({what})")
    if summary.get("collection"):
        from voxgender.segment_files import describe_collection

        print(describe_collection(summary["collection"]))
    say(f"results: {args.out}")
    return 1 if summary["files"] and summary["failures"] == summary["files"] else 0


def add_batch(p: argparse.ArgumentParser) -> None:
    from voxgender.batch.local import TASKS, default_workers

    add_inputs(p)
    p.add_argument("--task", choices=TASKS, default="predict")
    p.add_argument("--out", required=True, help="results.jsonl or results.parquet (a folder of parts)")
    p.add_argument("--workers", type=int, default=default_workers(), help="worker processes (Ray: model actors)")
    p.add_argument("--resume", action="store_true", help="continue a killed run: skip inputs already in --out")
    p.add_argument("--engine", choices=("local", "ray"), default="local")
    p.add_argument("--ray-address", help="Ray cluster to join ('auto' = the running one); default: a local instance")
    p.add_argument("--model", help="model directory (default: the bundled model)")
    add_all_members(p, note="; --task segment always runs every member")
    add_encoder(p)
    add_speech_check(p)
    add_segment_options(p)
    p.set_defaults(handler=cmd_batch)
