"""inspector.task: Clock, LoopingCall, deferLater, react and the Cooperator, as in Twisted.

Time-based behaviour is checked on a Clock (no sleeps). Where cheap, the same scenario
runs against ``twisted.internet.task`` and the observable sequence must match.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
from zope.interface.verify import verifyObject

from inspector import error, task
from inspector.interfaces import IDelayedCall, IReactorTime

twisted_task = pytest.importorskip("twisted.internet.task", reason="Twisted (the bench extra) compares behaviour")


def both_clocks() -> list[Any]:
    return [task.Clock(), twisted_task.Clock()]


# ---------------------------------------------------------------------------- Clock


def test_clock_provides_ireactortime_and_its_calls_idelayedcall() -> None:
    clock = task.Clock()
    verifyObject(IReactorTime, clock)
    call = clock.callLater(1, lambda: None)
    verifyObject(IDelayedCall, call)


def clock_scenario(clock: Any) -> list[Any]:
    """Schedule, cancel, reset, delay and advance; return what a user can observe."""
    seen: list[Any] = []
    record: Callable[..., Any] = lambda *a, **kw: seen.append((clock.seconds(), a, kw))  # noqa: E731
    seen.append(("start", clock.seconds(), clock.rightNow))
    a = clock.callLater(2, record, "a")
    b = clock.callLater(1, record, "b", k=1)
    c = clock.callLater(2, record, "c")
    d = clock.callLater(5, record, "d")
    e = clock.callLater(3, record, "e")
    seen.append(("pending", [call.getTime() for call in clock.getDelayedCalls()]))
    c.cancel()
    seen.append(("cancelled", c.active(), c.cancelled, c.called))
    d.reset(1)
    e.delay(4)
    seen.append(("moved", d.getTime(), e.getTime()))
    clock.advance(0.5)
    seen.append(("after 0.5", clock.seconds()))
    clock.advance(1.5)
    seen.append(("after 2", a.active(), a.called, b.called, d.called))
    clock.pump([1, 1, 1, 1, 1])
    seen.append(("end", clock.seconds(), len(clock.getDelayedCalls()), e.called))
    for call, name in ((a, "a"), (c, "c")):
        for method, args in (("cancel", ()), ("reset", (1,)), ("delay", (1,))):
            try:
                getattr(call, method)(*args)
            except Exception as exc:  # noqa: BLE001 - the exception's kind is the point
                seen.append((name, method, type(exc).__name__))
    return seen


def test_clock_schedules_like_twisted() -> None:
    ours, theirs = (clock_scenario(clock) for clock in both_clocks())
    assert ours == theirs
    # And the scenario said something: order by time, then by scheduling order.
    fired = [entry[1][0] for entry in ours if isinstance(entry[0], float) and isinstance(entry[1], tuple)]
    assert fired == ["b", "d", "a", "e"]


def test_clock_errors_are_the_reactors_errors() -> None:
    clock = task.Clock()
    call = clock.callLater(1, lambda: None)
    call.cancel()
    with pytest.raises(error.AlreadyCancelled):
        call.cancel()
    done = clock.callLater(1, lambda: None)
    clock.advance(1)
    with pytest.raises(error.AlreadyCalled):
        done.reset(2)


def test_call_scheduled_for_now_during_advance_runs_in_that_advance() -> None:
    for clock in both_clocks():
        seen: list[str] = []

        def first() -> None:
            seen.append("first")
            clock.callLater(0, seen.append, "now")
            clock.callLater(2, seen.append, "next advance")

        clock.callLater(1, first)
        clock.advance(1.5)
        assert seen == ["first", "now"], type(clock)
        clock.advance(1.9)
        assert seen[-1] == "now"
        clock.advance(0.1)
        assert seen[-1] == "next advance"


def test_same_time_calls_run_in_scheduling_order() -> None:
    clock = task.Clock()
    seen: list[int] = []
    for i in range(20):
        clock.callLater(1, seen.append, i)
    clock.advance(1)
    assert seen == list(range(20))


def test_exception_in_call_propagates_and_leaves_the_rest_pending() -> None:
    for clock in both_clocks():
        seen: list[str] = []

        def boom() -> None:
            raise ZeroDivisionError("boom")

        clock.callLater(1, boom)
        clock.callLater(1, seen.append, "after")
        with pytest.raises(ZeroDivisionError):
            clock.advance(1)
        assert seen == [] and len(clock.getDelayedCalls()) == 1
        clock.advance(0)
        assert seen == ["after"]


def test_clock_refuses_bad_delays() -> None:
    clock = task.Clock()
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            clock.callLater(bad, lambda: None)
    with pytest.raises(TypeError):
        clock.callLater(1, "not callable")
    assert clock.getDelayedCalls() == []


def test_each_clock_has_its_own_time() -> None:
    one, two = task.Clock(), task.Clock()
    one.advance(5)
    assert (one.seconds(), two.seconds()) == (5, 0)
