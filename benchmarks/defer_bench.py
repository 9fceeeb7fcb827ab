"""Time inspector's Deferred against Twisted's, side by side, on the same workloads.

Run: ``python benchmarks/defer_bench.py``. Prints µs per operation for each case and
the ratio ours/Twisted (below 1.0 means we are faster). Needs the ``bench`` extra.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any, Callable

sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))


def _inc(x: int) -> int:
    return x + 1


def _handled(f: Any) -> int:
    return 0


def make_cases(defer: Any, failure_cls: Any) -> dict[str, Callable[[], Any]]:
    """The four workloads, written once against a module with Twisted's API."""
    Deferred = defer.Deferred
    succeed = defer.succeed

    def ten_callbacks() -> None:
        d = Deferred()
        for _ in range(10):
            d.addCallback(_inc)
        d.callback(0)

    def fired_inner(r: Any) -> Any:
        return succeed(r)

    def returns_fired() -> None:
        d = Deferred()
        d.addCallback(fired_inner)
        d.callback(1)

    def chain_10k() -> None:
        links = [Deferred() for _ in range(10_000)]
        for outer, inner in zip(links, links[1:]):
            outer.addCallback(lambda _r, inner=inner: inner)
        for outer in links[:-1]:
            outer.callback(None)  # each now waits on the next link
        links[-1].callback(1)
        assert links[0].result == 1

    def failure_10() -> None:
        d = Deferred()
        for _ in range(10):
            d.addCallback(_inc)
        d.addErrback(_handled)
        d.errback(failure_cls(ValueError("boom")))

    return {
        "(a) create + 10 callbacks + fire": ten_callbacks,
        "(b) callback returns a fired Deferred": returns_fired,
        "(c) 10,000-link chain": chain_10k,
        "(d) failure past 10 callbacks to 1 errback": failure_10,
    }


def time_per_op(fn: Callable[[], Any], budget: float = 0.6) -> float:
    """Best-of-several µs per call of ``fn``, spending about ``budget`` seconds."""
    n = 1
    while True:  # calibrate: a batch of about 50 ms
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed > 0.05:
            break
        n *= 2
    best = elapsed / n
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def main() -> None:
    from inspector import defer as ours_defer
    from inspector.failure import Failure as OurFailure

    try:
        from twisted.internet import defer as tw_defer
        from twisted.python.failure import Failure as TwFailure
    except ImportError:
        sys.exit("Twisted is not installed: pip install -e '.[bench]'")

    ours = make_cases(ours_defer, OurFailure)
    theirs = make_cases(tw_defer, TwFailure)
    import twisted

    print(
        f"Deferred benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"Python {platform.python_version()}, Twisted {twisted.__version__}, "
        f"{platform.machine()} {os.cpu_count()} CPUs"
    )
    print(f"{'case':44} {'inspector µs':>13} {'Twisted µs':>11} {'ratio':>6}")
    for name in ours:
        mine = time_per_op(ours[name])
        peer = time_per_op(theirs[name])
        print(f"{name:44} {mine:13.2f} {peer:11.2f} {mine / peer:6.2f}")


if __name__ == "__main__":
    main()
