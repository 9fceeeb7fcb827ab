"""``makeService(options)``: the greeting server as a service, for ``inspector run``.

``inspector run greeting.service --headless -- --port 8099 --greeting Hi`` runs it the
way ``twistd`` runs a plug-in's service maker.
"""

from __future__ import annotations

from typing import Any

from greeting.protocol import GreetingFactory
from greeting.wire import DEFAULT_PORT
from inspector.application import strports
from inspector.service import StreamServerEndpointService


def makeService(options: dict[str, Any]) -> StreamServerEndpointService:
    """A service listening on 127.0.0.1 (``--port``, ``--interface``) with ``--greeting``."""
    port = int(options.get("port", DEFAULT_PORT))
    interface = options.get("interface", "127.0.0.1")
    server = strports.service(f"tcp:{port}:interface={interface}", GreetingFactory(options.get("greeting", "Hello")))
    server.setName("greeting server")  # shown in the log and the window's Running list
    return server
