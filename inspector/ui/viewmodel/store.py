"""The window's view-model: what the panels show, kept as plain Python objects.

The trace (live or loaded from a recording) is translated into calls on
:class:`Store`; the panels read the store on every refresh (about 30 Hz) and ask it
what changed since the last refresh, so a burst of events costs one repaint, never
one Qt signal per event. Connection and Deferred events go through
:meth:`Store.fold_event`, which folds them by the shared rules of
:mod:`inspector.trace.fold` (the ones ``inspector open`` uses) and shows the result, so
the window and the command line agree on every state, count and close reason.
Nothing here imports Qt.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from inspector.states import FINAL_STATES, ConnectionState
from inspector.trace import events as ev
from inspector.trace.events import STATES
from inspector.trace.fold import ConnectionSummary, DeferredSummary, Fold, FoldLimits

__all__ = ["STATES", "Store", "Connection", "DeferredInfo", "CallbackNode", "Chunk", "Message",
           "LogEntry", "Series"]

#: What the window's fold keeps: everything it shows, until the window lets go of it.
_WINDOW_LIMITS = FoldLimits(closed_connections=1 << 62, pending_deferreds=1 << 62,
                            finished_deferreds=1 << 62, details=False)

#: Bytes of session data kept per connection and direction (counts stay exact).
SESSION_BUDGET = 256 * 1024

#: How many finished Deferreds the panel keeps.
RECENT_DEFERREDS = 2000

#: How many closed connections the live list keeps by default (the newest); older ones
#: leave it and are counted, so 2,000 connections a second cannot grow it without bound
#: (a recording keeps every one).
CLOSED_LIMIT = 10_000


@dataclass(slots=True)
class Chunk:
    """A piece of one session's stream: when, which direction ("in"/"out"), the bytes."""

    time: float
    direction: str
    data: bytearray


@dataclass(slots=True)
class Message:
    """A protocol message a parser recognised in a session (an IRC command, a line)."""

    time: float
    direction: str
    kind: str
    summary: str
    params: tuple[str, ...] = ()


@dataclass(slots=True)
class Connection:
    """One row of the connections table and the stream behind it."""

    id: int
    role: str
    protocol: str
    local: str
    peer: str
    state: ConnectionState | str  # a member, or the text of a state a newer version wrote
    opened_at: float
    last_activity: float
    bytes_in: int = 0
    bytes_out: int = 0
    closed_at: float | None = None
    close_reason: str = ""
    service: str = ""
    chunks: list[Chunk] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    kept: int = 0
    rate: float = 0.0
    #: The other leg of a relayed session (a proxy's), 0 for none; this leg is the
    #: client's when ``link_role`` is "client", the upstream one when "upstream".
    linked: int = 0
    link_label: str = ""
    link_role: str = ""
    _window_bytes: int = 0

    @property
    def is_open(self) -> bool:
        """True until the connection is closed or failed."""
        return self.state not in FINAL_STATES


@dataclass(slots=True)
class CallbackNode:
    """One callback/errback pair on a Deferred's chain, and what happened when it ran."""

    name: str
    kind: str  # "callback", "errback" or "both"
    location: str = ""
    ran: bool = False
    branch: str = ""  # the side taken: "callback" or "errback"
    duration: float | None = None
    result_type: str = ""
    result_repr: str = ""
    failed: bool = False
    chained_to: int | None = None
    resumed: bool = False  # the Deferred it returned fired and the chain went on


@dataclass(slots=True)
class DeferredInfo:
    """One Deferred: where it was made, its chain, what it waits on, how it ended."""

    id: int
    created_at: float
    site: str
    function: str = ""
    #: pending, paused, succeeded, recovered (failed, then an errback handled it),
    #: failed, cancelled, abandoned (garbage-collected without ever firing)
    state: str = "pending"
    fired_at: float | None = None
    callbacks: list[CallbackNode] = field(default_factory=list)
    waits_on: int | None = None
    waits_on_text: str = ""
    result_repr: str = ""
    traceback: str = ""
    unhandled: bool = False
    connection_id: int | None = None
    next_step: int = 0
    failed_once: bool = False  # its result was a Failure at some point of the chain

    @property
    def duration(self) -> float | None:
        """Seconds from creation until it fired, None while it waits."""
        return None if self.fired_at is None else self.fired_at - self.created_at


@dataclass(slots=True)
class LogEntry:
    """A warning, error or notice for the log panel."""

    time: float
    level: str
    source: str
    message: str
    location: str = ""
    details: str = ""


class Series:
    """A bounded (time, value) series for a plot, cheap to append and to slice by time.

    With ``bin_width`` samples closer together than that are merged, keeping the
    largest value (a plot of loop turns wants the worst turn of each 0.1 s, not all
    of the thousands per second).
    """

    def __init__(self, limit: int = 20_000, bin_width: float = 0.0) -> None:
        self.times: deque[float] = deque(maxlen=limit)
        self.values: deque[float] = deque(maxlen=limit)
        self.bin_width = bin_width
        self.count = 0

    def append(self, when: float, value: float) -> None:
        """Add one sample (or fold it into the current bin)."""
        self.count += 1
        times = self.times
        if self.bin_width and times and when - times[-1] < self.bin_width:
            if value > self.values[-1]:
                self.values[-1] = value
            return
        times.append(when)
        self.values.append(value)

    def __len__(self) -> int:
        return len(self.times)

    def between(self, start: float, end: float) -> list[float]:
        """Return the values sampled within [start, end]."""
        times = list(self.times)
        lo = bisect.bisect_left(times, start)
        hi = bisect.bisect_right(times, end)
        return list(self.values)[lo:hi]


class Store:
    """Everything the window shows, with "what changed since the last refresh" lists."""

    def __init__(self, clock: float | None = None) -> None:
        self.connections: dict[int, Connection] = {}
        self.order: list[int] = []
        self.deferreds: dict[int, DeferredInfo] = {}
        self.deferred_order: list[int] = []
        #: The next sweep of finished Deferreds waits until the list is this long.
        self._sweep_at = RECENT_DEFERREDS
        self.log: list[LogEntry] = []
        self.loop_turns = Series(bin_width=0.1)
        self.timer_lateness = Series(bin_width=0.1)
        self.throughput = Series()
        self.connection_rates: dict[int, Series] = {}
        self.open_counts = Series()
        self.callback_durations: deque[float] = deque(maxlen=50_000)
        self.callback_times: deque[float] = deque(maxlen=50_000)
        self.time_range: tuple[float, float] | None = None
        self.origin = time.monotonic() if clock is None else clock
        self.now = self.origin
        self.dropped = 0
        self._open = 0
        self._closed_limit: int | None = None
        #: Closed connections let go of because of :attr:`closed_limit`, so far.
        self.closed_dropped = 0
        #: The connection the user is looking at: kept even when it is the oldest closed.
        self.pinned: int | None = None
        #: True while a recording loads into this store: the big tables then catch up a
        #: couple of times a second (and once when it ends) instead of on every refresh.
        self.loading = False
        self._closed: deque[int] = deque()  # closed connection ids, in the order they closed
        self._bin_start = self.origin
        self._bin_bytes = 0
        #: Ids of the connections that got bytes in the open bin or have a rate: the
        #: ones closing a bin looks at (looking at all 68,000 of a big recording's, once
        #: a second of its time, cost more than folding its bytes events).
        self._busy: set[int] = set()
        #: The shared fold (Qt-free) that decides states; the rows show what it decided.
        self.fold = Fold(_WINDOW_LIMITS)
        #: event class -> how the window shows the fold's result (what it returns is unused)
        shown: dict[type, Callable[[Any, Any], object]] = {
            ev.ConnectionOpened: self._show_opened,
            ev.ConnectionState: self._show_state,
            ev.BytesIn: self._show_bytes_in,
            ev.BytesOut: self._show_bytes_out,
            ev.ConnectionClosed: self._show_closed,
            ev.ConnectionTotals: self._show_totals,
            ev.ConnectionLinked: self._show_linked,
            ev.DeferredCreated: self._show_d_created,
            ev.CallbackAdded: self._show_d_added,
            ev.CallbackRan: self._show_d_ran,
            ev.DeferredChained: self._show_d_chained,
            ev.DeferredResumed: self._show_d_resumed,
            ev.DeferredPaused: self._show_deferred,
            ev.DeferredUnpaused: self._show_deferred,
            ev.DeferredFired: self._show_d_fired,
            ev.DeferredFailed: self._show_d_failed,
            ev.DeferredCancelled: self._show_deferred,
            ev.DeferredUnhandled: self._show_d_unhandled,
            ev.TraceWarning: self._show_d_abandoned,
        }
        #: event class -> (the fold's rule, how the window shows its result)
        self._routes: dict[type, tuple[Callable[[Any], Any], Callable[[Any, Any], object]]] = {
            cls: (rule, show) for cls, show in shown.items()
            if (rule := self.fold.handler(cls)) is not None
        }
        self.reset_changes()

    @property
    def closed_limit(self) -> int | None:
        """Closed connections kept at most (the newest); None keeps all (a recording)."""
        return self._closed_limit

    @closed_limit.setter
    def closed_limit(self, limit: int | None) -> None:
        self._closed_limit = limit
        # The fold's own list of closed ids is bounded with it (twice over, so it never
        # forgets one the list still shows): unbounded, it grew by an id per connection.
        kept = _WINDOW_LIMITS.closed_connections if limit is None else max(2 * limit, 1000)
        self.fold.limits = replace(self.fold.limits, closed_connections=kept)

    def set_origin(self, origin: float) -> None:
        """Measure the store's times from ``origin`` (a recording's start) on."""
        self.origin = self.now = self._bin_start = origin

    # -- the shared fold -------------------------------------------------------------

    def fold_event(self, event: ev.Event) -> None:
        """Fold a connection or Deferred event by the shared rules, then show the result.

        Other events are ignored (a warning other than "abandoned" changes nothing here).
        """
        route = self._routes.get(event.__class__)
        if route is not None:
            summary = route[0](event)
            if summary is not None:
                route[1](event, summary)

    def _row(self, summary: ConnectionSummary, when: float) -> Connection:
        """The row for a connection the fold knows (made if it was first seen mid-way)."""
        conn = self.connections.get(summary.id)
        if conn is None:
            conn = self.connection_opened(summary.id, when, summary.role, summary.protocol,
                                          summary.local, summary.peer, summary.state)
        return conn

    def _show_connection(self, conn: Connection, summary: ConnectionSummary, when: float) -> None:
        """Make the row say what the fold decided: state, byte counts, close reason."""
        state = summary.state
        if conn.state is not state and conn.state != state:
            # The reason is worded only for a close (most moves are to an open state).
            reason = summary.close_reason if state in FINAL_STATES else ""
            self._move(conn, when, state, reason)
        elif summary.closed is not None and conn.close_reason != (reason := summary.close_reason):
            conn.close_reason = reason
        # Never below what the row shows: the live feed may have raised it from the
        # tracer's exact totals while this fold missed events.
        bytes_in, bytes_out = summary.bytes_in, summary.bytes_out
        if bytes_in > conn.bytes_in:
            conn.bytes_in = bytes_in
        if bytes_out > conn.bytes_out:
            conn.bytes_out = bytes_out
        self.changed_connections.add(conn.id)

    def _show_opened(self, e: ev.ConnectionOpened, summary: ConnectionSummary) -> None:
        protocol = e.protocol
        if e.transport == "udp":
            protocol = f"{protocol} (udp)" if protocol else "udp"
        conn = self.connection_opened(e.conn, e.ts, e.role, protocol, e.local, e.peer, summary.state)
        if summary.linked:
            conn.linked, conn.link_label, conn.link_role = summary.linked, summary.link_label, summary.link_role
        self._show_connection(conn, summary, e.ts)

    def _show_state(self, e: ev.ConnectionState, summary: ConnectionSummary) -> None:
        conn = self.connections.get(summary.id) or self._row(summary, e.ts)
        self._show_connection(conn, summary, e.ts)

    def _show_bytes_in(self, e: ev.BytesIn, summary: ConnectionSummary) -> None:
        conn = self.connections.get(e.conn) or self._row(summary, e.ts)
        self._add_bytes(conn, e.ts, "in", e.size, e.data)
        if summary.bytes_in > conn.bytes_in:
            conn.bytes_in = summary.bytes_in

    def _show_bytes_out(self, e: ev.BytesOut, summary: ConnectionSummary) -> None:
        conn = self.connections.get(e.conn) or self._row(summary, e.ts)
        self._add_bytes(conn, e.ts, "out", e.size, e.data)
        if summary.bytes_out > conn.bytes_out:
            conn.bytes_out = summary.bytes_out

    def _show_closed(self, e: ev.ConnectionClosed, summary: ConnectionSummary) -> None:
        conn = self._row(summary, e.ts)
        reason = summary.close_reason
        self._move(conn, e.ts, summary.state, reason)
        conn.close_reason = reason
        self._show_connection(conn, summary, e.ts)

    def _show_totals(self, e: ev.ConnectionTotals, summary: ConnectionSummary) -> None:
        """Bytes whose events never came count when the totals say so (in the rates too)."""
        conn = self.connections.get(e.conn) or self._row(summary, e.ts)
        if summary.bytes_in > conn.bytes_in:
            self._add_bytes(conn, e.ts, "in", summary.bytes_in - conn.bytes_in, b"")
        if summary.bytes_out > conn.bytes_out:
            self._add_bytes(conn, e.ts, "out", summary.bytes_out - conn.bytes_out, b"")

    def _show_linked(self, e: ev.ConnectionLinked, summary: ConnectionSummary) -> None:
        """Both legs of a relayed session learn of each other (rows made if not seen yet)."""
        for leg, other, role in ((e.conn, e.other, "client"), (e.other, e.conn, "upstream")):
            conn = self.connections.get(leg)
            if conn is None:
                continue  # opened later: _show_opened copies the fold's link
            conn.linked, conn.link_label, conn.link_role = other, e.label, role
            self.changed_connections.add(leg)

    def _show_deferred(self, e: Any, summary: DeferredSummary) -> DeferredInfo | None:
        """Make the row say what the fold decided: state, when it fired, what it waits on."""
        info = self.deferreds.get(summary.id)
        if info is None:
            return None
        self.now = max(self.now, e.ts)
        info.state = summary.state
        info.fired_at = summary.fired
        info.waits_on = summary.waiting_on or None
        info.unhandled = summary.unhandled
        info.failed_once = summary.failed_once
        self.changed_deferreds.add(summary.id)
        return info

    def _show_d_created(self, e: ev.DeferredCreated, summary: DeferredSummary) -> None:
        info = self.deferred_created(e.deferred, e.ts, e.site, e.function, e.conn or None)
        if e.conn:
            info.waits_on_text = f"connection #{e.conn}"
        elif e.timer:
            info.waits_on_text = f"timer {e.timer}"

    def _show_d_added(self, e: ev.CallbackAdded, summary: DeferredSummary) -> None:
        self.deferred_callback_added(e.deferred, e.name, e.callback_kind)

    def _show_d_ran(self, e: ev.CallbackRan, summary: DeferredSummary) -> None:
        branch = "errback" if e.input_kind == "failure" else "callback"
        self.deferred_callback_ran(e.deferred, e.ts + e.duration, e.name, branch, e.duration,
                                   e.output_type, e.output_repr, e.output_type == "Failure")
        info = self._show_deferred(e, summary)
        if info is not None and summary.fired is not None and summary.state != "paused":
            info.result_repr = e.output_repr

    def _show_d_chained(self, e: ev.DeferredChained, summary: DeferredSummary) -> None:
        info = self._show_deferred(e, summary)
        if info is not None:
            node = self._last_ran(info)
            if node is not None and node.chained_to is None:
                node.chained_to = e.waiting_on

    def _show_d_resumed(self, e: ev.DeferredResumed, summary: DeferredSummary) -> None:
        info = self._show_deferred(e, summary)
        if info is None:
            return
        info.waits_on_text = ""
        for node in reversed(info.callbacks):
            if node.chained_to == e.waited_on:
                node.resumed = True
                break
        inner = self.deferreds.get(e.waited_on)
        if inner is not None and inner.result_repr:
            info.result_repr = inner.result_repr

    def _show_d_fired(self, e: ev.DeferredFired, summary: DeferredSummary) -> None:
        info = self._show_deferred(e, summary)
        if info is not None and e.result_repr:
            info.result_repr = e.result_repr

    def _show_d_failed(self, e: ev.DeferredFailed, summary: DeferredSummary) -> None:
        info = self._show_deferred(e, summary)
        if info is not None:
            info.result_repr = info.traceback = f"{e.error_type}: {e.message}"

    def _show_d_unhandled(self, e: ev.DeferredUnhandled, summary: DeferredSummary) -> None:
        info = self._show_deferred(e, summary)
        traceback = e.traceback or f"{e.error_type}: {e.message}"
        if info is not None:
            info.traceback = traceback
        self.add_log(e.ts, "ERROR", "deferred",
                     f"Unhandled error in Deferred #{e.deferred}: {e.error_type}: {e.message}",
                     info.site if info is not None else "", traceback)

    def _show_d_abandoned(self, e: ev.TraceWarning, summary: DeferredSummary) -> None:
        info = self._show_deferred(e, summary)
        if info is not None and summary.state == "abandoned":
            info.waits_on_text = ""
            info.result_repr = "garbage-collected without ever firing"

    # -- change tracking -------------------------------------------------------------

    def reset_changes(self) -> None:
        """Forget what changed; the window calls this after every panel refreshed."""
        self.new_connections: list[int] = []
        self.changed_connections: set[int] = set()
        self.grown_sessions: set[int] = set()
        self.new_deferreds: list[int] = []
        self.changed_deferreds: set[int] = set()
        self.new_log = 0
        self.log_trimmed = False
        self.removed_deferreds = False
        #: Connections let go of since the last refresh (beyond the closed limit).
        self.removed_connections: list[int] = []

    # -- connections -----------------------------------------------------------------

    def connection_opened(
        self,
        conn_id: int,
        when: float,
        role: str,
        protocol: str,
        local: str,
        peer: str,
        state: ConnectionState | str = ConnectionState.CONNECTING,
        service: str = "",
    ) -> Connection:
        """Record a new connection (a client connecting or a server accepting)."""
        self.now = max(self.now, when)
        conn = self.connections.get(conn_id)
        if conn is None:
            conn = Connection(conn_id, role, protocol, local, peer, state, when, when, service=service)
            self.connections[conn_id] = conn
            self.order.append(conn_id)
            self.new_connections.append(conn_id)
            if conn.is_open:
                self._open += 1
            else:
                self._closed.append(conn_id)
        else:
            was_open = conn.is_open
            conn.role, conn.protocol, conn.local, conn.peer = role, protocol, local, peer
            conn.state = state
            self._open += conn.is_open - was_open
            if was_open and not conn.is_open:
                self._closed.append(conn_id)
            self.changed_connections.add(conn_id)
        return conn

    def connection_state(self, conn_id: int, when: float, state: ConnectionState | str, reason: str = "") -> None:
        """Move a connection to ``state``; ``reason`` explains a close or failure."""
        conn = self.connections.get(conn_id)
        if conn is not None:
            self._move(conn, when, state, reason)

    def _move(self, conn: Connection, when: float, state: ConnectionState | str, reason: str) -> None:
        """:meth:`connection_state` for a row in hand."""
        if when > self.now:
            self.now = when
        # Straight-line (this runs for most connection events a recording holds).
        was_open = conn.state not in FINAL_STATES
        conn.state = state
        final = state in FINAL_STATES
        if was_open and final:
            self._open -= 1
            self._closed.append(conn.id)
        elif not was_open and not final:
            self._open += 1
        conn.last_activity = when
        if final:
            conn.closed_at = when
            conn.rate = 0.0
            if reason:
                conn.close_reason = reason
        self.changed_connections.add(conn.id)

    def connection_address(self, conn_id: int, local: str = "", peer: str = "") -> None:
        """Fill in addresses learnt after the connection was opened."""
        conn = self.connections.get(conn_id)
        if conn is None:
            return
        if local:
            conn.local = local
        if peer:
            conn.peer = peer
        self.changed_connections.add(conn_id)

    def connection_bytes(
        self, conn_id: int, when: float, direction: str, count: int, data: bytes = b""
    ) -> None:
        """Count ``count`` bytes in ("in") or out ("out"); keep ``data`` within the budget."""
        conn = self.connections.get(conn_id)
        if conn is not None:
            self._add_bytes(conn, when, direction, count, data)

    def _add_bytes(self, conn: Connection, when: float, direction: str, count: int, data: bytes) -> None:
        if when > self.now:
            self.now = when
        if direction == "in":
            conn.bytes_in += count
        else:
            conn.bytes_out += count
        conn.last_activity = when
        if not conn._window_bytes:
            self._busy.add(conn.id)
        conn._window_bytes += count
        self._bin_bytes += count
        if data and conn.kept < 2 * SESSION_BUDGET:
            data = data[: 2 * SESSION_BUDGET - conn.kept]
            chunks = conn.chunks
            if chunks and chunks[-1].direction == direction and when - chunks[-1].time < 0.05:
                chunks[-1].data += data
            else:
                chunks.append(Chunk(when, direction, bytearray(data)))
            conn.kept += len(data)
            self.grown_sessions.add(conn.id)
        self.changed_connections.add(conn.id)

    def connection_message(
        self,
        conn_id: int,
        when: float,
        direction: str,
        kind: str,
        summary: str,
        params: Iterable[str] = (),
    ) -> None:
        """Record a parsed protocol message on a connection."""
        conn = self.connections.get(conn_id)
        if conn is None:
            return
        if len(conn.messages) < 20_000:
            conn.messages.append(Message(when, direction, kind, summary, tuple(params)))
            self.grown_sessions.add(conn_id)

    def remove_closed(self) -> list[int]:
        """Forget every closed or failed connection (their sessions too); return their ids."""
        gone = [cid for cid in self.order if not self.connections[cid].is_open]
        if gone:
            for cid in gone:
                del self.connections[cid]
                self.connection_rates.pop(cid, None)
                self.fold.forget_connection(cid)
            self.order = [cid for cid in self.order if cid in self.connections]
            self.new_connections = [cid for cid in self.new_connections if cid in self.connections]
            self.changed_connections &= set(self.connections)
            self.grown_sessions &= set(self.connections)
        self._closed.clear()
        self.closed_dropped = 0
        return gone

    def trim_closed(self) -> list[int]:
        """Let go of the oldest closed connections beyond :attr:`closed_limit` (never an
        open one, nor :attr:`pinned`), count them in :attr:`closed_dropped`, list them in
        :attr:`removed_connections` for the panels; return their ids."""
        limit = self.closed_limit
        closed = self._closed
        if limit is None or len(closed) <= limit:
            return []
        connections = self.connections
        gone: list[int] = []
        going: set[int] = set()
        spared: list[int] = []
        while len(closed) > limit:
            cid = closed.popleft()
            conn = connections.get(cid)
            if conn is None or conn.is_open or cid in going:
                # Cleared already, (a newer version's state) open again, or listed twice
                # (it closed, was seen open again and closed again).
                continue
            going.add(cid)
            if cid == self.pinned:
                spared.append(cid)
                continue
            gone.append(cid)
        closed.extendleft(spared)  # the first to go once the user looks elsewhere
        if not gone:
            return gone
        rates = self.connection_rates
        forget = self.fold.forget_connection
        for cid in gone:
            del connections[cid]
            rates.pop(cid, None)
            forget(cid)
        self.closed_dropped += len(gone)
        self.order = [cid for cid in self.order if cid in connections]
        if self.new_connections:
            self.new_connections = [cid for cid in self.new_connections if cid in connections]
        self.changed_connections.difference_update(gone)
        self.grown_sessions.difference_update(gone)
        self.removed_connections.extend(gone)
        return gone

    def open_count(self) -> int:
        """How many connections are open now."""
        return self._open

    def sample(self, when: float) -> None:
        """Close a one-second bin: per-connection rates, total bytes/s, open count."""
        self.now = max(self.now, when)
        elapsed = when - self._bin_start
        if elapsed < 1.0:
            return
        rates = self.connection_rates
        connections = self.connections
        busy, self._busy = self._busy, set()
        for cid in sorted(busy):  # in the order they opened, as the list shows them
            conn = connections.get(cid)
            if conn is not None and (conn._window_bytes or conn.rate):
                rate = conn._window_bytes / elapsed
                conn._window_bytes = 0
                series = rates.get(conn.id)
                if not conn.is_open:
                    # Closed: its Rate cell stays empty; a plot it had gets its last bin.
                    # (Under churn, 2,000 connections a second closed within their first
                    # bin: each was rewritten and got a series of its own.)
                    if series is not None:
                        series.append(when, rate)
                    continue
                conn.rate = rate
                if rate:  # looked at again next bin, when its rate may fall to nothing
                    self._busy.add(cid)
                self.changed_connections.add(conn.id)
                if series is None:
                    series = rates[conn.id] = Series(limit=3600)
                series.append(when, rate)
        self.throughput.append(when, self._bin_bytes / elapsed)
        self.open_counts.append(when, self.open_count())
        self._bin_bytes = 0
        self._bin_start = when

    # -- Deferreds -------------------------------------------------------------------

    def deferred_created(
        self, def_id: int, when: float, site: str, function: str = "", connection_id: int | None = None
    ) -> DeferredInfo:
        """Record a new Deferred and where it was made."""
        self.now = max(self.now, when)
        info = DeferredInfo(def_id, when, site, function, connection_id=connection_id)
        if def_id not in self.deferreds:
            self.deferred_order.append(def_id)
            self.new_deferreds.append(def_id)
        self.deferreds[def_id] = info
        self._forget_old_deferreds()
        return info

    def _forget_old_deferreds(self) -> None:
        """Forget the oldest finished Deferreds beyond :data:`RECENT_DEFERREDS`.

        A sweep runs once the list grew by a quarter over what the last sweep kept, so
        its cost is spread over the Deferreds made since: with 10,000 pending ones (one
        per open connection) every new Deferred must not look at all of them again.
        """
        count = len(self.deferred_order)
        if count <= self._sweep_at:
            return
        excess = count - RECENT_DEFERREDS
        if excess <= count // 4:
            return
        keep: list[int] = []
        for def_id in self.deferred_order:
            info = self.deferreds[def_id]
            if excess > 0 and info.state not in ("pending", "paused") and not info.unhandled:
                del self.deferreds[def_id]
                self.fold.forget_deferred(def_id)
                excess -= 1
            else:
                keep.append(def_id)
        self._sweep_at = len(keep) + len(keep) // 4
        if len(keep) == count:
            return  # all still pending: nothing to forget, nothing for the panel to redo
        self.deferred_order = keep
        kept = set(keep)
        self.new_deferreds = [d for d in self.new_deferreds if d in kept]
        self.changed_deferreds &= kept
        self.removed_deferreds = True

    def deferred_callback_added(self, def_id: int, name: str, kind: str, location: str = "") -> None:
        """A callback, errback or both were added to a Deferred's chain."""
        info = self.deferreds.get(def_id)
        if info is None:
            return
        info.callbacks.append(CallbackNode(name, kind, location))
        self.changed_deferreds.add(def_id)

    def deferred_callback_ran(
        self,
        def_id: int,
        when: float,
        name: str | None,
        branch: str,
        duration: float,
        result_type: str,
        result_repr: str,
        failed: bool,
    ) -> None:
        """A callback on the chain ran: which side, how long, what it returned."""
        info = self.deferreds.get(def_id)
        self.callback_durations.append(duration)
        self.callback_times.append(when)
        if info is None:
            return
        node = self._match(info, name, branch)
        if node is not None:
            node.ran = True
            node.branch = branch
            node.duration = duration
            node.result_type = result_type
            node.result_repr = result_repr
            node.failed = failed
        self.changed_deferreds.add(def_id)

    @staticmethod
    def _match(info: DeferredInfo, name: str | None, branch: str) -> CallbackNode | None:
        """Find the step that just ran: the next one by that name, else the next on that side.

        Steps passed over (an errback while the result is a value, and so on) are
        skipped: they never ran.
        """
        steps = info.callbacks
        sides = ("callback", "both") if branch == "callback" else ("errback", "both")
        found = None
        if name is not None:
            for index in range(info.next_step, len(steps)):
                step = steps[index]
                # A callback/errback pair is named "callback / errback".
                pair = step.name.split(" / ")
                if step.kind in sides and (step.name == name or name in pair):
                    found = index
                    break
        if found is None:
            for index in range(info.next_step, len(steps)):
                if steps[index].kind in sides:
                    found = index
                    break
        if found is None:
            return None
        info.next_step = found + 1
        return steps[found]

    def deferred_chained(self, def_id: int, waits_on: int) -> None:
        """A callback returned another Deferred: this one now waits on ``waits_on``."""
        info = self.deferreds.get(def_id)
        if info is None:
            return
        info.waits_on = waits_on
        info.state = "paused"
        node = self._last_ran(info)
        if node is not None and node.chained_to is None:
            node.chained_to = waits_on
        self.changed_deferreds.add(def_id)

    def deferred_resumed(self, def_id: int, when: float, waited_on: int) -> None:
        """The Deferred ``def_id`` waited on fired: its chain goes on with that result."""
        info = self.deferreds.get(def_id)
        if info is None:
            return
        self.now = max(self.now, when)
        info.waits_on = None
        info.waits_on_text = ""
        for node in reversed(info.callbacks):
            if node.chained_to == waited_on:
                node.resumed = True
                break
        inner = self.deferreds.get(waited_on)
        failed = inner is not None and inner.state == "failed"
        if failed:
            info.failed_once = True
        info.state = "failed" if failed else ("recovered" if info.failed_once else "succeeded")
        if inner is not None and inner.result_repr:
            info.result_repr = inner.result_repr
        if info.fired_at is None:
            info.fired_at = when
        self.changed_deferreds.add(def_id)

    @staticmethod
    def _last_ran(info: DeferredInfo) -> CallbackNode | None:
        for node in reversed(info.callbacks):
            if node.ran:
                return node
        return None

    def deferred_waits(self, def_id: int, text: str) -> None:
        """Describe what a pending Deferred waits on (a connection, a timer, a thread)."""
        info = self.deferreds.get(def_id)
        if info is not None:
            info.waits_on_text = text
            self.changed_deferreds.add(def_id)

    def deferred_state(
        self, def_id: int, when: float, state: str, result_repr: str = "", traceback: str = ""
    ) -> None:
        """A Deferred fired, failed, was cancelled, paused or resumed."""
        info = self.deferreds.get(def_id)
        if info is None:
            return
        self.now = max(self.now, when)
        info.state = state
        if state == "failed":
            info.failed_once = True
        if state in ("succeeded", "failed", "cancelled", "abandoned") and info.fired_at is None:
            info.fired_at = when
        if state in ("pending", "abandoned"):
            info.waits_on = None
        if state == "abandoned":
            info.waits_on_text = ""
        if result_repr:
            info.result_repr = result_repr
        if traceback:
            info.traceback = traceback
        self.changed_deferreds.add(def_id)

    def deferred_unhandled(self, def_id: int, when: float, traceback: str, message: str = "") -> None:
        """A failed Deferred was garbage-collected with its error unhandled."""
        info = self.deferreds.get(def_id)
        if info is not None:
            info.unhandled = True
            info.state = "failed"
            if traceback:
                info.traceback = traceback
            self.changed_deferreds.add(def_id)
        site = info.site if info is not None else ""
        self.add_log(when, "ERROR", "deferred", message or "Unhandled error in Deferred", site, traceback)

    # -- timing and log --------------------------------------------------------------

    def loop_turn(self, when: float, duration: float) -> None:
        """One turn of the loop took ``duration`` seconds."""
        self.now = max(self.now, when)
        self.loop_turns.append(when, duration)

    def timer_fired(self, when: float, lateness: float) -> None:
        """A DelayedCall ran ``lateness`` seconds after its deadline."""
        self.timer_lateness.append(when, lateness)

    def add_log(
        self, when: float, level: str, source: str, message: str, location: str = "", details: str = ""
    ) -> None:
        """Append a warning, error or notice to the log panel."""
        self.log.append(LogEntry(when, level, source, message, location, details))
        self.new_log += 1
        if len(self.log) > 20_000:
            del self.log[:5_000]
            self.log_trimmed = True

    def select_time_range(self, time_range: tuple[float, float] | None) -> None:
        """Limit the other panels to what happened within ``time_range`` (None: no limit)."""
        self.time_range = time_range

    def in_range(self, start: float, end: float | None) -> bool:
        """True when the interval [start, end] (end None: still going) meets the range."""
        if self.time_range is None:
            return True
        lo, hi = self.time_range
        return start <= hi and (end is None or end >= lo)
