"""``WebSocket /v1/stream``: binary mono PCM frames in, JSON decisions out, a summary at the end.

Query: ``sample_rate`` (8000..192000, default 16000), ``encoding`` (``pcm_s16le`` or ``pcm_f32le``),
optional ``smoothing``. The text message ``end`` finishes the stream with ``{"final": true, ...}``.
A bad parameter, frame or message gets ``{"error": ..., "status": 4xx}`` and a close (a full
server 503, a failed engine 500).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voxgender.core.decisions import StreamOptions
from voxgender.core.smoothing import SMOOTHINGS
from voxgender.engine import MAX_RATE, MIN_RATE
from voxgender.errors import VoxgenderError
from voxgender.io.pcm import decode_pcm
from voxgender.server.hub import EngineFailed, StreamHub, TooManyStreams
from voxgender.server.metrics import Metrics
from voxgender.server.settings import ServerSettings

ENCODINGS = {"pcm_s16le": "s16le", "pcm_f32le": "f32le"}
ENDPOINT = "/v1/stream"
POLICY, UNSUPPORTED, INVALID_DATA, TOO_BIG, INTERNAL, TRY_LATER = 1008, 1003, 1007, 1009, 1011, 1013


class StreamClosed(Exception):
    """Close the WebSocket with this error after sending it as JSON."""

    def __init__(self, message: str, status: int, code: int) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class StreamParams:
    sample_rate: int
    encoding: str
    options: StreamOptions

    @classmethod
    def parse(cls, query: dict[str, str]) -> "StreamParams":
        rate_text = query.get("sample_rate", "16000")
        if not rate_text.isdigit() or not MIN_RATE <= int(rate_text) <= MAX_RATE:
            raise StreamClosed(f"sample_rate {rate_text!r}: must be a whole number of Hz from {MIN_RATE} to {MAX_RATE}",
                               400, POLICY)
        encoding = query.get("encoding", "pcm_s16le")
        if encoding not in ENCODINGS:
            raise StreamClosed(f"encoding {encoding!r}: must be {' or '.join(ENCODINGS)}", 400, POLICY)
        smoothing = query.get("smoothing", StreamOptions.smoothing)
        if smoothing not in SMOOTHINGS:
            raise StreamClosed(f"smoothing {smoothing!r}: must be one of {', '.join(SMOOTHINGS)}", 400, POLICY)
        return cls(int(rate_text), ENCODINGS[encoding], StreamOptions(smoothing=smoothing))


def _open(ws: WebSocket) -> bool:
    return ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED


async def _send(ws: WebSocket, payload: dict) -> None:
    if _open(ws):
        await ws.send_text(json.dumps(payload))


async def _forward(ws: WebSocket, hub: StreamHub, sid: int, metrics: Metrics) -> None:
    """Send the stream's decisions as they come, then its summary (or raise its error)."""
    while True:
        item = await hub.next(sid)
        if isinstance(item, EngineFailed):
            raise StreamClosed(str(item), 500, INTERNAL)
        if isinstance(item, VoxgenderError):
            raise StreamClosed(str(item), 400, INVALID_DATA)
        for decision in item.decisions:
            await _send(ws, decision.to_dict())
        if item.summary is not None:
            metrics.predictions.labels(source="stream", label=item.summary.label).inc()
            await _send(ws, item.summary.to_dict())
            return


async def _receive(ws: WebSocket, hub: StreamHub, sid: int, params: StreamParams, settings: ServerSettings,
                   metrics: Metrics) -> bool:
    """Pass frames to the hub until ``end`` (True) or a client close (False)."""
    frames = 0
    while True:
        try:
            async with asyncio.timeout(settings.idle_timeout_s):
                message = await ws.receive()
        except TimeoutError:
            idle = f"no audio for {settings.idle_timeout_s:g} s: closing an idle stream"
            raise StreamClosed(idle, 408, POLICY) from None
        if message["type"] == "websocket.disconnect":
            return False
        data, text = message.get("bytes"), message.get("text")
        if data is not None:
            frames += 1
            if len(data) > settings.max_frame_bytes:
                too_big = f"frame {frames}: {len(data)} bytes is more than {settings.max_frame_bytes}"
                raise StreamClosed(too_big, 413, TOO_BIG)
            try:
                samples = decode_pcm(data, params.encoding, f"frame {frames}")
            except VoxgenderError as err:
                raise StreamClosed(str(err), 400, INVALID_DATA) from None
            metrics.stream_audio.inc(len(samples) / params.sample_rate)
            hub.push(sid, samples)
            await hub.wait_for_room(sid)  # a sender faster than the engine waits here: TCP slows it
        elif text is not None and text.strip() == "end":
            hub.end(sid)
            return True
        else:
            raise StreamClosed("send binary PCM frames, or the text message 'end'", 400, UNSUPPORTED)


async def stream_endpoint(ws: WebSocket) -> None:
    """One client stream, from accept to close; errors reach the client, never the other streams."""
    state = ws.app.state
    hub, metrics, settings = state.hub, state.metrics, state.settings
    await ws.accept()
    sid = None
    tasks: list[asyncio.Task] = []
    status = "200"
    try:
        params = StreamParams.parse(dict(ws.query_params))
        try:
            sid = hub.open(params.sample_rate, params.options)
        except TooManyStreams as err:
            raise StreamClosed(str(err), 503, TRY_LATER) from None
        metrics.active_streams.inc()
        forward = asyncio.create_task(_forward(ws, hub, sid, metrics))
        receiving = asyncio.create_task(_receive(ws, hub, sid, params, settings, metrics))
        tasks = [forward, receiving]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if forward in done:  # an error from the engine while the client was still sending
            forward.result()
        elif receiving.result():
            await forward
        else:
            hub.end(sid)  # closed by the client: finish for the metrics, nothing more to send
            await forward
        if _open(ws):
            await ws.close(1000)
    except StreamClosed as err:
        status = str(err.status)
        await _send(ws, {"error": str(err), "status": err.status})
        if _open(ws):
            await ws.close(err.code, reason=str(err).encode()[:120].decode(errors="ignore"))
    except WebSocketDisconnect:
        status = "499"
    finally:
        for task in tasks:
            task.cancel()
        if sid is not None:
            hub.drop(sid)
            metrics.active_streams.dec()
        metrics.requests.labels(endpoint=ENDPOINT, status=status).inc()
