"""A reader with a time budget decodes only about what it reads (``Tracer.sync(limit)``).

The window drains the trace in slices (``Cursor.drain(limit)``); before, every drain
decoded every captured record first, so one refresh under a flood of connections could
take far longer than its budget. These tests check that a bounded drain leaves the
rest captured, that readers still see every event in order (a bounded reader and a
reader taking everything at once see the same), and, by property, that connections'
byte counts stay exact whatever mix of bounded decoding, full decoding and dropping
(trims with no reader, ``sync_newest``) the records went through.
"""

from __future__ import annotations

import gc
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.trace import events as ev
from inspector.trace.model import TraceConfig
from inspector.trace.tracer import Tracer


class FakeTransport:
    """Stands for a TCP connection: the hooks only need its identity."""


REACTOR = object()


def _view(events: Any) -> list[tuple[Any, ...]]:
    return [(e.seq, e.kind, e.conn, getattr(e, "size", None)) for e in events]


def _traffic(tracer: Tracer, connections: int = 3, turns: int = 40) -> list[FakeTransport]:
    transports = [FakeTransport() for _ in range(connections)]
    for transport in transports:
        tracer.connection_opened(transport, "client")  # type: ignore[arg-type]
    for turn in range(turns):
        tracer.turn_started(REACTOR, len(transports))  # type: ignore[arg-type]
        for number, transport in enumerate(transports):
            tracer.bytes_in(transport, b"x" * (number + turn + 1))  # type: ignore[arg-type]
            tracer.bytes_out(transport, b"y" * (turn + 1))  # type: ignore[arg-type]
        tracer.turn_ended(REACTOR)  # type: ignore[arg-type]
    return transports


def test_a_bounded_drain_leaves_the_rest_captured_and_readers_see_everything_in_order() -> None:
    tracer = Tracer(TraceConfig(raw_size=100_000))
    bounded = tracer.trace.subscribe(from_start=True)
    whole = tracer.trace.subscribe(from_start=True)
    transports = _traffic(tracer)
    for transport in transports[:2]:
        tracer.connection_closed(transport)

    first = bounded.drain(7)
    assert len(first) == 7
    assert tracer.waiting > 100  # most of what was captured still waits, undecoded
    seen = _view(first)
    while True:
        batch = bounded.drain(7)
        assert len(batch) <= 7
        if not batch:
            break
        seen.extend(_view(batch))
    assert tracer.waiting == 0

    everything = _view(whole.drain())
    assert seen == everything
    assert [s for s, *_ in seen] == sorted(s for s, *_ in seen)
    kinds = [kind for _, kind, _, _ in seen]
    assert kinds.count(ev.BytesIn.kind) == kinds.count(ev.BytesOut.kind) == 3 * 40
    assert kinds.count(ev.ConnectionClosed.kind) == 2


def test_a_bounded_drain_counts_bytes_exactly_while_records_wait() -> None:
    tracer = Tracer(TraceConfig(raw_size=100_000))
    cursor = tracer.trace.subscribe(from_start=True)
    transports = _traffic(tracer)
    cursor.drain(50)
    assert tracer.waiting > 0
    for number, transport in enumerate(transports):
        summary = tracer.trace._connections[tracer.conn_id(transport)]
        decoded_in = sum(e.size for e in tracer.trace.buffers[ev.BytesIn.kind]
                         if e.conn == summary.id)
        # A summary never counts bytes whose events are still undecoded.
        assert summary.bytes_in == decoded_in
    tracer.sync()
    for number, transport in enumerate(transports):
        summary = tracer.trace.connections[tracer.conn_id(transport)]
        assert summary.bytes_in == sum(number + turn + 1 for turn in range(40))
        assert summary.bytes_out == sum(turn + 1 for turn in range(40))


OPS = st.lists(st.one_of(
    st.tuples(st.just("in"), st.integers(0, 3), st.integers(1, 300)),
    st.tuples(st.just("out"), st.integers(0, 3), st.integers(1, 300)),
    st.tuples(st.just("close"), st.integers(0, 3)),
    st.tuples(st.just("turn")),
    st.tuples(st.just("drain"), st.integers(1, 40)),
    st.tuples(st.just("newest"), st.integers(0, 30)),
    st.tuples(st.just("reader")),
), max_size=250)


@settings(max_examples=150, deadline=None)
@given(ops=OPS, raw_size=st.integers(16, 200))
def test_byte_counts_stay_exact_through_every_decoding_and_dropping_path(
        ops: list[tuple[Any, ...]], raw_size: int) -> None:
    tracer = Tracer(TraceConfig(raw_size=raw_size))
    cursor: Any = tracer.trace.subscribe(from_start=True)
    slots: list[FakeTransport | None] = [None] * 4
    expected: dict[int, list[int]] = {}  # connection number -> [in, out]
    at_close: dict[int, tuple[int, int]] = {}
    closes: dict[int, tuple[int, int]] = {}
    in_turn = False

    def drained(batch: Any) -> None:
        for event in batch:
            if event.__class__ is ev.ConnectionClosed:
                closes[event.conn] = (event.bytes_in, event.bytes_out)

    for op in ops:
        kind = op[0]
        if kind in ("in", "out"):
            transport = slots[op[1]]
            if transport is None:
                transport = slots[op[1]] = FakeTransport()
            hook = tracer.bytes_in if kind == "in" else tracer.bytes_out
            hook(transport, b"z" * op[2])  # type: ignore[arg-type]
            totals = expected.setdefault(tracer.conn_id(transport), [0, 0])
            totals[0 if kind == "in" else 1] += op[2]
        elif kind == "close":
            transport = slots[op[1]]
            if transport is not None:
                cid = tracer.conn_id(transport)
                tracer.connection_closed(transport)
                at_close[cid] = tuple(expected[cid])  # type: ignore[assignment]
                slots[op[1]] = None
        elif kind == "turn":
            if in_turn:
                tracer.turn_ended(REACTOR)  # type: ignore[arg-type]
            else:
                tracer.turn_started(REACTOR, 1)  # type: ignore[arg-type]
            in_turn = not in_turn
        elif kind == "drain":
            if cursor is not None:
                drained(cursor.drain(op[1]))
        elif kind == "newest":
            tracer.sync_newest(op[1])
        elif cursor is not None:  # "reader": the reader goes away (trims now drop) ...
            cursor = None
            gc.collect()
        else:  # ... or a new one comes
            cursor = tracer.trace.subscribe()
    if cursor is not None:
        drained(cursor.drain())
    summaries = tracer.trace.connections
    for cid, (bytes_in, bytes_out) in expected.items():
        summary = summaries[cid]
        assert (summary.bytes_in, summary.bytes_out) == (bytes_in, bytes_out)
    for cid, totals in closes.items():  # a close a reader saw says the totals then
        assert totals == at_close[cid]
