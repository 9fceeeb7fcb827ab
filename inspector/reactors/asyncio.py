"""The asyncio reactor: the framework hosted on an asyncio event loop.

Descriptors are watched with the loop's ``add_reader``/``add_writer``; the reactor keeps
its own timer heap (``base.py``) and holds ONE ``call_at`` handle, aimed at the earliest
deadline; ``callFromThread`` wakes the loop with ``call_soon_threadsafe``. So Deferred
code and asyncio code (``await d.asFuture(loop)``, ``Deferred.fromFuture(f)``) share
one loop and one thread.

``run()`` runs the loop when it is not running; under a running loop (``asyncio.run``)
it only starts the reactor. Proactor loops cannot watch descriptors and are refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

from zope.interface import implementer

from inspector.interfaces import IReactorFDSet
from inspector.reactors.base import POLLIN, POLLOUT, ReactorBase

__all__ = ["AsyncioReactor"]

try:
    from asyncio.proactor_events import BaseProactorEventLoop as _ProactorLoop
except ImportError:  # pragma: no cover - present on every platform today
    _ProactorLoop = ()  # type: ignore[assignment, misc]


@implementer(IReactorFDSet)
class AsyncioReactor(ReactorBase):
    """A reactor on an asyncio loop: ``loop`` if given, the running loop, or a new one it owns."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        owned = False
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = asyncio.new_event_loop()
                owned = True
        if isinstance(loop, _ProactorLoop):
            raise TypeError(
                f"{type(loop).__name__} is a proactor loop: it cannot watch sockets for "
                "readiness (no add_reader), which this reactor needs. Use a selector loop "
                "(asyncio.SelectorEventLoop; on Windows, WindowsSelectorEventLoopPolicy)."
            )
        self.loop = loop
        self._owns_loop = owned
        self._reads: dict[Any, int] = {}
        self._writes: dict[Any, int] = {}
        self._selectables: dict[int, Any] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        self._wake_pending = False
        self._entered_loop = False
        super().__init__()

    def _install_waker(self) -> None:
        """Wake-ups go through ``call_soon_threadsafe``; the descriptor waker is not watched."""

    def wakeUp(self) -> None:
        """Make the loop run the queued thread calls soon (any thread; one wake per burst)."""
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            self.loop.call_soon_threadsafe(self._on_wake)
        except RuntimeError:
            self._wake_pending = False  # the loop is closed: nothing will run them

    def _on_wake(self) -> None:
        self._wake_pending = False  # cleared before running: a racing wake is never lost
        self._run_thread_calls()

    # ------------------------------------------------------------ descriptors

    def _claim(self, selectable: Any) -> int:
        fd = selectable.fileno()
        if fd < 0:
            raise ValueError(f"{selectable!r} has no open descriptor")
        other = self._selectables.get(fd)
        if other is not None and other is not selectable:
            # The number was reused by a new socket before the old owner was removed:
            # drop the old owner's registrations so none of its callbacks fire for it.
            del self._selectables[fd]
            for table, remove in ((self._reads, self.loop.remove_reader), (self._writes, self.loop.remove_writer)):
                if table.pop(other, None) is not None:
                    try:
                        remove(fd)
                    except OSError:
                        pass  # the kernel already forgot the closed descriptor
        self._selectables[fd] = selectable
        return fd

    def addReader(self, reader: Any) -> None:
        """Call ``reader.doRead()`` whenever its descriptor is readable (the loop calls the
        shared dispatch with this descriptor and the fd -> selectable map)."""
        if reader in self._reads:
            return
        fd = self._claim(reader)
        self.loop.add_reader(fd, self._dispatch, ((fd, POLLIN),), self._selectables, None, True)
        self._reads[reader] = fd

    def addWriter(self, writer: Any) -> None:
        """Call ``writer.doWrite()`` whenever its descriptor is writable."""
        if writer in self._writes:
            return
        fd = self._claim(writer)
        self.loop.add_writer(fd, self._dispatch, ((fd, POLLOUT),), self._selectables, None, True)
        self._writes[writer] = fd

    def _release(self, selectable: Any, fd: int) -> bool:
        """True if ``fd`` still belongs to ``selectable`` (else someone reused the number)."""
        if self._selectables.get(fd) is not selectable:
            return False
        if selectable not in self._reads and selectable not in self._writes:
            del self._selectables[fd]
        return True

    def removeReader(self, reader: Any) -> None:
        """Stop watching ``reader`` for readability."""
        fd = self._reads.pop(reader, None)
        if fd is not None and self._release(reader, fd):
            self.loop.remove_reader(fd)

    def removeWriter(self, writer: Any) -> None:
        """Stop watching ``writer`` for writability."""
        fd = self._writes.pop(writer, None)
        if fd is not None and self._release(writer, fd):
            self.loop.remove_writer(fd)

    # ------------------------------------------------------------------ timers

    def _timers_changed(self) -> None:
        """Keep ONE loop timer aimed at the earliest deadline."""
        delay = self.timeout()
        timer = self._timer
        if delay is None:
            if timer is not None:
                timer.cancel()
                self._timer = self._armed_for = None
            return
        heap = self._heap
        deadline = heap[0][0] if heap and not self._thread_calls else -1.0
        if timer is not None:
            if deadline == self._armed_for and deadline >= 0:
                return
            timer.cancel()
        self._armed_for = deadline
        loop = self.loop
        self._timer = loop.call_at(loop.time() + delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._armed_for = None
        self.runUntilCurrent()

    # ------------------------------------------------------------ run and stop

    def run(self, installSignalHandlers: bool = True) -> None:
        """Start the reactor and run the loop until ``stop()``; under a running loop, only start.

        When this runs the loop, the startup triggers (``callWhenRunning``) fire inside
        it, so they may use ``asyncio.get_running_loop()`` and create tasks. As on every
        reactor, ``installSignalHandlers=False`` leaves SIGINT and SIGTERM to the application.
        """
        self.install_signal_handlers = installSignalHandlers
        loop = self.loop
        if loop.is_running():
            self.startRunning()
            return
        failed: list[BaseException] = []

        def start() -> None:
            try:
                self.startRunning()
            except BaseException as exc:  # reported from run() below
                failed.append(exc)
                loop.stop()

        loop.call_soon(start)
        self._entered_loop = True
        try:
            loop.run_forever()
        finally:
            self._entered_loop = False
        if failed:
            raise failed[0]

    def doIteration(self, timeout: float | None) -> None:
        """Not available: asyncio's loop turns itself; use ``run()`` (or run loop.run_forever())."""
        raise NotImplementedError(
            "a reactor hosted on asyncio's loop cannot run single turns (iterate()); "
            "asyncio runs the loop: use run()"
        )

    def mainLoop(self) -> None:
        """Run the asyncio loop until the reactor stops, unless it is already running."""
        loop = self.loop
        if loop.is_running() or not self._started:
            return
        self._entered_loop = True
        try:
            loop.run_forever()
        finally:
            self._entered_loop = False

    def _leave_loop(self) -> None:
        """After crash(): stop the loop run() started, never one someone else runs."""
        if self._entered_loop:
            self._entered_loop = False
            self.loop.stop()

    def close(self) -> None:
        """Stop watching, drop the timer, stop the threads; close the loop if it is ours."""
        if self._closed:
            return
        super().close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.loop.is_closed():
            self.removeAll()
            if self._owns_loop and not self.loop.is_running():
                self.loop.close()
