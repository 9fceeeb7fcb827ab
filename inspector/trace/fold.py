"""The one fold of trace events into connection and Deferred summaries.

``inspector open`` (through :class:`~inspector.trace.model.Trace`) and the window
(through :class:`~inspector.ui.viewmodel.store.Store`) both feed events to a :class:`Fold`, so
they agree, for the same events, on every connection's state, byte counts and close
reason and on every Deferred's state. The rules live here and nowhere else:

* A connection starts ``connecting`` (a UDP port ``connected``: it is usable at once),
  follows its state events, and when it closes becomes ``failed`` if the reason is an
  error and ``closed`` if it is a clean end (:data:`CLEAN_CLOSE`). States are
  :class:`~inspector.states.ConnectionState` members (a recording's strings are read
  as the members they name; one this version does not know is kept as its text). Byte counts are the
  sum of the byte events, or the totals a close or ``conn.totals`` event carries if
  those are larger (some byte events may have been dropped).
* A Deferred is ``pending`` until it has a result; ``paused`` while it waits on another
  Deferred or is paused; then ``succeeded``, ``failed``, ``recovered`` (it failed and an
  errback handled it), ``cancelled``, or ``abandoned`` (garbage-collected unfired).

Nothing here imports Qt.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

from inspector.states import CLEAN_CLOSE as CLEAN_CLOSE  # where the rule lives; named here too
from inspector.states import FINAL_STATES, ConnectionState, closed_state
from inspector.trace import events as ev

#: A recording's state strings -> the members they name (unknown ones are kept as text).
_STATE_OF: dict[str, ConnectionState] = {state.value: state for state in ConnectionState}

#: Deferred states in which it has no final result yet.
LIVE_STATES = frozenset({"pending", "paused"})

#: Every Deferred state, in the order a Deferred can pass through them.
DEFERRED_STATES = ("pending", "paused", "succeeded", "recovered", "failed", "cancelled", "abandoned")


@dataclass(slots=True)
class ConnectionSummary:
    """What is known about one connection, kept after it closes (bounded)."""

    id: int
    role: str = ""
    transport: str = "tcp"
    protocol: str = ""
    local: str = ""
    peer: str = ""
    reactor: str = ""
    #: A :class:`~inspector.states.ConnectionState` (or the text of one a newer version wrote).
    state: ConnectionState | str = ConnectionState.CONNECTING
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
    #: The other leg of a relayed session (a proxy's client or upstream leg), 0 for none.
    linked: int = 0
    #: What links them ("proxy 127.0.0.1:8000"); this leg is the client's when ``link_role``
    #: is "client", the upstream one when it is "upstream".
    link_label: str = ""
    link_role: str = ""

    @property
    def truncated(self) -> bool:
        """True when some payload bytes were counted but not captured."""
        return self.captured < self.bytes_in + self.bytes_out

    @property
    def close_reason(self) -> str:
        """Why it closed, as one line ("ConnectionLost: reset by peer"); empty while open."""
        return f"{self.reason_type}: {self.reason}" if self.reason else self.reason_type


@dataclass(slots=True)
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


@dataclass(slots=True)
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
    #: One of :data:`DEFERRED_STATES`.
    state: str = "pending"
    fired: float | None = None
    result_type: str = ""
    result_repr: str = ""
    waiting_on: int = 0
    paused: int = 0
    cancelled: bool = False
    unhandled: bool = False
    #: Its result was a Failure at some point of the chain.
    failed_once: bool = False
    callbacks: list[CallbackSummary] = field(default_factory=list)
    _next_to_run: int = 0

    @property
    def finished(self) -> bool:
        """True once it has its final result (or was abandoned)."""
        return self.state not in LIVE_STATES


@dataclass
class FoldLimits:
    """How much a :class:`Fold` keeps; every bound on its memory lives here."""

    #: Closed connections kept as summaries (older ones are forgotten).
    closed_connections: int = 1_000
    #: Unfinished Deferreds kept at once (the oldest are forgotten past this).
    pending_deferreds: int = 20_000
    #: Finished Deferreds kept.
    finished_deferreds: int = 2_000
    #: With ``details``: protocol messages kept per connection.
    messages_per_connection: int = 1_000
    #: Keep payload chunks, protocol messages and callback chains (``inspector open`` and
    #: exports want them; the window keeps its own).
    details: bool = True


class Fold:
    """Connection and Deferred summaries, updated event by event by the shared rules.

    :meth:`fold` takes one event and returns the summary it changed (None for an
    event about nothing it keeps). Subclasses and adapters read ``connections``,
    ``pending`` and ``finished``; :meth:`forget_connection` and
    :meth:`forget_deferred` let an adapter drop what it no longer shows.
    """

    def __init__(self, limits: FoldLimits | None = None) -> None:
        self.limits = limits or FoldLimits()
        self._connections: OrderedDict[int, ConnectionSummary] = OrderedDict()
        self._closed_order: deque[int] = deque()
        self.connections_dropped = 0
        self._pending: OrderedDict[int, DeferredSummary] = OrderedDict()
        self._finished: OrderedDict[int, DeferredSummary] = OrderedDict()
        self.deferreds_dropped = 0
        self._waiters: OrderedDict[int, int] = OrderedDict()  # waited-on id -> waiting id
        self._handlers: dict[type, Callable[[Any], Any]] = {
            ev.ConnectionOpened: self._on_opened,
            ev.ConnectionState: self._on_state,
            ev.BytesIn: self._on_bytes_in,
            ev.BytesOut: self._on_bytes_out,
            ev.ConnectionClosed: self._on_closed,
            ev.ConnectionTotals: self._on_totals,
            ev.ConnectionLinked: self._on_linked,
            ev.ProtocolMessage: self._on_message,
            ev.DeferredCreated: self._on_d_created,
            ev.CallbackAdded: self._on_d_added,
            ev.CallbackRan: self._on_d_ran,
            ev.DeferredChained: self._on_d_chained,
            ev.DeferredResumed: self._on_d_resumed,
            ev.DeferredPaused: self._on_d_paused,
            ev.DeferredUnpaused: self._on_d_unpaused,
            ev.DeferredFired: self._on_d_fired,
            ev.DeferredFailed: self._on_d_failed,
            ev.DeferredCancelled: self._on_d_cancelled,
            ev.DeferredUnhandled: self._on_d_unhandled,
            ev.TraceWarning: self._on_warning,
        }

    def handler(self, event_class: type) -> Callable[[Any], Any] | None:
        """The rule for events of ``event_class`` (None if the fold ignores them)."""
        return self._handlers.get(event_class)

    def fold(self, event: ev.Event) -> ConnectionSummary | DeferredSummary | None:
        """Apply one event; return the summary it changed, if any."""
        handler = self._handlers.get(event.__class__)
        return None if handler is None else handler(event)

    # -- connections -----------------------------------------------------------------

    def connection(self, conn_id: int) -> ConnectionSummary | None:
        """The summary of connection ``conn_id``, while it is kept."""
        return self._connections.get(conn_id)

    def forget_connection(self, conn_id: int) -> None:
        """Drop connection ``conn_id``'s summary (the adapter stopped showing it)."""
        self._connections.pop(conn_id, None)

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

    def _connection(self, event: ev.Event) -> ConnectionSummary:
        summary = self._connections.get(event.conn)
        if summary is None:
            summary = ConnectionSummary(id=event.conn, opened=event.ts, reactor=event.reactor)
            self._connections[event.conn] = summary
        return summary

    def _on_opened(self, event: ev.ConnectionOpened) -> ConnectionSummary:
        summary = self._connection(event)
        summary.role = event.role
        summary.transport = event.transport
        summary.protocol = event.protocol
        summary.local = event.local
        summary.peer = event.peer
        summary.opened = event.ts
        if event.role == "udp" and summary.state == ConnectionState.CONNECTING:
            summary.state = ConnectionState.CONNECTED  # a UDP port is usable as soon as it is bound
        return summary

    def _on_state(self, event: ev.ConnectionState) -> ConnectionSummary:
        summary = self._connections.get(event.conn) or self._connection(event)
        summary.state = _STATE_OF.get(event.state, event.state)
        return summary

    def _on_bytes_in(self, event: ev.BytesIn) -> ConnectionSummary:
        summary = self._connections.get(event.conn) or self._connection(event)
        summary.bytes_in += event.size
        if event.data and self.limits.details:
            summary.captured += len(event.data)
            summary.chunks.append((event.seq, event.ts, "in", event.data))
        return summary

    def _on_bytes_out(self, event: ev.BytesOut) -> ConnectionSummary:
        summary = self._connections.get(event.conn) or self._connection(event)
        summary.bytes_out += event.size
        if event.data and self.limits.details:
            summary.captured += len(event.data)
            summary.chunks.append((event.seq, event.ts, "out", event.data))
        return summary

    def _on_closed(self, event: ev.ConnectionClosed) -> ConnectionSummary:
        summary = self._connections.get(event.conn) or self._connection(event)
        summary.closed = event.ts
        summary.reason_type = event.reason_type
        summary.reason = event.reason
        # The close carries the exact totals, even if some byte events were never seen.
        if event.bytes_in > summary.bytes_in:
            summary.bytes_in = event.bytes_in
        if event.bytes_out > summary.bytes_out:
            summary.bytes_out = event.bytes_out
        if summary.state not in FINAL_STATES:
            summary.state = closed_state(event.reason_type)
        closed = self._closed_order
        closed.append(event.conn)
        while len(closed) > self.limits.closed_connections:
            if self._connections.pop(closed.popleft(), None) is not None:
                self.connections_dropped += 1
        return summary

    def _on_totals(self, event: ev.ConnectionTotals) -> ConnectionSummary:
        """Exact totals for a point in the stream: the events before it are all counted,
        so a count below them missed some (never lowered: a repeated snapshot repeats them)."""
        summary = self._connection(event)
        if event.bytes_in > summary.bytes_in:
            summary.bytes_in = event.bytes_in
        if event.bytes_out > summary.bytes_out:
            summary.bytes_out = event.bytes_out
        return summary

    def _on_linked(self, event: ev.ConnectionLinked) -> ConnectionSummary:
        """Both legs learn of each other; the event's ``conn`` is the client's leg."""
        summary = self._connection(event)
        summary.linked, summary.link_label, summary.link_role = event.other, event.label, "client"
        other = self._connections.get(event.other)
        if other is None:
            other = ConnectionSummary(id=event.other, opened=event.ts, reactor=event.reactor)
            self._connections[event.other] = other
        other.linked, other.link_label, other.link_role = event.conn, event.label, "upstream"
        return summary

    def _on_message(self, event: ev.ProtocolMessage) -> ConnectionSummary | None:
        if not event.conn:
            return None
        summary = self._connection(event)
        if self.limits.details:
            summary.messages.append(event)
            if len(summary.messages) > self.limits.messages_per_connection:
                del summary.messages[0]
                summary.messages_dropped += 1
        return summary

    # -- Deferreds -------------------------------------------------------------------

    def deferred(self, deferred_id: int) -> DeferredSummary | None:
        """The summary of the Deferred numbered ``deferred_id``, while it is kept."""
        return self._summary(deferred_id)

    def _summary(self, deferred_id: int) -> DeferredSummary | None:
        return self._pending.get(deferred_id) or self._finished.get(deferred_id)

    def forget_deferred(self, deferred_id: int) -> None:
        """Drop a Deferred's summary (the adapter stopped showing it)."""
        if self._pending.pop(deferred_id, None) is None:
            self._finished.pop(deferred_id, None)

    def _place(self, summary: DeferredSummary) -> None:
        """Keep ``summary`` with the pending or the finished ones, as its state says."""
        did = summary.id
        if summary.state in LIVE_STATES:
            if did in self._finished:
                del self._finished[did]
                self._pending[did] = summary
        elif did in self._pending:
            del self._pending[did]
            self._finished[did] = summary
            if len(self._finished) > self.limits.finished_deferreds:
                self._finished.popitem(last=False)

    def _settle(self, summary: DeferredSummary, ts: float, failed: bool) -> None:
        """The chain's current result is a value (or a Failure when ``failed``)."""
        if failed:
            summary.failed_once = True
        if summary.fired is None:
            summary.fired = ts
        if summary.cancelled and summary.failed_once:
            summary.state = "cancelled"  # the CancelledError, handled or not
        else:
            summary.state = "failed" if failed else ("recovered" if summary.failed_once else "succeeded")
        self._place(summary)

    def _got_result(self, summary: DeferredSummary, ts: float, failed: bool) -> None:
        """``callback``/``errback`` gave it its result; a paused one stays paused.

        Whoever waited on it waits no more (its chain goes on: "d.resumed" follows).
        """
        outer_id = self._waiters.pop(summary.id, None)
        if outer_id is not None:
            outer = self._summary(outer_id)
            if outer is not None and outer.waiting_on == summary.id:
                outer.waiting_on = 0
        if summary.paused:
            summary.fired = ts if summary.fired is None else summary.fired
            summary.failed_once = summary.failed_once or failed
        else:
            self._settle(summary, ts, failed)

    def _on_d_created(self, event: ev.DeferredCreated) -> DeferredSummary:
        self.forget_deferred(event.deferred)
        summary = DeferredSummary(
            id=event.deferred, created=event.ts, site=event.site, function=event.function,
            reactor=event.reactor, conn=event.conn, timer=event.timer, turn=event.turn,
        )
        self._pending[event.deferred] = summary
        if len(self._pending) > self.limits.pending_deferreds:
            self._pending.popitem(last=False)
            self.deferreds_dropped += 1
        return summary

    def _on_d_added(self, event: ev.CallbackAdded) -> DeferredSummary | None:
        summary = self._summary(event.deferred)
        if summary is not None and self.limits.details:
            summary.callbacks.append(CallbackSummary(event.name, event.callback_kind))
        return summary

    def _on_d_ran(self, event: ev.CallbackRan) -> DeferredSummary | None:
        summary = self._summary(event.deferred)
        if summary is None:
            return None
        if self.limits.details:
            self._record_run(summary, event)
        failed = event.output_type == "Failure"
        if failed or event.input_kind == "failure":
            summary.failed_once = True
        # A callback of its own ran: it waits on another Deferred no more (a recording
        # made before "d.resumed" existed says so only this way).
        resumed = summary.state == "paused" and not summary.paused
        summary.waiting_on = 0
        if summary.fired is not None and (summary.state != "paused" or resumed):
            # The current result is what the latest callback returned: a value after a
            # Failure means an errback handled it ("recovered", not plain success).
            summary.result_type = event.output_type
            summary.result_repr = event.output_repr
            self._settle(summary, event.ts, failed)
        elif resumed:
            summary.state = "pending"
            self._place(summary)
        return summary

    @staticmethod
    def _record_run(summary: DeferredSummary, event: ev.CallbackRan) -> None:
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

    def _on_d_chained(self, event: ev.DeferredChained) -> DeferredSummary | None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.waiting_on = event.waiting_on
            summary.state = "paused"
            self._place(summary)
            self._waiters[event.waiting_on] = event.deferred
            if len(self._waiters) > self.limits.pending_deferreds:
                self._waiters.popitem(last=False)
        return summary

    def _on_d_resumed(self, event: ev.DeferredResumed) -> DeferredSummary | None:
        summary = self._summary(event.deferred)
        if summary is None:
            return None
        summary.waiting_on = 0
        inner = self._summary(event.waited_on)
        failed = inner is not None and inner.state == "failed"
        if inner is not None and inner.result_repr:
            summary.result_type = inner.result_type
            summary.result_repr = inner.result_repr
        self._settle(summary, event.ts, failed)
        return summary

    def _on_d_paused(self, event: ev.DeferredPaused) -> DeferredSummary | None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.paused += 1
            summary.state = "paused"
            self._place(summary)
        return summary

    def _on_d_unpaused(self, event: ev.DeferredUnpaused) -> DeferredSummary | None:
        summary = self._summary(event.deferred)
        if summary is None:
            return None
        if summary.paused:
            summary.paused -= 1
        if summary.state == "paused":
            summary.waiting_on = 0
            if summary.fired is None:
                summary.state = "pending"
                self._place(summary)
            else:
                self._settle(summary, event.ts, False)
        return summary

    def _on_d_fired(self, event: ev.DeferredFired) -> DeferredSummary | None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.result_type = event.result_type
            summary.result_repr = event.result_repr
            self._got_result(summary, event.ts, False)
        return summary

    def _on_d_failed(self, event: ev.DeferredFailed) -> DeferredSummary | None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.result_type = event.error_type
            summary.result_repr = event.message
            self._got_result(summary, event.ts, True)
        return summary

    def _on_d_cancelled(self, event: ev.DeferredCancelled) -> DeferredSummary | None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.cancelled = True  # the CancelledError that follows settles it
        return summary

    def _on_d_unhandled(self, event: ev.DeferredUnhandled) -> DeferredSummary | None:
        summary = self._summary(event.deferred)
        if summary is not None:
            summary.unhandled = True
            summary.failed_once = True
            if not summary.cancelled:
                summary.state = "failed"
            self._place(summary)
        return summary

    def _on_warning(self, event: ev.TraceWarning) -> DeferredSummary | None:
        if event.category != "abandoned":
            return None
        summary = self._summary(event.subject)
        if summary is not None and summary.state in LIVE_STATES:
            summary.state = "abandoned"
            summary.waiting_on = 0
            if summary.fired is None:
                summary.fired = event.ts
            self._place(summary)
        return summary
