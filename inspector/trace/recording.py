"""Recording a trace to JSON Lines and loading it back into a :class:`Trace`.

A recording is a header line, one line per event, and ``{"meta": {...}}`` lines with
facts learned later (missed events, the reactor, the end time). Loading only parses
JSON and checks each event against its declared fields: nothing in the file is ever
executed, imported or unpickled. A damaged file loads up to the damage and says where.
"""

from __future__ import annotations

import json
import os
import time
from typing import IO, Any

from inspector.trace.events import EventFormatError, event_from_json
from inspector.trace.model import Trace, TraceConfig

FORMAT = "inspector-trace"
VERSION = 1


class RecordingError(ValueError):
    """The file is not an Inspector trace recording at all (bad or missing header)."""


class Recorder:
    """Streams the events of ``trace`` to ``path`` as they arrive.

    Call :meth:`flush` now and then (:func:`record` has the tracer do it about five
    times a second) and :meth:`close` at the end. An event the recorder could not
    write in time (it fell behind the observer feed) is counted in a meta line.
    """

    def __init__(self, trace: Trace, path: str | os.PathLike[str]) -> None:
        self.trace = trace
        self.path = os.fspath(path)
        self._file: IO[str] | None = open(self.path, "w", encoding="utf-8")
        self._cursor = trace.subscribe(from_start=True)
        self._missed = 0
        self.written = 0
        self._reactor = trace.header.get("reactor") or ""
        header = {"format": FORMAT, "version": VERSION}
        header.update({k: v for k, v in trace.header.items() if k not in header})
        header.setdefault("start_time", time.time())
        self._write(header)

    def _write(self, obj: dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
        self._file.write("\n")

    def flush(self) -> int:
        """Write what arrived since the last flush; return how many events were written."""
        if self._file is None:
            return 0
        events = self._cursor.drain()
        write = self._file.write
        dumps = json.dumps
        for event in events:
            write(dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False))
            write("\n")
        if self._cursor.missed != self._missed:
            self._missed = self._cursor.missed
            self._write({"meta": {"missed": self._missed}})
        reactor = self.trace.header.get("reactor")
        if reactor and reactor != self._reactor:
            # Known once the loop ran: say so early, in case the file is cut short later.
            self._reactor = reactor
            self._write({"meta": {"reactor": reactor}})
        self._file.flush()
        self.written += len(events)
        return len(events)

    def close(self) -> None:
        """Flush, write the closing facts (reactor, end time, drops) and close the file."""
        if self._file is None:
            return
        self.flush()
        self._write(
            {
                "meta": {
                    "end_time": time.time(),
                    "reactor": self.trace.header.get("reactor", ""),
                    "dropped": self.trace.dropped(),
                    "missed": self._missed,
                }
            }
        )
        self._file.close()
        self._file = None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._file is None


def record(path: str | os.PathLike[str], tracer: Any) -> Recorder:
    """Start recording ``tracer``'s trace to ``path``; the tracer flushes it periodically."""
    recorder = Recorder(tracer.trace, path)
    tracer.add_periodic(recorder.flush)
    return recorder


def load(path: str | os.PathLike[str], config: TraceConfig | None = None) -> Trace:
    """Load a recording into a new :class:`Trace`.

    The trace's ``problems`` list says where loading stopped if the file is truncated
    or corrupt; everything before the damage is loaded. A file without a valid header
    raises :class:`RecordingError`.
    """
    trace = Trace(config)
    name = os.fspath(path)
    with open(name, "rb") as handle:
        first = handle.readline()
        header = _parse_header(first, name)
        trace.header.update(header)
        number = 1
        for raw in handle:
            number += 1
            problem = _load_line(trace, raw, number)
            if problem is not None:
                loaded = sum(trace.totals().values())
                trace.problems.append(
                    f"{name}, line {number}: {problem}; loaded the {loaded} events "
                    "before it and ignored the rest"
                )
                break
    return trace


def _parse_header(first: bytes, name: str) -> dict[str, Any]:
    if not first:
        raise RecordingError(f"{name} is empty, not an Inspector trace recording")
    try:
        header = json.loads(first)
    except (ValueError, UnicodeDecodeError):
        raise RecordingError(f"{name} does not start with a JSON header line: "
                             "not an Inspector trace recording") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RecordingError(f"{name} is not an Inspector trace recording (no '{FORMAT}' header)")
    version = header.get("version")
    if version != VERSION:
        raise RecordingError(f"{name} is format version {version!r}; this Inspector reads "
                             f"version {VERSION}")
    return header


def _load_line(trace: Trace, raw: bytes, number: int) -> str | None:
    """Add one line's content to ``trace``; return a description of the damage, if any."""
    if not raw.endswith(b"\n"):
        return "the file ends in the middle of a line (truncated recording)"
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not valid JSON ({exc})"
    if isinstance(obj, dict) and "meta" in obj and len(obj) == 1:
        meta = obj["meta"]
        if not isinstance(meta, dict):
            return "a meta line whose value is not an object"
        trace.header.update(meta)
        return None
    try:
        event = event_from_json(obj)
    except (EventFormatError, TypeError) as exc:
        return f"not a valid event ({exc})"
    if event.seq <= trace.feed.last_seq:
        return f"event numbers go backwards ({event.seq} after {trace.feed.last_seq})"
    trace.add(event)
    return None
