"""Inference needs no torch: predict, segment, stream, serve and the Python API run with torch
(and the other training packages) made impossible to import, the server's engine process included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from voxgender.synth import synth_clip

TRAINING_ONLY = ("torch", "safetensors", "sklearn", "silero_vad", "optuna")

SCRIPT = r"""
import json, sys
import numpy as np
import soundfile as sf
from fastapi.testclient import TestClient
from voxgender import Stream, load_model
from voxgender.cli.main import main
from voxgender.server import ServerSettings, create_app

wav, out = sys.argv[1], sys.argv[2]
assert main(["predict", wav, "--format", "jsonl"]) == 0
assert main(["segment", wav, "--out", out, "--format", "json"]) == 0
assert main(["stream", wav]) == 0
model = load_model()
stream = Stream(model)
stream.feed(np.zeros(16000, np.float32))
with TestClient(create_app(model, ServerSettings())) as client:
    answer = client.post("/v1/predict", content=open(wav, "rb").read()).json()
    with client.websocket_connect("/v1/stream?sample_rate=16000&encoding=pcm_f32le") as ws:
        ws.send_bytes(sf.read(wav, dtype="float32")[0].tobytes())
        ws.send_text("end")
        while not (message := ws.receive_json()).get("final"):
            pass
print(json.dumps({"server": answer["label"], "server_stream": message["label"]}))
"""


def test_predict_segment_stream_and_serve_run_with_torch_impossible_to_import(tmp_path):
    blocker = tmp_path / "blocked"
    for name in TRAINING_ONLY:
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(f"raise ModuleNotFoundError('inference imported {name}', name='{name}')\n")
    wav = tmp_path / "female.wav"
    sf.write(wav, synth_clip("female", 3.0, 1), 16000)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), *filter(None, [os.environ.get("PYTHONPATH")])])}
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(wav), str(tmp_path / "timelines")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert json.loads(lines[0])["label"] == "female"  # predict's JSON line
    assert json.loads(lines[-1]) == {"server": "female", "server_stream": "female"}
    assert Path(tmp_path / "timelines").is_dir() and any((tmp_path / "timelines").iterdir())
    assert "imported" not in run.stderr


def test_a_training_command_without_the_train_extra_says_which_extra_in_one_line(tmp_path):
    blocker = tmp_path / "blocked" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    run = subprocess.run([sys.executable, "-m", "voxgender", "train", "--data", str(tmp_path), "--out", str(tmp_path / "m")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip() == "voxgender: error: this command needs torch: pip install 'voxgender[train]'"
