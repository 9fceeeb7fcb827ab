"""TCP bytes events held compactly and built when read (``inspector.trace.buffers``).

The live tracer keeps each TCP bytes event as a plain tuple in the feed and the bytes
rings; readers get events. These tests check, over real loopback connections on every
reactor, that what readers see is exactly what an eager trace holds: the same events,
summaries, session bytes, recording and Perfetto export, and exact drop counts when the
rings and the feed overflow.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterator

import pytest

import inspector.trace as trace_module
from inspector.defer import Deferred
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.trace import events as ev
from inspector.trace.buffers import BytesRun, Cursor, EventBatch, Feed
from inspector.trace.model import Trace, TraceConfig
from inspector.trace.perfetto import to_trace_events
from inspector.trace.recording import load, record

from reactor_support import run_reactor_until

MESSAGE = b"0123456789abcdef" * 4  # 64 bytes, as the benchmark's echo
BIG = bytes(range(256)) * 40  # 10240 bytes: crosses the capture budget mid-chunk


COUNTS = {"reads": 0, "writes": 0}  # dataReceived and write calls, both ends


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        COUNTS["reads"] += 1
        COUNTS["writes"] += 1
        self.transport.write(data)


class Pinger(Protocol):
    """Sends ``BIG`` once, then ``trips`` messages one after another, each after its echo;
    fires ``done`` with every byte it got back."""

    def __init__(self, trips: int, done: Deferred) -> None:
        self.trips = trips
        self.done = done
        self.got = b""
        self.expect = 0

    def connectionMade(self) -> None:
        self._send(BIG)

    def _send(self, data: bytes) -> None:
        self.expect = len(self.got) + len(data)
        COUNTS["writes"] += 1
        self.transport.write(data)

    def dataReceived(self, data: bytes) -> None:
        COUNTS["reads"] += 1
        self.got += data
        if len(self.got) < self.expect:
            return
        if self.trips:
            self.trips -= 1
            self._send(MESSAGE)
        else:
            self.transport.loseConnection()

    def connectionLost(self, reason: Any) -> None:
        if not self.done.called:
            self.done.callback(self.got)


def echo_session(reactor: Any, trips: int, reader: Any = None) -> bytes:
    """Run one client through ``trips`` echoes on loopback; drain ``reader`` (a cursor)
    after every echo without looking at the events, as a benchmark reader does."""
    COUNTS.update(reads=0, writes=0)
    done: Deferred = Deferred()

    class Client(Pinger):
        def dataReceived(self, data: bytes) -> None:
            if reader is not None:
                reader.drain()
            super().dataReceived(data)

    def go() -> Deferred:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        factory = ClientFactory()
        factory.protocol = lambda: Client(trips, done)  # type: ignore[assignment]
        reactor.connectTCP("127.0.0.1", port.getHost().port, factory)

        def stop(got: bytes) -> Any:
            # Let the server see the close too before the reactor stops.
            finished: Deferred = Deferred()
            reactor.callLater(0.05, finished.callback, got)
            return finished.addCallback(lambda got: (port.stopListening(), got)[1])

        return done.addCallback(stop)

    return run_reactor_until(reactor, go, timeout=20)


@pytest.fixture
def small_budget() -> Iterator[Any]:
    tracer = trace_module.enable(TraceConfig(capture_bytes=3000))
    try:
        yield tracer
    finally:
        trace_module.disable()


def eager_copy(events: list[ev.Event], config: TraceConfig) -> Trace:
    """A trace fed the same events one by one through :meth:`Trace.add`, as a recording
    is loaded: every event an object from the start."""
    trace = Trace(config)
    for event in events:
        trace.add(dataclasses.replace(event))
    return trace


def summaries(trace: Trace) -> dict[int, tuple[Any, ...]]:
    return {c.id: (c.state, c.bytes_in, c.bytes_out, c.captured, c.chunks, c.reason_type)
            for c in trace.connections.values()}


def test_bytes_built_when_read_equal_an_eager_trace(reactor: Any, small_budget: Any) -> None:
    tracer = small_budget
    window = tracer.trace.subscribe(from_start=True)
    got = echo_session(reactor, trips=40)
    assert got == BIG + MESSAGE * 40

    drained = window.drain()
    assert isinstance(drained, EventBatch)
    kinds = [e.kind for e in drained]
    assert kinds.count("conn.in") >= 2 * 41 and kinds.count("conn.out") == 2 * 41
    assert all(type(e) is ev.BytesIn for e in drained if e.kind == "conn.in")
    assert all(type(e) is ev.BytesOut for e in drained if e.kind == "conn.out")
    # The same events the trace's rings give, and the same an eager trace makes of them.
    live_events = tracer.trace.events()
    assert list(drained) == live_events
    eager = eager_copy(live_events, tracer.config)
    assert eager.events() == live_events
    assert summaries(eager) == summaries(tracer.trace)
    assert eager.totals() == tracer.trace.totals()

    # The session's bytes, as the session view shows them: exact sizes, payload cut at
    # the budget (3000 bytes per connection, both directions counted).
    client = next(e.conn for e in live_events
                  if isinstance(e, ev.ConnectionOpened) and e.role == "client")
    summary = tracer.trace.connections[client]
    assert summary.bytes_out == len(BIG) + 40 * len(MESSAGE) == summary.bytes_in
    assert summary.captured == 3000
    sent = b"".join(data for _, _, direction, data in summary.chunks if direction == "out")
    assert sent == BIG[: len(sent)] and len(sent) > 0
    outs = [e for e in live_events if isinstance(e, ev.BytesOut) and e.conn == client]
    assert sum(e.size for e in outs) == summary.bytes_out
    assert b"".join(e.data for e in outs) == sent


def test_a_recording_and_an_export_after_lazy_drains_are_complete(
        reactor: Any, small_budget: Any, tmp_path: Path) -> None:
    tracer = small_budget
    path = tmp_path / "session.jsonl"
    recorder = record(path, tracer)
    reader = tracer.trace.subscribe()
    echo_session(reactor, trips=30, reader=reader)  # drained often, never looked at
    recorder.close()

    loaded = load(path)
    live_events = tracer.trace.events()
    assert [e.to_json() for e in loaded.events()] == [e.to_json() for e in live_events]
    assert summaries(loaded) == summaries(tracer.trace)
    assert to_trace_events(loaded)["traceEvents"] == to_trace_events(tracer.trace)["traceEvents"]


def test_drop_counts_stay_exact_when_rings_and_feed_overflow(reactor: Any) -> None:
    config = TraceConfig(buffer_sizes={"conn.in": 7, "conn.out": 5}, feed_size=50, raw_size=64)
    tracer = trace_module.enable(config)
    try:
        slow = tracer.trace.subscribe(from_start=True)  # drains only at the end: falls behind
        fast = tracer.trace.subscribe()
        echo_session(reactor, trips=60, reader=fast)
    finally:
        trace_module.disable()
    trace = tracer.trace
    totals = trace.totals()
    # One bytes event per read and per write, though only the newest few are kept.
    assert totals["conn.in"] == COUNTS["reads"] and totals["conn.out"] == COUNTS["writes"]
    assert COUNTS["writes"] >= 2 * 61
    assert len(trace.buffers["conn.in"]) == 7 and len(trace.buffers["conn.out"]) == 5
    assert trace.dropped()["conn.in"] == totals["conn.in"] - 7
    assert trace.dropped()["conn.out"] == totals["conn.out"] - 5
    kept = trace.events("conn.in", "conn.out")
    assert len(kept) == 12 and all(type(e) in (ev.BytesIn, ev.BytesOut) for e in kept)
    assert [e.seq for e in kept] == sorted(e.seq for e in kept)
    # The slow reader is told exactly how many it missed: all it did not get.
    seen = len(slow.drain())
    assert seen == 50
    assert slow.missed + seen == trace.feed.last_seq
    # Byte counts stay exact whatever was dropped.
    for summary in trace.connections.values():
        if summary.role:
            assert summary.bytes_in == summary.bytes_out == len(BIG) + 60 * len(MESSAGE)


class Side:
    """A connection side as the tracer's bytes runs hold it."""

    def __init__(self, conn: int, inbound: bool, reactor: str = "R") -> None:
        self.inbound = inbound
        self.tag = (conn, inbound, reactor)


def test_an_event_batch_reads_as_a_list_and_builds_each_event_once() -> None:
    feed = Feed(10)
    feed.add_run(BytesRun(1, 2.0, 3, [Side(4, True)], [5], [b"hello"], 1))
    feed.append(ev.LoopTurn(2))
    feed.add_run(BytesRun(3, 2.5, 3, [Side(4, False)], [2], None, 0))
    one, two = cursor_on(feed), cursor_on(feed)
    batch = one.drain()
    assert len(batch) == 3 and batch and batch.last_seq == 3
    assert batch[0] == ev.BytesIn(1, 2.0, "R", 3, 4, 5, b"hello", "")
    assert batch[-1] == ev.BytesOut(3, 2.5, "R", 3, 4, 2, b"", "")
    assert batch[1:] == [ev.LoopTurn(2), ev.BytesOut(3, 2.5, "R", 3, 4, 2, b"", "")]
    assert list(batch) == batch.events() and batch == list(batch) and batch[0] is list(batch)[0]
    assert ev.LoopTurn(2) in batch and list(reversed(batch))[0] == batch[2]
    # Two readers: the second gets the events the first built, not new ones.
    other = two.drain()
    assert other == batch and other[0] is batch[0] and other[2] is batch[2]
    assert not one.drain() and one.drain() == []


def cursor_on(feed: Feed) -> Cursor:
    return Cursor(feed, 0)
