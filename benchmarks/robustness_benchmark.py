"""The bundled model on its held-out test speakers under degraded channels: white-to-brown noise
at several SNRs, a telephone channel (300-3400 Hz band + 8-bit mu-law), reverberation, the pitch
raised with the formants kept (as in excited or shouted speech), and the clip cut to its speech
(as a pipeline that passes on voice-activity segments: no silence before the first word). Prints
UAR and the female and male recall per condition (a drop in male recall is the classic bias: male
voices heard as female on poor channels or at a raised pitch).

    python benchmarks/robustness_benchmark.py                      # bundled model -> results/robustness.json
    python benchmarks/robustness_benchmark.py --model runs/X --out runs/X/robustness.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, recall_score
from split_clips import split_from_command_line

from voxgender.core.vad import CHUNK, shared_vad
from voxgender.io.model_dir import bundled_model_dir
from voxgender.model import load_model
from voxgender.training.augment import add_noise, band_limit, mu_law_codec, reverberate, shift_pitch

RESULTS = Path(__file__).resolve().parent / "results" / "robustness.json"  # the bundled model's test figures
Condition = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
SPEECH = 0.5  # silero-vad's own speech threshold


def speech_only(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Rows (one clip) cut to the first and last 32 ms chunk that silero-vad calls speech."""
    probs, _ = shared_vad().probabilities(x[0].numpy())
    speech = np.flatnonzero(probs >= SPEECH)
    return x[:, speech[0] * CHUNK:(speech[-1] + 1) * CHUNK] if len(speech) else x


CONDITIONS: dict[str, Condition] = {
    "clean": lambda x, g: x,
    "noise 20 dB": lambda x, g: add_noise(x, g, (20.0, 20.0)),
    "noise 10 dB": lambda x, g: add_noise(x, g, (10.0, 10.0)),
    "noise 5 dB": lambda x, g: add_noise(x, g, (5.0, 5.0)),
    "noise 0 dB": lambda x, g: add_noise(x, g, (0.0, 0.0)),
    "telephone (band + mu-law)": lambda x, g: mu_law_codec(band_limit(x, g), g),
    "reverb RT60 0.4-0.8 s": lambda x, g: reverberate(x, g, (0.4, 0.8)),
    "pitch x1.3, formants kept": lambda x, g: shift_pitch(x, 1.3),
    "pitch x1.6, formants kept": lambda x, g: shift_pitch(x, 1.6),
    "cut to its speech (silero-vad)": speech_only,
}


def main() -> int:
    loaded = split_from_command_line(__doc__.splitlines()[0], "test", lambda parser: parser.add_argument(
        "--out", type=Path, help="JSON file for the figures (default: results/robustness.json for the bundled model's test split)"))
    if loaded is None:
        return 0
    args, (utterances, audios, truth) = loaded
    bundled_test = args.split == "test" and args.model.resolve() == bundled_model_dir().resolve()
    out = args.out or (RESULTS if bundled_test else None)
    speakers = {u.speaker for u in utterances}
    model = load_model(args.model)
    print(f"{len(utterances)} clips of {len(speakers)} {args.split} speakers (adults)\n")
    print("| condition | UAR | female recall | male recall |\n|---|---|---|---|")
    figures = {}
    for name, degrade in CONDITIONS.items():
        gen = torch.Generator().manual_seed(0)
        degraded = [degrade(torch.from_numpy(a)[None], gen)[0].clamp(-1, 1).numpy() for a in audios]
        guess = model.p_female_of_arrays(degraded) >= 0.5
        figures[name] = {"uar": balanced_accuracy_score(truth, guess), "female_recall": recall_score(truth, guess),
                         "male_recall": recall_score(~truth, ~guess)}
        print(f"| {name} | {figures[name]['uar']:.4f} | {figures[name]['female_recall']:.4f} | "
              f"{figures[name]['male_recall']:.4f} |")
    if out:
        out.write_text(json.dumps({"model": args.model.name, "split": args.split, "clips": len(utterances),
                                   "speakers": len(speakers), "conditions": figures}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
