"""TCP bytes captured at the call site (inspector/hooks.py, CAPTURE_SEAM): what the hooks
used to work out per chunk is worked out later, and readers see the same trace.

Each test pins one thing the call-site capture must keep right: the connection a
Deferred made in ``dataReceived`` belongs to, the time of bytes written between loop
turns, the capture's bound under a callback that writes without end, the bytes of a
connection that closed before anyone decoded them, and a connection opened before
tracing started.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from test_trace_live import sleep as later
from test_trace_live import trace_config

import inspector.trace as trace_module
from inspector import error, tcp
from inspector.defer import Deferred
from inspector.failure import Failure
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.trace import events as ev


async def _talk(reactor: Any, server: type[Protocol], payload: bytes, rounds: int) -> Any:
    """A client sends ``payload`` ``rounds`` times to ``server``, one at a time, then
    closes; returns the server's protocol factory."""

    class Client(Protocol):
        def connectionMade(self) -> None:
            self.left = rounds
            self.transport.write(payload)

        def dataReceived(self, data: bytes) -> None:
            self.left -= 1
            if self.left:
                self.transport.write(payload)
            else:
                self.transport.loseConnection()

        def connectionLost(self, reason: Any) -> None:
            self.factory.done.callback(None)

    factory = Factory.forProtocol(server)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    client = ClientFactory.forProtocol(Client)
    client.done = Deferred()
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    await client.done
    await later(reactor, 0.05)
    await port.stopListening()
    return factory


@trace_config(raw_size=16)
def test_a_deferred_made_in_data_received_belongs_to_its_connection_across_a_trim(
        reactor: Any, run: Any, tracing: Any) -> None:
    # The capture holds 16 records, so it is cut many times, also between a chunk's
    # arrival and the Deferred its dataReceived makes (after writing a few replies).
    made: list[tuple[int, Any]] = []

    class Replier(Protocol):
        def dataReceived(self, data: bytes) -> None:
            for _ in range(20):  # more writes than the capture holds: it is cut here
                self.transport.write(b"r")
            made.append((tracing.conn_id(self.transport), Deferred()))
            reactor.callLater(0, self.in_a_timer)

        def in_a_timer(self) -> None:
            made.append((0, Deferred()))  # a timer's work belongs to no connection

    run(_talk, reactor, Replier, b"ping", 5)
    created = {e.deferred: e.conn for e in tracing.trace.events(ev.DeferredCreated.kind)}
    ids = {tracing._did(d): conn for conn, d in made}
    assert len(ids) >= 4 and sorted(set(ids.values()))[0] == 0 and len(set(ids.values())) == 2
    assert {did: created[did] for did in ids} == ids


def test_bytes_written_between_loop_turns_carry_the_time_they_were_written(
        reactor: Any, tracing: Any) -> None:
    # Code before reactor.run() (or a click in the window) writes: no loop turn is on.
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    transport = tcp.Connection(ours, Protocol(), reactor, ("peer", 0), host=("here", 0))
    transport._start()
    try:
        time.sleep(0.2)
        before = time.monotonic()
        transport.write(b"between turns")
        after = time.monotonic()
        assert theirs.recv(100) == b"between turns"
        [chunk] = [e for e in tracing.trace.events(ev.BytesOut.kind) if e.data == b"between turns"]
        assert before <= chunk.ts <= after
    finally:
        transport.connectionLost(Failure(error.ConnectionDone()))
        theirs.close()


@trace_config(raw_size=64)
def test_a_callback_writing_without_end_keeps_the_capture_bounded_and_counts_exact(
        reactor: Any, run: Any, tracing: Any) -> None:
    sizes: list[int] = []

    class Flood(Protocol):
        def connectionMade(self) -> None:
            for _ in range(5000):  # one callback, one loop turn
                self.transport.write(b"f" * 10)
                sizes.append(len(tracing._keys))
            self.transport.loseConnection()

    class Quiet(Protocol):
        def connectionLost(self, reason: Any) -> None:
            self.factory.done.callback(None)

    async def scenario() -> None:
        port = reactor.listenTCP(0, Factory.forProtocol(Flood), interface="127.0.0.1")
        client = ClientFactory.forProtocol(Quiet)
        client.done = Deferred()
        reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        await client.done
        await port.stopListening()

    run(scenario)
    assert max(sizes) <= 64 + 2  # the bound, plus the write that passed it
    servers = [s for s in tracing.trace.connections.values() if s.role == "server"]
    assert [s.bytes_out for s in servers] == [50_000]


def test_a_connection_closed_before_its_bytes_were_decoded_says_them_at_its_close(
        reactor: Any, run: Any, tracing: Any) -> None:
    cursor = tracing.trace.subscribe()  # a reader, as the window: records are decoded

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data + data)

    run(_talk, reactor, Echo, b"abc", 4)
    events = list(cursor.drain())
    closes = {e.conn: e for e in events if isinstance(e, ev.ConnectionClosed)}
    server = next(e.conn for e in events if isinstance(e, ev.ConnectionOpened) and e.role == "server")
    assert (closes[server].bytes_in, closes[server].bytes_out) == (12, 24)
    summary = tracing.trace.connections[server]
    assert (summary.bytes_in, summary.bytes_out) == (12, 24)


def test_a_connection_opened_before_tracing_is_one_connection_both_ways(
        reactor: Any, run: Any) -> None:
    trace_module.disable()
    pair: list[Any] = []

    class Echo(Protocol):
        def connectionMade(self) -> None:
            pair.append(self.transport)

        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data.upper())

    class Client(Protocol):
        def connectionMade(self) -> None:
            pair.append(self.transport)

        def dataReceived(self, data: bytes) -> None:
            self.factory.got.append(data)

    client = ClientFactory.forProtocol(Client)
    client.got = []

    traced: list[Any] = []

    async def scenario() -> None:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        while len(pair) < 2:
            await later(reactor, 0.01)
        await later(reactor, 0.05)
        traced.append(trace_module.enable())  # the window switched on while they talk
        server = next(t for t in pair if isinstance(t.protocol, Echo))
        server.write(b"first, before any read")  # its out key comes first
        await later(reactor, 0.05)
        for word in (b"one", b"two"):
            next(t for t in pair if t is not server).write(word)
            await later(reactor, 0.05)
        server.loseConnection()
        await later(reactor, 0.05)
        await port.stopListening()

    try:
        run(scenario)
        tracer = traced[0]
        summaries = [s for s in tracer.trace.connections.values() if s.bytes_in or s.bytes_out]
        by_out = {s.bytes_out: s for s in summaries}
        served = by_out[len(b"first, before any read") + 6]
        assert served.bytes_in == 6 and served.state == "closed"
        assert tracer._socket_conns == {} and len(tracer._key_sides) == len(tracer._decoders)
    finally:
        trace_module.disable()
    assert tcp._capture_key is None and tcp._captured is None
