"""A viewer's byte counts for a connection still open are exact even when it never saw
some of that connection's bytes events: the live server left them out (its CPU budget),
the viewer came late (its snapshot holds only the newest events), or the viewer read too
slowly for a while. Over real loopback sockets, on every reactor; the counts are read as
the window reads them (the shared fold, and the window's store)."""

from __future__ import annotations

import gc
import socket
from typing import Any, Callable

import pytest
from test_trace_listen import Collector, echo_once, stuck_viewer

import inspector.trace as trace_module
import inspector.trace.live as live
from inspector.defer import Deferred
from inspector.protocol import Factory
from inspector.protocols.echo import Echo
from inspector.trace import events as ev
from inspector.trace.fold import Fold
from inspector.trace.model import TraceConfig
from inspector.trace.stream import StreamReader
from inspector.trace.viewer import attach
from inspector.ui.viewmodel.feed import apply
from inspector.ui.viewmodel.store import Store


@pytest.fixture
def tracing() -> Any:
    gc.collect()
    yield
    trace_module.disable()


def counts(events: list[ev.Event], conn: int) -> tuple[int, int]:
    """Connection ``conn``'s (in, out) byte counts as the shared fold makes them."""
    fold = Fold()
    for event in events:
        fold.fold(event)
    summary = fold.connection(conn)
    assert summary is not None
    return summary.bytes_in, summary.bytes_out


def shown(events: list[ev.Event], conn: int) -> tuple[int, int]:
    """Connection ``conn``'s (in, out) byte counts in the window's Connections rows."""
    store = Store()
    apply(store, events)
    row = store.connections[conn]
    return row.bytes_in, row.bytes_out


def held_counts(trace: Any) -> tuple[int, int] | None:
    """The (in, out) counts a reader's trace has for the held echo connection, the first
    the echo server accepted that is still open (a marker's may be open too)."""
    held = [s for s in trace._connections.values()
            if s.role == "server" and s.protocol == "Echo" and s.closed is None]
    if not held:
        return None
    first = min(held, key=lambda s: s.id)
    return first.bytes_in, first.bytes_out


async def round_trips(reactor: Any, client: socket.socket, payload: bytes, times: int) -> None:
    """Echo ``payload`` ``times`` times over ``client`` (made non-blocking), letting the loop run."""
    client.setblocking(False)
    for _ in range(times):
        client.sendall(payload)
        got = b""
        while len(got) < len(payload):
            d: Deferred = Deferred()
            reactor.callLater(0.001, d.callback, None)
            await d
            try:
                got += client.recv(1 << 16)
            except BlockingIOError:
                pass
        assert got == payload


async def settle(reactor: Any, done: Callable[[], bool], seconds: float = 20) -> None:
    """Let the loop run until ``done()`` holds, or ``seconds`` pass (the test's asserts
    then say what is wrong)."""
    began = reactor.seconds()
    while not done() and reactor.seconds() - began < seconds:
        d: Deferred = Deferred()
        reactor.callLater(0.05, d.callback, None)
        await d


def held_side(got: Collector) -> int:
    """The echo server's side of the held connection, the first it accepted (the
    viewer's own connection is traced too, and the marker's came later)."""
    ids = [e.conn for e in got.opened() if e.role == "server" and e.protocol == "Echo"]
    assert len(ids) == 2, ids
    return ids[0]


def test_bytes_left_out_under_the_cpu_budget_still_count_for_an_open_connection(
        reactor: Any, run: Any, tracing: Any) -> None:
    """Past its budget the server drops most bytes events; the viewer's count for a
    connection that stays open is nevertheless exact, in the fold and in the window."""
    got = Collector()
    trace_module.enable(TraceConfig(raw_size=256))
    payload = b"q" * 300 + b"\n"
    exact = (200 * len(payload), 200 * len(payload))

    async def scenario() -> Any:
        server = await trace_module.listen(reactor, "tcp:0")
        server.cpu_budget = 1e-6  # every flush is over budget: hot events are dropped
        echo = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        viewer = attach(reactor, server.address, on_events=got.on_events, on_state=got.on_state)
        await got.until(lambda c: "connected" in c.state_names())
        held = socket.create_connection(("127.0.0.1", echo.getHost().port))
        await round_trips(reactor, held, payload, 200)
        # A connection opened and closed afterwards: once the viewer has its close, it has
        # everything the server sent before it.
        await echo_once(reactor, echo.getHost().port, b"marker\n")
        await got.until(lambda c: any(isinstance(e, ev.ConnectionClosed)
                                      and (e.bytes_in, e.bytes_out) == (7, 7) for e in c.events))
        # Totals for connections whose bytes were dropped come at most once a second.
        await settle(reactor, lambda: counts(got.events, held_side(got)) == exact)
        missed = viewer.missed
        viewer.stop()
        held.close()
        await echo.stopListening()
        await server.stopListening()
        return missed

    missed = run(scenario, timeout=60)
    held_id = held_side(got)
    assert not any(isinstance(e, ev.ConnectionClosed) and e.conn == held_id for e in got.events)
    sent = sum(e.size for e in got.events if isinstance(e, ev.BytesIn) and e.conn == held_id)
    assert missed > 0 and sent < 200 * len(payload)  # some of its bytes events were left out
    assert counts(got.events, held_id) == exact
    assert shown(got.events, held_id) == exact


def test_a_late_viewer_counts_the_bytes_of_an_open_connection_from_before_it_came(
        reactor: Any, run: Any, tracing: Any) -> None:
    """The snapshot holds only the newest events, yet a connection that moved bytes long
    before the viewer attached shows its exact counts."""
    got = Collector()
    payload = b"r" * 50 + b"\n"
    exact = (23 * len(payload), 23 * len(payload))

    async def scenario() -> Any:
        server = await trace_module.listen(reactor, "tcp:0")
        server.snapshot_limit = 5
        echo = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        held = socket.create_connection(("127.0.0.1", echo.getHost().port))
        await round_trips(reactor, held, payload, 20)
        viewer = attach(reactor, server.address, on_events=got.on_events, on_state=got.on_state)
        await got.until(lambda c: any(e.role == "server" and e.protocol == "Echo" for e in c.opened()))
        await round_trips(reactor, held, payload, 3)  # and bytes after it came add on top
        await echo_once(reactor, echo.getHost().port, b"marker\n")
        await got.until(lambda c: any(isinstance(e, ev.ConnectionClosed)
                                      and (e.bytes_in, e.bytes_out) == (7, 7) for e in c.events))
        await settle(reactor, lambda: counts(got.events, held_side(got)) == exact)
        viewer.stop()
        held.close()
        await echo.stopListening()
        await server.stopListening()

    run(scenario, timeout=60)
    held_id = held_side(got)
    assert counts(got.events, held_id) == exact
    assert shown(got.events, held_id) == exact


def test_a_viewer_that_stopped_reading_for_a_while_gets_exact_counts_after(
        reactor: Any, run: Any, tracing: Any) -> None:
    """While a viewer reads nothing its events are dropped; once it reads again, a
    connection that was busy meanwhile, and is still open, shows its exact counts."""
    payload = b"s" * 2000 + b"\n"

    async def scenario() -> Any:
        server = await trace_module.listen(reactor, "tcp:0")
        server.cpu_budget = 1.0  # send every event: the viewer's own pace is what drops them
        echo = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        stuck, viewer = await stuck_viewer(reactor, server, echo.getHost().port)
        held = socket.create_connection(("127.0.0.1", echo.getHost().port))
        trips = await load_until_paused(reactor, viewer, held, payload)
        paused_at = reactor.seconds()
        while reactor.seconds() - paused_at < 0.5:  # flushes go by: events dropped for it
            await round_trips(reactor, held, payload, 1)
            trips += 1
        assert viewer.paused
        exact = (trips * len(payload),) * 2
        # It reads on until the count is right (the server first sends what the load left
        # it behind with, then the totals).
        trace = await read_stuck(reactor, stuck, lambda t: held_counts(t) == exact)
        stuck.close()
        held.close()
        await echo.stopListening()
        await server.stopListening()
        return trace, trips

    trace, trips = run(scenario, timeout=60)
    assert held_counts(trace) == (trips * len(payload),) * 2


async def load_until_paused(reactor: Any, viewer: Any, client: socket.socket, payload: bytes) -> int:
    """Echo ``payload`` over ``client`` until the server has paused ``viewer`` (it reads
    nothing) and dropped events for it; return how many round trips that took."""
    trips = 0
    while not viewer.paused or viewer.missed < 100:
        await round_trips(reactor, client, payload, 1)
        trips += 1
        assert trips < 5000, "the viewer was never paused"
    return trips


async def read_stuck(reactor: Any, stuck: socket.socket, done: Callable[[Any], bool], seconds: float = 20) -> Any:
    """Read what the server sent a viewer that had stopped reading (``stuck``), into a
    trace of its own, until ``done(trace)`` holds or ``seconds`` pass; return the trace."""
    stuck.setblocking(False)
    reader = StreamReader(trace_module.Trace())
    began = reactor.seconds()
    while not done(reader.trace) and reactor.seconds() - began < seconds:
        d: Deferred = Deferred()
        reactor.callLater(0.01, d.callback, None)
        await d
        try:
            reader.feed(stuck.recv(1 << 20))
        except BlockingIOError:
            pass
    return reader.trace


def burst_callback(result: object) -> object:
    """A Deferred's callback that does nothing: with the Deferred's making, the callback's
    adding and running and the firing, four events that always go out."""
    return result


def deferred_burst(count: int) -> None:
    """``count`` Deferreds made, given a callback and fired at once."""
    for _ in range(count):
        d: Deferred = Deferred()
        d.addCallback(burst_callback)
        d.callback(None)


def test_a_server_behind_what_the_trace_decoded_ends_with_exact_counts_never_more(
        reactor: Any, run: Any, tracing: Any) -> None:
    """A burst of Deferred events (which always go out) leaves the server several flushes
    behind what the trace decoded while the budget drops a held connection's bytes
    events; its totals are nevertheless exact where they stand in the stream (sent
    ahead of bytes events still to come, they would count those twice), so the count
    ends exact, not above."""
    got = Collector()
    payload = b"t" * 100 + b"\n"
    exact = (30 * len(payload), 30 * len(payload))
    lagged: list[bool] = []
    consecutive: list[bool] = []

    def held_now() -> tuple[int, int] | None:
        ids = [e.conn for e in got.opened() if e.role == "server" and e.protocol == "Echo"]
        return counts(got.events, ids[0]) if ids else None

    async def scenario() -> None:
        server = await trace_module.listen(reactor, "tcp:0")
        server.cpu_budget = 1e-6  # the held connection's bytes events are dropped
        flush = server.flush

        def watched(*args: Any) -> None:
            flush(*args)
            if server._cursor is not None:
                lagged.append(server._cursor.position < server.tracer.trace.feed.last_seq)

        server.flush = watched  # type: ignore[method-assign]
        echo = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        viewer = attach(reactor, server.address, on_events=got.on_events, on_state=got.on_state)
        await got.until(lambda c: "connected" in c.state_names())
        held = socket.create_connection(("127.0.0.1", echo.getHost().port))
        for _ in range(3):
            # More than a batch of events, and three bursts fewer than MAX_BEHIND (past which
            # the server would skip ahead and restate instead of catching up).
            reactor.callLater(0, deferred_burst, live.MAX_BATCH // 3)
            await round_trips(reactor, held, payload, 10)
        await settle(reactor, lambda: held_now() == exact)
        # The totals took no numbers of their own out of the trace's: its feed's stay
        # consecutive, which is how every reader of it counts what it missed.
        feed = server.tracer.trace.feed
        consecutive.append(feed.last_seq - feed._firsts[feed._head] + 1 == feed._held)
        viewer.stop()
        held.close()
        await echo.stopListening()
        await server.stopListening()

    run(scenario, timeout=60)
    assert consecutive == [True]
    assert any(lagged)  # it did fall behind
    # and lost none of the events that always go out while it caught up
    ran = [e for e in got.events if isinstance(e, ev.CallbackRan) and e.name.endswith("burst_callback")]
    assert len(ran) == 3 * (live.MAX_BATCH // 3)
    [held_id] = [e.conn for e in got.opened() if e.role == "server" and e.protocol == "Echo"]
    sent = sum(e.size for e in got.events if isinstance(e, ev.BytesIn) and e.conn == held_id)
    assert sent < exact[0]  # some of its bytes events were left out
    assert held_now() == exact
    assert shown(got.events, held_id) == exact
