"""A call scheduled with ``callLater``: the one ``DelayedCall`` every reactor and ``task.Clock`` hand out.

It lives in the core, below the reactors, so ``task.Clock`` (a fake ``IReactorTime``)
returns the very object the reactors do without importing a reactor. Its owner keeps
the schedule; the call asks it to drop or move the call (:class:`TimerOwner`).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Protocol

from zope.interface import implementer

from inspector import error
from inspector.helpers import describe_callable
from inspector.interfaces import IDelayedCall

__all__ = ["DelayedCall", "TimerOwner", "check_delay"]

#: The largest float: above it (inf, or an int too big for a float) no delay is finite.
_MAX_SECONDS = sys.float_info.max


def check_delay(delay: Any, name: str = "delay") -> None:
    """Refuse a delay that is not a finite number of seconds >= 0 (NaN and inf included).

    ValueError (TypeError for a non-number) names the argument and the value, so a
    timer that could never fire, or would break the loop's wait, fails where it is made.
    """
    try:
        if 0 <= delay <= _MAX_SECONDS:
            return
    except TypeError:
        raise TypeError(f"{name} must be a number of seconds, not {type(delay).__name__}") from None
    raise ValueError(f"{name} must be a finite number of seconds >= 0, got {delay!r}")


class TimerOwner(Protocol):
    """What a ``DelayedCall`` needs from whoever scheduled it (a reactor or a ``Clock``)."""

    def seconds(self) -> float: ...

    def _cancelled_call(self, call: DelayedCall) -> None: ...

    def _move_call(self, call: DelayedCall, when: float) -> None: ...


@implementer(IDelayedCall)
class DelayedCall:
    """A call scheduled with ``callLater``: cancel it, move it, ask when it runs."""

    __slots__ = ("time", "func", "args", "kw", "cancelled", "called", "_seq", "_reactor", "__weakref__")

    def __init__(
        self, reactor: TimerOwner, when: float, seq: int, func: Callable[..., Any], args: tuple, kw: dict
    ) -> None:
        self._reactor = reactor
        self.time = when
        self._seq = seq
        self.func = func
        self.args = args
        self.kw = kw
        self.cancelled = 0
        self.called = 0

    def getTime(self) -> float:
        """Return when the call will run, on the reactor's ``seconds()`` clock."""
        return self.time

    def active(self) -> bool:
        """Return True while the call has neither run nor been cancelled."""
        return not (self.cancelled or self.called)

    def _check_active(self) -> None:
        if self.cancelled:
            raise error.AlreadyCancelled(self)
        if self.called:
            raise error.AlreadyCalled(self)

    def cancel(self) -> None:
        """Cancel the call; AlreadyCalled/AlreadyCancelled if it is too late."""
        self._check_active()
        self.cancelled = 1
        self._reactor._cancelled_call(self)  # a reactor's tells the trace (hook timer_cancelled)
        self.func = self.args = self.kw = None  # type: ignore[assignment]  # drop references early

    def reset(self, secondsFromNow: float) -> None:
        """Run the call ``secondsFromNow`` seconds from now instead (finite, >= 0)."""
        check_delay(secondsFromNow, "secondsFromNow")
        self._check_active()
        self._reactor._move_call(self, self._reactor.seconds() + secondsFromNow)

    def delay(self, secondsLater: float) -> None:
        """Run the call ``secondsLater`` seconds later than planned (negative: earlier; finite)."""
        try:
            finite = -_MAX_SECONDS <= secondsLater <= _MAX_SECONDS
        except TypeError:
            raise TypeError(f"secondsLater must be a number of seconds, not {type(secondsLater).__name__}") from None
        if not finite:
            raise ValueError(f"secondsLater must be a finite number of seconds, got {secondsLater!r}")
        self._check_active()
        self._reactor._move_call(self, self.time + secondsLater)

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "called" if self.called else "pending"
        func = describe_callable(self.func) if self.func is not None else "-"
        return f"<DelayedCall {func} at {self.time:.6f} {state}>"
