"""The proxy: relay any client to any server, traced, dissected and perturbed.

``Proxy(reactor, "127.0.0.1:7000", Faults(latency_up=0.1), dissector="irc").listen("8000")``
relays every client that connects to port 8000 to the server, both legs linked in the
trace. See :mod:`inspector.proxy.relay` (sessions, holding, injecting),
:mod:`inspector.proxy.faults` (what can be done to the bytes) and
:mod:`inspector.proxy.pipe` (one direction, with flow control).
"""

from inspector.proxy.addresses import client_endpoint_string, server_endpoint_string
from inspector.proxy.faults import DIRECTIONS, Direction, Faults, check_direction
from inspector.proxy.pipe import MAX_QUEUED, HeldChunk, Pipe
from inspector.proxy.relay import ClientLeg, Proxy, ProxySession, UpstreamLeg, reset, session_for_connection

__all__ = [
    "DIRECTIONS", "Direction", "Faults", "check_direction", "HeldChunk", "Pipe", "MAX_QUEUED",
    "Proxy", "ProxySession", "ClientLeg", "UpstreamLeg", "reset", "session_for_connection",
    "client_endpoint_string", "server_endpoint_string",
]
