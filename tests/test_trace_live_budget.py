"""The live trace server keeps to its CPU budget under load (inspector.trace.live): what
serving costs stays near ``cpu_budget`` of the loop's CPU time, on every reactor.

The CPU clock the server reads is a fake one here, moved by the test: each round trip
of the load costs the loop LOOP_COST, and each event the server encodes costs
EVENT_COST, so the shares are exact whatever the machine's speed."""

from __future__ import annotations

import gc
from typing import Any

import pytest

import inspector.trace as trace_module
from inspector.defer import Deferred
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.protocols.echo import Echo
from inspector.trace import events as ev
from inspector.trace import live
from inspector.trace.viewer import attach

LOOP_COST = 1e-3  # fake CPU seconds the loop spends per round trip
EVENT_COST = 1e-3  # and serving spends per event sent: sending all would cost several times the loop
LOAD_SECONDS = 2.5


class FakeCPU:
    """Stands in for the ``time`` module in :mod:`inspector.trace.live`: its
    ``thread_time`` is a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def thread_time(self) -> float:
        return self.now


class PingPong(Protocol):
    """Sends 64 bytes, and again each time they come back, until told to stop; each
    round trip costs the loop LOOP_COST of fake CPU time."""

    def connectionMade(self) -> None:
        self.factory.protocols.append(self)
        self.pending = 0
        self.transport.write(b"p" * 64)

    def dataReceived(self, data: bytes) -> None:
        self.pending += len(data)
        while self.pending >= 64:
            self.pending -= 64
            self.factory.cpu.now += LOOP_COST
            self.factory.loop_cost += LOOP_COST
            self.factory.round_trips += 1
            if not self.factory.stopping:
                self.transport.write(b"p" * 64)

    def connectionLost(self, reason: Any = None) -> None:
        self.factory.closed += 1
        if self.factory.closed == len(self.factory.protocols):
            self.factory.done.callback(None)


@pytest.fixture
def tracing() -> Any:
    gc.collect()
    yield
    trace_module.disable()


def test_under_load_serving_costs_its_budget_not_a_full_batch_a_second(
        reactor: Any, run: Any, tracing: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy traced process with a viewer attached spends about ``cpu_budget`` (5%) of
    its loop's CPU time serving the trace, plus at most a small batch a second: it sends
    the newest events its budget pays for, and counts the rest. (It used to send a full
    batch of 2,000 events every second whatever they cost: with events this dear, many
    times its budget, and a pause of the whole loop each second.) The viewer still gets
    every connection's opening and some of the traffic."""
    cpu = FakeCPU()
    monkeypatch.setattr(live, "time", cpu)
    served: list[int] = []
    events: list[ev.Event] = []

    async def scenario() -> tuple[float, float]:
        server = await trace_module.listen(reactor, "tcp:0")
        echo = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        connected: Deferred = Deferred()

        def on_state(attachment: Any, state: Any, detail: str) -> None:
            if state.value == "connected" and not connected.called:
                connected.callback(None)

        viewer = attach(reactor, server.address, on_events=lambda a, got: events.extend(got), on_state=on_state)
        await connected
        encode = server._encoder.events

        def dear_encode(batch: list[ev.Event]) -> str:
            cpu.now += EVENT_COST * len(batch)
            served.append(len(batch))
            return encode(batch)

        server._encoder.events = dear_encode
        factory = ClientFactory.forProtocol(PingPong)
        factory.cpu, factory.protocols, factory.done = cpu, [], Deferred()
        factory.loop_cost, factory.round_trips, factory.closed, factory.stopping = 0.0, 0, 0, False
        for _ in range(8):
            reactor.connectTCP("127.0.0.1", echo.getHost().port, factory)
        start = reactor.seconds()
        while reactor.seconds() - start < LOAD_SECONDS:
            wait: Deferred = Deferred()
            reactor.callLater(0.05, wait.callback, None)
            await wait
        factory.stopping = True
        elapsed = reactor.seconds() - start
        for protocol in factory.protocols:
            protocol.transport.loseConnection()
        await factory.done
        assert factory.round_trips > 50
        viewer.stop()
        await echo.stopListening()
        await server.stopListening()
        return factory.loop_cost, elapsed

    loop_cost, elapsed = run(scenario, timeout=60)
    serving = sum(served) * EVENT_COST
    # Its budget, plus the small batch a second may send anyway, plus the first batch
    # sent before it knew what these events cost.
    allowed = live.CPU_BUDGET * loop_cost + EVENT_COST * (live.MIN_BATCH * (elapsed + 2) + served[0])
    assert serving <= allowed, (serving, loop_cost, served)
    # And no flush sends more than about a second's share: the loop never pauses long.
    assert max(served) * EVENT_COST <= live.CPU_BUDGET * loop_cost / elapsed + 2 * live.MIN_BATCH * EVENT_COST, served
    opened = [e for e in events if isinstance(e, ev.ConnectionOpened) and e.role == "server"]
    assert len(opened) == 8
    assert any(isinstance(e, (ev.BytesIn, ev.BytesOut)) for e in events)
