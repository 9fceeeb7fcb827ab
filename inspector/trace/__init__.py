"""The trace: what the framework does, as typed events in bounded buffers.

Tracing is off by default; :func:`enable` switches it on for the whole process (the
``--trace`` option and the window call it) and returns the :class:`Tracer`, whose
``trace`` holds the events, summaries and warnings. :func:`disable` switches it off,
after which every hook in the framework costs one ``is None`` check again.
"""

from __future__ import annotations

from inspector.trace.events import EVENT_TYPES, Event, event_from_json
from inspector.trace.live import TokenRequired, TraceServer, listen
from inspector.trace.model import ConnectionSummary, DeferredSummary, Trace, TraceConfig
from inspector.trace.perfetto import export as export_perfetto
from inspector.trace.perfetto import to_trace_events
from inspector.trace.recording import Recorder, RecordingError, load, record
from inspector.trace.session import raw_bytes, transcript, write_raw
from inspector.trace.tracer import Tracer
from inspector.trace.viewer import Attachment, ViewerState, attach

__all__ = [
    "EVENT_TYPES", "Event", "event_from_json", "ConnectionSummary", "DeferredSummary",
    "Trace", "TraceConfig", "Tracer", "Recorder", "RecordingError", "load", "record",
    "export_perfetto", "to_trace_events", "raw_bytes", "transcript", "write_raw",
    "enable", "disable", "active", "listen", "TraceServer", "TokenRequired", "attach", "Attachment",
    "ViewerState",
]

_active: Tracer | None = None


def enable(config: TraceConfig | None = None) -> Tracer:
    """Switch tracing on (or return the tracer already on) for the whole process."""
    global _active
    if _active is None:
        from inspector.trace import hooks

        tracer = Tracer(config)
        hooks.install(tracer)
        _active = tracer
    return _active


def disable() -> Tracer | None:
    """Switch tracing off; return the tracer that was on (its trace stays readable)."""
    global _active
    from inspector.trace import hooks

    hooks.uninstall()
    tracer, _active = _active, None
    return tracer


def active() -> Tracer | None:
    """The tracer that is on, or None."""
    return _active
