"""The web service: REST predictions, WebSocket streaming, metrics and a live page (``voxgender serve``).

Part of the base install; the ``serve`` extra adds a faster event loop (uvloop, httptools).
"""

from voxgender.server.app import create_app
from voxgender.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
