"""Timers: callLater, DelayedCall's methods, ordering and the heap under cancellation."""

from __future__ import annotations

import logging

import pytest
from zope.interface.verify import verifyObject

from inspector.defer import Deferred
from inspector.error import AlreadyCalled, AlreadyCancelled
from inspector.interfaces import IDelayedCall, IReactorTime


def test_reactor_provides_time_interface(reactor):
    verifyObject(IReactorTime, reactor)


def test_seconds_is_monotonic(reactor):
    readings = [reactor.seconds() for _ in range(1000)]
    assert readings == sorted(readings)


def test_call_later_runs_with_arguments_after_its_delay(reactor, run):
    def scenario():
        d = Deferred()
        start = reactor.seconds()
        call = reactor.callLater(0.02, lambda a, b=None: d.callback((a, b, reactor.seconds() - start)), 1, b=2)
        verifyObject(IDelayedCall, call)
        return d

    a, b, waited = run(scenario)
    assert (a, b) == (1, 2)
    assert waited >= 0.02 - 1e-3  # never early (allowing the clock's rounding)


def test_equal_deadlines_run_in_scheduling_order(reactor, run):
    def scenario():
        order = []
        d = Deferred()
        calls = [reactor.callLater(0, order.append, i) for i in range(50)]
        # Give them all the same deadline so only their scheduling order decides.
        when = calls[0].getTime() + 0.01
        for call in calls:
            call.delay(when - call.getTime())
        reactor.callLater(0.05, d.callback, None)
        return d.addCallback(lambda _: order)

    assert run(scenario) == list(range(50))


def test_cancel_prevents_the_call_and_double_cancel_raises(reactor, run):
    def scenario():
        ran = []
        call = reactor.callLater(0.01, ran.append, "x")
        call.cancel()
        assert not call.active()
        with pytest.raises(AlreadyCancelled):
            call.cancel()
        with pytest.raises(AlreadyCancelled):
            call.reset(1)
        d = Deferred()
        reactor.callLater(0.05, d.callback, None)
        return d.addCallback(lambda _: ran)

    assert run(scenario) == []


def test_cancel_after_call_raises_already_called(reactor, run):
    def scenario():
        d = Deferred()
        holder = {}

        def fired():
            call = holder["call"]
            assert call.called and not call.active()
            with pytest.raises(AlreadyCalled):
                call.cancel()
            with pytest.raises(AlreadyCalled):
                call.delay(1)
            d.callback("checked")

        holder["call"] = reactor.callLater(0, fired)
        return d

    assert run(scenario) == "checked"


def test_reset_and_delay_move_calls(reactor, run):
    def scenario():
        order = []
        d = Deferred()
        a = reactor.callLater(0.01, order.append, "a")
        b = reactor.callLater(5, order.append, "b")
        b.reset(0)  # now first
        a.delay(0.02)  # later still
        c = reactor.callLater(10, order.append, "c")
        c.delay(-9.985)  # earlier than a
        reactor.callLater(0.1, d.callback, None)
        return d.addCallback(lambda _: order)

    assert run(scenario) == ["b", "c", "a"]


def test_ten_thousand_cancelled_calls_leave_the_heap_small(reactor, run):
    def scenario():
        ran = []
        calls = [reactor.callLater(1 + i * 1e-4, ran.append, i) for i in range(10_000)]
        keep = reactor.callLater(0.01, ran.append, "kept")
        for call in calls:
            call.cancel()
        pending = reactor.getDelayedCalls()
        d = Deferred()
        reactor.callLater(0.05, d.callback, None)
        return d.addCallback(lambda _: (ran, pending, keep))

    ran, pending, keep = run(scenario)
    assert ran == ["kept"]
    assert keep not in reactor.getDelayedCalls()
    # Only the call that was kept (and the test's own calls) remain pending.
    assert len(pending) <= 3
    assert len(reactor._heap) < 1000  # cancelled entries were compacted away


def test_exception_in_delayed_call_is_logged_and_loop_goes_on(reactor, run, caplog):
    def boom():
        raise RuntimeError("kaboom")

    def scenario():
        d = Deferred()
        reactor.callLater(0, boom)
        reactor.callLater(0.01, d.callback, "still running")
        return d

    with caplog.at_level(logging.ERROR, logger="inspector"):
        assert run(scenario) == "still running"
    records = [r for r in caplog.records if r.exc_info and "kaboom" in str(r.exc_info[1])]
    assert records, "the exception was not logged with its traceback"
    assert "boom" in records[0].getMessage()


def test_call_later_zero_rescheduling_itself_does_not_starve_io_or_timers(reactor, run):
    def scenario():
        d = Deferred()
        spins = []

        def spin():
            spins.append(1)
            if not d.called:
                reactor.callLater(0, spin)

        reactor.callLater(0, spin)
        reactor.callLater(0.02, d.callback, None)
        return d.addCallback(lambda _: len(spins))

    assert run(scenario) > 1


def test_slow_callback_is_reported_with_name_and_location(reactor, run, caplog):
    import time

    def hog_the_loop():
        time.sleep(0.08)

    def scenario():
        d = Deferred()
        reactor.callLater(0, hog_the_loop)
        reactor.callLater(0.01, d.callback, None)
        return d

    with caplog.at_level(logging.WARNING, logger="inspector"):
        run(scenario)
    messages = [r.getMessage() for r in caplog.records if "hog_the_loop" in r.getMessage()]
    assert messages, "the slow callback was not reported"
    assert "test_reactor_time.py" in messages[0]


def test_bad_arguments_to_call_later_are_refused(reactor):
    with pytest.raises(TypeError):
        reactor.callLater(1, "not callable")
    with pytest.raises(ValueError):
        reactor.callLater(-1, print)


def test_mass_cancel_from_inside_a_running_call_keeps_order_and_counts(reactor, run):
    """Compaction triggered while due calls are running must not lose or repeat any."""

    def scenario():
        ran = []
        d = Deferred()
        doomed = [reactor.callLater(0.5 + i * 1e-5, ran.append, ("doomed", i)) for i in range(2000)]

        def cancel_all():
            for call in doomed:
                call.cancel()

        first = reactor.callLater(0.01, cancel_all)
        survivors = [reactor.callLater(0, ran.append, ("kept", i)) for i in range(5)]
        for call in survivors:  # due together with cancel_all, right after it
            call.delay(first.getTime() - call.getTime())
        reactor.callLater(0.6, d.callback, None)
        return d.addCallback(lambda _: (ran, [c.active() for c in survivors]))

    ran, active = run(scenario)
    assert ran == [("kept", i) for i in range(5)]
    assert active == [False] * 5
    assert reactor._stale >= 0
