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
    p.add_argument("--no-speech-check", action="store_true",
                   help="skip silero-vad's pass over each file (about 1.4x faster where every input holds speech): "
                        "no 'none' answers and no speech_s")


def add_all_members(p: argparse.ArgumentParser, note: str = "") -> None:
    p.add_argument("--all-members", action="store_true",
                   help="an ensemble runs every member on every file (default: its first member alone decides the files it is "
                        f"sure of, and p_female of those is that member's){note}")
