"""IPv4 multicast on the loopback interface, on every reactor: our ports against
plain-socket senders and receivers, shared ports, socket options and join errors."""

from __future__ import annotations

import socket

import pytest
from zope.interface.verify import verifyObject

from inspector import error
from inspector.defer import Deferred
from inspector.interfaces import (
    IListeningPort,
    IMulticastTransport,
    IReactorMulticast,
    IUDPTransport,
)
from inspector.protocol import DatagramProtocol
from inspector.threads import deferToThreadPool

GROUP = "228.0.0.5"
LOOPBACK = "127.0.0.1"


class Collector(DatagramProtocol):
    """Keeps datagrams; ``wait_for(marker)`` fires once a datagram equal to it arrives."""

    def __init__(self):
        self.got = []
        self._waiting = {}

    def datagramReceived(self, datagram, addr):
        self.got.append((datagram, addr))
        waiter = self._waiting.pop(datagram, None)
        if waiter is not None:
            waiter.callback(datagram)

    def wait_for(self, marker):
        d = Deferred()
        if any(data == marker for data, _ in self.got):
            d.callback(marker)
        else:
            self._waiting[marker] = d
        return d

    def payloads(self):
        return [data for data, _ in self.got]


def plain_sender():
    """A stdlib socket that sends multicast out of the loopback interface."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOOPBACK))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    return s


async def joined_port(reactor, port=0, listenMultiple=False):
    protocol = Collector()
    listening = reactor.listenMulticast(port, protocol, listenMultiple=listenMultiple)
    await listening.joinGroup(GROUP, LOOPBACK)
    return listening, protocol


def test_every_reactor_provides_ireactor_multicast(reactor):
    assert verifyObject(IReactorMulticast, reactor)


def test_receives_from_a_plain_socket_sender_until_it_leaves(reactor, run):
    sender = plain_sender()

    async def scenario():
        port, protocol = await joined_port(reactor)
        verifyObject(IMulticastTransport, port)
        verifyObject(IListeningPort, port)
        verifyObject(IUDPTransport, port)
        number = port.getHost().port
        sender.sendto(b"to the group", (GROUP, number))
        await protocol.wait_for(b"to the group")
        await port.leaveGroup(GROUP, LOOPBACK)
        # Sent to the group after leaving, then a unicast marker: the marker comes, the
        # group datagram does not (loopback delivers in order, inside sendto).
        sender.sendto(b"after leaving", (GROUP, number))
        sender.sendto(b"marker", (LOOPBACK, number))
        await protocol.wait_for(b"marker")
        got = protocol.payloads()
        sender_addr = protocol.got[0][1]
        await port.stopListening()
        return got, sender_addr

    try:
        got, sender_addr = run(scenario)
    finally:
        sender.close()
    assert got == [b"to the group", b"marker"]
    assert sender_addr[0] == LOOPBACK


def test_sends_to_a_plain_socket_receiver(reactor, run):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("", 0))
    receiver.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                        socket.inet_aton(GROUP) + socket.inet_aton(LOOPBACK))
    receiver.settimeout(10)
    target = (GROUP, receiver.getsockname()[1])

    async def scenario():
        port = reactor.listenMulticast(0, Collector())
        fired = await port.setOutgoingInterface(LOOPBACK)
        port.setLoopbackMode(True)
        port.setTTL(1)
        received = deferToThreadPool(reactor, reactor.getThreadPool(), receiver.recvfrom, 100)
        port.write(b"from our multicast port", target)
        data, addr = await received
        ours = port.getHost().port
        await port.stopListening()
        return fired, data, addr, ours

    try:
        fired, data, addr, ours = run(scenario)
    finally:
        receiver.close()
    assert fired == 1
    assert data == b"from our multicast port"
    assert addr == (LOOPBACK, ours)


def test_two_listeners_sharing_a_port_both_receive(reactor, run):
    sender = plain_sender()

    async def scenario():
        first, one = await joined_port(reactor, 0, listenMultiple=True)
        number = first.getHost().port
        second, two = await joined_port(reactor, number, listenMultiple=True)
        sender.sendto(b"for both", (GROUP, number))
        await one.wait_for(b"for both")
        await two.wait_for(b"for both")
        await first.stopListening()
        await second.stopListening()
        return one.payloads(), two.payloads()

    try:
        assert run(scenario) == ([b"for both"], [b"for both"])
    finally:
        sender.close()


def test_a_port_hears_its_own_datagrams_in_loopback_mode(reactor, run):
    """Our port sends to a group it joined and receives the copy. (Turning loopback mode
    off cannot be seen on ``lo`` itself: the interface hands every datagram back.)"""

    async def scenario():
        port, protocol = await joined_port(reactor)
        await port.setOutgoingInterface(LOOPBACK)
        port.setLoopbackMode(True)
        number = port.getHost().port
        port.write(b"echo of myself", (GROUP, number))
        await protocol.wait_for(b"echo of myself")
        await port.stopListening()
        return protocol.got

    [(data, addr)] = run(scenario)
    assert data == b"echo of myself"
    assert addr[0] == LOOPBACK


def test_options_read_back_what_was_set(reactor, run):
    async def scenario():
        port = reactor.listenMulticast(0, Collector())
        before = port.getOutgoingInterface(), port.getTTL(), port.getLoopbackMode()
        await port.setOutgoingInterface(LOOPBACK)
        port.setTTL(7)
        port.setLoopbackMode(False)
        after = port.getOutgoingInterface(), port.getTTL(), port.getLoopbackMode()
        with pytest.raises(ValueError):
            port.setTTL(256)
        with pytest.raises(TypeError):
            port.setTTL("2")
        await port.stopListening()
        with pytest.raises(error.NotListeningError):
            port.getTTL()
        return before, after

    before, after = run(scenario)
    assert before == ("0.0.0.0", 1, True)  # the kernel's defaults
    assert after == (LOOPBACK, 7, False)


def test_refused_joins_errback_with_multicast_join_error(reactor, run):
    async def scenario():
        port = reactor.listenMulticast(0, Collector())
        reasons = []
        for attempt in (
            lambda: port.joinGroup(LOOPBACK, LOOPBACK),  # not a multicast address
            lambda: port.joinGroup(GROUP, "192.0.2.77"),  # no interface has this address
            lambda: port.leaveGroup(GROUP, LOOPBACK),  # never joined
        ):
            try:
                await attempt()
            except error.MulticastJoinError as exc:
                reasons.append(str(exc))
            else:
                reasons.append(None)
        await port.stopListening()
        try:
            await port.joinGroup(GROUP, LOOPBACK)
        except error.NotListeningError:
            reasons.append("not listening")
        return reasons

    reasons = run(scenario)
    assert all(reasons), reasons
    assert "can't join group 127.0.0.1" in reasons[0]
    assert "192.0.2.77" in reasons[1]
    assert "can't leave group" in reasons[2]
    assert reasons[3] == "not listening"


def test_a_taken_port_without_listen_multiple_says_where(reactor, run):
    async def scenario():
        first = reactor.listenMulticast(0, Collector())
        number = first.getHost().port
        with pytest.raises(error.CannotListenError) as caught:
            reactor.listenMulticast(number, Collector())
        await first.stopListening()
        return str(caught.value), number

    text, number = run(scenario)
    assert f":{number}" in text


def test_ipv6_interface_is_refused_clearly(reactor):
    with pytest.raises(ValueError):
        reactor.listenMulticast(0, Collector(), interface="::1")


def test_traced_like_a_udp_port(reactor, run):
    """The window sees the multicast port open, each datagram with its sender, and the close."""
    from inspector import trace as trace_module
    from inspector.trace import events as ev

    sender = plain_sender()
    tracer = trace_module.enable()
    try:
        async def scenario():
            port, protocol = await joined_port(reactor)
            number = port.getHost().port
            sender.sendto(b"traced datagram", (GROUP, number))
            await protocol.wait_for(b"traced datagram")
            await port.stopListening()
            return number

        number = run(scenario)
        tracer.sync()
        events = tracer.trace.events()
    finally:
        trace_module.disable()
        sender.close()
    [opened] = [e for e in events if isinstance(e, ev.ConnectionOpened)]
    assert opened.role == "udp" and opened.local == f"0.0.0.0:{number}"
    [started] = [e for e in events if isinstance(e, ev.PortStarted)]
    assert started.transport == "udp"
    [datagram] = [e for e in events if isinstance(e, ev.BytesIn)]
    assert datagram.conn == opened.conn and datagram.data == b"traced datagram"
    assert datagram.peer.startswith(f"{LOOPBACK}:")
    assert any(isinstance(e, ev.ConnectionClosed) and e.conn == opened.conn for e in events)
