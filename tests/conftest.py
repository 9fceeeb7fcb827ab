"""Shared fixtures: every test that needs a reactor gets a fresh one of each kind.

``INSPECTOR_REACTOR=selectors,qt`` limits the reactors the suite runs on; by default
it runs on every reactor that can be made here. Qt runs offscreen.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from typing import Any, Callable

import pytest

from inspector import reactors


def _reactor_names() -> list[str]:
    chosen = os.environ.get("INSPECTOR_REACTOR")
    if chosen:
        return [name.strip() for name in chosen.split(",") if name.strip()]
    return reactors.available()


REACTOR_NAMES = _reactor_names()


@pytest.fixture(params=REACTOR_NAMES)
def reactor(request: pytest.FixtureRequest) -> Any:
    """A new reactor object of each kind; closed (descriptors, threads) after the test."""
    if request.param == "qt":
        request.getfixturevalue("qapp")  # the Qt reactor lives inside pytest-qt's app
    made = reactors.create(request.param)
    yield made
    if made.running:
        made.crash()
    made.close()


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


@pytest.fixture
def run(reactor: Any) -> Callable[..., Any]:
    """``run(fn, *args, timeout=10)``: run the test's reactor until ``fn``'s result is in."""

    def runner(fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        return run_reactor_until(reactor, fn, *args, timeout=timeout)

    return runner
