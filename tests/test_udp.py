"""UDP over real loopback sockets, on every reactor."""

from __future__ import annotations

import logging
import socket

import pytest
from zope.interface.verify import verifyObject

from inspector import error
from inspector.address import IPv4Address
from inspector.defer import Deferred
from inspector.interfaces import IListeningPort, IUDPTransport
from inspector.protocol import DatagramProtocol


class Collector(DatagramProtocol):
    def __init__(self, expect=1):
        self.expect = expect
        self.got = []
        self.done = Deferred()
        self.events = []
        self.refused = Deferred()

    def startProtocol(self):
        self.events.append("start")

    def stopProtocol(self):
        self.events.append("stop")

    def datagramReceived(self, datagram, addr):
        self.got.append((datagram, addr))
        if len(self.got) == self.expect:
            self.done.callback(self.got)

    def connectionRefused(self):
        if not self.refused.called:
            self.refused.callback("refused")


class UDPEcho(DatagramProtocol):
    def datagramReceived(self, datagram, addr):
        self.transport.write(datagram, addr)


def test_udp_echo_between_two_ports(reactor, run):
    async def scenario():
        server = reactor.listenUDP(0, UDPEcho())
        client_proto = Collector(expect=3)
        client = reactor.listenUDP(0, client_proto)
        verifyObject(IListeningPort, server)
        verifyObject(IUDPTransport, client)
        target = ("127.0.0.1", server.getHost().port)
        for word in (b"one", b"two", b"three"):
            client.write(word, target)
        got = await client_proto.done
        await client.stopListening()
        await server.stopListening()
        return got, client_proto.events, server.getHost()

    got, events, host = run(scenario)
    assert sorted(d for d, _ in got) == [b"one", b"three", b"two"]
    assert all(addr == ("127.0.0.1", host.port) for _, addr in got)
    assert events == ["start", "stop"]
    assert isinstance(host, IPv4Address) and host.type == "UDP"


def test_connected_udp_and_refusal(reactor, run):
    async def scenario():
        server_proto = Collector()
        server = reactor.listenUDP(0, server_proto)
        client_proto = Collector()
        client = reactor.listenUDP(0, client_proto)
        client.connect("127.0.0.1", server.getHost().port)
        client.write(b"connected hello")
        got = await server_proto.done
        with pytest.raises(ValueError):
            client.write(b"elsewhere", ("127.0.0.1", 9))
        # Now nobody listens there: the kernel answers ICMP port unreachable.
        await server.stopListening()
        for _ in range(5):
            client.write(b"anyone?")
            d = Deferred()
            reactor.callLater(0.02, d.callback, None)
            await d
            if client_proto.refused.called:
                break
        refused = await client_proto.refused
        await client.stopListening()
        return got, refused

    got, refused = run(scenario)
    assert got[0][0] == b"connected hello"
    assert refused == "refused"


def test_exception_in_datagram_received_is_logged_and_port_keeps_going(reactor, run, caplog):
    class Flaky(Collector):
        def datagramReceived(self, datagram, addr):
            if datagram == b"bad":
                raise RuntimeError("boom in datagramReceived")
            super().datagramReceived(datagram, addr)

    async def scenario():
        proto = Flaky()
        port = reactor.listenUDP(0, proto)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.sendto(b"bad", ("127.0.0.1", port.getHost().port))
        sender.sendto(b"good", ("127.0.0.1", port.getHost().port))
        got = await proto.done
        sender.close()
        await port.stopListening()
        return got

    with caplog.at_level(logging.ERROR, logger="inspector"):
        got = run(scenario)
    assert got[0][0] == b"good"
    assert any(r.exc_info and "boom in datagramReceived" in str(r.exc_info[1]) for r in caplog.records)


def test_udp_bad_input_and_port_in_use(reactor, run):
    async def scenario():
        port = reactor.listenUDP(0, Collector())
        with pytest.raises(error.CannotListenError) as info:
            reactor.listenUDP(port.getHost().port, Collector())
        with pytest.raises(TypeError):
            port.write("text", ("127.0.0.1", 9))
        with pytest.raises(ValueError):
            port.write(b"x")  # no address on an unconnected port
        with pytest.raises(ValueError):
            port.write(b"x", ("no-such-host.invalid", 9))
        with pytest.raises(error.MessageLengthError):
            port.write(b"x" * 70000, ("127.0.0.1", 9))
        with pytest.raises(ValueError):
            port.connect("localhost.invalid", 9)
        await port.stopListening()
        with pytest.raises(error.NotListeningError):
            port.write(b"x", ("127.0.0.1", 9))
        return str(info.value), port.getHost().port

    message, number = run(scenario)
    assert f"127.0.0.1:{number}" in message


def test_udp_ipv6(reactor, run):
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("::1 is not configured")

    async def scenario():
        server = reactor.listenUDP(0, UDPEcho(), interface="::1")
        proto = Collector()
        client = reactor.listenUDP(0, proto, interface="::1")
        client.write(b"six", ("::1", server.getHost().port))
        got = await proto.done
        await client.stopListening()
        await server.stopListening()
        return got

    got = run(scenario)
    assert got[0][0] == b"six" and got[0][1][0] == "::1"


def test_failing_start_protocol_raises_and_releases_the_port(reactor, run):
    class Broken(DatagramProtocol):
        def startProtocol(self):
            raise RuntimeError("cannot start")

    async def scenario():
        probe = reactor.listenUDP(0, Collector())
        number = probe.getHost().port
        await probe.stopListening()
        with pytest.raises(RuntimeError, match="cannot start"):
            reactor.listenUDP(number, Broken())
        again = reactor.listenUDP(number, Collector())  # the port was released
        await again.stopListening()
        return number

    assert run(scenario) > 0
