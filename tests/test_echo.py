"""Echo (RFC 862): the TCP server and its flow control, the UDP server, the timing client.

Everything runs over loopback sockets on every reactor, against plain-socket peers
as well as our own; the client's line parsing is also fed random cuts by hypothesis.
"""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.defer import Deferred, DeferredList
from inspector.error import ConnectionDone
from inspector.protocols.echo import (
    Echo,
    EchoClient,
    EchoClientFactory,
    EchoFactory,
    EchoReply,
    EchoUDP,
)
from inspector.task import Clock
from inspector.testing import StringTransport

from apps_support import ThreadedServer, feed, hammer, in_thread

# ------------------------------------------------------- the client's line parsing


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.integers(min_value=0), max_size=10),
    st.booleans(),
)
def test_client_matches_replies_to_lines_whatever_the_cuts(lines, cuts, bare_lf) -> None:
    clock = Clock()
    client = EchoClient(clock)
    transport = StringTransport()
    client.makeConnection(transport)
    replies: list[EchoReply] = []
    for line in lines:
        client.send_line(line).addCallback(replies.append)
    clock.advance(1)  # the replies come back a second later
    echoed = transport.value()
    assert echoed == b"".join(line.encode() + b"\r\n" for line in lines)
    if bare_lf:  # a server answering with bare LF is understood as well
        echoed = echoed.replace(b"\r\n", b"\n")
    feed(client, echoed, cuts)
    assert [reply.line for reply in replies] == lines
    assert all(reply.rtt > 0 for reply in replies)


def test_client_refuses_text_that_is_not_one_line() -> None:
    client = EchoClient(Clock())
    client.makeConnection(StringTransport())
    with pytest.raises(ValueError, match="must not contain CR or LF"):
        client.send_line("two\nlines")
    with pytest.raises(ValueError, match="cannot be encoded"):
        client.send_line("half a surrogate \ud800")


def test_echo_is_a_push_producer_and_protocol() -> None:
    from zope.interface.verify import verifyObject

    from inspector.interfaces import IProtocol, IPushProducer

    assert verifyObject(IPushProducer, Echo())
    assert verifyObject(IProtocol, Echo())


# --------------------------------------------------------------- over loopback sockets


def plain_echo(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def listen_echo(reactor, factory=None):
    return reactor.listenTCP(0, factory or EchoFactory(), interface="127.0.0.1")


def test_plain_socket_client_gets_its_bytes_back(reactor, run) -> None:
    payload = bytes(range(256)) * 4000 + b"\x00no newline at the end"

    async def scenario():
        port = listen_echo(reactor).getHost().port
        return await in_thread(reactor, plain_echo, port, payload)

    assert run(scenario) == payload


def test_udp_echo_answers_a_plain_socket(reactor, run) -> None:
    def ask(port: int) -> list[bytes]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            answers = []
            for datagram in (b"one", b"\x00\xff binary", b""):
                sock.sendto(datagram, ("127.0.0.1", port))
                answers.append(sock.recvfrom(65536)[0])
            return answers

    async def scenario():
        port = reactor.listenUDP(0, EchoUDP(), interface="127.0.0.1").getHost().port
        return await in_thread(reactor, ask, port)

    assert run(scenario) == [b"one", b"\x00\xff binary", b""]


class CountingEcho(Echo):
    """An Echo that counts what it read, so the test can see the server stopped reading."""

    def connectionMade(self) -> None:
        self.factory.instances.append(self)
        self.received = 0
        super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        self.received += len(data)
        super().dataReceived(data)


LIMIT = 64 * 1024 * 1024


def flood(port: int) -> tuple[int, socket.socket]:
    """Send up to LIMIT bytes without reading; stop once the server stops taking them."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    chunk = b"x" * 65536
    sent = 0
    stalled_since = None
    while sent < LIMIT:
        try:
            sent += sock.send(chunk)
            stalled_since = None
        except BlockingIOError:
            now = time.monotonic()
            stalled_since = stalled_since or now
            if now - stalled_since > 1.0:
                break  # a full second with nowhere to put a byte: the server stopped reading
            time.sleep(0.01)
    return sent, sock


def drain(sock: socket.socket, expected: int) -> int:
    sock.settimeout(10)
    got = 0
    while got < expected:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    sock.close()
    return got


def test_client_that_never_reads_cannot_grow_server_memory(reactor, run) -> None:
    factory = EchoFactory.forProtocol(CountingEcho)
    factory.instances = []

    async def scenario():
        port = listen_echo(reactor, factory).getHost().port
        sent, sock = await in_thread(reactor, flood, port)
        server = factory.instances[0]
        buffered = server.transport.getBufferSize()
        # The bound: reading stops once the buffer passes the high-water mark, so at
        # most one more read (up to max_read_size) can land on top of it.
        bound = server.transport.high_water + server.transport.max_read_size
        received = server.received
        # Then the client reads: the server resumes and everything comes back.
        echoed = await in_thread(reactor, drain, sock, sent)
        return sent, buffered, bound, received, echoed

    sent, buffered, bound, received, echoed = run(scenario, timeout=60)
    assert sent < LIMIT, "the server kept reading from a client that never reads"
    assert buffered <= bound, f"server buffered {buffered} bytes for a non-reading client (bound {bound})"
    assert received < LIMIT
    assert echoed == sent


def test_our_client_times_each_line(reactor, run) -> None:
    seen: list[EchoReply] = []

    async def scenario():
        port = listen_echo(reactor).getHost().port
        factory = EchoClientFactory(reactor, on_reply=seen.append)
        reactor.connectTCP("127.0.0.1", port, factory)
        client = await factory.connected
        results = await DeferredList([client.send_line(t) for t in ("hello", "wörld", "", "x" * 5000)])
        client.transport.loseConnection()
        await factory.lost
        return [result for _ok, result in results]

    replies = run(scenario)
    assert [r.line for r in replies] == ["hello", "wörld", "", "x" * 5000]
    assert seen == replies
    assert all(0 <= r.rtt < 10 for r in replies)


def test_our_client_against_a_plain_socket_echo_server(reactor, run) -> None:
    def handle(conn: socket.socket) -> None:
        while True:
            data = conn.recv(4096)
            if not data:
                return
            conn.sendall(data)

    with ThreadedServer(handle) as server:

        async def scenario():
            factory = EchoClientFactory(reactor)
            reactor.connectTCP("127.0.0.1", server.port, factory)
            client = await factory.connected
            first = await client.send_line("ping")
            second = await client.send_line("pong")
            client.transport.loseConnection()
            await factory.lost
            return first.line, second.line

        assert run(scenario) == ("ping", "pong")


def test_pending_lines_fail_when_the_server_goes_away(reactor, run) -> None:
    def handle(conn: socket.socket) -> None:
        conn.recv(100)  # read the line, answer nothing, close

    with ThreadedServer(handle) as server:

        async def scenario():
            factory = EchoClientFactory(reactor)
            reactor.connectTCP("127.0.0.1", server.port, factory)
            client = await factory.connected
            try:
                await client.send_line("anyone there?")
            except ConnectionDone as exc:
                return exc
            return None

        assert isinstance(run(scenario), ConnectionDone)


def test_connect_failure_reaches_the_connected_deferred(reactor, run) -> None:
    from inspector.error import ConnectionRefusedError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

        def scenario() -> Deferred:
            factory = EchoClientFactory(reactor)
            reactor.connectTCP("127.0.0.1", port, factory)
            return factory.connected

        with pytest.raises(ConnectionRefusedError):
            run(scenario)


def test_junk_and_dropped_connections_leave_the_server_serving(reactor, run) -> None:
    async def scenario():
        # A deep backlog: the storm comes faster than any server accepts.
        port = reactor.listenTCP(0, EchoFactory(), backlog=1024).getHost().port
        await in_thread(reactor, hammer, port, 2000, b"\x00\xff\xfe half a line without an end")
        return await in_thread(reactor, plain_echo, port, b"still here\r\n")

    assert run(scenario, timeout=120) == b"still here\r\n"
