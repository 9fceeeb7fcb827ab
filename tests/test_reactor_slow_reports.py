"""Slow-callback warnings on a loaded loop: one per interval, the rest counted.

Under load (a burst of accepts held the loop 0.15 s at a time under callgrind) the
reactor wrote a warning every few turns, as many lines as the connection log it had
been made to summarise; now at most one per ``slow_report_interval``, and the next one
after it says how many were left out.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from inspector.defer import Deferred


def _slow_calls(reactor: Any, count: int) -> Deferred:
    """``count`` delayed calls in a row that each hold the loop past the threshold."""
    done: Deferred = Deferred()
    left = [count]

    def slow() -> None:
        time.sleep(0.03)
        left[0] -= 1
        if left[0]:
            reactor.callLater(0, slow)
        else:
            reactor.callLater(0, done.callback, None)

    reactor.callLater(0, slow)
    return done


def test_slow_callbacks_in_a_burst_give_one_warning_and_the_next_counts_the_rest(
    reactor: Any, run: Any, caplog: Any,
) -> None:
    reactor.slow_callback_threshold = 0.01

    async def scenario() -> None:
        await _slow_calls(reactor, 4)
        reactor.slow_report_interval = 0.0  # the interval is over: the next one is logged
        await _slow_calls(reactor, 1)

    with caplog.at_level(logging.WARNING, logger="inspector"):
        run(scenario)
    slow = [r.getMessage() for r in caplog.records if "held the loop" in r.getMessage()]
    assert len(slow) == 2, slow
    assert "more since the last such warning" not in slow[0]
    assert "and 3 more since the last such warning" in slow[1], slow
