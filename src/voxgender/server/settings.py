"""Limits of the web service."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSettings:
    """What one server accepts; anything beyond gets a 4xx JSON error (or a WebSocket close with one)."""

    max_upload_bytes: int = 50 * 1024 * 1024
    max_duration_s: float = 1800.0  # decoded audio of one upload: a few MB can claim hours
    max_streams: int = 400
    idle_timeout_s: float = 30.0  # a WebSocket that sends nothing for this long is closed
    max_frame_bytes: int = 1024 * 1024  # one WebSocket message
    step_interval_s: float = 0.05  # the engine steps at most this often: bigger micro-batches, a little latency
    token: str | None = None  # if set, the API and the stream need it as a bearer token
    allowed_origins: tuple[str, ...] = ()  # pages that may open a stream; empty: the server's own page only
    upload_workers: int = 2  # processes that decode and score uploads: a decoder's crash costs one of them

    def __post_init__(self) -> None:
        if (self.max_upload_bytes < 1 or self.max_duration_s <= 0 or self.max_streams < 1 or self.idle_timeout_s <= 0
                or self.max_frame_bytes < 4 or self.upload_workers < 1
                or self.step_interval_s < 0):
            raise ValueError("server limits must be positive")
