"""inspector.task: Clock, LoopingCall, deferLater, react and the Cooperator, as in Twisted.

Time-based behaviour is checked on a Clock (no sleeps). Where cheap, the same scenario
runs against ``twisted.internet.task`` and the observable sequence must match.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import pytest
from zope.interface.verify import verifyObject

from inspector import defer as our_defer
from inspector import error, task
from inspector.interfaces import IDelayedCall, IReactorTime

twisted_task = pytest.importorskip("twisted.internet.task", reason="Twisted (the bench extra) compares behaviour")
twisted_defer = pytest.importorskip("twisted.internet.defer")


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


# ---------------------------------------------------------------------- LoopingCall
#
# Each scenario takes the task module under test and its Deferred class, drives a
# LoopingCall on that module's Clock and returns what a user observes: which calls ran
# at what clock time with which arguments, the loop's state, and how the Deferred from
# start() ended. Ours must match Twisted's.

def outcome_of(deferred: Any, loop: Any) -> list[Any]:
    """Record how ``deferred`` ends: ('fired', is-the-loop) or ('failed', type, message)."""
    seen: list[Any] = []

    def fired(result: Any) -> None:
        seen.append(("fired", result is loop))

    def failed(failure: Any) -> None:
        seen.append(("failed", failure.type.__name__, str(failure.value)))

    deferred.addCallbacks(fired, failed)
    return seen


def lc_basic(mod: Any, dmod: Any, now: bool) -> list[Any]:
    clock = mod.Clock()
    seen: list[Any] = []
    loop = mod.LoopingCall(lambda *a, **kw: seen.append((clock.seconds(), a, kw)), 1, k=2)
    loop.clock = clock
    result = outcome_of(loop.start(1.0, now=now), loop)
    seen.append(("started", loop.running, loop.interval, loop.starttime, result[:]))
    clock.pump([0.5] * 7)
    loop.stop()
    seen.append(("stopped", loop.running, result[:], clock.getDelayedCalls() == []))
    clock.pump([1, 1])
    return seen


def lc_late(mod: Any, dmod: Any) -> list[Any]:
    """A loop that was late runs once, then keeps to the grid from starttime."""
    clock = mod.Clock()
    clock.advance(10)
    seen: list[Any] = []
    loop = mod.LoopingCall(lambda: seen.append(clock.seconds()))
    loop.clock = clock
    loop.start(2)
    clock.advance(7.5)  # due at 12, 14, 16: runs once at 17.5
    seen.append(("next", [c.getTime() for c in clock.getDelayedCalls()]))
    clock.advance(0.5)
    clock.advance(2)
    loop.stop()
    return seen


def lc_count(mod: Any, dmod: Any, now: bool) -> list[Any]:
    clock = mod.Clock()
    counts: list[Any] = []
    loop = mod.LoopingCall.withCount(lambda n: counts.append((clock.seconds(), n)))
    loop.clock = clock
    loop.start(1, now=now)
    clock.pump([1, 3.5, 0.25, 0.25, 1, 5])
    loop.stop()
    return counts


def lc_count_deferred(mod: Any, dmod: Any) -> list[Any]:
    """The count includes intervals skipped while a returned Deferred was pending."""
    clock = mod.Clock()
    counts: list[Any] = []
    pending: list[Any] = []

    def counted(n: int) -> Any:
        counts.append((clock.seconds(), n))
        d = dmod.Deferred()
        pending.append(d)
        return d

    loop = mod.LoopingCall.withCount(counted)
    loop.clock = clock
    loop.start(1)
    clock.advance(2.5)
    pending.pop().callback(None)
    clock.advance(0.5)
    pending.pop().callback(None)
    clock.advance(1)
    loop.stop()
    pending.pop().callback(None)
    return counts


def lc_deferred(mod: Any, dmod: Any) -> list[Any]:
    """A returned Deferred holds the next call; stop() while it is pending fires later."""
    clock = mod.Clock()
    seen: list[Any] = []
    pending: list[Any] = []

    def work() -> Any:
        seen.append(("call", clock.seconds()))
        d = dmod.Deferred()
        pending.append(d)
        return d

    loop = mod.LoopingCall(work)
    loop.clock = clock
    result = outcome_of(loop.start(1), loop)
    clock.advance(3)
    seen.append(("waiting", len(clock.getDelayedCalls()), loop.call is None))
    clock.advance(0.2)
    pending.pop().callback("ignored")
    seen.append(("next at", [c.getTime() for c in clock.getDelayedCalls()]))
    clock.advance(1)
    loop.stop()
    seen.append(("stopped while pending", result[:], loop.running))
    pending.pop().callback(None)
    seen.append(("after it fired", result[:]))
    return seen


def lc_raises(mod: Any, dmod: Any, returned_failure: bool) -> list[Any]:
    clock = mod.Clock()
    seen: list[Any] = []

    def work() -> Any:
        seen.append(clock.seconds())
        if len(seen) == 3:
            if returned_failure:
                return dmod.fail(KeyError("third"))
            raise ZeroDivisionError("third call")
        return None

    loop = mod.LoopingCall(work)
    loop.clock = clock
    result = outcome_of(loop.start(1), loop)
    clock.pump([1] * 5)
    seen.append((result, loop.running, clock.getDelayedCalls() == []))
    return seen


def lc_reset(mod: Any, dmod: Any) -> list[Any]:
    clock = mod.Clock()
    seen: list[Any] = []
    loop = mod.LoopingCall(lambda: seen.append(clock.seconds()))
    loop.clock = clock
    loop.start(2)
    clock.advance(1.5)
    loop.reset()
    seen.append(("reset", loop.starttime, [c.getTime() for c in clock.getDelayedCalls()]))
    clock.pump([1] * 5)
    loop.stop()
    return seen


def lc_zero(mod: Any, dmod: Any) -> list[Any]:
    """Interval 0 calls again as soon as possible: the same advance, on a Clock."""
    clock = mod.Clock()
    seen: list[Any] = []

    def work() -> None:
        seen.append(clock.seconds())
        if len(seen) == 5:
            loop.stop()

    loop = mod.LoopingCall(work)
    loop.clock = clock
    result = outcome_of(loop.start(0), loop)
    seen.append(("after start", len(seen)))
    clock.advance(0)
    seen.append(("after advance", result))
    counts: list[Any] = []

    def count(n: int) -> None:
        counts.append((clock.seconds(), n))
        if len(counts) == 3:
            counted.stop()

    counted = mod.LoopingCall.withCount(count)
    counted.clock = clock
    counted.start(0)
    clock.advance(5)
    seen.append(("counts", counts))
    return seen


def lc_misuse(mod: Any, dmod: Any) -> list[Any]:
    clock = mod.Clock()
    seen: list[Any] = []
    loop = mod.LoopingCall(lambda: None)
    loop.clock = clock
    for action in (lambda: loop.start(-1), loop.stop, loop.reset, lambda: loop.start(1),
                   lambda: loop.start(1), loop.stop, loop.stop):
        try:
            action()
            seen.append("ok")
        except AssertionError:
            seen.append("AssertionError")
        except ValueError:
            seen.append("ValueError")
    seen.append(loop.running)
    return seen


def lc_stop_inside(mod: Any, dmod: Any) -> list[Any]:
    """stop() from inside the function: the Deferred fires as soon as it returns."""
    clock = mod.Clock()
    seen: list[Any] = []

    def work() -> None:
        seen.append(clock.seconds())
        if clock.seconds() == 2:
            loop.stop()
            seen.append(("inside", result[:]))

    loop = mod.LoopingCall(work)
    loop.clock = clock
    result = outcome_of(loop.start(1), loop)
    clock.pump([1] * 4)
    seen.append(("end", result, clock.getDelayedCalls() == []))
    # And it can be started again.
    result = outcome_of(loop.start(1, now=False), loop)
    clock.advance(1)
    loop.stop()
    seen.append(("again", result))
    return seen


SCENARIOS = {
    "basic-now": lambda m, d: lc_basic(m, d, True),
    "basic-later": lambda m, d: lc_basic(m, d, False),
    "late": lc_late,
    "count-now": lambda m, d: lc_count(m, d, True),
    "count-later": lambda m, d: lc_count(m, d, False),
    "count-deferred": lc_count_deferred,
    "deferred": lc_deferred,
    "raises": lambda m, d: lc_raises(m, d, False),
    "returns-failure": lambda m, d: lc_raises(m, d, True),
    "reset": lc_reset,
    "zero": lc_zero,
    "misuse": lc_misuse,
    "stop-inside": lc_stop_inside,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_looping_call_matches_twisted(name: str) -> None:
    scenario = SCENARIOS[name]
    ours = scenario(task, our_defer)
    theirs = scenario(twisted_task, twisted_defer)
    assert ours == theirs
    assert ours, "the scenario observed nothing"


def test_looping_call_keeps_to_the_grid() -> None:
    clock = task.Clock()
    times: list[float] = []
    loop = task.LoopingCall(lambda: times.append(clock.seconds()))
    loop.clock = clock
    loop.start(1)
    clock.pump([0.3, 1.0, 1.0, 1.0, 2.5])
    assert times == [0, 1.3, 2.3, 3.3, 5.8]
    assert [c.getTime() for c in clock.getDelayedCalls()] == [6]


def test_looping_call_counts_skipped_intervals() -> None:
    clock = task.Clock()
    counts: list[int] = []
    loop = task.LoopingCall.withCount(counts.append)
    loop.clock = clock
    loop.start(0.5)
    clock.advance(0.5)
    clock.advance(2.0)  # four intervals went by in one go
    clock.advance(0.5)
    assert counts == [1, 1, 4, 1]


def test_looping_call_errors_stop_the_loop_and_errback() -> None:
    clock = task.Clock()
    loop = task.LoopingCall(lambda: 1 / 0)
    loop.clock = clock
    failures: list[Any] = []
    loop.start(1).addErrback(failures.append)
    assert [f.type for f in failures] == [ZeroDivisionError]
    assert not loop.running and clock.getDelayedCalls() == []


def test_start_twice_is_a_value_error_and_an_assertion_error() -> None:
    loop = task.LoopingCall(lambda: None)
    loop.clock = task.Clock()
    loop.start(1)
    with pytest.raises(ValueError):
        loop.start(1)
    with pytest.raises(AssertionError):
        loop.start(1)
    for bad in (float("nan"), float("inf")):
        other = task.LoopingCall(lambda: None)
        other.clock = loop.clock
        with pytest.raises(ValueError):
            other.start(bad)
        assert not other.running


def test_looping_call_repr_and_trace_name_name_the_function() -> None:
    def heartbeat(*args: Any, **kw: Any) -> None:
        pass

    loop = task.LoopingCall(heartbeat, 1, x=2)
    twisted_loop = twisted_task.LoopingCall(heartbeat, 1, x=2)
    assert repr(loop) == repr(twisted_loop)
    assert "heartbeat, *(1,), **{'x': 2})" in repr(loop)
    loop.clock = clock = task.Clock()
    loop.start(1)
    (call,) = clock.getDelayedCalls()
    assert call.func is loop
    assert "LoopingCall(test_looping_call_repr_and_trace_name_name_the_function.<locals>.heartbeat)" in repr(call)
    counted = task.LoopingCall.withCount(heartbeat)
    assert counted.__qualname__.endswith("heartbeat)")


def test_looping_call_default_clock_is_the_default_reactor(monkeypatch: pytest.MonkeyPatch) -> None:
    from inspector import reactors

    sentinel = task.Clock()
    monkeypatch.setattr(reactors, "_installed", sentinel)
    assert task.LoopingCall(lambda: None).clock is sentinel


# ----------------------------------------------------------------------- deferLater


def defer_later_scenario(mod: Any, dmod: Any) -> list[Any]:
    clock = mod.Clock()
    seen: list[Any] = []

    def record(tag: str) -> Callable[[Any], None]:
        def got(result: Any) -> None:
            if hasattr(result, "type") and hasattr(result, "value"):
                seen.append((tag, clock.seconds(), "failed", result.type.__name__))
            else:
                seen.append((tag, clock.seconds(), "fired", result))
        return got

    mod.deferLater(clock, 2, lambda a, b=0: a + b, 40, b=2).addBoth(record("value"))
    mod.deferLater(clock, 1).addBoth(record("no callable"))
    mod.deferLater(clock, 3, lambda: 1 / 0).addBoth(record("raises"))
    cancelled = mod.deferLater(clock, 5, seen.append, "must not run")
    cancelled.addBoth(record("cancelled"))
    seen.append(("pending", len(clock.getDelayedCalls())))
    cancelled.cancel()
    seen.append(("after cancel", len(clock.getDelayedCalls())))
    clock.pump([1, 1, 1, 5])
    return seen


def test_defer_later_matches_twisted() -> None:
    ours = defer_later_scenario(task, our_defer)
    assert ours == defer_later_scenario(twisted_task, twisted_defer)
    assert ("cancelled", 0, "failed", "CancelledError") in ours
    assert ("value", 2, "fired", 42) in ours


def test_cancelled_defer_later_fails_with_cancelled_error() -> None:
    clock = task.Clock()
    ran: list[int] = []
    d = task.deferLater(clock, 1, ran.append, 1)
    failures: list[Any] = []
    d.addErrback(failures.append)
    d.cancel()
    clock.advance(2)
    assert ran == [] and clock.getDelayedCalls() == []
    assert [f.type for f in failures] == [our_defer.CancelledError]


# ------------------------------------------------------------------------ Cooperator


class StepBudget:
    """A termination predicate factory: each step does ``size`` units of work."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self) -> Callable[[], bool]:
        left = [self.size]

        def expired() -> bool:
            left[0] -= 1
            return left[0] <= 0

        return expired


def cooperator_scenario(mod: Any, dmod: Any) -> list[Any]:
    """Two tasks interleave three units per step; a yielded Deferred pauses its task."""
    clock = mod.Clock()
    seen: list[Any] = []
    gate = dmod.Deferred()

    def worker(name: str, n: int, wait_at: int | None = None) -> Any:
        for i in range(n):
            seen.append((clock.seconds(), name, i))
            if i == wait_at:
                yield gate
            else:
                yield None

    coop = mod.Cooperator(terminationPredicateFactory=StepBudget(3),
                          scheduler=lambda step: clock.callLater(1, step))
    a = coop.cooperate(worker("a", 4))
    b = coop.cooperate(worker("b", 6, wait_at=1))
    iterator = worker("c", 2)
    done = coop.coiterate(iterator)
    done.addCallback(lambda result: seen.append(("c done", result is iterator)))
    a.whenDone().addBoth(lambda result: seen.append(("a done", type(result).__name__)))
    b.whenDone().addBoth(lambda result: seen.append(("b done", type(result).__name__)))
    seen.append(("nothing ran yet", len(seen)))
    clock.pump([1] * 4)
    seen.append(("b waits", len(clock.getDelayedCalls())))
    gate.callback(None)
    clock.pump([1] * 4)
    seen.append(("idle", clock.getDelayedCalls() == [], coop.running))
    return seen


def test_cooperator_interleaves_like_twisted() -> None:
    ours = cooperator_scenario(task, our_defer)
    assert ours == cooperator_scenario(twisted_task, twisted_defer)
    assert ("b done", "generator") in ours and ("c done", True) in ours


def task_control_scenario(mod: Any, dmod: Any) -> list[Any]:
    clock = mod.Clock()
    seen: list[Any] = []
    coop = mod.Cooperator(terminationPredicateFactory=StepBudget(1),
                          scheduler=lambda step: clock.callLater(1, step))

    def failing() -> Any:
        yield 1
        raise KeyError("broken")

    def attempt(what: str, action: Callable[[], Any]) -> None:
        try:
            action()
            seen.append((what, "ok"))
        except Exception as exc:  # noqa: BLE001 - the exception's kind is the point
            seen.append((what, type(exc).__name__))

    def ended(tag: str) -> Callable[[Any], None]:
        def record(result: Any) -> None:
            seen.append((tag, clock.seconds(), result.type.__name__ if hasattr(result, "type") else "done"))
        return record

    paused = coop.cooperate(iter(range(3)))
    paused.whenDone().addBoth(ended("paused"))
    attempt("resume unpaused", paused.resume)
    paused.pause()
    paused.pause()
    clock.advance(1)
    paused.resume()
    clock.advance(1)
    seen.append(("still paused", len(clock.getDelayedCalls())))
    paused.resume()
    clock.pump([1] * 5)
    attempt("pause after done", paused.pause)
    attempt("stop after done", paused.stop)
    paused.whenDone().addBoth(ended("late whenDone"))

    stopped = coop.cooperate(iter(range(100)))
    stopped.whenDone().addBoth(ended("stopped"))
    clock.advance(1)
    stopped.stop()
    attempt("stop twice", stopped.stop)
    attempt("pause stopped", stopped.pause)

    broken = coop.cooperate(failing())
    broken.whenDone().addErrback(lambda f: seen.append(("failed", f.type.__name__, str(f.value))))
    clock.pump([1] * 3)
    attempt("stop failed", broken.stop)

    running = [coop.cooperate(iter(range(100))) for _ in range(3)]
    for each in running:
        each.whenDone().addBoth(ended("scheduler"))
    clock.advance(1)
    coop.stop()
    seen.append(("running", coop.running, clock.getDelayedCalls() == []))
    late = coop.cooperate(iter(range(3)))
    late.whenDone().addBoth(ended("added after stop"))
    coop.start()
    seen.append(("restarted", coop.running))
    again = coop.cooperate(iter(range(2)))
    again.whenDone().addBoth(ended("after restart"))
    clock.pump([1] * 4)
    return seen


def test_task_control_matches_twisted() -> None:
    ours = task_control_scenario(task, our_defer)
    theirs = task_control_scenario(twisted_task, twisted_defer)
    # Deliberate departure: Cooperator.stop() tells every task; Twisted walks the list it
    # is shrinking and so tells only every other one (the rest never finish).
    told = [entry for entry in ours if entry[0] == "scheduler"]
    assert [entry[2] for entry in told] == ["SchedulerStopped"] * 3
    assert len([entry for entry in theirs if entry[0] == "scheduler"]) == 2
    assert [e for e in ours if e[0] != "scheduler"] == [e for e in theirs if e[0] != "scheduler"]
    assert ("stop twice", "TaskStopped") in ours and ("resume unpaused", "NotPaused") in ours
    assert ("failed", "KeyError", "'broken'") in ours and ("stop failed", "TaskFailed") in ours
    assert ("pause after done", "TaskDone") in ours


def test_cooperator_not_started_queues_work_until_start() -> None:
    clock = task.Clock()
    coop = task.Cooperator(scheduler=lambda step: clock.callLater(0, step), started=False)
    results: list[Any] = []
    coop.coiterate(iter([1, 2, 3])).addCallback(results.append)
    assert not coop.running
    clock.advance(1)
    assert results == [] and clock.getDelayedCalls() == []
    coop.start()
    clock.advance(0)
    assert coop.running and len(results) == 1


def test_default_time_slice_is_short() -> None:
    expired = task._Timer()
    assert not expired()
    assert task._Timer.MAX_SLICE <= 0.05


def test_global_coiterate_and_cooperate_use_one_cooperator(monkeypatch: pytest.MonkeyPatch) -> None:
    from inspector import reactors

    clock = task.Clock()
    monkeypatch.setattr(reactors, "_installed", clock)
    results: list[Any] = []
    task.coiterate(iter(range(3))).addCallback(lambda it: results.append("coiterate"))
    handle = task.cooperate(iter(range(3)))
    assert isinstance(handle, task.CooperativeTask)
    handle.whenDone().addCallback(lambda it: results.append("cooperate"))
    clock.pump([1, 1, 1])
    assert sorted(results) == ["coiterate", "cooperate"]


# --------------------------------------------------------------- on every real reactor


def test_looping_call_on_a_real_reactor(reactor: Any, run: Any) -> None:
    interval = 0.01
    times: list[float] = []

    def tick() -> None:
        times.append(reactor.seconds())
        if len(times) == 5:
            loop.stop()

    loop = task.LoopingCall(tick)
    loop.clock = reactor

    def go() -> Any:
        return loop.start(interval)

    assert run(go) is loop
    assert len(times) == 5 and not loop.running
    start = loop.starttime
    assert times[0] == pytest.approx(start, abs=0.005)
    for n, when in enumerate(times):
        assert when >= start + n * interval - 1e-6, "a tick ran before its grid point"
    assert reactor.getDelayedCalls() == [] or all(
        not isinstance(c.func, task.LoopingCall) for c in reactor.getDelayedCalls())


def test_defer_later_on_a_real_reactor(reactor: Any, run: Any) -> None:
    def go() -> Any:
        began = reactor.seconds()
        cancelled = task.deferLater(reactor, 0.02, lambda: "never")
        failures: list[Any] = []
        cancelled.addErrback(failures.append)
        cancelled.cancel()
        d = task.deferLater(reactor, 0.02, lambda a, b: (a, b, reactor.seconds() - began), 1, b=2)
        return d.addCallback(lambda result: (result, failures))

    (a, b, waited), failures = run(go)
    assert (a, b) == (1, 2) and waited >= 0.02 - 1e-6
    assert [f.type for f in failures] == [our_defer.CancelledError]


def test_react_exits_zero_when_main_succeeds(reactor: Any) -> None:
    seen: list[Any] = []

    def main(r: Any, *argv: Any) -> Any:
        seen.append((r is reactor, argv, r.running))
        return task.deferLater(r, 0.01, seen.append, "done")

    with pytest.raises(SystemExit) as exited:
        task.react(main, ["a", "b"], _reactor=reactor)
    assert exited.value.code == 0
    assert seen == [(True, ("a", "b"), False), "done"]
    assert not reactor.running


def test_react_exits_one_and_logs_when_main_fails(reactor: Any, caplog: pytest.LogCaptureFixture) -> None:
    async def main(r: Any) -> None:
        await task.deferLater(r, 0.01)
        raise KeyError("main broke")

    with pytest.raises(SystemExit) as exited:
        task.react(main, _reactor=reactor)
    assert exited.value.code == 1
    logged = [r for r in caplog.records if "main function encountered error" in r.getMessage()]
    assert len(logged) == 1 and "main broke" in logged[0].getMessage()
    assert not reactor.running


def test_react_exits_with_the_code_of_system_exit(reactor: Any, caplog: pytest.LogCaptureFixture) -> None:
    def main(r: Any) -> Any:
        return task.deferLater(r, 0.01, sys.exit, 3)

    with pytest.raises(SystemExit) as exited:
        task.react(main, _reactor=reactor)
    assert exited.value.code == 3
    assert not [r for r in caplog.records if "main function encountered error" in r.getMessage()]


def test_react_exits_zero_when_the_reactor_is_stopped_by_someone_else(reactor: Any) -> None:
    def main(r: Any) -> Any:
        r.callLater(0.01, r.stop)
        return our_defer.Deferred()

    with pytest.raises(SystemExit) as exited:
        task.react(main, _reactor=reactor)
    assert exited.value.code == 0


def test_cooperator_keeps_a_real_loop_responsive(reactor: Any, run: Any) -> None:
    """A long task runs in short slices: a timer due meanwhile fires before it ends."""
    done_at_timer: list[int] = []
    progress = [0]

    def busy() -> Any:
        for _ in range(400):
            end = time.perf_counter() + 0.0005
            while time.perf_counter() < end:
                pass
            progress[0] += 1
            yield None

    coop = task.Cooperator(scheduler=lambda step: reactor.callLater(task._EPSILON, step))

    def go() -> Any:
        reactor.callLater(0.02, lambda: done_at_timer.append(progress[0]))
        return coop.coiterate(busy())

    run(go)
    assert progress[0] == 400
    assert done_at_timer and done_at_timer[0] < 400, "the timer waited for the whole task"


@pytest.fixture
def tracing() -> Any:
    import inspector.trace as trace_module

    tracer = trace_module.enable()
    yield tracer
    trace_module.disable()


def test_traced_looping_call_names_its_function(reactor: Any, run: Any, tracing: Any) -> None:
    from inspector.trace import events as ev

    ticks: list[float] = []

    def heartbeat() -> None:
        ticks.append(reactor.seconds())
        if len(ticks) == 4:
            loop.stop()

    loop = task.LoopingCall(heartbeat)
    loop.clock = reactor
    run(lambda: loop.start(0.01, now=False))
    events = tracing.trace.events()
    name = "LoopingCall(test_traced_looping_call_names_its_function.<locals>.heartbeat)"
    fired = [e for e in events if isinstance(e, ev.TimerFired) and e.name == name]
    scheduled = [e for e in events if isinstance(e, ev.TimerScheduled) and e.name == name]
    assert len(fired) == 4 and len(scheduled) == 4
    assert all(e.lateness >= 0 for e in fired)
    assert all(0 < e.delay <= 0.01 + 1e-6 for e in scheduled)


def test_a_failing_task_nobody_waits_for_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = task.Clock()
    coop = task.Cooperator(scheduler=lambda step: clock.callLater(1, step))

    def broken() -> Any:
        yield 1
        raise KeyError("nobody listens")

    def fine() -> Any:
        yield 1

    coop.cooperate(broken())
    coop.cooperate(fine())
    clock.pump([1, 1, 1])
    logged = [r for r in caplog.records if "Cooperative task" in r.getMessage()]
    assert len(logged) == 1 and "nobody listens" in logged[0].getMessage()
    assert clock.getDelayedCalls() == []
