"""The FastAPI app: routes, limits, JSON errors, metrics and the static page."""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import resources
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgender import __version__
from voxgender.model import Model, load_model
from voxgender.server.hub import StreamHub
from voxgender.server.metrics import Metrics
from voxgender.server.security import Guard
from voxgender.server.settings import ServerSettings
from voxgender.server.upload import ENDPOINT as PREDICT
from voxgender.server.upload import predict_bytes, predict_endpoint
from voxgender.server.upload_workers import UploadWorkers
from voxgender.server.websocket import ENDPOINT as STREAM
from voxgender.server.websocket import stream_endpoint

COUNTED = frozenset({PREDICT, "/healthz", "/metrics"})


class CountRequests:
    """ASGI middleware: count HTTP requests by endpoint and status (WebSocket streams count themselves)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            endpoint = scope["path"] if scope["path"] in COUNTED else "other"
            self.metrics.requests.labels(endpoint=endpoint, status=str(status)).inc()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def create_app(model: Model | None = None, settings: ServerSettings | None = None) -> FastAPI:
    """The service for ``model`` (default: the bundled one) within ``settings``' limits."""
    model = model or load_model()
    settings = settings or ServerSettings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.hub = StreamHub(model, metrics, settings.max_streams, settings.step_interval_s)
        await app.state.hub.start()
        yield
        await app.state.hub.stop()
        app.state.uploads.close()

    app = FastAPI(title="voxgender", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.model, app.state.settings, app.state.metrics = model, settings, metrics
    app.state.uploads = UploadWorkers(model, settings.upload_workers, predict_bytes)
    app.add_middleware(Guard, token=settings.token, allowed_origins=settings.allowed_origins)
    app.add_middleware(CountRequests, metrics=metrics)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        return _error(422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()))

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "version": __version__, "active_streams": app.state.hub.active}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(PREDICT, predict_endpoint, methods=["POST"], summary="gender of an uploaded audio file")
    app.add_api_websocket_route(STREAM, stream_endpoint)
    static = resources.files("voxgender.server") / "static"
    app.mount("/", StaticFiles(directory=str(static), html=True), name="page")
    return app
