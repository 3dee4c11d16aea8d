"""The ``voxgender`` command: its subcommands, one module per group, and the entry point."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from voxgender.cli.files import add_batch, add_predict, add_segment
from voxgender.cli.realtime import add_listen, add_serve, add_stream
from voxgender.cli.training import (
    add_add_encoder,
    add_calibrate,
    add_card,
    add_ensemble,
    add_evaluate,
    add_export,
    add_train,
    add_tune,
)
from voxgender.errors import VoxgenderError, import_extra


# -- demo ----------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    import_extra("scipy", "demo", "the demo's voice synthesiser")
    from voxgender.cli.demo import run_demo

    return run_demo(args.model)


def add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model directory (default: the bundled model)")
    p.set_defaults(handler=cmd_demo)


# -- entry point ---------------------------------------------------------------------------------
# The subcommands: help line and the function that adds their options (which may import heavy modules).
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "predict": ("gender of each audio file (folders are walked)", add_predict),
    "train": ("train a model on corpora or manifests (speaker-disjoint splits)", add_train),
    "tune": ("Optuna hyper-parameter search on the validation split (resumable)", add_tune),
    "evaluate": ("metrics, per-corpus and per-length tables, plots", add_evaluate),
    "calibrate": ("fit calibrated probabilities on validation speakers and store them in the model", add_calibrate),
    "add-encoder": ("add a speaker encoder to a model, its probe fitted on the model's speakers (predict --encoder)", add_add_encoder),
    "ensemble": ("one model that averages several trained on the same split", add_ensemble),
    "export": ("write a model directory's ONNX graphs (what inference runs) from its torch weights", add_export),
    "card": ("write a model directory's MODEL_CARD.md from its config and evaluations", add_card),
    "demo": ("the bundled model on voices that the demo synthesises itself", add_demo),
    "stream": ("live decisions as JSON lines, from raw PCM on stdin or from a file", add_stream),
    "listen": ("the microphone, live (needs the 'listen' extra and PortAudio)", add_listen),
    "serve": ("the web service and live page (needs the 'serve' extra)", add_serve),
    "segment": ("female / male / non-speech timeline of long recordings", add_segment),
    "batch": ("predict or segment many files in parallel, resumable, locally or on Ray", add_batch),
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command-line parser. Given ``argv``, only the subcommand it names gets its options, so
    that ``voxgender --help`` and a mistyped command answer at once, without loading a runtime."""
    from voxgender import __version__

    parser = argparse.ArgumentParser(prog="voxgender", description="Speaker gender recognition (female/male) from audio.")
    parser.add_argument("--version", action="version", version=f"voxgender {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    chosen = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name, (help_line, add_options) in COMMANDS.items():
        p = sub.add_parser(name, help=help_line)
        if chosen is None or name == chosen:
            add_options(p)
    return parser


# The extra that installs each package a command may import beyond the base install.
EXTRA_OF_PACKAGE = {"torch": "train", "safetensors": "train", "sklearn": "train", "optuna": "train", "silero_vad": "train",
                    "onnx": "train", "scipy": "demo", "matplotlib": "plot", "pyarrow": "batch", "ray": "batch",
                    "av": "formats", "sounddevice": "listen"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    try:
        args = build_parser(argv).parse_args(argv)
        return args.handler(args)
    except VoxgenderError as err:
        print(f"voxgender: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        extra = EXTRA_OF_PACKAGE.get((err.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"voxgender: error: this command needs {err.name}: pip install 'voxgender[{extra}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("voxgender: interrupted", file=sys.stderr)
        return 130
