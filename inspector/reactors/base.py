"""The machinery every reactor shares: time, timers, triggers, run/stop, threads.

A backend subclasses ``ReactorBase`` and supplies only how descriptors are watched and
how the loop waits. Everything else (``callLater``, system event triggers, the thread
pool, ``callFromThread``, name resolution, dispatching a ready descriptor, slow-callback
reports) lives here, so the selectors, Qt and asyncio reactors behave the same.

Hooks for backends (stable; foreign-loop reactors override these):

``addReader/addWriter/removeReader/removeWriter`` and ``doIteration(timeout)``
    The backend contract, abstract here (:class:`ReactorBase` is an ABC): watch a
    :class:`Selectable` for reading or writing, stop watching it, and wait up to a
    time for readiness. Backends keep ``_reads`` and ``_writes`` (selectable ->
    descriptor). When descriptors are ready, every backend hands them to ONE routine,
    :meth:`ReactorBase._dispatch` (``(fd, events)`` pairs and the fd -> selectable
    map): it calls ``doRead``/``doWrite`` of selectables still watched for that
    direction, disconnects a selectable when one returns a reason (an exception
    instance) or raises (logged with traceback), and reports a slow handler. A backend
    whose handlers can be re-entered by a nested host loop passes a
    :class:`DispatchGuard`; a host loop that calls back on readiness passes
    ``foreign=True`` (the trace then opens a turn), and may register ``_dispatch``
    itself as its per-descriptor callback.

``doIteration(timeout)``
    Wait up to ``timeout`` seconds (None: forever) for readiness and dispatch what is
    ready. Used by the built-in loop (``mainLoop``) and by ``iterate()``. Foreign
    loops that never call ``mainLoop`` need not implement it.

``mainLoop()``
    Enter the loop; ``run()`` is ``startRunning()`` then ``mainLoop()``. The built-in
    loop repeats ``runUntilCurrent(); doIteration(timeout())`` while ``_started``.
    A foreign loop overrides it to run the host loop (``app.exec()``,
    ``loop.run_forever()``), or to return at once when the host loop already runs.

``_leave_loop()``
    Called by ``crash()`` (and therefore at the end of ``stop()``'s shutdown) after
    ``_started`` is cleared, so a host loop can exit (``app.exit()``,
    ``loop.stop()``) -- only a loop the reactor entered itself. Default: nothing; the
    built-in loop sees ``_started`` go False.

``_timers_changed()``
    Called whenever the earliest timer deadline may have changed: ``callLater``
    adding a call that becomes the earliest, ``reset``/``delay`` moving a call earlier
    or moving the earliest one later, ``cancel`` of the earliest call, and at the end
    of every ``runUntilCurrent``. A foreign loop re-arms ONE host timer for
    ``self.timeout()`` seconds from now (None: disarm). Default: nothing, since the
    built-in loop asks ``timeout()`` every turn. Always called in the loop thread.

``wakeUp()``
    Make a loop blocked in its wait return at once; called by ``callFromThread`` from
    any thread. Default: write to the waker, a descriptor registered with
    ``addReader`` in ``__init__``, whose ``doRead`` runs the queued thread calls. A
    backend may replace it (asyncio: ``call_soon_threadsafe``) but must then run
    ``_run_thread_calls()`` in the loop thread.

``_install_waker()``
    Called once by ``__init__`` to register the waker (default: ``addReader``). A
    backend that wakes its loop another way overrides it (and ``wakeUp``).

``_forget(selectable)``
    A transport is about to close its descriptor: stop watching it. Default:
    ``removeReader`` and ``removeWriter``.

Signals: ``startRunning()`` (which every backend's ``run`` calls) makes SIGINT and
SIGTERM queue ``stop()`` when it runs in the main thread and the handlers are still
Python's defaults; ``crash()`` and ``close()`` put the old handlers back. Set
``install_signal_handlers = False`` (or ``run(installSignalHandlers=False)``) to opt out.

``_report_slow(what, duration)``
    Called when one callback or handler held the loop longer than
    ``slow_callback_threshold`` seconds (None turns detection off). Logs a warning
    naming the callable and its ``file:line``.

Thread calls are taken off their queue one by one before each runs, so a nested loop
(a modal dialog opened by one of them) runs each call exactly once and the others keep
flowing under the dialog. Timers live in a binary heap of ``(time, seq, call)``
entries: a cancelled or rescheduled call leaves a stale entry behind (lazy deletion),
and the heap is rebuilt when stale entries make up most of it. ``seq`` keeps calls due
at the same time in the order they were scheduled.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import select
import signal
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from typing import Any, Callable, Iterable, Mapping, Protocol

from zope.interface import implementer

from inspector import error
from inspector.defer import Deferred, DeferredList, succeed
from inspector.failure import Failure
from inspector.helpers import describe_callable, is_ip_address
from inspector.interfaces import (
    IDatagramProtocol,
    IProcessProtocol,
    IProtocolFactory,
    IReactorCore,
    IReactorMulticast,
    IReactorPluggableResolver,
    IReactorProcess,
    IReactorSSL,
    IReactorTCP,
    IReactorThreads,
    IReactorTime,
    IReactorUDP,
    IReactorUNIX,
)
from inspector.timers import _MAX_SECONDS, DelayedCall, check_delay

log = logging.getLogger("inspector.reactor")

__all__ = [
    "READ_EVENTS", "WRITE_EVENTS", "DelayedCall", "DispatchGuard", "MAX_WAIT", "ReactorBase", "Selectable",
    "check_delay", "describe_callable",
]

_monotonic = time.monotonic
# A TraceHooks (the contract in inspector/hooks.py) while tracing is on, else None;
# every hook call is one line: `if _tracer is not None: _tracer.hook(...)`.
_tracer = None

#: Readiness bits of ``(fd, events)`` pairs given to :meth:`ReactorBase._dispatch`:
#: poll(2)'s, which epoll shares on Linux. An error or hang-up wakes both directions,
#: so the handler sees it (``recv`` returns b"" or raises).
POLLIN = getattr(select, "POLLIN", 1)
POLLOUT = getattr(select, "POLLOUT", 4)
_POLL_ERR = (getattr(select, "POLLERR", 8) | getattr(select, "POLLHUP", 16)
             | getattr(select, "POLLNVAL", 32))
READ_EVENTS = POLLIN | _POLL_ERR
WRITE_EVENTS = POLLOUT | _POLL_ERR

#: Compaction starts once the heap has this many entries and most are stale.
_COMPACT_MIN = 256
#: The longest the loop waits in one go (seconds). Waits are C ints of milliseconds
#: (epoll: ~24.9 days, QTimer likewise), so a far-off timer only makes the loop wake
#: once a day and aim again.
MAX_WAIT = 86400.0


class Selectable(Protocol):
    """What a reactor watches: a descriptor with handlers for readiness and for loss.

    ``doRead``/``doWrite`` return None to carry on, or an exception instance: the
    reason the reactor then drops the selectable with (``connectionLost``).
    """

    def fileno(self) -> int: ...

    def doRead(self) -> BaseException | None: ...

    def doWrite(self) -> BaseException | None: ...

    def connectionLost(self, reason: Failure) -> None: ...


class DispatchGuard(Protocol):
    """Keeps a descriptor's handler from re-entering itself under a nested host loop.

    Given to :meth:`ReactorBase._dispatch` by a backend whose loop can run again inside
    a handler (Qt's modal dialogs). ``current`` is the selectable whose handler the
    innermost dispatch is running (None between handlers); a dispatch that starts while
    one runs (a nested loop) adds it to ``busy``, the selectables whose handlers run
    further up the stack. One that turns up ready meanwhile is parked (taken out of the
    wait set) until its handler returns, then unparked. Outside nested loops the cost
    is one attribute store per handler. The reactor's waker is never guarded: nested
    loops must see thread calls.
    """

    current: Any
    busy: set[Any]
    parked: set[int]

    def park(self, fd: int) -> None:
        """Stop waiting on ``fd`` until :meth:`unpark` (its handler is still running)."""

    def unpark(self, fd: int) -> None:
        """Wait on ``fd`` again (its handler returned), unless it was unwatched meanwhile."""


class SignalWaker:
    """Readable when a signal arrived: ``signal.set_wakeup_fd`` writes to its pair.

    Watching it makes a reactor hosted in a foreign C++ loop (Qt) run Python code
    promptly after a signal, so the Python-level handler gets to run; a loop blocked in
    C++ otherwise runs it only when something else wakes it.
    """

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)

    def fileno(self) -> int:
        return self.reader.fileno()

    def doRead(self) -> None:
        try:
            while self.reader.recv(512):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def doWrite(self) -> None:
        """Never watched for writing."""

    def connectionLost(self, reason: Failure) -> None:
        self.close()

    def logPrefix(self) -> str:
        return "signal-waker"

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


class _Waker:
    """The descriptor ``callFromThread`` writes to so a blocked loop wakes at once.

    Writes happen only when no wake-up is pending, so a burst of thread calls costs one
    system call. Uses eventfd where available, else a socket pair. A write and the close
    hold one lock, so a write racing ``close()`` never lands in whatever file reuses the
    descriptor's number.
    """

    def __init__(self, reactor: "ReactorBase") -> None:
        self.reactor = reactor
        self.pending = False
        self._closed = False
        self._lock = threading.Lock()
        if hasattr(os, "eventfd"):
            self._rfd = self._wfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._pair = None
        else:  # pragma: no cover - non-Linux
            r, w = socket.socketpair()
            r.setblocking(False)
            w.setblocking(False)
            self._pair = (r, w)
            self._rfd, self._wfd = r.fileno(), w.fileno()

    def fileno(self) -> int:
        return self._rfd

    def wake(self) -> None:
        """Make the descriptor readable (any thread)."""
        if self.pending or self._closed:
            return
        self.pending = True
        with self._lock:  # taken only when a wake-up is written, not per thread call
            if self._closed:
                return
            try:
                if self._pair is None:
                    os.eventfd_write(self._wfd, 1)
                else:  # pragma: no cover
                    self._pair[1].send(b"x")
            except OSError:
                pass  # full: a wake-up is already due

    def doRead(self) -> None:
        """Drain, then run the queued thread calls."""
        try:
            if self._pair is None:
                os.eventfd_read(self._rfd)
            else:  # pragma: no cover
                self._pair[0].recv(4096)
        except OSError:
            pass
        self.pending = False  # cleared after draining: a racing wake() is never lost
        self.reactor._run_thread_calls()

    def doWrite(self) -> None:
        return None

    def connectionLost(self, reason: Failure) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._pair is None:
                os.close(self._rfd)
            else:  # pragma: no cover
                self._pair[0].close()
                self._pair[1].close()


class _ThreePhaseEvent:
    """The before/during/after triggers of one system event ("startup", "shutdown").

    'before' triggers may return Deferreds; 'during' and 'after' run once all of
    those have fired.
    """

    def __init__(self) -> None:
        self.phases: dict[str, list] = {"before": [], "during": [], "after": []}
        self.state = "BASE"
        self.finishedBefore: list = []

    def add(self, phase: str, func: Callable[..., Any], args: tuple, kw: dict) -> tuple:
        if phase not in self.phases:
            raise KeyError(f"invalid phase {phase!r}; use 'before', 'during' or 'after'")
        entry = (func, args, kw)
        self.phases[phase].append(entry)
        return (phase, entry)

    def remove(self, phase: str, entry: tuple) -> None:
        if phase not in self.phases:
            raise KeyError(f"invalid phase {phase!r}")
        triggers = self.phases[phase]
        for i, item in enumerate(triggers):
            if item is entry:
                if phase == "before" and self.state == "BEFORE":
                    triggers[i] = None  # firing: keep indices stable, skip it
                else:
                    del triggers[i]
                return
        if phase == "before" and any(item is entry for item in self.finishedBefore):
            self.finishedBefore = [item for item in self.finishedBefore if item is not entry]
            return
        raise ValueError(f"trigger not found: {entry!r}")

    def fire(self) -> None:
        if self.state != "BASE":
            return  # already firing; a second fire is a no-op, as in Twisted
        self.state = "BEFORE"
        self.finishedBefore = []
        waits = []
        while self.phases["before"]:
            entry = self.phases["before"].pop(0)
            if entry is None:
                continue
            self.finishedBefore.append(entry)
            func, args, kw = entry
            try:
                result = func(*args, **kw)
            except Exception:
                log.error("Error in 'before' system event trigger %s", describe_callable(func), exc_info=True)
                continue
            if isinstance(result, Deferred):
                waits.append(result)
        if waits:
            DeferredList(waits, consumeErrors=True).addCallback(self._continue)
        else:
            self._continue(None)

    def _continue(self, _: Any) -> None:
        self.phases["before"] = self.finishedBefore
        self.finishedBefore = []
        self.state = "DURING"
        for phase in ("during", "after"):
            while self.phases[phase]:
                func, args, kw = self.phases[phase].pop(0)
                try:
                    func(*args, **kw)
                except Exception:
                    log.error("Error in %r system event trigger %s", phase, describe_callable(func), exc_info=True)
        self.state = "BASE"


@implementer(IReactorCore, IReactorTime, IReactorThreads, IReactorPluggableResolver, IReactorTCP, IReactorUDP,
             IReactorUNIX, IReactorMulticast, IReactorProcess, IReactorSSL)
class ReactorBase(ABC):
    """Shared reactor machinery; subclasses add descriptor watching and waiting.

    The backend contract is the abstract methods: ``addReader``/``addWriter`` (watch),
    ``removeReader``/``removeWriter`` (unwatch) and ``doIteration`` (wait up to T and
    hand what is ready to :meth:`_dispatch`).
    """

    #: A callback or handler holding the loop longer than this (seconds) is reported.
    slow_callback_threshold: float | None = 0.05
    #: At most one slow-callback warning is logged per this many seconds: a loaded loop
    #: (a burst of accepts, a machine slowed down) would otherwise write one every turn.
    #: The next warning after the interval says how many were not logged meanwhile.
    slow_report_interval = 10.0
    _slow_logged_at = float("-inf")  # when the last slow-callback warning was logged
    _slow_unlogged = 0  # slow callbacks not logged since the last warning
    #: Whether starting in the main thread makes SIGINT/SIGTERM stop the reactor.
    install_signal_handlers = True
    #: True for a reactor whose loop waits in foreign C++ code (Qt): the handlers it
    #: installs also get a ``set_wakeup_fd`` descriptor so a signal wakes it.
    wake_on_signals = False

    def __init__(self) -> None:
        self.running = False
        self._started = False
        self._stopped = False
        self._startedBefore = False
        self._closed = False
        self._heap: list[tuple[float, int, DelayedCall]] = []
        self._stale = 0
        self._seq = itertools.count().__next__
        self._thread_calls: deque[tuple[Callable[..., Any], tuple, dict]] = deque()
        self._events: dict[str, _ThreePhaseEvent] = {}
        self.threadpool: Any = None
        self._pool_size = 10
        self._pool_shutdown_id: Any = None
        self._loop_thread: threading.Thread | None = None
        self._saved_signals: dict[int, Any] = {}
        self._signal_waker: SignalWaker | None = None
        self.addSystemEventTrigger("during", "shutdown", self.crash)
        self.addSystemEventTrigger("during", "shutdown", self.disconnectAll)
        self.waker = _Waker(self)
        self._install_waker()

    def _install_waker(self) -> None:
        """Register the waker with the backend (the backend's ``addReader``)."""
        self.addReader(self.waker)

    # ------------------------------------------------------- watched selectables
    #: Backends keep these: the selectables watched per direction, and their descriptors.
    _reads: dict[Any, int]
    _writes: dict[Any, int]

    @abstractmethod
    def addReader(self, reader: Selectable) -> None:
        """Call ``reader.doRead()`` (through :meth:`_dispatch`) whenever its descriptor is readable."""

    @abstractmethod
    def addWriter(self, writer: Selectable) -> None:
        """Call ``writer.doWrite()`` (through :meth:`_dispatch`) whenever its descriptor is writable."""

    @abstractmethod
    def removeReader(self, reader: Selectable) -> None:
        """Stop watching ``reader`` for readability (nothing if it was not watched)."""

    @abstractmethod
    def removeWriter(self, writer: Selectable) -> None:
        """Stop watching ``writer`` for writability (nothing if it was not watched)."""

    def removeAll(self) -> list[Any]:
        """Stop watching everything but the reactor's own waker; return what was removed."""
        own = (self.waker, self._signal_waker)
        removed = [s for s in set(self._reads) | set(self._writes) if s not in own]
        for selectable in removed:
            self.removeReader(selectable)
            self.removeWriter(selectable)
        return removed

    def getReaders(self) -> list[Any]:
        """Return the selectables watched for reading (the reactor's own wakers excluded)."""
        own = (self.waker, self._signal_waker)
        return [s for s in self._reads if s not in own]

    def getWriters(self) -> list[Any]:
        """Return the selectables watched for writing."""
        return list(self._writes)

    # ------------------------------------------------------------------ time

    def seconds(self) -> float:
        """Return the current time from a monotonic clock, in seconds."""
        return _monotonic()

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> DelayedCall:
        """Call ``callable(*args, **kw)`` in ``delay`` seconds; return the DelayedCall.

        ``delay`` must be a finite number >= 0: ValueError for NaN, inf or a negative one.
        """
        if not hasattr(callable, "__call__"):
            raise TypeError(f"{callable!r} is not callable")
        try:
            valid = 0 <= delay <= _MAX_SECONDS
        except TypeError:
            valid = False
        if not valid:
            check_delay(delay)  # raises, naming the value
        seq = self._seq()
        call = DelayedCall(self, _monotonic() + delay, seq, callable, args, kw)
        if _tracer is not None: _tracer.timer_scheduled(call)
        heap = self._heap
        heapq.heappush(heap, (call.time, seq, call))
        if heap[0][2] is call:
            self._timers_changed()
        return call

    def getDelayedCalls(self) -> list[DelayedCall]:
        """Return the pending DelayedCalls."""
        return [entry[2] for entry in self._heap if entry[1] == entry[2]._seq and entry[2].active()]

    def _cancelled_call(self, call: DelayedCall) -> None:
        if _tracer is not None: _tracer.timer_cancelled(call)
        self._stale += 1
        heap = self._heap
        if heap and heap[0][2] is call:
            self._drop_stale_top()
            self._timers_changed()
        elif self._stale > _COMPACT_MIN and self._stale * 2 > len(heap):
            self._compact()

    def _move_call(self, call: DelayedCall, when: float) -> None:
        heap = self._heap
        was_first = bool(heap) and heap[0][2] is call
        old_first = heap[0][0] if heap else None
        call.time = when
        call._seq = seq = self._seq()
        self._stale += 1  # the old entry
        heapq.heappush(heap, (when, seq, call))
        if was_first or old_first is None or when < old_first:
            self._drop_stale_top()
            self._timers_changed()
        elif self._stale > _COMPACT_MIN and self._stale * 2 > len(heap):
            self._compact()

    def _drop_stale_top(self) -> None:
        heap = self._heap
        while heap:
            when, seq, call = heap[0]
            if seq == call._seq and not call.cancelled and not call.called:
                return
            heapq.heappop(heap)
            self._stale -= 1

    def _compact(self) -> None:
        """Rebuild the heap without stale entries (cancelled or rescheduled calls).

        In place, so a ``runUntilCurrent`` pass holding the list sees the result.
        """
        heap = self._heap
        heap[:] = [e for e in heap if e[1] == e[2]._seq and not e[2].cancelled and not e[2].called]
        heapq.heapify(heap)
        self._stale = 0

    def timeout(self) -> float | None:
        """Return how long the loop may wait: 0 if work is due, None if nothing is scheduled.

        Never more than ``MAX_WAIT``: a loop aimed at a far-off timer wakes and aims again.
        """
        if self._thread_calls:
            return 0.0
        heap = self._heap
        if not heap:
            return None
        when, seq, call = heap[0]
        if seq != call._seq or call.cancelled:
            self._drop_stale_top()
            if not heap:
                return None
            when = heap[0][0]
        delay = when - _monotonic()
        if delay > 0.0:
            return delay if delay < MAX_WAIT else MAX_WAIT
        return 0.0

    def runUntilCurrent(self) -> None:
        """Run the queued thread calls and every DelayedCall that is due."""
        if self._thread_calls:
            self._run_thread_calls()
        heap = self._heap
        if heap:
            now = _monotonic()
            # (A turn with timers pending but none due, the usual one, stops here.)
            if heap[0][0] <= now:
                # Calls scheduled while this pass runs wait for the next pass, so a call
                # that reschedules itself with delay 0 cannot starve the loop.
                limit = self._seq()
                threshold = self.slow_callback_threshold
                pop = heapq.heappop
                while heap:
                    when, seq, call = heap[0]
                    if when > now or seq >= limit:
                        break
                    pop(heap)
                    if seq != call._seq or call.cancelled or call.called:
                        self._stale -= 1
                        continue
                    call.called = 1
                    func, args, kw = call.func, call.args, call.kw
                    call.func = call.args = call.kw = None  # type: ignore[assignment]  # released once run
                    if _tracer is not None: _tracer.timer_started(self, call, func, now)
                    try:
                        if threshold is None:
                            func(*args, **kw)
                        else:
                            start = _monotonic()
                            func(*args, **kw)
                            took = _monotonic() - start
                            if took > threshold:
                                self._report_slow(func, took)
                    except Exception:
                        log.error("Error in delayed call %s", describe_callable(func), exc_info=True)
                    if _tracer is not None: _tracer.timer_finished(call)
        self._timers_changed()
        if _tracer is not None: _tracer.turn_ended(self)

    def _report_slow(self, what: Any, duration: float) -> None:
        """Log that ``what`` (a callable, or a selectable) held the loop for ``duration`` s,
        unless a warning was logged less than ``slow_report_interval`` seconds ago (then it
        is only counted, and the next warning gives the count). The tracer sees each one."""
        if _tracer is not None: _tracer.slow_callback(what, duration)
        now = _monotonic()
        if now - self._slow_logged_at < self.slow_report_interval:
            self._slow_unlogged += 1
            return
        self._slow_logged_at = now
        unlogged, self._slow_unlogged = self._slow_unlogged, 0
        if unlogged:
            log.warning("Slow callback: %s held the loop for %.3f s (and %d more since the last such"
                        " warning, not logged one by one)", describe_callable(what), duration, unlogged)
        else:
            log.warning("Slow callback: %s held the loop for %.3f s", describe_callable(what), duration)

    # ------------------------------------------------------------- backend hooks

    def _timers_changed(self) -> None:
        """The earliest deadline may have moved; foreign loops re-arm their one timer."""

    def _leave_loop(self) -> None:
        """``crash()`` ran; a foreign loop leaves the host loop it entered."""

    def wakeUp(self) -> None:
        """Wake the loop from any thread."""
        self.waker.wake()

    @abstractmethod
    def doIteration(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds (None: forever) for readiness and hand what is
        ready to :meth:`_dispatch`; a host loop that turns itself raises NotImplementedError."""

    def _dispatch(self, ready: Iterable[tuple[int, int]], owners: Mapping[int, Any],
                  guard: DispatchGuard | None = None, foreign: bool = False) -> None:
        """Run the handlers of ready descriptors: the one dispatch routine of every backend.

        ``ready`` yields ``(fd, events)`` pairs (:data:`READ_EVENTS`/:data:`WRITE_EVENTS`
        bits); ``owners`` maps each fd to its selectable (an fd it lacks was unwatched
        meanwhile and is skipped). ``doRead`` runs if the selectable is still watched for
        reading, then ``doWrite`` likewise unless ``doRead`` ended it. A returned reason or
        a raised exception drops the selectable; a handler that held the loop past
        ``slow_callback_threshold`` is reported. This is the hot path: one loop, no
        per-event call beyond the handlers.

        ``foreign``: a host loop (Qt, asyncio) called back with these descriptors, so the
        trace sees a loop turn here unless one is open. Such hosts may register this
        method itself as their per-descriptor callback, with a one-pair ``ready``.
        """
        if guard is not None:
            self._dispatch_guarded(ready, owners, guard)
            return
        if foreign:
            if _tracer is not None: _tracer.dispatch_started(self)
        reads = self._reads
        writes = self._writes
        threshold = self.slow_callback_threshold
        started = _monotonic() if threshold is not None else 0.0
        for fd, events in ready:
            selectable = owners.get(fd)
            if selectable is None:
                continue
            why = None
            in_read = False
            try:
                if events & READ_EVENTS and selectable in reads:
                    in_read = True
                    why = selectable.doRead()
                if why is None and events & WRITE_EVENTS and selectable in writes:
                    in_read = False
                    why = selectable.doWrite()
            except Exception as exc:
                why = self._handler_failed(selectable, in_read, exc)
            if why is not None:
                self._disconnectSelectable(selectable, why, in_read)
            if threshold is not None:
                now = _monotonic()
                if now - started > threshold:
                    self._report_slow(self._handler_target(selectable, in_read), now - started)
                started = now
        if foreign:
            if _tracer is not None: _tracer.dispatch_ended(self)

    def _dispatch_guarded(self, ready: Iterable[tuple[int, int]], owners: Mapping[int, Any],
                          guard: DispatchGuard) -> None:
        """:meth:`_dispatch` for a host loop that may run again inside a handler (always foreign).

        Kept apart so the plain path pays nothing for it, and so that outside nested
        loops a handler costs one store (``guard.current``) more than there.
        """
        if _tracer is not None: _tracer.dispatch_started(self)
        reads = self._reads
        writes = self._writes
        threshold = self.slow_callback_threshold
        started = _monotonic() if threshold is not None else 0.0
        waker = self.waker
        busy = guard.busy
        parked = guard.parked
        outer = guard.current
        if outer is not None and outer is not waker:
            busy.add(outer)  # a handler up the stack opened this nested loop
        try:
            for fd, events in ready:
                selectable = owners.get(fd)
                if selectable is None:
                    continue
                if busy and selectable in busy and selectable is not waker:
                    guard.park(fd)  # its handler runs further up the stack
                    continue
                guard.current = selectable
                why = None
                in_read = False
                try:
                    if events & READ_EVENTS and selectable in reads:
                        in_read = True
                        why = selectable.doRead()
                    if why is None and events & WRITE_EVENTS and selectable in writes:
                        in_read = False
                        why = selectable.doWrite()
                except Exception as exc:
                    why = self._handler_failed(selectable, in_read, exc)
                finally:
                    guard.current = None
                    if parked and fd in parked:
                        guard.unpark(fd)
                if why is not None:
                    self._disconnectSelectable(selectable, why, in_read)
                if threshold is not None:
                    now = _monotonic()
                    if now - started > threshold:
                        self._report_slow(self._handler_target(selectable, in_read), now - started)
                    started = now
        finally:
            guard.current = outer
            if outer is not None:
                busy.discard(outer)
            if _tracer is not None: _tracer.dispatch_ended(self)

    def _handler_failed(self, selectable: Any, in_read: bool, exc: Exception) -> BaseException:
        """Log an exception escaping a handler; return the reason to drop the selectable with."""
        log.error("Error in %s", describe_callable(self._handler_target(selectable, in_read)), exc_info=exc)
        return error.ConnectionLost(f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _handler_target(selectable: Any, in_read: bool) -> Any:
        """The user-level callable behind a selectable's handler, for reports."""
        # A connection the handler closed has let go of its protocol but keeps its class.
        protocol = getattr(selectable, "protocol", None) or getattr(selectable, "protocol_class", None)
        if protocol is not None and in_read:
            return getattr(protocol, "dataReceived", selectable.doRead)
        return selectable.doRead if in_read else selectable.doWrite

    def _forget(self, selectable: Any) -> None:
        """Stop watching ``selectable`` whose descriptor is about to be closed.

        Backends may skip system calls here (closing removes it from an epoll set).
        """
        self.removeReader(selectable)
        self.removeWriter(selectable)

    def _disconnectSelectable(self, selectable: Any, why: BaseException, isRead: bool) -> None:
        """Stop watching ``selectable`` and tell it the connection is lost because of ``why``."""
        self.removeReader(selectable)
        self.removeWriter(selectable)
        try:
            selectable.connectionLost(Failure(why))
        except Exception:
            log.error("Error in connectionLost of %r", selectable, exc_info=True)

    # ------------------------------------------------------------ run and stop

    def startRunning(self) -> None:
        """Mark the reactor started and fire the startup triggers."""
        if self._startedBefore:
            raise error.ReactorNotRestartable("the reactor has already run; reactors run once")
        if self._started:
            raise error.ReactorAlreadyRunning("the reactor is already running")
        if self._closed:
            raise error.ReactorNotRestartable("the reactor has been closed")
        self._started = True
        self._stopped = False
        self._loop_thread = threading.current_thread()
        self._install_signal_handlers()
        self.addSystemEventTrigger("during", "startup", self._reallyStartRunning)
        self.fireSystemEvent("startup")

    def _reallyStartRunning(self) -> None:
        self.running = True

    def run(self, installSignalHandlers: bool = True) -> None:
        """Fire the startup triggers and run the loop until ``stop()`` (or ``crash()``).

        With ``installSignalHandlers`` (and in the main thread), SIGINT and SIGTERM stop
        the reactor cleanly, shutdown triggers included.
        """
        self.install_signal_handlers = installSignalHandlers
        self.startRunning()
        self.mainLoop()

    def _install_signal_handlers(self) -> None:
        """Make SIGINT/SIGTERM call ``stop()`` (a second one: ``crash()``); main thread only.

        Only default handlers are replaced, so an application's own stay in charge. The
        handler just queues a thread call, which is safe at any point of the loop.
        """
        if not self.install_signal_handlers or threading.current_thread() is not threading.main_thread():
            return
        for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
            try:
                if signal.getsignal(signum) is default:
                    self._saved_signals[signum] = signal.signal(signum, self._on_signal)
            except (ValueError, OSError):  # pragma: no cover - unusual platforms
                pass
        if self._saved_signals and self.wake_on_signals:
            self._watch_signals()

    def _watch_signals(self) -> None:
        """Have signals wake the loop (``signal.set_wakeup_fd``), unless someone else does."""
        waker = SignalWaker()
        try:
            previous = signal.set_wakeup_fd(waker.writer.fileno())
        except (ValueError, OSError):  # pragma: no cover - not the main thread's interpreter
            waker.close()
            return
        if previous != -1:  # the application watches signals itself: leave it in charge
            signal.set_wakeup_fd(previous)
            waker.close()
            return
        self._signal_waker = waker
        self.addReader(waker)

    def _restore_signal_handlers(self) -> None:
        waker, self._signal_waker = self._signal_waker, None
        if waker is not None:
            try:
                current = signal.set_wakeup_fd(-1)
                if current != waker.writer.fileno():  # replaced since: put theirs back
                    signal.set_wakeup_fd(current)
            except (ValueError, OSError):  # pragma: no cover - not the main thread
                pass
            self.removeReader(waker)
            waker.close()
        saved, self._saved_signals = self._saved_signals, {}
        for signum, handler in saved.items():
            try:
                if signal.getsignal(signum) == self._on_signal:
                    signal.signal(signum, handler)
            except (ValueError, OSError):  # pragma: no cover
                pass

    def _on_signal(self, signum: int, frame: Any) -> None:
        log.info("Received signal %d, shutting down", signum)
        if self._stopped:
            self.callFromThread(self.crash)  # asked twice: leave without waiting
        else:
            self.callFromThread(self._stop_if_running)

    def _stop_if_running(self) -> None:
        if self._started and not self._stopped:
            self.stop()

    def mainLoop(self) -> None:
        """The built-in loop: run due calls, wait for readiness, repeat while started."""
        runUntilCurrent = self.runUntilCurrent
        timeout = self.timeout
        doIteration = self.doIteration
        while self._started:
            try:
                while self._started:
                    runUntilCurrent()
                    if not self._started:
                        break
                    doIteration(timeout())
            except Exception:
                # Handlers catch their own errors; reaching here is a reactor bug.
                log.critical("Unexpected error in the reactor's main loop", exc_info=True)

    def iterate(self, delay: float = 0) -> None:
        """Run one turn of the loop, waiting at most ``delay`` seconds for readiness."""
        self.runUntilCurrent()
        self.doIteration(delay)

    def stop(self) -> None:
        """Fire the shutdown triggers (waiting for their Deferreds), then leave the loop."""
        if self._stopped or not self._started:
            raise error.ReactorNotRunning("Can't stop a reactor that isn't running.")
        self._stopped = True
        self._startedBefore = True
        # Shut down in a turn of our own: works the same when called from a callback,
        # a protocol method or a foreign loop's slot while the reactor is idle.
        self.callLater(0, self.fireSystemEvent, "shutdown")

    def crash(self) -> None:
        """Leave the loop at once without shutdown triggers (tests and emergencies)."""
        was_started = self._started
        self._started = False
        self.running = False
        self._restore_signal_handlers()
        if was_started:
            self._startedBefore = True
        self._leave_loop()

    def disconnectAll(self) -> list:
        """Drop every watched selectable with ConnectionLost; return them."""
        selectables = self.removeAll()
        for selectable in selectables:
            try:
                selectable.connectionLost(Failure(error.ConnectionLost("the reactor shut down")))
            except Exception:
                log.error("Error in connectionLost of %r", selectable, exc_info=True)
        return selectables

    def close(self) -> None:
        """Release the reactor's own descriptors and threads; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._restore_signal_handlers()
        self._stop_thread_pool()
        try:
            self.removeReader(self.waker)
        except Exception:
            pass
        self.waker.close()

    # ---------------------------------------------------------------- triggers

    def fireSystemEvent(self, eventType: str) -> None:
        """Fire the before, during and after triggers of ``eventType``."""
        event = self._events.get(eventType)
        if event is not None:
            event.fire()

    def addSystemEventTrigger(
        self, phase: str, eventType: str, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> tuple:
        """Add a trigger for ``phase`` of ``eventType``; return an ID for removal."""
        if not hasattr(callable, "__call__"):
            raise TypeError(f"{callable!r} is not callable")
        event = self._events.get(eventType)
        if event is None:
            event = self._events[eventType] = _ThreePhaseEvent()
        return (eventType, event.add(phase, callable, args, kw))

    def removeSystemEventTrigger(self, triggerID: tuple) -> None:
        """Remove a trigger; ValueError if it is unknown or already ran."""
        try:
            eventType, (phase, entry) = triggerID
            event = self._events[eventType]
        except (TypeError, ValueError, KeyError):
            raise ValueError(f"invalid trigger ID: {triggerID!r}") from None
        event.remove(phase, entry)

    def callWhenRunning(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Call now if running; otherwise once startup finishes. Returns a trigger ID or None."""
        if self.running:
            callable(*args, **kw)
            return None
        return self.addSystemEventTrigger("after", "startup", callable, *args, **kw)

    # ----------------------------------------------------------------- threads

    def callFromThread(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Run ``callable`` in the loop thread soon; safe from any thread."""
        self._thread_calls.append((callable, args, kw))
        self.wakeUp()

    def _run_thread_calls(self) -> None:
        """Run the thread calls queued so far, each taken off the queue before it runs."""
        queue = self._thread_calls
        if _tracer is not None: _tracer.thread_calls_run(self, len(queue))
        popleft = queue.popleft
        for _ in range(len(queue)):
            try:
                func, args, kw = popleft()
            except IndexError:
                return  # a nested loop ran the rest
            try:
                func(*args, **kw)
            except Exception:
                log.error("Error in thread call %s", describe_callable(func), exc_info=True)

    def getThreadPool(self) -> Any:
        """Return the reactor's thread pool, starting it if needed (stopped at shutdown)."""
        if self.threadpool is None:
            from inspector.threads import ThreadPool

            self.threadpool = ThreadPool(0, self._pool_size, name=f"reactor-{id(self):x}")
            self.threadpool.start()
            self._pool_shutdown_id = self.addSystemEventTrigger("during", "shutdown", self._stop_thread_pool)
        return self.threadpool

    def _stop_thread_pool(self) -> None:
        pool, self.threadpool = self.threadpool, None
        if pool is not None:
            pool.stop()
        if self._pool_shutdown_id is not None:
            trigger, self._pool_shutdown_id = self._pool_shutdown_id, None
            try:
                self.removeSystemEventTrigger(trigger)
            except ValueError:
                pass  # it is the trigger running now

    def callInThread(self, callable: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``callable`` in a pool thread."""
        self.getThreadPool().callInThread(callable, *args, **kwargs)

    def suggestThreadPoolSize(self, size: int) -> None:
        """Set the largest number of pool threads."""
        self._pool_size = size
        if self.threadpool is not None:
            self.threadpool.adjustPoolsize(maxthreads=size)

    # -------------------------------------------------------------- resolution

    def resolve(self, name: str, timeout: Any = None) -> Deferred:
        """Return a Deferred of ``name``'s first address (IPv4 preferred); never blocks.

        An address literal answers at once; names are looked up in the thread pool and
        a failed lookup errbacks with DNSLookupError.
        """
        if not isinstance(name, str):
            raise TypeError(f"host name must be str, not {type(name).__name__}")
        if is_ip_address(name):
            return succeed(name)
        from inspector.threads import deferToThreadPool

        d = deferToThreadPool(self, self.getThreadPool(), _lookup, name)
        return d


    # -------------------------------------------------------------- transports

    def listenTCP(self, port: int, factory: IProtocolFactory, backlog: int = socket.SOMAXCONN,
                  interface: str = "127.0.0.1") -> Any:
        """Listen for TCP connections on ``interface:port`` (0 picks a port); return the port.

        ``backlog`` defaults to the system's maximum, as asyncio's does: a short queue
        makes a burst of connections wait for SYN retransmits (a second or more each).
        """
        from inspector.tcp import Port

        listening = Port(port, factory, backlog, interface, self)
        listening.startListening()
        return listening

    def connectTCP(
        self, host: str, port: int, factory: IProtocolFactory, timeout: float | None = 30, bindAddress: Any = None
    ) -> Any:
        """Connect to ``host:port`` with ``factory``; return the connector."""
        from inspector.tcp import Connector

        connector = Connector(host, port, factory, timeout, bindAddress, self)
        connector.connect()
        return connector

    def listenSSL(self, port: int, factory: IProtocolFactory, contextFactory: Any, backlog: int = socket.SOMAXCONN,
                  interface: str = "127.0.0.1") -> Any:
        """Listen for TLS connections: TCP with ``contextFactory``'s TLS server layer
        (inspector/tls.py) under each protocol ``factory`` builds; return the port."""
        from inspector.tls import TLSMemoryBIOFactory

        return self.listenTCP(port, TLSMemoryBIOFactory(contextFactory, False, factory), backlog, interface)

    def connectSSL(self, host: str, port: int, factory: IProtocolFactory, contextFactory: Any,
                   timeout: float | None = 30, bindAddress: Any = None) -> Any:
        """Connect to ``host:port`` and speak TLS as a client with ``contextFactory``;
        return the connector."""
        from inspector.tls import TLSMemoryBIOFactory

        return self.connectTCP(host, port, TLSMemoryBIOFactory(contextFactory, True, factory, hostname=host),
                               timeout, bindAddress)

    def listenUDP(self, port: int, protocol: IDatagramProtocol, interface: str = "127.0.0.1",
                  maxPacketSize: int = 65535) -> Any:
        """Bind ``protocol`` (a DatagramProtocol) to UDP ``interface:port``; return the port.

        Datagrams longer than ``maxPacketSize`` bytes are truncated to it, as in Twisted;
        the default takes the largest a UDP datagram can be.
        """
        from inspector.udp import Port

        listening = Port(port, protocol, interface, maxPacketSize, self)
        listening.startListening()
        return listening

    def listenUNIX(self, address: Any, factory: IProtocolFactory, backlog: int = socket.SOMAXCONN, mode: int = 0o666,
                   wantPID: bool = False) -> Any:
        """Listen on the Unix socket ``address`` (a path, or "\\0name" in Linux's abstract
        namespace); ``wantPID`` replaces a stale socket file left by a dead process."""
        from inspector.unix import Port

        listening = Port(address, factory, backlog, mode, wantPID, self)
        listening.startListening()
        return listening

    def connectUNIX(self, address: Any, factory: IProtocolFactory, timeout: float | None = 30,
                    checkPID: bool = False) -> Any:
        """Connect to the Unix socket ``address`` with ``factory``; return the connector."""
        from inspector.unix import Connector

        connector = Connector(address, factory, timeout, checkPID, self)
        connector.connect()
        return connector

    def listenMulticast(self, port: int, protocol: IDatagramProtocol, interface: str = "", maxPacketSize: int = 65535,
                        listenMultiple: bool = False) -> Any:
        """Bind ``protocol`` to UDP ``port`` for multicast (join groups on its transport);
        ``listenMultiple`` lets several sockets share the port, each receiving the groups."""
        from inspector.multicast import MulticastPort

        listening = MulticastPort(port, protocol, interface, maxPacketSize, self, listenMultiple)
        listening.startListening()
        return listening

    def spawnProcess(self, processProtocol: IProcessProtocol, executable: Any, args: Any = (), env: Any = {},  # noqa: B006
                     path: Any = None, uid: int | None = None, gid: int | None = None, usePTY: bool = False,
                     childFDs: Any = None) -> Any:
        """Start ``executable`` with ``args`` (argv, the program's name first) talking to
        ``processProtocol``; return its IProcessTransport. ``env`` is the whole environment
        ({}: empty, None: ours), as in Twisted; a missing executable raises OSError."""
        from inspector.process import spawn_process

        return spawn_process(self, processProtocol, executable, args, env, path, uid, gid, usePTY, childFDs)


def _lookup(name: str) -> str:
    """Blocking lookup (pool thread): first IPv4 address, else first IPv6."""
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise error.DNSLookupError(f"address {name!r} not found: {exc}") from None
    if not infos:
        raise error.DNSLookupError(f"address {name!r} not found")
    for family, _, _, _, sockaddr in infos:
        if family == socket.AF_INET:
            return str(sockaddr[0])
    return str(infos[0][4][0])
