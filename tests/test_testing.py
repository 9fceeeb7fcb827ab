"""inspector.testing: the socket-free test doubles, checked against Twisted's own.

Where the behaviour is Twisted's, the same test runs on ``twisted.internet.testing``
too (when Twisted is installed), so a divergence shows up as one of the pair failing.
The last tests unit-test the project's own protocols the way a Twisted user would.
"""

from __future__ import annotations

import importlib
import os
from types import SimpleNamespace
from typing import Any

import pytest
from zope.interface.verify import verifyObject

from inspector import error, interfaces
from inspector.address import IPv4Address, IPv6Address
from inspector.defer import Deferred
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.testing import (
    AccumulatingProtocol,
    MemoryReactor,
    MemoryReactorClock,
    StringIOWithoutClosing,
    StringTransport,
    StringTransportWithDisconnection,
)


def _implementation(name: str) -> SimpleNamespace:
    """The names a test needs, from Inspector or from Twisted."""
    if name == "twisted":
        testing = pytest.importorskip("twisted.internet.testing", reason="Twisted (the bench extra) is not installed")
        return SimpleNamespace(
            testing=testing,
            ConnectionDone=importlib.import_module("twisted.internet.error").ConnectionDone,
            Deferred=importlib.import_module("twisted.internet.defer").Deferred,
            Factory=importlib.import_module("twisted.internet.protocol").Factory,
            ClientFactory=importlib.import_module("twisted.internet.protocol").ClientFactory,
            address=importlib.import_module("twisted.internet.address"),
        )
    return SimpleNamespace(
        testing=importlib.import_module("inspector.testing"),
        ConnectionDone=error.ConnectionDone,
        Deferred=Deferred,
        Factory=Factory,
        ClientFactory=ClientFactory,
        address=importlib.import_module("inspector.address"),
    )


@pytest.fixture(params=["inspector", "twisted"])
def impl(request: pytest.FixtureRequest) -> SimpleNamespace:
    """Each test using this fixture runs on Inspector's doubles and on Twisted's."""
    return _implementation(request.param)


# ------------------------------------------------------------------ StringTransport


def test_value_is_everything_written_since_the_last_clear(impl) -> None:
    transport = impl.testing.StringTransport()
    assert transport.value() == b""
    transport.write(b"abc")
    transport.writeSequence([b"de", b"", b"f"])
    assert transport.value() == b"abcdef"
    assert transport.io.getvalue() == b"abcdef"
    transport.clear()
    assert transport.value() == b""
    transport.write(b"g")
    assert transport.value() == b"g"


@pytest.mark.parametrize("bad", ["text", bytearray(b"x"), 3])
def test_write_takes_bytes_only(impl, bad) -> None:
    transport = impl.testing.StringTransport()
    with pytest.raises(TypeError):
        transport.write(bad)
    assert transport.value() == b""


def test_write_sequence_refuses_text(impl) -> None:
    transport = impl.testing.StringTransport()
    with pytest.raises(TypeError):
        transport.writeSequence([b"ok", "text"])
    assert transport.value() == b""


def test_lose_connection_is_only_recorded(impl) -> None:
    transport = impl.testing.StringTransport()
    assert (transport.disconnecting, transport.disconnected, transport.connected) == (False, False, True)
    transport.loseConnection()
    assert (transport.disconnecting, transport.disconnected) == (True, False)
    transport.write(b"after")  # nothing really closed: writes are still kept
    assert transport.value() == b"after"


def test_abort_connection_records_both_flags(impl) -> None:
    transport = impl.testing.StringTransport()
    transport.abortConnection()
    assert (transport.disconnecting, transport.disconnected) == (True, True)


def test_default_addresses_match_twisted(impl) -> None:
    transport = impl.testing.StringTransport()
    host, peer = transport.getHost(), transport.getPeer()
    assert isinstance(host, impl.address.IPv4Address)
    assert (host.type, host.host, host.port) == ("TCP", "10.0.0.1", 12345)
    assert (peer.type, peer.host, peer.port) == ("TCP", "192.168.1.1", 54321)


def test_given_addresses_are_returned(impl) -> None:
    host = impl.address.IPv4Address("TCP", "127.0.0.1", 1)
    peer = impl.address.IPv6Address("TCP", "::1", 2)
    transport = impl.testing.StringTransport(hostAddress=host, peerAddress=peer)
    assert transport.getHost() is host
    assert transport.getPeer() is peer


def test_producer_registration_is_recorded_and_checked(impl) -> None:
    transport = impl.testing.StringTransport()
    producer = object()
    assert (transport.producer, transport.streaming) == (None, None)
    transport.registerProducer(producer, True)
    assert (transport.producer, transport.streaming) == (producer, True)
    with pytest.raises(RuntimeError):
        transport.registerProducer(object(), False)
    assert transport.producer is producer
    transport.unregisterProducer()
    assert (transport.producer, transport.streaming) == (None, None)
    with pytest.raises(RuntimeError):
        transport.unregisterProducer()
    transport.registerProducer(producer, False)  # free again after unregistering
    assert transport.streaming is False


def test_producer_state_follows_pause_resume_and_stop(impl) -> None:
    transport = impl.testing.StringTransport()
    assert transport.producerState == "producing"
    transport.pauseProducing()
    assert transport.producerState == "paused"
    transport.resumeProducing()
    assert transport.producerState == "producing"
    transport.stopProducing()
    assert transport.producerState == "stopped"
    with pytest.raises(RuntimeError):
        transport.resumeProducing()
    with pytest.raises(RuntimeError):
        transport.pauseProducing()
    assert transport.producerState == "stopped"


def test_resuming_a_closing_transport_is_an_error_unless_lenient(impl) -> None:
    strict = impl.testing.StringTransport()
    strict.loseConnection()
    with pytest.raises(RuntimeError):
        strict.resumeProducing()
    strict.stopProducing()  # stopping is always allowed
    assert strict.producerState == "stopped"

    lenient = impl.testing.StringTransport(lenient=True)
    lenient.loseConnection()
    lenient.pauseProducing()
    lenient.resumeProducing()
    assert lenient.producerState == "producing"


def test_disconnection_transport_tells_the_protocol_once(impl) -> None:
    transport = impl.testing.StringTransportWithDisconnection()
    protocol = impl.testing.AccumulatingProtocol()
    transport.protocol = protocol
    protocol.makeConnection(transport)
    transport.loseConnection()
    assert protocol.closed == 1
    assert protocol.closedReason.check(impl.ConnectionDone)
    assert transport.connected is False
    first = protocol.closedReason
    transport.loseConnection()
    assert protocol.closedReason is first  # not told twice


def test_string_io_without_closing_stays_readable() -> None:
    io = StringIOWithoutClosing()
    io.write(b"kept")
    io.close()
    assert not io.closed
    assert io.getvalue() == b"kept"


# --------------------------------------------------------------- AccumulatingProtocol


def test_accumulating_protocol_keeps_data_and_states(impl) -> None:
    protocol = impl.testing.AccumulatingProtocol()
    assert (protocol.made, protocol.closed, protocol.data) == (0, 0, b"")
    protocol.makeConnection(impl.testing.StringTransport())
    assert protocol.made == 1
    protocol.dataReceived(b"one ")
    protocol.dataReceived(b"two")
    assert protocol.data == b"one two"
    closed = impl.Deferred()
    protocol.closedDeferred = closed
    fired = []
    closed.addCallback(fired.append)
    reason = object()
    protocol.connectionLost(reason)
    assert (protocol.closed, protocol.closedReason) == (1, reason)
    assert fired == [None]
    assert protocol.closedDeferred is None
    protocol.connectionLost(reason)  # a second loss fires nothing again
    assert fired == [None]


def test_accumulating_protocol_fires_the_factory_deferred_once(impl) -> None:
    factory = impl.Factory.forProtocol(impl.testing.AccumulatingProtocol)
    factory.protocolConnectionMade = impl.Deferred()
    made = []
    factory.protocolConnectionMade.addCallback(made.append)
    first = factory.buildProtocol(None)
    first.makeConnection(impl.testing.StringTransport())
    assert made == [first]
    assert factory.protocolConnectionMade is None
    second = factory.buildProtocol(None)
    second.makeConnection(impl.testing.StringTransport())
    assert made == [first] and second.made == 1


# ------------------------------------------------------------------- MemoryReactor


class RecordingClientFactory(ClientFactory):
    def __init__(self) -> None:
        self.started: list[Any] = []

    def startedConnecting(self, connector: Any) -> None:
        self.started.append(connector)


def test_listen_tcp_is_recorded_and_returns_a_port() -> None:
    reactor = MemoryReactor()
    factory = Factory.forProtocol(Protocol)
    port = reactor.listenTCP(8080, factory, backlog=5, interface="127.0.0.1")
    assert reactor.tcpServers == [(8080, factory, 5, "127.0.0.1")]
    assert verifyObject(interfaces.IListeningPort, port)
    assert port.getHost() == IPv4Address("TCP", "127.0.0.1", 8080)
    assert port.stopListening() is None
    six = reactor.listenTCP(0, factory, interface="::1")
    assert six.getHost() == IPv6Address("TCP", "::1", 0)


def test_listen_tcp_defaults_are_the_framework_reactors() -> None:
    """A missing interface is recorded as the framework's loopback default, not Twisted's ''."""
    import inspect

    from inspector.reactors.base import ReactorBase

    reactor = MemoryReactor()
    factory = Factory.forProtocol(Protocol)
    reactor.listenTCP(1, factory)
    real = inspect.signature(ReactorBase.listenTCP).parameters
    assert reactor.tcpServers[0][2:] == (real["backlog"].default, real["interface"].default)


def test_connect_tcp_is_recorded_and_the_factory_told(impl) -> None:
    reactor = impl.testing.MemoryReactor()

    class Recording(impl.ClientFactory):
        def startedConnecting(self, connector: Any) -> None:
            self.started = connector

    factory = Recording()
    connector = reactor.connectTCP("example.com", 6667, factory, timeout=7)
    assert reactor.tcpClients == [("example.com", 6667, factory, 7, None)]
    assert reactor.connectors == [connector]
    assert factory.started is connector
    destination = connector.getDestination()
    assert (destination.type, destination.host, destination.port) == ("TCP", "example.com", 6667)
    assert connector.stoppedConnecting is False
    connector.stopConnecting()
    assert connector.stoppedConnecting is True
    v6 = reactor.connectTCP("::1", 1, Recording()).getDestination()
    assert isinstance(v6, impl.address.IPv6Address)


def test_listen_udp_is_recorded() -> None:
    reactor = MemoryReactor()
    protocol = object()
    port = reactor.listenUDP(5353, protocol, interface="127.0.0.1", maxPacketSize=512)
    assert reactor.udpServers == [(5353, protocol, "127.0.0.1", 512)]
    assert port.getHost() == IPv4Address("UDP", "127.0.0.1", 5353)


def test_ssl_and_unix_calls_are_recorded(impl) -> None:
    reactor = impl.testing.MemoryReactor()
    server, client, context = impl.Factory(), impl.ClientFactory(), object()
    reactor.listenSSL(443, server, context, backlog=10, interface="127.0.0.1")
    ssl_connector = reactor.connectSSL("example.com", 443, client, context, timeout=3)
    reactor.listenUNIX("/tmp/s.sock", server, backlog=10, mode=0o600)
    unix_connector = reactor.connectUNIX("/tmp/s.sock", client, timeout=4)
    assert reactor.sslServers == [(443, server, context, 10, "127.0.0.1")]
    assert reactor.sslClients == [("example.com", 443, client, context, 3, None)]
    assert reactor.unixServers == [("/tmp/s.sock", server, 10, 0o600, 0)]
    assert reactor.unixClients == [("/tmp/s.sock", client, 4, 0)]
    assert reactor.connectors == [ssl_connector, unix_connector]
    assert os.fsdecode(unix_connector.getDestination().name) == "/tmp/s.sock"


def test_run_calls_when_running_hooks_then_stops(impl) -> None:
    reactor = impl.testing.MemoryReactor()
    calls = []
    reactor.callWhenRunning(calls.append, "early")
    assert calls == [] and len(reactor.whenRunningHooks) == 1
    assert (reactor.running, reactor.hasRun, reactor.hasStopped) == (False, False, False)
    reactor.run()
    assert calls == ["early"]
    assert (reactor.running, reactor.hasRun, reactor.hasStopped) == (False, True, True)
    reactor.callWhenRunning(calls.append, "late")  # it has run: called at once
    assert calls == ["early", "late"]


def test_run_inside_run_is_refused(impl) -> None:
    reactor = impl.testing.MemoryReactor()
    refused = []

    def again() -> None:
        with pytest.raises(AssertionError):
            reactor.run()
        refused.append(True)

    reactor.callWhenRunning(again)
    reactor.run()
    assert refused == [True] and reactor.hasStopped


def test_stop_and_crash_are_recorded(impl) -> None:
    reactor = impl.testing.MemoryReactor()
    reactor.stop()
    assert (reactor.running, reactor.hasStopped) == (False, True)
    reactor.crash()
    assert (reactor.running, reactor.hasCrashed) == (None, True)
    reactor.install()
    assert reactor.hasInstalled


def test_system_event_triggers_are_kept_not_run(impl) -> None:
    reactor = impl.testing.MemoryReactor()
    calls = []
    reactor.addSystemEventTrigger("before", "shutdown", calls.append, 1)
    reactor.addSystemEventTrigger("before", "shutdown", calls.append, 2)
    reactor.addSystemEventTrigger("after", "startup", calls.append, k=3)
    assert reactor.triggers == {
        "before": {"shutdown": [(calls.append, (1,), {}), (calls.append, (2,), {})]},
        "after": {"startup": [(calls.append, (), {"k": 3})]},
    }
    reactor.run()
    assert calls == []


def test_what_a_memory_reactor_cannot_do_says_so(impl) -> None:
    reactor = impl.testing.MemoryReactor()
    for call in (lambda: reactor.resolve("localhost"), reactor.iterate, lambda: reactor.fireSystemEvent("x"),
                 lambda: reactor.removeSystemEventTrigger(None)):
        with pytest.raises(NotImplementedError):
            call()


def test_readers_and_writers_sets(impl) -> None:
    reactor = impl.testing.MemoryReactor()
    a, b, c = object(), object(), object()
    reactor.addReader(a)
    reactor.addReader(b)
    reactor.addWriter(b)
    reactor.addWriter(c)
    assert set(reactor.getReaders()) == {a, b} and isinstance(reactor.getReaders(), list)
    assert set(reactor.getWriters()) == {b, c}
    reactor.removeReader(a)
    reactor.removeReader(a)  # absent: no error
    reactor.removeWriter(c)
    assert reactor.getReaders() == [b] and reactor.getWriters() == [b]
    reactor.addReader(a)
    assert set(reactor.removeAll()) == {a, b}
    assert reactor.getReaders() == [] and reactor.getWriters() == []


def test_memory_reactor_clock_runs_calls_only_when_advanced() -> None:
    reactor = MemoryReactorClock()
    calls = []
    reactor.callLater(2, calls.append, "two")
    reactor.callLater(1, calls.append, "one")
    assert reactor.seconds() == 0 and len(reactor.getDelayedCalls()) == 2
    reactor.advance(1.5)
    assert calls == ["one"]
    reactor.advance(0.5)
    assert calls == ["one", "two"] and reactor.getDelayedCalls() == []
    reactor.listenTCP(1, Factory.forProtocol(Protocol))  # and it still records
    assert len(reactor.tcpServers) == 1


# ------------------------------------------------------------------------ interfaces


@pytest.mark.parametrize(
    "make, provided",
    [
        (StringTransport, ["ITransport", "IConsumer", "IPushProducer"]),
        (StringTransportWithDisconnection, ["ITransport", "IConsumer", "IPushProducer"]),
        (AccumulatingProtocol, ["IProtocol"]),
        (MemoryReactor, ["IReactorCore", "IReactorTCP", "IReactorUDP", "IReactorFDSet"]),
        (MemoryReactorClock, ["IReactorCore", "IReactorTCP", "IReactorUDP", "IReactorFDSet", "IReactorTime"]),
    ],
)
def test_doubles_provide_the_framework_interfaces(make, provided) -> None:
    obj = make()
    for name in provided:
        assert verifyObject(getattr(interfaces, name), obj), name


def test_the_connector_provides_iconnector() -> None:
    connector = MemoryReactor().connectTCP("127.0.0.1", 1, RecordingClientFactory())
    assert verifyObject(interfaces.IConnector, connector)


# ------------------------------------------ unit-testing protocols the way Twisted users do


def test_echo_protocol_unit_tested_with_a_string_transport() -> None:
    from inspector.protocols.echo import Echo

    protocol = Echo()
    transport = StringTransport()
    protocol.makeConnection(transport)
    assert transport.producer is protocol and transport.streaming is True
    protocol.dataReceived(b"hello, ")
    protocol.dataReceived(b"world")
    assert transport.value() == b"hello, world"
    # The transport pauses the echo when its buffer is high; the echo stops reading.
    protocol.pauseProducing()
    assert transport.producerState == "paused"
    protocol.resumeProducing()
    assert transport.producerState == "producing"


def _line_user_test(LineReceiver: Any, testing: Any) -> tuple:
    """A user's test of a small line protocol, written once, run on either framework."""

    class Upper(LineReceiver):
        MAX_LENGTH = 10

        def lineReceived(self, line: bytes) -> None:
            if line == b"quit":
                self.transport.loseConnection()
            else:
                self.sendLine(line.upper())

    protocol = Upper()
    transport = testing.StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(b"ab\r\ncd\r")
    first = transport.value()
    transport.clear()
    protocol.dataReceived(b"\nquit\r\nlost\r\n")
    second = transport.value()
    closing = transport.disconnecting
    long_line = testing.StringTransport()
    other = Upper()
    other.makeConnection(long_line)
    other.dataReceived(b"x" * 11 + b"\r\n")
    return first, second, closing, long_line.disconnecting, long_line.value()


def test_line_receiver_unit_test_reads_the_same_as_on_twisted() -> None:
    from inspector.protocols.basic import LineReceiver

    ours = _line_user_test(LineReceiver, importlib.import_module("inspector.testing"))
    assert ours[:3] == (b"AB\r\n", b"CD\r\n", True)
    assert ours[3] is True  # an over-long line drops the connection
    twisted_basic = pytest.importorskip("twisted.protocols.basic", reason="Twisted (the bench extra) is not installed")
    theirs = _line_user_test(twisted_basic.LineReceiver, importlib.import_module("twisted.internet.testing"))
    assert ours == theirs


def test_an_endpoint_connect_is_completed_by_hand_on_a_memory_reactor() -> None:
    """Twisted's pattern: take the factory the code gave connectTCP, and play the network."""
    from inspector.endpoints import TCP4ClientEndpoint

    reactor = MemoryReactorClock()
    connected = []
    TCP4ClientEndpoint(reactor, "irc.example", 6667).connect(
        Factory.forProtocol(AccumulatingProtocol)
    ).addCallback(connected.append)
    ((host, port, factory, timeout, _),) = reactor.tcpClients
    assert (host, port, timeout) == ("irc.example", 6667, 30)
    protocol = factory.buildProtocol(IPv4Address("TCP", "10.0.0.2", 6667))
    protocol.makeConnection(StringTransport())
    reactor.advance(0)
    assert connected == [protocol] and protocol.made == 1
