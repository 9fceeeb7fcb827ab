"""What a QOTD connection costs in Python calls, as ``inspector serve qotd`` runs it
(issue 20: the command within 5% of the bare server closing the same reset-safe way),
and the linger wait that the cheaper bookkeeping must keep.

Calls are counted with ``sys.setprofile`` in the reactor's thread over a run of real
loopback connections, so the counts are exact and need no timing: each Python call is
about a thousand instructions a connection, a tenth of the gap there was.
"""

from __future__ import annotations

import collections
import os
import select
import socket
import sys
from typing import Any

from inspector import catalog
from inspector.protocols.qotd import QOTDFactory, StaticQuoter

from apps_support import in_thread

QUOTE = "An apple a day keeps the doctor away"
CONNECTIONS = 12


def quotes(port: int, count: int) -> list[bytes]:
    """``count`` clients one after another, each reading its quote up to the server's FIN."""
    got = []
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            got.append(data)
    return got


def _where(code: Any) -> str | None:
    """``package/module.py:function`` for the modules a connection's bookkeeping lives in."""
    path = code.co_filename.replace(os.sep, "/")
    for part in ("inspector/protocols/qotd.py", "inspector/protocols/basic.py", "inspector/protocol.py",
                 "inspector/catalog/"):
        if part in path:
            return f"{path[path.index('inspector/'):]}:{code.co_name}"
    return None


async def calls_per_connection(
    reactor: Any, serve: Any, c_calls: collections.Counter | None = None,
) -> dict[str, float]:
    """Start a server with ``serve(reactor)``, serve one connection, then count the Python
    calls into the QOTD and catalogue modules over CONNECTIONS more, all closed (and in
    ``c_calls``, if given, the calls of C functions made from their code)."""
    counts: collections.Counter = collections.Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            where = _where(frame.f_code)
            if where is not None:
                counts[where] += 1
        elif event == "c_call" and c_calls is not None:
            where = _where(frame.f_code)
            if where is not None:
                c_calls[f"{where} -> {getattr(arg, '__qualname__', arg)}"] += 1

    port, open_count, stop = serve(reactor)

    async def all_closed() -> None:
        while open_count():
            await in_thread(reactor, select.select, [], [], [], 0.01)

    await in_thread(reactor, quotes, port, 1)  # the first one may set things up
    await all_closed()
    sys.setprofile(profile)
    try:
        got = await in_thread(reactor, quotes, port, CONNECTIONS)
        await all_closed()
    finally:
        sys.setprofile(None)
    await stop()
    assert got == [QUOTE.encode() + b"\r\n"] * CONNECTIONS
    return {where: count / CONNECTIONS for where, count in counts.items()}


def bare_factory(reactor: Any) -> tuple[int, Any, Any]:
    """A QOTDFactory listening on its own: port, open count, stop."""
    factory = QOTDFactory(StaticQuoter(QUOTE), reactor)
    listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return listening.getHost().port, lambda: len(factory.connections), listening.stopListening


def command(reactor: Any) -> tuple[int, Any, Any]:
    """The server ``inspector serve qotd`` runs, with its handle: port, open count, stop."""
    handle = catalog.find("qotd", "server", "tcp").start(reactor, port=0, quote=QUOTE)
    handle.connection_log.first = 0  # counted from the first: the churn a busy server sees
    return handle.address.port, lambda: len(handle.connections), handle.stop


def test_the_limit_and_the_linger_wait_cost_no_call_of_their_own(reactor: Any, run: Any) -> None:
    """Admitting, releasing, starting and ending the wait were four method calls a
    connection (ConnectionLimit.admit/release, LingerSweep.add/discard)."""
    calls = run(lambda: calls_per_connection(reactor, bare_factory), timeout=60)
    assert {where for where in calls if "qotd.py" in where or "basic.py" in where} == {
        "inspector/protocols/qotd.py:connectionMade",
        "inspector/protocols/qotd.py:readConnectionLost",
        "inspector/protocols/qotd.py:writeConnectionLost",
        "inspector/protocols/qotd.py:connectionLost",
    }, calls
    assert all(count == 1 for count in calls.values()), calls


def test_the_command_tracks_a_connection_with_no_call_more_than_the_bare_factory(reactor: Any, run: Any) -> None:
    """The command's handle wrapped the protocol's connectionLost, one call a connection
    more than the bare factory (and a dict of its own beside the factory's): the factory's
    table of open connections is now the handle's, and the factory tells the handle of an
    end only when asked (a logged open, stop() waiting) or when it failed. Its
    makeConnection takes the place of the protocol's own."""
    async def both() -> tuple[dict, dict]:
        return await calls_per_connection(reactor, bare_factory), await calls_per_connection(reactor, command)

    bare, served = run(both, timeout=60)
    assert sum(served.values()) == sum(bare.values()), (bare, served)
    assert {where for where in served if "catalog/" in where} == {"inspector/catalog/handles.py:makeConnection"}, served


def test_a_linger_changed_on_a_serving_factory_applies_to_the_next_waits(reactor: Any, run: Any) -> None:
    """The sweep took the linger of the factory's first connection and kept it for good."""
    held: list[socket.socket] = []

    async def scenario() -> int:
        factory = QOTDFactory(StaticQuoter("Carpe diem."), reactor, linger=30)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        first = await in_thread(reactor, _quote_and_hold, port.getHost().port)
        first.close()
        while len(factory.connections):
            await in_thread(reactor, select.select, [], [], [], 0.02)
        factory.linger = 0.2
        held.append(await in_thread(reactor, _quote_and_hold, port.getHost().port))
        # Nobody closes the second: it is dropped after 0.2 s, not 30.
        for _ in range(250):
            if not len(factory.connections):
                break
            await in_thread(reactor, select.select, [], [], [], 0.02)
        await port.stopListening()
        return len(factory.connections)

    try:
        assert run(scenario, timeout=30) == 0
    finally:
        for sock in held:
            sock.close()


def _quote_and_hold(port: int) -> socket.socket:
    """Read the quote up to the server's FIN and keep the socket open (a client that never closes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    assert data == b"Carpe diem.\r\n"
    return sock


def test_a_linger_wait_starts_without_a_clock_read(reactor: Any, run: Any, monkeypatch: Any) -> None:
    """Each wait for a client's close began with a clock read (its deadline); now the
    sweep's tick sets the deadline that the waits starting meanwhile take as theirs."""
    from inspector.protocols import qotd

    reads = []
    real = qotd.monotonic

    def clock() -> float:
        reads.append(1)
        return real()

    monkeypatch.setattr(qotd, "monotonic", clock)

    def serve(reactor: Any) -> tuple[int, Any, Any]:
        # A linger long enough that no tick comes while the test runs, however slow the machine.
        factory = QOTDFactory(StaticQuoter(QUOTE), reactor, linger=3600)
        listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
        return listening.getHost().port, lambda: len(factory.connections), listening.stopListening

    run(lambda: calls_per_connection(reactor, serve), timeout=60)
    assert len(reads) <= 2, f"{len(reads)} clock reads for {CONNECTIONS + 1} connections"


def test_a_connection_makes_one_call_of_a_c_function_in_qotd_code(reactor: Any, run: Any) -> None:
    """A connection's wait began with a clock read and ended with the table's pop method;
    what is left is the limit's len() of the table (a deadline is read, an entry deleted)."""
    c_calls: collections.Counter = collections.Counter()

    def serve(reactor: Any) -> tuple[int, Any, Any]:
        factory = QOTDFactory(StaticQuoter(QUOTE), reactor, linger=3600)  # no tick while the test runs
        listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
        return listening.getHost().port, lambda: len(factory.connections), listening.stopListening

    run(lambda: calls_per_connection(reactor, serve, c_calls), timeout=60)
    per_connection = {where: count / CONNECTIONS for where, count in c_calls.items()
                      if "qotd.py" in where and count >= CONNECTIONS}
    assert per_connection == {"inspector/protocols/qotd.py:connectionMade -> len": 1.0}, c_calls
