"""Run inaSpeechSegmenter over 16 kHz mono WAV files and write its segments as JSON lines.

Runs inside benchmarks/.venv-ina (see setup_ina.sh), never in the package's venv:

    benchmarks/.venv-ina/bin/python benchmarks/peers/ina_segment.py LIST OUT.jsonl [--batch-size N]

LIST has one WAV path a line. Each output line: {"path", "segments": [[label, start_s, end_s], ...],
"wall_s", "cpu_s"}; labels are inaSpeechSegmenter's own (female, male, noEnergy, noise, music).
The models are read from the folder setup_ina.sh fills (INA_MODELS, default
benchmarks/.venv-ina/ina-models), never downloaded: the package's own downloader is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

MODELS = Path(os.environ.get("INA_MODELS", Path(__file__).resolve().parents[1] / ".venv-ina" / "ina-models"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("list", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--batch-size", type=int, default=32, help="inaSpeechSegmenter's batch_size (its default 32)")
    args = parser.parse_args()

    import inaSpeechSegmenter.segmenter as ina
    import soundfile as sf

    def local_model(name: str) -> str:
        path = MODELS / name
        if not path.is_file():
            raise SystemExit(f"{path}: inaSpeechSegmenter model missing (run benchmarks/peers/setup_ina.sh)")
        return str(path)

    ina.get_remote = local_model
    segmenter = ina.Segmenter(ffmpeg=None, batch_size=args.batch_size)  # the default engine: speech/music/noise
    paths = args.list.read_text().split()
    warmup = args.out.with_suffix(".warmup.wav")
    audio, rate = sf.read(paths[0], frames=30 * 16000)
    sf.write(warmup, audio, rate)
    segmenter(str(warmup))  # first-call costs (graph building) are not per-file costs
    warmup.unlink()
    with args.out.open("w") as out:
        for path in paths:
            wall, cpu = time.perf_counter(), time.process_time()
            segments = segmenter(path)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            out.write(json.dumps({"path": path, "segments": [[lab, a, b] for lab, a, b in segments],
                                  "wall_s": wall, "cpu_s": cpu}) + "\n")
            out.flush()
            print(f"{Path(path).name}: {wall:.1f} s", flush=True)


if __name__ == "__main__":
    main()
