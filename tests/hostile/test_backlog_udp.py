"""A burst of connections is not held back by a short listen queue (issue 13, item 7),
and UDP takes datagrams whole up to 65,535 bytes (item 8). Every reactor, real loopback.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from inspector.defer import Deferred
from inspector.protocol import DatagramProtocol, Factory, Protocol
from inspector.protocols.echo import EchoUDP

BURST = 300
LARGEST_UDP_PAYLOAD = 65507  # 65,535 - 8 (UDP header) - 20 (IPv4 header)


def _somaxconn() -> int:
    try:
        with open("/proc/sys/net/core/somaxconn") as limit:
            return int(limit.read())
    except OSError:
        return socket.SOMAXCONN


class _Counted(Protocol):
    """Echoes, and tells the factory when its first byte came back out."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)
        self.factory.echoed += 1
        if self.factory.echoed == BURST:
            self.factory.all_echoed.callback(None)


class _CountedFactory(Factory):
    protocol = _Counted

    def __init__(self) -> None:
        self.echoed = 0
        self.all_echoed: Deferred = Deferred()


def _connect_burst(port: int, n: int, within: float) -> tuple[list[socket.socket], int]:
    """Start ``n`` non-blocking connects at once; return them and how many completed
    within ``within`` seconds (a connect whose SYN was dropped needs a retransmit: 1 s)."""
    socks = []
    for _ in range(n):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        socks.append(sock)
    poller = select.poll()
    for sock in socks:
        poller.register(sock, select.POLLOUT)
    done: set[int] = set()
    deadline = time.monotonic() + within
    while len(done) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for fd, _ in poller.poll(left * 1000):
            done.add(fd)
            poller.unregister(fd)
    connected = sum(
        1 for sock in socks if sock.fileno() in done and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    )
    return socks, connected


@pytest.mark.skipif(_somaxconn() < BURST, reason=f"net.core.somaxconn is below {BURST}")
def test_a_burst_of_connections_waits_in_the_listen_queue_not_for_syn_retransmits(reactor, run) -> None:
    factory = _CountedFactory()
    port = reactor.listenTCP(0, factory)  # listening; the reactor is not running: nobody accepts
    socks, connected = _connect_burst(port.getHost().port, BURST, within=0.5)
    try:
        assert connected == BURST, (
            f"only {connected} of {BURST} connects completed in 0.5 s while the server was busy; "
            "the rest wait for a SYN retransmit (listen backlog too short)"
        )
        for sock in socks:
            sock.send(b"x")
        run(lambda: factory.all_echoed, timeout=10)  # the server catches up and serves them all
        for sock in socks:
            sock.setblocking(True)
            sock.settimeout(5)
            assert sock.recv(10) == b"x"
    finally:
        for sock in socks:
            sock.close()
    port.stopListening()


@pytest.mark.skipif(_somaxconn() < BURST, reason=f"net.core.somaxconn is below {BURST}")
def test_a_tcp_server_service_takes_a_burst_too(reactor) -> None:
    from inspector.service import TCPServer

    service = TCPServer(0, Factory.forProtocol(Protocol), reactor=reactor)
    service.startService()
    try:
        socks, connected = _connect_burst(service.getHost().port, BURST, within=0.5)
        for sock in socks:
            sock.close()
        assert connected == BURST, f"only {connected} of {BURST} connects completed in 0.5 s"
    finally:
        service.stopService()


def test_listen_tcp_queues_as_many_connections_as_the_system_allows(reactor) -> None:
    port = reactor.listenTCP(0, Factory.forProtocol(Protocol))
    try:
        assert port.backlog == socket.SOMAXCONN
    finally:
        port.stopListening()


# ---------------------------------------------------------------------------- UDP


class _Collect(DatagramProtocol):
    def __init__(self) -> None:
        self.got: Deferred = Deferred()

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        if not self.got.called:
            self.got.callback(datagram)


def _peer_round_trip(port: int, payload: bytes) -> bytes:
    """A plain-socket peer (in a pool thread): send one datagram, wait for the answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.settimeout(5)
        peer.sendto(payload, ("127.0.0.1", port))
        return peer.recv(1 << 17)


def test_the_largest_datagram_comes_back_whole_from_the_udp_echo(reactor, run) -> None:
    from inspector.threads import deferToThreadPool

    payload = os.urandom(LARGEST_UDP_PAYLOAD)

    def scenario() -> Deferred:
        server = reactor.listenUDP(0, EchoUDP())
        reply = deferToThreadPool(reactor, reactor.getThreadPool(), _peer_round_trip, server.getHost().port, payload)
        reply.addBoth(lambda result: (server.stopListening(), result)[1])
        return reply

    echoed = run(scenario)
    assert len(echoed) == LARGEST_UDP_PAYLOAD and echoed == payload


def test_a_datagram_longer_than_max_packet_size_is_truncated_to_it(reactor, run) -> None:
    payload = bytes(range(256)) * 4

    def scenario() -> Deferred:
        proto = _Collect()
        port = reactor.listenUDP(0, proto, maxPacketSize=100)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.sendto(payload, ("127.0.0.1", port.getHost().port))
        proto.got.addBoth(lambda result: (port.stopListening(), result)[1])
        return proto.got

    assert run(scenario) == payload[:100]


def test_listen_udp_refuses_a_max_packet_size_that_is_not_a_size(reactor) -> None:
    with pytest.raises(ValueError, match="maxPacketSize must be at least 1 byte, got 0"):
        reactor.listenUDP(0, _Collect(), maxPacketSize=0)
    with pytest.raises(TypeError, match="maxPacketSize must be an int, not float"):
        reactor.listenUDP(0, _Collect(), maxPacketSize=1e5)


@pytest.mark.parametrize("reactor_name", ["selectors", "asyncio", "qt"])
def test_serve_echo_over_udp_returns_the_largest_datagram_whole(reactor_name: str) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("INSPECTOR_REACTOR", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inspector",
            "serve",
            "echo",
            "--transport",
            "udp",
            "--port",
            "0",
            "--reactor",
            reactor_name,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stderr is not None
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline().decode("utf-8", "replace")
            if not line:
                break
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
        assert port is not None, "serve echo --transport udp did not say where it listens"
        payload = os.urandom(LARGEST_UDP_PAYLOAD)
        assert _peer_round_trip(port, payload) == payload
    finally:
        proc.kill()
        proc.wait(10)
