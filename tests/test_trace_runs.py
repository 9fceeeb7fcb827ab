"""A loop turn's TCP bytes held as one run (``inspector.trace.buffers.BytesRun``).

Many connections echoing at once put many chunks in one loop turn; the tracer stores
them as one run shared by the feed and the bytes rings. These tests check, over real
loopback connections on every reactor, that readers still see one event per chunk,
exactly as an eager trace holds them: the chunk boundaries, sizes, payloads and
timestamps a recording keeps, readers that attach mid-way or drain a few at a time,
and exact drop counts when the rings and the feed overflow in the middle of a run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterator

import pytest

import inspector.trace as trace_module
from inspector.defer import Deferred, gatherResults
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.trace import events as ev
from inspector.trace.buffers import BytesRun
from inspector.trace.model import Trace, TraceConfig
from inspector.trace.recording import load, record

from reactor_support import run_reactor_until

CLIENTS = 8
TRIPS = 25


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Client(Protocol):
    """Sends ``TRIPS`` distinct messages one after another, each after its echo, and
    notes every chunk ``dataReceived`` got (the boundaries the trace must keep)."""

    def __init__(self, number: int, done: Deferred, reader: Any = None) -> None:
        self.number = number
        self.done = done
        self.reader = reader
        self.trip = 0
        self.got = b""
        self.chunks: list[bytes] = []
        self.expect = 0

    def connectionMade(self) -> None:
        self._send()

    def _send(self) -> None:
        message = f"client {self.number} trip {self.trip:03d} ".encode() * 3
        self.expect = len(self.got) + len(message)
        self.transport.write(message)

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)
        self.got += data
        if self.reader is not None:
            self.reader(self)
        if len(self.got) < self.expect:
            return
        self.trip += 1
        if self.trip < TRIPS:
            self._send()
        else:
            self.transport.loseConnection()

    def connectionLost(self, reason: Any = None) -> None:
        if not self.done.called:
            self.done.callback(self)


def echo_crowd(reactor: Any, reader: Any = None) -> list[Client]:
    """``CLIENTS`` clients echoing at once on loopback; ``reader(client)`` runs after
    every chunk a client gets. Returns the clients when all closed."""
    clients: list[Client] = []

    def go() -> Deferred:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        finished = []
        for number in range(CLIENTS):
            done: Deferred = Deferred()
            client = Client(number, done, reader)
            clients.append(client)
            factory = ClientFactory()
            factory.protocol = lambda client=client: client
            reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
            finished.append(done)

        def stop(_: Any) -> Deferred:
            # Let the server see the closes too before the reactor stops.
            later: Deferred = Deferred()
            reactor.callLater(0.05, later.callback, None)
            return later.addCallback(lambda _: port.stopListening())

        return gatherResults(finished).addCallback(stop)

    run_reactor_until(reactor, go, timeout=30)
    return clients


@pytest.fixture
def tracer() -> Iterator[Any]:
    tracer = trace_module.enable(TraceConfig(capture_bytes=1 << 20))
    try:
        yield tracer
    finally:
        trace_module.disable()


def runs_in(trace: Trace) -> list[BytesRun]:
    return [entry for entry in trace.feed._entries if isinstance(entry, BytesRun)]


def client_ids(events: list[ev.Event]) -> list[int]:
    """The client connections in the order they were opened (an attempt and its
    connection share a number)."""
    return list(dict.fromkeys(e.conn for e in events
                              if isinstance(e, ev.ConnectionOpened) and e.role == "client"))


def test_chunks_of_a_turn_keep_their_boundaries_in_a_recording(
        reactor: Any, tracer: Any, tmp_path: Path) -> None:
    path = tmp_path / "crowd.jsonl"
    recorder = record(path, tracer)
    window = tracer.trace.subscribe(from_start=True)
    clients = echo_crowd(reactor)
    recorder.close()
    trace = tracer.trace
    # The turns did hold several connections' chunks: they were stored as runs.
    assert max(len(run) for run in runs_in(trace)) > 1

    live = list(window.drain())
    assert live == trace.events()
    loaded = load(path)
    assert [e.to_json() for e in loaded.events()] == [e.to_json() for e in live]
    # Each chunk a client got is its own event, in order, with its own seq, size and
    # payload; the chunks of one turn share the turn's number and start time.
    ids = client_ids(live)
    assert len(ids) == CLIENTS
    for client, conn in zip(clients, ids):
        assert client.got == b"".join(
            f"client {client.number} trip {trip:03d} ".encode() * 3 for trip in range(TRIPS))
        for events in (live, loaded.events()):
            ins = [e for e in events if isinstance(e, ev.BytesIn) and e.conn == conn]
            assert [e.data for e in ins] == client.chunks
            assert [e.size for e in ins] == [len(chunk) for chunk in client.chunks]
        summary = loaded.connections[conn]
        assert b"".join(d for _, _, way, d in summary.chunks if way == "in") == client.got
        assert summary.bytes_in == summary.bytes_out == len(client.got)
    bytes_events = [e for e in live if isinstance(e, (ev.BytesIn, ev.BytesOut))]
    seqs = [e.seq for e in live]
    assert seqs == sorted(set(seqs))
    turns = {e.turn: e.ts for e in live if isinstance(e, ev.LoopTurn)}
    assert all(turns[e.turn] == e.ts for e in bytes_events if e.turn in turns)


def test_readers_that_attach_mid_way_or_drain_a_few_see_the_eager_trace(
        reactor: Any, tracer: Any) -> None:
    trace = tracer.trace
    late: list[Any] = []
    few: list[Any] = []
    few_batches: list[int] = []
    all_seen: list[Any] = []
    everything = trace.subscribe(from_start=True)

    def reader(client: Client) -> None:
        if not late and client.trip == TRIPS // 2:
            late.append(trace.subscribe())  # a window opened while the crowd runs
        if client.number == 0 and few:
            batch = few[0].drain(7)  # a reader with a small budget: cuts runs anywhere
            few_batches.append(len(batch))
            few.extend(batch)
        if client.number == 1:
            all_seen.extend(everything.drain())

    few.append(trace.subscribe(from_start=True))
    echo_crowd(reactor, reader)
    all_seen.extend(everything.drain())
    cursor, *got_few = few
    while True:
        batch = cursor.drain(7)
        if not batch:
            break
        got_few.extend(batch)
    mid_way = list(late[0].drain())

    events = trace.events()
    assert all_seen == events and got_few == events
    assert max(few_batches) == 7
    assert mid_way and mid_way == [e for e in events if e.seq > mid_way[0].seq - 1]
    # Built once and shared: every reader holds the same event objects.
    by_seq = {e.seq: e for e in all_seen}
    assert all(by_seq[e.seq] is e for e in got_few + mid_way)
    # An eager trace fed the same events holds the same summaries and counts.
    eager = Trace(trace.config)
    for event in events:
        eager.add(dataclasses.replace(event))
    assert eager.events() == events and eager.totals() == trace.totals()
    assert ({c.id: (c.bytes_in, c.bytes_out, c.chunks) for c in eager.connections.values()}
            == {c.id: (c.bytes_in, c.bytes_out, c.chunks) for c in trace.connections.values()})


def test_drop_counts_stay_exact_when_runs_overflow_the_rings_and_feed(reactor: Any) -> None:
    config = TraceConfig(buffer_sizes={"conn.in": 13, "conn.out": 11}, feed_size=150,
                         capture_bytes=1 << 20)
    tracer = trace_module.enable(config)
    seen: list[Any] = []
    longest = [0]

    def reader(client: Client) -> None:
        if client.number in (0, CLIENTS // 2):  # about twice per round of the crowd
            batch = fast.drain()
            longest[0] = max([longest[0], *(len(e) for e in batch.entries()
                                            if isinstance(e, BytesRun))])
            seen.extend(batch)

    try:
        slow = tracer.trace.subscribe(from_start=True)  # drains only at the end: falls behind
        fast = tracer.trace.subscribe(from_start=True)
        clients = echo_crowd(reactor, reader)
        seen.extend(fast.drain())
    finally:
        trace_module.disable()
    trace = tracer.trace
    assert longest[0] > 1  # runs of several chunks went through the small rings and feed
    assert fast.missed == 0
    totals = trace.totals()
    ins = [e for e in seen if isinstance(e, ev.BytesIn)]
    outs = [e for e in seen if isinstance(e, ev.BytesOut)]
    assert totals["conn.in"] == len(ins) >= sum(len(c.chunks) for c in clients)
    assert totals["conn.out"] == len(outs)
    # Each ring keeps exactly its newest events of its own kind, even cut inside a run.
    assert list(trace.buffers["conn.in"]) == ins[-13:]
    assert list(trace.buffers["conn.out"]) == outs[-11:]
    assert trace.dropped()["conn.in"] == len(ins) - 13
    assert trace.dropped()["conn.out"] == len(outs) - 11
    # The slow reader gets exactly the newest 150 and is told it missed all the rest.
    late = list(slow.drain())
    assert late == seen[-150:]
    assert slow.missed + len(late) == len(seen) == trace.feed.last_seq


class Side:
    """A connection side as the tracer's bytes runs hold it."""

    def __init__(self, conn: int, inbound: bool) -> None:
        self.inbound = inbound
        self.tag = (conn, inbound, "R")


def test_a_bytes_ring_mixing_single_events_and_runs_keeps_the_newest_by_seq() -> None:
    # Datagrams (and a loaded recording's events) come one by one; TCP chunks in runs.
    trace = Trace(TraceConfig(buffer_sizes={"conn.in": 5, "conn.out": 4}))
    expected: list[ev.Event] = []
    for turn in range(1, 7):
        single = trace.add(ev.BytesIn(0, float(turn), "R", turn, 9, 3, b"dgm", "127.0.0.1:5"))
        expected.append(single)
        sides = [Side(1, True), Side(1, False), Side(2, True)]
        run = BytesRun(trace.next_seq(), float(turn), turn, sides, [1, 2, 3], None, 2)
        trace.add_run(run)
        expected.extend(run.events())
    ins: list[ev.Event] = [e for e in expected if isinstance(e, ev.BytesIn)]
    outs: list[ev.Event] = [e for e in expected if isinstance(e, ev.BytesOut)]
    assert [e.seq for e in expected] == list(range(1, len(expected) + 1))
    assert list(trace.buffers["conn.in"]) == ins[-5:] and len(trace.buffers["conn.in"]) == 5
    assert list(trace.buffers["conn.out"]) == outs[-4:]
    assert trace.totals() == {"conn.in": len(ins), "conn.out": len(outs)}
    assert trace.dropped() == {"conn.in": len(ins) - 5, "conn.out": len(outs) - 4}
    assert trace.events("conn.in", "conn.out") == sorted(ins[-5:] + outs[-4:], key=lambda e: e.seq)
