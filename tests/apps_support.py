"""Helpers shared by the echo/QOTD/finger/catalogue/command tests.

The parser property tests (hypothesis feeds bytes cut at random points) use
``inspector.testing.StringTransport``; every behaviour is also tested over real
loopback sockets.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import Any, Callable


def feed(protocol: Any, data: bytes, cuts: list[int]) -> None:
    """Deliver ``data`` to ``protocol.dataReceived`` cut at the offsets in ``cuts``."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in zip(points, points[1:]):
        protocol.dataReceived(data[start:end])


def read_until_closed(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Read from a blocking socket until the peer closes (or ``limit`` bytes)."""
    chunks = []
    size = 0
    while size < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def in_thread(reactor: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """Run blocking ``fn(*args)`` (plain socket code) in a thread; Deferred of its result."""
    from inspector.threads import deferToThreadPool

    return deferToThreadPool(reactor, reactor.getThreadPool(), fn, *args)


class ThreadedServer:
    """A stdlib ``socketserver`` server in a thread: the peer our clients are tested against.

    ``handle(conn)`` runs for each TCP connection (the connection closes when it
    returns); with ``udp=True``, ``handle((sock, datagram, addr))`` runs per datagram.
    """

    def __init__(self, handle: Callable[[Any], None], udp: bool = False) -> None:
        if udp:

            class Handler(socketserver.BaseRequestHandler):
                def handle(self) -> None:
                    data, sock = self.request
                    handle((sock, data, self.client_address))

            self.server: socketserver.BaseServer = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Handler)
        else:

            class Handler(socketserver.BaseRequestHandler):  # type: ignore[no-redef]
                def handle(self) -> None:
                    self.request.settimeout(5)
                    try:
                        handle(self.request)
                    except OSError:
                        pass

            self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> "ThreadedServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_HAMMER = """
import socket, sys
port, count, junk = int(sys.argv[1]), int(sys.argv[2]), bytes.fromhex(sys.argv[3])
for i in range(count):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if i % 2 and junk:
        sock.sendall(junk)  # then drop the connection mid-line
    if i % 3 == 0:  # reset instead of a clean close
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\\x01" + bytes(7))
    sock.close()
"""


def hammer(port: int, count: int, junk: bytes = b"") -> None:
    """Open and drop ``count`` connections from another process (some with junk, some reset).

    Another process, as real clients are: a thread in the test process would share
    the GIL with the reactor and overflow the listen backlog before it can accept.
    """
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-c", _HAMMER, str(port), str(count), junk.hex()],
        check=True, timeout=120,
    )

