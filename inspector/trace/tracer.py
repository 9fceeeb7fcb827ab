"""The Tracer: receives hook calls from the framework and turns them into trace events.

Core modules hold a module-level ``_tracer`` that is ``None`` unless tracing is on, and
call it as ``if _tracer is not None: _tracer.method(...)``; the public methods of
:class:`Tracer` (here and in its two mixins) are that hook API.

Capture is split in two so tracing stays cheap on the hot path. A hook appends a
compact tuple to ``_raw`` (hot hooks) or a ready event (everything else); decoding
into events, summaries and warnings happens in :meth:`sync`, which every read of the
trace calls first. When nobody reads for long, the oldest hot records (bytes, loop
turns, messages) are reduced to exact counts instead, so memory stays bounded.

The tracer keeps the context the hooks establish (the current loop turn, connection
and timer) so that a Deferred created while ``dataReceived`` runs is linked to that
connection, and one created by a timer to that timer.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import OrderedDict
from typing import Any, Callable

from inspector.trace import events as ev
from inspector.trace.conn_hooks import (
    BIND, BYTES_IN, BYTES_OUT, CLOSED, EVENT, MESSAGE, TURN, ConnectionHooks, _Conn,
)
from inspector.trace.deferred_hooks import DeferredHooks, skip_frames_in
from inspector.trace.model import Trace, TraceConfig
from inspector.trace.util import address_text, callable_location, callable_name

__all__ = ["Tracer", "skip_frames_in"]

_now = time.monotonic
log = logging.getLogger("inspector.trace")


class Tracer(ConnectionHooks, DeferredHooks):
    """Turns hook calls into events in a :class:`Trace`, and raises warnings."""

    def __init__(self, config: TraceConfig | None = None, trace: Trace | None = None) -> None:
        self.trace = trace if trace is not None else Trace(config)
        self.config = self.trace.config
        self.trace.header.update(version=1, start_time=time.time(), start_monotonic=_now(),
                                 host=socket.gethostname(), reactor="")
        self.trace.attach_source(self.sync)
        self._store = self.trace.add
        self._raw: list[tuple] = []
        self._raw_append = self._raw.append
        self._raw_limit = self.config.raw_size
        self._syncing = False
        #: True while :func:`inspector.trace.hooks.install` has this tracer in the hooks.
        self.installed = False
        decoders: dict[int, Callable[[tuple], None]] = {
            EVENT: self._m_event, BYTES_IN: self._m_bytes_in, BYTES_OUT: self._m_bytes_out,
            MESSAGE: self._m_message, CLOSED: self._m_closed, TURN: self._m_turn,
            BIND: self._m_bind,
        }
        self._decoders = [decoders[code] for code in range(len(decoders))]
        # Ids.
        self._conn_of: dict[int, int] = {}  # id(transport) -> connection number, at the hook
        self._dec_of: dict[int, int] = {}  # the same, as of the record being decoded
        self._conn_state: dict[int, _Conn] = {}  # connection number -> state
        self._conn_ids = 0
        self._ports: dict[int, int] = {}
        self._port_ids = 0
        self._deferreds: OrderedDict[int, int] = OrderedDict()
        self._deferred_ids = 0
        self._timers: OrderedDict[int, int] = OrderedDict()
        self._timer_ids = 0
        self._reactors: dict[int, str] = {}
        self._reactor_key = 0
        # Context the hooks set.
        self.reactor = ""
        self.turn = 0
        self.timer = 0
        self._ctx_transport = 0  # id() of the transport whose data is being handled
        self._stamp: tuple[int, float, str] | None = None  # (turn, start, reactor) in a turn
        self._turn_fds = 0
        self._turn_timers = 0
        self._turn_threads = 0
        self._dispatch_depth = 0
        self._dispatch_owns_turn = False
        self._callbacks: list[tuple[int, str, float, Any]] = []
        self._timer_stack: list[tuple[int, float, float, float, Any, int, int]] = []
        # Deferred bookkeeping done at the hook (see deferred_hooks).
        self._pending_since: OrderedDict[int, tuple[float, str, str]] = OrderedDict()
        self._waiting_on: OrderedDict[int, int] = OrderedDict()
        self._held: OrderedDict[int, int] = OrderedDict()
        # Periodic work.
        self._periodic: list[Callable[[], None]] = []
        self._next_periodic = 0.0

    # -- capture and decoding ----------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        raw = self._raw
        self._raw_append((EVENT, event))
        if len(raw) > self._raw_limit:
            self._trim()

    def _m_event(self, item: tuple) -> None:
        self._store(item[1])

    def sync(self) -> None:
        """Decode everything captured so far into the trace (readers call this first)."""
        if self._syncing:
            return
        self._syncing = True
        try:
            raw = self._raw
            decoders = self._decoders
            while raw:
                count = len(raw)
                batch = raw[:count]
                del raw[:count]
                self._decode_batch(batch, decoders)
        finally:
            self._syncing = False

    def _decode_batch(self, batch: list[tuple], decoders: list[Callable[[tuple], None]]) -> None:
        """Decode records in order; the bytes records, most of them, inline."""
        dec_get = self._dec_of.get
        states = self._conn_state
        store = self._store
        bytes_in, bytes_out = ev.BytesIn, ev.BytesOut
        for item in batch:
            code = item[0]
            if code == BYTES_IN or code == BYTES_OUT:
                _, key, data, peer, (turn, ts, reactor) = item
                cid = dec_get(key)
                conn = states[cid] if cid is not None else self._decoded_conn(key)
                size = len(data)
                budget = conn.budget
                if budget >= size:
                    conn.budget = budget - size
                    kept = data
                elif budget:
                    conn.budget = 0
                    kept = data[:budget]
                else:
                    kept = b""
                store((bytes_in if code == BYTES_IN else bytes_out)(
                    0, ts, conn.reactor, turn, conn.id, size, kept,
                    address_text(peer) if peer is not None else ""))
            else:
                decoders[code](item)

    def _trim(self) -> None:
        """The capture list is full: decode it if anyone reads the trace, else reduce the
        oldest hot records to exact counts (the newest stay, undecoded, for a late reader)."""
        if self._syncing:
            return
        if self.trace.has_readers():
            self.sync()
            return
        self._syncing = True
        try:
            raw = self._raw
            count = len(raw) - self._raw_limit // 2
            batch = raw[:count]
            del raw[:count]
            decoders = self._decoders
            sizes_in: dict[int, int] = {}
            sizes_out: dict[int, int] = {}
            get_in, get_out = sizes_in.get, sizes_out.get
            chunks_in = chunks_out = turns = messages = 0
            for item in batch:
                code = item[0]
                if code == BYTES_IN:
                    key = item[1]
                    sizes_in[key] = get_in(key, 0) + len(item[2])
                    chunks_in += 1
                elif code == BYTES_OUT:
                    key = item[1]
                    sizes_out[key] = get_out(key, 0) + len(item[2])
                    chunks_out += 1
                elif code == TURN:
                    turns += 1
                elif code == MESSAGE:
                    messages += 1
                else:
                    if sizes_in or sizes_out:
                        self._count_bytes(sizes_in, sizes_out)
                        sizes_in, sizes_out = {}, {}
                        get_in, get_out = sizes_in.get, sizes_out.get
                    decoders[code](item)
            if sizes_in or sizes_out:
                self._count_bytes(sizes_in, sizes_out)
            trace = self.trace
            trace.count_dropped("conn.in", chunks_in)
            trace.count_dropped("conn.out", chunks_out)
            trace.count_dropped("loop.turn", turns)
            trace.count_dropped("proto.message", messages)
        finally:
            self._syncing = False

    def _count_bytes(self, sizes_in: dict[int, int], sizes_out: dict[int, int]) -> None:
        trace = self.trace
        now = _now()
        for direction, sizes in (("in", sizes_in), ("out", sizes_out)):
            for key, size in sizes.items():
                trace.count_bytes(self._decoded_conn(key).id, direction, size, now)

    def _context_conn(self) -> int:
        key = self._ctx_transport
        return self._conn_of.get(key, 0) if key else 0

    def _stamp_now(self) -> tuple[int, float, str]:
        """The (turn, time) stamp for a hot event outside any loop turn."""
        return (self.turn, _now(), self.reactor)

    # -- bookkeeping ---------------------------------------------------------------------

    def reactor_label(self, reactor: Any) -> str:
        """A short stable name for ``reactor``: ``SelectorsReactor-1``."""
        key = id(reactor)
        label = self._reactors.get(key)
        if label is None:
            label = f"{type(reactor).__name__}-{len(self._reactors) + 1}"
            self._reactors[key] = label
            if not self.trace.header.get("reactor"):
                self.trace.header["reactor"] = type(reactor).__name__
        return label

    def _enter_reactor(self, reactor: Any) -> None:
        self._reactor_key = id(reactor)
        self.reactor = self.reactor_label(reactor)
        if self.installed:
            from inspector.trace.hooks import hook_module

            hook_module(type(reactor).__module__, self)

    def add_periodic(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` from the loop about five times a second (recorders flush here)."""
        self._periodic.append(fn)

    def remove_periodic(self, fn: Callable[[], None]) -> None:
        """Stop calling ``fn``."""
        if fn in self._periodic:
            self._periodic.remove(fn)

    def _warn(self, category: str, message: str, subject: int = 0, details: str = "") -> None:
        self._emit(ev.TraceWarning(0, _now(), self.reactor, self.turn, self._context_conn(),
                                   category, message, subject, details))

    def _slow(self, name: str, location: str, duration: float) -> None:
        self._emit(ev.SlowCallback(0, _now() - duration, self.reactor, self.turn,
                                   self._context_conn(), name, location, duration))
        self._warn("slow", f"{name} held the loop for {duration * 1000:.1f} ms",
                   details=location)

    # -- the loop (hooks in reactors/base.py and reactors/selectors.py) -----------------

    def turn_started(self, reactor: Any, fds_ready: int = 0) -> None:
        """A loop turn's work begins (after waiting); ``fds_ready`` descriptors are ready."""
        if self._stamp is not None:
            self._turn_fds += fds_ready
            return
        if id(reactor) != self._reactor_key:
            self._enter_reactor(reactor)
        self.turn = turn = self.turn + 1
        self._stamp = (turn, _now(), self.reactor)
        self._turn_fds = fds_ready
        self._ctx_transport = 0

    def turn_ended(self, reactor: Any) -> None:
        """The loop turn's work is done (the loop is about to wait again)."""
        stamp = self._stamp
        if stamp is None:
            return
        self._stamp = None
        end = _now()
        raw = self._raw
        timers = self._turn_timers
        threads = self._turn_threads
        if timers or threads:
            self._turn_timers = self._turn_threads = 0
        raw.append((TURN, stamp, end - stamp[1], self._turn_fds, timers, threads))
        if len(raw) > self._raw_limit:
            self._trim()
        if end >= self._next_periodic:
            self._next_periodic = end + 0.2
            self.periodic(end)

    def _m_turn(self, item: tuple) -> None:
        _, (turn, start, reactor), duration, fds, timers, threads = item
        self._store(ev.LoopTurn(0, start, reactor, turn, 0, duration, fds, timers, threads))

    def dispatch_started(self, reactor: Any) -> None:
        """A host loop (Qt, asyncio) hands one ready descriptor to the reactor.

        Outside a turn this opens one, closed by the matching :meth:`dispatch_ended`,
        so foreign-loop reactors have turns too.
        """
        self._dispatch_depth += 1
        if self._stamp is not None:
            self._turn_fds += 1
        elif self._dispatch_depth == 1:
            self.turn_started(reactor, 1)
            self._dispatch_owns_turn = True

    def dispatch_ended(self, reactor: Any) -> None:
        """The descriptor handed over by :meth:`dispatch_started` was handled."""
        self._dispatch_depth -= 1
        if self._dispatch_depth <= 0:
            self._dispatch_depth = 0
            if self._dispatch_owns_turn:
                self._dispatch_owns_turn = False
                self.turn_ended(reactor)

    def thread_calls_run(self, reactor: Any, count: int) -> None:
        """``count`` functions queued by ``callFromThread`` are about to run."""
        if not count:
            return
        if self._stamp is None:
            self.turn_started(reactor)
        self._turn_threads += count
        self._ctx_transport = 0

    def slow_callback(self, what: Any, duration: float) -> None:
        """The reactor saw ``what`` (a callable or a selectable) hold the loop ``duration`` s."""
        protocol = getattr(what, "protocol", None)
        if protocol is not None:
            what = getattr(protocol, "dataReceived", what)
        self._slow(callable_name(what), callable_location(what), duration)

    def periodic(self, now: float | None = None) -> None:
        """Check for long-pending Deferreds and run the registered periodic functions."""
        now = _now() if now is None else now
        self._check_pending(now)
        for fn in list(self._periodic):
            try:
                fn()
            except Exception:  # noqa: BLE001 - a broken sink must not stop the loop
                log.exception("trace periodic task %r failed", fn)

    # -- timers (hooks in reactors/base.py) ---------------------------------------------

    def timer_scheduled(self, call: Any) -> None:
        """``callLater`` made ``call`` (a DelayedCall with ``time`` and ``func``)."""
        self._timer_ids += 1
        timer_id = self._timer_ids
        self._timers[id(call)] = timer_id
        if len(self._timers) > 100_000:
            self._timers.popitem(last=False)
        now = _now()
        due = float(getattr(call, "time", now))
        self._emit(ev.TimerScheduled(0, now, self.reactor, self.turn, self._context_conn(),
                                     timer_id, callable_name(getattr(call, "func", None)),
                                     max(0.0, due - now), due))

    def timer_cancelled(self, call: Any) -> None:
        """``call`` was cancelled; forget it."""
        self._timers.pop(id(call), None)

    def timer_started(self, reactor: Any, call: Any, func: Any, now: float) -> None:
        """``call``'s function ``func`` is about to run at reactor time ``now``."""
        if self._stamp is None:
            self.turn_started(reactor)
        timer_id = self._timers.pop(id(call), 0)
        due = float(getattr(call, "time", now))
        self._timer_stack.append((timer_id, due, now, _now(), func, self._ctx_transport, self.timer))
        self.timer = timer_id
        self._ctx_transport = 0
        self._turn_timers += 1

    def timer_finished(self, call: Any) -> None:
        """The function of the matching :meth:`timer_started` returned (or raised)."""
        if not self._timer_stack:
            return
        timer_id, due, now, start, func, self._ctx_transport, self.timer = self._timer_stack.pop()
        duration = _now() - start
        lateness = max(0.0, now - due)
        name = callable_name(func)
        self._emit(ev.TimerFired(0, start, self.reactor, self.turn, self._context_conn(),
                                 timer_id, name, lateness, duration))
        if lateness > self.config.late_timer:
            self._warn("late-timer", f"timer {name} ran {lateness * 1000:.1f} ms late",
                       subject=timer_id, details=callable_location(func))
