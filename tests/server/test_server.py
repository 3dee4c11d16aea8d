"""The web service through FastAPI's TestClient: REST and WebSocket, good and bad input, limits, metrics."""

from __future__ import annotations

import io
import os
import signal
import time

import numpy as np
import pytest
import soundfile as sf
import soxr

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")
from fastapi.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from voxgender.model import load_model  # noqa: E402
from voxgender.server import ServerSettings, create_app  # noqa: E402
from voxgender.streaming import Stream  # noqa: E402


@pytest.fixture(scope="module")
def model():
    """The bundled model, whose batch answers run every member, as the server's do (no cascade)."""
    return load_model(all_members=True)


@pytest.fixture(scope="module")
def client(model):
    settings = ServerSettings(max_upload_bytes=400_000, max_streams=3, idle_timeout_s=1.0, max_frame_bytes=64_000,
                              max_duration_s=5.0)
    with TestClient(create_app(model, settings)) as c:
        yield c


def wav_bytes(audio: np.ndarray, rate: int = 16000, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=fmt)
    return buf.getvalue()


def one_hertz_wav() -> bytes:
    """A WAV whose header says 1 Hz: resampled, its 8000 samples would be 8000 s of audio."""
    data = bytearray(wav_bytes(np.full(8000, 0.1, np.float32)))
    data[24:32] = (1).to_bytes(4, "little") + (2).to_bytes(4, "little")
    return bytes(data)


def s16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def local_stream(model, audio: np.ndarray, rate: int = 16000):
    """Decisions and summary of the same audio through a local Stream."""
    stream = Stream(model, rate)
    decisions = stream.feed(audio.astype(np.float32))
    rest, summary = stream.finish()
    return decisions + rest, summary


def receive_until_final(ws) -> tuple[list[dict], dict]:
    decisions = []
    while True:
        message = ws.receive_json()
        if message.get("final") or "error" in message:
            return decisions, message
        decisions.append(message)


def stream_over_ws(client, payload: bytes, query: str, frame: int = 3200) -> tuple[list[dict], dict]:
    with client.websocket_connect(f"/v1/stream?{query}") as ws:
        for i in range(0, len(payload), frame):
            ws.send_bytes(payload[i:i + frame])
        ws.send_text("end")
        return receive_until_final(ws)


def assert_error_close(client, query: str, send, status: int, code: int, words: str) -> None:
    with client.websocket_connect(f"/v1/stream?{query}") as ws:
        send(ws)
        message = ws.receive_json()
        assert message["status"] == status and words in message["error"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == code


# -- REST ----------------------------------------------------------------------------------------
def test_predict_raw_body_matches_the_batch_prediction(client, model, female_clip):
    data = wav_bytes(female_clip)
    response = client.post("/v1/predict?name=voice.wav", content=data)
    assert response.status_code == 200
    result = response.json()
    expected = model.predict(data)
    assert (result["label"], result["p_female"], result["duration_s"]) == (expected.label, expected.p_female, 2.0)
    assert result["name"] == "voice.wav" and result["confidence"] == expected.confidence
    assert [s["start"] for s in result["timeline"]] == [0.0, 1.0]
    assert all(s["label"] in ("female", "male", "none") and 0 <= s["speech"] <= 1 for s in result["timeline"])


def test_predict_multipart_file_in_another_format(client, model, male_clip):
    flac = wav_bytes(soxr.resample(male_clip, 16000, 44100), 44100, "FLAC")
    response = client.post("/v1/predict", files={"file": ("talk.flac", flac, "audio/flac")})
    assert response.status_code == 200
    assert response.json()["p_female"] == model.predict(flac).p_female
    assert response.json()["name"] == "talk.flac"


@pytest.mark.parametrize("kwargs, status, words", [
    ({"content": b"RIFF....WAVEfmt garbage" * 20}, 400, "upload: not a decodable audio file"),
    ({"files": {"file": ("notes.txt", b"just some text, not audio\n" * 40, "text/plain")}}, 400, "notes.txt"),
    ({"files": {"other": ("a.wav", b"x", "audio/wav")}}, 400, "field named 'file'"),
    ({"content": b""}, 400, "empty upload"),
    ({"content": wav_bytes(np.zeros(16000, np.float32))}, 400, "silent"),
    ({"content": b"\0" * 400_001}, 413, "limit of 400000 bytes"),
    ({"files": {"file": ("big.wav", b"\0" * 400_001, "audio/wav")}}, 413, "limit"),
    ({"content": one_hertz_wav()}, 400, "sample rate 1 Hz"),
    ({"content": wav_bytes(np.full(16000 * 6, 0.1, np.float32), fmt="FLAC")}, 400, "longer than the 5 s allowed"),
])
def test_predict_bad_uploads_get_one_line_4xx_json(client, kwargs, status, words):
    response = client.post("/v1/predict", **kwargs)
    assert response.status_code == status
    error = response.json()["error"]
    assert words in error and "\n" not in error and response.json()["status"] == status
    assert client.get("/healthz").json()["status"] == "ok"  # and the server goes on


def test_predict_min_confidence_answers_unknown_when_in_doubt(client, female_clip):
    data = wav_bytes(female_clip)
    assert client.post("/v1/predict?min_confidence=1", content=data).json()["label"] == "unknown"
    assert client.post("/v1/predict?min_confidence=0.5", content=data).json()["label"] in ("female", "male")
    response = client.post("/v1/predict?min_confidence=high", content=data)
    assert response.status_code == 422 and "min_confidence" in response.json()["error"]


def test_page_health_metrics_and_unknown_paths(client):
    page = client.get("/")
    script = client.get("/app.js").text
    assert page.status_code == 200 and "getUserMedia" in script and "/v1/stream" in script and "app.js" in page.text
    assert "registerProcessor" in client.get("/worklet.js").text
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    for name in ("voxgender_requests_total", "voxgender_active_streams", "voxgender_predict_latency_seconds_bucket",
                 "voxgender_stream_step_seconds_bucket", "voxgender_predictions_total"):
        assert name in metrics.text


# -- WebSocket -----------------------------------------------------------------------------------
def test_stream_decisions_every_100_ms_and_a_final_summary(client, model, female_clip):
    decisions, final = stream_over_ws(client, s16(female_clip), "sample_rate=16000&encoding=pcm_s16le")
    assert len(decisions) >= len(female_clip) // 1600
    assert set(decisions[0]) == {"t", "label", "p_female", "confidence", "speech", "speech_s"}
    reference, summary = local_stream(model, np.frombuffer(s16(female_clip), "<i2") / 32768.0)
    assert decisions == [d.to_dict() for d in reference] and final == summary.to_dict()
    assert final["final"] is True and final["label"] == model.predict(female_clip).label
    assert 0.5 < final["speech_s"] <= 2.0 and final["duration_s"] == 2.0


def test_stream_float32_at_48k(client, model, male_clip):
    at_48k = soxr.resample(male_clip, 16000, 48000).astype("<f4")
    decisions, final = stream_over_ws(client, at_48k.tobytes(), "sample_rate=48000&encoding=pcm_f32le", frame=19200)
    assert final["label"] == model.predict(male_clip).label and len(decisions) >= 19


@pytest.mark.parametrize("query, words", [
    ("sample_rate=100", "sample_rate '100'"),
    ("sample_rate=abc", "sample_rate 'abc'"),
    ("encoding=mp3", "encoding 'mp3'"),
    ("smoothing=median", "smoothing 'median'"),
])
def test_stream_bad_parameters(client, query, words):
    assert_error_close(client, query, lambda ws: None, 400, 1008, words)


def test_stream_bad_frames_and_messages(client, female_clip):
    assert_error_close(client, "encoding=pcm_s16le", lambda ws: ws.send_bytes(s16(female_clip[:800]) + b"\1"),
                       400, 1007, "frame 1: 1601 bytes is not a whole number of s16le samples")
    assert_error_close(client, "encoding=pcm_f32le", lambda ws: ws.send_bytes(np.full(4, np.nan, "<f4").tobytes()),
                       400, 1007, "NaN")
    assert_error_close(client, "", lambda ws: ws.send_text("hello"), 400, 1003, "'end'")
    assert_error_close(client, "", lambda ws: ws.send_bytes(b"\0" * 64_002), 413, 1009, "more than 64000")
    assert client.get("/healthz").json()["active_streams"] == 0


def test_stream_idle_timeout(client, female_clip):
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(s16(female_clip[:4800]))  # 0.3 s: decisions, whatever the features' look-ahead
        messages = [ws.receive_json()]
        while "error" not in messages[-1]:
            messages.append(ws.receive_json())
        assert len(messages) > 1  # decisions first, then the idle error after 1 s without audio
        assert messages[-1]["status"] == 408 and "idle" in messages[-1]["error"]


def test_stream_limit_and_concurrent_streams(client, model, female_clip, male_clip):
    clips = [female_clip, male_clip, female_clip[::-1].copy()]
    with client.websocket_connect("/v1/stream") as a, client.websocket_connect("/v1/stream") as b, \
            client.websocket_connect("/v1/stream") as c:
        sockets = [a, b, c]
        deadline = time.monotonic() + 5
        while client.get("/healthz").json()["active_streams"] < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert_error_close(client, "", lambda ws: None, 503, 1013, "limit of 3 streams")
        for i in range(0, len(female_clip), 1600):  # interleaved, as live clients send
            for ws, clip in zip(sockets, clips):
                ws.send_bytes(s16(clip[i:i + 1600]))
        finals = []
        for ws in sockets:
            ws.send_text("end")
            finals.append(receive_until_final(ws)[1])
    assert finals == [local_stream(model, np.frombuffer(s16(c), "<i2") / 32768.0)[1].to_dict() for c in clips]
    metrics = client.get("/metrics").text
    assert 'voxgender_predictions_total{label="female",source="stream"}' in metrics


def test_a_client_that_goes_away_frees_its_stream(client, female_clip):
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(s16(female_clip[:8000]))
        ws.receive_json()
    deadline = time.monotonic() + 5
    while client.get("/healthz").json()["active_streams"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.get("/healthz").json()["active_streams"] == 0
    assert stream_over_ws(client, s16(female_clip), "")[1]["final"] is True  # and the next stream works


def test_a_crashed_engine_is_restarted_and_the_server_goes_on(model, female_clip):
    """Streams of the lost engine get a 500 error and a close; new streams work."""
    with TestClient(create_app(model)) as client, client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(s16(female_clip[:3200]))
        assert "t" in ws.receive_json()
        os.kill(client.app.state.hub._engine._process.pid, signal.SIGKILL)
        ws.send_bytes(s16(female_clip[3200:6400]))
        message = ws.receive_json()
        while "error" not in message:
            message = ws.receive_json()
        assert message["status"] == 500 and "restarted" in message["error"]
        decisions, final = stream_over_ws(client, s16(female_clip), "")
        assert final["final"] is True and len(decisions) == 20


def test_a_token_guards_the_api_and_the_stream_but_not_health_or_the_page(model, female_clip):
    settings = ServerSettings(token="s3cret", max_streams=2)
    with TestClient(create_app(model, settings)) as c:
        data = wav_bytes(female_clip)
        refused = c.post("/v1/predict", content=data)
        assert refused.status_code == 401 and "token" in refused.json()["error"]
        assert c.post("/v1/predict", content=data, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/v1/predict", content=data, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/metrics").status_code == 401
        assert c.get("/healthz").status_code == 200 and c.get("/").status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed, c.websocket_connect("/v1/stream") as ws:
            ws.receive_json()
        assert closed.value.code == 1008
        decisions, final = stream_over_ws(c, s16(female_clip), "sample_rate=16000&token=s3cret")
        assert final["final"] and decisions


def test_a_page_of_another_origin_cannot_open_a_stream(client, female_clip):
    with pytest.raises(WebSocketDisconnect) as closed, \
            client.websocket_connect("/v1/stream", headers={"origin": "https://elsewhere.example"}) as ws:
        ws.receive_json()
    assert closed.value.code == 1008
    with client.websocket_connect("/v1/stream", headers={"origin": "http://testserver"}) as ws:
        ws.send_bytes(s16(female_clip))
        ws.send_text("end")
        assert receive_until_final(ws)[1]["final"]


def test_each_step_takes_a_slice_of_every_streams_audio_and_ends_a_stream_after_its_audio():
    from voxgender.server.hub import PendingAudio

    pending = PendingAudio()
    pending.open(1, 16000)
    pending.open(2, 48000)
    pending.push(1, np.zeros(16000 * 60, np.float32))  # a flood: a minute at once
    pending.push(2, np.zeros(4800, np.float32))  # 0.1 s
    pending.end(1)
    pushes, ends = pending.take(0.5)
    assert sum(map(len, pushes[1])) == 8000 and sum(map(len, pushes[2])) == 4800 and ends == []
    assert pending.seconds(1) == pytest.approx(59.5) and pending.seconds(2) == 0 and pending.waiting
    for _ in range(119):
        pushes, ends = pending.take(0.5)
    assert ends == [1] and pending.seconds(1) == 0 and not pending.waiting


def test_commands_cross_the_pipe_with_every_streams_audio_in_order():
    from multiprocessing import Pipe

    from voxgender.core.decisions import StreamOptions
    from voxgender.server.engine_process import Commands, pack, receive_commands, send_packed

    rng = np.random.default_rng(0)
    first, second, third = (rng.normal(0, 0.1, n).astype(np.float32) for n in (1600, 480, 4800))
    sent = Commands(opens=[(7, 48000, StreamOptions())], pushes={3: [first, second], 7: [third]}, ends=[3], drops=[5])
    ours, theirs = Pipe()
    send_packed(ours, pack(sent))
    send_packed(ours, pack(Commands()))
    ours.send(None)
    got = receive_commands(theirs)
    assert (got.opens, got.ends, got.drops) == (sent.opens, sent.ends, sent.drops)
    assert list(got.pushes) == [3, 7]
    assert np.array_equal(np.concatenate(got.pushes[3]), np.concatenate([first, second]))
    assert np.array_equal(np.concatenate(got.pushes[7]), third)
    assert receive_commands(theirs) == Commands() and receive_commands(theirs) is None


def test_updates_cross_the_pipe_as_plain_tuples_and_come_back_whole():
    import pickle

    from voxgender.core.decisions import Decision, Summary
    from voxgender.engine import Update
    from voxgender.errors import AudioError
    from voxgender.server.engine_process import from_wire, to_wire

    update = Update([Decision(0.1, "none", None, None, False, 0.0), Decision(0.2, "male", 0.1234, 0.8766, True, 0.08)],
                    Summary("male", 0.1234, 0.8766, 0.08, 0.25))
    wire = to_wire(update)
    assert b"Decision" not in pickle.dumps(wire)  # no objects to rebuild by calling Python code
    assert from_wire(pickle.loads(pickle.dumps(wire))) == update
    assert from_wire(to_wire(Update())) == Update()
    error = AudioError("frame 3: contains NaN or infinite samples")
    assert from_wire(to_wire(error)) is error


def test_an_upload_without_speech_is_answered_none(client):
    from helpers import synthetic_music

    answer = client.post("/v1/predict", content=wav_bytes(synthetic_music(4.0))).json()  # within the test server's 5 s
    assert answer["label"] == "none" and answer["p_female"] is None and answer["speech_s"] < 0.5
    assert {second["label"] for second in answer["timeline"]} == {"none"}


def test_an_upload_that_kills_its_decoding_process_gets_one_line_and_the_server_goes_on(model, female_clip):
    """Uploads are decoded in worker processes: a native crash there costs a worker, not the server."""
    from helpers import crash_on_marked_uploads

    from voxgender.server.upload_workers import UploadWorkers

    app = create_app(model, ServerSettings())
    app.state.uploads.close()
    app.state.uploads = UploadWorkers(model, 1, crash_on_marked_uploads)
    with TestClient(app) as client:
        crashed = client.post("/v1/predict?name=hostile.m4a", content=b"CRASH" + bytes(100))
        assert crashed.status_code == 400
        assert crashed.json()["error"] == "hostile.m4a: the decoder crashed on this file"
        after = client.post("/v1/predict", content=wav_bytes(female_clip))
        assert after.status_code == 200 and after.json()["label"] == "female"
        assert client.get("/healthz").json()["status"] == "ok"
