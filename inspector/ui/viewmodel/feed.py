"""Translate trace events into the window's :class:`~inspector.ui.viewmodel.store.Store`.

The same translation serves the live trace (drained about 30 times a second) and a
recording loaded from disk, so the window shows a recording exactly as it showed the
session live.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from inspector.states import FINAL_STATES, ConnectionState
from inspector.trace import events as ev
from inspector.trace.buffers import BytesRun, EventBatch
from inspector.ui.viewmodel.store import CLOSED_LIMIT, Store


def _message(store: Store, e: ev.ProtocolMessage) -> None:
    text = e.text
    kind = e.message_kind or e.protocol
    params: tuple[str, ...] = ()
    if e.message_kind == "irc":
        # The protocol's own sans-IO parser, so the window shows what the client and
        # server understood (tags, prefix and CTCP included); a line they rejected
        # keeps the kind "irc" and shows no parameters.
        parsed = _irc_parser()(text)
        if parsed:
            kind, params = parsed.command, tuple(parsed.params)
    store.connection_message(e.conn, e.ts, e.direction, kind, text, params)


def _irc_parser() -> Callable[[str], Any]:
    """``parse_message`` of the IRC package, imported when the first IRC message arrives
    (the package is loaded only for sessions that use it)."""
    global _parse_irc
    if _parse_irc is None:
        from inspector.protocols.irc.message import parse_message

        _parse_irc = parse_message
    return _parse_irc


_parse_irc: Callable[[str], Any] | None = None


def _port_refused(store: Store, e: ev.PortRefused) -> None:
    store.add_log(e.ts, "ERROR", "port", f"Cannot listen on {e.address}: {e.error}")


def _port_started(store: Store, e: ev.PortStarted) -> None:
    store.add_log(e.ts, "INFO", "port", f"Listening on {e.address} ({e.transport}) for {e.factory}")


def _port_stopped(store: Store, e: ev.PortStopped) -> None:
    store.add_log(e.ts, "INFO", "port", f"Stopped listening on {e.address}")


def _loop_turn(store: Store, e: ev.LoopTurn) -> None:
    store.loop_turn(e.ts + e.duration, e.duration)


def _timer_fired(store: Store, e: ev.TimerFired) -> None:
    store.timer_fired(e.ts, e.lateness)
    # A timer's function is a callback too: it counts in the duration histogram.
    store.callback_durations.append(e.duration)
    store.callback_times.append(e.ts)


def _warning(store: Store, e: ev.TraceWarning) -> None:
    if e.category == "unhandled":
        return  # the unhandled event itself is logged with its traceback
    if e.category == "abandoned":
        # Shown in the Deferreds list (not a pending one any more), not logged: the
        # inspector's own plumbing drops Deferreds too, and that is no news.
        store.fold_event(e)
        return
    level = "WARNING"
    if e.category == "pending" and e.subject in store.deferreds:
        # "Deferred 5 pending for 60 s; waits for callback() or errback()": the column
        # says what it waits on, not its own number (which read as waiting on itself).
        store.deferred_waits(e.subject, e.message.partition("; ")[2] or e.message)
    location = e.details if e.category == "slow" else ""
    details = "" if e.category == "slow" else e.details
    store.add_log(e.ts, level, f"trace.{e.category}", e.message, location, details)


HANDLERS: dict[str, Callable[[Store, Any], None]] = {
    # Connections and Deferreds: the shared fold (inspector.trace.fold), shown by the store.
    ev.ConnectionOpened.kind: Store.fold_event,
    ev.ConnectionState.kind: Store.fold_event,
    ev.BytesIn.kind: Store.fold_event,
    ev.BytesOut.kind: Store.fold_event,
    ev.ConnectionClosed.kind: Store.fold_event,
    ev.ConnectionTotals.kind: Store.fold_event,
    ev.ConnectionLinked.kind: Store.fold_event,
    ev.ProtocolMessage.kind: _message,
    ev.PortStarted.kind: _port_started,
    ev.PortStopped.kind: _port_stopped,
    ev.PortRefused.kind: _port_refused,
    ev.DeferredCreated.kind: Store.fold_event,
    ev.CallbackAdded.kind: Store.fold_event,
    ev.CallbackRan.kind: Store.fold_event,
    ev.DeferredChained.kind: Store.fold_event,
    ev.DeferredResumed.kind: Store.fold_event,
    ev.DeferredPaused.kind: Store.fold_event,
    ev.DeferredUnpaused.kind: Store.fold_event,
    ev.DeferredFired.kind: Store.fold_event,
    ev.DeferredFailed.kind: Store.fold_event,
    ev.DeferredCancelled.kind: Store.fold_event,
    ev.DeferredUnhandled.kind: Store.fold_event,
    ev.LoopTurn.kind: _loop_turn,
    ev.TimerFired.kind: _timer_fired,
    ev.TraceWarning.kind: _warning,
}


def apply(store: Store, events: Iterable[ev.Event]) -> int:
    """Feed ``events`` (in order) into ``store``; return how many were applied."""
    handlers = HANDLERS
    applied = 0
    for event in events:
        handler = handlers.get(event.kind)
        if handler is not None:
            handler(store, event)
            applied += 1
    return applied


#: Events that change nothing a connection's byte counts depend on: TCP bytes waiting
#: to be added (see :func:`apply_batch`) may be added after them.
_NEUTRAL = frozenset({ev.LoopTurn.kind, ev.TimerFired.kind, ev.DeferredCreated.kind,
                      ev.CallbackAdded.kind, ev.CallbackRan.kind, ev.DeferredChained.kind,
                      ev.DeferredResumed.kind, ev.DeferredPaused.kind, ev.DeferredUnpaused.kind,
                      ev.DeferredFired.kind, ev.DeferredFailed.kind, ev.DeferredCancelled.kind})


def apply_batch(store: Store, batch: EventBatch) -> int:
    """:func:`apply` for a drained batch: runs of TCP bytes events with no payload kept
    (the usual case once connections' capture budgets are spent) are summed per
    connection side and added at once (:func:`_add_sums`), before the next event that
    could depend on them, without building an event per chunk."""
    handlers = HANDLERS
    applied = 0
    keep = batch.shared
    sums: dict[Any, list[Any]] = {}  # side -> [bytes, ts of its last chunk]
    rows, fold = store.connections, store.fold
    known: set[Any] = set()  # sides whose row and summary exist (until a connection event)
    for entry in batch.entries():
        if entry.__class__ is BytesRun:
            if entry.data is None and _known(entry, rows, fold, known):
                _sum_run(entry, sums)
                applied += len(entry.sides)
                continue
            if sums:
                _add_sums(store, sums)
            applied += apply(store, entry.events(keep))
            continue
        kind = entry.kind
        if kind not in _NEUTRAL:
            if sums:
                _add_sums(store, sums)
            known.clear()
        handler = handlers.get(kind)
        if handler is not None:
            handler(store, entry)
            applied += 1
    if sums:
        _add_sums(store, sums)
    return applied


def _known(run: BytesRun, rows: dict[int, Any], fold: Any, known: set[Any]) -> bool:
    """True if every connection of ``run`` has its row and its summary already (the
    sides found so are added to ``known``, which is not checked again)."""
    if known.issuperset(run.sides):
        return True
    for side in set(run.sides).difference(known):
        cid = side.tag[0]
        if cid not in rows or fold.connection(cid) is None:
            return False
        known.add(side)
    return True


def _sum_run(run: BytesRun, sums: dict[Any, list[Any]]) -> None:
    ts = run.ts
    get = sums.get
    for side, size in zip(run.sides, run.sizes):
        entry = get(side)
        if entry is None:
            sums[side] = [size, ts]
        else:
            entry[0] += size
            entry[1] = ts


def _add_sums(store: Store, sums: dict[Any, list[Any]]) -> None:
    """Add summed TCP bytes to the store as their events would have been, one update per
    connection side (the chunks' last time is the side's last activity); empty ``sums``."""
    fold, rows = store.fold, store.connections
    for side, (size, ts) in sums.items():
        cid, inbound = side.tag[0], side.tag[1]
        direction = "in" if inbound else "out"
        fold.count_bytes(cid, direction, size, ts)
        store.connection_bytes(cid, ts, direction, size)
        summary, row = fold.connection(cid), rows[cid]
        # As the store shows a bytes event: never below what the fold counted.
        if summary is None:  # pragma: no cover - _known checked it
            continue
        if inbound:
            if summary.bytes_in > row.bytes_in:
                row.bytes_in = summary.bytes_in
        elif summary.bytes_out > row.bytes_out:
            row.bytes_out = summary.bytes_out
    sums.clear()


#: Seconds of event translation per refresh at most, so one frame's work stays bounded
#: under a flood; the rest waits for the next refresh (the trace's feed counts any it
#: had to drop), applied in slices of ``SLICE`` events.
POLL_BUDGET = 0.008
SLICE = 500

#: Events the window may trail the trace by. A process too busy to let the window keep
#: up (a churn of thousands of connections a second on a loaded machine) would otherwise
#: show the past, later and later, until the trace's feed overflowed; past this the window
#: skips to the newest :data:`CATCH_UP` events, counts the rest as missed and takes open
#: connections, closes and byte counts from the trace's summaries at once.
LAG_LIMIT = 30_000
CATCH_UP = 3_000

#: The close reason of a connection whose close was among the events the window missed.
MISSED_CLOSE = "closed (the window fell behind and missed how)"
#: What a Deferred shows whose result was among the events the window missed, once the
#: trace no longer knows it either.
MISSED_RESULT = "(the window fell behind and missed its result)"


class LiveFeed:
    """Drains a live :class:`~inspector.trace.model.Trace` into a store on each poll.

    A window that falls more than :data:`LAG_LIMIT` events behind skips ahead (counted
    as missed) and takes what it skipped from the trace's summaries. A live store keeps
    the newest :data:`~inspector.ui.viewmodel.store.CLOSED_LIMIT` closed connections
    (unless told otherwise): a steady churn would grow it without end.
    """

    def __init__(self, trace: Any, store: Store, from_start: bool = True) -> None:
        self.trace = trace
        self.store = store
        if store.closed_limit is None:
            store.closed_limit = CLOSED_LIMIT
        self.cursor = trace.subscribe(from_start=from_start)
        self._behind = False
        self._reconciled = 0.0
        #: Events skipped to catch up (see :data:`LAG_LIMIT`), counted as missed.
        self.skipped = 0

    def poll(self, now: float) -> int:
        """Apply what arrived since the last poll and close the store's rate bins."""
        deadline = time.perf_counter() + POLL_BUDGET
        applied = 0
        cursor = self.cursor
        caught_up = False
        while True:
            events = cursor.drain(SLICE)
            applied += apply_batch(self.store, events)
            if len(events) < SLICE:
                break
            backlog = self.trace.feed.last_seq - cursor.position
            if backlog > LAG_LIMIT:
                cursor.position += backlog - CATCH_UP
                self.skipped += backlog - CATCH_UP
                caught_up = True
            if time.perf_counter() > deadline:
                break
        missed = cursor.missed + self.skipped
        if missed != self.store.dropped:
            self.store.dropped = missed
            self._behind = True
        # Once a second while behind; a quarter of a second after skipping ahead (it
        # looks at every listed connection: 10,000 of them take a few milliseconds).
        if self._behind and now - self._reconciled >= (0.25 if caught_up else 1.0):
            self._reconcile(now)
        self.store.trim_closed()
        self.store.sample(now)
        self.store.now = max(self.store.now, now)
        return applied

    def _reconcile(self, now: float) -> None:
        """Take open connections' byte counts and closes, and Deferreds' results, from
        the trace's summaries, which stay exact when the window falls behind and misses
        events (about once a second, only then): a connection whose close was missed must
        not be listed as open, nor a Deferred whose result was missed as pending."""
        self._reconcile_deferreds()
        self._reconciled = now
        self._behind = self.cursor.missed + self.skipped > 0
        summaries = self.trace.connections
        store = self.store
        for summary in summaries.values():
            if summary.id not in store.connections and summary.state not in FINAL_STATES:
                # Opened among the missed events and still open: listed all the same.
                protocol = summary.protocol
                if summary.transport == "udp":
                    protocol = f"{protocol} (udp)" if protocol else "udp"
                conn = store.connection_opened(summary.id, summary.opened or store.now, summary.role, protocol,
                                               summary.local, summary.peer, summary.state)
                conn.bytes_in, conn.bytes_out = summary.bytes_in, summary.bytes_out
        for conn in list(store.connections.values()):
            if not conn.is_open:
                continue
            summary = summaries.get(conn.id)
            if summary is None or summary.state in FINAL_STATES:
                # Closed: the trace keeps every open connection's summary, so one it no
                # longer has was closed and forgotten (its close among the missed events).
                if summary is None:
                    store.connection_state(conn.id, store.now, ConnectionState.CLOSED, MISSED_CLOSE)
                else:
                    store.connection_state(conn.id, summary.closed or store.now, summary.state,
                                           summary.close_reason or MISSED_CLOSE)
                continue
            if summary.bytes_in > conn.bytes_in or summary.bytes_out > conn.bytes_out:
                conn.bytes_in = max(conn.bytes_in, summary.bytes_in)
                conn.bytes_out = max(conn.bytes_out, summary.bytes_out)
                store.changed_connections.add(conn.id)

    def _reconcile_deferreds(self) -> None:
        """List the Deferreds the trace has pending that the window missed the making of,
        and give those it lists as waiting that the trace has seen finish their results."""
        pending = self.trace.pending
        finished = self.trace.finished
        store = self.store
        for summary in pending.values():
            if summary.id not in store.deferreds:
                store.deferred_created(summary.id, summary.created, summary.site, summary.function,
                                       summary.conn or None)
        for info in list(store.deferreds.values()):
            if info.state not in ("pending", "paused") or info.id in pending:
                continue
            summary = finished.get(info.id)
            if summary is None:  # the trace keeps the latest finished ones only ...
                if not self.trace.deferreds_dropped:  # ... and every pending one, unless it had too many
                    store.deferred_state(info.id, store.now, "succeeded", MISSED_RESULT)
            else:
                store.deferred_state(info.id, summary.fired or store.now, summary.state, summary.result_repr)
