"""What the trace hooks cost: echo round trips/s without hooks, with tracing off, and on.

Run: ``python benchmarks/trace_bench.py [--seconds 1.5] [--rounds 5]`` (about a minute).

The workload is the echo benchmark's (``net_bench.py``): 64-byte ping-pong over 32
connections. The server under test runs in its own process on the selectors reactor;
the load comes from a raw-socket epoll client in another process (pinned to another
CPU where possible). The figure is round trips per second of the *server's CPU time*,
so other work on a shared machine disturbs it less than wall-clock time would.

Variants, interleaved round by round (the table shows the best round of each, since
noise only ever slows a run down, and the median):

* "no hooks": a copy of the current ``inspector`` package with every trace hook line
  (``if _tracer is not None: _tracer...``) replaced by ``pass`` -- the same code minus
  the hooks. ``--baseline-commit REV`` uses a ``git worktree`` of REV instead.
* "tracing off": the tree as it is.
* "tracing on": ``inspector.trace.enable()``; the hooks capture compactly and, as
  nobody reads, the oldest records are reduced to exact counts.
* "on + reader": tracing on and the trace drained 30 times a second, as the window
  does, so every event is decoded into the model.

Targets (issue 6): tracing off within 2% of no hooks; tracing on within 15%.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOOK_LINE = re.compile(r"^(\s*)if _tracer is not None: _tracer\..*$", re.MULTILINE)
MESSAGE = b"x" * 64
WARM_UP = 0.3


def _pin(cpu: int) -> None:
    try:
        if cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        pass


def server(seconds: float, trace_on: bool, reader: bool) -> None:
    """Serve echo; after the warm-up, count round trips for ``seconds``; print the rate."""
    _pin(0)
    from inspector import reactors
    from inspector.protocol import Factory, Protocol

    reactor = reactors.create("selectors")
    if trace_on:
        import inspector.trace

        tracer = inspector.trace.enable()
        if reader:
            cursor = tracer.trace.subscribe()

            def poll() -> None:
                cursor.drain()
                reactor.callLater(1 / 30, poll)

            reactor.callWhenRunning(poll)
    state = {"bytes": 0}

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)
            state["bytes"] += len(data)

    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    marks: dict[str, float] = {}

    def start() -> None:
        marks.update(cpu=time.process_time(), wall=time.perf_counter(), bytes=state["bytes"])
        reactor.callLater(seconds, finish)

    def finish() -> None:
        cpu = time.process_time() - marks["cpu"]
        wall = time.perf_counter() - marks["wall"]
        trips = (state["bytes"] - marks["bytes"]) / len(MESSAGE)
        print(f"{trips / cpu:.1f} {trips / wall:.1f}", flush=True)
        reactor.stop()

    reactor.callLater(WARM_UP, start)
    reactor.run()
    reactor.close()


def client(port: int, connections: int) -> None:
    """Ping-pong 64-byte messages on ``connections`` sockets until the server goes away."""
    _pin(1)
    poller = select.epoll()
    socks = {}
    pending = {}
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        socks[sock.fileno()] = sock
        pending[sock.fileno()] = len(MESSAGE)
        poller.register(sock.fileno(), select.EPOLLIN)
        sock.send(MESSAGE)
    while socks:
        for fd, _ in poller.poll(1.0):
            sock = socks[fd]
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                poller.unregister(fd)
                del socks[fd]
                sock.close()
                continue
            pending[fd] -= len(data)
            if pending[fd] <= 0:
                pending[fd] = len(MESSAGE)
                try:
                    sock.send(MESSAGE)
                except OSError:
                    pass


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


def measure(tree: Path, seconds: float, connections: int, trace_on: bool, reader: bool) -> float:
    """One server process importing ``inspector`` from ``tree`` under load; its rate."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    me = str(Path(__file__).resolve())
    args = [sys.executable, me, "--serve", "--seconds", str(seconds)]
    if trace_on:
        args.append("--trace-on")
    if reader:
        args.append("--reader")
    srv = subprocess.Popen(args, env=env, cwd=str(tree), stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())  # type: ignore[union-attr]
        load = subprocess.Popen([sys.executable, me, "--load", str(port), "--connections",
                                 str(connections)], env=env)
        line = srv.stdout.readline()  # type: ignore[union-attr]
        srv.wait(timeout=30)
        load.wait(timeout=30)
    finally:
        if srv.poll() is None:
            srv.kill()
    if not line:
        raise SystemExit("the server under test failed")
    return float(line.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="measuring time per run")
    parser.add_argument("--rounds", type=int, default=5, help="runs per variant")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--baseline-commit", help="compare against a git worktree of this commit")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace-on", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reader", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        server(args.seconds, args.trace_on, args.reader)
        return
    if args.load:
        client(args.load, args.connections)
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
        variants = [("no hooks", baseline, False, False), ("tracing off", ROOT, False, False),
                    ("tracing on", ROOT, True, False), ("on + reader", ROOT, True, True)]
        samples: dict[str, list[float]] = {v[0]: [] for v in variants}
        for _ in range(args.rounds):
            for name, tree, trace_on, reader in variants:
                samples[name].append(measure(tree, args.seconds, args.connections, trace_on, reader))
        print(f"echo, 64-byte ping-pong over {args.connections} connections, selectors reactor, "
              f"Python {sys.version.split()[0]}; {args.rounds} rounds x {args.seconds} s")
        print(f"round trips per second of server CPU time; baseline: {label}")
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
