"""Runs made from capture keys: a live tracer's TCP bytes runs hold the chunks' keys and
a map from key to side, and make their sides only when something reads them.

A reader that reads no bytes events (it drains, looks at other events) never pays a
lookup per chunk; one that does read them, even long after the connections closed and
their keys were forgotten, sees each chunk under its own connection and direction,
exactly as an eager trace holds them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import pytest
from test_trace_runs import CLIENTS, client_ids, echo_crowd

import inspector.trace as trace_module
from inspector.trace import events as ev
from inspector.trace.buffers import BytesRun
from inspector.trace.model import Trace, TraceConfig


@pytest.fixture
def tracer() -> Iterator[Any]:
    tracer = trace_module.enable(TraceConfig(capture_bytes=0))  # no payload: keyed runs
    try:
        yield tracer
    finally:
        trace_module.disable()


def keyed_runs(trace: Trace) -> list[BytesRun]:
    return [entry for entry in trace.feed._entries
            if isinstance(entry, BytesRun) and entry.data is None]


def test_runs_make_their_sides_only_when_read(reactor: Any, tracer: Any) -> None:
    trace = tracer.trace
    cursor = trace.subscribe(from_start=True)
    others: list[Any] = []

    def reader(client: Any) -> None:  # drains often, reads no bytes event
        others.extend(e for e in cursor.drain().entries() if not isinstance(e, BytesRun))

    echo_crowd(reactor, reader)
    others.extend(e for e in cursor.drain().entries() if not isinstance(e, BytesRun))
    runs = keyed_runs(trace)
    assert len(runs) > 1 and max(len(run) for run in runs) > 1
    assert all(run._sides is None for run in runs)  # nobody read a chunk: no side made
    assert sum(isinstance(e, ev.ConnectionClosed) for e in others) == 2 * CLIENTS
    # The summaries were kept all the same.
    closed = {e.conn: (e.bytes_in, e.bytes_out) for e in others
              if isinstance(e, ev.ConnectionClosed)}
    assert all(sizes[0] > 0 and sizes[0] == sizes[1] for sizes in closed.values())


def test_chunks_read_after_their_connections_closed_keep_conn_and_direction(
        reactor: Any, tracer: Any) -> None:
    trace = tracer.trace
    cursor = trace.subscribe(from_start=True)
    clients = echo_crowd(reactor)  # read only now: every close was decoded before
    events = list(cursor.drain())
    ids = client_ids(events)
    assert len(ids) == CLIENTS
    for client, conn in zip(clients, ids):
        ins = [e for e in events if isinstance(e, ev.BytesIn) and e.conn == conn]
        outs = [e for e in events if isinstance(e, ev.BytesOut) and e.conn == conn]
        assert [e.size for e in ins] == [len(chunk) for chunk in client.chunks]
        assert sum(e.size for e in outs) == len(client.got)
        assert all(e.data == b"" for e in ins + outs)
    # An eager trace fed the same events holds the same events, summaries and counts.
    eager = Trace(trace.config)
    for event in events:
        eager.add(dataclasses.replace(event))
    assert eager.events() == trace.events() == events
    assert eager.totals() == trace.totals()
    assert ({c.id: (c.bytes_in, c.bytes_out) for c in eager.connections.values()}
            == {c.id: (c.bytes_in, c.bytes_out) for c in trace.connections.values()})
