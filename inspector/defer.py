"""Deferred: a result that is not there yet, and the chain of callbacks waiting for it.

Twisted's semantics and names. The callback chain runs in one loop, never by
recursion: a callback returning an unfired Deferred parks the outer Deferred on the
inner one, and when the inner one fires the loop switches over to the outer one, so
chains of any length run in constant stack depth.

A Deferred that is garbage-collected while its chain ends in a Failure logs
"Unhandled error in Deferred" on the ``inspector`` logger. That bookkeeping lives in a
small helper object made only when a chain ends in a Failure, so the success path pays
nothing for it.

The chain behaves as Twisted's code does, down to a paused outer Deferred stopping the
whole run (the inner Deferred's later callbacks wait for its next run); the
differential test (tests/test_defer_differential.py) checks that against Twisted on
random programs. Deliberate departures, each a likely bug in the calling code: ``pause()``
while a Deferred's callbacks run holds the rest at once (as Twisted documents; its loop
runs them anyway); a callback returning its own Deferred fails the chain with TypeError
(Twisted warns and hangs); ``callback(aDeferred)``, ``errback("text")`` and ``unpause()``
without ``pause()`` raise at once.
"""

from __future__ import annotations

import contextvars
import logging
import traceback
import types
import warnings
from asyncio import AbstractEventLoop, Future
from functools import wraps
from inspect import isgenerator
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Coroutine,
    Generator,
    Generic,
    Iterable,
    NoReturn,
    Optional,
    Sequence,
    TypeVar,
    Union,
)

from inspector.error import TimeoutError
from inspector.failure import Failure

__all__ = [
    "AlreadyCalledError",
    "CancelledError",
    "Deferred",
    "DeferredList",
    "DeferredLock",
    "DeferredQueue",
    "DeferredSemaphore",
    "FAILURE",
    "FailureGroup",
    "FirstError",
    "NotACoroutineError",
    "QueueOverflow",
    "QueueUnderflow",
    "SUCCESS",
    "TimeoutError",
    "ensureDeferred",
    "execute",
    "fail",
    "gatherResults",
    "getDebugging",
    "inlineCallbacks",
    "maybeDeferred",
    "passthru",
    "race",
    "returnValue",
    "setDebugging",
    "succeed",
]

log = logging.getLogger("inspector")

# A TraceHooks (the contract in inspector/hooks.py) while tracing is on, else None;
# every hook call is one line: `if _tracer is not None: _tracer.hook(...)`.
_tracer = None

_T = TypeVar("_T")

SUCCESS = True
FAILURE = False

_debugging = False


class AlreadyCalledError(Exception):
    """``callback`` or ``errback`` was called on a Deferred that already has a result."""


class CancelledError(Exception):
    """The Deferred was cancelled."""


class NotACoroutineError(TypeError):
    """``ensureDeferred``/``fromCoroutine`` was given something that is not a coroutine."""


class FirstError(Exception):
    """The first failure among several Deferreds (``DeferredList(fireOnOneErrback=True)``,
    ``gatherResults``): ``subFailure`` is that Failure, ``index`` its position."""

    def __init__(self, failure: Failure, index: int) -> None:
        super().__init__(failure, index)
        self.subFailure = failure
        self.index = index

    def __repr__(self) -> str:
        return f"FirstError[#{self.index}, {self.subFailure!r}]"

    def __str__(self) -> str:
        return f"FirstError[#{self.index}, {self.subFailure}]"


class FailureGroup(Exception):
    """Every Deferred given to ``race`` failed: ``failures`` holds their Failures, in
    the order of the Deferreds."""

    def __init__(self, failures: Sequence[Failure]) -> None:
        super().__init__()
        self.failures = failures


def passthru(arg: _T) -> _T:
    """Return ``arg`` unchanged (the do-nothing callback)."""
    return arg


def setDebugging(on: bool) -> None:
    """Record where each Deferred is created and first fired, for clearer error reports."""
    global _debugging
    _debugging = Deferred.debug = bool(on)


def getDebugging() -> bool:
    """Whether ``setDebugging`` is on."""
    return _debugging


class _DebugInfo:
    """Only exists for a Deferred whose chain ended in a Failure (or in debug mode);
    logs that Failure if nobody handled it by the time the Deferred is collected."""

    __slots__ = ("failResult", "creator", "invoker")

    def __init__(self) -> None:
        self.failResult: Optional[Failure] = None
        self.creator: Optional[list[str]] = None
        self.invoker: Optional[list[str]] = None

    def _describe(self) -> str:
        parts = []
        if self.creator:
            parts.append(" (debug:  C: Deferred was created:\n C:" + " C:".join(self.creator) + ")")
        if self.invoker:
            parts.append(" (debug:  I: First Invoker was:\n I:" + " I:".join(self.invoker) + ")")
        return "".join(parts)

    def __del__(self) -> None:
        failure = self.failResult
        if failure is not None:
            if _tracer is not None: _tracer.deferred_unhandled(self, failure)
            try:
                log.error(
                    "Unhandled error in Deferred:%s\n%s",
                    self._describe(),
                    failure.getTraceback(),
                    extra={"failure": failure},
                )
            except Exception:  # noqa: BLE001 - never raise out of garbage collection
                pass


class _Continue:
    """Marker in a callback list: hand this Deferred's result to a waiting outer one."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<continue outer Deferred>"


_CONTINUE: Any = _Continue()


if TYPE_CHECKING:
    from typing import Generic as _GenericBase
else:

    class _GenericBase:
        """Makes ``Deferred[int]`` work at run time without ``typing.Generic``, which
        would add a third to the cost of creating every Deferred."""

        __slots__ = ()
        __class_getitem__ = classmethod(types.GenericAlias)


class Deferred(_GenericBase[_T]):
    """A result that will arrive later, with the callbacks and errbacks waiting for it.

    ``callback(result)`` or ``errback(failure)`` fires it once; each callback receives
    the previous one's return value, an exception moves processing to the next errback,
    and an errback's return value moves it back to the callbacks. A callback returning
    a Deferred suspends this chain until that one has a result.
    """

    __slots__ = (
        "callbacks",
        "called",
        "paused",
        "result",
        "_canceller",
        "_runningCallbacks",
        "_suppressAlreadyCalled",
        "_debugInfo",
        "__weakref__",
    )

    debug = False

    def __init__(self, canceller: Optional[Callable[["Deferred[Any]"], None]] = None) -> None:
        self.callbacks: list[tuple] = []
        self.called = False
        self.paused = 0
        self.result: Any = None
        self._canceller = canceller
        self._runningCallbacks = False
        self._suppressAlreadyCalled = False
        self._debugInfo: Optional[_DebugInfo] = None
        if _debugging:
            info = self._debugInfo = _DebugInfo()
            info.creator = traceback.format_stack()[:-1]
        if _tracer is not None: _tracer.deferred_created(self)

    # -- adding callbacks ---------------------------------------------------------

    def addCallbacks(
        self,
        callback: Callable[..., Any],
        errback: Optional[Callable[..., Any]] = None,
        callbackArgs: Iterable[Any] = (),
        callbackKeywords: Optional[dict[str, Any]] = None,
        errbackArgs: Iterable[Any] = (),
        errbackKeywords: Optional[dict[str, Any]] = None,
    ) -> "Deferred[Any]":
        """Add a callback and an errback at the same point of the chain; exactly one of
        them runs, depending on whether the result at that point is a Failure."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if errback is not None and not callable(errback):
            raise TypeError(f"errback must be callable, got {errback!r}")
        cbExtra = (
            (tuple(callbackArgs), dict(callbackKeywords or {}))
            if callbackArgs or callbackKeywords
            else None
        )
        ebExtra = (
            (tuple(errbackArgs), dict(errbackKeywords or {}))
            if errbackArgs or errbackKeywords
            else None
        )
        if callback is passthru:
            callback = None  # type: ignore[assignment]
        if errback is passthru:
            errback = None
        self.callbacks.append((callback, cbExtra, errback, ebExtra))
        if _tracer is not None: _tracer.callbacks_added(self, callback, errback)
        if self.called:
            self._runCallbacks()
        return self

    def addCallback(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> "Deferred[Any]":
        """Add a callback; failures pass it by."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        self.callbacks.append((callback, (args, kwargs) if args or kwargs else None, None, None))
        if _tracer is not None: _tracer.callbacks_added(self, callback, None)
        if self.called:
            self._runCallbacks()
        return self

    def addErrback(self, errback: Callable[..., Any], *args: Any, **kwargs: Any) -> "Deferred[Any]":
        """Add an errback; successful results pass it by."""
        if not callable(errback):
            raise TypeError(f"errback must be callable, got {errback!r}")
        self.callbacks.append((None, None, errback, (args, kwargs) if args or kwargs else None))
        if _tracer is not None: _tracer.callbacks_added(self, None, errback)
        if self.called:
            self._runCallbacks()
        return self

    def addBoth(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> "Deferred[Any]":
        """Add a function that runs whatever the result, as callback and as errback."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        extra = (args, kwargs) if args or kwargs else None
        self.callbacks.append((callback, extra, callback, extra))
        if _tracer is not None: _tracer.callbacks_added(self, callback, callback)
        if self.called:
            self._runCallbacks()
        return self

    def chainDeferred(self, d: "Deferred[Any]") -> "Deferred[Any]":
        """Fire ``d`` with this Deferred's result at this point of the chain."""
        return self.addCallbacks(d.callback, d.errback)

    def addTimeout(
        self,
        timeout: float,
        clock: Any,
        onTimeoutCancel: Optional[Callable[[Any, float], Any]] = None,
    ) -> "Deferred[Any]":
        """Cancel this Deferred if it has no result after ``timeout`` seconds of
        ``clock`` (anything with ``callLater``). A cancellation caused by the timeout
        becomes ``TimeoutError``, or whatever ``onTimeoutCancel(result, timeout)``
        returns."""
        timedOut = False

        def timeItOut() -> None:
            nonlocal timedOut
            timedOut = True
            self.cancel()

        delayedCall = clock.callLater(timeout, timeItOut)

        def convertCancelled(result: Any) -> Any:
            if timedOut:
                return (onTimeoutCancel or _cancelledToTimedOutError)(result, timeout)
            return result

        def cancelTimeout(result: Any) -> Any:
            if delayedCall.active():
                delayedCall.cancel()
            return result

        self.addBoth(convertCancelled)
        self.addBoth(cancelTimeout)
        return self

    # -- firing -------------------------------------------------------------------

    def callback(self, result: Any) -> None:
        """Fire the chain with a successful result."""
        if isinstance(result, Deferred):
            raise AssertionError(
                "Deferred.callback() was given a Deferred; chain it by returning it "
                "from a callback (or use chainDeferred) instead"
            )
        if self.called:
            if self._suppressAlreadyCalled:
                self._suppressAlreadyCalled = False
                return
            raise AlreadyCalledError(self._alreadyCalledMessage())
        self.called = True
        self.result = result
        if _tracer is not None: _tracer.deferred_fired(self, result)
        if _debugging:
            self._noteInvoker()
        self._runCallbacks()

    def errback(self, fail: Optional[Union[Failure, BaseException]] = None) -> None:
        """Fire the chain with a failure: a Failure, an exception, or (with no argument,
        inside an ``except`` block) the exception being handled."""
        if fail is None:
            fail = Failure._fromCurrent()  # NoCurrentExceptionError outside `except`
        elif not isinstance(fail, Failure):
            if not isinstance(fail, BaseException):
                raise TypeError(
                    f"Deferred.errback() needs a Failure or an exception instance, got {fail!r}"
                )
            fail = Failure(fail)
        if self.called:
            if self._suppressAlreadyCalled:
                self._suppressAlreadyCalled = False
                return
            raise AlreadyCalledError(self._alreadyCalledMessage())
        self.called = True
        self.result = fail
        if _tracer is not None: _tracer.deferred_fired(self, fail)
        if _debugging:
            self._noteInvoker()
        self._runCallbacks()

    def _noteInvoker(self) -> None:
        info = self._debugInfo
        if info is None:
            info = self._debugInfo = _DebugInfo()
        info.invoker = traceback.format_stack()[:-2]

    def _alreadyCalledMessage(self) -> str:
        info = self._debugInfo
        if info is not None and (info.creator or info.invoker):
            return info._describe()
        return f"{self!r} already has a result"

    def pause(self) -> None:
        """Stop running callbacks until a matching ``unpause``."""
        if _tracer is not None: _tracer.deferred_paused(self)
        self.paused += 1

    def unpause(self) -> None:
        """Undo one ``pause``; when none remain, run the callbacks that are due."""
        if self.paused <= 0:
            raise RuntimeError(f"unpause() without a matching pause() on {self!r}")
        if _tracer is not None: _tracer.deferred_unpaused(self)
        self.paused -= 1
        if not self.paused and self.called:
            self._runCallbacks()

    def cancel(self) -> None:
        """Ask for this Deferred to stop waiting: calls the canceller, then errbacks with
        CancelledError if the canceller did not fire it. When the chain is waiting on
        another Deferred, that one is cancelled instead."""
        if _tracer is not None: _tracer.deferred_cancelled(self)
        if not self.called:
            canceller = self._canceller
            if canceller is not None:
                canceller(self)
            else:
                # The operation may still fire us later; swallow that one result.
                self._suppressAlreadyCalled = True
            if not self.called:
                self.errback(Failure(CancelledError()))
        elif isinstance(self.result, Deferred):
            self.result.cancel()

    # -- the loop -----------------------------------------------------------------

    def _runCallbacks(self) -> None:
        """Run every due callback of this Deferred, and of the outer Deferreds its result
        flows into, in one loop."""
        if self._runningCallbacks:
            # Already running further up the stack; that loop picks up new callbacks.
            return
        stack: Optional[list[Deferred[Any]]] = None
        current: Deferred[Any] = self
        while True:
            if current.paused:
                # As in Twisted, a paused Deferred stops the whole run: the Deferreds
                # that handed their results up to it keep their remaining callbacks
                # until something runs their chains again (a new callback, unpause).
                return
            callbacks = current.callbacks
            result = current.result
            current._runningCallbacks = True
            outer = None
            i = 0
            while i < len(callbacks):
                item = callbacks[i]
                i += 1
                if isinstance(result, Failure):
                    fn = item[2]
                    extra = item[3]
                else:
                    fn = item[0]
                    extra = item[1]
                if fn is None:
                    continue
                if fn is _CONTINUE:
                    # `extra` was waiting for our result: hand it over and switch.
                    outer = extra
                    outer.result = result
                    result = None
                    outer.paused -= 1
                    if _tracer is not None: _tracer.deferred_resumed(outer, current)
                    break
                if _tracer is not None: _tracer.callback_started(current, fn, result)
                # What a callback sees as its Deferred's result is its own input, as in
                # Twisted (a re-entrant callback returning this Deferred takes it).
                current.result = result
                try:
                    if extra is None:
                        result = fn(result)
                    else:
                        result = fn(result, *extra[0], **extra[1])
                except BaseException:
                    result = Failure._fromCurrent()
                    if _tracer is not None: _tracer.callback_finished(current, result)
                else:
                    if _tracer is not None: _tracer.callback_finished(current, result)
                    if isinstance(result, Deferred):
                        inner = result
                        if inner is current:
                            result = Failure(
                                TypeError(
                                    f"callback {fn!r} returned the Deferred it was added to"
                                )
                            )
                        elif inner.called and not inner.paused:
                            # Already has a result: take it now, no suspension.
                            result = inner.result
                            inner.result = None
                            if inner._debugInfo is not None:
                                inner._debugInfo.failResult = None
                        else:
                            current.paused += 1
                            if _tracer is not None: _tracer.deferred_chained(current, inner)
                            inner.callbacks.append((_CONTINUE, current, _CONTINUE, current))
                            break
                if current.paused:
                    break
            del callbacks[:i]
            current.result = result
            current._runningCallbacks = False
            if outer is not None:
                # The result moved on: nothing is left here to report as unhandled.
                if current._debugInfo is not None:
                    current._debugInfo.failResult = None
                if stack is None:
                    stack = [current]
                else:
                    stack.append(current)
                current = outer
                continue
            if isinstance(result, Failure):
                result.cleanFailure()
                info = current._debugInfo
                if info is None:
                    info = current._debugInfo = _DebugInfo()
                info.failResult = result
                if _tracer is not None: _tracer.deferred_failure_held(current, info)
            elif current._debugInfo is not None:
                current._debugInfo.failResult = None
            if not stack:
                return
            current = stack.pop()

    # -- coroutines and asyncio --------------------------------------------------------

    def __await__(self) -> Generator[Any, Any, _T]:
        if self.called and not self.paused and not self._runningCallbacks:
            result = self.result
            if isinstance(result, Failure):
                if self._debugInfo is not None:
                    self._debugInfo.failResult = None
                result.raiseException()
            return result
        result = yield self
        # The driver throws failures in at the yield, so here we only see successes.
        return result

    @classmethod
    def fromCoroutine(cls, coro: Union[Coroutine[Any, Any, _T], Generator[Any, Any, _T]]) -> "Deferred[_T]":
        """Run coroutine ``coro`` (which may ``await`` Deferreds) and return a Deferred
        for its result. Cancelling that Deferred cancels what the coroutine awaits."""
        if not (isinstance(coro, types.CoroutineType) or isgenerator(coro)):
            raise NotACoroutineError(f"{coro!r} is not a coroutine")
        return _startInline(coro)

    @classmethod
    def fromFuture(cls, future: "Future[_T]") -> "Deferred[_T]":
        """A Deferred for an asyncio Future's outcome; cancelling it cancels the Future."""

        def cancel(d: Deferred[Any]) -> None:
            future.cancel()

        d: Deferred[_T] = cls(cancel)

        def adapt(f: "Future[_T]") -> None:
            if d.called:
                return
            try:
                value = f.result()
            except BaseException:
                d.errback(Failure._fromCurrent())
            else:
                d.callback(value)

        future.add_done_callback(adapt)
        return d

    def asFuture(self, loop: AbstractEventLoop) -> "Future[_T]":
        """An asyncio Future on ``loop`` with this Deferred's outcome; cancelling the
        Future cancels this Deferred. The result is consumed here."""
        future = loop.create_future()

        def checkCancel(f: "Future[_T]") -> None:
            if f.cancelled():
                self.cancel()

        def succeeded(result: Any) -> None:
            if not future.done():
                future.set_result(result)

        def failed(failure: Failure) -> None:
            if not future.done():
                future.set_exception(failure.value)

        self.addCallbacks(succeeded, failed)
        future.add_done_callback(checkCancel)
        return future

    # -- display ------------------------------------------------------------------

    def __repr__(self) -> str:
        name = "Deferred" if type(self) is _InlineDeferred else type(self).__name__
        if self.called and isinstance(self.result, Deferred):
            return f"<{name} at 0x{id(self):x} waiting on Deferred at 0x{id(self.result):x}>"
        if self.called:
            return f"<{name} at 0x{id(self):x} current result: {self.result!r}>"
        return f"<{name} at 0x{id(self):x}>"

    __str__ = __repr__


def _cancelledToTimedOutError(value: Any, timeout: float) -> Any:
    """The default ``onTimeoutCancel``: turn the timeout's CancelledError into TimeoutError."""
    if isinstance(value, Failure):
        value.trap(CancelledError)
        raise TimeoutError(timeout, "Deferred")
    return value


# -- making Deferreds ----------------------------------------------------------------


def succeed(result: _T) -> Deferred[_T]:
    """A Deferred that already has ``result``."""
    d: Deferred[_T] = Deferred()
    d.called = True
    d.result = result
    if _tracer is not None: _tracer.deferred_fired(d, result)
    return d


def fail(result: Optional[Union[Failure, BaseException]] = None) -> Deferred[Any]:
    """A Deferred that already failed with ``result`` (a Failure or an exception; with no
    argument, inside ``except``, the exception being handled)."""
    d: Deferred[Any] = Deferred()
    d.errback(result)
    return d


def execute(callable: Callable[..., _T], *args: Any, **kwargs: Any) -> Deferred[_T]:
    """Call ``callable`` now; a Deferred with its return value or its exception."""
    try:
        result = callable(*args, **kwargs)
    except BaseException:
        return fail(Failure._fromCurrent())
    return succeed(result)


def maybeDeferred(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
    """Call ``f`` and always get a Deferred: its value, its exception, the Deferred it
    returned, or the result of the coroutine it returned."""
    try:
        result = f(*args, **kwargs)
    except BaseException:
        return fail(Failure._fromCurrent())
    if isinstance(result, Deferred):
        return result
    if isinstance(result, Failure):
        return fail(result)
    if isinstance(result, types.CoroutineType):
        return _startInline(result)
    return succeed(result)


# -- many Deferreds ------------------------------------------------------------------


class DeferredList(Deferred[list]):
    """Fires when all the given Deferreds have: with a list of ``(success, result)``
    pairs in their order. ``fireOnOneCallback`` fires at the first success with
    ``(result, index)``; ``fireOnOneErrback`` at the first failure with a FirstError;
    ``consumeErrors`` stops failures propagating further down the given Deferreds."""

    __slots__ = (
        "resultList",
        "finishedCount",
        "fireOnOneCallback",
        "fireOnOneErrback",
        "consumeErrors",
        "_deferredList",
    )

    def __init__(
        self,
        deferredList: Iterable[Deferred[Any]],
        fireOnOneCallback: bool = False,
        fireOnOneErrback: bool = False,
        consumeErrors: bool = False,
    ) -> None:
        self._deferredList = list(deferredList)
        self.resultList: list[Any] = [None] * len(self._deferredList)
        super().__init__()
        self.finishedCount = 0
        self.fireOnOneCallback = fireOnOneCallback
        self.fireOnOneErrback = fireOnOneErrback
        self.consumeErrors = consumeErrors
        if not self._deferredList and not fireOnOneCallback:
            self.callback([])
        for index, d in enumerate(self._deferredList):
            d.addCallbacks(
                self._cbDeferred,
                self._cbDeferred,
                callbackArgs=(index, SUCCESS),
                errbackArgs=(index, FAILURE),
            )

    def _cbDeferred(self, result: Any, index: int, succeeded: bool) -> Any:
        self.resultList[index] = (succeeded, result)
        self.finishedCount += 1
        if not self.called:
            if succeeded and self.fireOnOneCallback:
                self.callback((result, index))
            elif not succeeded and self.fireOnOneErrback:
                self.errback(Failure(FirstError(result, index)))
            elif self.finishedCount == len(self.resultList):
                self.callback(self.resultList)
        if not succeeded and self.consumeErrors:
            return None
        return result

    def cancel(self) -> None:
        """Cancel every Deferred in the list that has no result yet."""
        if not self.called:
            for d in self._deferredList:
                try:
                    d.cancel()
                except BaseException:
                    log.exception("Exception raised by a canceller while cancelling a DeferredList")


def _gathered(results: list) -> list:
    return [value for _ok, value in results]


def gatherResults(deferredList: Iterable[Deferred[Any]], consumeErrors: bool = False) -> Deferred[list]:
    """A Deferred for the list of all the results, or a FirstError for the first failure."""
    d = DeferredList(deferredList, fireOnOneErrback=True, consumeErrors=consumeErrors)
    d.addCallback(_gathered)
    return d


def race(ds: Sequence[Deferred[_T]]) -> Deferred[tuple[int, _T]]:
    """A Deferred for the first of ``ds`` to succeed, as ``(index, result)``; the others
    are cancelled then. Fails with FailureGroup if all of them fail; cancelling it
    cancels them all. Each of ``ds`` is left with the result None."""
    contenders = list(ds)
    winner: Optional[Deferred[_T]] = None
    failures: list[tuple[int, Failure]] = []

    def cancelAll(_d: Deferred[Any]) -> None:
        for d in contenders:
            d.cancel()

    result: Deferred[tuple[int, _T]] = Deferred(cancelAll)

    def succeeded(value: _T, index: int) -> None:
        nonlocal winner
        # A canceller may fire a loser with a success too: only the first one counts.
        if winner is None:
            winner = contenders[index]
            for d in contenders:
                if d is not winner:
                    d.cancel()
            result.callback((index, value))

    def failed(failure: Failure, index: int) -> None:
        failures.append((index, failure))
        if len(failures) == len(contenders):
            failures.sort(key=lambda pair: pair[0])
            result.errback(FailureGroup([f for _index, f in failures]))

    for index, d in enumerate(contenders):
        d.addCallbacks(succeeded, failed, callbackArgs=(index,), errbackArgs=(index,))
    return result


# -- generators and coroutines -------------------------------------------------------


class _DefGen_Return(BaseException):
    """Raised by ``returnValue`` to end an ``inlineCallbacks`` generator with ``value``;
    a BaseException so that ``except Exception`` in the generator lets it through."""

    def __init__(self, value: object) -> None:
        super().__init__(value)
        self.value = value


def returnValue(val: object) -> NoReturn:
    """End the ``inlineCallbacks`` generator that calls this with result ``val``.

    Deprecated, as in Twisted since 24.7: ``return val`` does the same. Kept because
    older programs use it."""
    warnings.warn(
        "inspector.defer.returnValue is deprecated (as in Twisted 24.7.0); "
        "use a return statement instead",
        DeprecationWarning,
        stacklevel=2,
    )
    raise _DefGen_Return(val)


class _InlineDeferred(Deferred[Any]):
    """The Deferred for a running generator/coroutine; cancelling it cancels what the
    code is waiting on, and the code decides (it may catch the CancelledError)."""

    __slots__ = ("_waitingOn",)

    def __init__(self) -> None:
        super().__init__()
        self._waitingOn: Optional[Deferred[Any]] = None

    def cancel(self) -> None:
        if not self.called and self._waitingOn is not None:
            self._waitingOn.cancel()
            return
        super().cancel()


def _startInline(gen: Any) -> Deferred[Any]:
    d = _InlineDeferred()
    _inlineStep(gen, d, None, contextvars.copy_context())
    return d


def _inlineResume(result: Any, gen: Any, d: _InlineDeferred, ctx: contextvars.Context) -> None:
    d._waitingOn = None
    _inlineStep(gen, d, result, ctx)


def _inlineStep(gen: Any, d: _InlineDeferred, result: Any, ctx: contextvars.Context) -> None:
    """Drive ``gen`` until it waits on an unfired Deferred or finishes."""
    run = ctx.run
    while True:
        try:
            if isinstance(result, Failure):
                yielded = run(result.throwExceptionIntoGenerator, gen)
            else:
                yielded = run(gen.send, result)
        except (StopIteration, _DefGen_Return) as e:
            value = e.value
            if isinstance(value, Deferred):
                d._waitingOn = value
                value.addBoth(_inlineFinish, d)
            elif not d.called:
                d.callback(value)
            return
        except BaseException:
            if not d.called:
                d.errback(Failure._fromCurrent())
            return
        if not isinstance(yielded, Deferred) and isinstance(yielded, (types.CoroutineType, types.GeneratorType)):
            # As in Twisted: a yielded coroutine or generator runs like inlineCallbacks.
            yielded = _startInline(yielded)
        if isinstance(yielded, Deferred):
            if yielded.called and not yielded.paused and not yielded._runningCallbacks:
                result = yielded.result
                yielded.result = None
                if yielded._debugInfo is not None:
                    yielded._debugInfo.failResult = None
                continue
            d._waitingOn = yielded
            yielded.addBoth(_inlineResume, gen, d, ctx)
            return
        if getattr(yielded, "_asyncio_future_blocking", None) is not None:
            result = Deferred.fromFuture(yielded)
            yielded._asyncio_future_blocking = False
            if not result.called:
                d._waitingOn = result
                result.addBoth(_inlineResume, gen, d, ctx)
                return
            continue
        result = yielded


def _inlineFinish(result: Any, d: _InlineDeferred) -> None:
    d._waitingOn = None
    if not d.called:
        if isinstance(result, Failure):
            d.errback(result)
        else:
            d.callback(result)


def inlineCallbacks(f: Callable[..., Generator[Any, Any, _T]]) -> Callable[..., Deferred[_T]]:
    """Decorate a generator function so that ``x = yield d`` waits for Deferred ``d``
    (an exception is raised at the ``yield`` if it fails) and ``return v`` becomes the
    result of the Deferred the call returns."""

    @wraps(f)
    def unwindGenerator(*args: Any, **kwargs: Any) -> Deferred[_T]:
        try:
            gen = f(*args, **kwargs)
        except _DefGen_Return:
            raise TypeError(
                f"inlineCallbacks requires {f!r} to produce a generator; instead "
                "returnValue was called in a function that is not one"
            ) from None
        if not isgenerator(gen):
            raise TypeError(
                f"inlineCallbacks requires {f!r} to produce a generator; instead got {gen!r}"
            )
        return _startInline(gen)

    return unwindGenerator


def ensureDeferred(coro: Union[Coroutine[Any, Any, _T], Generator[Any, Any, _T], Deferred[_T]]) -> Deferred[_T]:
    """A Deferred for a coroutine's result (a Deferred is returned as it is)."""
    if isinstance(coro, Deferred):
        return coro
    try:
        return Deferred.fromCoroutine(coro)
    except NotACoroutineError:
        raise NotACoroutineError(f"{coro!r} is not a coroutine or a Deferred") from None


# -- locks, semaphores and queues ----------------------------------------------------


class QueueOverflow(Exception):
    """``DeferredQueue.put`` on a queue that already holds ``size`` items."""


class QueueUnderflow(Exception):
    """``DeferredQueue.get`` with ``backlog`` getters already waiting."""


class _ConcurrencyPrimitive:
    """What locks and semaphores share: ``run`` a function while holding one token."""

    def __init__(self) -> None:
        self.waiting: list[Deferred[Any]] = []

    def _cancelAcquire(self, d: Deferred[Any]) -> None:
        # Still queued (not yet granted): leave the queue; cancel() then fails it.
        if d in self.waiting:
            self.waiting.remove(d)

    def acquire(self) -> Deferred[Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def release(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Acquire, call ``f(*args, **kwargs)``, release once its result (or Deferred's
        result) is in; a Deferred for that result."""

        def execute(_ignored: Any) -> Deferred[Any]:
            d = maybeDeferred(f, *args, **kwargs)

            def release(result: Any) -> Any:
                self.release()
                return result

            return d.addBoth(release)

        return self.acquire().addCallback(execute)

    def __aenter__(self) -> Deferred[Any]:
        return self.acquire()

    def __aexit__(self, *exc: Any) -> Deferred[bool]:
        self.release()
        return succeed(False)


class DeferredLock(_ConcurrencyPrimitive):
    """A lock for asynchronous code: ``acquire()`` fires (with the lock) once it is
    ours, in request order. Cancelling a pending acquire leaves the queue."""

    locked = False

    def acquire(self) -> Deferred["DeferredLock"]:
        d: Deferred[DeferredLock] = Deferred(canceller=self._cancelAcquire)
        if self.locked:
            self.waiting.append(d)
        else:
            self.locked = True
            d.callback(self)
        return d

    def release(self) -> None:
        """Give the lock to the next waiter, or unlock it."""
        if not self.locked:
            raise RuntimeError("release() of a DeferredLock that is not locked")
        self.locked = False
        if self.waiting:
            self.locked = True
            self.waiting.pop(0).callback(self)


class DeferredSemaphore(_ConcurrencyPrimitive):
    """At most ``tokens`` holders at once; ``acquire()`` fires when one is free."""

    def __init__(self, tokens: int) -> None:
        if tokens < 1:
            raise ValueError(f"DeferredSemaphore needs at least one token, got {tokens!r}")
        super().__init__()
        self.tokens = tokens
        self.limit = tokens

    def acquire(self) -> Deferred["DeferredSemaphore"]:
        d: Deferred[DeferredSemaphore] = Deferred(canceller=self._cancelAcquire)
        if self.tokens <= 0:
            self.waiting.append(d)
        else:
            self.tokens -= 1
            d.callback(self)
        return d

    def release(self) -> None:
        """Return a token, handing it straight to the next waiter if there is one."""
        if self.tokens >= self.limit:
            raise RuntimeError("release() of a DeferredSemaphore with no token taken")
        self.tokens += 1
        if self.waiting:
            self.tokens -= 1
            self.waiting.pop(0).callback(self)


class DeferredQueue(Generic[_T]):
    """A queue whose ``get()`` returns a Deferred for the next item. ``size`` bounds
    the items held (QueueOverflow beyond), ``backlog`` the getters waiting
    (QueueUnderflow beyond); None means unbounded."""

    def __init__(self, size: Optional[int] = None, backlog: Optional[int] = None) -> None:
        self.waiting: list[Deferred[_T]] = []
        self.pending: list[_T] = []
        self.size = size
        self.backlog = backlog

    def _cancelGet(self, d: Deferred[_T]) -> None:
        self.waiting.remove(d)

    def put(self, obj: _T) -> None:
        """Hand ``obj`` to the oldest waiting getter, or keep it."""
        if self.waiting:
            self.waiting.pop(0).callback(obj)
        elif self.size is None or len(self.pending) < self.size:
            self.pending.append(obj)
        else:
            raise QueueOverflow(f"the queue already holds {self.size} items")

    def get(self) -> Deferred[_T]:
        """A Deferred for the next item; cancelling it gives up its place in line."""
        if self.pending:
            return succeed(self.pending.pop(0))
        if self.backlog is not None and len(self.waiting) >= self.backlog:
            raise QueueUnderflow(f"{self.backlog} getters are already waiting")
        d: Deferred[_T] = Deferred(canceller=self._cancelGet)
        self.waiting.append(d)
        return d
