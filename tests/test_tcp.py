"""TCP over real loopback sockets, on every reactor: transports, ports, connectors, faults."""

from __future__ import annotations

import logging
import socket

import pytest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from inspector import error
from inspector.address import IPv4Address, IPv6Address
from inspector.defer import Deferred, DeferredList
from inspector.interfaces import (
    IConnector,
    IConsumer,
    IHalfCloseableProtocol,
    IListeningPort,
    IPushProducer,
    ITCPTransport,
)
from inspector.protocol import ClientFactory, Factory, Protocol


def sleep(reactor, seconds):
    d = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


class Reason:
    """A Failure carried as a plain result (a Deferred fired with a Failure would errback)."""

    def __init__(self, failure):
        self.failure = failure
        self.value = failure.value

    def check(self, *types):
        return self.failure.check(*types)


class Recorder(Protocol):
    """Collects bytes; ``made`` and ``lost`` fire with the transport and the reason."""

    def __init__(self):
        self.made = Deferred()
        self.lost = Deferred()
        self.data = bytearray()
        self.lost_calls = 0
        self.waiters = []

    def connectionMade(self):
        self.made.callback(self.transport)

    def dataReceived(self, data):
        self.data += data
        for want, d in list(self.waiters):
            if len(self.data) >= want:
                self.waiters.remove((want, d))
                d.callback(bytes(self.data))

    def wait_for(self, nbytes):
        d = Deferred()
        if len(self.data) >= nbytes:
            d.callback(bytes(self.data))
        else:
            self.waiters.append((nbytes, d))
        return d

    def connectionLost(self, reason):
        self.lost_calls += 1
        self.lost.callback(Reason(reason))


class Echo(Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class RecordingFactory(ClientFactory):
    """Hands out Recorder instances and remembers them (server or client side)."""

    def __init__(self, protocol=Recorder):
        self.protocol = protocol
        self.built = []
        self._claimed = 0
        self._waiters = {}
        self.failed = Deferred()
        self.client_lost = Deferred()
        self.events = []

    def buildProtocol(self, addr):
        p = super().buildProtocol(addr)
        self.built.append(p)
        self.events.append("buildProtocol")
        waiter = self._waiters.pop(len(self.built) - 1, None)
        if waiter is not None:
            waiter.callback(p)
        return p

    @property
    def next_built(self):
        """A Deferred of the next protocol built that no one has claimed yet."""
        index = self._claimed
        self._claimed += 1
        d = Deferred()
        if index < len(self.built):
            d.callback(self.built[index])
        else:
            self._waiters[index] = d
        return d

    def startedConnecting(self, connector):
        self.events.append("startedConnecting")

    def clientConnectionFailed(self, connector, reason):
        self.events.append("clientConnectionFailed")
        self.failed.callback(Reason(reason))

    def clientConnectionLost(self, connector, reason):
        self.events.append("clientConnectionLost")
        self.client_lost.callback(Reason(reason))


async def connect_pair(reactor, interface="127.0.0.1", server_protocol=Recorder, client_protocol=Recorder):
    """Listen, connect, and return (port, server protocol, client protocol, connector)."""
    server_factory = RecordingFactory(server_protocol)
    port = reactor.listenTCP(0, server_factory, interface=interface)
    client_factory = RecordingFactory(client_protocol)
    connector = reactor.connectTCP(interface, port.getHost().port, client_factory)
    client = await client_factory.next_built
    server = await server_factory.next_built
    if isinstance(client, Recorder):
        await client.made
    if isinstance(server, Recorder):
        await server.made
    return port, server, client, connector


# --------------------------------------------------------------------- basics


def test_echo_round_trip_and_clean_close(reactor, run):
    async def scenario():
        port, server, client, connector = await connect_pair(reactor, server_protocol=Echo)
        client.transport.write(b"hello, ")
        client.transport.writeSequence([b"wor", bytearray(b"ld")])
        echoed = await client.wait_for(12)
        client.transport.loseConnection()
        reason = await client.lost
        await port.stopListening()
        return echoed, reason, client.lost_calls

    echoed, reason, calls = run(scenario)
    assert echoed == b"hello, world"
    assert reason.check(error.ConnectionDone)
    assert calls == 1


def test_interfaces_are_provided(reactor, run):
    async def scenario():
        port, server, client, connector = await connect_pair(reactor)
        verifyObject(IListeningPort, port)
        verifyObject(IConnector, connector)
        for transport in (server.transport, client.transport):
            verifyObject(ITCPTransport, transport)
            verifyObject(IConsumer, transport)
            verifyObject(IPushProducer, transport)
        client.transport.loseConnection()
        await server.lost
        await port.stopListening()

    run(scenario)


def test_addresses_on_both_sides(reactor, run):
    async def scenario():
        port, server, client, connector = await connect_pair(reactor)
        result = (port.getHost(), server.transport.getHost(), server.transport.getPeer(),
                  client.transport.getHost(), client.transport.getPeer(), connector.getDestination())
        client.transport.loseConnection()
        await server.lost
        await port.stopListening()
        return result

    listening, s_host, s_peer, c_host, c_peer, dest = run(scenario)
    assert listening == IPv4Address("TCP", "127.0.0.1", listening.port) and listening.port > 0
    assert s_host == c_peer == listening
    assert s_peer == c_host
    assert dest == IPv4Address("TCP", "127.0.0.1", listening.port)


def test_ipv6_loopback(reactor, run):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("::1 is not configured")

    async def scenario():
        port, server, client, connector = await connect_pair(reactor, interface="::1", server_protocol=Echo)
        client.transport.write(b"six")
        data = await client.wait_for(3)
        peer = client.transport.getPeer()
        client.transport.loseConnection()
        await client.lost
        await port.stopListening()
        return data, peer, port.getHost()

    data, peer, host = run(scenario)
    assert data == b"six"
    assert isinstance(peer, IPv6Address) and peer.host == "::1"
    assert isinstance(host, IPv6Address) and host.port == peer.port


def test_connect_by_name_resolves_without_blocking(reactor, run):
    async def scenario():
        factory = RecordingFactory(Echo)
        port = reactor.listenTCP(0, factory)
        client_factory = RecordingFactory()
        reactor.connectTCP("localhost", port.getHost().port, client_factory)
        client = await client_factory.next_built
        await client.made
        client.transport.write(b"by name")
        data = await client.wait_for(7)
        client.transport.loseConnection()
        await client.lost
        await port.stopListening()
        return data

    # localhost may resolve to ::1 first; the server listens on 127.0.0.1, and
    # resolve() prefers IPv4 addresses.
    assert run(scenario) == b"by name"


def test_large_write_is_buffered_and_delivered_whole_before_close(reactor, run):
    payload = bytes(range(256)) * 40_000  # ~10 MB: far more than the socket buffers

    async def scenario():
        port, server, client, connector = await connect_pair(reactor)
        server.transport.write(payload)
        server.transport.loseConnection()  # must flush first
        reason = await client.lost
        await port.stopListening()
        return bytes(client.data), reason

    data, reason = run(scenario, timeout=30)
    assert len(data) == len(payload)
    assert data == payload
    assert reason.check(error.ConnectionDone)


def test_write_refuses_str_with_a_clear_error(reactor, run):
    async def scenario():
        port, server, client, connector = await connect_pair(reactor)
        with pytest.raises(TypeError, match="bytes"):
            client.transport.write("text")
        with pytest.raises(TypeError):
            client.transport.writeSequence([b"ok", 3])
        client.transport.write(b"still fine")
        data = await server.wait_for(10)
        client.transport.loseConnection()
        await server.lost
        await port.stopListening()
        return data

    assert run(scenario) == b"still fine"


def test_abort_connection_discards_buffer_and_reports_aborted(reactor, run):
    async def scenario():
        port, server, client, connector = await connect_pair(reactor)
        client.transport.write(b"x" * 5_000_000)
        client.transport.abortConnection()
        client.transport.abortConnection()  # twice is harmless
        client_reason = await client.lost
        server_reason = await server.lost
        await port.stopListening()
        return client_reason, server_reason, len(server.data), client.lost_calls

    client_reason, server_reason, received, calls = run(scenario)
    assert client_reason.check(error.ConnectionAborted)
    assert server_reason.check(error.ConnectionDone, error.ConnectionLost)
    assert received < 5_000_000
    assert calls == 1


def test_tcp_options(reactor, run):
    async def scenario():
        port, server, client, connector = await connect_pair(reactor)
        t = client.transport
        t.setTcpNoDelay(True)
        t.setTcpKeepAlive(True)
        on = (t.getTcpNoDelay(), t.getTcpKeepAlive())
        t.setTcpNoDelay(False)
        t.setTcpKeepAlive(False)
        off = (t.getTcpNoDelay(), t.getTcpKeepAlive())
        t.loseConnection()
        await server.lost
        await port.stopListening()
        return on, off

    assert run(scenario) == ((True, True), (False, False))


# ----------------------------------------------------------------- half-close


@implementer(IHalfCloseableProtocol)
class HalfCloser(Recorder):
    def __init__(self):
        super().__init__()
        self.read_lost = Deferred()
        self.write_lost = Deferred()

    def readConnectionLost(self):
        self.read_lost.callback(bytes(self.data))

    def writeConnectionLost(self):
        self.write_lost.callback(None)


def test_half_close_both_directions(reactor, run):
    async def scenario():
        port, server, client, connector = await connect_pair(
            reactor, server_protocol=HalfCloser, client_protocol=HalfCloser
        )
        client.transport.write(b"request")
        client.transport.loseWriteConnection()
        await client.write_lost
        got = await server.read_lost  # server saw EOF but can still answer
        server.transport.write(b"answer after EOF")
        server.transport.loseWriteConnection()
        answer = await client.read_lost
        s_reason = await server.lost
        c_reason = await client.lost
        await port.stopListening()
        return got, answer, s_reason, c_reason

    got, answer, s_reason, c_reason = run(scenario)
    assert got == b"request"
    assert answer == b"answer after EOF"
    assert s_reason.check(error.ConnectionDone) and c_reason.check(error.ConnectionDone)


def test_eof_on_ordinary_protocol_closes_the_connection(reactor, run):
    async def scenario():
        port, server, client, connector = await connect_pair(reactor, client_protocol=HalfCloser)
        client.transport.loseWriteConnection()
        reason = await server.lost  # server is not half-closeable: EOF closes it
        c_reason = await client.lost
        await port.stopListening()
        return reason, c_reason

    reason, c_reason = run(scenario)
    assert reason.check(error.ConnectionDone)
    assert c_reason.check(error.ConnectionDone)


# ------------------------------------------------------------------ connectors


def test_client_factory_events_in_order(reactor, run):
    async def scenario():
        port = reactor.listenTCP(0, RecordingFactory(Echo))
        factory = RecordingFactory()
        reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
        client = await factory.next_built
        await client.made
        client.transport.loseConnection()
        reason = await factory.client_lost
        await port.stopListening()
        return factory.events, reason

    events, reason = run(scenario)
    assert events == ["startedConnecting", "buildProtocol", "clientConnectionLost"]
    assert reason.check(error.ConnectionDone)


def test_connection_refused(reactor, run):
    async def scenario():
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
        probe.close()  # nobody listens here now
        factory = RecordingFactory()
        connector = reactor.connectTCP("127.0.0.1", free_port, factory)
        reason = await factory.failed
        return reason, factory.events, connector.state

    reason, events, state = run(scenario)
    assert reason.check(error.ConnectionRefusedError)
    assert events == ["startedConnecting", "clientConnectionFailed"]
    assert state == "disconnected"


def test_unresolvable_name_fails_with_dns_lookup_error(reactor, run):
    async def scenario():
        factory = RecordingFactory()
        reactor.connectTCP("no-such-host.invalid", 80, factory)
        return await factory.failed

    reason = run(scenario)
    assert reason.check(error.DNSLookupError)


def test_connect_timeout(reactor, run):
    async def scenario():
        # A listener whose accept queue is full drops new SYNs: the connect hangs.
        full = socket.socket()
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(full.getsockname())
            fillers.append(s)
        await sleep(reactor, 0.05)
        factory = RecordingFactory()
        reactor.connectTCP("127.0.0.1", full.getsockname()[1], factory, timeout=0.3)
        reason = await factory.failed
        for s in fillers + [full]:
            s.close()
        return reason

    assert run(scenario).check(error.TimeoutError)


def test_stop_connecting_and_disconnect(reactor, run):
    async def scenario():
        factory = RecordingFactory()
        connector = reactor.connectTCP("no-such-host.invalid", 80, factory)
        connector.stopConnecting()
        reason = await factory.failed
        with pytest.raises(error.NotConnectingError):
            connector.stopConnecting()
        # disconnect() on an established connection closes it
        port = reactor.listenTCP(0, RecordingFactory())
        factory2 = RecordingFactory()
        connector2 = reactor.connectTCP("127.0.0.1", port.getHost().port, factory2)
        client = await factory2.next_built
        await client.made
        connector2.disconnect()
        lost = await factory2.client_lost
        # and connect() tries again
        connector2.connect()
        again = await factory2.next_built
        await again.made
        connector2.disconnect()
        await factory2.client_lost
        await port.stopListening()
        return reason, lost, again is not client

    reason, lost, fresh = run(scenario)
    assert reason.check(error.UserError)
    assert lost.check(error.ConnectionDone)
    assert fresh


def test_bad_arguments_are_refused_clearly(reactor):
    factory = RecordingFactory()
    with pytest.raises(TypeError):
        reactor.listenTCP("80", factory)
    with pytest.raises(ValueError):
        reactor.listenTCP(70000, factory)
    with pytest.raises(TypeError):
        reactor.listenTCP(0, object())
    with pytest.raises(ValueError):
        reactor.connectTCP("127.0.0.1", -1, factory)
    with pytest.raises(TypeError):
        reactor.connectTCP(None, 80, factory)


# ------------------------------------------------------------------- ports


def test_port_in_use_names_the_address(reactor, run):
    async def scenario():
        port = reactor.listenTCP(0, RecordingFactory())
        number = port.getHost().port
        with pytest.raises(error.CannotListenError) as info:
            reactor.listenTCP(number, RecordingFactory())
        await port.stopListening()
        return str(info.value), number

    message, number = run(scenario)
    assert f"127.0.0.1:{number}" in message


def test_factory_start_and_stop_follow_port_count(reactor, run):
    class Counting(Factory):
        protocol = Protocol

        def __init__(self):
            self.log = []

        def startFactory(self):
            self.log.append("start")

        def stopFactory(self):
            self.log.append("stop")

    async def scenario():
        factory = Counting()
        a = reactor.listenTCP(0, factory)
        b = reactor.listenTCP(0, factory)
        after_two = list(factory.log)
        await a.stopListening()
        after_one = list(factory.log)
        await b.stopListening()
        await b.stopListening()  # twice is harmless
        return after_two, after_one, factory.log

    assert run(scenario) == (["start"], ["start"], ["start", "stop"])


def test_build_protocol_returning_none_refuses(reactor, run):
    class Refusing(Factory):
        def buildProtocol(self, addr):
            return None

    async def scenario():
        port = reactor.listenTCP(0, Refusing())
        factory = RecordingFactory()
        reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
        client = await factory.next_built
        reason = await client.lost
        await port.stopListening()
        return reason

    assert run(scenario).check(error.ConnectionDone, error.ConnectionLost)


def test_server_refusing_past_a_limit_by_counting_connections(reactor, run):
    """The Twisted tutorial's echo server that refuses past 100 connections."""

    class LimitedEcho(Protocol):
        def connectionMade(self):
            self.factory.numProtocols += 1
            if self.factory.numProtocols > 100:
                self.transport.write(b"Too many connections, try later")
                self.transport.loseConnection()

        def connectionLost(self, reason):
            self.factory.numProtocols -= 1

        def dataReceived(self, data):
            self.transport.write(data)

    class LimitedFactory(Factory):
        protocol = LimitedEcho
        numProtocols = 0

    async def scenario():
        factory = LimitedFactory()
        port = reactor.listenTCP(0, factory)
        clients = []
        for _ in range(101):
            f = RecordingFactory()
            reactor.connectTCP("127.0.0.1", port.getHost().port, f)
            c = await f.next_built
            await c.made
            clients.append(c)
        refused = await clients[100].lost
        message = bytes(clients[100].data)
        for c in clients[:100]:
            c.transport.write(b"ping")
            await c.wait_for(4)
            c.transport.loseConnection()
            await c.lost
        await sleep(reactor, 0.05)
        await port.stopListening()
        return message, refused, factory.numProtocols

    message, refused, remaining = run(scenario)
    assert message == b"Too many connections, try later"
    assert refused.check(error.ConnectionDone)
    assert remaining == 0


# ------------------------------------------------------------------- faults


def test_reset_by_peer_mid_write(reactor, run):
    async def scenario():
        port = reactor.listenTCP(0, RecordingFactory(Recorder))
        # A raw client that connects, then resets (SO_LINGER 0) while we write.
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(port.getHost().port and ("127.0.0.1", port.getHost().port))
        server = await port.factory.next_built
        await server.made
        server.transport.write(b"z" * 20_000_000)  # cannot all fit: buffered
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.close()
        reason = await server.lost
        await port.stopListening()
        return reason, server.lost_calls

    reason, calls = run(scenario)
    assert reason.check(error.ConnectionLost)
    assert calls == 1


def test_peer_that_never_reads_does_not_grow_server_memory(reactor, run):
    """A producer-aware echo server stops reading when its peer stops reading."""

    class FlowEcho(Protocol):
        def connectionMade(self):
            self.transport.registerProducer(self.transport, True)
            self.factory.instances.append(self)

        def dataReceived(self, data):
            self.transport.write(data)

    class FlowFactory(Factory):
        protocol = FlowEcho

        def __init__(self):
            self.instances = []

    async def scenario():
        factory = FlowFactory()
        port = reactor.listenTCP(0, factory)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        raw.connect(("127.0.0.1", port.getHost().port))
        raw.setblocking(False)
        chunk = b"m" * 65536
        sent = 0
        for _ in range(400):  # offer up to ~26 MB without ever reading
            try:
                sent += raw.send(chunk)
            except BlockingIOError:
                await sleep(reactor, 0.005)
        server = factory.instances[0]
        buffered = server.transport.getBufferSize()
        raw.close()
        await sleep(reactor, 0.05)
        await port.stopListening()
        return sent, buffered, server.transport.high_water, server.transport.max_read_size

    sent, buffered, high, read_size = run(scenario, timeout=30)
    # Bounded: the high-water mark plus what reads already under way may bring in.
    assert buffered <= high + 2 * read_size
    assert sent < 26_000_000  # and the peer was pushed back on


def test_pull_producer_is_asked_for_each_chunk(reactor, run):
    @implementer(IConsumer)
    class Chunks:
        def __init__(self, transport, n):
            self.transport = transport
            self.left = n

        def resumeProducing(self):
            if self.left == 0:
                self.transport.unregisterProducer()
                self.transport.loseConnection()
                return
            self.left -= 1
            self.transport.write(b"c" * 1000)

        def stopProducing(self):
            self.left = 0

    async def scenario():
        port, server, client, connector = await connect_pair(reactor)
        server.transport.registerProducer(Chunks(server.transport, 50), False)
        with pytest.raises(RuntimeError):
            server.transport.registerProducer(Chunks(server.transport, 1), False)
        await client.lost
        await port.stopListening()
        return len(client.data)

    assert run(scenario) == 50_000


def test_push_producer_paused_above_high_water_and_resumed(reactor, run):
    class Pusher:
        def __init__(self, transport):
            self.transport = transport
            self.events = []
            self.done = Deferred()

        def pauseProducing(self):
            self.events.append("pause")

        def resumeProducing(self):
            self.events.append("resume")
            self.transport.unregisterProducer()
            self.done.callback(self.events)

        def stopProducing(self):
            self.events.append("stop")

    async def scenario():
        port, server, client, connector = await connect_pair(reactor)
        client.transport.pauseProducing()  # the client stops reading for a while
        pusher = Pusher(server.transport)
        server.transport.registerProducer(pusher, True)
        for _ in range(200):
            server.transport.write(b"p" * 65536)
            if pusher.events:
                break
        paused = list(pusher.events)
        client.transport.resumeProducing()
        events = await pusher.done
        client.transport.loseConnection()
        await server.lost
        await port.stopListening()
        return paused, events

    paused, events = run(scenario, timeout=30)
    assert paused == ["pause"]
    assert events[:2] == ["pause", "resume"]


class Exploding(Recorder):
    """Raises from the method named by ``where``."""

    where = ""

    def connectionMade(self):
        super().connectionMade()
        if self.where == "connectionMade":
            raise RuntimeError("boom in connectionMade")

    def dataReceived(self, data):
        super().dataReceived(data)
        if self.where == "dataReceived":
            raise RuntimeError("boom in dataReceived")

    def connectionLost(self, reason):
        super().connectionLost(reason)
        if self.where == "connectionLost":
            raise RuntimeError("boom in connectionLost")


@pytest.mark.parametrize("where", ["connectionMade", "dataReceived", "connectionLost"])
def test_exception_in_protocol_method_is_logged_connection_dropped_loop_goes_on(reactor, run, caplog, where):
    class ServerSide(Exploding):
        pass

    ServerSide.where = where

    async def scenario():
        port, server, client, connector = await connect_pair(reactor, server_protocol=ServerSide)
        client.transport.write(b"trigger")
        if where == "connectionLost":
            client.transport.loseConnection()
        s_reason = await server.lost
        c_reason = await client.lost
        # The loop and the port still work: a second connection echoes through.
        f = RecordingFactory()
        reactor.connectTCP("127.0.0.1", port.getHost().port, f)
        other = await f.next_built
        await other.made
        other.transport.loseConnection()
        await other.lost
        await port.stopListening()
        return s_reason, c_reason, server.lost_calls

    with caplog.at_level(logging.ERROR, logger="inspector"):
        s_reason, c_reason, calls = run(scenario)
    assert calls == 1
    assert any(r.exc_info and f"boom in {where}" in str(r.exc_info[1]) for r in caplog.records)
    if where != "connectionLost":
        assert s_reason.check(error.ConnectionLost)


def test_exception_in_client_factory_callbacks_is_logged(reactor, run, caplog):
    class Broken(RecordingFactory):
        def startedConnecting(self, connector):
            raise RuntimeError("boom in startedConnecting")

        def clientConnectionFailed(self, connector, reason):
            super().clientConnectionFailed(connector, reason)
            raise RuntimeError("boom in clientConnectionFailed")

    async def scenario():
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
        probe.close()
        f = Broken()
        reactor.connectTCP("127.0.0.1", free, f)
        await f.failed
        await sleep(reactor, 0.01)
        return "survived"

    with caplog.at_level(logging.ERROR, logger="inspector"):
        assert run(scenario) == "survived"
    text = " ".join(str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert "boom in startedConnecting" in text and "boom in clientConnectionFailed" in text


def test_many_connections_at_once(reactor, run):
    async def scenario():
        port = reactor.listenTCP(0, RecordingFactory(Echo))
        clients = []
        factories = []
        for _ in range(50):
            f = RecordingFactory()
            reactor.connectTCP("127.0.0.1", port.getHost().port, f)
            factories.append(f)
        for f in factories:
            c = await f.next_built
            await c.made
            c.transport.write(b"%d" % id(c))
            clients.append(c)
        results = await DeferredList([c.wait_for(len(b"%d" % id(c))) for c in clients])
        for c in clients:
            c.transport.loseConnection()
        for c in clients:
            await c.lost
        await port.stopListening()
        return [r for ok, r in results], [b"%d" % id(c) for c in clients]

    got, expected = run(scenario)
    assert got == expected


def test_shutdown_drops_open_connections_with_connection_lost(reactor):
    from reactor_support import run_reactor_until

    holder = {}

    async def scenario():
        port, server, client, connector = await connect_pair(reactor)
        holder.update(server=server, client=client)
        return None  # stop with the connection still open

    run_reactor_until(reactor, scenario)
    assert holder["server"].lost_calls == 1 and holder["client"].lost_calls == 1
    assert holder["server"].lost.result.check(error.ConnectionLost)


def test_lose_connection_with_a_streaming_producer_still_closes_after_flushing(reactor, run):
    class SelfProducing(Recorder):
        def connectionMade(self):
            super().connectionMade()
            self.transport.registerProducer(self.transport, True)
            self.transport.write(b"q" * 300_000)  # more than the socket takes at once
            self.transport.loseConnection()

    async def scenario():
        port, server, client, connector = await connect_pair(reactor, server_protocol=SelfProducing)
        reason = await client.lost
        await port.stopListening()
        return len(client.data), reason

    size, reason = run(scenario)
    assert size == 300_000
    assert reason.check(error.ConnectionDone)


def test_addresses_still_answer_after_close(reactor, run):
    async def scenario():
        port, server, client, connector = await connect_pair(reactor)
        peer = client.transport.getPeer()
        client.transport.loseConnection()
        await client.lost
        await server.lost
        result = (client.transport.getPeer(), client.transport.getHost(), server.transport.getHost())
        await port.stopListening()
        return peer, result

    peer, (after_peer, c_host, s_host) = run(scenario)
    assert after_peer == peer == s_host
    assert c_host.host == "127.0.0.1" and c_host.port > 0


def test_exceptions_in_half_close_callbacks_and_build_protocol_are_logged(reactor, run, caplog):
    @implementer(IHalfCloseableProtocol)
    class BadHalf(Recorder):
        def readConnectionLost(self):
            raise RuntimeError("boom in readConnectionLost")

        def writeConnectionLost(self):
            raise RuntimeError("boom in writeConnectionLost")

    class BadFactory(Factory):
        def buildProtocol(self, addr):
            raise RuntimeError("boom in buildProtocol")

    async def scenario():
        # readConnectionLost raising drops the server side with ConnectionLost.
        port, server, client, connector = await connect_pair(reactor, server_protocol=BadHalf, client_protocol=BadHalf)
        client.transport.loseWriteConnection()  # client's writeConnectionLost raises
        s_reason = await server.lost
        c_reason = await client.lost
        await port.stopListening()
        # A factory whose buildProtocol raises: the connection is closed, the port lives.
        bad = reactor.listenTCP(0, BadFactory())
        f = RecordingFactory()
        reactor.connectTCP("127.0.0.1", bad.getHost().port, f)
        c = await f.next_built
        refused = await c.lost
        await bad.stopListening()
        return s_reason, c_reason, refused

    with caplog.at_level(logging.ERROR, logger="inspector"):
        s_reason, c_reason, refused = run(scenario)
    assert s_reason.check(error.ConnectionLost) and c_reason.check(error.ConnectionLost, error.ConnectionDone)
    assert refused.check(error.ConnectionDone, error.ConnectionLost)
    text = " ".join(str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    for name in ("readConnectionLost", "writeConnectionLost", "buildProtocol"):
        assert f"boom in {name}" in text


def test_connect_from_a_bound_local_address(reactor, run):
    async def scenario():
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
        probe.close()
        port = reactor.listenTCP(0, RecordingFactory())
        factory = RecordingFactory()
        reactor.connectTCP("127.0.0.1", port.getHost().port, factory, bindAddress=("127.0.0.1", local_port))
        client = await factory.next_built
        await client.made
        server = await port.factory.next_built
        seen_from = server.transport.getPeer()
        client.transport.loseConnection()
        await server.lost
        await port.stopListening()
        return seen_from, local_port

    seen_from, local_port = run(scenario)
    assert seen_from == IPv4Address("TCP", "127.0.0.1", local_port)


def test_a_closed_connection_lets_go_of_its_protocol(reactor, run):
    """As Twisted's do, a closed transport drops its protocol: the two refer to each other,
    and kept, every closed connection waited for the cyclic garbage collector."""
    import gc
    import weakref

    served: list[weakref.ref] = []

    class Quote(Protocol):
        def connectionMade(self):
            served.extend((weakref.ref(self), weakref.ref(self.transport)))
            self.transport.write(b"bye\r\n")
            self.transport.loseConnection()

    async def scenario():
        port = reactor.listenTCP(0, Factory.forProtocol(Quote), interface="127.0.0.1")
        client_factory = RecordingFactory(Recorder)
        reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory)
        client = await client_factory.next_built
        await client.lost
        await port.stopListening()

    gc.collect()
    gc.disable()  # only reference counting may free them
    try:
        run(scenario)
        left = [ref() for ref in served]
    finally:
        gc.enable()
    assert len(served) == 2
    assert left == [None, None], f"still alive after the close: {left}"


def test_a_slow_handler_that_ends_its_connection_is_reported_by_name(reactor, run, caplog):
    """The slow-callback report names the protocol's dataReceived even when the handler
    ended the connection (and the transport let go of the protocol) before the report."""
    import time as _time

    class SlowThenBroken(Protocol):
        def dataReceived(self, data):
            _time.sleep(0.08)
            raise ValueError("cannot parse that")

    async def scenario():
        reactor.slow_callback_threshold = 0.05
        port = reactor.listenTCP(0, Factory.forProtocol(SlowThenBroken), interface="127.0.0.1")
        client_factory = RecordingFactory(Recorder)
        reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory)
        client = await client_factory.next_built
        await client.made
        client.transport.write(b"hello")
        await client.lost
        await port.stopListening()

    with caplog.at_level(logging.WARNING, logger="inspector"):
        run(scenario)
    slow = [r.getMessage() for r in caplog.records if "held the loop" in r.getMessage()]
    assert slow, caplog.text
    assert any("SlowThenBroken.dataReceived" in message for message in slow), slow
