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
from voxgender.model import load_model
from voxgender.segment import Segmenter


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
    segmenter = Segmenter(load_model())  # each record is its own file's timeline
    for r in ok[::4]:
        assert r["female_share"] == segmenter(r["path"]).summary.female_share
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
    model = load_model()
    for r in records:
        if "error" not in r:
            assert set(r) == {"path", "label", "p_female", "confidence", "duration_s", "speech_s"}
            alone = model.predict(r["path"])  # each record is its own file's prediction
            assert (r["label"], r["p_female"]) == (alone.label, pytest.approx(alone.p_female, abs=1e-4))
    printed = capsys.readouterr().out
    assert f"files: {len(inputs)}, failures: 1" in printed and "female share" in printed


def test_summary_of_predictions():
    records = [{"path": "a", "label": "female", "duration_s": 1800.0, "p_female": 0.9, "confidence": 0.9},
               {"path": "b", "label": "male", "duration_s": 5400.0, "p_female": 0.1, "confidence": 0.9},
               {"path": "c", "error": "c: empty file"}]
    assert summarise(records, "predict") == {"files": 3, "failures": 1, "hours": 2.0, "female_share": 0.25}


def test_output_name_is_checked(tmp_path, inputs):
    assert main(["batch", inputs[0], "--out", str(tmp_path / "results.csv")]) == 2


def test_a_worker_that_dies_costs_one_error_record_and_the_run_goes_on(tmp_path):
    import helpers

    from voxgender.batch.local import BatchJob, run_batch, run_local

    paths = [f"clip{i}.wav" for i in range(6)] + ["crash.wav"] + [f"late{i}.wav" for i in range(3)]

    def runner(todo, job, workers):
        return run_local(todo, job, workers, helpers.crash_on_marked_paths, helpers.no_model)

    out = tmp_path / "results.jsonl"
    summary = run_batch(paths, BatchJob(), out, workers=2, show_progress=False, runner=runner)
    records = {r["path"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == set(paths) and summary["failures"] == 1
    assert "worker process died" in records["crash.wav"]["error"]
    assert all("error" not in r for p, r in records.items() if p != "crash.wav")
    assert run_batch(paths, BatchJob(), out, workers=2, resume=True, show_progress=False, runner=runner)["files"] == 10


def test_worker_processes_die_with_a_killed_batch(tmp_path, inputs):
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "voxgender", "batch", *inputs, "--task", "segment", "--out", str(out), "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None and len(children) < 2:
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        children = [pid for pid in found if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
        time.sleep(0.05)
    assert len(children) >= 2, "the batch should have started its two workers"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
    def alive(pid: str) -> bool:  # a zombie waiting for init to reap it is dead
        status = Path(f"/proc/{pid}/status")
        return status.exists() and "\nState:\tZ" not in status.read_text()

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in children), [Path(f"/proc/{pid}/status").read_text()[:200] for pid in children]


def test_an_output_that_cannot_be_written_is_one_line(tmp_path, inputs, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # an output below it cannot be written, even by root
    assert main(["batch", *inputs[:1], "--out", str(blocker / "results.jsonl"), "--workers", "1"]) == 2
    assert main(["segment", *inputs[:1], "--out", str(blocker / "timelines")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("voxgender: error:") and "cannot write" in line for line in errors[-2:])
    assert not any("Traceback" in line for line in errors)
