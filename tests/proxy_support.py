"""Helpers for the proxy tests: a proxy on a reactor in front of a plain-socket server."""

from __future__ import annotations

import socket
import time
from typing import Any

from inspector.proxy import Faults, Proxy


def start_proxy(reactor: Any, upstream: int | str, dissector: str | None = None, **faults: Any) -> tuple[Proxy, int]:
    """A proxy listening on a free loopback port, relaying to ``upstream`` (a port on
    127.0.0.1, or an endpoint string); returns it and its port."""
    target = f"127.0.0.1:{upstream}" if isinstance(upstream, int) else upstream
    proxy = Proxy(reactor, target, Faults(**faults), dissector=dissector)
    proxy.port = reactor.listenTCP(0, proxy, interface="127.0.0.1")
    return proxy, proxy.port.getHost().port


def recv_all(sock: socket.socket, limit: int = 1 << 26) -> bytes:
    """Read until the peer's FIN (or ``limit`` bytes)."""
    chunks = []
    size = 0
    while size < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes (fewer only if the peer closes first)."""
    chunks = []
    got = 0
    while got < size:
        chunk = sock.recv(min(65536, size - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def echo(conn: socket.socket) -> None:
    """A plain echo server's connection handler: echo until EOF, then close."""
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)


def wait_for(condition: Any, timeout: float = 5.0) -> bool:
    """Poll ``condition()`` from a test thread until true (bounded); return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())
