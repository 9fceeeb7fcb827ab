"""What a loop turn costs while timers are pending but none is due (a server with a
linger sweep or a log summary armed: every turn of a busy one).

Counted with ``sys.setprofile`` (exact, no timing): the C functions called by
``runUntilCurrent`` itself in such a turn.
"""

from __future__ import annotations

import collections
import sys
from typing import Any


def test_a_turn_with_no_timer_due_reads_the_clock_and_nothing_else(reactor: Any) -> None:
    """runUntilCurrent also drew a sequence number (its pass runs only the calls made
    before it) and set up its pass over the heap before seeing that the earliest timer
    was not due."""
    call = reactor.callLater(3600, lambda: None)
    calls: collections.Counter = collections.Counter()
    draw = reactor._seq

    def counted_draw() -> int:
        calls["sequence number"] += 1
        return draw()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and frame.f_code.co_name == "runUntilCurrent":
            calls[getattr(arg, "__qualname__", repr(arg))] += 1

    reactor._seq = counted_draw
    sys.setprofile(profile)
    try:
        for _ in range(10):
            reactor.runUntilCurrent()
    finally:
        sys.setprofile(None)
        reactor._seq = draw
    call.cancel()
    assert dict(calls) == {"monotonic": 10}, calls


def test_a_due_timer_still_runs_in_the_turn(reactor: Any) -> None:
    ran = []
    reactor.callLater(0, ran.append, 1)
    later = reactor.callLater(3600, ran.append, 2)
    reactor.runUntilCurrent()
    later.cancel()
    assert ran == [1]
