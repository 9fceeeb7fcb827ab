"""Export a trace to the Chrome/Perfetto trace-event JSON format.

The result opens in ``ui.perfetto.dev`` and ``chrome://tracing``: loop turns, timers and
Deferred callbacks are complete ("X") slices on their own tracks, each connection is a
track (named with "M" metadata) carrying its bytes and messages as instants, and each
Deferred's chain is drawn with flow arrows ("s" -> "f") from where it was created to the
callbacks that ran, and from a Deferred it waited on to the callback that resumed it.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from inspector.trace import events as ev
from inspector.trace.model import Trace

PID = 1
TID_LOOP = 1
TID_TIMERS = 2
TID_DEFERREDS = 3
TID_PORTS = 4
TID_WARNINGS = 5
_CONN_TID_BASE = 1000

#: The least slice width, so zero-length work stays visible and flows can bind to it.
_MIN_DUR_US = 1.0


def _us(seconds: float, origin: float) -> float:
    return round((seconds - origin) * 1e6, 3)


def track_name(conn: int, role: str, protocol: str, local: str, peer: str) -> str:
    """A connection's track name: protocol, role, id and both addresses, e.g.
    ``EchoClient #3 127.0.0.1:53122 -> 127.0.0.1:8007``, so tracks tell apart.

    The arrow points from the side that connected (``<-`` on a server's connections);
    an address not known (a client that never connected) shows as ``?``.
    """
    words = [protocol] if protocol else []
    if role and not protocol.lower().endswith(role.lower()):
        words.append(role)  # "Echo server", but "EchoClient" rather than "EchoClient client"
    words.append(f"#{conn}")
    arrow = {"client": "->", "server": "<-"}.get(role, "<->")
    return f"{' '.join(words)} {local or '?'} {arrow} {peer or '?'}"


def _track_names(trace: Trace, events: list[ev.Event]) -> dict[int, str]:
    """Each connection's track name from everything known about it.

    A client's first "opened" event comes before it has a protocol or a local
    address (it is still connecting); a later one, and the trace's summary, has them.
    """
    known: dict[int, dict[str, str]] = {}
    for summary in trace.connections.values():
        known[summary.id] = {"role": summary.role, "protocol": summary.protocol,
                             "local": summary.local, "peer": summary.peer}
    for e in events:
        if isinstance(e, ev.ConnectionOpened):
            fields = known.setdefault(e.conn, {"role": "", "protocol": "", "local": "", "peer": ""})
            for key, value in (("role", e.role), ("protocol", e.protocol),
                               ("local", e.local), ("peer", e.peer)):
                if value:
                    fields[key] = value
    return {conn: track_name(conn, **fields) for conn, fields in known.items()}


def to_trace_events(trace: Trace) -> dict[str, Any]:
    """Return the trace as a trace-event JSON object (``{"traceEvents": [...]}``)."""
    all_events = trace.events()
    track_names = _track_names(trace, all_events)
    origin = min((e.ts for e in all_events), default=0.0)
    out: list[dict[str, Any]] = [
        _meta("process_name", 0, f"inspector ({trace.header.get('reactor') or 'reactor'})"),
        _meta("thread_name", TID_LOOP, "loop turns"),
        _meta("thread_name", TID_TIMERS, "timers"),
        _meta("thread_name", TID_DEFERREDS, "Deferred callbacks"),
        _meta("thread_name", TID_PORTS, "listening ports"),
        _meta("thread_name", TID_WARNINGS, "warnings"),
    ]
    named_conns: set[int] = set()
    created_at: dict[int, float] = {}  # deferred -> ts of its creation slice
    last_ran: dict[int, float] = {}  # deferred -> ts of its latest callback slice
    waiting: dict[int, int] = {}  # deferred -> the deferred it waits on
    flow_ids = iter(range(1, 1 << 62))

    def conn_track(conn: int) -> int:
        tid = _CONN_TID_BASE + conn
        if conn not in named_conns:
            named_conns.add(conn)
            out.append(_meta("thread_name", tid, track_names.get(conn) or f"connection {conn}"))
        return tid

    def flow(start_tid: int, start_ts: float, end_tid: int, end_ts: float, name: str) -> None:
        if end_ts < start_ts:
            return  # a damaged recording's clock ran backwards: an arrow back in time is invalid
        fid = next(flow_ids)
        common = {"name": name, "cat": "deferred", "pid": PID, "id": fid}
        out.append({**common, "ph": "s", "ts": start_ts, "tid": start_tid})
        out.append({**common, "ph": "f", "bp": "e", "ts": end_ts, "tid": end_tid})

    for e in all_events:
        ts = _us(e.ts, origin)
        args = {"seq": e.seq, "turn": e.turn, "conn": e.conn, "reactor": e.reactor}
        if isinstance(e, ev.LoopTurn):
            out.append(_slice("loop turn", "loop", ts, e.duration, TID_LOOP, args, {
                "fds_ready": e.fds_ready, "timers_run": e.timers_run,
                "thread_calls": e.thread_calls}))
        elif isinstance(e, ev.TimerFired):
            out.append(_slice(e.name, "timer", ts, e.duration, TID_TIMERS, args, {
                "timer": e.timer, "lateness_ms": e.lateness * 1000}))
        elif isinstance(e, ev.DeferredCreated):
            created_at[e.deferred] = ts
            out.append(_slice(f"Deferred {e.deferred} created", "deferred", ts, 0.0,
                              TID_DEFERREDS, args, {"site": e.site, "function": e.function}))
        elif isinstance(e, ev.CallbackRan):
            out.append(_slice(e.name, "callback", ts, e.duration, TID_DEFERREDS, args, {
                "deferred": e.deferred, "input": e.input_kind, "output_type": e.output_type,
                "output": e.output_repr}))
            inner = waiting.pop(e.deferred, 0)
            if inner and inner in last_ran:
                flow(TID_DEFERREDS, last_ran[inner], TID_DEFERREDS, ts,
                     f"Deferred {e.deferred} resumed by {inner}")
            elif e.deferred in created_at and e.deferred not in last_ran:
                flow(TID_DEFERREDS, created_at[e.deferred], TID_DEFERREDS, ts,
                     f"Deferred {e.deferred}")
            last_ran[e.deferred] = ts
        elif isinstance(e, ev.DeferredChained):
            waiting[e.deferred] = e.waiting_on
        elif isinstance(e, ev.ConnectionOpened):
            tid = conn_track(e.conn)
            out.append(_instant("opened", "connection", ts, tid, args,
                                {"role": e.role, "local": e.local, "peer": e.peer}))
        elif isinstance(e, (ev.BytesIn, ev.BytesOut)):
            tid = conn_track(e.conn)
            name = "bytes in" if isinstance(e, ev.BytesIn) else "bytes out"
            out.append(_instant(name, "bytes", ts, tid, args, {
                "size": e.size, "data": e.data[:64].decode("latin-1")}))
        elif isinstance(e, ev.ConnectionState):
            out.append(_instant(e.state, "connection", ts, conn_track(e.conn), args,
                                {"previous": e.previous}))
        elif isinstance(e, ev.ConnectionClosed):
            out.append(_instant("closed", "connection", ts, conn_track(e.conn), args,
                                {"reason_type": e.reason_type, "reason": e.reason}))
        elif isinstance(e, ev.ProtocolMessage):
            tid = conn_track(e.conn) if e.conn else TID_DEFERREDS
            out.append(_instant(f"{e.message_kind} {e.direction}", "message", ts, tid, args,
                                {"text": e.text[:200]}))
        elif isinstance(e, (ev.PortStarted, ev.PortStopped, ev.PortRefused)):
            out.append(_instant(e.kind, "port", ts, TID_PORTS, args, {"address": e.address}))
        elif isinstance(e, ev.TraceWarning):
            out.append(_instant(e.category, "warning", ts, TID_WARNINGS, args,
                                {"message": e.message, "details": e.details}))
        elif isinstance(e, ev.SlowCallback):
            out.append(_instant(f"slow: {e.name}", "warning", ts, TID_WARNINGS, args,
                                {"duration_ms": e.duration * 1000, "location": e.location}))
    return {
        "traceEvents": out,
        "displayTimeUnit": "ms",
        "otherData": {k: v for k, v in trace.header.items()
                      if isinstance(v, (str, int)) or (isinstance(v, float) and math.isfinite(v))},
    }


def dumps(data: Any) -> str:
    """``data`` as strict JSON: a non-finite number (which JSON cannot express and
    Python would write as ``NaN``/``Infinity``) becomes ``null``, never invalid JSON."""
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    """A copy of ``value`` with every non-finite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def export(trace: Trace, path: str | os.PathLike[str]) -> int:
    """Write the trace-event JSON for ``trace`` to ``path``; return the number of events.

    The file is always strict JSON (see :func:`dumps`), whatever the trace holds.
    """
    data = to_trace_events(trace)
    text = dumps(data)
    with open(os.fspath(path), "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(text)
    return len(data["traceEvents"])


def _meta(name: str, tid: int, value: str) -> dict[str, Any]:
    return {"name": name, "ph": "M", "ts": 0, "pid": PID, "tid": tid, "args": {"name": value}}


def _slice(name: str, cat: str, ts: float, duration: float, tid: int,
           args: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    dur = max(_MIN_DUR_US, round(duration * 1e6, 3))
    return {"name": name, "cat": cat, "ph": "X", "ts": ts, "dur": dur, "pid": PID,
            "tid": tid, "args": {**args, **extra}}


def _instant(name: str, cat: str, ts: float, tid: int, args: dict[str, Any],
             extra: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "cat": cat, "ph": "i", "s": "t", "ts": ts, "pid": PID, "tid": tid,
            "args": {**args, **extra}}
