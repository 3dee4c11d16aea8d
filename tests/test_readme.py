"""The README's Python examples run as written, on voices the test synthesises into the files they name."""

from __future__ import annotations

import re

import helpers
import numpy as np
import soundfile as sf
from helpers import ROOT

README = ROOT / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_python_examples_run_in_order(tmp_path, monkeypatch, female_clip, male_clip):
    monkeypatch.chdir(tmp_path)
    talk = np.concatenate([female_clip, np.zeros(8000, np.float32), male_clip])
    sf.write("talk.mp3", talk, 16000, format="MP3", subtype="MPEG_LAYER_III")
    sf.write("show.flac", talk, 16000)
    helpers.encode_with_pyav(tmp_path / "call.m4a", female_clip, 16000, "aac", "ipod")
    rate = 48000
    at_48k = np.repeat(talk, 3)  # the stream example's 48 kHz
    namespace = {"chunks": [at_48k[i:i + rate // 10] for i in range(0, len(at_48k), rate // 10)]}
    blocks = python_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["p"].label in ("female", "male") and namespace["frames"].shape[1] == 2
    assert namespace["summary"].label in ("female", "male", "none")
    assert namespace["result"].summary.duration_s > 4
