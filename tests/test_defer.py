"""Deferred: Twisted's semantics, case by case, plus property tests of the chain loop."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
from typing import Any, Callable, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector import defer
from inspector.defer import (
    AlreadyCalledError,
    CancelledError,
    Deferred,
    DeferredList,
    FirstError,
    NotACoroutineError,
    ensureDeferred,
    fail,
    gatherResults,
    inlineCallbacks,
    maybeDeferred,
    succeed,
)
from inspector.error import TimeoutError
from inspector.failure import Failure, NoCurrentExceptionError
from inspector.task import Clock


def outcome(d: Deferred[Any]) -> Any:
    """The result of a fired Deferred, consumed so no unhandled error is reported."""
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, f"{d!r} has no result yet"
    return box[0]


def has_result(d: Deferred[Any]) -> bool:
    """Whether ``d`` has a result a new callback would receive now."""
    return d.called and not d.paused and not isinstance(d.result, Deferred)


def failure_of(d: Deferred[Any]) -> Failure:
    result = outcome(d)
    assert isinstance(result, Failure), f"expected a Failure, got {result!r}"
    return result


# -- adding callbacks and the flow of results ---------------------------------------------


def test_results_flow_down_callbacks_with_extra_args_and_kwargs() -> None:
    d: Deferred[int] = Deferred()
    seen = []
    d.addCallback(lambda r, a, b=0: r + a + b, 10, b=100)
    d.addCallbacks(lambda r, m: r * m, lambda f: 0, callbackArgs=(2,))
    d.addBoth(lambda r, tag: seen.append((tag, r)) or r, "both")
    d.callback(1)
    assert seen == [("both", 222)]
    assert outcome(d) == 222


def test_exception_in_callback_becomes_a_failure_for_the_next_errback() -> None:
    d: Deferred[int] = Deferred()
    skipped = []
    d.addCallback(lambda r: 1 / r)
    d.addCallback(skipped.append)  # a failure passes callbacks by
    d.addErrback(lambda f, extra: (f.type, f.getErrorMessage(), extra), extra="x")
    d.callback(0)
    assert skipped == []
    assert outcome(d) == (ZeroDivisionError, "division by zero", "x")


def test_errback_returning_a_value_switches_back_to_callbacks() -> None:
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f: "recovered")
    d.addCallbacks(lambda r: r + "!", lambda f: "not me")
    d.errback(ValueError("x"))
    assert outcome(d) == "recovered!"


def test_addcallbacks_errback_args_and_keywords() -> None:
    d: Deferred[int] = Deferred()
    d.addCallbacks(
        lambda r: "cb",
        lambda f, a, k=None: (f.type, a, k),
        errbackArgs=("a",),
        errbackKeywords={"k": "kw"},
    )
    d.errback(KeyError("k"))
    assert outcome(d) == (KeyError, "a", "kw")


def test_callbacks_added_after_firing_run_at_once() -> None:
    d = succeed(2)
    seen = []
    d.addCallback(seen.append)
    assert seen == [2]


def test_adding_a_non_callable_is_a_clear_error() -> None:
    d: Deferred[int] = Deferred()
    for add in (d.addCallback, d.addErrback, d.addBoth, d.addCallbacks):
        with pytest.raises(TypeError, match="callable"):
            add("not a function")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        d.addCallbacks(print, "nope")  # type: ignore[arg-type]
    d.callback(1)
    assert outcome(d) == 1


def test_chain_deferred_passes_the_result_on() -> None:
    a: Deferred[int] = Deferred()
    b: Deferred[int] = Deferred()
    a.chainDeferred(b)
    a.callback(5)
    assert outcome(b) == 5


# -- chaining --------------------------------------------------------------------------------


def test_callback_returning_unfired_deferred_pauses_outer_until_inner_fires() -> None:
    outer: Deferred[int] = Deferred()
    inner: Deferred[int] = Deferred()
    seen = []
    outer.addCallback(lambda _: inner)
    outer.addCallback(lambda r: seen.append(r) or r * 2)
    outer.callback("start")
    assert seen == []
    assert "waiting on" in repr(outer)
    inner.callback(21)
    assert seen == [21]
    assert outcome(outer) == 42
    assert inner.result is None  # the result moved to the outer chain


def test_callback_returning_fired_deferred_takes_its_result_at_once() -> None:
    outer: Deferred[int] = Deferred()
    inner = succeed(3)
    outer.addCallback(lambda _: inner)
    outer.callback(None)
    assert outcome(outer) == 3
    assert inner.result is None


def test_failure_of_inner_deferred_goes_to_outer_errbacks() -> None:
    outer: Deferred[int] = Deferred()
    inner: Deferred[int] = Deferred()
    outer.addCallback(lambda _: inner)
    outer.callback(None)
    inner.errback(KeyError("inner"))
    assert failure_of(outer).check(KeyError)


def test_callback_returning_its_own_deferred_fails_clearly() -> None:
    d: Deferred[int] = Deferred()
    d.addCallback(lambda _: d)
    d.callback(1)
    f = failure_of(d)
    assert f.check(TypeError) and "returned the Deferred it was added to" in f.getErrorMessage()


def test_hundred_thousand_chained_deferreds_do_not_recurse() -> None:
    links = [Deferred() for _ in range(100_000)]
    for outer, inner in zip(links, links[1:]):
        outer.addCallback(lambda _r, inner=inner: inner)
    for link in links[:-1]:
        link.callback(None)
    links[-1].callback("deep")
    assert outcome(links[0]) == "deep"


def test_hundred_thousand_links_each_with_own_callbacks_do_not_recurse() -> None:
    # Every link also has a callback after the point where it chains, so the loop must
    # come back down through each link after the one below it has finished.
    links = [Deferred() for _ in range(100_000)]
    for outer, inner in zip(links, links[1:]):
        outer.addCallback(lambda _r, inner=inner: inner)
        outer.addCallback(lambda r: r + 1)
    for link in links[:-1]:
        link.callback(None)
    links[-1].callback(0)
    assert outcome(links[0]) == 99_999


def test_hundred_thousand_plain_callbacks_do_not_recurse() -> None:
    d: Deferred[int] = Deferred()
    for _ in range(100_000):
        d.addCallback(lambda r: r + 1)
    d.callback(0)
    assert outcome(d) == 100_000


# -- firing rules ----------------------------------------------------------------------------


def test_callback_twice_raises_already_called() -> None:
    d: Deferred[int] = Deferred()
    d.callback(1)
    with pytest.raises(AlreadyCalledError):
        d.callback(2)
    with pytest.raises(AlreadyCalledError):
        d.errback(ValueError())
    assert outcome(d) == 1


def test_errback_twice_raises_already_called() -> None:
    d: Deferred[int] = Deferred()
    d.errback(ValueError("first"))
    with pytest.raises(AlreadyCalledError):
        d.errback(ValueError("second"))
    with pytest.raises(AlreadyCalledError):
        d.callback(1)
    assert failure_of(d).getErrorMessage() == "first"


def test_callback_with_a_deferred_is_an_error() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(AssertionError, match="given a Deferred"):
        d.callback(Deferred())  # type: ignore[arg-type]
    assert not d.called  # nothing was lost: it can still fire
    d.callback(1)
    assert outcome(d) == 1


def test_errback_without_argument_captures_the_current_exception() -> None:
    d: Deferred[int] = Deferred()
    try:
        {}["missing"]
    except KeyError:
        d.errback()
    f = failure_of(d)
    assert f.check(KeyError) and f.value.args == ("missing",)
    assert "test_errback_without_argument" in f.getTraceback()


def test_errback_without_argument_outside_except_is_an_error() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(NoCurrentExceptionError):
        d.errback()
    assert not d.called


@pytest.mark.parametrize("bad", ["x", 3, KeyError])
def test_errback_with_a_non_exception_is_rejected(bad: object) -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(TypeError, match="needs a Failure or an exception"):
        d.errback(bad)  # type: ignore[arg-type]
    assert not d.called


def test_failure_raised_in_callback_is_passed_on_unchanged() -> None:
    original = Failure(ValueError("original"))
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f: f.trap(KeyError))
    d.addErrback(lambda f: f.raiseException())
    d.errback(original)
    assert failure_of(d) is original


# -- pause / unpause -------------------------------------------------------------------------


def test_pause_holds_callbacks_until_unpause() -> None:
    d: Deferred[int] = Deferred()
    seen = []
    d.addCallback(seen.append)
    d.pause()
    d.pause()
    d.callback(1)
    assert seen == []
    d.unpause()
    assert seen == []
    d.unpause()
    assert seen == [1]


def test_pause_inside_a_callback_stops_the_rest() -> None:
    d: Deferred[int] = Deferred()
    seen = []

    def first(r: int) -> int:
        d.pause()
        return r + 1

    d.addCallback(first)
    d.addCallback(seen.append)
    d.callback(1)
    assert seen == []
    d.unpause()
    assert seen == [2]


def test_a_paused_outer_holds_the_inner_callbacks_added_after_chaining() -> None:
    """As Twisted: the paused outer Deferred stops the whole run, so a callback added to
    the inner one after the outer chained onto it waits for the next run of the inner."""
    outer: Deferred[int] = Deferred()
    inner: Deferred[int] = Deferred()
    seen = []
    outer.addCallback(lambda _: inner)
    outer.addCallback(lambda r: seen.append(r) or r)
    outer.callback(None)
    outer.pause()
    after = []
    inner.addCallback(after.append)  # added after the outer started waiting on it
    inner.callback(5)
    assert after == []  # held: the run stopped at the paused outer
    assert seen == []  # ... which holds the result while paused
    inner.addCallback(lambda r: after.append(("next", r)))  # runs the inner's chain again
    assert after == [None, ("next", None)]  # the result went to the outer chain
    outer.unpause()
    assert seen == [5]
    assert outcome(outer) == 5


def test_unpause_without_pause_is_a_clear_error() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(RuntimeError, match="matching pause"):
        d.unpause()
    d.callback(1)
    assert outcome(d) == 1


# -- cancellation ----------------------------------------------------------------------------


def test_cancel_calls_the_canceller_then_errbacks_with_cancelled_error() -> None:
    called_with = []
    d: Deferred[int] = Deferred(called_with.append)
    d.cancel()
    assert called_with == [d]
    assert failure_of(d).check(CancelledError)


def test_canceller_that_fires_the_deferred_decides_the_result() -> None:
    d: Deferred[str] = Deferred(lambda d: d.callback("alternative"))
    d.cancel()
    assert outcome(d) == "alternative"


def test_cancel_without_canceller_swallows_the_late_result() -> None:
    d: Deferred[int] = Deferred()
    d.cancel()
    d.callback("late")  # the operation finishing later must not raise
    assert failure_of(d).check(CancelledError)


def test_cancel_with_canceller_then_late_callback_is_already_called() -> None:
    d: Deferred[int] = Deferred(lambda d: None)
    d.cancel()
    with pytest.raises(AlreadyCalledError):
        d.callback("late")
    assert failure_of(d).check(CancelledError)


def test_cancel_cancels_the_inner_deferred_being_waited_on() -> None:
    inner_cancelled = []
    inner: Deferred[int] = Deferred(inner_cancelled.append)
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda _: inner)
    outer.callback(None)
    outer.cancel()
    assert inner_cancelled == [inner]
    assert failure_of(outer).check(CancelledError)


def test_cancel_after_result_does_nothing() -> None:
    d = succeed(1)
    d.cancel()
    assert outcome(d) == 1


def test_add_timeout_cancels_and_reports_timeout_error() -> None:
    clock = Clock()
    cancelled = []
    d: Deferred[int] = Deferred(cancelled.append)
    d.addTimeout(5, clock)
    clock.advance(4.9)
    assert not d.called
    clock.advance(0.2)
    assert cancelled == [d]
    f = failure_of(d)
    assert f.check(TimeoutError)


def test_add_timeout_result_in_time_cancels_the_timer() -> None:
    clock = Clock()
    d: Deferred[int] = Deferred()
    d.addTimeout(5, clock)
    d.callback("quick")
    assert clock.calls == []  # the delayed call was cancelled
    clock.advance(10)
    assert outcome(d) == "quick"


def test_add_timeout_on_timeout_cancel_chooses_the_result() -> None:
    clock = Clock()
    d: Deferred[int] = Deferred()
    d.addTimeout(1, clock, onTimeoutCancel=lambda result, timeout: ("timed out", timeout, result.type))
    clock.advance(1)
    assert outcome(d) == ("timed out", 1, CancelledError)


def test_add_timeout_user_cancel_stays_cancelled_error() -> None:
    clock = Clock()
    d: Deferred[int] = Deferred()
    d.addTimeout(1, clock)
    d.cancel()
    assert failure_of(d).check(CancelledError) is CancelledError
    assert clock.calls == []


# -- succeed, fail, maybeDeferred ------------------------------------------------------------


def test_succeed_and_fail() -> None:
    assert outcome(succeed("ok")) == "ok"
    assert failure_of(fail(ValueError("no"))).getErrorMessage() == "no"
    f = Failure(KeyError())
    assert failure_of(fail(f)) is f
    try:
        raise IndexError("current")
    except IndexError:
        d = fail()
    assert failure_of(d).check(IndexError)


def test_maybe_deferred_with_value_exception_failure_and_deferred() -> None:
    assert outcome(maybeDeferred(lambda a, b: a + b, 1, b=2)) == 3
    assert failure_of(maybeDeferred(lambda: 1 / 0)).check(ZeroDivisionError)
    f = Failure(KeyError())
    assert failure_of(maybeDeferred(lambda: f)) is f
    d: Deferred[int] = Deferred()
    assert maybeDeferred(lambda: d) is d


def test_maybe_deferred_runs_a_coroutine() -> None:
    gate: Deferred[int] = Deferred()

    async def work(x: int) -> int:
        return x + await gate

    d = maybeDeferred(work, 1)
    assert not d.called
    gate.callback(41)
    assert outcome(d) == 42


# -- DeferredList and gatherResults ----------------------------------------------------------


def test_deferred_list_collects_results_in_order() -> None:
    a: Deferred[int] = Deferred()
    b: Deferred[int] = Deferred()
    dl = DeferredList([a, b])
    b.callback("b")
    assert not dl.called
    a.errback(ValueError("a"))
    results = outcome(dl)
    assert results[1] == (True, "b")
    assert results[0][0] is False and results[0][1].check(ValueError)
    assert failure_of(a).check(ValueError)  # without consumeErrors the error stays in `a`


def test_deferred_list_empty_fires_at_once() -> None:
    assert outcome(DeferredList([])) == []
    assert not DeferredList([], fireOnOneCallback=True).called


def test_deferred_list_fire_on_one_callback() -> None:
    a: Deferred[int] = Deferred()
    b: Deferred[int] = Deferred()
    dl = DeferredList([a, b], fireOnOneCallback=True)
    b.callback("first")
    assert outcome(dl) == ("first", 1)
    a.callback("later")  # nothing breaks
    assert outcome(a) == "later"


def test_deferred_list_fire_on_one_errback() -> None:
    a: Deferred[int] = Deferred()
    b: Deferred[int] = Deferred()
    dl = DeferredList([a, b], fireOnOneErrback=True, consumeErrors=True)
    b.errback(KeyError("b"))
    f = failure_of(dl)
    assert f.check(FirstError)
    assert f.value.index == 1 and f.value.subFailure.check(KeyError)


def test_deferred_list_consume_errors_leaves_nothing_unhandled(caplog: pytest.LogCaptureFixture) -> None:
    a: Deferred[int] = Deferred()
    dl = DeferredList([a], consumeErrors=True)
    a.errback(ValueError("consumed"))
    assert outcome(a) is None
    assert outcome(dl)[0][1].check(ValueError)
    with caplog.at_level(logging.ERROR, logger="inspector"):
        del a, dl
        gc.collect()
    assert "Unhandled error" not in caplog.text


def test_deferred_list_cancel_cancels_its_members() -> None:
    a: Deferred[int] = Deferred()
    b = succeed(2)
    dl = DeferredList([a, b])
    dl.cancel()
    assert failure_of(a).check(CancelledError)
    results = outcome(dl)
    assert results[1] == (True, 2) and results[0][1].check(CancelledError)


def test_gather_results_gives_the_values() -> None:
    a: Deferred[int] = Deferred()
    d = gatherResults([a, succeed(2)])
    a.callback(1)
    assert outcome(d) == [1, 2]


def test_gather_results_first_error() -> None:
    a: Deferred[int] = Deferred()
    d = gatherResults([a, fail(ValueError("second"))], consumeErrors=True)
    f = failure_of(d)
    assert f.check(FirstError)
    assert f.value.index == 1
    assert f.value.subFailure.getErrorMessage() == "second"
    assert "FirstError[#1" in str(f.value)
    a.callback(1)


# -- generators and coroutines ---------------------------------------------------------------


def test_inline_callbacks_plain_return_and_waiting() -> None:
    gate: Deferred[int] = Deferred()

    @inlineCallbacks
    def work(x: int):  # type: ignore[no-untyped-def]
        a = yield succeed(x)
        b = yield gate
        c = yield "not a Deferred"
        return (a, b, c)

    d = work(1)
    assert not d.called
    gate.callback(2)
    assert outcome(d) == (1, 2, "not a Deferred")


def test_inline_callbacks_failure_raises_at_the_yield() -> None:
    @inlineCallbacks
    def work():  # type: ignore[no-untyped-def]
        try:
            yield fail(KeyError("k"))
        except KeyError as e:
            caught = e
        yield fail(ValueError("escapes"))
        return caught

    f = failure_of(work())
    assert f.check(ValueError) and f.getErrorMessage() == "escapes"


def test_inline_callbacks_requires_a_generator() -> None:
    @inlineCallbacks
    def not_a_generator():  # type: ignore[no-untyped-def]
        return 1

    with pytest.raises(TypeError, match="generator"):
        not_a_generator()


def test_inline_callbacks_many_synchronous_yields_do_not_recurse() -> None:
    @inlineCallbacks
    def count():  # type: ignore[no-untyped-def]
        total = 0
        for _ in range(100_000):
            total += yield succeed(1)
        return total

    assert outcome(count()) == 100_000


def test_inline_callbacks_cancel_cancels_what_it_waits_on() -> None:
    waited: Deferred[int] = Deferred()

    @inlineCallbacks
    def work():  # type: ignore[no-untyped-def]
        yield waited

    d = work()
    d.cancel()
    assert waited.called and outcome(waited) is None  # its CancelledError went to the generator
    assert failure_of(d).check(CancelledError)


def test_inline_callbacks_may_catch_cancellation_and_go_on() -> None:
    waited: Deferred[int] = Deferred()

    @inlineCallbacks
    def work():  # type: ignore[no-untyped-def]
        try:
            yield waited
        except CancelledError:
            more = yield succeed(5)
            return ("caught", more)

    d = work()
    d.cancel()
    assert outcome(d) == ("caught", 5)


def test_inline_callbacks_keeps_context_variables_across_yields() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outside")
    gate: Deferred[None] = Deferred()

    @inlineCallbacks
    def work():  # type: ignore[no-untyped-def]
        var.set("inside")
        yield gate
        return var.get()

    d = work()
    assert var.get() == "outside"
    gate.callback(None)
    assert outcome(d) == "inside"


def test_await_deferred_in_async_def_with_ensure_deferred() -> None:
    gate: Deferred[int] = Deferred()

    async def work() -> str:
        a = await succeed(1)
        b = await gate
        try:
            await fail(KeyError("k"))
        except KeyError:
            c = "caught"
        return f"{a}{b}{c}"

    d = ensureDeferred(work())
    assert not d.called
    gate.callback(2)
    assert outcome(d) == "12caught"


def test_await_failed_deferred_later_raises_in_the_coroutine() -> None:
    gate: Deferred[int] = Deferred()

    async def work() -> int:
        return await gate

    d = ensureDeferred(work())
    gate.errback(ValueError("later"))
    f = failure_of(d)
    assert f.check(ValueError) and f.getErrorMessage() == "later"
    assert outcome(gate) is None  # the awaiting coroutine consumed the error


def test_ensure_deferred_and_from_coroutine() -> None:
    async def seven() -> int:
        return 7

    d: Deferred[int] = Deferred()
    assert ensureDeferred(d) is d
    assert outcome(ensureDeferred(seven())) == 7
    assert outcome(Deferred.fromCoroutine(seven())) == 7
    with pytest.raises(NotACoroutineError):
        ensureDeferred(7)  # type: ignore[arg-type]
    with pytest.raises(NotACoroutineError):
        Deferred.fromCoroutine(seven)  # type: ignore[arg-type]


def test_coroutine_returning_a_deferred_gives_its_result() -> None:
    inner: Deferred[int] = Deferred()

    async def work() -> Any:
        return inner

    d = ensureDeferred(work())
    inner.callback("through")
    assert outcome(d) == "through"


def test_cancel_coroutine_cancels_what_it_awaits() -> None:
    cancelled = []
    gate: Deferred[int] = Deferred(cancelled.append)

    async def work() -> int:
        return await gate

    d = ensureDeferred(work())
    d.cancel()
    assert cancelled == [gate]
    assert failure_of(d).check(CancelledError)


# -- asyncio ---------------------------------------------------------------------------------


@pytest.fixture
def loop() -> Any:
    made = asyncio.new_event_loop()
    yield made
    made.close()


def test_from_future_success_and_failure(loop: asyncio.AbstractEventLoop) -> None:
    ok = loop.create_future()
    bad = loop.create_future()
    d_ok = Deferred.fromFuture(ok)
    d_bad = Deferred.fromFuture(bad)
    ok.set_result("value")
    bad.set_exception(KeyError("k"))
    loop.run_until_complete(asyncio.sleep(0))
    assert outcome(d_ok) == "value"
    assert failure_of(d_bad).check(KeyError)


def test_from_future_cancel_cancels_the_future(loop: asyncio.AbstractEventLoop) -> None:
    future = loop.create_future()
    d = Deferred.fromFuture(future)
    d.cancel()
    assert future.cancelled()
    loop.run_until_complete(asyncio.sleep(0))
    assert failure_of(d).check(CancelledError)


def test_as_future_success_failure_and_cancel(loop: asyncio.AbstractEventLoop) -> None:
    async def wait(f: Any) -> Any:
        return await f

    d: Deferred[int] = Deferred()
    future = d.asFuture(loop)
    loop.call_soon(d.callback, 5)
    assert loop.run_until_complete(wait(future)) == 5

    d2: Deferred[int] = Deferred()
    future2 = d2.asFuture(loop)
    loop.call_soon(d2.errback, ValueError("v"))
    with pytest.raises(ValueError, match="v"):
        loop.run_until_complete(wait(future2))

    cancelled = []
    d3: Deferred[int] = Deferred(cancelled.append)
    future3 = d3.asFuture(loop)
    future3.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    assert cancelled == [d3]
    assert d3.called


def test_coroutine_may_await_asyncio_futures_in_a_running_loop(loop: asyncio.AbstractEventLoop) -> None:
    async def work() -> int:
        await asyncio.sleep(0)
        return 3

    async def main() -> int:
        return await ensureDeferred(work()).asFuture(loop)

    assert loop.run_until_complete(main()) == 3


# -- unhandled errors ------------------------------------------------------------------------


def _lose_a_failed_deferred() -> None:
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r: r)
    try:
        raise LookupError("nobody handled me")
    except LookupError:
        d.errback()


def test_garbage_collected_unhandled_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="inspector"):
        _lose_a_failed_deferred()
        gc.collect()
    records = [r for r in caplog.records if "Unhandled error in Deferred" in r.getMessage()]
    assert len(records) == 1
    assert records[0].name == "inspector"
    message = records[0].getMessage()
    assert "LookupError: nobody handled me" in message
    assert "_lose_a_failed_deferred" in message  # the traceback
    assert isinstance(records[0].failure, Failure)  # type: ignore[attr-defined]


def test_handled_failure_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="inspector"):
        d = fail(ValueError("handled later"))
        d.addErrback(lambda f: None)
        d2 = fail(ValueError("handled by chaining"))
        outer: Deferred[int] = Deferred()
        outer.addCallback(lambda _: d2)  # noqa: F821 - runs before `del d2` below
        outer.addErrback(lambda f: None)
        outer.callback(None)
        del d, d2, outer
        gc.collect()
    assert "Unhandled error" not in caplog.text


def test_debugging_reports_where_a_deferred_was_created_and_fired() -> None:
    defer.setDebugging(True)
    try:
        assert defer.getDebugging()
        d: Deferred[int] = Deferred()
        d.callback(1)
        with pytest.raises(AlreadyCalledError) as info:
            d.callback(2)
    finally:
        defer.setDebugging(False)
    assert "created" in str(info.value) and "test_debugging_reports" in str(info.value)


# -- properties of the chain machinery -------------------------------------------------------

# A scripted chain is run twice: on the real Deferred, and on a small model that applies
# the same steps one after another. Whatever the order of pauses, cancels and firings,
# the final outcome must agree and no exception may escape the machinery.

CALLBACK_KINDS = ["inc", "raise", "inner", "fired_inner"]
ERRBACK_KINDS = ["recover", "reraise", "trap_other", "pass"]

operation = st.one_of(
    st.tuples(st.just("callback"), st.sampled_from(CALLBACK_KINDS)),
    st.tuples(st.just("errback"), st.sampled_from(ERRBACK_KINDS)),
    st.tuples(st.just("both"), st.sampled_from(["inc_or_recover"])),
    st.tuples(st.just("pause"), st.none()),
    st.tuples(st.just("unpause"), st.none()),
    st.tuples(st.just("fire"), st.booleans()),
    st.tuples(st.just("cancel"), st.none()),
    st.tuples(st.just("fire_inner"), st.tuples(st.integers(0, 5), st.booleans())),
)


class Model:
    """Straight-line reference: the steps applied one at a time, no re-entrancy."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.called = False
        self.suppress = False
        self.paused = 0
        self.pos = 0
        self.result: Any = None
        self.waiting: Optional[int] = None
        self.inners: list[dict[str, Any]] = []

    def run(self) -> None:
        while self.called and not self.paused and self.waiting is None and self.pos < len(self.steps):
            where, kind = self.steps[self.pos]
            self.pos += 1
            failed = isinstance(self.result, tuple) and self.result[0] == "failure"
            if where == "callback" and not failed:
                self.result = self.apply_callback(kind, self.result)
            elif where == "errback" and failed:
                self.result = self.apply_errback(kind, self.result)
            elif where == "both":
                self.result = 0 if failed else self.result + 1

    def apply_callback(self, kind: str, value: int) -> Any:
        if kind == "inc":
            return value + 1
        if kind == "raise":
            return ("failure", "ValueError", value)
        if kind == "fired_inner":
            return value * 10
        self.inners.append({"fired": False, "cancelled": False})
        self.waiting = len(self.inners) - 1
        return None

    def apply_errback(self, kind: str, failure: tuple) -> Any:
        if kind == "recover":
            return 100
        return failure

    def fire(self, ok: bool) -> None:
        if self.called:
            self.suppress = False  # the real Deferred swallows exactly one late result
            return
        self.called = True
        self.result = 1 if ok else ("failure", "KeyError", 0)
        self.run()

    def fire_inner(self, index: int, ok: bool) -> None:
        inner = self.inners[index]
        if inner["fired"]:
            return
        inner["fired"] = True
        if self.waiting == index:
            self.waiting = None
            self.result = 7 if ok else ("failure", "IndexError", index)
            self.run()

    def cancel(self) -> None:
        if not self.called:
            self.called = True
            self.suppress = True
            self.result = ("failure", "CancelledError", None)
            self.run()
        elif self.waiting is not None:
            index = self.waiting
            self.inners[index]["fired"] = True
            self.waiting = None
            self.result = ("failure", "CancelledError", None)
            self.run()


def describe(result: Any) -> Any:
    if isinstance(result, Failure):
        name = result.type.__name__
        if name == "CancelledError":
            return ("failure", name, None)
        return ("failure", name, result.value.args[0])
    return result


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=40))
def test_random_chains_never_lose_a_result_or_an_error(ops: list[tuple[str, Any]]) -> None:
    d: Deferred[int] = Deferred()
    model = Model()
    inners: list[Deferred[int]] = []
    inner_fired: list[bool] = []

    def make_callback(kind: str) -> Callable[[int], Any]:
        def cb(value: int) -> Any:
            if kind == "inc":
                return value + 1
            if kind == "raise":
                raise ValueError(value)
            if kind == "fired_inner":
                return succeed(value * 10)
            inner: Deferred[int] = Deferred()
            inners.append(inner)
            inner_fired.append(False)
            return inner

        return cb

    def make_errback(kind: str) -> Callable[[Failure], Any]:
        def eb(f: Failure) -> Any:
            if kind == "recover":
                return 100
            if kind == "reraise":
                f.raiseException()
            if kind == "trap_other":
                f.trap(OverflowError)
            return f

        return eb

    def fire_inner(index: int, ok: bool) -> None:
        if index >= len(inners) or inner_fired[index]:
            return
        inner_fired[index] = True
        # A cancelled inner swallows this late result, as documented.
        if ok:
            inners[index].callback(7)
        else:
            inners[index].errback(IndexError(index))
        model.fire_inner(index, ok)

    fired = False
    for name, arg in ops:
        if name == "callback":
            d.addCallback(make_callback(arg))
            model.steps.append(("callback", arg))
            model.run()
        elif name == "errback":
            d.addErrback(make_errback(arg))
            model.steps.append(("errback", arg))
            model.run()
        elif name == "both":
            d.addBoth(lambda r: 0 if isinstance(r, Failure) else r + 1)
            model.steps.append(("both", arg))
            model.run()
        elif name == "pause":
            d.pause()
            model.paused += 1
        elif name == "unpause":
            if model.paused:
                model.paused -= 1
                d.unpause()
                model.run()
        elif name == "fire":
            if fired:
                continue
            fired = True
            model.fire(arg)  # after a cancel, the late result is swallowed
            if arg:
                d.callback(1)
            else:
                d.errback(KeyError(0))
        elif name == "cancel":
            d.cancel()
            model.cancel()
        elif name == "fire_inner":
            fire_inner(*arg)

    # Let everything finish: unpause, fire, and fire every inner Deferred still pending.
    while model.paused:
        model.paused -= 1
        d.unpause()
        model.run()
    if not fired and not model.called:
        d.callback(1)
        model.fire(True)
    while any(not done for done in inner_fired):
        fire_inner(inner_fired.index(False), True)

    assert d.called and not d.paused
    assert model.waiting is None and model.pos == len(model.steps)
    assert describe(outcome(d)) == model.result


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["ok", "fail", "pending_ok", "pending_fail"]), max_size=8),
    st.booleans(),
)
def test_gather_results_property(kinds: list[str], consume: bool) -> None:
    ds: list[Deferred[int]] = []
    later: list[tuple[Deferred[int], bool]] = []
    for i, kind in enumerate(kinds):
        if kind == "ok":
            ds.append(succeed(i))
        elif kind == "fail":
            ds.append(fail(ValueError(i)))
        else:
            d: Deferred[int] = Deferred()
            ds.append(d)
            later.append((d, kind == "pending_ok"))
    gathered = gatherResults(ds, consumeErrors=consume)
    for d, ok in later:
        if ok:
            d.callback(ds.index(d))
        else:
            d.errback(ValueError(ds.index(d)))
    result = outcome(gathered)
    failing = [i for i, k in enumerate(kinds) if k in ("fail", "pending_fail")]
    if not failing:
        assert result == list(range(len(kinds)))
    else:
        assert isinstance(result, Failure) and result.check(FirstError)
        assert result.value.index in failing
    for d in ds:  # consume what the gather left in each one
        outcome(d)


class RefDeferred:
    """A deliberately naive, recursive Deferred used as the oracle for the loop above:
    obviously right for short chains, hopeless for long ones."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[Callable[..., Any], Callable[..., Any]]] = []
        self.called = False
        self.paused = 0
        self.result: Any = None
        self.running = False
        self.suppress = False

    def addCallbacks(self, cb: Callable[..., Any], eb: Callable[..., Any]) -> None:
        self.callbacks.append((cb, eb))
        if self.called:
            self.run()

    def fire(self, result: Any) -> None:
        if self.called:
            assert self.suppress, "the scripts never fire twice"
            self.suppress = False
            return
        self.called = True
        self.result = result
        self.run()

    def pause(self) -> None:
        self.paused += 1

    def unpause(self) -> None:
        self.paused -= 1
        if not self.paused and self.called:
            self.run()

    def cancel(self) -> None:
        if not self.called:
            self.suppress = True
            self.fire(Failure(CancelledError()))
        elif isinstance(self.result, RefDeferred):
            self.result.cancel()

    def run(self) -> bool:
        """Run what is due; True when a pause stopped the run, which (as in Twisted)
        also stops the Deferreds that handed their results up to this one."""
        if self.running:
            return False
        while self.callbacks or self.paused:
            if self.paused:
                return True
            cb, eb = self.callbacks.pop(0)
            if isinstance(cb, RefDeferred):
                # Hand our result to the outer Deferred waiting on us; we are not
                # "running" while it goes on, as in Twisted.
                value, self.result = self.result, None
                if cb.resume(value):
                    return True
                continue
            self.running = True
            try:
                self.result = (eb if isinstance(self.result, Failure) else cb)(self.result)
            except Exception:
                self.result = Failure()
            finally:
                self.running = False
            if isinstance(self.result, RefDeferred):
                inner = self.result
                if inner.called and not inner.paused and not inner.running:
                    self.result, inner.result = inner.result, None
                    continue
                self.pause()
                inner.callbacks.append((self, self))
                return False
        return False

    def resume(self, result: Any) -> bool:
        self.result = result
        self.paused -= 1
        return self.run()


many_operation = st.one_of(
    st.tuples(st.just("inc"), st.integers(0, 3)),
    st.tuples(st.just("raise"), st.integers(0, 3)),
    st.tuples(st.just("recover"), st.integers(0, 3)),
    st.tuples(st.just("wait_on"), st.tuples(st.integers(0, 3), st.integers(0, 3))),
    st.tuples(st.just("pause"), st.integers(0, 3)),
    st.tuples(st.just("unpause"), st.integers(0, 3)),
    st.tuples(st.just("fire"), st.tuples(st.integers(0, 3), st.booleans())),
    st.tuples(st.just("cancel"), st.integers(0, 3)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(many_operation, max_size=50))
def test_random_webs_of_deferreds_match_the_naive_reference(ops: list[tuple[str, Any]]) -> None:
    """Four Deferreds waiting on each other (only on higher-numbered ones, so no cycles),
    paused, fired and cancelled in any order: the loop-based Deferred must do exactly
    what the naive recursive one does, callback by callback."""

    def build(make: Callable[[], Any], real: bool) -> tuple[list[Any], list[Any]]:
        ds = [make() for _ in range(4)]
        log: list[Any] = []
        paused = [0] * 4
        fired = [False] * 4

        def add(i: int, cb: Callable[[Any], Any], eb: Callable[[Any], Any]) -> None:
            ds[i].addCallbacks(cb, eb)

        for step, (name, arg) in enumerate(ops):
            if name == "inc":
                add(arg, lambda r, s=step, i=arg: log.append((s, i, describe(r))) or (r or 0) + 1, passthrough)
            elif name == "raise":

                def boom(r: Any, s: int = step, i: int = arg) -> Any:
                    log.append((s, i, describe(r)))
                    raise ValueError(s)

                add(arg, boom, passthrough)
            elif name == "recover":
                add(arg, passthrough, lambda f, s=step, i=arg: log.append((s, i, describe(f))) or s)
            elif name == "wait_on":
                outer, inner = sorted(arg)
                if outer == inner:
                    continue
                add(outer, lambda r, s=step, o=outer, n=inner: log.append((s, o, describe(r))) or ds[n], passthrough)
            elif name == "pause":
                paused[arg] += 1
                ds[arg].pause()
            elif name == "unpause":
                if paused[arg]:
                    paused[arg] -= 1
                    ds[arg].unpause()
            elif name == "fire":
                i, ok = arg
                if fired[i]:
                    continue
                fired[i] = True
                result = i * 1000 if ok else Failure(KeyError(i))
                if real:
                    ds[i].callback(result) if ok else ds[i].errback(result)
                else:
                    ds[i].fire(result)
            elif name == "cancel":
                ds[arg].cancel()
        for i in range(4):
            while paused[i]:
                paused[i] -= 1
                ds[i].unpause()
        for i in reversed(range(4)):
            if not fired[i]:
                fired[i] = True
                if real:
                    ds[i].callback(i * 1000)
                else:
                    ds[i].fire(i * 1000)
        finals = []
        for d in ds:
            result = d.result
            if isinstance(result, (Deferred, RefDeferred)):
                finals.append("waiting")
            else:
                finals.append(describe(result))
        return log, finals

    ref_log, ref_finals = build(RefDeferred, real=False)
    log, finals = build(Deferred, real=True)
    assert log == ref_log
    assert finals == ref_finals
    assert "waiting" not in finals  # with no cycles, every chain runs to its end


def passthrough(r: Any) -> Any:
    return r


# -- locks, semaphores and queues --------------------------------------------------------------


def test_deferred_lock_grants_in_order_and_run_releases() -> None:
    lock = defer.DeferredLock()
    first = lock.acquire()
    second = lock.acquire()
    assert outcome(first) is lock and lock.locked
    assert not second.called
    lock.release()
    assert outcome(second) is lock
    gate: Deferred[str] = Deferred()
    ran = lock.run(lambda x: gate.addCallback(lambda r: r + x), "!")
    assert not has_result(ran)  # still waiting for the lock
    lock.release()
    assert lock.locked and not has_result(ran)  # now holding it, waiting for the gate
    gate.callback("done")
    assert outcome(ran) == "done!"
    assert not lock.locked


def test_deferred_lock_cancelled_waiter_leaves_the_queue() -> None:
    lock = defer.DeferredLock()
    lock.acquire()
    waiter = lock.acquire()
    waiter.cancel()
    assert failure_of(waiter).check(CancelledError)
    lock.release()
    assert not lock.locked and lock.waiting == []
    with pytest.raises(RuntimeError, match="not locked"):
        lock.release()


def test_deferred_lock_async_with() -> None:
    lock = defer.DeferredLock()
    order = []

    async def worker(name: str, gate: Deferred[None]) -> None:
        async with lock:
            order.append(f"{name} in")
            await gate
            order.append(f"{name} out")

    gate_a: Deferred[None] = Deferred()
    gate_b: Deferred[None] = Deferred()
    a = ensureDeferred(worker("a", gate_a))
    b = ensureDeferred(worker("b", gate_b))
    gate_b.callback(None)
    assert order == ["a in"]
    gate_a.callback(None)
    assert order == ["a in", "a out", "b in", "b out"]
    assert outcome(a) is None and outcome(b) is None


def test_deferred_semaphore_limits_holders() -> None:
    with pytest.raises(ValueError):
        defer.DeferredSemaphore(0)
    sem = defer.DeferredSemaphore(2)
    a, b, c = sem.acquire(), sem.acquire(), sem.acquire()
    assert a.called and b.called and not c.called
    sem.release()
    assert outcome(c) is sem and sem.tokens == 0
    sem.release()
    sem.release()
    with pytest.raises(RuntimeError, match="no token"):
        sem.release()
    assert outcome(sem.run(lambda: "ran")) == "ran" and sem.tokens == 2


def test_deferred_queue_put_get_and_limits() -> None:
    q: defer.DeferredQueue[int] = defer.DeferredQueue(size=1, backlog=1)
    q.put(1)
    with pytest.raises(defer.QueueOverflow):
        q.put(2)
    assert outcome(q.get()) == 1
    waiting = q.get()
    with pytest.raises(defer.QueueUnderflow):
        q.get()
    q.put(3)
    assert outcome(waiting) == 3
    gone = q.get()
    gone.cancel()
    assert failure_of(gone).check(CancelledError)
    q.put(4)  # not given to the cancelled getter
    assert outcome(q.get()) == 4


# -- exact Twisted behaviour: corners found by tests/test_defer_differential.py ----------------


def test_cancelling_a_paused_outer_does_not_run_the_inner_later_callbacks() -> None:
    """Twisted: cancel() forwarded to the inner Deferred errbacks it, the failure goes to
    the paused outer, and the run stops there; the inner's later callback runs the next
    time the inner's callbacks run (here: when one more is added)."""
    outer: Deferred[Any] = Deferred()
    inner: Deferred[Any] = Deferred()
    outer.callback(3)
    outer.addCallback(lambda _: inner)  # the outer now waits on the inner
    later: list[Any] = []
    inner.addCallback(later.append)  # added after the outer chained onto it
    outer.pause()
    outer.cancel()
    assert later == []
    inner.addCallback(lambda r: r)
    assert later == [None]  # the inner's result went to the outer
    outer.unpause()
    assert failure_of(outer).check(CancelledError)


def test_reentrant_callback_returning_the_running_deferred_takes_its_input() -> None:
    """Twisted: while a callback of ``running`` runs, ``running``'s result is that
    callback's input; a callback elsewhere that returns ``running`` takes it at once."""
    running: Deferred[str] = Deferred()
    outer: Deferred[str] = Deferred()
    outer.addCallback(lambda _: running)
    running.callback("value")
    running.chainDeferred(outer)  # runs outer.callback("value") as running's callback
    assert outcome(outer) == "value"
    assert outcome(running) is None  # what outer.callback returned


def test_failure_handed_to_an_outer_is_not_also_reported_by_the_inner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="inspector"):
        inner = fail(ValueError("handled by the outer"))  # a held, unhandled Failure
        inner.pause()
        outer: Deferred[Any] = Deferred()
        outer.addCallback(lambda _: inner)  # noqa: F821 - runs before `del inner` below
        outer.callback(None)  # waits: the inner is paused
        outer.pause()  # the run will stop at the outer, before coming back to the inner
        inner.unpause()  # the Failure moves to the outer ...
        outer.addErrback(lambda f: None)
        outer.unpause()  # ... which handles it
        del inner, outer
        gc.collect()
    assert "Unhandled error" not in caplog.text


def test_errback_waiting_on_a_deferred_leaves_nothing_unhandled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="inspector"):
        d = fail(ValueError("handled"))
        pending: Deferred[Any] = Deferred()
        d.addErrback(lambda f: pending)  # noqa: F821 - handled: the chain now waits on `pending`
        del d, pending
        gc.collect()
    assert "Unhandled error" not in caplog.text


# -- returnValue ---------------------------------------------------------------------------------


def test_return_value_ends_an_inline_callbacks_generator() -> None:
    steps: list[str] = []

    @inlineCallbacks
    def work(d: Deferred[int]) -> Any:
        value = yield d
        try:
            defer.returnValue(value * 2)
        except Exception:  # noqa: BLE001 - must not catch returnValue's exception
            steps.append("caught")
        steps.append("after")  # never reached

    d: Deferred[int] = Deferred()
    with pytest.warns(DeprecationWarning, match="returnValue is deprecated"):
        result = work(d)
        d.callback(21)
    assert outcome(result) == 42
    assert steps == []


def test_return_value_before_the_first_yield_and_in_a_coroutine() -> None:
    @inlineCallbacks
    def early() -> Any:
        defer.returnValue("early")
        yield succeed(None)

    async def coro() -> str:
        defer.returnValue("from a coroutine")
        return "not this"

    with pytest.warns(DeprecationWarning):
        assert outcome(early()) == "early"
        assert outcome(ensureDeferred(coro())) == "from a coroutine"


def test_return_value_in_a_decorated_non_generator_is_a_type_error() -> None:
    @inlineCallbacks
    def not_a_generator() -> Any:
        defer.returnValue(1)

    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="returnValue"):
        not_a_generator()


# -- race ----------------------------------------------------------------------------------------


def _race_modules() -> list[Any]:
    """inspector.defer, and Twisted's defer when installed: race must behave the same."""
    modules = [defer]
    try:
        from twisted.internet import defer as twisted_defer
    except ImportError:
        pass
    else:
        modules.append(twisted_defer)
    return modules


@pytest.mark.parametrize("mod", _race_modules(), ids=lambda m: m.__name__.split(".")[0])
def test_race_fires_with_the_first_success_and_cancels_the_rest(mod: Any) -> None:
    cancelled: list[int] = []
    ds = [mod.Deferred(lambda d, i=i: cancelled.append(i)) for i in range(3)]
    raced = mod.race(ds)
    ds[1].errback(ValueError("a failure does not end the race"))
    assert not raced.called
    ds[2].callback("second wins")
    box: list[Any] = []
    raced.addBoth(box.append)
    assert box == [(2, "second wins")]
    assert cancelled == [0]  # not the failed one, not the winner
    assert all(d.called for d in ds)


@pytest.mark.parametrize("mod", _race_modules(), ids=lambda m: m.__name__.split(".")[0])
def test_race_fails_with_every_failure_in_order_when_all_fail(mod: Any) -> None:
    ds = [mod.Deferred() for _ in range(3)]
    raced = mod.race(ds)
    for i in (2, 0, 1):
        ds[i].errback(ValueError(f"failed {i}"))
    box: list[Any] = []
    raced.addBoth(box.append)
    error = box[0].value
    assert type(error).__name__ == "FailureGroup"
    assert [f.getErrorMessage() for f in error.failures] == ["failed 0", "failed 1", "failed 2"]


@pytest.mark.parametrize("mod", _race_modules(), ids=lambda m: m.__name__.split(".")[0])
def test_race_cancel_cancels_every_contender(mod: Any) -> None:
    ds = [mod.Deferred() for _ in range(2)]
    raced = mod.race(ds)
    raced.cancel()
    box: list[Any] = []
    raced.addBoth(box.append)
    assert type(box[0].value).__name__ == "FailureGroup"  # every contender failed
    assert [f.type.__name__ for f in box[0].value.failures] == ["CancelledError"] * 2


@pytest.mark.parametrize("mod", _race_modules(), ids=lambda m: m.__name__.split(".")[0])
def test_race_ignores_a_loser_whose_canceller_succeeds(mod: Any) -> None:
    loser = mod.Deferred(lambda d: d.callback("too late"))
    winner = mod.Deferred()
    raced = mod.race([loser, winner])
    winner.callback("first")
    box: list[Any] = []
    raced.addBoth(box.append)
    assert box == [(1, "first")]


@pytest.mark.parametrize("mod", _race_modules(), ids=lambda m: m.__name__.split(".")[0])
def test_inline_callbacks_runs_a_yielded_coroutine_or_generator(mod: Any) -> None:
    """As Twisted: ``yield coro()`` or ``yield gen()`` waits for its result."""
    d = mod.Deferred()

    async def plus_one() -> int:
        return (await d) + 1

    def plus_ten() -> Any:
        value = yield mod.succeed(1)
        return value + 10

    @mod.inlineCallbacks
    def work() -> Any:
        a = yield plus_one()
        b = yield plus_ten()
        return (a, b)

    result = work()
    assert not result.called
    d.callback(1)
    box: list[Any] = []
    result.addBoth(box.append)
    assert box == [(2, 11)]
