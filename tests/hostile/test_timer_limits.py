"""Far-off and non-finite timers (issue 13, item 2), on every reactor.

epoll's timeout (and a QTimer's interval) is a C int of milliseconds: a timer more than
~24.9 days away used to make ``epoll.poll`` raise OverflowError on every turn. The loop
now waits at most a day and aims again. NaN, inf and negative delays are refused where
they are made, with a ValueError naming the value.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import pytest

from inspector.reactors.base import MAX_WAIT

DAY = 86400.0


def _run_with_only(reactor: Any, far_delay: float, caplog: Any) -> dict[str, Any]:
    """Run ``reactor`` with one timer ``far_delay`` s away as its only timer; then, woken
    from another thread, a short timer must fire. Returns what was observed."""
    seen: dict[str, Any] = {}
    woken = threading.Event()

    def started() -> None:
        seen["far"] = reactor.callLater(far_delay, seen.setdefault, "far fired", True)
        seen["cpu0"] = time.thread_time()
        seen["t0"] = time.monotonic()
        threading.Thread(target=wake_later, daemon=True).start()

    def wake_later() -> None:
        time.sleep(0.3)  # the loop sits in its wait meanwhile: nothing else can wake it
        woken.set()
        reactor.callFromThread(from_thread)

    def from_thread() -> None:
        seen["cpu during wait"] = time.thread_time() - seen["cpu0"]
        seen["thread call"] = time.monotonic() - seen["t0"]
        reactor.callLater(0.05, short_timer)

    def short_timer() -> None:
        seen["short timer"] = True
        reactor.stop()

    def watchdog() -> None:  # a thread, not a timer: the far one must stay the earliest
        if not woken.wait(10) or not finished.wait(10):
            reactor.callFromThread(reactor.crash)

    finished = threading.Event()
    threading.Thread(target=watchdog, daemon=True).start()
    reactor.callWhenRunning(started)
    with caplog.at_level(logging.WARNING):
        reactor.run()
    finished.set()
    seen["errors"] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    return seen


@pytest.mark.parametrize("far_delay", [30 * DAY, 1e12], ids=["30-days", "1e12-s"])
def test_a_timer_weeks_away_leaves_the_loop_waiting_quietly(reactor, caplog, far_delay: float) -> None:
    seen = _run_with_only(reactor, far_delay, caplog)
    assert seen["errors"] == [], [r.getMessage() for r in seen["errors"]][:3]
    assert seen.get("short timer"), "the short timer after the far one never fired"
    assert seen["thread call"] < 5, "callFromThread did not wake the loop"
    # The loop waited, it did not spin: almost no CPU in its thread for 0.3 s.
    assert seen["cpu during wait"] < 0.1, f"{seen['cpu during wait']:.2f} s of CPU while waiting 0.3 s"
    far = seen["far"]
    assert far.active() and "far fired" not in seen
    assert far.getTime() - reactor.seconds() > far_delay - 60


def test_the_wait_is_never_longer_than_a_day(reactor) -> None:
    """What every backend is asked to wait: at most MAX_WAIT, whatever the timer."""
    call = reactor.callLater(1e15, print)
    assert reactor.timeout() == MAX_WAIT == DAY
    call.cancel()
    assert reactor.timeout() is None


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, -1, -1e-9, 10**400], ids=lambda v: repr(v)[:8])
def test_call_later_refuses_delays_it_could_never_keep(reactor, bad: Any) -> None:
    with pytest.raises(ValueError) as refused:
        reactor.callLater(bad, print)
    text = str(refused.value)
    assert text.startswith("delay must be a finite number of seconds >= 0, got "), text
    assert text.endswith(repr(bad)), text
    assert reactor.getDelayedCalls() == []


def test_call_later_refuses_a_delay_that_is_not_a_number(reactor) -> None:
    with pytest.raises(TypeError, match="delay must be a number of seconds, not str"):
        reactor.callLater("5", print)


def test_reset_and_delay_refuse_non_finite_moves(reactor, run) -> None:
    def scenario() -> None:
        call = reactor.callLater(10, print)
        for bad in (math.inf, math.nan, -1):
            with pytest.raises(ValueError, match=f"secondsFromNow must be .*got {bad!r}"):
                call.reset(bad)
        for bad in (math.inf, -math.inf, math.nan):
            with pytest.raises(ValueError, match=f"secondsLater must be a finite .*got {bad!r}"):
                call.delay(bad)
        assert call.active() and 9 < call.getTime() - reactor.seconds() <= 10
        call.delay(-5)  # earlier is still allowed, as documented
        assert 4 < call.getTime() - reactor.seconds() <= 5
        call.reset(40 * DAY)  # far off is fine: the loop just wakes once a day
        call.cancel()

    run(scenario)
