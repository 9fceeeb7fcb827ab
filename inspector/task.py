"""Scheduling helpers with Twisted's names: Clock, LoopingCall, deferLater, react, Cooperator.

``Clock`` is a fake ``IReactorTime`` whose time only moves when a test says so, so
anything built on ``callLater`` can be tested without sleeping. The rest schedules work
on any ``IReactorTime`` (a real reactor or a ``Clock``) the way ``twisted.internet.task``
does.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from typing import Any, Callable, Coroutine, Iterable, Iterator, NoReturn, cast

from zope.interface import implementer

from inspector import error
from inspector.defer import Deferred, ensureDeferred, maybeDeferred
from inspector.failure import Failure
from inspector.interfaces import IDelayedCall, IReactorCore, IReactorTime
from inspector.timers import DelayedCall, check_delay

__all__ = [
    "Clock", "CooperativeTask", "Cooperator", "LoopingCall", "LoopingCallStateError", "NotPaused",
    "SchedulerError",
    "SchedulerStopped", "TaskDone", "TaskFailed", "TaskFinished", "TaskStopped", "coiterate",
    "cooperate", "deferLater", "react",
]

log = logging.getLogger("inspector.task")


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
        call = DelayedCall(self, self.rightNow + delay, self._seq(), callable, args, kw)
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


# ----------------------------------------------------------------------- LoopingCall


class LoopingCallStateError(AssertionError, ValueError):
    """``start`` on a running LoopingCall, or ``stop``/``reset`` on a stopped one.

    Twisted signals these misuses with ``assert`` (AssertionError); this is both an
    AssertionError and a ValueError, so code written for either catches it, and it is
    raised even under ``python -O``.
    """


def _function_name(f: Any) -> str:
    """A short name for ``f``: its qualified name, else its repr."""
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None)
    if name is None:
        try:
            name = repr(f)
        except Exception:  # noqa: BLE001 - a broken __repr__ must not break naming
            name = f"<{type(f).__name__} object>"
    return str(name)


class LoopingCall:
    """Call ``f(*a, **kw)`` every ``interval`` seconds until stopped.

    The calls keep to a fixed grid, ``starttime + n * interval``: a late call does not
    push the following ones later. When ``f`` returns a Deferred, the next call waits
    until it fires. ``clock`` is the ``IReactorTime`` used for scheduling (the default
    reactor unless set, typically to a :class:`Clock` in tests). The DelayedCalls it
    schedules are named ``LoopingCall(<f>)`` in the trace, so each tick and its lateness
    show under the looped function's name.
    """

    #: The pending DelayedCall of the next tick, or None.
    call: IDelayedCall | None = None
    #: True from ``start`` until ``stop``, or until ``f`` fails.
    running: bool = False
    #: Seconds between calls (set by ``start``).
    interval: float | None = None
    #: The clock time of the last ``start`` (or ``reset``); the grid starts there.
    starttime: float | None = None

    def __init__(self, f: Callable[..., Any], *a: Any, **kw: Any) -> None:
        self.f = f
        self.a = a
        self.kw = kw
        self._clock: IReactorTime | None = None
        self._deferred: Deferred[LoopingCall] | None = None
        self._runAtStart = False
        self._realLastTime: float | None = None
        self._name(f)

    def _name(self, f: Any) -> None:
        # An instance attribute read by the trace's and the reactor's callable naming.
        self.__qualname__ = f"LoopingCall({_function_name(f)})"

    @property
    def clock(self) -> IReactorTime:
        """The ``IReactorTime`` the loop schedules on (the default reactor unless set)."""
        if self._clock is None:
            from inspector.reactors import default_reactor

            self._clock = default_reactor()
        return self._clock

    @clock.setter
    def clock(self, value: IReactorTime) -> None:
        self._clock = value

    @classmethod
    def withCount(cls, countCallable: Callable[[int], Any]) -> LoopingCall:
        """A LoopingCall that passes ``countCallable`` how many intervals have elapsed.

        The count is normally 1; it is larger when ticks were missed (the loop was
        blocked, ``f`` ran long, or a Deferred it returned fired late), so an animation,
        say, can skip frames. With interval 0 it is always 1.
        """

        def counter() -> Any:
            now = loop.clock.seconds()
            if loop.interval == 0:
                loop._realLastTime = now
                return countCallable(1)
            last = loop._realLastTime
            if last is None:
                assert loop.starttime is not None and loop.interval is not None
                last = loop.starttime
                if loop._runAtStart:
                    last -= loop.interval
            count = loop._intervalOf(now) - loop._intervalOf(last)
            if count > 0:
                loop._realLastTime = now
                return countCallable(count)
            return None

        loop = cls(counter)
        loop._name(countCallable)
        return loop

    def _intervalOf(self, when: float) -> int:
        """How many whole intervals lie between ``starttime`` and ``when``."""
        assert self.starttime is not None and self.interval
        return int((when - self.starttime) / self.interval)

    def start(self, interval: float, now: bool = True) -> Deferred[LoopingCall]:
        """Start calling every ``interval`` seconds (at once too when ``now``).

        Returns a Deferred that fires with this LoopingCall when ``stop`` is called, or
        fails with the error when ``f`` raises or returns a Deferred that fails. An
        interval of 0 calls again as soon as the loop allows; a negative, NaN or
        infinite one is a ValueError.
        """
        if self.running:
            raise LoopingCallStateError("Tried to start an already running LoopingCall.")
        check_delay(interval, "interval")
        self.running = True
        deferred = self._deferred = Deferred()
        self.starttime = self.clock.seconds()
        self.interval = interval
        self._runAtStart = now
        self._realLastTime = None
        if now:
            self()
        else:
            self._scheduleFrom(self.starttime)
        return deferred

    def stop(self) -> None:
        """Stop calling; the Deferred from ``start`` fires now, or when a pending call ends."""
        if not self.running:
            raise LoopingCallStateError("Tried to stop a LoopingCall that was not running.")
        self.running = False
        if self.call is not None:
            self.call.cancel()
            self.call = None
            self._finish(None)

    def reset(self) -> None:
        """Skip the next call and start a fresh interval from now."""
        if not self.running:
            raise LoopingCallStateError("Tried to reset a LoopingCall that was not running.")
        if self.call is not None:
            self.call.cancel()
            self.call = None
            self.starttime = self.clock.seconds()
            self._scheduleFrom(self.starttime)

    def __call__(self) -> None:
        """Run one tick: call ``f``, then schedule the next tick once its result is in."""
        self.call = None
        result = maybeDeferred(self.f, *self.a, **self.kw)
        result.addCallbacks(self._ran, self._failed)

    def _ran(self, _: Any) -> None:
        if self.running:
            self._scheduleFrom(self.clock.seconds())
        else:
            self._finish(None)

    def _failed(self, failure: Failure) -> None:
        self.running = False
        self._finish(failure)

    def _finish(self, failure: Failure | None) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is None:
            return
        if failure is None:
            deferred.callback(self)
        else:
            deferred.errback(failure)

    def _scheduleFrom(self, when: float) -> None:
        """Schedule the next tick at the next grid point after ``when``."""
        self.call = self.clock.callLater(self._delay_from(when), self)

    def _delay_from(self, when: float) -> float:
        interval = self.interval
        if not interval:
            return 0
        assert self.starttime is not None
        remaining = interval - ((when - self.starttime) % interval)
        # A remainder too small to move ``when`` (float precision) means we are on a
        # grid point already: wait a whole interval rather than zero.
        if when + remaining == when:
            return interval
        return remaining

    def __repr__(self) -> str:
        return f"LoopingCall<{self.interval!r}>({_function_name(self.f)}, *{self.a!r}, **{self.kw!r})"


# ------------------------------------------------------------------------ deferLater


def deferLater(
    clock: IReactorTime, delay: float, callable: Callable[..., Any] | None = None, *args: Any, **kw: Any
) -> Deferred[Any]:
    """A Deferred that fires with ``callable(*args, **kw)`` after ``delay`` seconds.

    With no callable it fires with None. An exception from the callable fails the
    Deferred. Cancelling the Deferred cancels the timer and fails it with
    ``CancelledError``.
    """

    def cancel(_: Deferred[Any]) -> None:
        call.cancel()

    def run(_: Any) -> Any:
        if callable is None:
            return None
        return callable(*args, **kw)

    deferred: Deferred[Any] = Deferred(cancel)
    deferred.addCallback(run)
    call = clock.callLater(delay, deferred.callback, None)
    return deferred


# ----------------------------------------------------------------------------- react


def react(
    main: Callable[..., Deferred[Any] | Coroutine[Any, Any, Any]],
    argv: Iterable[Any] = (),
    _reactor: IReactorCore | None = None,
) -> NoReturn:
    """Run ``main(reactor, *argv)`` on a running reactor and exit when its result is in.

    The reactor stops once the Deferred (or coroutine) ``main`` returns has a result;
    then the process exits with 0 on success, 1 on failure (the failure is logged), or
    the code of a ``SystemExit`` that ``main`` failed with. If something else stops the
    reactor first, ``react`` does not stop it again.
    """
    if _reactor is None:
        from inspector.reactors import default_reactor

        _reactor = default_reactor()
    reactor: IReactorCore = _reactor
    finished = ensureDeferred(main(reactor, *argv))
    code: Any = 0
    stopping = False

    def shutting_down() -> None:
        nonlocal stopping
        stopping = True

    reactor.addSystemEventTrigger("before", "shutdown", shutting_down)

    def conclude(result: Any, stop_reactor: bool) -> None:
        nonlocal code
        if stop_reactor:
            try:
                reactor.stop()
            except error.ReactorNotRunning:
                pass
        if isinstance(result, Failure):
            if result.check(SystemExit) is not None:
                code = cast(SystemExit, result.value).code
            else:
                log.error("main function encountered error\n%s", result.getTraceback(),
                          extra={"failure": result})
                code = 1

    def done(result: Any) -> None:
        if stopping:
            conclude(result, False)
        else:
            reactor.callWhenRunning(conclude, result, True)

    finished.addBoth(done)
    reactor.run()
    sys.exit(code)


# ------------------------------------------------------------------------ Cooperator


class SchedulerError(Exception):
    """A Cooperator or one of its tasks was in the wrong state for the operation."""


class SchedulerStopped(SchedulerError):
    """The Cooperator was stopped (before or while the task ran)."""


class TaskFinished(SchedulerError):
    """The task has ended for good: done, stopped or failed."""


class TaskDone(TaskFinished):
    """The task's iterator was exhausted."""


class TaskStopped(TaskFinished):
    """The task was stopped with ``stop()``."""


class TaskFailed(TaskFinished):
    """The task's iterator raised an exception (or a Deferred it yielded failed)."""


class NotPaused(SchedulerError):
    """``resume()`` on a task that was not paused."""


class _Timer:
    """The default time slice: a step ends once ``MAX_SLICE`` seconds have passed."""

    MAX_SLICE = 0.01

    def __init__(self) -> None:
        self.end = time.monotonic() + self.MAX_SLICE

    def __call__(self) -> bool:
        return time.monotonic() >= self.end


#: How soon the default scheduler runs the next step (a tiny delay, not 0, so the step
#: waits for the next loop turn and I/O gets its share).
_EPSILON = 0.00000001


def _defaultScheduler(step: Callable[[], None]) -> IDelayedCall:
    from inspector.reactors import default_reactor

    return default_reactor().callLater(_EPSILON, step)


class CooperativeTask:
    """One iterator run by a :class:`Cooperator`: pause it, resume it, stop it, await it.

    Made by :meth:`Cooperator.cooperate`, never directly.
    """

    def __init__(self, iterator: Iterator[Any], cooperator: Cooperator) -> None:
        self._iterator = iterator
        self._cooperator = cooperator
        self._deferreds: list[Deferred[Any]] = []
        self._pauseCount = 0
        self._completionState: SchedulerError | None = None
        self._completionResult: Any = None
        cooperator._addTask(self)

    def whenDone(self) -> Deferred[Any]:
        """A Deferred that fires with the iterator once it is exhausted.

        It fails with the iterator's exception, or with ``TaskStopped`` /
        ``SchedulerStopped`` when the task or its Cooperator is stopped. Each call
        returns a new Deferred.
        """
        deferred: Deferred[Any] = Deferred()
        if self._completionState is None:
            self._deferreds.append(deferred)
        else:
            deferred.callback(self._completionResult)
        return deferred

    def pause(self) -> None:
        """Do no more work until ``resume``; pauses nest (resume as often as paused)."""
        self._checkFinish()
        self._pauseCount += 1
        if self._pauseCount == 1:
            self._cooperator._removeTask(self)

    def resume(self) -> None:
        """Undo one ``pause``; ``NotPaused`` if the task is not paused."""
        if self._pauseCount == 0:
            raise NotPaused()
        self._pauseCount -= 1
        if self._pauseCount == 0 and self._completionState is None:
            self._cooperator._addTask(self)

    def stop(self) -> None:
        """End the task now: ``whenDone`` Deferreds fail with ``TaskStopped``."""
        self._checkFinish()
        self._completeWith(TaskStopped(), Failure(TaskStopped()))

    def _checkFinish(self) -> None:
        if self._completionState is not None:
            raise self._completionState

    def _completeWith(self, state: SchedulerError, result: Any) -> None:
        self._completionState = state
        self._completionResult = result
        if not self._pauseCount:
            self._cooperator._removeTask(self)
        # Fired only once the task is out of the Cooperator, so a callback that stops
        # the Cooperator or touches other tasks finds a consistent state.
        for deferred in self._deferreds:
            deferred.callback(result)

    def _oneWorkUnit(self) -> None:
        """Take one item from the iterator; a Deferred pauses the task until it fires."""
        try:
            result = next(self._iterator)
        except StopIteration:
            self._completeWith(TaskDone(), self._iterator)
        except Exception:
            failure = Failure()
            if not self._deferreds:
                # Nobody asked whenDone(): log it here or it would vanish without a trace.
                log.error("Cooperative task %r failed\n%s", self._iterator, failure.getTraceback(),
                          extra={"failure": failure})
            self._completeWith(TaskFailed(), failure)
        else:
            if isinstance(result, Deferred):
                self.pause()
                result.addCallbacks(self._resumed, self._yielded_failure)

    def _resumed(self, _: Any) -> None:
        self.resume()

    def _yielded_failure(self, failure: Failure) -> None:
        self._completeWith(TaskFailed(), failure)


class Cooperator:
    """Runs iterators a step at a time, sharing the loop between them.

    Each scheduled step calls ``next()`` on the tasks in turn until the time slice
    (``terminationPredicateFactory``; 10 ms by default) ends, then gives the loop back.
    A task whose iterator yields a Deferred waits until it fires. ``scheduler`` is
    called with the step function and must call it later (default: the default
    reactor's ``callLater``); ``started=False`` queues work until ``start()``.
    """

    def __init__(
        self,
        terminationPredicateFactory: Callable[[], Callable[[], bool]] = _Timer,
        scheduler: Callable[[Callable[[], None]], IDelayedCall] = _defaultScheduler,
        started: bool = True,
    ) -> None:
        self._tasks: list[CooperativeTask] = []
        self._metarator: Iterator[CooperativeTask] = iter(())
        self._terminationPredicateFactory = terminationPredicateFactory
        self._scheduler = scheduler
        self._delayedCall: IDelayedCall | None = None
        self._stopped = False
        self._started = started
        self._mustScheduleOnStart = False

    def coiterate(self, iterator: Iterator[Any], doneDeferred: Deferred[Any] | None = None) -> Deferred[Any]:
        """Run ``iterator`` as a task; return a Deferred that fires with it when done."""
        if doneDeferred is None:
            doneDeferred = Deferred()
        CooperativeTask(iterator, self).whenDone().chainDeferred(doneDeferred)
        return doneDeferred

    def cooperate(self, iterator: Iterator[Any]) -> CooperativeTask:
        """Run ``iterator`` as a task; return the :class:`CooperativeTask` to control it."""
        return CooperativeTask(iterator, self)

    @property
    def running(self) -> bool:
        """True once started and until stopped."""
        return self._started and not self._stopped

    def start(self) -> None:
        """Begin (or begin again) running steps."""
        self._stopped = False
        self._started = True
        if self._mustScheduleOnStart:
            self._mustScheduleOnStart = False
            self._reschedule()

    def stop(self) -> None:
        """Stop running steps: every task's ``whenDone`` fails with ``SchedulerStopped``.

        Tasks added later fail the same way until ``start()`` is called again.
        """
        self._stopped = True
        # Over a copy: completing a task removes it from ``_tasks``. (Twisted iterates
        # the live list and so tells only every other task.)
        for each in list(self._tasks):
            each._completeWith(SchedulerStopped(), Failure(SchedulerStopped()))
        self._tasks = []
        if self._delayedCall is not None:
            self._delayedCall.cancel()
            self._delayedCall = None

    def _addTask(self, each: CooperativeTask) -> None:
        self._tasks.append(each)
        if self._stopped:
            each._completeWith(SchedulerStopped(), Failure(SchedulerStopped()))
        else:
            self._reschedule()

    def _removeTask(self, each: CooperativeTask) -> None:
        self._tasks.remove(each)
        if not self._tasks and self._delayedCall is not None:
            self._delayedCall.cancel()
            self._delayedCall = None

    def _tasksWhileNotStopped(self) -> Iterator[CooperativeTask]:
        """The tasks round-robin, until none is left or the time slice ends."""
        expired = self._terminationPredicateFactory()
        while self._tasks:
            for each in self._metarator:
                yield each
                if expired():
                    return
            self._metarator = iter(self._tasks)

    def _tick(self) -> None:
        """One step: work on the tasks for one time slice, then schedule the next step."""
        self._delayedCall = None
        for each in self._tasksWhileNotStopped():
            each._oneWorkUnit()
        self._reschedule()

    def _reschedule(self) -> None:
        if not self._started:
            self._mustScheduleOnStart = True
            return
        if self._delayedCall is None and self._tasks:
            self._delayedCall = self._scheduler(self._tick)


_theCooperator = Cooperator()


def coiterate(iterator: Iterator[Any]) -> Deferred[Any]:
    """Run ``iterator`` on the global Cooperator; return a Deferred of its end."""
    return _theCooperator.coiterate(iterator)


def cooperate(iterator: Iterator[Any]) -> CooperativeTask:
    """Run ``iterator`` on the global Cooperator; return its :class:`CooperativeTask`."""
    return _theCooperator.cooperate(iterator)
