"""``voxgender serve``: the web service under uvicorn (the ``serve`` extra)."""

from __future__ import annotations

import sys

from voxgender.errors import VoxgenderError
from voxgender.io.progress import say
from voxgender.model import load_model
from voxgender.runtime import one_thread


def serve(host: str, port: int, model_path: str | None = None, max_streams: int = 400, max_upload_mb: float = 50.0,
          idle_timeout_s: float = 30.0, max_duration_s: float = 1800.0, token: str | None = None,
          allowed_origins: tuple[str, ...] = (), upload_workers: int = 2) -> None:
    """Run the service until interrupted."""
    try:
        import uvicorn

        from voxgender.server import ServerSettings, create_app
    except ImportError as err:
        raise VoxgenderError(f"serve: the web service's packages are missing ({err}): pip install voxgender") from None
    try:
        settings = ServerSettings(max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_streams=max_streams,
                                  idle_timeout_s=idle_timeout_s, max_duration_s=max_duration_s, token=token or None,
                                  allowed_origins=allowed_origins, upload_workers=upload_workers)
    except ValueError as err:
        raise VoxgenderError(f"serve: {err}") from None
    one_thread()
    # The engine thread and the event loop share the GIL: switch often, or every socket read of the
    # loop can wait out the default 5 ms interval behind an engine step.
    sys.setswitchinterval(0.0005)
    app = create_app(load_model(model_path), settings)
    say(f"voxgender: open http://{host}:{port}/ for the live page; POST /v1/predict, WebSocket /v1/stream, "
        "GET /healthz, GET /metrics")
    # Compression costs CPU on both sides for PCM and short JSON messages: off.
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_per_message_deflate=False)
