"""``voxgender demo``: the model at work on voices the demo synthesises, with no file of the user's.

The clips come from the package's small source-filter synthesiser (a female-like and a male-like
F0 and vocal-tract length each), are written as WAV files to a temporary folder and go through the
same path as ``voxgender predict``: decode, features, RNN, aggregation.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.table import Table

from voxgender.model import load_model
from voxgender.predict import iter_predictions
from voxgender.synth import SAMPLE_RATE, random_voice, synth_speech

DEMO_VOICES = (("female", 11), ("male", 12), ("female", 13), ("male", 14), ("female", 15), ("male", 16))
DEMO_SECONDS = 3.0


def run_demo(model_path: str | None = None) -> int:
    """Synthesise the demo voices, predict each and print expected against predicted."""
    model = load_model(model_path)
    console = Console()
    console.print(f"[bold]voxgender demo[/]: model {model_path or 'bundled'} "
                  f"({model.network.cfg.describe()}, "
                  f"{model.features.kind} features)")
    with tempfile.TemporaryDirectory(prefix="voxgender-demo-") as tmp:
        paths, expected, f0s = [], [], []
        for gender, seed in DEMO_VOICES:
            rng = np.random.default_rng(seed)
            voice = random_voice(gender, rng)
            path = Path(tmp) / f"synthetic_{gender}_{seed}.wav"
            sf.write(path, synth_speech(voice, DEMO_SECONDS, rng), SAMPLE_RATE)
            paths.append(str(path))
            expected.append(gender)
            f0s.append(voice.f0_hz)
        records = list(iter_predictions(model, paths, show_progress=False))
    table = Table("clip", "voice F0", "expected", "predicted", "p_female", "confidence", box=None)
    correct = 0
    for record, want, f0 in zip(records, expected, f0s):
        ok = record.get("label") == want
        correct += ok
        table.add_row(Path(record["path"]).name, f"{f0:.0f} Hz", want,
                      f"[{'green' if ok else 'red'}]{record.get('label', record.get('error'))}[/]",
                      f"{record.get('p_female', float('nan')):.3f}", f"{record.get('confidence', float('nan')):.3f}")
    console.print(table)
    console.print(f"{correct} of {len(records)} synthetic voices recognised as the gender they were made with.")
    console.print("Next: [bold]voxgender predict your_audio.wav[/] (any format, any rate), "
                  "[bold]voxgender predict FOLDER --format jsonl[/], or see README.md.")
    return 0
