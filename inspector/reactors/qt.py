"""The Qt reactor: the framework's loop hosted inside Qt's own event loop.

Windows, servers and clients share one thread and one loop. ``run()`` starts
``app.exec()`` when no Qt loop is running (making a ``QCoreApplication`` if there is
none); inside a running application (a window, pytest-qt) it only starts the reactor.

Readiness: on Linux every descriptor lives in one epoll set whose own descriptor is
watched by one ``QSocketNotifier``; when it fires, the set is polled without blocking
and the ready descriptors are dispatched here, so a loop turn costs the ready
descriptors, not the watched ones; the set is polled again (a few times at most)
while it has more, sparing Qt loop turns under load. Elsewhere (or with ``use_epoll=False``) each
descriptor and direction gets one cached notifier, toggled with ``setEnabled``.

Timers: the reactor keeps its own heap (``base.py``). On Linux it aims one timerfd
(``timerfd.py``, watched by one more notifier) at the earliest deadline to the
microsecond, and keeps one single-shot ``QTimer`` for calls due at once (cheap to
start, and it fires again under a nested loop). Elsewhere (or with ``use_epoll=False``)
that ``QTimer`` is aimed at the earliest deadline rounded up to whole milliseconds,
Qt's unit, so a call may run up to 1 ms late. Either way no call runs early and the
loop never spins waiting for one.

Nested loops (``QDialog.exec()``, ``QMessageBox``, menus) opened from any callback keep
every other timer and connection flowing; a descriptor whose handler is still running
under such a loop is set aside until that handler returns, so no protocol method
re-enters itself. To ask the user something from protocol code without a nested loop,
use :func:`modal`, which opens the dialog and returns a Deferred of its result.

This module and ``inspector/ui/`` are the only places that import Qt.
"""

from __future__ import annotations

import math
import os
import select
import time
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QSocketNotifier, Qt, QThread, QTimer
from zope.interface import implementer

from inspector.defer import Deferred
from inspector.interfaces import IReactorFDSet
from inspector.reactors import timerfd
from inspector.reactors.base import POLLIN, POLLOUT, ReactorBase

__all__ = ["QtReactor", "modal"]

_READ = QSocketNotifier.Type.Read
_WRITE = QSocketNotifier.Type.Write

#: The longest interval a QTimer takes (a signed 32-bit number of milliseconds).
_MAX_MS = 2**31 - 1

_HAS_EPOLL = hasattr(select, "epoll")
if _HAS_EPOLL:
    # The shared dispatch reads poll(2)'s bits; epoll's are the same numbers on Linux.
    _EPOLLIN = select.EPOLLIN
    _EPOLLOUT = select.EPOLLOUT

_monotonic = time.monotonic

#: The most batches of ready descriptors one epoll notifier activation serves before
#: handing the loop back to Qt (see _EpollWatcher._make_on_ready).
_ROUNDS = 4

#: The application this module made (kept alive for the life of the process).
_made_app: Any = None


def _application() -> Any:
    """Return the running Qt application, making a QCoreApplication if there is none.

    The one made here (a headless program) gets Qt's own event dispatcher rather than
    GLib's, unless ``QT_NO_GLIB`` is set either way: with no widgets there is nothing
    to integrate with GLib, and each loop turn costs about 0.6 us less. The variable is
    set only while the application is made, so child processes do not inherit it.
    """
    global _made_app
    app = QCoreApplication.instance()
    if app is None:
        if "QT_NO_GLIB" in os.environ:
            _made_app = app = QCoreApplication([])
        else:
            os.environ["QT_NO_GLIB"] = "1"
            try:
                _made_app = app = QCoreApplication([])
            finally:
                del os.environ["QT_NO_GLIB"]
    return app


def modal(dialog: Any) -> Deferred:
    """Open ``dialog`` window-modally without a nested loop; fire with its result code.

    This is the way to ask the user something from protocol code: ``exec()`` would run
    a nested event loop under the caller, while ``open()`` returns at once and the
    Deferred fires from the dialog's ``finished`` signal. Cancelling the Deferred
    rejects the dialog.
    """

    def finished(code: int) -> None:
        dialog.finished.disconnect(finished)
        result.callback(code)

    def cancel(_: Deferred) -> None:
        # Nobody waits for the answer any more: close the question; the Deferred
        # then fails with CancelledError.
        dialog.finished.disconnect(finished)
        if dialog.isVisible():
            dialog.reject()

    result: Deferred = Deferred(cancel)
    dialog.finished.connect(finished)
    dialog.open()
    return result


class _EpollWatcher:
    """Every descriptor in one epoll set, whose descriptor one QSocketNotifier watches."""

    def __init__(self, reactor: "QtReactor", parent: QObject) -> None:
        self._reactor = reactor
        self._epoll = select.epoll()
        self._masks: dict[int, int] = {}
        self._selectables: dict[int, Any] = {}
        # The DispatchGuard the shared dispatch uses against re-entry under nested loops.
        self.current: Any = None  # the selectable whose handler the innermost dispatch runs
        self.busy: set[Any] = set()  # selectables whose handlers run further up the stack
        self.parked: set[int] = set()  # busy fds taken out of the set by a nested turn
        self._on_ready = self._make_on_ready()
        self._notifier = QSocketNotifier(self._epoll.fileno(), _READ, parent)
        self._notifier.activated.connect(self._on_ready)

    def update(self, fd: int, selectable: Any, reading: bool, writing: bool) -> None:
        """Watch ``fd`` (owned by ``selectable``) for the given directions; none: forget it."""
        mask = (_EPOLLIN if reading else 0) | (_EPOLLOUT if writing else 0)
        masks = self._masks
        old = masks.get(fd)
        if not mask:
            if old is not None and self._selectables.get(fd) is selectable:
                del masks[fd]
                del self._selectables[fd]
                if fd in self.parked:
                    self.parked.discard(fd)
                else:
                    self._unregister(fd)
            return
        self._selectables[fd] = selectable
        if old == mask:
            return
        masks[fd] = mask
        if fd in self.parked:
            return  # registered again with this mask when its handler returns
        try:
            if old is None:
                self._epoll.register(fd, mask)
            else:
                self._epoll.modify(fd, mask)
        except FileExistsError:  # the number of a closed descriptor, reused
            self._epoll.modify(fd, mask)
        except FileNotFoundError:  # closed and reopened under the same number
            self._epoll.register(fd, mask)

    def owner(self, fd: int) -> Any:
        """The selectable ``fd`` is watched for, or None."""
        return self._selectables.get(fd)

    def forget(self, fd: int, selectable: Any) -> None:
        """Drop ``fd`` without a system call: it is about to be closed, which leaves the set."""
        if self._selectables.get(fd) is selectable:
            del self._selectables[fd]
            del self._masks[fd]
            self.parked.discard(fd)

    def _unregister(self, fd: int) -> None:
        try:
            self._epoll.unregister(fd)
        except (OSError, ValueError):
            pass  # already closed: the kernel dropped it from the set

    def _make_on_ready(self) -> Callable[[], None]:
        """Make the notifier's slot: poll the set without blocking and hand every ready
        descriptor to the shared dispatch (:meth:`ReactorBase._dispatch`), this watcher
        guarding against re-entry: a descriptor whose handler is still running further
        up the stack (it opened a nested loop) is parked, taken out of the set until that
        handler returns.

        Then poll again, up to :data:`_ROUNDS` batches per activation: replies that came
        in while the handlers ran are served without going back through Qt's loop (a
        turn of which costs more than the poll), yet Qt's own events wait for at most
        a few batches. Due calls run after every batch.

        A closure over its few names rather than a method: Qt calls it once per loop
        turn, and a plain function is the cheapest thing for PySide to call.
        """
        reactor = self._reactor
        poll = self._epoll.poll
        selectables = self._selectables
        dispatch = reactor._dispatch_guarded
        monotonic = _monotonic

        def on_ready() -> None:
            events = poll(0)
            left = _ROUNDS
            while True:
                dispatch(events, selectables, self)
                heap = reactor._heap
                if heap and heap[0][0] <= monotonic():
                    # Calls made due by these handlers (a callLater(0) closing a connection)
                    # run now rather than one Qt timer activation later.
                    reactor.runUntilCurrent()
                left -= 1
                if not left or not reactor._started:
                    return  # Qt's turn; or a handler stopped the reactor: serve no more
                try:
                    events = poll(0)
                except ValueError:  # a handler closed the reactor, and the set with it
                    return
                if not events:
                    return

        return on_ready

    def park(self, fd: int) -> None:
        """Take busy ``fd`` out of the set until its handler returns (:meth:`unpark`)."""
        self.parked.add(fd)
        self._unregister(fd)

    def unpark(self, fd: int) -> None:
        """Put ``fd`` back in the set with its current mask, unless it was unwatched."""
        self.parked.discard(fd)
        mask = self._masks.get(fd)
        if mask:
            try:
                self._epoll.register(fd, mask)
            except OSError:
                pass  # closed meanwhile

    def close(self) -> None:
        self._notifier.setEnabled(False)
        self._notifier.activated.disconnect(self._on_ready)
        self._epoll.close()
        self._masks.clear()
        self._selectables.clear()


class _Notifier:
    """One descriptor's notifier for one direction: made on first use, then toggled.

    Should it fire again under a nested loop opened by its own handler, it is disabled
    ("parked") until that handler returns, then enabled again if still wanted.
    """

    __slots__ = ("selectable", "notifier", "ready", "owners", "dispatch", "reentrant", "wanted", "busy",
                 "parked")

    def __init__(self, fd: int, selectable: Any, reading: bool, reactor: "QtReactor", parent: QObject) -> None:
        self.selectable = selectable
        # The arguments of the shared dispatch, made once: this descriptor, this direction.
        self.ready = ((fd, POLLIN if reading else POLLOUT),)
        self.owners = {fd: selectable}
        self.dispatch = reactor._dispatch
        self.reentrant = selectable is reactor.waker  # nested loops must still see thread calls
        self.wanted = True  # a new notifier starts enabled
        self.busy = self.parked = False
        self.notifier = QSocketNotifier(fd, _READ if reading else _WRITE, parent)
        self.notifier.activated.connect(self.on_activated)

    def want(self, wanted: bool) -> None:
        if wanted != self.wanted:
            self.wanted = wanted
            if not (wanted and self.parked):  # a parked one comes back when its handler returns
                self.notifier.setEnabled(wanted)

    def on_activated(self) -> None:
        if self.reentrant:
            self.dispatch(self.ready, self.owners, None, True)
            return
        if self.busy:
            self.parked = True
            self.notifier.setEnabled(False)
            return
        self.busy = True
        try:
            self.dispatch(self.ready, self.owners, None, True)
        finally:
            self.busy = False
            if self.parked:
                self.parked = False
                if self.wanted and self.selectable is not None:
                    self.notifier.setEnabled(True)

    def drop(self) -> None:
        """Disable it and schedule its deletion (its descriptor number now belongs to someone else)."""
        self.selectable = None
        self.owners = {}
        self.notifier.setEnabled(False)
        self.notifier.activated.disconnect(self.on_activated)
        self.notifier.deleteLater()


class _NotifierWatcher:
    """One cached QSocketNotifier per descriptor and direction (where epoll is unavailable).

    Entries are keyed by descriptor number; when a number turns up with a new owner
    (the old socket was closed and the number reused) the old notifiers are dropped.
    """

    def __init__(self, reactor: "QtReactor", parent: QObject) -> None:
        self._reactor = reactor
        self._parent = parent
        self._entries: dict[int, list] = {}  # fd -> [owner, read _Notifier|None, write _Notifier|None]

    def update(self, fd: int, selectable: Any, reading: bool, writing: bool) -> None:
        entry = self._entries.get(fd)
        if entry is not None and entry[0] is not selectable:
            if not (reading or writing):
                return  # a stale owner unwatching a number someone else now holds
            self._drop(entry)
            entry = None
        if entry is None:
            if not (reading or writing):
                return
            entry = self._entries[fd] = [selectable, None, None]
        for index, wanted in ((1, reading), (2, writing)):
            notifier = entry[index]
            if notifier is not None:
                notifier.want(wanted)
            elif wanted:
                entry[index] = _Notifier(fd, selectable, index == 1, self._reactor, self._parent)

    def owner(self, fd: int) -> Any:
        """The selectable ``fd`` was last watched for, or None."""
        entry = self._entries.get(fd)
        return entry[0] if entry is not None else None

    def forget(self, fd: int, selectable: Any) -> None:
        self.update(fd, selectable, False, False)

    @staticmethod
    def _drop(entry: list) -> None:
        for notifier in entry[1:]:
            if notifier is not None:
                notifier.drop()

    def close(self) -> None:
        for entry in self._entries.values():
            self._drop(entry)
        self._entries.clear()


@implementer(IReactorFDSet)
class QtReactor(ReactorBase):
    """A reactor whose loop is Qt's: use it for anything with a window.

    Make the ``QApplication`` first when there will be widgets: without one, the
    reactor makes a ``QCoreApplication`` (enough for a headless program), and Qt
    allows one application object per process. ``use_epoll=False`` forces one
    notifier per descriptor even where epoll exists (the path other platforms take).
    """

    #: Qt's loop waits in C++, where Python's signal handlers cannot run: wake it.
    wake_on_signals = True

    #: With the timerfd (Linux): deadlines are rounded up to a multiple of this many
    #: seconds, so calls due within it share one wake-up; it bounds their lateness.
    timer_grain = 0.00025

    def __init__(self, use_epoll: bool | None = None) -> None:
        self._app = _application()
        # Everything Qt the reactor makes hangs under one holder that close() deletes (then None).
        self._holder: QObject | None = QObject(self._app)
        self._holder.setObjectName("inspector-reactor")
        if use_epoll is None:
            use_epoll = _HAS_EPOLL
        if use_epoll and not _HAS_EPOLL:
            raise ValueError("use_epoll=True needs select.epoll, which this platform lacks")
        self._watcher: Any = _EpollWatcher(self, self._holder) if use_epoll else _NotifierWatcher(self, self._holder)
        self._reads: dict[Any, int] = {}
        self._writes: dict[Any, int] = {}
        self._timer = QTimer(self._holder)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_timer)
        self._armed_for: float | None = None  # the deadline the timers aim at (-1: at once)
        # Linux with epoll: future deadlines go to a timerfd (to the microsecond), calls
        # due at once to the QTimer (started with 0); elsewhere everything to the QTimer.
        self._deadline: timerfd.TimerFD | None = None
        self._deadline_at: float | None = None  # what the timerfd is aimed at, None: not aimed
        self._timer_now = False  # the QTimer is started with 0 (precise mode)
        if use_epoll and timerfd.available():
            self._deadline = timerfd.TimerFD()
            self._deadline_notifier = QSocketNotifier(self._deadline.fileno(), _READ, self._holder)
            self._deadline_notifier.activated.connect(self._on_deadline)
        self._entered_app = False  # run() started app.exec(): stop() may leave it
        self._quit_loop: Any = None  # a local loop waiting for shutdown after aboutToQuit
        self._quit_connected = False
        self._shutdown_fired = False
        super().__init__()

    # ------------------------------------------------------------ descriptors

    def _claim(self, selectable: Any) -> int:
        """Return ``selectable``'s descriptor, dropping a stale owner of the same number."""
        fd = selectable.fileno()
        if fd < 0:
            raise ValueError(f"{selectable!r} has no open descriptor")
        owner = self._watcher.owner(fd)
        if owner is not None and owner is not selectable:
            # The old socket was closed without being removed and its number reused.
            self._reads.pop(owner, None)
            self._writes.pop(owner, None)
            self._watcher.update(fd, owner, False, False)
        return fd

    def addReader(self, reader: Any) -> None:
        """Call ``reader.doRead()`` whenever its descriptor is readable."""
        if reader in self._reads:
            return
        fd = self._claim(reader)
        self._watcher.update(fd, reader, True, reader in self._writes)
        self._reads[reader] = fd

    def addWriter(self, writer: Any) -> None:
        """Call ``writer.doWrite()`` whenever its descriptor is writable."""
        if writer in self._writes:
            return
        fd = self._claim(writer)
        self._watcher.update(fd, writer, writer in self._reads, True)
        self._writes[writer] = fd

    def removeReader(self, reader: Any) -> None:
        """Stop watching ``reader`` for readability."""
        fd = self._reads.pop(reader, None)
        if fd is not None:
            self._watcher.update(fd, reader, False, reader in self._writes)

    def removeWriter(self, writer: Any) -> None:
        """Stop watching ``writer`` for writability."""
        fd = self._writes.pop(writer, None)
        if fd is not None:
            self._watcher.update(fd, writer, writer in self._reads, False)

    def _forget(self, selectable: Any) -> None:
        """Drop ``selectable`` whose descriptor is about to close (no system call needed)."""
        fd = self._reads.pop(selectable, None)
        wfd = self._writes.pop(selectable, None)
        fd = fd if fd is not None else wfd
        if fd is not None:
            self._watcher.forget(fd, selectable)

    # ------------------------------------------------------------------ timers

    def _timers_changed(self) -> None:
        """Aim the timers at the earliest deadline: the timerfd to the microsecond (the
        QTimer for a call due now), or without one the QTimer rounded up to whole ms."""
        timer = self._timer
        delay = self.timeout()
        if delay is None:
            if self._armed_for is not None:
                self._armed_for = None
                timer.stop()
                self._timer_now = False
            return  # a timerfd aimed at a call since cancelled fires once, then rests
        heap = self._heap
        deadline = heap[0][0] if heap and not self._thread_calls else -1.0
        if deadline == self._armed_for and deadline >= 0:
            return  # already aimed there
        self._armed_for = deadline
        if self._deadline is None:
            ms = math.ceil(delay * 1000.0)
            timer.start(ms if ms < _MAX_MS else _MAX_MS)
        elif delay <= 0.0:
            if not self._timer_now:
                self._timer_now = True
                timer.start(0)
        else:
            if self._timer_now:
                self._timer_now = False
                timer.stop()
            # Up to the next multiple of timer_grain on the clock: deadlines that close
            # share one wake-up.
            grain = self.timer_grain
            deadline = math.ceil(deadline / grain) * grain
            aimed = self._deadline_at
            # Aimed earlier already (its call was cancelled or moved later): let it fire
            # early once and aim again then, rather than a system call per change; but
            # aim again now if that time has passed (its call ran from a readiness turn).
            if aimed is None or deadline < aimed or aimed <= heap[0][0] - delay:
                self._deadline_at = deadline
                self._deadline.aim(deadline)

    def _on_timer(self) -> None:
        # Should a due call open a nested loop, the timer fires again under it at once so
        # the other due calls still run; runUntilCurrent re-aims it when it returns.
        self._armed_for = -1.0
        self._timer_now = True
        self._timer.start(0)
        self.runUntilCurrent()

    def _on_deadline(self) -> None:
        """The timerfd expired: consume it and run what is due, as the QTimer would."""
        deadline = self._deadline
        if deadline is None:
            return
        deadline.clear()
        self._deadline_at = None
        self._on_timer()

    # ------------------------------------------------------------ run and stop

    def startRunning(self) -> None:
        """Start the reactor; shut it down too should the application quit."""
        super().startRunning()
        if not self._quit_connected:
            self._app.aboutToQuit.connect(self._on_about_to_quit)
            self._quit_connected = True

    def doIteration(self, timeout: float | None) -> None:
        """Not available: Qt's loop turns itself; use ``run()`` (or run app.exec())."""
        raise NotImplementedError(
            "a reactor hosted on Qt's loop cannot run single turns (iterate()); "
            "Qt runs the loop: use run()"
        )

    def mainLoop(self) -> None:
        """Run ``app.exec()`` until the reactor stops, unless a Qt loop already runs."""
        if QThread.currentThread().loopLevel() > 0 or not self._started:
            return  # a window or test runs the loop: the reactor just lives in it
        self._entered_app = True
        try:
            self._app.exec()
        finally:
            self._entered_app = False

    def _leave_loop(self) -> None:
        """After crash(): leave the loop run() started, never one someone else runs."""
        self._disconnect_quit()
        if self._quit_loop is not None:
            self._quit_loop.exit(0)
        elif self._entered_app:
            self._entered_app = False
            self._app.exit(0)

    def fireSystemEvent(self, eventType: str) -> None:
        """Fire the triggers of ``eventType``; shutdown's only once (stop() and aboutToQuit may both ask)."""
        if eventType == "shutdown":
            if self._shutdown_fired:
                return
            self._shutdown_fired = True
        super().fireSystemEvent(eventType)

    def _on_about_to_quit(self) -> None:
        """The application is quitting: run the shutdown triggers once, waiting for their Deferreds."""
        self._disconnect_quit()
        if not self._started:
            return
        self._entered_app = False  # app.exec() has returned already
        if not self._shutdown_fired:
            self._stopped = True
            self._startedBefore = True
            self.fireSystemEvent("shutdown")
        if self._started:
            # A 'before' trigger's Deferred is pending: keep Qt's loop turning until it fires.
            self._quit_loop = QEventLoop()
            try:
                self._quit_loop.exec()
            finally:
                self._quit_loop = None

    def _disconnect_quit(self) -> None:
        if self._quit_connected:
            self._quit_connected = False
            try:
                self._app.aboutToQuit.disconnect(self._on_about_to_quit)
            except (RuntimeError, TypeError):
                pass

    def close(self) -> None:
        """Release the epoll set, notifiers, timer, waker and threads; safe to call twice."""
        if self._closed:
            return
        super().close()
        self._disconnect_quit()
        self._timer.stop()
        self._timer.timeout.disconnect(self._on_timer)
        if self._deadline is not None:
            self._deadline_notifier.setEnabled(False)
            self._deadline_notifier.activated.disconnect(self._on_deadline)
            self._deadline.close()
            self._deadline = None
        self._watcher.close()
        holder, self._holder = self._holder, None
        assert holder is not None  # close() runs once (the _closed check above)
        if QThread.currentThread().loopLevel() > 0:
            holder.deleteLater()  # maybe called from one of its own slots: Qt deletes it after
        else:
            holder.setParent(None)
            shiboken6.delete(holder)
