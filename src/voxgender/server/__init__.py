"""The web service: REST predictions, WebSocket streaming, metrics and a live page (``voxgender serve``).

Needs the ``serve`` extra: ``pip install 'voxgender[serve]'``.
"""

from voxgender.server.app import create_app
from voxgender.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
