"""Scheduling helpers with Twisted's names: Clock, LoopingCall, deferLater, react, Cooperator.

``Clock`` is a fake ``IReactorTime`` whose time only moves when a test says so, so
anything built on ``callLater`` can be tested without sleeping. The rest schedules work
on any ``IReactorTime`` (a real reactor or a ``Clock``) the way ``twisted.internet.task``
does.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable

from zope.interface import implementer

from inspector.interfaces import IDelayedCall, IReactorTime
from inspector.reactors.base import DelayedCall, check_delay

__all__ = ["Clock"]


@implementer(IReactorTime)
class Clock:
    """A deterministic ``IReactorTime`` for tests: time moves only with ``advance``.

    Its ``callLater`` returns the same ``DelayedCall`` the reactors do (cancel, reset,
    delay, active, getTime). Calls due at the same time run in the order they were
    scheduled, and a call scheduled during ``advance`` that is already due runs in that
    same ``advance``. An exception raised by a call propagates out of ``advance`` (as in
    Twisted), so a test sees it; the calls still pending stay scheduled.
    """

    #: The current time on this clock, in seconds (starts at 0).
    rightNow: float = 0.0

    def __init__(self) -> None:
        #: The pending calls, earliest first (Twisted's ``Clock.calls``).
        self.calls: list[DelayedCall] = []
        self._seq = itertools.count().__next__

    def seconds(self) -> float:
        """Return the clock's current time."""
        return self.rightNow

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> IDelayedCall:
        """Call ``callable(*args, **kw)`` once the clock has advanced ``delay`` seconds.

        ``delay`` must be a finite number >= 0, as on the reactors.
        """
        if not hasattr(callable, "__call__"):
            raise TypeError(f"{callable!r} is not callable")
        check_delay(delay)
        call = DelayedCall(self, self.rightNow + delay, self._seq(), callable, args, kw)  # type: ignore[arg-type]
        self.calls.append(call)
        self._sort()
        return call

    def getDelayedCalls(self) -> list[IDelayedCall]:
        """Return the pending calls, earliest first."""
        return list(self.calls)

    def advance(self, amount: float) -> None:
        """Move time forward by ``amount`` seconds and run every call that is then due."""
        self.rightNow += amount
        self._sort()
        calls = self.calls
        while calls and calls[0].time <= self.rightNow:
            call = calls.pop(0)
            call.called = 1
            call.func(*call.args, **call.kw)
            self._sort()

    def pump(self, timings: Iterable[float]) -> None:
        """Advance by each amount in ``timings`` in turn, running calls after each step."""
        for amount in timings:
            self.advance(amount)

    # Hooks the shared DelayedCall calls on its owner.

    def _sort(self) -> None:
        # A stable sort: calls due at the same time keep the order they were added in.
        self.calls.sort(key=_call_time)

    def _cancelled_call(self, call: DelayedCall) -> None:
        self.calls.remove(call)

    def _move_call(self, call: DelayedCall, when: float) -> None:
        call.time = when
        self._sort()


def _call_time(call: DelayedCall) -> float:
    return call.time
