"""A process that fires timers by the thousand a second (``callLater(0)`` chains, fast
``LoopingCall``s) keeps its attached viewers whole: past the live server's CPU budget its
timer events are dropped and counted like the other hot events, instead of pushing the
connection events the server must send out of the trace's feed before it sends them.
Over real loopback sockets, on every reactor."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from test_trace_listen import Collector, echo_once

import inspector.trace as trace_module
from inspector.defer import Deferred
from inspector.protocol import Factory
from inspector.protocols.echo import Echo
from inspector.trace import events as ev
from inspector.trace.viewer import attach

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
