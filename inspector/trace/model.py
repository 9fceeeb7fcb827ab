"""The trace model: bounded event buffers plus per-connection and per-Deferred summaries.

A live :class:`~inspector.trace.tracer.Tracer` and a loaded recording build the same
:class:`Trace` the same way, by feeding events to :meth:`Trace.add`, so everything a
viewer shows live it can show for a recording.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Callable, Iterator

from inspector.trace import events as ev
from inspector.trace.buffers import Cursor, Feed, RingBuffer


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


@dataclass
class ConnectionSummary:
    """What is known about one connection, kept after it closes (bounded)."""

    id: int
    role: str = ""
    transport: str = "tcp"
    protocol: str = ""
    local: str = ""
    peer: str = ""
    reactor: str = ""
    state: str = "connecting"
    opened: float = 0.0
    closed: float | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    captured: int = 0
    reason_type: str = ""
    reason: str = ""
    #: (seq, ts, "in"/"out", data) payload chunks, up to the capture budget.
    chunks: list[tuple[int, float, str, bytes]] = field(default_factory=list)
    #: Protocol messages, newest ``messages_per_connection``.
    messages: list[ev.ProtocolMessage] = field(default_factory=list)
    messages_dropped: int = 0

    @property
    def truncated(self) -> bool:
        """True when some payload bytes were counted but not captured."""
        return self.captured < self.bytes_in + self.bytes_out


@dataclass
class CallbackSummary:
    """One entry of a Deferred's callback chain and, once run, how it went."""

    name: str
    kind: str
    ran: bool = False
    start: float = 0.0
    duration: float = 0.0
    input_kind: str = ""
    output_type: str = ""
    output_repr: str = ""
    turn: int = 0


@dataclass
class DeferredSummary:
    """A Deferred's life: where it was made, its chain, and its outcome."""

    id: int
    created: float
    site: str = ""
    function: str = ""
    reactor: str = ""
    conn: int = 0
    timer: int = 0
    turn: int = 0
    state: str = "pending"  # pending, fired, failed, cancelled
    fired: float | None = None
    result_type: str = ""
    result_repr: str = ""
    waiting_on: int = 0
    paused: int = 0
    cancelled: bool = False
    unhandled: bool = False
    callbacks: list[CallbackSummary] = field(default_factory=list)
    _next_to_run: int = 0


class Trace:
    """Events by kind in ring buffers, summaries, warnings and observer cursors."""

    def __init__(self, config: TraceConfig | None = None) -> None:
        self.config = config or TraceConfig()
        #: Recording header or live session facts (version, start time, reactor, host).
        self.header: dict[str, Any] = {}
        #: What went wrong loading a recording (empty for a live or intact trace).
        self.problems: list[str] = []
        self.buffers: dict[str, RingBuffer[ev.Event]] = {
            kind: RingBuffer(self.config.buffer_size(kind)) for kind in ev.EVENT_TYPES
        }
        self.feed = Feed(self.config.feed_size)
        self._connections: OrderedDict[int, ConnectionSummary] = OrderedDict()
        self.connections_dropped = 0
        self._closed_order: deque[int] = deque()
        self._pending: OrderedDict[int, DeferredSummary] = OrderedDict()
        self._finished: OrderedDict[int, DeferredSummary] = OrderedDict()
        self._source: Callable[[], None] | None = None
        self._readers: weakref.WeakSet[Cursor] = weakref.WeakSet()
        self.deferreds_dropped = 0
        self._waiters: OrderedDict[int, int] = OrderedDict()  # waited-on id -> waiting id
        self.ports: dict[int, ev.PortStarted] = {}
        self._seq = count(1)
        self._handlers: dict[str, Callable[[Any], None]] = {
            ev.ConnectionOpened.kind: self._on_opened,
            ev.ConnectionState.kind: self._on_state,
            ev.BytesIn.kind: self._on_bytes,
            ev.BytesOut.kind: self._on_bytes,
            ev.ConnectionClosed.kind: self._on_closed,
            ev.ProtocolMessage.kind: self._on_message,
            ev.PortStarted.kind: self._on_port_started,
            ev.PortStopped.kind: self._on_port_stopped,
            ev.DeferredCreated.kind: self._on_d_created,
            ev.CallbackAdded.kind: self._on_d_added,
            ev.CallbackRan.kind: self._on_d_ran,
            ev.DeferredChained.kind: self._on_d_chained,
            ev.DeferredPaused.kind: self._on_d_paused,
            ev.DeferredUnpaused.kind: self._on_d_unpaused,
            ev.DeferredFired.kind: self._on_d_fired,
            ev.DeferredFailed.kind: self._on_d_failed,
            ev.DeferredCancelled.kind: self._on_d_cancelled,
            ev.DeferredUnhandled.kind: self._on_d_unhandled,
        }
        self._feed_append = self.feed.append
        #: event class -> (append to its ring, its ring, summary handler or None)
        self._routes: dict[type, tuple[Callable[[Any], None], RingBuffer[ev.Event], Any]] = {
            cls: (self.buffers[kind]._items.append, self.buffers[kind], self._handlers.get(kind))
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

    def next_seq(self) -> int:
        """Reserve the next sequence number (the tracer numbers events as it makes them)."""
        return next(self._seq)

    def attach_source(self, source: Callable[[], None] | None) -> None:
        """Have :meth:`sync` call ``source`` (a live tracer's decoder) before every read."""
        self._source = source

    def sync(self) -> None:
        """Bring the trace up to date with what a live tracer captured but not yet decoded."""
        if self._source is not None:
            self._source()

    def count_dropped(self, kind: str, count: int = 1) -> None:
        """Count ``count`` events of ``kind`` that were captured but not kept."""
        self.buffers[kind].total += count

    def count_bytes(self, conn: int, direction: str, size: int, ts: float) -> None:
        """Add ``size`` to a connection's exact byte count without keeping the bytes."""
        summary = self._connections.get(conn)
        if summary is None:
            summary = ConnectionSummary(id=conn, opened=ts)
            self._connections[conn] = summary
        if direction == "in":
            summary.bytes_in += size
        else:
            summary.bytes_out += size

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

    # -- summaries ------------------------------------------------------------------

    def _connection(self, event: ev.Event) -> ConnectionSummary:
        summary = self._connections.get(event.conn)
        if summary is None:
            summary = ConnectionSummary(id=event.conn, opened=event.ts, reactor=event.reactor)
            self._connections[event.conn] = summary
        return summary

    def _on_opened(self, event: ev.ConnectionOpened) -> None:
        summary = self._connection(event)
        summary.role = event.role
        summary.transport = event.transport
        summary.protocol = event.protocol
        summary.local = event.local
        summary.peer = event.peer
        summary.opened = event.ts
        if event.role == "udp":
            summary.state = "connected"

    def _on_state(self, event: ev.ConnectionState) -> None:
        self._connection(event).state = event.state

    def _on_bytes(self, event: ev.BytesIn | ev.BytesOut) -> None:
        summary = self._connections.get(event.conn)
        if summary is None:
            summary = self._connection(event)
        if event.__class__ is ev.BytesIn:
            summary.bytes_in += event.size
            direction = "in"
        else:
            summary.bytes_out += event.size
            direction = "out"
        if event.data:
            summary.captured += len(event.data)
            summary.chunks.append((event.seq, event.ts, direction, event.data))

    def _on_closed(self, event: ev.ConnectionClosed) -> None:
        summary = self._connection(event)
        summary.closed = event.ts
        summary.reason_type = event.reason_type
        summary.reason = event.reason
        if summary.state not in ("closed", "failed"):
            summary.state = "failed" if event.reason_type not in _CLEAN_CLOSE else "closed"
        closed = self._closed_order
        closed.append(event.conn)
        while len(closed) > self.config.closed_connections:
            if self._connections.pop(closed.popleft(), None) is not None:
                self.connections_dropped += 1

    def _on_message(self, event: ev.ProtocolMessage) -> None:
        if not event.conn:
            return
        summary = self._connection(event)
        summary.messages.append(event)
        if len(summary.messages) > self.config.messages_per_connection:
            del summary.messages[0]
            summary.messages_dropped += 1

    def _on_port_started(self, event: ev.PortStarted) -> None:
        self.ports[event.port] = event

    def _on_port_stopped(self, event: ev.PortStopped) -> None:
        self.ports.pop(event.port, None)

    def _on_d_created(self, event: ev.DeferredCreated) -> None:
        self._pending[event.deferred] = DeferredSummary(
            id=event.deferred,
            created=event.ts,
            site=event.site,
            function=event.function,
            reactor=event.reactor,
            conn=event.conn,
            timer=event.timer,
            turn=event.turn,
        )
        if len(self._pending) > self.config.pending_deferreds:
            self._pending.popitem(last=False)
            self.deferreds_dropped += 1

    def _summary(self, deferred_id: int) -> DeferredSummary | None:
        return self._pending.get(deferred_id) or self._finished.get(deferred_id)

    def _on_d_added(self, event: ev.CallbackAdded) -> None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.callbacks.append(CallbackSummary(event.name, event.callback_kind))

    def _on_d_ran(self, event: ev.CallbackRan) -> None:
        summary = self._summary(event.deferred)
        if summary is None:
            return
        callbacks = summary.callbacks
        index = summary._next_to_run
        while index < len(callbacks) and callbacks[index].ran:
            index += 1
        if index < len(callbacks):
            entry = callbacks[index]
        else:
            entry = CallbackSummary(event.name, "callback")
            callbacks.append(entry)
        entry.ran = True
        entry.start = event.ts
        entry.duration = event.duration
        entry.input_kind = event.input_kind
        entry.output_type = event.output_type
        entry.output_repr = event.output_repr
        entry.turn = event.turn
        summary._next_to_run = index + 1
        summary.waiting_on = 0

    def _on_d_chained(self, event: ev.DeferredChained) -> None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.waiting_on = event.waiting_on
            self._waiters[event.waiting_on] = event.deferred
            if len(self._waiters) > self.config.pending_deferreds:
                self._waiters.popitem(last=False)

    def _release_waiter(self, deferred_id: int) -> None:
        """``deferred_id`` has a result: whoever waited on it waits no more."""
        outer = self._waiters.pop(deferred_id, None)
        if outer is not None:
            summary = self._summary(outer)
            if summary is not None and summary.waiting_on == deferred_id:
                summary.waiting_on = 0

    def _on_d_paused(self, event: ev.DeferredPaused) -> None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.paused += 1

    def _on_d_unpaused(self, event: ev.DeferredUnpaused) -> None:
        summary = self._summary(event.deferred)
        if summary is not None and summary.paused:
            summary.paused -= 1

    def _finish(self, deferred_id: int, ts: float) -> DeferredSummary | None:
        summary = self._pending.pop(deferred_id, None)
        if summary is None:
            return self._finished.get(deferred_id)
        summary.fired = ts
        self._finished[deferred_id] = summary
        if len(self._finished) > self.config.finished_deferreds:
            self._finished.popitem(last=False)
        return summary

    def _on_d_fired(self, event: ev.DeferredFired) -> None:
        self._release_waiter(event.deferred)
        summary = self._finish(event.deferred, event.ts)
        if summary is not None:
            if summary.state == "pending":
                summary.state = "fired"
            summary.result_type = event.result_type
            summary.result_repr = event.result_repr

    def _on_d_failed(self, event: ev.DeferredFailed) -> None:
        self._release_waiter(event.deferred)
        summary = self._finish(event.deferred, event.ts)
        if summary is not None:
            summary.state = "cancelled" if summary.cancelled else "failed"
            summary.result_type = event.error_type
            summary.result_repr = event.message

    def _on_d_cancelled(self, event: ev.DeferredCancelled) -> None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.cancelled = True

    def _on_d_unhandled(self, event: ev.DeferredUnhandled) -> None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.unhandled = True


#: Close reasons that mean "closed cleanly" rather than "failed".
_CLEAN_CLOSE = frozenset({"", "ConnectionDone"})


def _seq_of(event: ev.Event) -> int:
    return event.seq
