"""The default reactor: the stdlib's readiness polling (epoll on Linux, poll elsewhere).

It talks to ``select.epoll`` directly rather than through ``selectors.DefaultSelector``:
the wrapper's per-event key objects cost more than the rest of the hot path. Each
descriptor is registered once per change of interest; a loop turn costs one
``epoll_wait`` plus the handlers of the descriptors that are ready.
"""

from __future__ import annotations

import math
import select
from typing import Any

from zope.interface import implementer

from inspector.interfaces import IReactorFDSet
from inspector.reactors.base import MAX_WAIT, POLLIN, POLLOUT, ReactorBase

__all__ = ["SelectorsReactor"]

_IN = POLLIN
_OUT = POLLOUT
# A TraceHooks (the contract in inspector/hooks.py) while tracing is on, else None;
# every hook call is one line: `if _tracer is not None: _tracer.hook(...)`.
_tracer = None


class _Poll:
    """``select.poll`` with epoll's calling convention (timeout in seconds, -1 forever)."""

    def __init__(self) -> None:
        self._poll = select.poll()
        self.register = self._poll.register
        self.modify = self._poll.modify
        self.unregister = self._poll.unregister

    def poll(self, timeout: float = -1) -> list[tuple[int, int]]:
        if timeout is None or timeout < 0:
            return self._poll.poll()
        # poll() takes a C int of milliseconds: never more than MAX_WAIT.
        return self._poll.poll(math.ceil(min(timeout, MAX_WAIT) * 1000))

    def close(self) -> None:
        self._poll = None  # type: ignore[assignment]


def _make_poller() -> Any:
    if hasattr(select, "epoll"):
        return select.epoll()
    return _Poll()


@implementer(IReactorFDSet)
class SelectorsReactor(ReactorBase):
    """A reactor on epoll (Linux) or poll; the default."""

    def __init__(self) -> None:
        self._poller = _make_poller()
        self._selectables: dict[int, Any] = {}
        self._reads: dict[Any, int] = {}
        self._writes: dict[Any, int] = {}
        super().__init__()

    # ------------------------------------------------------------- watching

    def _update(self, selectable: Any, fd: int, mask: int, was_registered: bool) -> None:
        poller = self._poller
        other = self._selectables.get(fd)
        if other is not None and other is not selectable:
            # The descriptor number was reused by a new socket before the old owner
            # was removed: forget the stale owner.
            self._reads.pop(other, None)
            self._writes.pop(other, None)
            was_registered = True
        if was_registered:
            try:
                poller.modify(fd, mask)
            except FileNotFoundError:
                poller.register(fd, mask)
        else:
            try:
                poller.register(fd, mask)
            except FileExistsError:
                poller.modify(fd, mask)
        self._selectables[fd] = selectable

    def addReader(self, reader: Any) -> None:
        """Call ``reader.doRead()`` whenever its descriptor is readable."""
        if reader in self._reads:
            return
        fd = reader.fileno()
        if fd < 0:
            raise ValueError(f"{reader!r} has no open descriptor")
        writing = reader in self._writes
        self._update(reader, fd, _IN | _OUT if writing else _IN, writing)
        self._reads[reader] = fd

    def addWriter(self, writer: Any) -> None:
        """Call ``writer.doWrite()`` whenever its descriptor is writable."""
        if writer in self._writes:
            return
        fd = writer.fileno()
        if fd < 0:
            raise ValueError(f"{writer!r} has no open descriptor")
        reading = writer in self._reads
        self._update(writer, fd, _IN | _OUT if reading else _OUT, reading)
        self._writes[writer] = fd

    def _remove(self, selectable: Any, mine: dict, other: dict, other_mask: int) -> None:
        fd = mine.pop(selectable, None)
        if fd is None:
            return
        if self._selectables.get(fd) is not selectable:
            return  # stale: the number now belongs to someone else
        try:
            if selectable in other:
                self._poller.modify(fd, other_mask)
                return
            self._poller.unregister(fd)
        except (OSError, ValueError):
            pass  # already closed: the kernel dropped it from the set
        del self._selectables[fd]

    def removeReader(self, reader: Any) -> None:
        """Stop watching ``reader`` for readability."""
        self._remove(reader, self._reads, self._writes, _OUT)

    def removeWriter(self, writer: Any) -> None:
        """Stop watching ``writer`` for writability."""
        self._remove(writer, self._writes, self._reads, _IN)

    # -------------------------------------------------------------- waiting

    def doIteration(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds for readiness, then hand every ready descriptor
        to the shared dispatch routine (:meth:`ReactorBase._dispatch`).

        A wait longer than ``MAX_WAIT`` is cut to it (epoll's timeout is a C int of
        milliseconds); the loop then wakes and waits again.
        """
        if timeout is None:
            timeout = -1
        elif timeout > MAX_WAIT:
            timeout = MAX_WAIT
        try:
            events = self._poller.poll(timeout)
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            return
        if not events:
            return
        if _tracer is not None: _tracer.turn_started(self, len(events))
        self._dispatch(events, self._selectables)

    def close(self) -> None:
        """Release the poller, the waker and the thread pool; safe to call twice."""
        if self._closed:
            return
        super().close()
        self._poller.close()

