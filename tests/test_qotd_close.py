"""QOTD's safe close made cheap (issue 20): the FIN leaves at once, and one timer watches
every connection that waits for its client's close.

Over real loopback sockets on every reactor; the sweep's bookkeeping also with a Clock.
"""

from __future__ import annotations

import select
import socket
from typing import Any

from zope.interface import implementer

from inspector.defer import Deferred
from inspector.error import ConnectionDone
from inspector.interfaces import IHalfCloseableProtocol
from inspector.protocol import Factory, Protocol
from inspector.protocols.qotd import LingerSweep, QOTDFactory, StaticQuoter
from inspector.task import Clock

from apps_support import in_thread, read_until_closed


def _read_now(sock: socket.socket, limit: float = 2.0) -> bytes:
    """What ``sock`` holds up to its EOF, waiting at most ``limit`` s for each piece."""
    got = b""
    while True:
        ready, _, _ = select.select([sock], [], [], limit)
        if not ready:
            raise AssertionError(f"no EOF within {limit} s after {got!r}")
        piece = sock.recv(4096)
        if not piece:
            return got
        got += piece


def test_half_close_with_nothing_buffered_sends_the_fin_inside_the_call(reactor: Any, run: Any) -> None:
    """The FIN used to wait for a writable loop turn (two epoll changes and a turn per
    connection); with nothing buffered it now leaves before loseWriteConnection returns."""
    seen: dict[str, Any] = {}
    lost: Deferred = Deferred()

    @implementer(IHalfCloseableProtocol)
    class HalfCloser(Protocol):
        def connectionMade(self) -> None:
            self.transport.write(b"hello")
            self.transport.loseWriteConnection()
            # Still inside the call, no loop turn since: the peer already has the FIN.
            client = seen["client"]
            seen["client read"] = _read_now(client)
            seen["writing"] = self.transport in reactor.getWriters()
            client.close()  # the client's close ends the connection, cleanly

        def readConnectionLost(self) -> None:
            pass

        def writeConnectionLost(self) -> None:
            seen["writeConnectionLost"] = True

        def connectionLost(self, reason: Any = None) -> None:
            seen["reason"] = reason
            lost.callback(None)

    async def scenario() -> None:
        port = reactor.listenTCP(0, Factory.forProtocol(HalfCloser), interface="127.0.0.1")
        # A loopback connect completes in the kernel's backlog, before the reactor accepts.
        seen["client"] = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5)
        await lost
        await port.stopListening()

    try:
        run(scenario)
    finally:
        if "client" in seen:
            seen["client"].close()
    assert seen["client read"] == b"hello"
    assert seen["writeConnectionLost"] is True
    assert seen["writing"] is False
    assert seen["reason"].check(ConnectionDone)


def quote_and_hold(port: int) -> socket.socket:
    """Read the quote up to the server's FIN and keep the socket open (a client that never closes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert read_until_closed(sock) == b"Carpe diem.\r\n"
    return sock


def test_lingering_connections_share_one_timer_and_are_dropped_on_time(reactor: Any, run: Any) -> None:
    """Each connection waiting for its client's close used to hold a timer of its own."""
    held: list[socket.socket] = []

    async def scenario() -> tuple[int, int, int]:
        # A linger long enough for all 20 to be waiting at once however slow the machine
        # (0.5 s was not, under load), then a short one, counted from each wait's start.
        factory = QOTDFactory(StaticQuoter("Carpe diem."), linger=60)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        before = len(reactor.getDelayedCalls())  # the test's own deadline
        for _ in range(20):
            held.append(await in_thread(reactor, quote_and_hold, port.getHost().port))
        waiting = factory.connection_limit.open
        timers = len(reactor.getDelayedCalls()) - before
        factory.linger = 0.5
        # Nobody closes: the sweep drops them all once their linger is over.
        while factory.connection_limit.open:
            await in_thread(reactor, select.select, [], [], [], 0.05)
        dropped = sum(1 for sock in held if sock.recv(1) == b"")
        await port.stopListening()
        return waiting, timers, dropped

    try:
        waiting, timers, dropped = run(scenario, timeout=20)
    finally:
        for sock in held:
            sock.close()
    assert waiting == 20
    assert timers == 1, f"{timers} timers for 20 waiting connections"
    assert dropped == 20


class _Transport:
    def __init__(self) -> None:
        self.closed = False

    def loseConnection(self) -> None:
        self.closed = True


def test_sweep_stays_bounded_under_churn_and_drops_only_the_overdue() -> None:
    """A wait takes the deadline the sweep's last tick set (no clock read of its own): a
    client that never closes is dropped no sooner than the linger after its wait began
    and no later than a tick (a quarter of the linger) after that."""
    clock = Clock()
    sweep = LingerSweep(clock, 10.0)
    assert sweep.period == 2.5
    overdue = _Transport()
    sweep.add(overdue)
    for _ in range(10_000):  # a churn of clients that close at once
        sweep.discard(sweep.add(_Transport()))
    assert len(sweep) == 1
    assert len(sweep._waiting) <= 2 * sweep.compact_above
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(4)
    late = _Transport()
    sweep.add(late)  # began at 4
    clock.advance(6)  # 10: the linger of the first, not yet over its tick
    assert not overdue.closed and not late.closed
    clock.advance(2.5)  # 12.5: the first's linger plus a tick
    assert overdue.closed and not late.closed
    clock.advance(1.4)  # 13.9: the second waited 9.9 s
    assert not late.closed
    clock.advance(2.6)  # 16.5: the second's linger plus a tick
    assert late.closed and len(sweep) == 0
    assert clock.getDelayedCalls() == []


def test_sweep_ticks_at_most_once_a_period_however_long_a_turn_takes() -> None:
    """The ticking sweep used to re-arm every loop turn once a turn outlasted its tick;
    a late tick now re-arms a whole period later."""
    clock = Clock()
    sweep = LingerSweep(clock, 10.0)
    ticks = []
    sweep_once = sweep._sweep

    def counted() -> None:
        ticks.append(clock.seconds())
        sweep_once()

    sweep._sweep = counted  # type: ignore[method-assign]
    sweep.add(_Transport())
    for _ in range(40):  # 40 loop turns of 0.25 s each, a client starting to wait in each
        clock.advance(0.25)
        sweep.add(_Transport())
    assert ticks == [2.5, 5.0, 7.5, 10.0], ticks


def test_a_zero_linger_drops_at_the_next_tick_without_spinning() -> None:
    clock = Clock()
    sweep = LingerSweep(clock, 0.0)
    waiting = _Transport()
    sweep.add(waiting)
    assert [call.getTime() for call in clock.getDelayedCalls()] == [sweep.min_period]
    clock.advance(sweep.min_period)
    assert waiting.closed
    assert clock.getDelayedCalls() == []


def test_sweep_timer_goes_when_the_port_stops_and_nobody_waits(reactor: Any, run: Any) -> None:
    async def scenario() -> list:
        factory = QOTDFactory(StaticQuoter("Carpe diem."), linger=30)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        sock = await in_thread(reactor, quote_and_hold, port.getHost().port)
        sock.close()
        while factory.connection_limit.open:
            await in_thread(reactor, select.select, [], [], [], 0.02)
        await port.stopListening()
        return [c for c in reactor.getDelayedCalls() if getattr(c.func, "__self__", None) is factory.sweep]

    assert run(scenario) == []


def test_cancelling_a_sweep_over_a_servers_table_leaves_its_open_connections_listed() -> None:
    """The sweep may walk the factory's own table of open connections (the limit's count,
    the command's list): cancelling its timer must not empty that table."""
    clock = Clock()
    table: dict = {}
    sweep = LingerSweep(clock, 10.0, table, lambda key: None)
    sweep.add("a connection")
    sweep.cancel()
    assert table == {"a connection": 12.5}  # (its linger and a tick)
    assert clock.getDelayedCalls() == []
    own = LingerSweep(clock, 10.0)
    own.add(_Transport())
    own.cancel()
    assert len(own) == 0
