"""Do streaming and batch agree? On the held-out test speakers of the model's splits.json.

For every clip: the batch label (``Model.predict``), and the streaming label after the
whole clip and after the first 1 s of speech (or the whole clip when it holds less speech),
with the default options (speech frames only, silero-vad gated) and with ``vad=False`` (every
frame, as batch does). Results do not depend on chunking (the tests check that), so all clips
run as streams of one micro-batched engine.

    .venv/bin/python benchmarks/stream_agreement.py [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from voxgender.core.aggregate import aggregate
from voxgender.core.decisions import StreamOptions
from voxgender.core.labels import label_of
from voxgender.core.vad import speech_frames
from voxgender.engine import StreamEngine
from voxgender.io.audio import load_audio
from voxgender.io.model_dir import bundled_model_dir, split_speakers
from voxgender.model import Model, load_model
from voxgender.training.data import read_corpus

FIRST_SPEECH_S = 1.0


def stream_labels(engine: StreamEngine, audios: list, options: StreamOptions) -> list[tuple[str, str, bool]]:
    """(label after the whole clip, label after the first 1 s of speech, clip has >= 1 s of speech) per clip."""
    ids = [engine.open(16000, options) for _ in audios]
    for sid, audio in zip(ids, audios):
        engine.push(sid, audio)
        engine.end(sid)
    updates = engine.step()
    out = []
    for sid in ids:
        update = updates[sid]
        early = next((d.label for d in update.decisions if d.speech_s >= FIRST_SPEECH_S and d.label != "none"), None)
        out.append((update.summary.label, early or update.summary.label, early is not None))
    return out


def gated_batch_labels(model: Model, audios: list[np.ndarray]) -> list[str]:
    """Batch labels from the speech frames only: the frame posteriors of ``frame_log_posteriors``
    masked by silero-vad as a stream masks them (the last partial chunk zero-padded)."""
    labels = []
    for audio, lp in zip(audios, model.posteriors(audios)):
        speech = speech_frames(audio, len(lp), model.features, StreamOptions().vad_threshold)
        labels.append(label_of(aggregate(lp[speech], model.aggregation)) if speech.any() else "none")
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--model", help="model directory (default: the bundled model)")
    parser.add_argument("--limit", type=int, help="at most this many clips")
    args = parser.parse_args()

    model = load_model(args.model)
    test = split_speakers(args.model or bundled_model_dir(), "test")
    corpora = sorted(p for p in Path(args.data).iterdir() if p.is_dir())
    clips = [u for c in corpora for u in read_corpus(c) if u.speaker in test][: args.limit]
    audios = [load_audio(u.path) for u in clips]
    batch = [model.predict(a).label for a in audios]
    engine = StreamEngine(model)
    print(f"{len(clips)} clips of {len(test)} test speakers, {sum(len(a) for a in audios) / 16000 / 60:.1f} min")
    for name, options in (("speech frames (default, VAD-gated)", StreamOptions()),
                          ("all frames (vad=False)", StreamOptions(vad=False))):
        results = stream_labels(engine, audios, options)
        whole = sum(r[0] == b for r, b in zip(results, batch)) / len(batch)
        early = sum(r[1] == b for r, b in zip(results, batch)) / len(batch)
        long = [(r, b) for r, b in zip(results, batch) if r[2]]
        early_long = sum(r[1] == b for r, b in long) / max(1, len(long))
        truth = sum(r[0] == u.gender for r, u in zip(results, clips)) / len(clips)
        print(f"{name}: agreement with predict after the whole clip {whole:.2%}; "
              f"after the first 1 s of speech {early:.2%} of all clips (a clip with less speech counts whole), "
              f"{early_long:.2%} of the {len(long)} clips with at least 1 s of speech; streaming accuracy {truth:.2%}")
    print(f"batch accuracy {sum(b == u.gender for b, u in zip(batch, clips)) / len(clips):.2%}")
    gated = gated_batch_labels(model, audios)
    results = stream_labels(engine, audios, StreamOptions())
    print(f"if batch used the speech frames only (VAD-gated mean, a proposed option): agreement with the default "
          f"stream after the whole clip {sum(r[0] == g for r, g in zip(results, gated)) / len(gated):.2%}, "
          f"batch accuracy {sum(g == u.gender for g, u in zip(gated, clips)) / len(clips):.2%}")


if __name__ == "__main__":
    main()
