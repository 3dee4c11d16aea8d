"""``POST /v1/predict``: an audio file (raw body, or multipart field ``file``) -> label and per-second timeline.

The file-level answer is the batch prediction of ``voxgender predict --all-members``: the timeline
needs every frame's posterior, so an ensemble runs all its members anyway (no cascade). The timeline
gives each second's p_female over its speech frames, or ``none`` when silero-vad hears no speech.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from voxgender.core.aggregate import aggregate, mean_log_posterior
from voxgender.core.labels import label_of
from voxgender.core.vad import frame_flags, speech_probabilities, speech_seconds
from voxgender.errors import AudioError
from voxgender.io.audio import SAMPLE_RATE, load_audio
from voxgender.model import Model, Prediction

ENDPOINT = "/v1/predict"


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload of {int(declared)} bytes is more than the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"upload is more than the limit of {limit} bytes")
    return bytes(body)


async def _file_of(request: Request, body: bytes, limit: int) -> tuple[bytes, str]:
    """The uploaded bytes and a name for messages: the multipart field ``file``, or the whole body."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return body, request.query_params.get("name", "upload")

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=8, max_part_size=limit)
    except Exception as err:  # the multipart parser raises several types for malformed bodies
        raise HTTPException(400, f"malformed multipart body ({err})") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(400, "multipart upload needs a file field named 'file'")
    return await upload.read(), upload.filename or "upload"


def timeline(model: Model, audio: np.ndarray, log_post: np.ndarray, speech: np.ndarray) -> list[dict[str, Any]]:
    """Per second: p_female over the speech frames (``speech`` flags) of that second, ``none`` without speech."""
    per_second = int(round(1000 / model.features.hop_ms))
    duration = len(audio) / model.features.sample_rate
    out = []
    for k, start in enumerate(range(0, len(log_post), per_second)):
        lp, sp = log_post[start:start + per_second], speech[start:start + per_second]
        p = mean_log_posterior(lp[sp]) if sp.any() else None
        out.append({"start": float(k), "end": round(min(k + 1.0, duration), 3),
                    "label": label_of(p) if p is not None else "none",
                    "p_female": None if p is None else round(p, 4), "speech": round(float(sp.mean()), 3)})
    return out


def predict_bytes(model: Model, data: bytes, name: str, max_duration_s: float | None = None,
                  min_confidence: float = 0.0) -> dict[str, Any]:
    """Decode (refusing more than ``max_duration_s``), predict as ``voxgender predict --all-members``
    does (``none`` without speech, ``unknown`` below ``min_confidence``), and add the timeline.
    Raises AudioError."""
    audio = load_audio(data, name=name, max_duration_s=max_duration_s)
    log_post = model.posteriors([audio])[0]
    probs = speech_probabilities(audio)
    p_female = float(model.calibrate(np.array([aggregate(log_post, model.aggregation)]))[0])
    prediction = Prediction.from_p_female(name, p_female, len(audio) / SAMPLE_RATE, min_confidence, speech_seconds(probs))
    result = prediction.to_dict()
    result.pop("path")
    return {"name": name, **result, "timeline": timeline(model, audio, log_post, frame_flags(probs, len(log_post), model.features))}


def _min_confidence(request: Request) -> float:
    """The ``min_confidence`` query parameter (0 when absent); 422 unless a number in [0, 1]."""
    text = request.query_params.get("min_confidence", "0")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise HTTPException(422, f"min_confidence must be a number from 0 to 1, not {text!r}")
    return value


async def predict_endpoint(request: Request) -> JSONResponse:
    state = request.app.state
    start = time.perf_counter()
    body = await read_limited(request, state.settings.max_upload_bytes)
    data, name = await _file_of(request, body, state.settings.max_upload_bytes)
    if not data:
        raise HTTPException(400, f"{name}: empty upload (send an audio file as the body or as the field 'file')")
    min_confidence = _min_confidence(request)
    try:
        result = await run_in_threadpool(state.uploads.run, data, name, state.settings.max_duration_s, min_confidence)
    except AudioError as err:
        raise HTTPException(400, str(err)) from None
    state.metrics.predict_latency.observe(time.perf_counter() - start)
    state.metrics.predictions.labels(source="predict", label=result["label"]).inc()
    return JSONResponse(result)
