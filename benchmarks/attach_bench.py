"""What an attached viewer costs the traced process: the echo benchmark against
``inspector serve echo`` with no tracing, with tracing on, and serving its trace to an
``inspector attach`` that drains it, side by side in one run.

Run: ``python benchmarks/attach_bench.py [--seconds 40]`` (bounded by ``--seconds``).

Each variant is the server a user runs (``python -m inspector serve echo``, plus
``--trace`` or ``--trace-listen``), pinned to CPU 0; the viewer is a real
``inspector attach 127.0.0.1:PORT --headless --record /dev/null``. The load is
``net_bench.py``'s echo workload (64-byte ping-pong over 32 connections, from its C
client when a compiler exists), pinned to CPU 1 with the viewer. Rounds interleave the
variants until the time is spent; the table shows medians. "CPU us/op" is the server's
CPU time per round trip, which a busy machine disturbs far less than the rate.

Target (issue 19): an attached viewer costs at most 15% of the echo rate.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import net_bench  # noqa: E402  (the echo workload and its load generator)

VARIANTS = {
    "no tracing": [],
    "tracing on": ["--trace"],
    "viewer attached": ["--trace-listen", "tcp:0"],
}


def _viewer_cpu() -> None:
    """The viewer shares the load generator's CPU at the lowest priority, so it does not
    starve the load (on a two-CPU machine): what it cannot read, the server drops."""
    if hasattr(os, "sched_setaffinity") and net_bench.CLIENT_CPU < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {net_bench.CLIENT_CPU})
    os.nice(19)


class EchoServer:
    """``inspector serve echo`` with ``extra`` options, and its viewer if it serves its trace."""

    def __init__(self, name: str, extra: list[str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "serve", "echo", "--endpoint", "tcp:0", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            preexec_fn=functools.partial(net_bench._pin, net_bench.SERVER_CPU),
        )
        self.log: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        echo = self.wait_for(r"echo server listening on 127\.0\.0\.1:(\d+)")
        self.ports = {"echo": int(echo)}
        self.viewer: subprocess.Popen | None = None
        self.viewer_log: list[str] = []
        if "--trace-listen" in extra:
            trace_port = self.wait_for(r"serving the trace on 127\.0\.0\.1:(\d+)")
            self.viewer = subprocess.Popen(
                [sys.executable, "-m", "inspector", "attach", f"127.0.0.1:{trace_port}", "--headless",
                 "--record", "/dev/null"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                preexec_fn=_viewer_cpu,
            )
            assert self.viewer.stderr is not None
            for line in self.viewer.stderr:  # until it is attached
                if "attached to" in line:
                    break
            else:
                raise RuntimeError("the viewer did not attach")
            threading.Thread(target=self._read_viewer, daemon=True).start()

    def pid(self, workload: str = "echo") -> int:
        """The process whose CPU time the load generator reports (net_bench asks)."""
        return self.proc.pid

    def _read_viewer(self) -> None:
        assert self.viewer is not None and self.viewer.stderr is not None
        for line in self.viewer.stderr:
            self.viewer_log.append(line)

    def viewer_events(self) -> str:
        """What the viewer said it wrote when it stopped."""
        for line in self.viewer_log:
            found = re.search(r"wrote (\d+) events", line)
            if found:
                return found.group(1)
        return "?"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            self._ready.set()

    def wait_for(self, pattern: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log:
                found = re.search(pattern, line)
                if found:
                    return found.group(1)
            self._ready.wait(0.05)
            self._ready.clear()
        raise RuntimeError(f"{self.name}: no {pattern!r} in the log:\n{''.join(self.log)}")

    def close(self) -> None:
        for proc in (self.viewer, self.proc):
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        time.sleep(0.2)  # the viewer's last log line, read by its thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="time budget for the whole run")
    parser.add_argument("--duration", type=float, default=0.7, help="seconds measured per case")
    parser.add_argument("--client", choices=["c", "python"], default="c")
    args = parser.parse_args(argv)
    started = time.monotonic()
    net_bench._pin(net_bench.CLIENT_CPU)
    c_client = net_bench.build_c_client() if args.client == "c" else None
    load_before = os.getloadavg()[0]
    servers = {name: EchoServer(name, extra) for name, extra in VARIANTS.items()}
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    try:
        rounds = 0
        per_round = len(names) * (args.duration + 0.5)
        while rounds == 0 or time.monotonic() - started + per_round < args.seconds:
            order = names[rounds % len(names):] + names[: rounds % len(names)]
            for name in order:
                results[name].append(net_bench.measure(servers[name], "echo", args.duration, c_client))
            rounds += 1
    finally:
        for server in servers.values():
            server.close()
    print_table(results, rounds)
    viewer = servers["viewer attached"]
    print(f"the viewer received {viewer.viewer_events()} events in all (the rest were dropped and counted, "
          "to keep the server within its CPU budget)")
    print(f"load generator: {'C (net_load.c)' if c_client else 'Python (raw sockets, epoll)'}; "
          f"load average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs; {time.monotonic() - started:.0f} s")
    return 0


def print_table(results: dict[str, list[dict]], rounds: int) -> None:
    """Medians per variant; the ratios are taken within each round, then the median (as
    net_bench does), so a round slowed by other work on the machine counts once."""

    def ratio(name: str, base: str, key: Callable[[dict], float]) -> float:
        return statistics.median(key(results[name][i]) / key(results[base][i]) - 1 for i in range(rounds))

    def rate(r: dict) -> float:
        return r["rate"]

    def cost(r: dict) -> float:
        return r["server_cpu"] / r["rate"] * 1e6

    header = (f"{'variant':<16} {'round trips/s':>13} {'vs none':>8} {'vs tracing':>10} {'CPU us/op':>9}"
              f" {'vs tracing':>10} {'server CPU':>10}")
    print(header)
    print("-" * len(header))
    for name, runs in results.items():
        print(f"{name:<16} {statistics.median(rate(r) for r in runs):>13,.0f}"
              f" {ratio(name, 'no tracing', rate):>+8.1%} {ratio(name, 'tracing on', rate):>+10.1%}"
              f" {statistics.median(cost(r) for r in runs):>9.1f} {ratio(name, 'tracing on', cost):>+10.1%}"
              f" {statistics.median(r['server_cpu'] for r in runs):>9.0%}")
    print(f"\n{rounds} rounds of {len(results)} variants; medians, ratios within each round. 'vs tracing' is the "
          "cost of the attached viewer on top of tracing (target: at most 15% lost); 'CPU us/op' is the server's "
          "CPU time per round trip, which other work on the machine disturbs least.")


if __name__ == "__main__":
    sys.exit(main())
