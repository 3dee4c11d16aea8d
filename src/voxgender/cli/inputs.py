"""Options and helpers shared by the commands that take many inputs: predict, segment and batch."""

from __future__ import annotations

import argparse

from voxgender.errors import VoxgenderError
from voxgender.io.progress import say


# -- inputs shared by predict, segment and batch --------------------------------------------------
def add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", help="audio files or folders")
    p.add_argument("--files-from", metavar="LIST", help="a file with one input path per line ('-' = stdin)")


def input_paths(args: argparse.Namespace) -> list[str]:
    """The inputs as files (folders walked); VoxgenderError if there are none."""
    from voxgender.predict import expand_inputs

    paths = expand_inputs(args.inputs, args.files_from)
    if not paths:
        raise VoxgenderError(f"{args.command}: no input files (give files, folders or --files-from)")
    return paths


def exit_status(failures: int, inputs: int) -> int:
    """Say how many inputs failed; non-zero only if all did."""
    if failures:
        say(f"{failures} of {inputs} inputs failed")
    return 1 if failures == inputs else 0



def add_speech_check(p: argparse.ArgumentParser) -> None:
    checks = p.add_mutually_exclusive_group()
    checks.add_argument("--speech-check", choices=("gate", "full", "off"), default="gate",
                        help="how silero-vad listens for speech, so that a file with less than 0.5 s of it is labelled 'none': "
                             "gate (default) stops once it has heard that much; full hears every file to its end and reports "
                             "speech_s, its seconds of speech (slower); off skips it, for inputs known to hold speech")
    checks.add_argument("--no-speech-check", dest="speech_check", action="store_const", const="off",
                        help="the same as --speech-check off")


def add_all_members(p: argparse.ArgumentParser, note: str = "") -> None:
    p.add_argument("--all-members", action="store_true",
                   help="an ensemble runs every member on every file (default: its first member alone decides the files it is "
                        f"sure of, and p_female of those is that member's){note}")


def add_encoder(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder", action="store_true",
                   help="also hear the speech through the model's speaker encoder (voxgender add-encoder): truer on speech "
                        "unlike the training data (emotions, TV, crowd microphones), several times slower")
