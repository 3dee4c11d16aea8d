"""A short mutation-fuzzing run of the decoder (``benchmarks/fuzz_audio.py``; the long run is the
same command with ``--cases 50000``): no crash, no hang, no exception but the package's own."""

from __future__ import annotations

import re
import subprocess
import sys

from helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "fuzz_audio.py"


def test_three_hundred_mutated_files_end_in_audio_or_an_audio_error():
    run = subprocess.run([sys.executable, str(SCRIPT), "--cases", "300", "--seed", "1"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    counts = {name: int(n) for n, name in re.findall(
        r"(\d+) (decoded|AudioError|crashes|over 10 s|over the time or \d+ MB limit|other exceptions)", last)}
    assert counts["decoded"] + counts["AudioError"] == 300, run.stdout[-2000:]
    assert counts["crashes"] == counts["over 10 s"] == counts["other exceptions"] == 0
    assert counts["decoded"] > 30 and counts["AudioError"] > 30  # the mutations reach both outcomes
