"""Foreign-loop benchmark: our Qt and asyncio reactors next to the selectors reactor and the peers.

Run ``python benchmarks/foreign_bench.py`` (about a minute). It reuses ``net_bench.py``'s
harness (server processes pinned to CPU 0, a raw-socket epoll client pinned to CPU 1,
rounds, medians of per-round ratios) and adds the servers that matter for hosting in a
GUI loop:

* ``qt``, ``qt-notifiers``, ``asyncio-reactor``: our Qt reactor (one epoll notifier; or
  one notifier per descriptor) and our asyncio reactor, running the same Echo and QOTD
  protocols as ``selectors``;
* ``qt+5000idle``: the Qt reactor while 5,000 extra idle connections are open to it;
* ``asyncio-qasync``: plain asyncio Protocols on qasync's Qt-hosted loop;
* ``twisted-asyncio-qasync``: Twisted's asyncio reactor on qasync's loop;
* ``twisted-epoll``, ``asyncio``: the plain peers.

The table gives each median and its ratio to our selectors reactor (this / selectors,
median of per-round ratios), then the Qt reactor's ratios to selectors and to
asyncio-on-qasync side by side for every workload (echo, QOTD churn, bulk stream by
default), and the targets (issue 20): Qt >= 0.95x selectors on every workload, Qt >=
2.5x asyncio-on-qasync on echo, and Qt with 5,000 idle connections >= 0.9x Qt. Bound a
run with ``--rounds`` and ``--duration`` (``--rounds 4 --duration 0.6`` with the
default servers and workloads takes about 90 s).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import net_bench  # noqa: E402  (the shared harness, beside this file)

IDLE_CONNECTIONS = 5000


def _qt_application() -> object:
    """A QCoreApplication for the qasync peers (qasync is told to use PySide6)."""
    os.environ.setdefault("QT_API", "pyside6")
    from PySide6.QtCore import QCoreApplication

    return QCoreApplication.instance() or QCoreApplication([])


def serve_asyncio_qasync() -> None:
    """net_bench's plain-asyncio server, its loop replaced by qasync's Qt-hosted loop."""
    app = _qt_application()
    import qasync

    class QasyncPolicy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            return qasync.QEventLoop(app)

    asyncio.set_event_loop_policy(QasyncPolicy())
    net_bench.serve_asyncio()


def serve_twisted_asyncio_qasync() -> None:
    """net_bench's Twisted server on Twisted's asyncio reactor, hosted by qasync's loop."""
    app = _qt_application()
    import qasync
    from twisted.internet import asyncioreactor, epollreactor

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)
    # The shared Twisted server installs the epoll reactor first; ours is installed already.
    epollreactor.install = lambda: None
    net_bench.serve_twisted_epoll()


def serve_qt_notifiers() -> None:
    """Our Qt reactor with one QSocketNotifier per descriptor (the non-epoll path)."""
    from inspector import reactors

    reactors.REACTORS["qt-notifiers"] = "foreign_bench:QtNotifiersReactor"
    net_bench.serve_inspector("qt-notifiers")


def __getattr__(name: str) -> object:
    """``QtNotifiersReactor``, made on first use so that only Qt servers import Qt."""
    if name == "QtNotifiersReactor":
        from inspector.reactors.qt import QtReactor

        return functools.partial(QtReactor, use_epoll=False)
    raise AttributeError(name)


#: Server name -> function serving echo and QOTD forever (it prints the two ports).
SERVERS: dict[str, Callable[[], None]] = {
    "selectors": functools.partial(net_bench.serve_inspector, "selectors"),
    "qt": functools.partial(net_bench.serve_inspector, "qt"),
    "qt+5000idle": functools.partial(net_bench.serve_inspector, "qt"),
    "qt-notifiers": serve_qt_notifiers,
    "asyncio-reactor": functools.partial(net_bench.serve_inspector, "asyncio"),
    "twisted-epoll": net_bench.serve_twisted_epoll,
    "asyncio": net_bench.serve_asyncio,
    "asyncio-qasync": serve_asyncio_qasync,
    "twisted-asyncio-qasync": serve_twisted_asyncio_qasync,
    "selectors+5000idle": functools.partial(net_bench.serve_inspector, "selectors"),
}
DEFAULT_SERVERS = [
    "selectors", "qt", "qt+5000idle", "asyncio-reactor",
    "twisted-epoll", "asyncio", "asyncio-qasync", "twisted-asyncio-qasync",
]
BASELINE = "selectors"


class Server(net_bench.Server):
    """A server process started from this file; ``+Nidle`` names get N idle connections."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.idle: list[socket.socket] = []
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "_serve", name],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"server {name!r} did not start")
        echo, qotd = (int(x) for x in line.split())
        self.ports = {"echo": echo, "qotd": qotd, "bulk": echo, "bulk1m": echo}
        if name.endswith("idle"):
            self._open_idle(echo, IDLE_CONNECTIONS)

    def _open_idle(self, port: int, count: int) -> None:
        """Open ``count`` connections that never send; wait until the server holds them all."""
        for _ in range(count):
            self.idle.append(socket.create_connection(("127.0.0.1", port)))
        end = time.monotonic() + 30
        while _open_sockets(self.proc.pid) < count + 2 and time.monotonic() < end:
            time.sleep(0.05)

    def close(self) -> None:
        for s in self.idle:
            s.close()
        super().close()


def _open_sockets(pid: int) -> int:
    """How many sockets process ``pid`` has open."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", action="append", choices=sorted(SERVERS), help="servers (repeatable)")
    parser.add_argument(
        "--workload",
        action="append",
        choices=sorted(net_bench.LOADS),
        help="workloads (repeatable; default echo, qotd, bulk)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=0.7, help="seconds measured per case")
    parser.add_argument("--client", choices=["c", "python"], default="c",
                        help="load generator: C (net_bench's net_load.c) or Python")
    args = parser.parse_args(argv)
    names = args.server or list(DEFAULT_SERVERS)
    if BASELINE not in names:
        names.insert(0, BASELINE)
    workloads = args.workload or ["echo", "qotd", "bulk"]
    net_bench._pin(net_bench.CLIENT_CPU)
    c_client = net_bench.build_c_client() if args.client == "c" else None
    load_before = os.getloadavg()[0]
    loads: list[float] = []  # the 1-minute load average after each round
    servers: dict[str, Server] = {}
    results: dict[tuple[str, str], list[dict]] = {}
    try:
        for name in names:
            servers[name] = Server(name)
        for rnd in range(args.rounds):
            order = names[rnd % len(names):] + names[: rnd % len(names)]
            for workload in workloads:
                for name in order:
                    results.setdefault((workload, name), []).append(
                        net_bench.measure(servers[name], workload, args.duration, c_client)
                    )
            loads.append(os.getloadavg()[0])
    finally:
        for server in servers.values():
            server.close()
    print_table(names, workloads, results, args.rounds)
    print(f"\nload generator: {'C (net_load.c)' if c_client else 'Python (raw sockets, epoll)'}; "
          f"load average (1 min) before: {load_before:.2f}, after each round: "
          f"{' '.join(f'{x:.2f}' for x in loads)} on {os.cpu_count()} CPUs")
    return 0


def _ratio(results: dict, workload: str, top: str, bottom: str, rounds: int) -> float:
    """Median over rounds of top's rate / bottom's rate, measured in the same round."""
    return statistics.median(
        results[(workload, top)][i]["rate"] / results[(workload, bottom)][i]["rate"] for i in range(rounds)
    )


def _cost_ratio(results: dict, workload: str, top: str, bottom: str, rounds: int) -> float:
    """Like ``_ratio`` but from server CPU per operation (bottom's cost / top's cost).

    On a machine shared with other work a server may not get its core to itself, and
    its rate then says more about the scheduler than about the server; CPU time per
    operation is much less sensitive to that.
    """

    def cost(run: dict) -> float:
        return run["server_cpu"] / run["rate"]

    return statistics.median(
        cost(results[(workload, bottom)][i]) / cost(results[(workload, top)][i]) for i in range(rounds)
    )


def print_table(names: list[str], workloads: list[str], results: dict, rounds: int) -> None:
    header = (f"{'workload':<8} {'server':<23} {'median':>11} {'unit':<14} {'/selectors':>10}"
              f" {'server CPU':>10} {'CPU us/op':>9} {'client CPU':>10}")
    print(header)
    print("-" * len(header))
    for workload in workloads:
        unit = net_bench.LOADS[workload][1]
        for name in names:
            runs = results[(workload, name)]
            median = statistics.median(r["rate"] for r in runs)
            shown = f"{median:,.1f}" if workload == "bulk" else f"{median:,.0f}"
            cost = statistics.median(r["server_cpu"] / r["rate"] * 1e6 for r in runs)
            print(
                f"{workload:<8} {name:<23} {shown:>11} {unit:<14}"
                f" {_ratio(results, workload, name, BASELINE, rounds):>9.2f}x"
                f" {statistics.median(r['server_cpu'] for r in runs):>9.0%} {cost:>9.1f}"
                f" {statistics.median(r['client_cpu'] for r in runs):>9.0%}"
            )
    print(f"\n{rounds} rounds; server pinned to CPU {net_bench.SERVER_CPU}, client to CPU "
          f"{net_bench.CLIENT_CPU}; '/selectors' = that server divided by our selectors reactor,\n"
          f"within each round, median; 'CPU us/op' = server CPU microseconds per round trip / connection / MB.")
    if "qt" in names:
        print_qt_ratios(names, workloads, results, rounds)


#: (top, bottom, target) ratios the Qt reactor is held to, and on which workloads.
QT_TARGETS = [
    ("qt", BASELINE, 0.95, None),
    ("qt", "asyncio-qasync", 2.5, {"echo"}),
    ("qt+5000idle", "qt", 0.9, {"echo"}),
]


def print_qt_ratios(names: list[str], workloads: list[str], results: dict, rounds: int) -> None:
    """The Qt reactor against selectors and asyncio-on-qasync, per workload side by side, then the targets."""
    peers = [p for p in (BASELINE, "asyncio-qasync") if p in names]
    print("\nqt's ratios, median of per-round ratios: by rate / by server CPU per operation")
    print(f"{'workload':<8} " + " ".join(f"{'qt / ' + p:>24}" for p in peers))
    for workload in workloads:
        cells = [f"{_ratio(results, workload, 'qt', p, rounds):.2f}x / "
                 f"{_cost_ratio(results, workload, 'qt', p, rounds):.2f}x" for p in peers]
        print(f"{workload:<8} " + " ".join(f"{c:>24}" for c in cells))
    print(f"\n{'target':<30} {'by rate':>8} {'by CPU/op':>10}")
    for top, bottom, target, only in QT_TARGETS:
        if top not in names or bottom not in names:
            continue
        for workload in workloads:
            if only is not None and workload not in only:
                continue
            by_rate = _ratio(results, workload, top, bottom, rounds)
            by_cost = _cost_ratio(results, workload, top, bottom, rounds)
            if min(by_rate, by_cost) >= target:
                verdict = "ok"
            elif by_cost >= target:
                verdict = "ok by CPU/op only"
            elif by_rate >= target:
                verdict = "ok by rate only"
            else:
                verdict = "MISSED"
            label = f"{top} / {bottom}, {workload}"
            print(f"{label:<30} {by_rate:>7.2f}x {by_cost:>9.2f}x  (target >= {target}x)  {verdict}")


def _entry() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "_serve":
        net_bench._pin(net_bench.SERVER_CPU)
        SERVERS[sys.argv[2]]()
        return 0
    return main()


if __name__ == "__main__":
    sys.exit(_entry())
