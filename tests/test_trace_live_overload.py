"""An attached viewer stays true to a process that makes events faster than the live
server's CPU budget sends them. Timers fired by the thousand a second (``callLater(0)``
chains, fast ``LoopingCall``s) are dropped and counted like the other hot events,
instead of pushing the connection events out of the trace's feed before they are sent.
Connections opened and closed faster than the budget sends their events leave the
viewer behind; past a bound the server skips what waits (counted) and restates where
the connections stand, so no row shows open a connection that has closed. Over real
loopback sockets, on every reactor."""

from __future__ import annotations

import gc
import socket
from typing import Any

import pytest
from test_trace_listen import Collector, echo_once, stuck_viewer
from test_trace_live_totals import load_until_paused, read_stuck, round_trips

import inspector.trace as trace_module
from inspector.defer import Deferred
from inspector.protocol import Factory
from inspector.protocols.echo import Echo
from inspector.trace import events as ev
from inspector.trace.fold import Fold
from inspector.trace.model import Trace, TraceConfig
from inspector.trace.viewer import attach
from inspector.ui.viewmodel.feed import apply
from inspector.ui.viewmodel.store import Store

#: Timer chains running at once: each loop turn fires and schedules one timer of each.
CHAINS = 40
#: How long the storm lasts (seconds), and the pause between two connections in it.
STORM = 3.0
PACE = 0.05


@pytest.fixture
def tracing() -> Any:
    gc.collect()
    yield
    trace_module.disable()


def storm_tick(reactor: Any, until: float, fired: list[int]) -> None:
    """One link of a timer chain: schedules the next until ``until``."""
    fired[0] += 1
    if reactor.seconds() < until:
        reactor.callLater(0, storm_tick, reactor, until, fired)


def pause(reactor: Any, seconds: float) -> Deferred:
    d: Deferred = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


def test_a_timer_storm_does_not_cost_a_viewer_its_connection_events(
        reactor: Any, run: Any, tracing: Any) -> None:
    """While timers fire by the thousand a second, a viewer gets the opening and the close
    of every connection made meanwhile (a few a second), each within a second of when it
    happened; of the timer events it gets a share, and a count of the rest."""
    got = Collector()
    fired = [0]
    delays: list[float] = []

    async def scenario() -> tuple[int, int]:
        server = await trace_module.listen(reactor, "tcp:0")
        echo = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        viewer = attach(reactor, server.address, on_events=got.on_events, on_state=got.on_state)
        await got.until(lambda c: "connected" in c.state_names())
        began = reactor.seconds()
        for _ in range(CHAINS):
            reactor.callLater(0, storm_tick, reactor, began + STORM, fired)
        made = 0
        while reactor.seconds() < began + STORM - 1.0:
            before = len([e for e in got.opened() if e.role == "server"])
            at = reactor.seconds()
            await echo_once(reactor, echo.getHost().port, b"mid-storm\n")
            made += 1
            await got.until(lambda c: len([e for e in c.opened() if e.role == "server"]) > before)
            delays.append(reactor.seconds() - at)
            await pause(reactor, PACE)
        closes = lambda c: len([e for e in c.events if isinstance(e, ev.ConnectionClosed)])  # noqa: E731
        await got.until(lambda c: closes(c) >= 2 * made)
        missed = viewer.missed
        viewer.stop()
        await echo.stopListening()
        await server.stopListening()
        return made, missed

    made, missed = run(scenario, timeout=60)
    assert fired[0] > 5_000, fired[0]  # it was a storm
    servers = {e.conn for e in got.opened() if e.role == "server"}
    closed = {e.conn for e in got.events if isinstance(e, ev.ConnectionClosed)}
    assert len(servers) == made and servers <= closed  # every one, opened and closed
    assert max(delays) < 1.0, max(delays)  # each promptly, while the storm ran
    got_fired = sum(1 for e in got.events if isinstance(e, ev.TimerFired) and e.name.endswith("storm_tick"))
    assert 0 < got_fired < fired[0] / 2, (got_fired, fired[0])  # a share of the timers
    assert missed > fired[0] / 2  # and a count of the rest


def test_past_the_budget_a_viewer_is_restated_and_shows_no_closed_connection_open(
        reactor: Any, run: Any, tracing: Any) -> None:
    """Thousands of connections a second, each opened and closed, are more events than
    the budget sends: the viewer misses most of them (counted), yet afterwards it shows
    open exactly the connections that are, in the fold and in the window's rows, the
    ones held open through the churn and one opened in its midst among them; and none
    of the Deferreds that got their results meanwhile shows pending."""
    got = Collector()
    # A small feed: a viewer left behind loses events from the middle of the stream
    # within a second of churn, as a busy process's would within a minute.
    trace_module.enable(TraceConfig(feed_size=20_000))

    async def scenario() -> tuple[int, int]:
        server = await trace_module.listen(reactor, "tcp:0")
        echo = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        port = echo.getHost().port
        viewer = attach(reactor, server.address, on_events=got.on_events, on_state=got.on_state)
        await got.until(lambda c: "connected" in c.state_names())
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        began = reactor.seconds()
        made = 0
        while reactor.seconds() < began + 4.0:
            await echo_once(reactor, port, b"churn\n")
            made += 1
            if made == 2_000:
                held.append(socket.create_connection(("127.0.0.1", port)))
        settled = reactor.seconds() + 10.0  # the viewer catches up: its rows stop changing
        while reactor.seconds() < settled and (open_server_rows(got.events) != len(held)
                                               or stale_deferreds(got.events)):
            await pause(reactor, 0.2)
        await pause(reactor, 0.5)  # (anything still on its way arrives)
        missed = viewer.missed
        viewer.stop()
        for sock in held:
            sock.close()
        await echo.stopListening()
        await server.stopListening()
        return made, missed

    made, missed = run(scenario, timeout=60)
    assert made > 2_000, made
    assert missed > 0  # it was left behind
    assert open_server_rows(got.events) == 4
    # Each connection's Deferred (echo_once's) got its result: none shows pending.
    assert stale_deferreds(got.events) == []
    store = Store()
    apply(store, got.events)
    shown_open = [row for row in store.connections.values() if row.is_open and row.role == "server"]
    assert len(shown_open) == 4
    assert all(row.protocol == "Echo" for row in shown_open)  # real rows, not nameless ones


def stale_deferreds(events: list[ev.Event]) -> list[int]:
    """The Deferreds of echo_once (each fired once its echo came back, all before the
    test looks) that the shared fold shows pending after ``events``."""
    fold = Fold()
    for event in events:
        fold.fold(event)
    return [d.id for d in fold._pending.values() if d.function == "echo_once"]


def open_server_rows(events: list[ev.Event]) -> int:
    """How many server connections the shared fold shows open after ``events``."""
    fold = Fold()
    for event in events:
        fold.fold(event)
    return sum(1 for s in fold._connections.values() if s.role == "server" and s.closed is None)


def test_a_viewer_that_stopped_reading_is_restated_when_it_reads_again(
        reactor: Any, run: Any, tracing: Any) -> None:
    """Connections that closed while a viewer read nothing are closed in its view once it
    reads again, and one opened meanwhile is there, with its protocol."""

    async def scenario() -> tuple[Trace, int]:
        server = await trace_module.listen(reactor, "tcp:0")
        server.cpu_budget = 1.0  # send every event: the viewer's own pace is what drops them
        echo = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        port = echo.getHost().port
        stuck, viewer = await stuck_viewer(reactor, server, port)
        doomed = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        await pause(reactor, 0.5)  # their openings are sent (into the viewer's buffers)
        busy = socket.create_connection(("127.0.0.1", port))
        payload = b"p" * 2000 + b"\n"
        await load_until_paused(reactor, viewer, busy, payload)
        for sock in doomed:
            sock.close()
        newcomer = socket.create_connection(("127.0.0.1", port))
        paused_at = reactor.seconds()
        while reactor.seconds() - paused_at < 0.5:  # flushes go by: events dropped for it
            await round_trips(reactor, busy, payload, 1)
        assert viewer.paused
        trace = await read_stuck(reactor, stuck, lambda t: open_in(t) == 2)
        missed = viewer.missed
        stuck.close()
        busy.close()
        newcomer.close()
        await echo.stopListening()
        await server.stopListening()
        return trace, missed

    trace, missed = run(scenario, timeout=60)
    assert missed > 0
    assert open_in(trace) == 2  # the busy one and the newcomer; the three closed are closed


def open_in(trace: Trace) -> int:
    """How many Echo server connections a viewer's trace shows open."""
    return sum(1 for s in trace._connections.values()
               if s.role == "server" and s.protocol == "Echo" and s.closed is None)
