"""Helpers for reactor tests, importable from any test module (``from reactor_support import ...``).

They live here rather than in ``conftest.py`` because several conftest modules exist
(``tests/ui`` has its own) and only one of them can be imported as ``conftest``.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Callable

from inspector import reactors


def _reactor_names() -> list[str]:
    chosen = os.environ.get("INSPECTOR_REACTOR")
    if chosen:
        return [name.strip() for name in chosen.split(",") if name.strip()]
    return reactors.available()


REACTOR_NAMES = _reactor_names()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ReactorTimeout(AssertionError):
    """The reactor ran out of time before the test's Deferred fired."""


def run_reactor_until(reactor: Any, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
    """Run ``reactor`` until ``fn(*args)`` (a value, Deferred or coroutine) has a result.

    Returns the result, or raises the exception it failed with. ``fn`` runs once the
    reactor is running, so it may listen, connect and schedule calls.
    """
    from inspector.defer import maybeDeferred
    from inspector.failure import Failure

    outcome: list[Any] = []

    def finish(result: Any) -> None:
        if not outcome:
            outcome.append(result)
        if reactor.running:
            reactor.stop()

    def start() -> None:
        maybeDeferred(fn, *args).addBoth(finish)

    def expire() -> None:
        finish(Failure(ReactorTimeout(f"no result after {timeout} s")))

    reactor.callWhenRunning(start)
    timer = reactor.callLater(timeout, expire)
    reactor.run()
    if timer.active():
        timer.cancel()
    assert outcome, "the reactor stopped before the test's Deferred fired"
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result
