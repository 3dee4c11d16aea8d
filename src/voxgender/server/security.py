"""Who may use the service: an optional bearer token on the API, and the origins whose pages may
open a stream (a browser lets any page open a WebSocket to any server, with its user's network)."""

from __future__ import annotations

import hmac
import json
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

PROTECTED_PREFIXES = ("/v1/", "/metrics")  # the page and /healthz stay open
POLICY_VIOLATION = 1008


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """A request without an Origin header (not from a browser page) is allowed; a page's origin must
    be listed, or, with no list, be the server's own (its host and port as the client named them)."""
    if not origin:
        return True
    if allowed:
        return origin.rstrip("/") in allowed or "*" in allowed
    return urlsplit(origin).netloc == host


def token_given(headers: dict[str, str], query_string: bytes) -> str:
    """The bearer token of the Authorization header, else the ``token`` query parameter (browsers
    cannot set headers on a WebSocket)."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return parse_qs(query_string.decode("latin-1")).get("token", [""])[0]


class Guard:
    """ASGI middleware: refuses a missing or wrong token (401) on the API and the stream, and a
    WebSocket from a page of another origin (403), before the route sees the request."""

    def __init__(self, app: ASGIApp, token: str | None, allowed_origins: tuple[str, ...]) -> None:
        self.app, self.token, self.allowed_origins = app, token, allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = None
        if scope["type"] == "websocket" and not origin_allowed(headers.get("origin"), headers.get("host"), self.allowed_origins):
            refusal = (403, f"origin {headers.get('origin')} may not open a stream here")
        elif (self.token and scope["path"].startswith(PROTECTED_PREFIXES)
              and not hmac.compare_digest(token_given(headers, scope.get("query_string", b"")), self.token)):
            refusal = (401, "missing or wrong token: send 'Authorization: Bearer TOKEN' (or ?token= on the stream)")
        if refusal is None:
            return await self.app(scope, receive, send)
        status, message = refusal
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": message[:120]})
            return
        body = json.dumps({"error": message, "status": status}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
