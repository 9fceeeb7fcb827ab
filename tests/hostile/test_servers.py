"""Echo, QOTD and finger servers against hostile peers and files (issue 13, items 1, 4, 12).

Peers are plain blocking sockets run in the reactor's thread pool, over loopback on
every reactor. The servers' protocols are subclassed only to learn, as events, when a
connection has been made or has ended on the server's side.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import subprocess
import sys
import threading
from typing import Any, Callable

import pytest

from inspector.defer import Deferred
from inspector.protocols.echo import Echo, EchoFactory
from inspector.protocols.finger import BUSY, FingerFactory, FingerServer, UserDatabase, UserFileError
from inspector.protocols.irc import IRCServerFactory
from inspector.protocols.qotd import (
    MAX_QUOTE_FILE,
    QOTD,
    QOTDFactory,
    QuoteFileError,
    StaticQuoter,
    load_fortune_file,
)

from apps_support import in_thread, read_until_closed

USERS = {"alice": "Alice Liddell", "bob": "Bob"}
QUOTE = "Carpe diem."


class Events:
    """Server-side connection events, in order, each awaitable."""

    def __init__(self) -> None:
        self.made: list[Any] = []
        self.lost: list[Any] = []
        self._waiting: list[tuple[Callable[[], bool], Deferred]] = []

    def note(self) -> None:
        for item in list(self._waiting):
            if item[0]():
                self._waiting.remove(item)
                item[1].callback(None)

    def until(self, condition: Callable[[], bool]) -> Deferred:
        d: Deferred = Deferred()
        if condition():
            d.callback(None)
        else:
            self._waiting.append((condition, d))
        return d


def watched(protocol_class: type, events: Events) -> type:
    """A subclass of ``protocol_class`` that records its connections in ``events``."""

    class Watched(protocol_class):  # type: ignore[misc, valid-type]
        def connectionMade(self) -> None:
            super().connectionMade()
            events.made.append(self)
            events.note()

        def connectionLost(self, reason: Any) -> None:
            super().connectionLost(reason)
            events.lost.append(self)
            events.note()

    return Watched


def make_server(kind: str, **options: Any) -> Any:
    if kind == "echo":
        return EchoFactory(**options)
    if kind == "qotd":
        return QOTDFactory(StaticQuoter(QUOTE), **options)
    return FingerFactory(USERS, **options)


PROTOCOLS = {"echo": Echo, "qotd": QOTD, "finger": FingerServer}


def listen(reactor: Any, kind: str, **options: Any) -> tuple[Any, int, Events, Any]:
    factory = make_server(kind, **options)
    events = Events()
    factory.protocol = watched(PROTOCOLS[kind], events)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return factory, port.getHost().port, events, port


def connect(port: int, send: bytes = b"", rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    if send:
        sock.sendall(send)
    return sock


def served(kind: str, port: int) -> tuple[socket.socket, bytes]:
    """Open a connection and get the server's normal answer; the socket stays open."""
    if kind == "echo":
        sock = connect(port, b"ping\r\n")
        return sock, sock.recv(100)
    if kind == "qotd":
        sock = connect(port)
        return sock, read_until_closed(sock)  # the quote and the server's FIN
    sock = connect(port, b"alice\r\n")
    return sock, read_until_closed(sock)


ANSWERS = {"echo": b"ping\r\n", "qotd": b"Carpe diem.\r\n", "finger": b"Login: alice\r\nAlice Liddell\r\n"}


def refused(port: int) -> bytes:
    """Connect, send nothing, read until the server closes."""
    with connect(port) as sock:
        return read_until_closed(sock)


# ---------------------------------------------------------------------- connection cap


@pytest.mark.parametrize("kind", ["echo", "qotd", "finger"])
def test_connections_over_the_cap_are_closed_at_once_and_logged_once(
    reactor: Any, run: Any, caplog: Any, kind: str
) -> None:
    held: list[socket.socket] = []

    async def scenario() -> None:
        factory, port, events, listening = listen(reactor, kind, max_connections=2)
        for _ in range(2):
            # Held open: echo and QOTD keep a connection until the client closes it,
            # finger until it has a query (or its idle timeout).
            if kind == "finger":
                held.append(await in_thread(reactor, connect, port, b"ali"))
            else:
                sock, answer = await in_thread(reactor, served, kind, port)
                held.append(sock)
                assert answer == ANSWERS[kind]
        await events.until(lambda: len(events.made) == 2)
        for attempt in range(4):
            answer = await in_thread(reactor, refused, port)
            assert answer == (BUSY.encode() + b"\r\n" if kind == "finger" else b""), answer
        await events.until(lambda: len(events.lost) == 4)
        limit_lines = [r.getMessage() for r in caplog.records if "the limit" in r.getMessage()]
        assert len(limit_lines) == 1, limit_lines  # once per episode, not per connection

        held.pop(0).close()  # one leaves: a new client is served again, and the log says so
        await events.until(lambda: len(events.lost) == 5)
        sock, answer = await in_thread(reactor, served, kind, port)
        sock.close()
        assert answer == ANSWERS[kind]
        again = [r.getMessage() for r in caplog.records if "accepting connections again" in r.getMessage()]
        assert len(again) == 1 and "4 were refused" in again[0], again
        await listening.stopListening()

    try:
        with caplog.at_level(logging.INFO):
            run(scenario, timeout=30)
    finally:
        for sock in held:
            sock.close()


def test_default_caps_stay_below_the_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = 200
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        caps = {
            "echo": EchoFactory().connection_limit.maximum,
            "qotd": QOTDFactory(StaticQuoter(QUOTE)).connection_limit.maximum,
            "finger": FingerFactory(USERS).connection_limit.maximum,
            "irc": IRCServerFactory().max_connections,
        }
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    for name, cap in caps.items():
        assert 100 <= cap < lowered, (name, cap)
    if soft >= 2048:
        assert EchoFactory().connection_limit.maximum == 1024  # the fixed ceiling


def test_caps_must_be_whole_numbers_of_at_least_one() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_connections"):
            EchoFactory(max_connections=bad)


# ------------------------------------------------------------------------------ QOTD


def quote_after_sending(port: int, junk: bytes) -> bytes:
    """Send ``junk`` first, then read the quote until the server's FIN (a reset raises)."""
    with connect(port, junk) as sock:
        return read_until_closed(sock)


def test_qotd_closes_cleanly_on_a_client_that_sends_data_first(reactor: Any, run: Any) -> None:
    """The server used to close with the client's bytes unread, which makes the kernel
    send a reset (ECONNRESET at the client, the quote possibly lost with it)."""

    async def scenario() -> None:
        factory, port, events, listening = listen(reactor, "qotd")
        for size in (1, 5000, 60000):
            answer = await in_thread(reactor, quote_after_sending, port, b"\xff" * size)
            assert answer == b"Carpe diem.\r\n"
        await events.until(lambda: len(events.lost) == 3)  # closed once the client closed
        await listening.stopListening()

    run(scenario, timeout=30)


def test_qotd_drops_a_client_that_never_closes_after_linger(reactor: Any, run: Any) -> None:
    sock: list[socket.socket] = []

    async def scenario() -> None:
        factory, port, events, listening = listen(reactor, "qotd", linger=0.2)
        sock.append(await in_thread(reactor, connect, port))
        answer = await in_thread(reactor, read_until_closed, sock[0])  # the quote, then our FIN
        assert answer == b"Carpe diem.\r\n"
        assert factory.connection_limit.open == 1  # the client has not closed
        await events.until(lambda: len(events.lost) == 1)
        assert factory.connection_limit.open == 0
        await listening.stopListening()

    try:
        run(scenario)
    finally:
        for each in sock:
            each.close()


def read_all(port: int) -> bytes:
    with connect(port) as sock:
        return read_until_closed(sock, limit=64 << 20)


def test_qotd_buffers_a_bounded_piece_of_a_huge_quote_per_client_that_never_reads(reactor: Any, run: Any) -> None:
    """Each never-reading client used to hold the whole quote in the server's write buffer."""
    huge = "x" * (16 << 20)
    sleepers: list[socket.socket] = []

    async def scenario() -> list[int]:
        factory = QOTDFactory(StaticQuoter(huge))
        events = Events()
        factory.protocol = watched(QOTD, events)
        listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
        port = listening.getHost().port
        for _ in range(4):
            sleepers.append(await in_thread(reactor, connect, port, b"", 4096))
        await events.until(lambda: len(events.made) == 4)
        most = [max(protocol.transport.getBufferSize() for protocol in events.made)]
        # While a reading client fetches the whole quote, the sleepers' buffers stay small.
        fetching = in_thread(reactor, read_all, port)

        def watch() -> None:
            most.append(max(protocol.transport.getBufferSize() for protocol in events.made[:4]))
            if not fetching.called:
                reactor.callLater(0.01, watch)

        watch()
        answer = await fetching
        assert answer == huge.encode() + b"\r\n"
        await listening.stopListening()
        return most

    try:
        most = run(scenario, timeout=60)
    finally:
        for each in sleepers:
            each.close()
    assert max(most) <= QOTD.chunk_size, f"up to {max(most)} bytes buffered for a client that never reads"


# ---------------------------------------------------------------------------- finger


def half_closed_query(port: int, query: bytes) -> bytes:
    with connect(port, query) as sock:
        sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock)


def test_finger_answers_a_query_ended_by_a_half_close(reactor: Any, run: Any) -> None:
    """A query without a line end followed by FIN was ignored."""

    async def scenario() -> None:
        factory, port, events, listening = listen(reactor, "finger")
        one = await in_thread(reactor, half_closed_query, port, b"alice")
        every = await in_thread(reactor, half_closed_query, port, b"/W")
        nothing = await in_thread(reactor, half_closed_query, port, b"")
        await listening.stopListening()
        return one, every, nothing

    one, every, nothing = run(scenario)
    assert one == b"Login: alice\r\nAlice Liddell\r\n"
    assert every.startswith(b"Login") and b"alice" in every and b"bob" in every
    assert nothing == b""  # a client that asked nothing gets nothing


# ----------------------------------------------------------------------------- files


def _returns_promptly(fn: Callable[[], Any], timeout: float = 5.0) -> BaseException:
    """Call ``fn`` in a thread; return what it raised (fail if it returns, or hangs)."""
    outcome: list[Any] = []

    def call() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"still reading after {timeout} s"
    assert outcome and outcome[0] is not None, "no error for a file that must be refused"
    return outcome[0]


def hostile_files(tmp_path: Any) -> dict[str, str]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    directory = tmp_path / "directory"
    directory.mkdir()
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as handle:
        handle.truncate(MAX_QUOTE_FILE + 1)  # no blocks on disk, one byte over the cap
    return {
        "/dev/zero": "/dev/zero",
        "FIFO": str(fifo),
        "directory": str(directory),
        "over the cap": str(sparse),
        "missing": str(tmp_path / "missing"),
    }


REASONS = {
    "/dev/zero": "character device",
    "FIFO": "FIFO",
    "directory": "directory",
    "over the cap": "the limit is 16.0 MiB",
    "missing": "not found",
}


def test_quote_and_user_files_that_are_not_small_regular_files_are_refused_at_once(tmp_path: Any) -> None:
    for name, path in hostile_files(tmp_path).items():
        for load, error, what in (
            (load_fortune_file, QuoteFileError, "quote file"),
            (UserDatabase.from_file, UserFileError, "user file"),
        ):
            raised = _returns_promptly(lambda: load(path))
            assert isinstance(raised, error), (name, raised)
            message = str(raised)
            assert "\n" not in message and what in message and path in message, message
            assert REASONS[name] in message, (name, message)


@pytest.mark.parametrize("server, option", [("qotd", "--quote-file"), ("finger", "--users-file")])
def test_serve_refuses_a_fifo_or_dev_zero_with_one_line(tmp_path: Any, server: str, option: str) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        done = subprocess.run(
            [sys.executable, "-m", "inspector", "serve", server, "--port", "0", option, path],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )
        assert done.returncode != 0
        assert path in done.stderr and ("FIFO" in done.stderr or "character device" in done.stderr), done.stderr
        assert "Traceback" not in done.stderr
