"""What the trace hooks cost: echo round trips/s without hooks, with tracing off, and on.

Run: ``python benchmarks/trace_bench.py [--seconds 1.5] [--rounds 5]`` (about a minute).

The workload is the echo benchmark's (``net_bench.py``): 64-byte ping-pong over 32
connections on the selectors reactor, here with the echo server and the clients in one
process, so the hooks run on both ends of every round trip and the measurement needs
no outside load generator. The figure is round trips per second of the process's CPU
time: the loop is single-threaded, and on a shared machine CPU time is disturbed far
less than wall-clock time.

Variants, interleaved round by round (the table shows the best round of each, since
noise only ever slows a run down, and the median):

* "no hooks": a copy of the current ``inspector`` package with every trace hook line
  (``if _tracer is not None: ...``, a hook call or a call-site capture) replaced by
  ``pass`` -- the same code minus the hooks. ``--baseline-commit REV`` uses a ``git worktree`` of REV instead.
* "tracing off": the tree as it is.
* "tracing on": ``inspector.trace.enable()``; the hooks capture compactly and, as
  nobody reads, all but the newest records are dropped, counted exactly.
* "on + reader": tracing on and the trace drained 30 times a second, as the window
  does, so every record is decoded into the model (summaries, rings, the feed). TCP
  bytes events are built when a reader reads them, and this reader reads none.
* "on + reading": the same, and the reader also looks at every event drained (its
  kind, connection and size), as a recording and the trace server do, so every event
  is built; the cost of a real reader's own work comes on top.
* "on + window": the window's own reader (``inspector.ui.viewmodel.feed.LiveFeed``
  into a ``Store``, no Qt) polled 30 times a second: what the window costs the traced
  process besides painting.

Targets (issue 6): tracing off within 2% of no hooks; tracing on within 15%. Issue 20
(target 4): on + reader at most 15% below no hooks.

Instructions a round trip, exact where rates are not (``--trips N`` stops the worker after
N round trips, and its reader drains every 1,500 round trips instead of 30 times a second;
``--strip-hooks DIR`` writes the "no hooks" copy of the package to ``DIR/inspector``)::

    valgrind --tool=callgrind python benchmarks/trace_bench.py --worker --trace-on --reader --trips 60000
    # the same with --trips 20000; (instructions of the first - the second) / 40,000
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
#: A hook line, or a call-site capture (inspector/hooks.py), on one line or in parentheses on two.
HOOK_LINE = re.compile(r"^(\s*)if _tracer is not None: (?:\([^\n]*\n[^\n]*\)|[^(\n][^\n]*)$", re.MULTILINE)
MESSAGE = b"x" * 64
WARM_UP = 0.3


def worker(seconds: float, connections: int, trace_on: bool, reader: bool,
           reading: bool = False, window: bool = False, trips: int = 0) -> None:
    """Echo server and ping-pong clients in this process; print round trips per CPU second
    (with ``trips``, run that many round trips and print how many ran: for callgrind)."""
    from inspector import reactors
    from inspector.protocol import ClientFactory, Factory, Protocol

    reactor = reactors.create("selectors")
    polls: list[Callable[[], None]] = []  # the reader, when it drains by round trips
    if trace_on:
        import inspector.trace

        tracer = inspector.trace.enable()
        if window:
            from inspector.ui.viewmodel.feed import LiveFeed
            from inspector.ui.viewmodel.store import Store

            feed = LiveFeed(tracer.trace, Store())

            def refresh() -> None:
                feed.poll(time.monotonic())
                reactor.callLater(1 / 30, refresh)

            reactor.callWhenRunning(refresh)
        elif reader:
            # What the window does: drain everything new about 30 times a second.
            cursor = tracer.trace.subscribe()

            def poll() -> None:
                events = cursor.drain()
                if reading:
                    seen = 0
                    for event in events:
                        if event.kind == "conn.in" and event.conn:
                            seen += event.size
                if not trips:
                    reactor.callLater(1 / 30, poll)

            if trips:
                polls.append(poll)
            else:
                reactor.callWhenRunning(poll)
    state = {"trips": 0}

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    class Pinger(Protocol):
        def connectionMade(self) -> None:
            self.pending = len(MESSAGE)
            self.transport.write(MESSAGE)

        def dataReceived(self, data: bytes) -> None:
            self.pending -= len(data)
            if self.pending <= 0:
                state["trips"] += 1
                if trips:
                    if state["trips"] >= trips:
                        if state["trips"] == trips:
                            reactor.stop()
                        return
                    if polls and state["trips"] % 1500 == 0:
                        reactor.callLater(0, polls[0])
                self.pending = len(MESSAGE)
                self.transport.write(MESSAGE)

    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    client = ClientFactory.forProtocol(Pinger)
    marks: dict[str, float] = {}

    def start() -> None:
        marks.update(cpu=time.process_time(), trips=state["trips"])
        reactor.callLater(seconds, finish)

    def finish() -> None:
        cpu = time.process_time() - marks["cpu"]
        print(f"{(state['trips'] - marks['trips']) / cpu:.1f}", flush=True)
        reactor.stop()

    def begin() -> None:
        for _ in range(connections):
            reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        if not trips:
            reactor.callLater(WARM_UP, start)

    reactor.callWhenRunning(begin)
    reactor.run()
    reactor.close()
    if trips:
        print(state["trips"], flush=True)


def strip_hooks(src: Path, dest: Path) -> int:
    """Copy the package ``src`` to ``dest`` with every hook line replaced by ``pass``."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    removed = 0
    for path in dest.rglob("*.py"):
        text = path.read_text()
        new, count = HOOK_LINE.subn(r"\1pass", text)
        if count:
            path.write_text(new)
            removed += count
    return removed


def measure(tree: Path, seconds: float, connections: int, trace_on: bool, reader: bool,
            reading: bool = False, window: bool = False) -> float:
    """Run one worker process importing ``inspector`` from ``tree``; its round trips/s."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    args = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seconds", str(seconds),
            "--connections", str(connections)]
    if trace_on:
        args.append("--trace-on")
    if reader:
        args.append("--reader")
    if reading:
        args.append("--reading")
    if window:
        args.append("--window")
    out = subprocess.run(args, env=env, cwd=str(tree), capture_output=True, text=True,
                         timeout=seconds + 60)
    if out.returncode != 0:
        raise SystemExit(f"worker failed:\n{out.stderr}")
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="measuring time per run")
    parser.add_argument("--rounds", type=int, default=5, help="runs per variant")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--baseline-commit", help="compare against a git worktree of this commit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace-on", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reader", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reading", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--window", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trips", type=int, default=0,
                        help="with --worker: stop after this many round trips (for callgrind)")
    parser.add_argument("--strip-hooks", metavar="DIR",
                        help="write the package with its hook lines replaced by pass to DIR")
    args = parser.parse_args()
    if args.worker:
        worker(args.seconds, args.connections, args.trace_on, args.reader, args.reading,
               args.window, args.trips)
        return
    if args.strip_hooks:
        removed = strip_hooks(ROOT / "inspector", Path(args.strip_hooks) / "inspector")
        print(f"{removed} hook lines replaced by pass in {args.strip_hooks}/inspector")
        return

    tmp = Path(tempfile.mkdtemp(prefix="inspector-nohooks-"))
    worktree = None
    try:
        if args.baseline_commit:
            worktree = tmp / "tree"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree),
                            args.baseline_commit], check=True, capture_output=True)
            baseline, label = worktree, f"commit {args.baseline_commit[:10]}"
        else:
            baseline = tmp
            removed = strip_hooks(ROOT / "inspector", tmp / "inspector")
            label = f"this tree with its {removed} hook lines replaced by pass"
        variants = [("no hooks", baseline, False, False, False, False),
                    ("tracing off", ROOT, False, False, False, False),
                    ("tracing on", ROOT, True, False, False, False),
                    ("on + reader", ROOT, True, True, False, False),
                    ("on + reading", ROOT, True, True, True, False),
                    ("on + window", ROOT, True, True, False, True)]
        samples: dict[str, list[float]] = {v[0]: [] for v in variants}
        for _ in range(args.rounds):
            for name, tree, trace_on, reader, reading, window in variants:
                samples[name].append(measure(tree, args.seconds, args.connections, trace_on, reader,
                                             reading, window))
        print(f"echo, 64-byte ping-pong over {args.connections} connections (both ends in one "
              f"process), selectors reactor, Python {sys.version.split()[0]}; "
              f"{args.rounds} rounds x {args.seconds} s")
        print(f"round trips per second of CPU time; baseline: {label}")
        print(f"{'variant':>12} | {'best':>8} | {'median':>8} | {'best vs no hooks':>16} | "
              f"{'median vs no hooks':>18}")
        print("-" * 75)
        best0 = max(samples["no hooks"])
        med0 = statistics.median(samples["no hooks"])
        for name, *_ in variants:
            best, med = max(samples[name]), statistics.median(samples[name])
            print(f"{name:>12} | {best:>8.0f} | {med:>8.0f} | {(best / best0 - 1) * 100:>+15.1f}% | "
                  f"{(med / med0 - 1) * 100:>+17.1f}%")
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                           capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
