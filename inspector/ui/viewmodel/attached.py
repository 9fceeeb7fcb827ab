"""Feeding the window from processes that serve their trace (``inspector attach``). No Qt.

:class:`AttachedFeed` attaches to every endpoint (:func:`inspector.trace.viewer.attach`),
keeps what each attachment sends, and on each window refresh applies it to one
:class:`~inspector.ui.viewmodel.processes.ProcessStore` through the same translation as the
local trace and a recording (:func:`~inspector.ui.viewmodel.feed.apply`). Each session (one
process instance) gets its own id range, so a restarted process adds rows instead of
overwriting what was shown; its connections that were open when it died stay as last seen.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from typing import Any

from inspector.interfaces import ReactorLike
from inspector.states import ConnectionState
from inspector.trace import events as ev
from inspector.trace.model import Trace
from inspector.trace.viewer import (
    ID_STRIDE,
    Attachment,
    ViewerState,
    attach,
    copied_event,
    namespaced,
    process_instance,
)
from inspector.ui.viewmodel.feed import POLL_BUDGET, SLICE, apply
from inspector.ui.viewmodel.processes import ProcessRow, ProcessStore
from inspector.ui.viewmodel.store import CLOSED_LIMIT

__all__ = ["AttachedFeed", "clock_shift", "short_label", "MAX_PENDING"]

#: Events waiting for the window at most: past this the oldest are dropped (and counted as
#: missed), so a window that cannot keep up with a flood never grows without bound.
MAX_PENDING = 200_000


def short_label(endpoint: str) -> str:
    """What the Process column calls ``endpoint``: ``HOST:PORT`` for a TCP client endpoint
    string (``tcp:host=127.0.0.1:port=6669`` -> ``127.0.0.1:6669``), else the text as given."""
    kind, _, rest = endpoint.strip().partition(":")
    if kind == "tcp" and "\\" not in rest:
        options = dict(part.partition("=")[::2] for part in rest.split(":"))
        if set(options) <= {"host", "port", "timeout", "bindAddress"} and options.get("host") and \
                options.get("port", "").isdigit():
            return f"{options['host']}:{options['port']}"
    return endpoint.strip()


def clock_shift(header: dict[str, Any], here: str | None = None) -> float:
    """Seconds to add to a process's event times to put them on this machine's monotonic
    clock: 0 on the same host (one clock), else matched through both wall clocks."""
    host = header.get("host")
    if not host or host == (here if here is not None else socket.gethostname()):
        return 0.0
    wall, mono = header.get("start_time"), header.get("start_monotonic")
    if not isinstance(wall, (int, float)) or not isinstance(mono, (int, float)):
        return 0.0
    return (time.time() - time.monotonic()) - (float(wall) - float(mono))


class AttachedFeed:
    """Attached processes drained into ``store`` on each :meth:`poll` (like the local
    trace's :class:`~inspector.ui.viewmodel.feed.LiveFeed`); ``rows`` say how each stands."""

    def __init__(self, reactor: ReactorLike, store: ProcessStore, endpoints: list[str], token: str | None = None, *,
                 retry: float = 0.5, max_retry: float = 5.0, max_pending: int = MAX_PENDING) -> None:
        self.reactor = reactor
        self.max_pending = max_pending
        #: Events dropped here because the window fell that far behind.
        self.dropped = 0
        self.store = store
        if store.closed_limit is None:  # a live view: a busy process must not grow it without end
            store.closed_limit = CLOSED_LIMIT
        self.endpoints = list(endpoints)
        #: How each process is named in the window (its endpoint, shortened).
        self.labels = [short_label(endpoint) for endpoint in self.endpoints]
        self.token = token
        self.retry = retry
        self.max_retry = max_retry
        #: Every session's events, ids moved apart (each keeps its process's event
        #: numbers): what exports read.
        self.trace = Trace()
        self.attachments: list[Attachment] = []
        self.rows: list[ProcessRow] = [ProcessRow(label) for label in self.labels]
        #: Bumped whenever a row changes, so a view redraws only then.
        self.version = 0
        self._row_of: dict[int, ProcessRow] = {}
        #: (attachment, process instance) -> (k, clock shift); see :meth:`_session`
        self._sessions: dict[tuple[Any, ...], tuple[int, float]] = {}
        self._last_seq: dict[int, int] = {}  # k -> the newest event number applied
        self._current: dict[int, int] = {}  # id(attachment) -> k of the instance it is on
        self._pending: deque[ev.Event] = deque()
        self._missed: dict[int, int] = {}

    def start(self) -> None:
        """Attach to every endpoint (ValueError at once for one that cannot be parsed)."""
        for endpoint, label, row in zip(self.endpoints, self.labels, self.rows):
            attachment = attach(self.reactor, endpoint, self.token, on_events=self._events, on_state=self._state,
                                retry=self.retry, max_retry=self.max_retry, label=label)
            self._row_of[id(attachment)] = row
            self.attachments.append(attachment)

    def stop(self) -> None:
        """Detach from every process (no more reconnecting)."""
        for attachment in self.attachments:
            attachment.stop()

    # -- from the attachments -------------------------------------------------------------

    def _state(self, attachment: Attachment, state: ViewerState, detail: str) -> None:
        row = self._row_of.get(id(attachment))
        if row is None:  # the first state arrives while attach() is still returning
            row = self.rows[len(self._row_of)]
            self._row_of[id(attachment)] = row
        row.state = state.value
        row.detail = detail
        if state == ViewerState.CONNECTED:
            header = attachment.header
            row.sessions = attachment.session
            row.program = str(header.get("process") or "")
            pid = header.get("pid")
            row.pid = pid if isinstance(pid, int) else None
        self.version += 1

    def _session(self, attachment: Attachment) -> tuple[int, float]:
        """The index ``k`` and clock shift of the process instance ``attachment`` is on now.

        A restarted process is a new instance (new ids, new rows); the same process met
        again after a dropped connection keeps its ``k``, and :meth:`_events` skips the
        events its snapshot repeats, so nothing is shown twice."""
        header = attachment.header
        key = (id(attachment), *process_instance(header, attachment.session))
        found = self._sessions.get(key)
        if found is None:
            k = len(self._sessions)
            found = self._sessions[key] = (k, clock_shift(attachment.header))
            previous = self._current.get(id(attachment))
            if previous is not None:
                self._ended(previous, header)
            self.store.processes[k] = attachment.label
            name = f"{attachment.label}: {header.get('process') or 'a process'}"
            self.trace.header[f"process.{k}"] = name + (f" (pid {header['pid']})" if header.get("pid") else "")
            start = header.get("start_monotonic")
            if isinstance(start, (int, float)) and start + found[1] < self.store.origin:
                # Times count from the earliest process's start, as in its recording.
                self.store.origin = float(start) + found[1]
        self._current[id(attachment)] = found[0]
        return found

    def _ended(self, k: int, successor: dict[str, Any]) -> None:
        """Process instance ``k`` was replaced by a new one (it restarted): what it still
        showed open ended with it, so say so rather than leave it "connected" for ever."""
        apply(self.store, self._pending)  # its last events first
        self._pending.clear()
        store = self.store
        pid = successor.get("pid")
        reason = "its process ended (attached again to the new one" + (f", pid {pid})" if pid else ")")
        for conn in list(store.connections.values()):
            if conn.is_open and conn.id // ID_STRIDE == k:
                store.connection_state(conn.id, conn.last_activity, ConnectionState.CLOSED, reason)

    def _events(self, attachment: Attachment, events: list[ev.Event]) -> None:
        k, shift = self._session(attachment)
        pending = self._pending
        add = self.trace.add
        last = self._last_seq.get(k, 0)
        if last:
            events = [event for event in events if not event.seq or event.seq > last]
        if events:
            self._last_seq[k] = max(last, max(event.seq for event in events))
        moved = bool(k or shift)
        for event in events:
            if moved:
                # A copy: the attachment's own trace keeps the originals (its reader checks
                # the numbers of what it kept). The first process's events need no change.
                event = copied_event(event)
                event.ts += shift
                namespaced(event, k)
            add(event)  # keeps the process's numbers: each connection's stay in order
            pending.append(event)
        excess = len(pending) - self.max_pending
        if excess > 0:
            for _ in range(excess):
                pending.popleft()
            self.dropped += excess
        self._missed[k] = attachment.missed
        row = self._row_of.get(id(attachment))
        if row is not None:
            row.events += len(events)
            row.missed = attachment.missed
            self.version += 1

    # -- the window's refresh ----------------------------------------------------------

    def poll(self, now: float) -> int:
        """Apply what arrived since the last poll (within a frame's budget; the rest waits
        for the next) and close the store's rate bins."""
        deadline = time.perf_counter() + POLL_BUDGET
        applied = 0
        store = self.store
        pending = self._pending
        while pending:
            batch = [pending.popleft() for _ in range(min(SLICE, len(pending)))]
            applied += apply(store, batch)
            if time.perf_counter() > deadline:
                break
        store.dropped = sum(self._missed.values()) + self.dropped
        store.trim_closed()
        store.sample(now)
        store.now = max(store.now, now)
        return applied

    def summary(self) -> str:
        """One line for the status bar: "attached: 2 connected, 1 disconnected"."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        return "attached: " + ", ".join(f"{n} {state}" for state, n in counts.items())
