"""The window's feed adds a loop turn's TCP bytes per connection, not per chunk.

Once connections' capture budgets are spent, a turn's bytes come to the window as one
run with no payload; :func:`inspector.ui.viewmodel.feed.apply_batch` adds it per
connection and direction without building an event per chunk. These tests check the
window then shows exactly what it showed when every chunk was its own event: byte
counts, last activity, throughput, the rows marked changed, and the fold's summaries,
including connections first seen mid-way and payload still being captured.
"""

from __future__ import annotations

from typing import Any

from inspector.trace import events as ev
from inspector.trace.buffers import BytesRun
from inspector.trace.model import TraceConfig
from inspector.trace.tracer import Tracer
from inspector.ui.viewmodel import feed as feed_module
from inspector.ui.viewmodel.feed import LiveFeed, apply
from inspector.ui.viewmodel.store import Store


class FakeTransport:
    """Stands for a TCP connection: the hooks only need its identity."""


REACTOR = object()


def _busy_tracer(capture: int) -> tuple[Tracer, list[FakeTransport]]:
    tracer = Tracer(TraceConfig(raw_size=100_000, capture_bytes=capture))
    return tracer, [FakeTransport() for _ in range(4)]


def _turns(tracer: Tracer, transports: list[FakeTransport], turns: int, start: int = 0) -> None:
    for turn in range(start, start + turns):
        tracer.turn_started(REACTOR, len(transports))  # type: ignore[arg-type]
        for number, transport in enumerate(transports):
            tracer.bytes_in(transport, b"i" * (number + turn % 7 + 1))  # type: ignore[arg-type]
            tracer.bytes_out(transport, b"o" * (turn % 5 + 1))  # type: ignore[arg-type]
            if turn % 3 == number % 3:
                tracer.bytes_out(transport, b"p" * 9)  # type: ignore[arg-type]
        tracer.turn_ended(REACTOR)  # type: ignore[arg-type]


def _shown(store: Store) -> dict[int, tuple[Any, ...]]:
    return {cid: (row.bytes_in, row.bytes_out, row.last_activity, row._window_bytes, row.kept,
                  [(c.direction, bytes(c.data)) for c in row.chunks], row.state)
            for cid, row in store.connections.items()}


def _summaries(store: Store) -> dict[int, tuple[int, int]]:
    return {cid: (s.bytes_in, s.bytes_out) for cid, s in store.fold._connections.items()}


def _per_event(store: Store, batch: Any) -> int:
    return apply(store, list(batch))


def test_runs_of_bytes_show_in_the_window_exactly_as_their_events_did(monkeypatch: Any) -> None:
    tracer, transports = _busy_tracer(capture=200)
    for transport in transports[:3]:  # the fourth is first seen by its bytes
        tracer.connection_opened(transport, "client")  # type: ignore[arg-type]
    by_runs, by_events = Store(clock=0.0), Store(clock=0.0)
    feed = LiveFeed(tracer.trace, by_runs)
    eager = LiveFeed(tracer.trace, by_events)  # every chunk its own event, as before
    runs_seen = 0
    for step in range(6):
        _turns(tracer, transports, 30, start=step * 30)
        if step == 4:
            tracer.connection_closed(transports[0])
        by_events.changed_connections.clear()
        by_runs.changed_connections.clear()
        tracer.sync()
        runs_seen += sum(1 for e in tracer.trace.feed.entries_since(feed.cursor.position)[0]
                         if e.__class__ is BytesRun and e.data is None)
        feed.poll(float(step))
        with monkeypatch.context() as patch:
            patch.setattr(feed_module, "apply_batch", _per_event)
            eager.poll(float(step))
        assert by_runs.changed_connections == by_events.changed_connections
        assert _shown(by_runs) == _shown(by_events)
        assert _summaries(by_runs) == _summaries(by_events)
        assert by_runs.now == by_events.now
    assert runs_seen  # the budget was spent: runs without payload came
    assert list(by_runs.throughput.values) == list(by_events.throughput.values)
    totals = {cid: (s.bytes_in, s.bytes_out) for cid, s in tracer.trace.connections.items()}
    assert {cid: row[:2] for cid, row in _shown(by_runs).items()} == totals


def test_a_run_counts_the_same_events_applied() -> None:
    tracer, transports = _busy_tracer(capture=0)
    for transport in transports:
        tracer.connection_opened(transport, "server")  # type: ignore[arg-type]
    store = Store(clock=0.0)
    feed = LiveFeed(tracer.trace, store)
    _turns(tracer, transports, 10)
    kinds = [e.kind for e in tracer.trace.subscribe(from_start=True).drain()]
    applied = feed.poll(1.0)
    handled = sum(1 for kind in kinds if kind != ev.LoopTurn.kind) + kinds.count(ev.LoopTurn.kind)
    assert applied == handled
