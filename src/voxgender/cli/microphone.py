"""``voxgender listen``: the microphone through the streaming engine, with a live terminal line.

Needs the optional ``sounddevice`` package (``pip install 'voxgender[listen]'``) and the PortAudio
library (Debian/Ubuntu: ``apt-get install libportaudio2``).
"""

from __future__ import annotations

import math
import queue
import sys
from types import ModuleType
from typing import Any, TextIO

import numpy as np

from voxgender.core.decisions import Decision, StreamOptions, Summary
from voxgender.errors import VoxgenderError
from voxgender.model import Model
from voxgender.streaming import Stream

BLOCK_S = 0.1
STALL_S = 5.0
METER_WIDTH = 20
METER_FLOOR_DB = -60.0


def import_sounddevice() -> ModuleType:
    """The sounddevice module, or a one-line VoxgenderError that says what to install."""
    try:
        import sounddevice
    except (ImportError, OSError) as err:  # OSError: the PortAudio library is missing
        raise VoxgenderError(
            f"listen: the microphone needs the sounddevice package and the PortAudio library ({err}); "
            "install them with: pip install 'voxgender[listen]' and apt-get install libportaudio2") from None
    return sounddevice


def input_device(sd: ModuleType, device: str | int | None) -> dict[str, Any]:
    """The chosen (or default) input device, or a clear error when there is none."""
    try:
        info = sd.query_devices(device, kind="input")
    except (sd.PortAudioError, ValueError) as err:
        raise VoxgenderError(f"listen: no audio input device{f' {device!r}' if device is not None else ''} "
                             f"found ({err}); connect a microphone or choose one with --device") from None
    return dict(info)


def level_db(block: np.ndarray) -> float:
    """RMS level of a block in dB full scale (floored)."""
    rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) if block.size else 0.0
    return max(METER_FLOOR_DB, 20 * math.log10(rms) if rms > 0 else METER_FLOOR_DB)


def status_line(decision: Decision | None, db: float) -> str:
    """``  female  0.93  [#######-------------]  -23 dB  12.3 s`` (label, confidence, level meter, time)."""
    filled = round((db - METER_FLOOR_DB) / -METER_FLOOR_DB * METER_WIDTH)
    meter = "#" * filled + "-" * (METER_WIDTH - filled)
    label = decision.label if decision else "none"
    confidence = f"{decision.confidence:.2f}" if decision and decision.confidence is not None else "  - "
    t = decision.t if decision else 0.0
    return f"{label:>7}  {confidence}  [{meter}] {db:4.0f} dB {t:7.1f} s"


def listen(model: Model, options: StreamOptions, device: str | int | None = None, seconds: float | None = None,
           out: TextIO | None = None) -> Summary:
    """Recognise the microphone until Ctrl-C (or ``seconds``), redrawing one status line per block on ``out``."""
    out = out or sys.stdout
    sd = import_sounddevice()
    rate = int(input_device(sd, device)["default_samplerate"])
    blocks: queue.Queue[np.ndarray] = queue.Queue()
    stream = Stream(model, rate, options)
    last: Decision | None = None
    heard = 0
    with sd.InputStream(device=device, channels=1, samplerate=rate, dtype="float32",
                        blocksize=int(rate * BLOCK_S), callback=lambda data, *_: blocks.put(data[:, 0].copy())):
        try:
            while seconds is None or heard < seconds * rate:
                try:
                    block = blocks.get(timeout=STALL_S)
                except queue.Empty:
                    raise VoxgenderError(f"listen: the input device delivered no audio for {STALL_S:g} s") from None
                heard += len(block)
                last = (stream.feed(block) or [last])[-1]
                out.write("\r" + status_line(last, level_db(block)) + "\x1b[K")
                out.flush()
        except KeyboardInterrupt:
            pass
    _, summary = stream.finish()
    out.write("\n" + summary_line(summary) + "\n")
    return summary


def summary_line(summary: Summary) -> str:
    """One line for the end of a session."""
    if summary.label == "none":
        return f"no speech heard in {summary.duration_s:.1f} s"
    return (f"{summary.label} (p_female {summary.p_female:.2f}, confidence {summary.confidence:.2f}) "
            f"over {summary.speech_s:.1f} s of speech in {summary.duration_s:.1f} s")
