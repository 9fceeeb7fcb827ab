"""Exports: Chrome/Perfetto trace-event JSON and one connection's session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inspector.trace import events as ev
from inspector.trace.model import Trace, TraceConfig
from inspector.trace.perfetto import export, to_trace_events
from inspector.trace.session import UnknownConnection, raw_bytes, transcript, write_raw

#: Phases this exporter emits, and the fields the Trace Event Format requires for each
#: beyond the common name/ph/pid/tid (and ts for everything but metadata).
_REQUIRED = {"X": {"dur"}, "i": set(), "s": {"id"}, "f": {"id"}, "M": {"args"}}


def validate_trace_events(data: Any) -> list[dict[str, Any]]:
    """Check ``data`` against the trace-event format's documented required fields."""
    assert isinstance(data, dict) and isinstance(data["traceEvents"], list)
    assert data.get("displayTimeUnit", "ms") in ("ms", "ns")
    for event in data["traceEvents"]:
        ph = event["ph"]
        assert ph in _REQUIRED, f"unexpected phase {ph!r}"
        assert isinstance(event["name"], str)
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        if ph != "M":
            assert isinstance(event["ts"], (int, float)) and event["ts"] >= 0
        for field in _REQUIRED[ph]:
            assert field in event, f"{ph} event without {field}: {event}"
        if ph == "X":
            assert event["dur"] > 0
        if ph == "i":
            assert event.get("s", "t") in ("g", "p", "t")
        if ph == "M":
            assert event["name"] in ("process_name", "thread_name")
            assert isinstance(event["args"]["name"], str)
        if "args" in event:
            assert isinstance(event["args"], dict)
    # Flow starts and ends pair up by id, and each end is not before its start.
    starts = {e["id"]: e for e in data["traceEvents"] if e["ph"] == "s"}
    ends = {e["id"]: e for e in data["traceEvents"] if e["ph"] == "f"}
    assert starts.keys() == ends.keys()
    for fid, end in ends.items():
        assert end["ts"] >= starts[fid]["ts"]
    return data["traceEvents"]


def _session_trace(capture: int = 1024) -> Trace:
    trace = Trace(TraceConfig(capture_bytes=capture))
    add = trace.add
    add(ev.LoopTurn(ts=100.0, turn=1, duration=0.002, fds_ready=1))
    add(ev.ConnectionOpened(ts=100.0, conn=1, role="server", protocol="Echo",
                            local="127.0.0.1:7", peer="127.0.0.1:5000"))
    add(ev.ConnectionState(ts=100.0, conn=1, previous="", state="connected"))
    add(ev.BytesIn(ts=100.001, turn=1, conn=1, size=7, data=b"hi\r\n\x00\xff\\"))
    add(ev.ProtocolMessage(ts=100.0011, turn=1, conn=1, message_kind="line", text="hi"))
    add(ev.DeferredCreated(ts=100.0012, turn=1, conn=1, deferred=1, site="x.py:1"))
    add(ev.DeferredCreated(ts=100.0013, turn=1, conn=1, deferred=2, site="x.py:2"))
    add(ev.CallbackRan(ts=100.0014, turn=1, deferred=1, name="step", duration=0.0001,
                       output_type="Deferred"))
    add(ev.DeferredChained(ts=100.0015, turn=1, deferred=1, waiting_on=2))
    add(ev.CallbackRan(ts=100.0016, turn=1, deferred=2, name="inner", duration=0.0001))
    add(ev.CallbackRan(ts=100.0017, turn=1, deferred=1, name="after", duration=0.0001))
    add(ev.BytesOut(ts=100.0018, turn=1, conn=1, size=7, data=b"hi\r\n\x00\xff\\"))
    add(ev.TimerFired(ts=100.5, turn=2, timer=1, name="tick", duration=0.001, lateness=0.2))
    add(ev.TraceWarning(ts=100.5, turn=2, category="late-timer", message="late"))
    add(ev.ConnectionClosed(ts=101.0, conn=1, reason_type="ConnectionDone", reason="done"))
    return trace


def test_perfetto_export_follows_the_trace_event_format(tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    count = export(_session_trace(), path)
    events = validate_trace_events(json.loads(path.read_text()))
    assert count == len(events)
    by_ph: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_ph.setdefault(event["ph"], []).append(event)
    names = {e["name"] for e in by_ph["X"]}
    assert {"loop turn", "step", "inner", "after", "tick"} <= names
    # Timestamps are microseconds from the first event.
    turn = next(e for e in by_ph["X"] if e["name"] == "loop turn")
    assert turn["ts"] == 0 and turn["dur"] == pytest.approx(2000)
    # The connection is a named track holding its bytes.
    tracks = {e["args"]["name"]: e["tid"] for e in by_ph["M"] if e["name"] == "thread_name"}
    conn_tid = next(tid for name, tid in tracks.items() if "Echo" in name)
    conn_events = {e["name"] for e in events if e["tid"] == conn_tid and e["ph"] == "i"}
    assert {"opened", "bytes in", "bytes out", "line in", "closed"} <= conn_events
    # Flows: creation -> first callback of Deferred 1 and 2, inner -> resumed outer.
    flow_names = sorted(e["name"] for e in by_ph["s"])
    assert flow_names == ["Deferred 1", "Deferred 1 resumed by 2", "Deferred 2"]


def test_perfetto_export_of_an_empty_trace_is_valid() -> None:
    validate_trace_events(to_trace_events(Trace()))


def test_session_raw_bytes_each_direction(tmp_path: Path) -> None:
    trace = _session_trace()
    received, sent = raw_bytes(trace, 1)
    assert received == b"hi\r\n\x00\xff\\"
    assert sent == b"hi\r\n\x00\xff\\"
    in_path, out_path = write_raw(trace, 1, tmp_path)
    assert Path(in_path).read_bytes() == received
    assert Path(out_path).read_bytes() == sent


def test_session_transcript_is_readable_text() -> None:
    text = transcript(_session_trace(), 1)
    lines = text.splitlines()
    assert lines[0].startswith("# connection 1: server Echo")
    assert "7 bytes in, 7 bytes out" in lines[1]
    body = [line.split(None, 1)[1] for line in lines[2:]]
    assert body[0] == "<< hi\\r\\n\\x00\\xff\\x5c"
    assert body[1] == "<= [line] hi"
    assert body[2].startswith(">> hi")
    text.encode("ascii")


def test_transcript_says_when_capture_was_cut() -> None:
    trace = Trace()
    trace.add(ev.ConnectionOpened(conn=1, role="client"))
    trace.add(ev.BytesIn(conn=1, size=100, data=b"abc"))
    assert "only the first 3 of 100 bytes" in transcript(trace, 1)


def test_unknown_connection_is_a_clear_error() -> None:
    with pytest.raises(UnknownConnection, match="no connection 42"):
        transcript(_session_trace(), 42)
