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

from reactor_support import REACTOR_NAMES, run_reactor_until


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


@pytest.fixture
def run(reactor: Any) -> Callable[..., Any]:
    """``run(fn, *args, timeout=10)``: run the test's reactor until ``fn``'s result is in."""

    def runner(fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        return run_reactor_until(reactor, fn, *args, timeout=timeout)

    return runner


@pytest.fixture
def tracing(request: pytest.FixtureRequest) -> Any:
    """Tracing switched on for one test (with the config ``trace_config`` in
    tests/test_trace_live.py gives, through indirect parametrisation), and off again
    afterwards. A test file may define a ``tracing`` of its own, which takes precedence."""
    import gc

    import inspector.trace as trace_module
    from inspector.trace.model import TraceConfig

    config = getattr(request, "param", None) or TraceConfig()
    gc.collect()  # garbage from earlier tests (a failed Deferred nobody kept) is not this test's
    tracer = trace_module.enable(config)
    yield tracer
    trace_module.disable()
