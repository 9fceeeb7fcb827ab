"""Serving this process's trace to viewers over the network: :func:`listen`.

``listen(reactor, "tcp:6669:interface=127.0.0.1", token=None)`` switches tracing on (if
it is off) and serves the trace to any number of viewers (``inspector attach``, the
window). The wire format is the recording format, so one reader serves files and live
processes (:mod:`inspector.trace.stream`):

* the viewer first sends one line ``{"token": "..."}`` (``null`` when it has none);
* the server answers with the recording header line (``{"format": "inspector-trace",
  "version": 1, ..., "live": true, "pid": N}``), then a snapshot of what the trace's
  ring buffers hold (the newest events, plus the opening of every connection still open,
  every listening port and every pending Deferred, so a late viewer's view is complete),
  then new events as lines, about ten times a second;
* serving takes at most a share of the process's CPU time (``cpu_budget``, 5%): each
  tenth of a second the server earns that share of the CPU time the loop used, and a
  flush sends only as many of the newest hot events (bytes, loop turns, messages,
  timers) as what it has earned pays for, at what an event cost in the flushes before;
  the older ones are dropped by the tracer in its cheap mode and counted, while
  connection, port and Deferred events go out as long as the server keeps up with them;
  viewers are told the count, as below;
* a viewer that reads too slowly is not waited for: while its connection's write buffer
  is over the transport's high-water mark (the transport pauses us, as a producer), its
  events are dropped and counted, and ``{"meta": {"missed": N}}`` (the running count)
  comes before the next events it gets;
* connections stay true when events are missed: a process that makes connection, port
  and Deferred events faster than the budget sends them leaves the server behind; past
  ``MAX_BEHIND`` events it skips what waits (counted as missed) rather than drift ever
  further, and, as for a viewer that reads again after a pause, adds to the trace where
  the connections and Deferreds stand: the close of every connection the viewer was
  shown open that closed meanwhile, the opening and state of every connection open now,
  the result of every Deferred it was shown pending that got one, and the making of
  every Deferred pending now (what began and ended in between is among the missed);
* byte counts stay exact: where an open connection's bytes events were left out (by the
  budget, a slow viewer, or a late viewer's snapshot), the server adds a ``conn.totals``
  event with its exact totals to the trace, after everything decoded, so a viewer gets
  it in order, after every bytes event it counts (and a late viewer's snapshot holds
  each open connection's latest);
* a viewer with a missing or wrong token (when one is required) gets one line
  ``{"refused": "REASON"}`` and is closed.

A token is required whenever the endpoint binds anything but a loopback address or a
Unix socket: :func:`listen` raises :class:`TokenRequired` otherwise. The viewers' own
connections, and the server's flush timer, are left out of what is sent.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import sys
import time
from time import monotonic  # the events' clock
from typing import Any, cast

from zope.interface import implementer

from inspector.defer import Deferred, maybeDeferred, succeed
from inspector.failure import Failure
from inspector.interfaces import IPushProducer, IReactorTime, IStreamServerEndpoint, ReactorLike
from inspector.protocol import Factory, Protocol, connectionDone
from inspector.states import ConnectionState
from inspector.trace import events as ev
from inspector.trace.buffers import Cursor
from inspector.trace.recording import EventEncoder, recording_header
from inspector.trace.stream import MAX_HELLO_BYTES, parse_hello, refusal_line
from inspector.trace.util import address_text, callable_name

__all__ = [
    "DEFAULT_PORT", "DEFAULT_ENDPOINT", "TokenRequired", "TraceServer", "listen", "server_endpoint",
]

log = logging.getLogger("inspector.trace")

#: tokio-console's port, which users of live consoles know.
DEFAULT_PORT = 6669
DEFAULT_ENDPOINT = f"tcp:{DEFAULT_PORT}:interface=127.0.0.1"
#: Seconds between two rounds of byte totals for connections whose bytes events were
#: dropped, and the most connections one round covers (the rest wait for the next).
TOTALS_INTERVAL = 1.0
MAX_TOTALS = 1_000

#: Seconds between two sends of new events, and the longest wait when over budget.
FLUSH_INTERVAL = 0.1
MAX_INTERVAL = 1.0
#: Seconds a viewer has to send its hello (with the token) when one is required.
HELLO_TIMEOUT = 10.0
#: Events encoded per flush at most (the rest go in the next flush, or are missed if
#: the trace's observer feed overflows meanwhile): keeps each flush short, and bounds
#: what one write adds to a viewer's buffer past the transport's high-water mark.
MAX_BATCH = 2_000
#: Events a flush may find waiting unsent before it stops catching up: past this (the
#: process makes connection, port and Deferred events faster than its budget sends
#: them) the server skips what waits, counts it as missed, and brings its viewers up to
#: date instead (every connection they show, and every open one, as it stands now), so
#: a viewer stays within about a second of the process rather than drifting minutes
#: behind and then losing events from the middle of its connections' lives.
MAX_BEHIND = 5 * MAX_BATCH
#: Hot events a flush may send at least. A flush happens once nothing is owed, or when
#: a second has passed without one; what it overspends, the flushes after it pay back.
MIN_BATCH = 20
#: The share of the loop's CPU time the server may spend serving the trace. Each look
#: (every FLUSH_INTERVAL) earns ``CPU_BUDGET`` times the CPU time the loop used since
#: the last (a quiet loop is counted as using QUIET_SHARE of the time that passed, so
#: its viewers still get events promptly); a flush spends what it cost. The hot events a
#: flush decodes and sends are those its credit pays for; the tracer drops the older ones
#: (counted) as it does with nobody reading, timer events among them (``hot_timers``), and
#: keeps connection, port and Deferred events.
CPU_BUDGET = 0.05
QUIET_SHARE = 0.05
#: What a flush is first assumed to cost per hot event sent (CPU seconds); then measured
#: (sending, and the share of the tracer's sync that decoded what is sent: dropping the
#: rest is what tracing costs anyway when nobody reads).
EVENT_COST = 20e-6
#: The reason a restated close gives when the trace no longer knows how the connection
#: ended (it keeps the latest closes only).
MISSED_CLOSE = "closed while this viewer was behind (how it ended was among the events it missed)"
_CLOSED = ConnectionState.CLOSED.value
#: The result a restated Deferred gives when the trace no longer knows it.
MISSED_RESULT = "(its result was among the events this viewer missed)"
#: Former viewers' connections remembered, to leave out of later viewers' snapshots.
FORMER_VIEWERS = 1024

#: Events in a late viewer's snapshot besides the openings it always gets (encoding
#: them holds the loop for a moment, once per viewer).
SNAPSHOT_EVENTS = 5_000


class TokenRequired(ValueError):
    """Serving the trace beyond loopback without a token: anyone could read it."""


def server_endpoint(reactor: ReactorLike | None, endpoint: str | IStreamServerEndpoint | None) -> IStreamServerEndpoint:
    """``endpoint`` as a server endpoint: a string (``tcp:6669``, ``unix:/path``; a bare
    port number means ``tcp:PORT:interface=127.0.0.1``), an endpoint object, or None for
    :data:`DEFAULT_ENDPOINT`. ValueError for a string that is no endpoint."""
    from inspector.endpoints import serverFromString

    if endpoint is None:
        endpoint = DEFAULT_ENDPOINT
    if isinstance(endpoint, str):
        text = endpoint.strip()
        if text.isdigit():
            text = f"tcp:{text}:interface=127.0.0.1"
        # reactor None: only parsed (to check the string), never listened on.
        endpoint = serverFromString(cast(ReactorLike, reactor), text)
        if getattr(endpoint, "maxPacketSize", None) is not None or type(endpoint).__name__.startswith("UDP"):
            raise ValueError(f"the trace is served over a stream (tcp, unix), not {text!r}")
    return cast(IStreamServerEndpoint, endpoint)


def is_local(endpoint: Any) -> bool:
    """True if ``endpoint`` only accepts connections from this machine (loopback, Unix)."""
    if type(endpoint).__name__.startswith("UNIX"):
        return True
    interface = getattr(endpoint, "_interface", None)
    if not isinstance(interface, str):
        return False
    try:
        return ipaddress.ip_address(interface.split("%", 1)[0]).is_loopback
    except ValueError:
        return interface == "localhost"


def listen(reactor: ReactorLike, endpoint: str | IStreamServerEndpoint | None = None,
           token: str | None = None, *, secrets: bool = False, cpu_budget: float = CPU_BUDGET) -> Deferred:
    """Serve this process's trace on ``endpoint`` (default ``tcp:6669:interface=127.0.0.1``).

    Switches tracing on if it is off. Returns a Deferred of the :class:`TraceServer`
    (its ``address`` says where it listens; ``stopListening()`` ends it), which fails
    like the endpoint's ``listen`` (the port is taken ...). Raises
    :class:`TokenRequired` at once if the endpoint binds beyond loopback without a
    ``token``, and ValueError for a string that is no endpoint. IRC passwords are masked
    in what is sent unless ``secrets``. ``cpu_budget`` is the share of the process's
    time serving may take (:data:`CPU_BUDGET`); past it, viewers get fewer events and a
    count of the rest.
    """
    from inspector import trace

    server_ep = server_endpoint(reactor, endpoint)
    if not token and not is_local(server_ep):
        raise TokenRequired(
            f"serving the trace on {endpoint or server_ep!r} lets other machines read it: "
            "give a token (--trace-token or INSPECTOR_TRACE_TOKEN), or bind to 127.0.0.1"
        )
    tracer = trace.enable()
    server = TraceServer(reactor, tracer, token or None, secrets=secrets)
    server.cpu_budget = cpu_budget
    listening = server_ep.listen(_ViewerFactory(server))

    def started(port: Any) -> TraceServer:
        server._started(port)
        return server

    return listening.addCallback(started)


class TraceServer:
    """Serves one tracer's trace to the viewers connected to one listening port."""

    def __init__(self, reactor: IReactorTime, tracer: Any, token: str | None, *,
                 secrets: bool = False) -> None:
        self.reactor = reactor
        self.tracer = tracer
        self.token = token
        self.port: Any = None
        #: The viewers being served (past their hello).
        self.viewers: list[_Viewer] = []
        self._connected: set[_Viewer] = set()  # every viewer connection, greeted or not
        self._new: list[_Viewer] = []
        self._encoder = EventEncoder(secrets)
        self._secrets = secrets
        self._cursor: Any = None
        self._missed = 0
        self._own: set[int] = set()  # connection numbers of viewers (left out of what is sent)
        #: Former viewers' connections (the newest FORMER_VIEWERS), still left out: a later
        #: viewer's snapshot holds the trace's newest events, theirs among them.
        self._former: dict[int, None] = {}
        self._forget: list[int] = []
        self._timer: Any = None
        self._tick_name = callable_name(self._tick)
        #: Events a late viewer's snapshot holds besides the openings it always gets.
        self.snapshot_limit = SNAPSHOT_EVENTS
        #: The share of CPU time serving may take (see :data:`CPU_BUDGET`).
        self.cpu_budget = CPU_BUDGET
        self._cost = 0.0  # CPU seconds the last flush took
        self._credit = 0.0  # CPU seconds serving may still spend (negative: owed)
        self._event_cost = EVENT_COST  # CPU seconds per hot event sent, as last measured
        self._sent = 0  # events the last flush drained
        self._cpu_mark = 0.0  # the loop thread's CPU clock at the last look (after a flush)
        self._looked_at = 0.0  # and the reactor's clock
        self._flushed_at = 0.0  # the reactor's clock at the last flush
        self._seen = 0  # events the trace had seen (kept or dropped) at the last flush
        self._last_seq = 0  # and the newest one it kept
        #: Events fell out of the feed unread: every open connection's totals are due.
        self._all_uncounted = False
        #: The connections the stream sent so far showed as open (opened, not closed),
        #: each with the last state it showed ("" before any): what a viewer that got
        #: every event shows.
        self._shown_open: dict[int, str] = {}
        #: The Deferreds it showed made and not yet given a result (or abandoned).
        self._shown_pending: set[int] = set()
        self._totals_at = 0.0  # the reactor's clock when totals were last added

    @property
    def address(self) -> str:
        """Where it listens, as ``127.0.0.1:6669`` (or a Unix path)."""
        return address_text(self.port.getHost()) if self.port is not None else ""

    def _started(self, port: Any) -> None:
        self.port = port
        log.info("serving the trace on %s", self.address)

    def stopListening(self) -> Deferred:
        """Stop accepting viewers and close the ones connected; a Deferred of when the
        port is closed."""
        for viewer in list(self._connected):
            viewer.transport.loseConnection()
        self._stop_flushing()
        port, self.port = self.port, None
        if port is None:
            return succeed(None)
        return maybeDeferred(port.stopListening)

    # -- viewers --------------------------------------------------------------------

    def own_connection(self, viewer: _Viewer, conn: int) -> None:
        """``viewer`` connected on connection ``conn``: leave its events out of what is sent."""
        self._connected.add(viewer)
        if conn:
            self._own.add(conn)

    def add_viewer(self, viewer: _Viewer) -> None:
        """``viewer`` passed its hello: it gets the header and snapshot at the next flush."""
        self._new.append(viewer)
        if self._cursor is None:
            # Not a subscriber: the tracer stays in its cheap mode between our flushes
            # (a subscriber makes it decode every record as it comes).
            trace = self.tracer.trace
            trace.sync()
            self._cursor = Cursor(trace.feed, trace.feed.last_seq)
            self.tracer.uncounted = set()  # whose bytes a drop counts: their totals follow
            self.tracer.hot_timers = True  # timer events go under the budget too
            self._shown_open = {}
            self._shown_pending = set()
            self._missed = 0
            self._seen, self._last_seq = _seen(trace), trace.feed.last_seq
            self._credit = 0.0
            self._cpu_mark = time.thread_time()
            self._looked_at = self._flushed_at = self.reactor.seconds()
        if self._timer is None:
            self._timer = self.reactor.callLater(0, self._tick)

    def remove_viewer(self, viewer: _Viewer, conn: int) -> None:
        """``viewer`` is gone; its connection's close is still left out, then forgotten."""
        if viewer in self.viewers:
            self.viewers.remove(viewer)
        if viewer in self._new:
            self._new.remove(viewer)
        self._connected.discard(viewer)
        if conn:
            self._forget.append(conn)
        if not self.viewers and not self._new:
            self._cursor = None  # no reader left: the trace need not keep events for us
            self.tracer.uncounted = None
            self.tracer.hot_timers = False

    def _stop_flushing(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # -- sending --------------------------------------------------------------------

    def _tick(self) -> None:
        self._timer = None
        # Earn the budget's share of the CPU time the loop used since the last look (a
        # quiet loop counts as using QUIET_SHARE of the time that passed), up to what a
        # full batch costs; once nothing is owed, send the newest events the credit pays
        # for (MIN_BATCH at least: later flushes pay back what that overspent). A second
        # without a flush sends anyway.
        cpu, now = time.thread_time(), self.reactor.seconds()
        used = max(cpu - self._cpu_mark, QUIET_SHARE * (now - self._looked_at))
        self._credit = min(self._credit + self.cpu_budget * used, self._event_cost * MAX_BATCH)
        self._cpu_mark, self._looked_at = cpu, now
        if self._new or self._credit > 0 or now - self._flushed_at >= MAX_INTERVAL:
            # At most twice what the last flush sent, so a cost per event that was
            # misjudged (or changed) overspends once by little, not by a full batch.
            batch = min(max(int(self._credit / self._event_cost), MIN_BATCH), MAX_BATCH,
                        max(2 * self._sent, MIN_BATCH))
            try:
                self.flush(batch)
            except Exception:
                log.exception("serving the trace failed in one flush; going on")
            self._credit -= self._cost
            self._cpu_mark = time.thread_time()  # the flush is not the loop's own work
            self._flushed_at = self.reactor.seconds()
        if self.viewers or self._new:
            self._timer = self.reactor.callLater(FLUSH_INTERVAL, self._tick)

    def flush(self, batch: int = MAX_BATCH) -> None:
        """Send new events to every viewer that keeps up (the newest ``batch`` hot events
        among them, and every connection, port and Deferred event), and new viewers
        their start."""
        cursor = self._cursor
        if cursor is None:
            return
        began = time.thread_time()
        forget, self._forget = self._forget, []
        trace = self.tracer.trace
        self.tracer.sync_newest(batch)  # older records are dropped (counted), not decoded
        synced = time.thread_time()
        now = self.reactor.seconds()
        # Events the tracer dropped since the last flush (it numbers only those it keeps),
        # and those that fell out of the feed before we read them.
        seen, last_seq = _seen(trace), trace.feed.last_seq
        kept = last_seq - self._last_seq
        missed = (seen - self._seen) - kept
        self._seen, self._last_seq = seen, last_seq
        # Byte totals for the open connections whose bytes events some viewer did not
        # get, added to the trace: numbered after everything decoded, they are exact
        # where they stand, however far behind the drain is (sent with the events, ahead
        # of some still to come, they would count those twice).
        uncounted = self.tracer.uncounted
        behind = [viewer for viewer in self.viewers if viewer.behind and not viewer.paused]
        # Too far behind to catch up within the budget: skip what waits (missed), and
        # restate below where the connections stand now, as for a resumed viewer.
        backlog = last_seq - cursor.position
        shown_sets = [viewer.shown for viewer in behind]
        pending_sets = [viewer.shown_pending for viewer in behind]
        if backlog > min(MAX_BEHIND, self.tracer.config.feed_size // 2):  # (before the feed drops them)
            cursor.position = last_seq
            missed += backlog
            shown_sets.append(self._shown_open)
            pending_sets.append(self._shown_pending)
        everyone = self._all_uncounted or bool(shown_sets) or bool(self._new)
        added = 0
        if shown_sets:  # (a resumed or lagging viewer: rare) what changed while it was behind
            added += self._restate(shown_sets) + self._restate_deferreds(pending_sets)
        if everyone:  # (a new, lagging or resumed viewer: rare) every open connection's
            added += self._add_totals(None)
            self._all_uncounted = False
            if uncounted:
                uncounted.clear()
            for viewer in behind:
                viewer.behind = False
                viewer.shown = {}
                viewer.shown_pending = set()
        elif uncounted and now - self._totals_at >= TOTALS_INTERVAL:
            # Under a steady load most flushes drop bytes of most busy connections: their
            # totals go at most once a TOTALS_INTERVAL, MAX_TOTALS at a time.
            added = self._add_totals([uncounted.pop() for _ in range(min(len(uncounted), MAX_TOTALS))])
        if added:
            self._totals_at = now
        drained = cursor.drain(MAX_BATCH + added)
        self._sent = len(drained)
        events = self._keep(drained)
        if cursor.missed != self._missed:  # fell out of the feed unread: anyone's bytes
            self._all_uncounted = True
        missed += cursor.missed - self._missed
        self._missed = cursor.missed
        former = self._former
        for conn in forget:
            self._own.discard(conn)
            former[conn] = None
            if len(former) > FORMER_VIEWERS:
                del former[next(iter(former))]
        if self.viewers:
            text = self._encoder.events(events).encode("utf-8") if events else b""
            for viewer in list(self.viewers):
                viewer.send(text, len(events), missed)
        self._track_shown(events)
        # What serving cost beyond tracing: sending, and the share of the sync that
        # decoded what it kept (dropping the rest is what the tracer does anyway when
        # nobody reads). A new viewer's snapshot, once, is not counted.
        share = kept / (kept + missed) if kept + missed > 0 else 1.0
        self._cost = time.thread_time() - synced + (synced - began) * share
        if len(drained) >= MIN_BATCH:
            self._event_cost = max(self._cost / len(drained), 1e-6)
        if self._new:
            new, self._new = self._new, []
            start = self._start_text(cursor.position)  # (its openings join _shown_open)
            for viewer in new:
                self.viewers.append(viewer)
                viewer.start(start)

    def _add_totals(self, conns: Any) -> int:
        """Add to the trace the exact byte totals of the open connections among ``conns``
        (``None``: all) that moved any; return how many. In the trace (not only in what
        is sent) they keep its numbers consecutive, and a late viewer's snapshot finds
        each connection's latest."""
        tracer = self.tracer
        trace = tracer.trace
        summaries = trace._connections
        own, former = self._own, self._former
        ts, turn = monotonic(), tracer.turn
        if conns is None:
            conns = list(summaries)
        totals: list[ev.Event] = []
        for conn in conns:
            summary = summaries.get(conn)
            if (summary is None or summary.closed is not None or conn in own or conn in former
                    or not (summary.bytes_in or summary.bytes_out)):
                continue
            totals.append(ev.ConnectionTotals(0, ts, summary.reactor, turn, conn,
                                              summary.bytes_in, summary.bytes_out))
        return _add_to(trace, totals)

    def _track_shown(self, events: list[ev.Event]) -> None:
        """Keep ``_shown_open`` as the events sent leave it."""
        shown = self._shown_open
        pending = self._shown_pending
        opened, state, closed = ev.ConnectionOpened, ev.ConnectionState, ev.ConnectionClosed
        created, fired, failed, warning = ev.DeferredCreated, ev.DeferredFired, ev.DeferredFailed, ev.TraceWarning
        for event in events:
            cls = event.__class__
            if cls is opened:
                shown.setdefault(event.conn, "")
            elif cls is state:
                if event.conn in shown:
                    shown[event.conn] = cast(ev.ConnectionState, event).state
            elif cls is closed:
                shown.pop(event.conn, None)
            elif cls is created:
                pending.add(cast(ev.DeferredCreated, event).deferred)
            elif cls is fired or cls is failed:
                pending.discard(cast(ev.DeferredFired, event).deferred)
            elif cls is warning and cast(ev.TraceWarning, event).category == "abandoned":
                pending.discard(cast(ev.TraceWarning, event).subject)

    def _restate(self, shown_sets: list[dict[int, str]]) -> int:
        """Add to the trace what brings a viewer that shows the connections of any of
        ``shown_sets`` as open (in the states they map to) up to date: the close of each
        of those that closed since, the opening of each connection open now that one of
        them lacks, and the state of each whose state one of them shows otherwise (every
        viewer gets them; to one that has them already they change nothing). Return how
        many."""
        trace = self.tracer.trace
        summaries = trace._connections
        own, former = self._own, self._former
        ts, turn = monotonic(), self.tracer.turn
        restated: list[ev.Event] = []
        for conn in sorted(set().union(*shown_sets)):
            summary = summaries.get(conn)
            if summary is not None and summary.closed is None:
                continue
            if summary is None:  # its summary is gone too (the trace keeps the latest closes)
                restated.append(ev.ConnectionState(0, ts, "", turn, conn, "", _CLOSED))
                restated.append(ev.ConnectionClosed(0, ts, "", turn, conn, "", MISSED_CLOSE))
            else:
                restated.append(ev.ConnectionClosed(0, summary.closed or ts, summary.reactor, turn, conn,
                                                    summary.reason_type, summary.reason,
                                                    summary.bytes_in, summary.bytes_out))
        for conn, summary in list(summaries.items()):
            if summary.closed is not None or conn in own or conn in former:
                continue
            state = summary.state
            value = state.value if isinstance(state, ConnectionState) else state
            if any(conn not in shown for shown in shown_sets):
                restated.append(ev.ConnectionOpened(0, summary.opened, summary.reactor, turn, conn, summary.role,
                                                    summary.transport, summary.protocol, summary.local,
                                                    summary.peer))
            if any(shown.get(conn) != value for shown in shown_sets):
                restated.append(ev.ConnectionState(0, ts, summary.reactor, turn, conn, "", value))
        return _add_to(trace, restated)

    def _restate_deferreds(self, pending_sets: list[set[int]]) -> int:
        """Add to the trace what brings a viewer that shows the Deferreds of any of
        ``pending_sets`` as pending up to date: the result of each of those that got one
        since (as the trace knows it), and the making of each Deferred pending now that
        one of them lacks. Return how many."""
        trace = self.tracer.trace
        pending_now, finished = trace._pending, trace._finished
        ts, turn = monotonic(), self.tracer.turn
        restated: list[ev.Event] = []
        for did in sorted(set().union(*pending_sets)):
            if did in pending_now:
                continue
            summary = finished.get(did)
            if summary is None:  # gone from the trace too: how it ended is not known, and
                if not trace.deferreds_dropped:  # it did end unless the trace had too many pending
                    restated.append(ev.DeferredFired(0, ts, "", turn, 0, did, "", MISSED_RESULT))
            elif summary.state == "abandoned":
                restated.append(ev.TraceWarning(0, summary.fired or ts, summary.reactor, turn, summary.conn,
                                                "abandoned", "a Deferred was never given a result", did))
            else:
                if summary.cancelled:
                    restated.append(ev.DeferredCancelled(0, summary.fired or ts, summary.reactor, turn,
                                                         summary.conn, did))
                kind = ev.DeferredFailed if summary.state in ("failed", "cancelled") else ev.DeferredFired
                restated.append(kind(0, summary.fired or ts, summary.reactor, turn, summary.conn, did,
                                     summary.result_type, summary.result_repr))
        for did, summary in list(pending_now.items()):
            if any(did not in pending for pending in pending_sets):
                restated.append(ev.DeferredCreated(0, summary.created, summary.reactor, summary.turn, summary.conn,
                                                   did, summary.site, summary.function, summary.timer))
        return _add_to(trace, restated)

    def _keep(self, events: list[ev.Event]) -> list[ev.Event]:
        """``events`` without those about the viewers' own connections and our timer."""
        own = self._own
        former = self._former
        name = self._tick_name
        timer_kinds = (ev.TimerScheduled, ev.TimerFired)
        return [e for e in events
                if e.conn not in own and e.conn not in former
                and not (e.__class__ in timer_kinds and e.name == name)]

    def _start_text(self, upto: int) -> bytes:
        """The header and the snapshot a new viewer begins with (events up to ``upto``)."""
        trace = self.tracer.trace
        header = recording_header(trace, self._secrets)
        header.update(live=True, pid=os.getpid(), process=_process_name())
        snapshot = self._keep(snapshot_events(trace, upto, self.snapshot_limit))
        self._track_shown(snapshot)
        return (self._encoder.line(header) + self._encoder.events(snapshot)).encode("utf-8")


def snapshot_events(trace: Any, upto: int, limit: int = SNAPSHOT_EVENTS) -> list[ev.Event]:
    """What a late viewer needs for a complete view, in ``seq`` order: the newest
    ``limit`` kept events, plus the openings, latest states and latest byte totals of the
    connections still open, the openings of the connections the newest events mention
    (a close without its opening would make a nameless row), the listening ports, and
    the creation of the Deferreds still pending."""
    kept: list[ev.Event] = [e for e in trace.events() if e.seq <= upto]
    newest = kept[-limit:] if limit > 0 else []
    if len(newest) == len(kept):
        return newest
    chosen = {e.seq: e for e in newest}
    open_conns = {cid for cid, summary in trace._connections.items() if summary.closed is None}
    named = open_conns | {e.conn for e in newest if e.conn}
    latest_state: dict[int, ev.Event] = {}
    latest_totals: dict[int, ev.Event] = {}  # (the bytes events it leaves out still count)
    for event in kept[: len(kept) - len(newest)]:
        if event.__class__ is ev.ConnectionOpened and event.conn in named:
            chosen[event.seq] = event
        elif event.__class__ is ev.ConnectionState and event.conn in open_conns:
            latest_state[event.conn] = event
        elif event.__class__ is ev.ConnectionTotals and event.conn in open_conns:
            latest_totals[event.conn] = event
        elif event.__class__ is ev.PortStarted and event.port in trace.ports:
            chosen[event.seq] = event
        elif event.__class__ is ev.DeferredCreated and event.deferred in trace._pending:
            chosen[event.seq] = event
    for event in (*latest_state.values(), *latest_totals.values()):
        chosen[event.seq] = event
    return [chosen[seq] for seq in sorted(chosen)]


def _add_to(trace: Any, events: list[ev.Event]) -> int:
    """Add ``events`` to ``trace`` (numbered after everything in it); return how many."""
    add = trace.add
    for event in events:
        add(event)
    return len(events)


def _seen(trace: Any) -> int:
    """Events the trace has seen, kept or dropped, without decoding anything."""
    return sum(ring.total for ring in trace.buffers.values())


def _process_name() -> str:
    """The command line as a person typed it (``python -m inspector`` shows as ``inspector``)."""
    if not sys.argv or not sys.argv[0]:
        return "python"
    program = os.path.basename(sys.argv[0])
    if program == "__main__.py":
        program = os.path.basename(os.path.dirname(sys.argv[0])) or program
    return " ".join([program, *sys.argv[1:]])[:200]


@implementer(IPushProducer)
class _Viewer(Protocol):
    """One viewer's connection: checks its hello, then is fed by the server.

    It is the push producer of its own transport, so the transport tells it when the
    viewer stops reading (``pauseProducing``: events are dropped and counted from then)
    and when it catches up (``resumeProducing``: the count is sent, then events again).
    """

    def __init__(self, server: TraceServer) -> None:
        self.server = server
        self.paused = False
        self.started = False
        #: Events this viewer did not get (it read too slowly, or the feed overflowed).
        self.missed = 0
        #: Events were dropped while it was paused: it gets every open connection's
        #: byte totals with the next events it is sent.
        self.behind = False
        #: The connections the stream had shown open when it began dropping this viewer's
        #: events (what it still shows open): restated when it reads again.
        self.shown: dict[int, str] = {}
        self.shown_pending: set[int] = set()
        self._reported = 0
        self._hello = bytearray()
        self._greeted = False
        self._conn = 0
        self._timeout: Any = None

    def connectionMade(self) -> None:
        tracer = self.server.tracer
        self._conn = tracer.conn_id(self.transport) if tracer is not None else 0
        self.server.own_connection(self, self._conn)
        self.transport.registerProducer(self, True)
        if self.server.token is None:
            self._greeted = True  # the hello, if any, is read and ignored
            self.server.add_viewer(self)
        else:
            self._timeout = self.server.reactor.callLater(HELLO_TIMEOUT, self.refuse,
                                                          "no token sent in time")

    def dataReceived(self, data: bytes) -> None:
        if self._greeted:
            return  # a viewer has nothing more to say; what it sends is ignored
        self._hello += data
        end = self._hello.find(b"\n")
        if end < 0:
            if len(self._hello) > MAX_HELLO_BYTES:
                self.refuse("expected a hello line {\"token\": ...}")
            return
        self._greeted = True
        self._cancel_timeout()
        try:
            token = parse_hello(bytes(self._hello[:end]))
        except ValueError as exc:
            self.refuse(str(exc))
            return
        self._hello = bytearray()
        expected = self.server.token or ""
        if not token or not hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8")):
            self.refuse("wrong token" if token else "this trace needs a token")
            return
        self.server.add_viewer(self)

    def refuse(self, reason: str) -> None:
        """Send the one-line refusal and close."""
        self._greeted = True
        self._cancel_timeout()
        log.warning("trace viewer %s refused: %s", address_text(self.transport.getPeer()), reason)
        self.transport.write(refusal_line(reason))
        self.transport.loseConnection()

    def _cancel_timeout(self) -> None:
        if self._timeout is not None and self._timeout.active():
            self._timeout.cancel()
        self._timeout = None

    def start(self, text: bytes) -> None:
        """Send the header and snapshot (always: the buffer is empty at the start)."""
        self.started = True
        self.transport.write(text)

    def send(self, text: bytes, count: int, missed: int) -> None:
        """Send a batch of ``count`` events, or count them as missed while paused."""
        self.missed += missed
        if self.paused:
            self.missed += count
            if count > 0 and not self.behind:
                self.behind = True
                self.shown = dict(self.server._shown_open)  # (before this batch: what it has)
                self.shown_pending = set(self.server._shown_pending)
            return
        if self.missed != self._reported:
            self._reported = self.missed
            self.transport.write(b'{"meta":{"missed":%d}}\n' % self.missed)
        if text:
            self.transport.write(text)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.paused = True

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel_timeout()
        self.server.remove_viewer(self, self._conn)


class _ViewerFactory(Factory):
    """Builds a :class:`_Viewer` per accepted connection."""

    def __init__(self, server: TraceServer) -> None:
        self.server = server

    def buildProtocol(self, addr: Any) -> _Viewer:
        viewer = _Viewer(self.server)
        viewer.factory = self
        return viewer
