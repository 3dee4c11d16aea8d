"""Batch runs: incremental results, kill and resume without losing or repeating a file, errors."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf
from recordings import conversation

from voxgender.batch.local import BatchJob, run_batch, summarise
from voxgender.batch.output import read_results
from voxgender.cli.main import main
from voxgender.errors import VoxgenderError


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("inputs")
    paths = []
    for i in range(12):
        label = ("female", "male")[i % 2]
        audio, _ = conversation([(label, 2.5), (label, 2.0)], pause_s=0.5, seed=i)
        paths.append(str(folder / f"{label}{i:02d}.flac"))
        sf.write(paths[-1], audio, 16000)
    broken = folder / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt garbage")
    return paths + [str(broken)]


def check_each_once(records, paths):
    counts = Counter(r["path"] for r in records)
    assert counts == Counter(dict.fromkeys(paths, 1))


def test_resume_after_a_cut_run_does_every_file_once(tmp_path, inputs):
    out = tmp_path / "results.jsonl"
    job = BatchJob("segment")
    run_batch(inputs[:5], job, out, show_progress=False)
    with out.open("a") as f:
        f.write('{"path": "' + inputs[5] + '", "dura')  # a line cut by a kill
    with pytest.raises(VoxgenderError, match="already exists"):
        run_batch(inputs, job, out, show_progress=False)
    summary = run_batch(inputs, job, out, resume=True, show_progress=False)
    records = read_results(out)
    check_each_once(records, inputs)
    assert all(json.loads(line) for line in out.read_text().splitlines())
    errors = [r for r in records if "error" in r]
    assert len(errors) == 1 and errors[0]["error"].startswith(inputs[-1] + ": not a decodable audio file")
    ok = [r for r in records if "error" not in r]
    assert all(r["female_share"] > 0.5 for r in ok if "female" in Path(r["path"]).name)
    assert all(r["female_share"] < 0.5 for r in ok if "/male" in r["path"])
    assert summary["files"] == len(inputs) and summary["failures"] == 1
    assert summary["hours"] == pytest.approx(sum(r["duration_s"] for r in ok) / 3600, abs=1e-4)
    assert summary["female_share"] == pytest.approx(
        sum(r["female_s"] for r in ok) / sum(r["female_s"] + r["male_s"] for r in ok), abs=1e-3)


def test_killed_process_resumes_without_loss_or_repeats(tmp_path, inputs):
    out = tmp_path / "results.jsonl"
    list_file = tmp_path / "inputs.txt"
    list_file.write_text("\n".join(inputs * 3))  # repeats in the input list are done once
    command = [sys.executable, "-m", "voxgender", "batch", "--files-from", str(list_file), "--task", "segment",
               "--out", str(out), "--workers", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 2:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait(30)
    assert process.returncode == -signal.SIGKILL  # killed mid-run, not finished
    assert main(["batch", "--files-from", str(list_file), "--task", "segment", "--out", str(out), "--resume",
                 "--workers", "1"]) == 0
    check_each_once(read_results(out), inputs)


def test_parquet_with_worker_processes(tmp_path, inputs, capsys):
    out = tmp_path / "results.parquet"
    summary = run_batch(inputs[:7], BatchJob("predict"), out, workers=2, show_progress=False)
    assert summary["files"] == 7
    (out / ".part-dead.parquet.tmp").write_bytes(b"PAR1 half written")
    (out / "part-cut.parquet").write_bytes(b"PAR1 cut by a kill")
    assert main(["batch", *inputs, "--out", str(out), "--resume", "--workers", "2"]) == 0
    records = read_results(out)
    check_each_once(records, inputs)
    for r in records:
        if "error" not in r:
            assert set(r) == {"path", "label", "p_female", "confidence", "duration_s"}
            assert r["label"] == ("female" if "female" in Path(r["path"]).name else "male")
    printed = capsys.readouterr().out
    assert f"files: {len(inputs)}, failures: 1" in printed and "female share" in printed


def test_summary_of_predictions():
    records = [{"path": "a", "label": "female", "duration_s": 1800.0, "p_female": 0.9, "confidence": 0.9},
               {"path": "b", "label": "male", "duration_s": 5400.0, "p_female": 0.1, "confidence": 0.9},
               {"path": "c", "error": "c: empty file"}]
    assert summarise(records, "predict") == {"files": 3, "failures": 1, "hours": 2.0, "female_share": 0.25}


def test_output_name_is_checked(tmp_path, inputs):
    assert main(["batch", inputs[0], "--out", str(tmp_path / "results.csv")]) == 2
