"""Helpers shared by the echo/QOTD/finger/catalogue/command tests.

``MemoryTransport`` is only for the parser property tests (hypothesis feeds bytes cut
at random points); every behaviour is also tested over real loopback sockets.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable


class MemoryTransport:
    """Records writes and closes: enough of a transport to drive a parser."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.disconnecting = False

    def write(self, data: bytes) -> None:
        self.written += data

    def loseConnection(self) -> None:
        self.disconnecting = True

    abortConnection = loseConnection


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
    """A plain ``socket`` server in a thread: the peer our clients are tested against.

    ``handle(conn)`` runs for each accepted connection; the server stops on close().
    """

    def __init__(self, handle: Callable[[socket.socket], None], udp: bool = False) -> None:
        kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        if not udp:
            self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.udp = udp
        self.handle = handle
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if self.udp:
                    data, addr = self.sock.recvfrom(65536)
                    self.handle((self.sock, data, addr))  # type: ignore[arg-type]
                    continue
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(5)
            with conn:
                try:
                    self.handle(conn)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()

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

