"""A short soak of a real ``voxgender serve`` with hostile uploads and streams mixed in
(``benchmarks/server_soak.py``; the long run is ``--requests 10000 --streams 1000``): no 5xx,
no internal error, one-line errors, memory flat, and the server healthy at the end."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "server_soak.py"


def test_two_hundred_uploads_and_forty_streams_with_hostile_input_leave_the_server_serving():
    run = subprocess.run([sys.executable, str(SCRIPT), "--requests", "200", "--streams", "40", "--seed", "1"],
                         capture_output=True, text=True, timeout=600, cwd=SCRIPT.parent)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    result, _ = json.JSONDecoder().raw_decode(run.stdout)
    counts = result["counts"]
    assert counts["upload 2xx"] > 50 and counts["upload 4xx"] > 50  # valid and hostile uploads both answered
    assert counts["stream final"] >= 5 and counts.get("stream error message", 0) + sum(
        n for kind, n in counts.items() if kind.startswith("stream closed")) >= 10
    assert result["problem_count"] == 0 and result["healthy_at_end"]
