"""The trace model on its own: ring buffers, observer cursors, summaries and bounds."""

from __future__ import annotations

import pytest

from inspector.trace import events as ev
from inspector.trace.buffers import Feed, RingBuffer
from inspector.trace.model import Trace, TraceConfig
from inspector.trace.util import safe_repr


def test_ring_buffer_keeps_newest_and_counts_dropped() -> None:
    ring: RingBuffer[int] = RingBuffer(3)
    for i in range(10):
        ring.append(i)
    assert list(ring) == [7, 8, 9]
    assert ring.total == 10
    assert ring.dropped == 7


def test_ring_buffer_rejects_zero_size() -> None:
    with pytest.raises(ValueError, match="at least one"):
        RingBuffer(0)
    with pytest.raises(ValueError, match="at least one"):
        Feed(0)


def _bytes_event(conn: int, data: bytes) -> ev.BytesIn:
    return ev.BytesIn(ts=1.0, conn=conn, size=len(data), data=data)


def test_buffers_per_kind_are_bounded_and_report_drops() -> None:
    trace = Trace(TraceConfig(buffer_sizes={"conn.in": 5}, default_buffer=50, feed_size=20))
    for i in range(12):
        trace.add(_bytes_event(1, b"x"))
        trace.add(ev.LoopTurn(ts=float(i), duration=0.001))
    assert len(trace.buffers["conn.in"]) == 5
    assert trace.dropped() == {"conn.in": 7}
    assert trace.totals() == {"conn.in": 12, "loop.turn": 12}
    assert len(trace.buffers["loop.turn"]) == 12
    # The summary still counts every byte even though events were dropped.
    assert trace.connections[1].bytes_in == 12


def test_events_are_numbered_in_order_across_kinds() -> None:
    trace = Trace()
    trace.add(ev.LoopTurn())
    trace.add(_bytes_event(1, b"a"))
    trace.add(ev.LoopTurn())
    assert [e.seq for e in trace.events()] == [1, 2, 3]
    assert [e.kind for e in trace.events("loop.turn")] == ["loop.turn", "loop.turn"]


def test_observer_drains_only_what_is_new() -> None:
    trace = Trace()
    trace.add(ev.LoopTurn())
    cursor = trace.subscribe()
    assert cursor.drain() == []
    first = trace.add(_bytes_event(1, b"a"))
    second = trace.add(ev.LoopTurn())
    assert cursor.drain() == [first, second]
    assert cursor.drain() == []
    third = trace.add(ev.LoopTurn())
    assert cursor.drain() == [third]


def test_observers_have_independent_cursors_and_limits() -> None:
    trace = Trace()
    fast = trace.subscribe()
    slow = trace.subscribe()
    added = [trace.add(ev.LoopTurn()) for _ in range(5)]
    assert fast.drain(limit=2) == added[:2]
    assert fast.drain() == added[2:]
    assert slow.drain() == added


def test_lagging_observer_is_told_how_many_it_missed() -> None:
    trace = Trace(TraceConfig(feed_size=4))
    cursor = trace.subscribe()
    added = [trace.add(ev.LoopTurn()) for _ in range(10)]
    assert cursor.drain() == added[-4:]
    assert cursor.missed == 6


def test_subscribe_from_start_sees_kept_history() -> None:
    trace = Trace()
    added = [trace.add(ev.LoopTurn()) for _ in range(3)]
    assert trace.subscribe(from_start=True).drain() == added


def test_connection_summary_follows_its_events() -> None:
    trace = Trace()
    trace.add(ev.ConnectionOpened(ts=10.0, conn=3, role="server", protocol="Echo",
                                  local="127.0.0.1:1", peer="127.0.0.1:2"))
    trace.add(ev.ConnectionState(ts=10.0, conn=3, previous="", state="connected"))
    trace.add(ev.BytesIn(ts=10.1, conn=3, size=5, data=b"hello"))
    trace.add(ev.BytesOut(ts=10.2, conn=3, size=5, data=b"hel"))
    trace.add(ev.ConnectionClosed(ts=10.3, conn=3, reason_type="ConnectionLost",
                                  reason="reset"))
    summary = trace.connections[3]
    assert (summary.role, summary.protocol, summary.peer) == ("server", "Echo", "127.0.0.1:2")
    assert (summary.bytes_in, summary.bytes_out, summary.captured) == (5, 5, 8)
    assert summary.truncated
    assert summary.state == "failed"
    assert summary.reason_type == "ConnectionLost"


def test_closed_connections_are_forgotten_past_the_bound() -> None:
    trace = Trace(TraceConfig(closed_connections=2))
    for conn in range(1, 6):
        trace.add(ev.ConnectionOpened(conn=conn, role="client"))
        trace.add(ev.ConnectionClosed(conn=conn))
    trace.add(ev.ConnectionOpened(conn=99, role="client"))
    assert list(trace.connections) == [4, 5, 99]
    assert trace.connections_dropped == 3


def test_protocol_messages_per_connection_are_bounded() -> None:
    trace = Trace(TraceConfig(messages_per_connection=3))
    for i in range(5):
        trace.add(ev.ProtocolMessage(conn=1, message_kind="line", text=str(i)))
    summary = trace.connections[1]
    assert [m.text for m in summary.messages] == ["2", "3", "4"]
    assert summary.messages_dropped == 2


def test_deferred_summary_tracks_chain_and_outcome() -> None:
    trace = Trace()
    trace.add(ev.DeferredCreated(ts=1.0, deferred=1, site="a.py:3", function="f"))
    trace.add(ev.DeferredCreated(ts=1.0, deferred=2, site="b.py:4", function="g"))
    trace.add(ev.CallbackAdded(deferred=1, name="first", callback_kind="callback"))
    trace.add(ev.CallbackAdded(deferred=1, name="second", callback_kind="errback"))
    trace.add(ev.CallbackRan(deferred=1, name="first", input_kind="value",
                             output_type="Deferred", output_repr="<Deferred>"))
    trace.add(ev.DeferredChained(deferred=1, waiting_on=2))
    assert [s.id for s in trace.chain(1)] == [1, 2]
    trace.add(ev.DeferredFailed(ts=2.0, deferred=2, error_type="ValueError", message="bad"))
    trace.add(ev.CallbackRan(deferred=1, name="second", input_kind="failure",
                             output_type="int", output_repr="7"))
    trace.add(ev.DeferredFired(ts=2.5, deferred=1, result_type="int", result_repr="7"))
    first = trace.deferred(1)
    # One vocabulary with the window (inspector.trace.fold): an errback handled its failure.
    assert first is not None and first.state == "recovered" and first.waiting_on == 0
    assert [(c.name, c.kind, c.ran, c.input_kind) for c in first.callbacks] == [
        ("first", "callback", True, "value"), ("second", "errback", True, "failure")]
    second = trace.deferred(2)
    assert second is not None and second.state == "failed"
    assert second.result_type == "ValueError"
    assert not trace.pending


def test_finished_deferreds_are_summarised_within_bounds() -> None:
    trace = Trace(TraceConfig(finished_deferreds=3, pending_deferreds=4))
    for did in range(1, 11):
        trace.add(ev.DeferredCreated(deferred=did))
        trace.add(ev.DeferredFired(deferred=did, result_type="NoneType"))
    assert list(trace.finished) == [8, 9, 10]
    for did in range(11, 17):
        trace.add(ev.DeferredCreated(deferred=did))
    assert list(trace.pending) == [13, 14, 15, 16]
    assert trace.deferreds_dropped == 2


def test_safe_repr_is_short_and_never_raises() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert "Broken" in safe_repr(Broken())
    assert len(safe_repr("x" * 10_000, 40)) <= 40
    assert safe_repr(list(range(100))).endswith("...]")


def test_cursor_limit_and_gaps_in_numbering() -> None:
    trace = Trace()
    added = [trace.add(ev.LoopTurn()) for _ in range(10)]
    cursor = trace.subscribe(from_start=True)
    assert cursor.drain(limit=4) == added[:4]
    assert cursor.drain(limit=4) == added[4:8]
    assert cursor.drain(limit=4) == added[8:]
    # A loaded recording may skip numbers (its recorder fell behind): still exact.
    gappy = Trace()
    kept = [gappy.add(ev.LoopTurn(seq=n)) for n in (3, 4, 9, 12)]
    cursor = gappy.subscribe(from_start=True)
    assert cursor.drain(limit=2) == kept[:2]
    assert cursor.drain() == kept[2:]


def test_a_deferred_stops_waiting_once_what_it_waited_on_fires() -> None:
    trace = Trace()
    trace.add(ev.DeferredCreated(deferred=1))
    trace.add(ev.DeferredCreated(deferred=2))
    trace.add(ev.DeferredFired(deferred=1, result_type="NoneType"))
    trace.add(ev.DeferredChained(deferred=1, waiting_on=2))
    assert trace.deferred(1).waiting_on == 2
    trace.add(ev.DeferredFired(deferred=2, result_type="int"))
    assert trace.deferred(1).waiting_on == 0
