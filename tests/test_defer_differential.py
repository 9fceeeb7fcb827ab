"""Differential test: random programs over a few Deferreds run on inspector's Deferred
and on Twisted's, and what a user could observe must be the same.

Each program adds callbacks, errbacks and both (returning values, raising, returning
Failures, returning fired or unfired Deferreds of the program, firing or cancelling other
Deferreds), and pauses, unpauses, fires and cancels Deferreds with and without
cancellers. Compared: which callback ran, in what order and with what input; what each
call raised; each Deferred's final state (called, paused, result, callbacks left, whether
a Failure would be reported as unhandled); and then what runs when every Deferred is
unpaused and given one more callback.

CI runs a modest number of examples; ``INSPECTOR_DIFF_EXAMPLES=10000`` runs a full one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

tw_defer = pytest.importorskip(
    "twisted.internet.defer",
    reason="Twisted is not installed; the differential test compares with it "
    "(pip install -e '.[bench]')",
)
from twisted.python import failure as tw_failure  # noqa: E402

from inspector import defer as our_defer  # noqa: E402
from inspector import failure as our_failure  # noqa: E402

EXAMPLES = int(os.environ.get("INSPECTOR_DIFF_EXAMPLES", "500"))


@dataclass(frozen=True)
class Impl:
    """One Deferred implementation, reached through Twisted's names."""

    name: str
    Deferred: Any
    Failure: Any
    succeed: Callable[[Any], Any]
    fail: Callable[[Any], Any]

    def callbacks_left(self, d: Any) -> int:
        # Twisted deprecated the public ``callbacks`` attribute; its list is ``_callbacks``.
        return len(d._callbacks if self.name == "twisted" else d.callbacks)


OURS = Impl("inspector", our_defer.Deferred, our_failure.Failure, our_defer.succeed, our_defer.fail)
TWISTED = Impl("twisted", tw_defer.Deferred, tw_failure.Failure, tw_defer.succeed, tw_defer.fail)

N = 4  # Deferreds per program

OP_KINDS = ["add"] * 5 + ["callback", "errback", "pause", "unpause", "cancel", "chain"]
WHERE = ["callback", "errback", "both"]
ACTIONS = [
    "value", "pass", "raise", "failure", "succeed", "fail",
    "deferred", "deferred", "fire", "cancel", "pause", "unpause",
]


def _operation(kind: str, i: int, where: str, act: str, j: int) -> tuple:
    """One step of a program, spelled for a reader of Hypothesis's falsifying example."""
    if kind == "add":
        return ("add", i, where, (act, j) if act in ACTIONS[6:] else (act,))
    if kind == "chain":
        return ("chain", i, j)
    return (kind, i)


# Flat tuples mapped to steps: several times faster to generate than nested one_of.
index = st.integers(0, N - 1)
operation = st.builds(
    _operation, st.sampled_from(OP_KINDS), index, st.sampled_from(WHERE), st.sampled_from(ACTIONS), index
)
canceller_kind = st.sampled_from([None, "noop", "callback", "errback"])
program = st.tuples(st.lists(canceller_kind, min_size=N, max_size=N), st.lists(operation, max_size=30))


def run_program(impl: Impl, cancellers: list[Optional[str]], ops: list[tuple]) -> list[Any]:
    """Run one program on ``impl``; the list of everything a user could observe."""
    trace: list[Any] = []
    ds: list[Any] = []
    user_pauses = [0] * len(cancellers)  # pause() calls not yet undone by unpause()
    running: list[int] = []  # the Deferreds whose callbacks are running, innermost last

    def describe(value: Any) -> Any:
        if isinstance(value, impl.Failure):
            name = value.type.__name__
            # Messages of our own ValueErrors identify where they came from; other
            # messages (AlreadyCalledError's, for one) are each project's own prose.
            return ("F", name, str(value.value) if name == "ValueError" else "")
        if isinstance(value, impl.Deferred):
            return ("D", next((i for i, d in enumerate(ds) if d is value), "?"))
        return value

    def make_canceller(i: int, kind: Optional[str]) -> Any:
        if kind is None:
            return None

        def canceller(d: Any) -> None:
            trace.append(("canceller", i))
            if kind == "callback":
                d.callback(f"cancel-value{i}")
            elif kind == "errback":
                d.errback(ValueError(f"cancel-error{i}"))

        return canceller

    def make_callback(i: int, cbid: int, act: tuple) -> Callable[[Any], Any]:
        def cb(result: Any) -> Any:
            trace.append(("ran", cbid, describe(result)))
            running.append(i)
            try:
                return act_on(result)
            finally:
                running.pop()

        def act_on(result: Any) -> Any:
            kind = act[0]
            if kind == "value":
                return f"v{cbid}"
            if kind == "pass":
                return result
            if kind == "raise":
                raise ValueError(f"raised{cbid}")
            if kind == "failure":
                return impl.Failure(ValueError(f"returned{cbid}"))
            if kind == "succeed":
                return impl.succeed(f"s{cbid}")
            if kind == "fail":
                return impl.fail(ValueError(f"fail{cbid}"))
            if kind == "deferred":
                return ds[act[1]]
            if kind == "fire":
                ds[act[1]].callback(f"fired-by{cbid}")
            elif kind == "cancel":
                ds[act[1]].cancel()
            elif kind == "pause":
                if act[1] in running:
                    # Deliberate departure (tested in test_defer.py): pausing a Deferred
                    # while its callbacks run holds the rest of them at once, as
                    # Twisted documents; Twisted's loop runs them anyway.
                    return result
                user_pauses[act[1]] += 1
                ds[act[1]].pause()
            elif user_pauses[act[1]]:  # "unpause", of the program's own pauses only
                user_pauses[act[1]] -= 1
                ds[act[1]].unpause()
            return result

        return cb

    for i, kind in enumerate(cancellers):
        ds.append(impl.Deferred(make_canceller(i, kind)))

    for step, op in enumerate(ops):
        name = op[0]
        try:
            if name == "add":
                _, i, where, act = op
                if act[0] == "deferred" and act[1] == i:
                    # Deliberate departure, tested in test_defer.py: returning the
                    # Deferred a callback was added to (Twisted warns and hangs, inspector
                    # fails the chain with a TypeError).
                    continue
                cb = make_callback(i, step, act)
                if where == "callback":
                    ds[i].addCallback(cb)
                elif where == "errback":
                    ds[i].addErrback(cb)
                else:
                    ds[i].addBoth(cb)
            elif name == "callback":
                ds[op[1]].callback(f"c{step}")
            elif name == "errback":
                ds[op[1]].errback(ValueError(f"x{step}"))
            elif name == "pause":
                user_pauses[op[1]] += 1
                ds[op[1]].pause()
            elif name == "unpause":
                # Only undo the program's own pauses: Twisted lets the count go
                # negative (inspector raises, deliberately), and undoing the pause of a
                # Deferred waiting on another one breaks both.
                if not user_pauses[op[1]]:
                    continue
                user_pauses[op[1]] -= 1
                ds[op[1]].unpause()
            elif name == "cancel":
                ds[op[1]].cancel()
            elif name == "chain":
                if op[1] == op[2]:
                    continue
                ds[op[1]].chainDeferred(ds[op[2]])
        except RecursionError:
            trace.append(("op", step, "RecursionError"))
        except Exception as e:  # noqa: BLE001 - what the call raised is the observation
            trace.append(("op", step, type(e).__name__))
        else:
            trace.append(("op", step, "ok"))

    for i, d in enumerate(ds):
        info = getattr(d, "_debugInfo", None)
        trace.append(
            (
                "final",
                i,
                bool(d.called),
                d.paused,
                describe(d.result) if d.called else None,
                impl.callbacks_left(d),
                info is not None and info.failResult is not None,
            )
        )

    # Unstick everything: what was held back runs now, in an order both must agree on.
    for i, d in enumerate(ds):
        while user_pauses[i]:
            user_pauses[i] -= 1
            d.unpause()
        d.addBoth(lambda r, i=i: trace.append(("drained", i, describe(r))))
        trace.append(("after drain", i, bool(d.called), d.paused))
    return trace


def compare(cancellers: list[Optional[str]], ops: list[tuple]) -> None:
    ours = run_program(OURS, cancellers, ops)
    theirs = run_program(TWISTED, cancellers, ops)
    assert ours == theirs


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(program)
def test_random_programs_behave_as_twisted(prog: tuple[list[Optional[str]], list[tuple]]) -> None:
    cancellers, ops = prog
    compare(cancellers, ops)


def test_paused_outer_holds_the_callbacks_added_to_its_inner() -> None:
    """The case found from outside: a callback added to the inner Deferred after the
    outer chained onto it waits while the paused outer holds the result."""
    ops = [
        ("callback", 0),
        ("add", 0, "callback", ("deferred", 3)),
        ("add", 3, "callback", ("value",)),
        ("pause", 0),
        ("cancel", 0),
        ("add", 3, "callback", ("pass",)),
    ]
    compare([None] * N, ops)
