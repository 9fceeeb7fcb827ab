"""The trace model: bounded event buffers plus per-connection and per-Deferred summaries.

A live :class:`~inspector.trace.tracer.Tracer` and a loaded recording build the same
:class:`Trace` the same way, by feeding events to :meth:`Trace.add`, so everything a
viewer shows live it can show for a recording. The summaries are folded by the rules
of :mod:`inspector.trace.fold`, the same the window uses.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Callable, Iterator

from inspector.trace import events as ev
from inspector.trace.buffers import BytesRun, Cursor, Feed, LazyRingBuffer, RingBuffer
from inspector.trace.fold import (
    CallbackSummary,
    ConnectionSummary,
    DeferredSummary,
    Fold,
    FoldLimits,
)

__all__ = ["TraceConfig", "Trace", "ConnectionSummary", "CallbackSummary", "DeferredSummary"]


@dataclass
class TraceConfig:
    """Sizes and thresholds; every bound on memory lives here."""

    #: Events kept per kind (a kind not listed uses ``default_buffer``).
    buffer_sizes: dict[str, int] = field(default_factory=dict)
    default_buffer: int = 10_000
    #: Events kept for observers that have not drained yet.
    feed_size: int = 100_000
    #: Hook records held in compact form between reads. Past this they are decoded if
    #: anyone subscribed; else all but the newest sixteenth (those wait for a late
    #: reader) are dropped, bytes/loop-turn/message records counted exactly.
    raw_size: int = 8_192
    #: Payload bytes captured per connection (each direction counts); sizes stay exact.
    capture_bytes: int = 64 * 1024
    #: Protocol messages kept per connection.
    messages_per_connection: int = 1_000
    #: Closed connections and finished Deferreds kept as summaries.
    closed_connections: int = 1_000
    finished_deferreds: int = 2_000
    #: Pending Deferreds tracked at once (the oldest are forgotten past this).
    pending_deferreds: int = 20_000
    #: Live Deferreds the tracer can tell apart (id -> number); past this the oldest
    #: are forgotten and show up again as "created before tracing".
    tracked_deferreds: int = 200_000
    #: Warning thresholds (seconds).
    slow_callback: float = 0.05
    late_timer: float = 0.05
    pending_deferred: float = 30.0
    #: Bytes buffered unsent on one connection before a write-buffer warning.
    write_high_water: int = 1024 * 1024
    #: Characters of a result's repr kept.
    repr_limit: int = 80

    def buffer_size(self, kind: str) -> int:
        """How many events of ``kind`` to keep."""
        return self.buffer_sizes.get(kind, self.default_buffer)


class Trace(Fold):
    """Events by kind in ring buffers, summaries (by the shared :class:`Fold`), warnings
    and observer cursors."""

    def __init__(self, config: TraceConfig | None = None) -> None:
        self.config = config or TraceConfig()
        super().__init__(FoldLimits(
            closed_connections=self.config.closed_connections,
            pending_deferreds=self.config.pending_deferreds,
            finished_deferreds=self.config.finished_deferreds,
            messages_per_connection=self.config.messages_per_connection,
        ))
        #: Recording header or live session facts (version, start time, reactor, host).
        self.header: dict[str, Any] = {}
        #: What went wrong loading a recording (empty for a live or intact trace).
        self.problems: list[str] = []
        self.buffers: dict[str, RingBuffer[ev.Event]] = {
            kind: RingBuffer(self.config.buffer_size(kind)) for kind in ev.EVENT_TYPES
        }
        #: The TCP bytes rings, which also keep :class:`~inspector.trace.buffers.BytesRun`
        #: entries (see :meth:`add_run`).
        self.bytes_in = self.buffers[ev.BytesIn.kind] = LazyRingBuffer(
            self.config.buffer_size(ev.BytesIn.kind), inbound=True)
        self.bytes_out = self.buffers[ev.BytesOut.kind] = LazyRingBuffer(
            self.config.buffer_size(ev.BytesOut.kind), inbound=False)
        self.feed = Feed(self.config.feed_size)
        self._source: Callable[..., int | None] | None = None
        self._readers: weakref.WeakSet[Cursor] = weakref.WeakSet()
        self.ports: dict[int, ev.PortStarted] = {}
        self._seq = count(1)
        handlers: dict[type, Callable[[Any], Any]] = {
            ev.PortStarted: self._on_port_started,
            ev.PortStopped: self._on_port_stopped,
        }
        self._feed_append = self.feed.append
        #: event class -> (append to its ring, its ring, summary handler or None)
        self._routes: dict[type, tuple[Callable[[Any], None], RingBuffer[ev.Event], Any]] = {
            cls: (self.buffers[kind]._items.append, self.buffers[kind],
                  handlers.get(cls) or self.handler(cls))
            for kind, cls in ev.EVENT_TYPES.items()
        }

    # -- adding -------------------------------------------------------------------

    def add(self, event: ev.Event) -> ev.Event:
        """Store ``event`` (numbering it if it has no ``seq`` yet) and update summaries."""
        if not event.seq:
            event.seq = next(self._seq)
        else:
            self._seq = count(event.seq + 1)
        append, ring, handler = self._routes[event.__class__]
        append(event)
        ring.total += 1
        self._feed_append(event)
        if handler is not None:
            handler(event)
        return event

    def add_run(self, run: BytesRun) -> None:
        """Store the TCP bytes events of ``run``, numbered after every event so far, in
        the feed and the bytes rings without building them (summaries are the caller's:
        the live tracer keeps their byte counts from its running totals)."""
        self._seq = count(run.last + 1)
        self.feed.add_run(run)
        self.bytes_in.add_run(run)
        self.bytes_out.add_run(run)

    def add_runs(self, runs: list[BytesRun], inbound: int, outbound: int) -> None:
        """Keep the TCP bytes events of ``runs``, already in the feed and numbered, in
        the bytes rings (``inbound`` of their chunks arrived, ``outbound`` were written):
        a live tracer's decoded batch, counted per batch, not per run."""
        self.bytes_in.add_runs(runs, inbound)
        self.bytes_out.add_runs(runs, outbound)

    def next_seq(self) -> int:
        """Reserve the next sequence number (the tracer numbers events as it makes them)."""
        return next(self._seq)

    def attach_source(self, source: Callable[..., int | None] | None) -> None:
        """Have :meth:`sync` call ``source`` (a live tracer's decoder) before every read;
        ``source(limit)`` decodes only the oldest ``limit`` records and returns how many
        still wait (see :meth:`sync`)."""
        self._source = source

    def sync(self, limit: int | None = None) -> int:
        """Bring the trace up to date with what a live tracer captured but not yet decoded;
        with ``limit``, decode only its oldest ``limit`` records (a reader with a time
        budget). Return how many captured records still wait (0 with no live tracer)."""
        source = self._source
        if source is None:
            return 0
        return (source() if limit is None else source(limit)) or 0

    def count_dropped(self, kind: str, count: int = 1) -> None:
        """Count ``count`` events of ``kind`` that were captured but not kept."""
        self.buffers[kind].total += count

    # -- reading ------------------------------------------------------------------

    @property
    def connections(self) -> OrderedDict[int, ConnectionSummary]:
        """Connection id -> summary: open ones and the most recently closed."""
        self.sync()
        return self._connections

    @property
    def pending(self) -> OrderedDict[int, DeferredSummary]:
        """Deferred id -> summary of Deferreds still waiting for a result."""
        self.sync()
        return self._pending

    @property
    def finished(self) -> OrderedDict[int, DeferredSummary]:
        """Deferred id -> summary of recently finished Deferreds."""
        self.sync()
        return self._finished

    def subscribe(self, from_start: bool = False) -> Cursor:
        """Return a cursor whose ``drain()`` yields events that arrive from now on.

        With ``from_start`` the first drain also returns what the feed still holds.
        """
        self.sync()
        cursor = Cursor(self.feed, 0 if from_start else self.feed.last_seq, self.sync)
        self._readers.add(cursor)
        return cursor

    def has_readers(self) -> bool:
        """True while some cursor from :meth:`subscribe` is alive (a window, a recorder)."""
        return bool(self._readers)

    def events(self, *kinds: str) -> list[ev.Event]:
        """Return the kept events of the given kinds (all kinds if none) in ``seq`` order."""
        self.sync()
        chosen = kinds or tuple(self.buffers)
        merged: list[ev.Event] = []
        for kind in chosen:
            merged.extend(self.buffers[kind])
        merged.sort(key=_seq_of)
        return merged

    def dropped(self) -> dict[str, int]:
        """Events pushed out of each kind's buffer, for kinds that lost any."""
        self.sync()
        return {kind: ring.dropped for kind, ring in self.buffers.items() if ring.dropped}

    def totals(self) -> dict[str, int]:
        """Events seen per kind (kept or dropped), for kinds seen at least once."""
        self.sync()
        return {kind: ring.total for kind, ring in self.buffers.items() if ring.total}

    @property
    def warnings(self) -> RingBuffer[ev.Event]:
        """The kept warning events."""
        self.sync()
        return self.buffers[ev.TraceWarning.kind]

    def deferred(self, deferred_id: int) -> DeferredSummary | None:
        """The summary of the Deferred numbered ``deferred_id``, while it is kept."""
        self.sync()
        return self._pending.get(deferred_id) or self._finished.get(deferred_id)

    def deferreds(self) -> Iterator[DeferredSummary]:
        """Pending, then recently finished Deferreds."""
        self.sync()
        yield from self._pending.values()
        yield from self._finished.values()

    def chain(self, deferred_id: int) -> list[DeferredSummary]:
        """The Deferred and the ones it waited on, outermost first (the chain behind it)."""
        out: list[DeferredSummary] = []
        seen: set[int] = set()
        current = self.deferred(deferred_id)
        while current is not None and current.id not in seen:
            out.append(current)
            seen.add(current.id)
            current = self.deferred(current.waiting_on) if current.waiting_on else None
        return out

    # -- ports ------------------------------------------------------------------------

    def _on_port_started(self, event: ev.PortStarted) -> None:
        self.ports[event.port] = event

    def _on_port_stopped(self, event: ev.PortStopped) -> None:
        self.ports.pop(event.port, None)


def _seq_of(event: ev.Event) -> int:
    return event.seq
