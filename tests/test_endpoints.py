"""Endpoints: strings users type become endpoints that listen and connect over loopback."""

from __future__ import annotations

import socket

import pytest
from zope.interface.verify import verifyObject

from inspector import endpoints
from inspector.defer import Deferred, inlineCallbacks
from inspector.endpoints import (
    HostnameEndpoint,
    NoProtocol,
    TCP4ClientEndpoint,
    TCP4ServerEndpoint,
    TCP6ClientEndpoint,
    TCP6ServerEndpoint,
    UDPServerEndpoint,
    clientFromString,
    connectProtocol,
    serverFromString,
)
from inspector.error import CannotListenError, ConnectingCancelledError, ConnectionRefusedError, DNSLookupError
from inspector.interfaces import IStreamClientEndpoint, IStreamServerEndpoint
from inspector.protocol import DatagramProtocol, Factory, Protocol
from inspector.threads import deferToThreadPool

# ----------------------------------------------------------------- parsing strings


def server_args(endpoint) -> tuple:
    return type(endpoint), endpoint._port, endpoint._interface, endpoint._backlog


def client_args(endpoint) -> tuple:
    return type(endpoint), endpoint._host, endpoint._port, endpoint._timeout, endpoint._bindAddress


@pytest.mark.parametrize(
    "description, expected",
    [
        ("tcp:8000", (TCP4ServerEndpoint, 8000, "127.0.0.1", socket.SOMAXCONN)),
        ("tcp:8000:interface=0.0.0.0", (TCP4ServerEndpoint, 8000, "0.0.0.0", socket.SOMAXCONN)),
        ("tcp:port=8000:backlog=5", (TCP4ServerEndpoint, 8000, "127.0.0.1", 5)),
        ("tcp:0:127.0.0.2:7", (TCP4ServerEndpoint, 0, "127.0.0.2", 7)),
        ("TCP:8000", (TCP4ServerEndpoint, 8000, "127.0.0.1", socket.SOMAXCONN)),
        ("tcp6:8000", (TCP6ServerEndpoint, 8000, "::1", socket.SOMAXCONN)),
        ("tcp6:8000:interface=\\:\\:", (TCP6ServerEndpoint, 8000, "::", socket.SOMAXCONN)),
        ("tcp6:port=8000:interface=[::1]", (TCP6ServerEndpoint, 8000, "::1", socket.SOMAXCONN)),
    ],
)
def test_server_strings(description, expected):
    endpoint = serverFromString(None, description)
    assert server_args(endpoint) == expected
    verifyObject(IStreamServerEndpoint, endpoint)


@pytest.mark.parametrize(
    "description, expected",
    [
        ("tcp:localhost:6667", (TCP4ClientEndpoint, "localhost", 6667, 30.0, None)),
        ("tcp:host=localhost:port=6667:timeout=5", (TCP4ClientEndpoint, "localhost", 6667, 5.0, None)),
        ("tcp:port=6667:host=example.org", (TCP4ClientEndpoint, "example.org", 6667, 30.0, None)),
        ("tcp:127.0.0.1:80:bindAddress=127.0.0.2", (TCP4ClientEndpoint, "127.0.0.1", 80, 30.0, ("127.0.0.2", 0))),
        ("tcp:localhost:6667:timeout=0.5", (TCP4ClientEndpoint, "localhost", 6667, 0.5, None)),
        ("tcp6:host=\\:\\:1:port=6667", (TCP6ClientEndpoint, "::1", 6667, 30.0, None)),
        ("tcp6:[::1]:6667", (TCP6ClientEndpoint, "::1", 6667, 30.0, None)),
    ],
)
def test_client_strings(description, expected):
    endpoint = clientFromString(None, description)
    assert client_args(endpoint) == expected
    verifyObject(IStreamClientEndpoint, endpoint)


@pytest.mark.parametrize(
    "description, complaint",
    [
        ("", "empty"),
        ("ssl:443", "needs privateKey=KEY.pem"),
        ("8000", "did you mean 'tcp:8000'"),
        ("tcp", "needs a port"),
        ("tcp:interface=127.0.0.1", "needs a port"),
        ("tcp:http", "port must be a whole number, got 'http'"),
        ("tcp:70000", "port must be from 0 to 65535"),
        ("tcp:-1", "port must be from 0 to 65535"),
        ("tcp:8000:backlog=lots", "backlog must be a whole number"),
        ("tcp:8000:backlog=0", "backlog must be from 1"),
        ("tcp:8000:colour=blue", "unknown option 'colour'"),
        ("tcp:8000:127.0.0.1:5:extra", "too many positional arguments"),
        ("tcp:8000:port=9000", "'port' is given twice"),
        ("tcp6:8000:interface=[::1", "unbalanced brackets"),
        ("tcp:8000\\", "lone backslash"),
    ],
)
def test_malformed_server_strings_say_what_is_wrong(description, complaint):
    with pytest.raises(ValueError) as info:
        serverFromString(None, description)
    assert complaint in str(info.value)


@pytest.mark.parametrize(
    "description, complaint",
    [
        ("sctp:/tmp/sock", "unknown client endpoint type 'sctp'"),
        ("tcp:localhost", "needs a port"),
        ("tcp:port=6667", "needs a host"),
        ("tcp:localhost:irc", "port must be a whole number, got 'irc'"),
        ("tcp:localhost:0", "cannot connect to port 0"),
        ("tcp:localhost:6667:timeout=soon", "timeout must be a number of seconds"),
        ("tcp:localhost:6667:timeout=-1", "positive number of seconds"),
        ("tcp:localhost:6667:backlog=5", "unknown option 'backlog'"),
    ],
)
def test_malformed_client_strings_say_what_is_wrong(description, complaint):
    with pytest.raises(ValueError) as info:
        clientFromString(None, description)
    assert complaint in str(info.value)


def test_a_non_string_description_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        serverFromString(None, 8000)


# ------------------------------------------------------------- over real sockets


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Collect(Protocol):
    """Collects what arrives; ``done`` fires with the bytes when the connection ends."""

    def __init__(self) -> None:
        self.received = b""
        self.made = False
        self.done = Deferred()

    def connectionMade(self) -> None:
        self.made = True

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.received.endswith(b"!"):
            self.transport.loseConnection()

    def connectionLost(self, reason) -> None:
        self.done.callback(self.received)


@pytest.mark.parametrize(
    ("server", "host", "client", "payload"),
    [
        ("tcp:0", "127.0.0.1", "tcp:127.0.0.1:{port}:timeout=5", b"hello!"),
        ("tcp6:0", "::1", "tcp6:host=[::1]:port={port}", b"six!"),
    ],
    ids=["ipv4", "ipv6"],
)
def test_listen_and_connect_from_strings_round_trip(reactor, run, server, host, client, payload):
    @inlineCallbacks
    def scenario():
        port = yield serverFromString(reactor, server).listen(Factory.forProtocol(Echo))
        try:
            assert port.getHost().host == host
            number = port.getHost().port
            collect = yield connectProtocol(clientFromString(reactor, client.format(port=number)), Collect())
            assert collect.made, "the Deferred fires after connectionMade"
            collect.transport.write(payload)
            received = yield collect.done
        finally:
            yield port.stopListening()
        return received

    assert run(scenario) == payload


def test_listening_on_a_busy_port_fails_with_cannot_listen(reactor, run):
    @inlineCallbacks
    def scenario():
        first = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Echo))
        number = first.getHost().port
        try:
            yield serverFromString(reactor, f"tcp:{number}").listen(Factory.forProtocol(Echo))
        except CannotListenError as error:
            return str(error), number
        finally:
            yield first.stopListening()
        raise AssertionError("listening twice on one port succeeded")

    message, number = run(scenario)
    assert str(number) in message


def test_connect_to_a_closed_port_fails_with_connection_refused(reactor, run):
    @inlineCallbacks
    def scenario():
        port = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Echo))
        number = port.getHost().port
        yield port.stopListening()
        try:
            yield TCP4ClientEndpoint(reactor, "127.0.0.1", number, timeout=5).connect(Factory.forProtocol(Collect))
        except ConnectionRefusedError:
            return "refused"
        return "connected"

    assert run(scenario) == "refused"


def test_connect_to_an_unresolvable_name_fails_with_dns_lookup_error(reactor, run):
    @inlineCallbacks
    def scenario():
        try:
            yield clientFromString(reactor, "tcp:host=no-such-host.invalid:port=80").connect(
                Factory.forProtocol(Collect)
            )
        except DNSLookupError:
            return "dns"
        return "connected"

    assert run(scenario) == "dns"


def test_a_factory_refusing_to_build_fails_the_connect(reactor, run):
    class Refusing(Factory):
        def buildProtocol(self, addr):
            return None

    class Broken(Factory):
        def buildProtocol(self, addr):
            raise RuntimeError("no protocol today")

    @inlineCallbacks
    def scenario():
        port = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Echo))
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        outcomes = []
        for factory in (Refusing(), Broken()):
            try:
                yield endpoint.connect(factory)
            except (NoProtocol, RuntimeError) as error:
                outcomes.append(type(error).__name__ + ": " + str(error))
        yield port.stopListening()
        return outcomes

    outcomes = run(scenario)
    assert outcomes[0].startswith("NoProtocol") and "refused" in outcomes[0]
    assert outcomes[1] == "RuntimeError: no protocol today"


def test_cancelling_a_connect_abandons_it(reactor, run):
    @inlineCallbacks
    def scenario():
        port = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Echo))
        d = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(Factory.forProtocol(Collect))
        d.cancel()
        try:
            yield d
        except ConnectingCancelledError:
            outcome = "cancelled"
        else:
            outcome = "connected"
        yield port.stopListening()
        return outcome

    assert run(scenario) == "cancelled"


def test_the_wrapped_factory_is_started_and_stopped_around_the_connection(reactor, run):
    events = []

    class Watched(Factory):
        protocol = Collect

        def startFactory(self):
            events.append("start")

        def stopFactory(self):
            events.append("stop")

    @inlineCallbacks
    def scenario():
        port = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Echo))
        client = yield TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(Watched())
        assert events == ["start"]
        client.transport.write(b"bye!")
        yield client.done
        yield port.stopListening()

    run(scenario)
    assert events == ["start", "stop"]


def test_module_exports_what_it_documents():
    for name in endpoints.__all__:
        assert hasattr(endpoints, name)


# ------------------------------------------------------------------ HostnameEndpoint


def deferLater(reactor, seconds: float) -> Deferred:
    d = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


class Counting(Factory):
    """Builds Collect protocols and counts how many it built."""

    protocol = Collect

    def __init__(self) -> None:
        self.built = 0

    def buildProtocol(self, addr):
        self.built += 1
        return super().buildProtocol(addr)


def test_hostname_endpoint_reaches_localhost(reactor, run):
    @inlineCallbacks
    def scenario():
        port = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Echo))
        client = yield HostnameEndpoint(reactor, "localhost", port.getHost().port).connect(Factory.forProtocol(Collect))
        client.transport.write(b"by name!")
        received = yield client.done
        yield port.stopListening()
        return received

    assert run(scenario) == b"by name!"


def test_hostname_endpoint_tries_every_address_until_one_answers(reactor, run):
    """The server listens only on ::1; the name's first address (127.0.0.1) refuses."""

    @inlineCallbacks
    def scenario():
        port = yield TCP6ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Echo))
        number = port.getHost().port
        endpoint = HostnameEndpoint(reactor, "dual.example", number, resolver=lambda host, p: ["127.0.0.1", "::1"])
        factory = Counting()
        client = yield endpoint.connect(factory)
        peer = client.transport.getPeer().host
        client.transport.write(b"second time lucky!")
        received = yield client.done
        yield port.stopListening()
        return peer, received, factory.built

    assert run(scenario) == ("::1", b"second time lucky!", 1)


def test_hostname_endpoint_does_not_wait_for_an_address_that_never_answers(reactor, run):
    """127.0.0.2 drops connection attempts (a full backlog); 127.0.0.1 is tried alongside."""
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.2", 0))
    blackhole.listen(0)
    number = blackhole.getsockname()[1]
    filler = socket.create_connection(("127.0.0.2", number))  # fills the backlog

    @inlineCallbacks
    def scenario():
        port = yield TCP4ServerEndpoint(reactor, number, interface="127.0.0.1").listen(Factory.forProtocol(Echo))
        endpoint = HostnameEndpoint(
            reactor, "slow.example", number, timeout=60, attemptDelay=0.05,
            resolver=lambda host, p: ["127.0.0.2", "127.0.0.1"],
        )
        factory = Counting()
        client = yield endpoint.connect(factory)
        peer = client.transport.getPeer().host
        client.transport.write(b"fast!")
        received = yield client.done
        yield port.stopListening()
        return peer, received, factory.built

    try:
        assert run(scenario, timeout=20) == ("127.0.0.1", b"fast!", 1)
    finally:
        filler.close()
        blackhole.close()


def test_only_one_protocol_is_built_when_two_addresses_both_answer(reactor, run):
    @inlineCallbacks
    def scenario():
        six = yield TCP6ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Echo))
        number = six.getHost().port
        four = yield TCP4ServerEndpoint(reactor, number).listen(Factory.forProtocol(Echo))
        endpoint = HostnameEndpoint(
            reactor, "both.example", number, attemptDelay=0, resolver=lambda host, p: ["::1", "127.0.0.1"]
        )
        factory = Counting()
        client = yield endpoint.connect(factory)
        client.transport.write(b"one!")
        received = yield client.done
        yield six.stopListening()
        yield four.stopListening()
        yield deferLater(reactor, 0.05)  # the connectors report doStop after connectionLost
        return received, factory.built, factory.numPorts

    assert run(scenario) == (b"one!", 1, 0)


def test_hostname_endpoint_reports_unresolvable_and_refused(reactor, run):
    @inlineCallbacks
    def scenario():
        outcomes = []
        try:
            yield HostnameEndpoint(reactor, "no-such-host.invalid", 80).connect(Factory.forProtocol(Collect))
        except DNSLookupError as error:
            outcomes.append(("dns", "no-such-host.invalid" in str(error)))
        port = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Echo))
        number = port.getHost().port
        yield port.stopListening()
        try:
            yield HostnameEndpoint(reactor, "localhost", number).connect(Factory.forProtocol(Collect))
        except ConnectionRefusedError:
            outcomes.append(("refused", True))
        return outcomes

    assert run(scenario) == [("dns", True), ("refused", True)]


def test_cancelling_a_hostname_connect_builds_nothing(reactor, run):
    @inlineCallbacks
    def scenario():
        port = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Echo))
        factory = Counting()
        d = HostnameEndpoint(reactor, "localhost", port.getHost().port).connect(factory)
        d.cancel()
        try:
            yield d
        except ConnectingCancelledError:
            outcome = "cancelled"
        else:
            outcome = "connected"
        # Give a late attempt every chance to connect: it must not build a protocol.
        yield deferLater(reactor, 0.1)
        yield port.stopListening()
        return outcome, factory.built

    assert run(scenario) == ("cancelled", 0)


# ------------------------------------------------------------------------------- UDP


class UDPEcho(DatagramProtocol):
    def datagramReceived(self, datagram, addr):
        self.transport.write(datagram, addr)


def test_udp_server_string_listens_for_datagrams(reactor, run):
    endpoint = serverFromString(reactor, "udp:0:interface=127.0.0.1:maxPacketSize=2048")
    assert isinstance(endpoint, UDPServerEndpoint)

    @inlineCallbacks
    def scenario():
        port = yield endpoint.listen(UDPEcho())
        number = port.getHost().port

        def exchange():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(5)
                sock.sendto(b"datagram", ("127.0.0.1", number))
                return sock.recvfrom(4096)[0]

        reply = yield deferToThreadPool(reactor, reactor.getThreadPool(), exchange)
        yield port.stopListening()
        return reply

    assert run(scenario) == b"datagram"


def test_bad_udp_strings():
    with pytest.raises(ValueError) as info:
        serverFromString(None, "udp:53:backlog=5")
    assert "unknown option 'backlog'" in str(info.value)
    with pytest.raises(ValueError) as info:
        serverFromString(None, "udp:53:maxPacketSize=big")
    assert "maxPacketSize must be a whole number" in str(info.value)
