"""``voxgender stream`` (stdin PCM, files, real-time pace) and ``voxgender listen`` (microphone)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from voxgender.cli.main import main
from voxgender.model import load_model
from voxgender.streaming import Stream
from voxgender.synth import synth_clip


@pytest.fixture(scope="module")
def model():
    return load_model()


def local_summary(model, audio: np.ndarray, rate: int = 16000) -> dict:
    stream = Stream(model, rate)
    stream.feed(audio.astype(np.float32))
    return stream.finish()[1].to_dict()


def run_stdin(capsys, monkeypatch, data: bytes, *argv) -> tuple[int, list[dict], str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code = main(["stream", "--stdin", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_stdin_s16le_gives_json_lines_and_a_summary(capsys, monkeypatch, model, female_clip):
    pcm = (female_clip * 32767).astype("<i2")
    code, lines, _ = run_stdin(capsys, monkeypatch, pcm.tobytes(), "--rate", 16000)
    assert code == 0
    decisions, final = lines[:-1], lines[-1]
    assert len(decisions) == 20 and [d["t"] for d in decisions][:3] == [0.1, 0.2, 0.3]
    assert final == local_summary(model, pcm / 32768.0)
    assert final["label"] == model.predict(female_clip).label


def test_stdin_f32le_at_8k_with_a_torn_last_sample(capsys, monkeypatch, model, male_clip):
    at_8k = soxr.resample(male_clip, 16000, 8000).astype("<f4")
    code, lines, err = run_stdin(capsys, monkeypatch, at_8k.tobytes() + b"\1\2", "--rate", 8000, "--format", "f32le",
                                 "--smoothing", "ema", "--interval", 0.25)
    assert code == 0 and "stdin: ignored 2 trailing bytes" in err
    assert [d["t"] for d in lines[:-1]] == pytest.approx(np.arange(1, 9) * 0.25)
    assert lines[-1] == local_summary(model, at_8k, 8000)


@pytest.mark.parametrize("argv, words", [
    (["stream", "--stdin"], "--stdin needs --rate"),
    (["stream"], "either --stdin"),
    (["stream", "--stdin", "--rate", "5"], "sample rate 5"),
    (["stream", "missing.wav"], "missing.wav: no such file"),
    (["stream", "--stdin", "--rate", "16000", "--margin", "0.7", "--smoothing", "hysteresis"], "margin"),
])
def test_stream_errors_are_one_line(capsys, monkeypatch, argv, words):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_file_at_real_time_pace(capsys, tmp_path, model):
    path = tmp_path / "talk.wav"
    clip = synth_clip("female", 1.0, 5)
    sf.write(path, clip, 16000)
    start = time.monotonic()
    assert main(["stream", "--realtime", str(path), "--chunk-ms", "50"]) == 0
    elapsed = time.monotonic() - start
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert elapsed >= 0.95  # paced: not faster than the audio lasts
    assert len(lines) == 11 and lines[-1] == local_summary(model, sf.read(path, dtype="float32")[0])


def test_installed_script_in_a_pipeline(female_clip):
    script = shutil.which("voxgender", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the voxgender script is not installed")
    pcm = (female_clip * 32767).astype("<i2").tobytes()
    done = subprocess.run([script, "stream", "--stdin", "--rate", "16000"], input=pcm, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout.splitlines()[-1])["final"] is True


# -- listen --------------------------------------------------------------------------------------
def test_listen_without_an_input_device_says_so(capsys):
    """This machine has no microphone: either PortAudio finds no device or sounddevice is missing."""
    assert main(["listen", "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no audio input device" in err or "libportaudio2" in err


def test_listen_without_sounddevice_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if the package (or PortAudio) were missing
    assert main(["listen"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'voxgender[listen]'" in err and "apt-get install libportaudio2" in err and err.count("\n") == 1


def fake_sounddevice(audio: np.ndarray, rate: int) -> types.ModuleType:
    """A stand-in for sounddevice whose default input plays ``audio`` in 100 ms blocks."""
    sd = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    class InputStream:
        def __init__(self, callback, blocksize, **_):
            self.callback, self.blocksize = callback, blocksize
            self.thread = threading.Thread(target=self.play, daemon=True)

        def play(self):
            for i in range(0, len(audio), self.blocksize):
                self.callback(audio[i:i + self.blocksize, None], self.blocksize, None, None)

        def __enter__(self):
            self.thread.start()
            return self

        def __exit__(self, *exc):
            self.thread.join()

    sd.PortAudioError = PortAudioError
    sd.InputStream = InputStream
    sd.query_devices = lambda device=None, kind=None: {"name": "fake", "default_samplerate": float(rate)}
    return sd


def test_listen_draws_a_live_line_and_ends_with_a_summary(capsys, monkeypatch, model):
    audio = soxr.resample(synth_clip("male", 2.0, 7), 16000, 44100).astype(np.float32)
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(audio, 44100))
    assert main(["listen", "--seconds", "2"]) == 0
    out = capsys.readouterr().out
    lines = out.split("\r")
    assert len(lines) >= 20 and "[" in lines[-1] and " dB " in lines[-1]
    summary = local_summary(model, audio, 44100)
    assert f"{summary['label']} (p_female {summary['p_female']:.2f}" in out.splitlines()[-1]
