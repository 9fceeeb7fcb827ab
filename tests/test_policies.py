"""inspector.policies: wrapping, limits, throttling, timeouts and traffic logs.

Time-based behaviour runs on a Clock; everything network-facing runs over real loopback
sockets on every reactor (the Clock, where there is one, stands in for the reactor's
time only in the policy under test).
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from inspector import error
from inspector import trace as trace_module
from inspector.address import IPv4Address
from inspector.defer import Deferred
from inspector.interfaces import IHalfCloseableProtocol, IPushProducer, ITCPTransport
from inspector.policies import (
    LimitConnectionsByPeer,
    LimitTotalConnectionsFactory,
    ProtocolWrapper,
    SpewingFactory,
    ThrottlingFactory,
    TimeoutFactory,
    TimeoutMixin,
    TrafficLoggingFactory,
    WrappingFactory,
)
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.protocols.basic import LineReceiver
from inspector.task import Clock
from inspector.testing import StringTransport, StringTransportWithDisconnection

ADDR = IPv4Address("TCP", "127.0.0.1", 4321)


def later(reactor: Any, seconds: float = 0.0) -> Deferred:
    """A Deferred fired ``seconds`` later on ``reactor``."""
    d: Deferred = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


async def until(reactor: Any, predicate: Any, limit: float = 8.0) -> None:
    """Let ``reactor`` run until ``predicate()`` holds (fail after ``limit`` s)."""
    deadline = reactor.seconds() + limit
    while not predicate():
        assert reactor.seconds() < deadline, "condition never held"
        await later(reactor, 0.005)


# ------------------------------------------------------------------- test protocols


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


@implementer(IHalfCloseableProtocol)
class HalfCloseEcho(Echo):
    """Echoes, and answers the peer's half-close with a goodbye before closing."""

    def readConnectionLost(self) -> None:
        self.transport.write(b"bye")
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass


class Client(Protocol):
    """Sends ``factory.send`` (half-closing after it if ``factory.half_close``) and
    collects what comes back; ``factory.lost`` fires with the collected bytes."""

    def __init__(self) -> None:
        self.data = b""

    def connectionMade(self) -> None:
        self.factory.clients.append(self)
        if self.factory.send:
            self.transport.write(self.factory.send)
        if self.factory.half_close:
            self.transport.loseWriteConnection()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Any) -> None:
        self.reason = reason
        self.factory.lost.append(self)


@implementer(IHalfCloseableProtocol)
class HalfCloseClient(Client):
    def readConnectionLost(self) -> None:
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass


class Clients(ClientFactory):
    def __init__(self, send: bytes = b"", half_close: bool = False, protocol: Any = Client) -> None:
        self.protocol = protocol
        self.send = send
        self.half_close = half_close
        self.clients: list[Client] = []
        self.lost: list[Client] = []


def listen(reactor: Any, factory: Any) -> int:
    return reactor.listenTCP(0, factory, interface="127.0.0.1").getHost().port


# ------------------------------------------------------------ ProtocolWrapper/Wrapping


def test_wrapping_factory_is_transparent_for_echo_and_tracks_its_protocols(reactor: Any, run: Any) -> None:
    inner = Factory.forProtocol(Echo)
    wrapping = WrappingFactory(inner)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        port = listen(reactor, wrapping)
        clients = Clients(b"hello through the wrapper")
        reactor.connectTCP("127.0.0.1", port, clients)
        await until(reactor, lambda: clients.clients and len(clients.clients[0].data) == 25)
        (wrapper,) = wrapping.protocols
        seen["wrapper"] = wrapper
        seen["inner"] = wrapper.wrappedProtocol
        client = clients.clients[0]
        seen["peer"] = (wrapper.getPeer(), client.transport.getHost())
        seen["host"] = (wrapper.getHost(), client.transport.getPeer())
        verifyObject(ITCPTransport, wrapper)
        seen["nodelay"] = (wrapper.setTcpNoDelay(True), wrapper.getTcpNoDelay())
        seen["prefix"] = wrapper.logPrefix()
        seen["started"] = inner.numPorts
        client.transport.loseConnection()
        await until(reactor, lambda: not wrapping.protocols)

    run(scenario)
    wrapper, inner_protocol = seen["wrapper"], seen["inner"]
    assert isinstance(inner_protocol, Echo) and inner_protocol.factory is inner
    assert inner_protocol.transport is wrapper
    assert seen["peer"][0] == seen["peer"][1] and seen["host"][0] == seen["host"][1]
    assert seen["nodelay"] == (None, True)  # a TCP option reaches the real socket
    assert seen["prefix"] == "Echo (ProtocolWrapper)"
    assert wrapper.wrappedProtocol is None  # let go after connectionLost (no cycle)
    assert seen["started"] == 1  # the wrapped factory is started with the port


def test_wrapper_keeps_a_half_close_a_half_close(reactor: Any, run: Any) -> None:
    # Twisted's ProtocolWrapper hides IHalfCloseableProtocol, so a wrapped protocol
    # never hears the peer's FIN as a half-close; here it does.
    wrapping = WrappingFactory(Factory.forProtocol(HalfCloseEcho))

    async def scenario() -> bytes:
        port = listen(reactor, wrapping)
        clients = Clients(b"ping", half_close=True, protocol=HalfCloseClient)
        reactor.connectTCP("127.0.0.1", port, clients)
        await until(reactor, lambda: clients.lost)
        return clients.lost[0].data

    assert run(scenario) == b"pingbye"
    plain = ProtocolWrapper(wrapping, Echo())
    assert not IHalfCloseableProtocol.providedBy(plain)


def test_wrapper_forwards_producer_registration_and_client_factory_events() -> None:
    events: list[str] = []

    class Inner(ClientFactory):
        protocol = Echo

        def startedConnecting(self, connector: Any) -> None:
            events.append("started")

        def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
            events.append("failed")

        def clientConnectionLost(self, connector: Any, reason: Any) -> None:
            events.append("lost")

    wrapping = WrappingFactory(Inner())
    wrapping.startedConnecting(None)
    wrapping.clientConnectionFailed(None, None)
    wrapping.clientConnectionLost(None, None)
    assert events == ["started", "failed", "lost"]

    transport = StringTransport()
    wrapper = wrapping.buildProtocol(ADDR)
    wrapper.makeConnection(transport)

    @implementer(IPushProducer)
    class Producer:
        def pauseProducing(self) -> None: ...
        def resumeProducing(self) -> None: ...
        def stopProducing(self) -> None: ...

    producer = Producer()
    wrapper.wrappedProtocol.transport.registerProducer(producer, True)
    assert transport.producer is producer and transport.streaming
    wrapper.wrappedProtocol.transport.unregisterProducer()
    assert transport.producer is None
    wrapper.wrappedProtocol.transport.writeSequence([b"a", b"b"])
    assert transport.value() == b"ab"


def test_wrapping_factory_refuses_when_the_wrapped_factory_refuses() -> None:
    class Refusing(Factory):
        def buildProtocol(self, addr: Any) -> None:
            return None

    assert WrappingFactory(Refusing()).buildProtocol(ADDR) is None


@pytest.fixture
def tracing() -> Any:
    tracer = trace_module.enable()
    yield tracer
    trace_module.disable()


class Lines(LineReceiver):
    def lineReceived(self, line: bytes) -> None:
        self.sendLine(line.upper())


def test_a_wrapped_connection_is_traced_under_the_wrapped_protocols_name(
    reactor: Any, run: Any, tracing: Any
) -> None:
    wrapping = WrappingFactory(Factory.forProtocol(Lines))

    async def scenario() -> None:
        port = listen(reactor, wrapping)
        clients = Clients(b"hello\r\n")
        reactor.connectTCP("127.0.0.1", port, clients)
        await until(reactor, lambda: clients.clients and clients.clients[0].data == b"HELLO\r\n")
        clients.clients[0].transport.loseConnection()
        await until(reactor, lambda: not wrapping.protocols)

    run(scenario)
    servers = [c for c in tracing.trace.connections.values() if c.role == "server"]
    assert [c.protocol for c in servers] == ["Lines"]
    kinds = [(m.direction, m.text) for m in servers[0].messages]
    assert kinds == [("in", "hello"), ("out", "HELLO")]


# ---------------------------------------------------------------------- TimeoutMixin


class TimeoutTester(Protocol, TimeoutMixin):
    timeOut = 3
    timedOut = False

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def connectionMade(self) -> None:
        self.setTimeout(self.timeOut)

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()

    def connectionLost(self, reason: Any) -> None:
        self.setTimeout(None)

    def timeoutConnection(self) -> None:
        self.timedOut = True

    def callLater(self, period: float, func: Any, *args: Any, **kw: Any) -> Any:
        return self.clock.callLater(period, func, *args, **kw)


def test_timeout_fires_after_timeOut_seconds_of_silence() -> None:
    clock = Clock()
    proto = TimeoutTester(clock)
    proto.makeConnection(StringTransport())
    clock.pump([0, 0.5, 1.0, 1.0])
    assert not proto.timedOut
    clock.pump([0, 1.0])
    assert proto.timedOut


def test_data_pushes_the_timeout_back() -> None:
    clock = Clock()
    proto = TimeoutTester(clock)
    proto.makeConnection(StringTransport())
    clock.pump([0, 0.5, 1.0, 1.0])
    proto.dataReceived(b"still here")
    clock.pump([0, 1.0, 1.0, 0.5])
    assert not proto.timedOut
    clock.pump([0, 1.0])
    assert proto.timedOut


def test_setTimeout_changes_the_period_returns_the_previous_and_None_disarms() -> None:
    clock = Clock()
    proto = TimeoutTester(clock)
    proto.timeOut = 5
    assert proto.setTimeout(10) == 5
    assert len(clock.getDelayedCalls()) == 1
    assert proto.setTimeout(1) == 10  # re-arms the same call, 1 s from now
    clock.advance(0.9)
    assert not proto.timedOut
    assert proto.setTimeout(None) == 1
    assert proto.timeOut is None and clock.getDelayedCalls() == []
    clock.advance(100)
    assert not proto.timedOut
    proto.resetTimeout()  # disarmed: nothing to reset, nothing scheduled
    assert clock.getDelayedCalls() == []


def test_disarming_a_timeout_cancelled_elsewhere_is_quiet() -> None:
    clock = Clock()
    proto = TimeoutTester(clock)
    proto.setTimeout(3)
    clock.getDelayedCalls()[0].cancel()
    proto.setTimeout(None)
    assert proto.timeOut is None


def test_after_firing_resetTimeout_does_nothing_and_setTimeout_arms_again() -> None:
    clock = Clock()
    proto = TimeoutTester(clock)
    proto.setTimeout(2)
    clock.advance(2)
    assert proto.timedOut and clock.getDelayedCalls() == []
    proto.timedOut = False
    proto.resetTimeout()
    assert clock.getDelayedCalls() == []
    proto.setTimeout(4)
    clock.advance(4)
    assert proto.timedOut


def test_default_timeout_schedules_on_the_transports_reactor_and_closes() -> None:
    class Idle(Protocol, TimeoutMixin):
        def connectionMade(self) -> None:
            self.setTimeout(30)

    transport = StringTransport()
    transport.reactor = Clock()  # what a real transport offers: its reactor
    proto = Idle()
    proto.makeConnection(transport)
    transport.reactor.advance(29.9)
    assert not transport.disconnecting
    transport.reactor.advance(0.1)
    assert transport.disconnecting  # timeoutConnection's default: loseConnection


def test_an_idle_real_connection_is_closed_by_the_default_timeout(reactor: Any, run: Any) -> None:
    clock = Clock()

    class IdleEcho(Echo, TimeoutMixin):
        def connectionMade(self) -> None:
            self.setTimeout(10)

        def dataReceived(self, data: bytes) -> None:
            self.resetTimeout()
            Echo.dataReceived(self, data)

        def callLater(self, period: float, func: Any, *args: Any, **kw: Any) -> Any:
            return clock.callLater(period, func, *args, **kw)

    async def scenario() -> tuple[bytes, bool, Any]:
        port = listen(reactor, Factory.forProtocol(IdleEcho))
        clients = Clients(b"hi")
        reactor.connectTCP("127.0.0.1", port, clients)
        await until(reactor, lambda: clients.clients and clients.clients[0].data == b"hi")
        clock.advance(9)
        clients.clients[0].transport.write(b"!")  # activity pushes the timeout back
        await until(reactor, lambda: clients.clients[0].data == b"hi!")
        clock.advance(9)
        await later(reactor, 0.05)
        open_after_activity = not clients.lost
        clock.advance(1)
        await until(reactor, lambda: clients.lost)
        return clients.lost[0].data, open_after_activity, clients.lost[0].reason

    data, open_after_activity, reason = run(scenario)
    assert data == b"hi!" and open_after_activity
    assert reason.check(error.ConnectionDone)


def _timed(clock: Clock, period: float) -> tuple[Any, StringTransport]:
    factory = TimeoutFactory(Factory.forProtocol(Echo), timeoutPeriod=period)
    factory.clock = clock
    p = factory.buildProtocol(ADDR)
    transport = StringTransportWithDisconnection()
    transport.protocol = p
    p.makeConnection(transport)
    return p, transport


def test_timeout_factory_closes_after_silence_either_way() -> None:
    clock = Clock()
    p, transport = _timed(clock, 3)
    clock.pump([0, 1, 1])
    p.dataReceived(b"in")  # received and echoed: traffic both ways
    clock.pump([0, 1, 1])
    p.wrappedProtocol.transport.write(b"out")
    clock.pump([0, 1, 1])
    assert transport.connected
    clock.advance(1)
    assert not transport.connected and transport.value() == b"inout"
    assert clock.getDelayedCalls() == []


def test_timeout_factory_cancelTimeout_keeps_the_connection() -> None:
    clock = Clock()
    p, transport = _timed(clock, 3)
    p.cancelTimeout()
    p.cancelTimeout()  # twice is harmless
    clock.advance(10)
    assert transport.connected and clock.getDelayedCalls() == []


def test_timeout_factory_closes_an_idle_real_connection(reactor: Any, run: Any) -> None:
    factory = TimeoutFactory(Factory.forProtocol(Echo), timeoutPeriod=60)

    async def scenario() -> tuple[bool, Any]:
        port = listen(reactor, factory)
        clients = Clients(b"x")
        reactor.connectTCP("127.0.0.1", port, clients)
        await until(reactor, lambda: clients.clients and clients.clients[0].data == b"x")
        (wrapper,) = factory.protocols
        on_this_reactor = wrapper.timeoutCall in reactor.getDelayedCalls()
        if on_this_reactor:
            wrapper.timeoutCall.reset(0)  # the 60 s are up, without waiting for them
            await until(reactor, lambda: clients.lost)
        clients.clients[0].transport.loseConnection()
        await until(reactor, lambda: clients.lost)
        return on_this_reactor, clients.lost[0].reason

    on_this_reactor, reason = run(scenario)
    assert on_this_reactor  # not on some default reactor that may not even run
    assert reason.check(error.ConnectionDone)


def test_spewing_factory_logs_both_directions(caplog: Any) -> None:
    p = SpewingFactory(Factory.forProtocol(Echo)).buildProtocol(ADDR)
    p.makeConnection(StringTransport())
    with caplog.at_level("INFO", logger="inspector"):
        p.dataReceived(b"abc")
    assert [r.getMessage() for r in caplog.records] == ["Received: b'abc'", "Sending: b'abc'"]


# ----------------------------------------------------------- connection-count limits


class Busy(Protocol):
    def connectionMade(self) -> None:
        self.transport.write(b"busy")
        self.transport.loseConnection()


def _limited(limit: int, overflow: Any = None) -> LimitTotalConnectionsFactory:
    factory = LimitTotalConnectionsFactory()
    factory.protocol = Echo
    factory.connectionLimit = limit
    factory.overflowProtocol = overflow
    return factory


@pytest.mark.parametrize("overflow", [None, Busy], ids=["closed", "overflowProtocol"])
def test_limit_total_connections(reactor: Any, run: Any, overflow: Any) -> None:
    factory = _limited(2, overflow)

    async def scenario() -> dict[str, Any]:
        port = listen(reactor, factory)
        first, second, third, fourth = (Clients(b"x") for _ in range(4))
        for clients in (first, second):
            reactor.connectTCP("127.0.0.1", port, clients)
            await until(reactor, lambda c=clients: c.clients and c.clients[0].data == b"x")
        reactor.connectTCP("127.0.0.1", port, third)
        await until(reactor, lambda: third.lost)
        counted = factory.connectionCount
        first.clients[0].transport.loseConnection()
        await until(reactor, lambda: first.lost and factory.connectionCount == 1)
        reactor.connectTCP("127.0.0.1", port, fourth)
        await until(reactor, lambda: fourth.clients and fourth.clients[0].data == b"x")
        second.clients[0].transport.loseConnection()
        fourth.clients[0].transport.loseConnection()
        await until(reactor, lambda: factory.connectionCount == 0)
        return {"third": third.lost[0].data, "served_still": not second.lost or second.lost[0].data == b"x",
                "counted": counted}

    result = run(scenario)
    assert result["third"] == (b"" if overflow is None else b"busy")
    assert result["served_still"]
    assert result["counted"] == 2  # an overflow connection counts while it lives, a refused one never


def test_limit_total_connections_counts_like_twisted() -> None:
    factory = _limited(1)
    p = factory.buildProtocol(None)
    assert factory.connectionCount == 1 and isinstance(p.wrappedProtocol, Echo)
    assert p.wrappedProtocol.factory is factory
    assert factory.buildProtocol(None) is None and factory.connectionCount == 1
    p.connectionLost(None)
    assert factory.connectionCount == 0


def test_limit_connections_by_peer(reactor: Any, run: Any) -> None:
    factory = LimitConnectionsByPeer(Factory.forProtocol(Echo))
    factory.maxConnectionsPerPeer = 2

    async def scenario() -> dict[str, Any]:
        port = listen(reactor, factory)
        first, second, third, fourth = (Clients(b"x") for _ in range(4))
        for clients in (first, second):
            reactor.connectTCP("127.0.0.1", port, clients)
            await until(reactor, lambda c=clients: c.clients and c.clients[0].data == b"x")
        counts = dict(factory.peerConnections)
        reactor.connectTCP("127.0.0.1", port, third)
        await until(reactor, lambda: third.lost)
        first.clients[0].transport.loseConnection()
        await until(reactor, lambda: factory.peerConnections.get("127.0.0.1") == 1)
        reactor.connectTCP("127.0.0.1", port, fourth)
        await until(reactor, lambda: fourth.clients and fourth.clients[0].data == b"x")
        for clients in (second, fourth):
            clients.clients[0].transport.loseConnection()
        await until(reactor, lambda: not factory.protocols)
        return {"counts": counts, "third": third.lost[0].data, "left": dict(factory.peerConnections)}

    result = run(scenario)
    assert result["counts"] == {"127.0.0.1": 2}
    assert result["third"] == b""
    assert result["left"] == {}


# ------------------------------------------------------------------------ throttling


class Paused(Protocol):
    """An echo that is also a push producer and records whether it is paused."""

    paused = False

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        pass


def _throttled(clock: Clock, **limits: Any) -> tuple[ThrottlingFactory, Any, StringTransport]:
    factory = ThrottlingFactory(Factory.forProtocol(Paused), **limits)
    factory.clock = clock
    p = factory.buildProtocol(ADDR)
    transport = StringTransportWithDisconnection()
    transport.protocol = p
    p.makeConnection(transport)
    return factory, p, transport


def test_read_limit_pauses_reading_for_the_excess_then_resumes() -> None:
    clock = Clock()
    factory, p, transport = _throttled(clock, readLimit=10)
    for _ in range(2):
        p.dataReceived(b"0123456789")
        p.dataReceived(b"abcdefghij")
        assert factory.readThisSecond == 20
        clock.advance(1.05)  # 20 bytes in a second at 10/s: pause 1 s
        assert factory.readThisSecond == 0 and transport.producerState == "paused"
        clock.advance(1.05)
        assert transport.producerState == "producing"
    p.dataReceived(b"0123456789")  # at the limit, not over: no pause
    clock.advance(1)
    assert transport.producerState == "producing"


def test_write_limit_pauses_the_registered_producer() -> None:
    clock = Clock()
    factory, p, transport = _throttled(clock, writeLimit=10)
    p.wrappedProtocol.transport.registerProducer(p.wrappedProtocol, True)
    p.dataReceived(b"0123456789")
    p.wrappedProtocol.transport.writeSequence([b"abcde", b"fghij", b"klmno"])
    assert transport.value() == b"0123456789abcdefghijklmno"
    assert factory.writtenThisSecond == 25
    clock.advance(1)
    assert p.wrappedProtocol.paused  # 25 bytes at 10/s: paused for 1.5 s
    clock.advance(1.4)
    assert p.wrappedProtocol.paused
    clock.advance(0.1)
    assert not p.wrappedProtocol.paused


def test_write_limit_without_a_producer_holds_nothing_back() -> None:
    clock = Clock()
    factory, p, transport = _throttled(clock, writeLimit=10)
    p.dataReceived(b"x" * 100)
    clock.advance(1)  # over the limit, but there is no producer to pause
    assert transport.value() == b"x" * 100


def test_throttle_checks_stop_with_the_last_connection() -> None:
    clock = Clock()
    factory, p, transport = _throttled(clock, readLimit=10, writeLimit=10)
    assert len(clock.getDelayedCalls()) == 2
    p.dataReceived(b"x" * 30)
    clock.advance(1)
    assert len(clock.getDelayedCalls()) == 4  # two checks and two resumes pending
    transport.loseConnection()
    assert clock.getDelayedCalls() == [] and factory.connectionCount == 0


def test_throttling_factory_refuses_past_maxConnectionCount(reactor: Any, run: Any) -> None:
    factory = ThrottlingFactory(Factory.forProtocol(Echo), 2)

    async def scenario() -> tuple[bytes, int]:
        port = listen(reactor, factory)
        served = [Clients(b"x") for _ in range(2)]
        for clients in served:
            reactor.connectTCP("127.0.0.1", port, clients)
            await until(reactor, lambda c=clients: c.clients and c.clients[0].data == b"x")
        refused = Clients(b"x")
        reactor.connectTCP("127.0.0.1", port, refused)
        await until(reactor, lambda: refused.lost)
        count = len(factory.protocols)
        for clients in served:
            clients.clients[0].transport.loseConnection()
        await until(reactor, lambda: factory.connectionCount == 0)
        return refused.lost[0].data, count

    assert run(scenario) == (b"", 2)


def test_throttle_checks_run_on_the_connections_reactor(reactor: Any, run: Any) -> None:
    factory = ThrottlingFactory(Factory.forProtocol(Echo), readLimit=1000, writeLimit=1000)

    async def scenario() -> tuple[list[float], bool]:
        port = listen(reactor, factory)
        clients = Clients(b"x")
        reactor.connectTCP("127.0.0.1", port, clients)
        await until(reactor, lambda: clients.clients and clients.clients[0].data == b"x")
        pending = reactor.getDelayedCalls()
        checks = [factory.checkReadBandwidthID, factory.checkWriteBandwidthID]
        due = [c.getTime() - reactor.seconds() for c in checks if c in pending]
        clients.clients[0].transport.loseConnection()
        await until(reactor, lambda: factory.connectionCount == 0)
        return due, any(c.active() for c in checks)

    due, still_active = run(scenario)
    assert len(due) == 2 and all(0 < d <= 1 for d in due)
    assert not still_active  # the last connection's end cancelled them


def test_read_throttle_holds_real_bytes_back_for_the_excess(reactor: Any, run: Any) -> None:
    clock = Clock()  # drives the once-a-second checks; the bytes go over real sockets
    received = bytearray()

    class Sink(Protocol):
        def dataReceived(self, data: bytes) -> None:
            received.extend(data)

    factory = ThrottlingFactory(Factory.forProtocol(Sink), readLimit=100_000)
    factory.clock = clock

    async def scenario() -> dict[str, int]:
        port = listen(reactor, factory)
        clients = Clients(b"a" * 200_000)
        reactor.connectTCP("127.0.0.1", port, clients)
        await until(reactor, lambda: len(received) == 200_000)
        clock.advance(1)  # 200 kB in the second at 100 kB/s: reads pause for 1 s
        clients.clients[0].transport.write(b"b" * 50_000)
        await later(reactor, 0.2)
        while_paused = len(received)
        clock.advance(0.5)
        await later(reactor, 0.1)
        still_paused = len(received)
        clock.advance(0.5)
        await until(reactor, lambda: len(received) == 250_000)
        clients.clients[0].transport.loseConnection()
        await until(reactor, lambda: factory.connectionCount == 0)
        return {"while_paused": while_paused, "still_paused": still_paused}

    result = run(scenario)
    assert result == {"while_paused": 200_000, "still_paused": 200_000}
    assert clock.getDelayedCalls() == []


def test_write_throttle_pauses_a_real_connections_producer(reactor: Any, run: Any) -> None:
    clock = Clock()
    servers: list[Any] = []

    class Streamer(Protocol):
        """Registers itself as a push producer and streams while not paused."""

        paused = False
        sent = 0

        def connectionMade(self) -> None:
            servers.append(self)
            self.transport.registerProducer(self, True)
            self.transport.write(b"s" * 150_000)
            self.sent = 150_000

        def pauseProducing(self) -> None:
            self.paused = True

        def resumeProducing(self) -> None:
            self.paused = False

        def stopProducing(self) -> None:
            pass

    factory = ThrottlingFactory(Factory.forProtocol(Streamer), writeLimit=100_000)
    factory.clock = clock

    async def scenario() -> list[bool]:
        port = listen(reactor, factory)
        clients = Clients()
        reactor.connectTCP("127.0.0.1", port, clients)
        await until(reactor, lambda: clients.clients and len(clients.clients[0].data) == 150_000)
        states = [servers[0].paused]
        clock.advance(1)  # 150 kB at 100 kB/s: producer paused for 0.5 s
        states.append(servers[0].paused)
        clock.advance(0.5)
        states.append(servers[0].paused)
        clients.clients[0].transport.loseConnection()
        await until(reactor, lambda: factory.connectionCount == 0)
        return states

    assert run(scenario) == [False, True, False]


# ------------------------------------------------------------------- traffic logging


class VectorEcho(Protocol):
    def dataReceived(self, data: bytes) -> None:
        if b"vector" in data:
            self.transport.writeSequence([data, b"!"])
        else:
            self.transport.write(data)


def test_traffic_logging_writes_one_file_per_connection(reactor: Any, run: Any, tmp_path: Any) -> None:
    prefix = str(tmp_path / "traffic")
    factory = TrafficLoggingFactory(Factory.forProtocol(VectorEcho), prefix)
    files: list[Any] = []

    async def scenario() -> None:
        port = listen(reactor, factory)
        for payload in (b"hello", b"vector"):
            clients = Clients(payload)
            reactor.connectTCP("127.0.0.1", port, clients)
            await until(reactor, lambda c=clients: c.clients and c.clients[0].data.startswith(payload))
            files.extend(p.logfile for p in factory.protocols)
            clients.clients[0].transport.loseConnection()
            await until(reactor, lambda: not factory.protocols)

    run(scenario)
    first = (tmp_path / "traffic-1").read_text().splitlines()
    assert first[:3] == ["*", "C 1: b'hello'", "S 1: b'hello'"]
    assert first[3].startswith("C 1: ") and "ConnectionDone" in first[3] and len(first) == 4
    second = (tmp_path / "traffic-2").read_text().splitlines()
    assert second[:3] == ["*", "C 2: b'vector'", "SV 2: [b'vector', b'!']"]
    assert all(f.closed for f in files)  # the factory closes the files it opened


def test_traffic_logging_marks_a_server_close_and_elides_long_data() -> None:
    logs: list[StringIO] = []

    class Logging(TrafficLoggingFactory):
        def open(self, name: str) -> StringIO:
            logs.append(StringIO())
            return logs[-1]

    factory = Logging(Factory.forProtocol(Echo), "unused", lengthLimit=20)
    p = factory.buildProtocol(ADDR)
    transport = StringTransportWithDisconnection()
    transport.protocol = p
    p.makeConnection(transport)
    p.dataReceived(b"x" * 50)
    p.wrappedProtocol.transport.loseConnection()
    lines = logs[0].getvalue().splitlines()
    assert lines[1] == "C 1: " + repr(b"x" * 8 + b"<... elided>")
    assert lines[3] == "S 1: *"
    assert "ConnectionDone" in lines[4]
    assert transport.value() == b"x" * 50  # only the log is cut
    assert not logs[0].closed  # a file from an overridden open() is the opener's
    factory.resetCounter()
    factory.buildProtocol(ADDR)
    assert len(logs) == 2 and factory._counter == 1
