"""What an attached viewer costs the traced process: ``inspector serve echo`` with no
tracing, with tracing on, and serving its trace to an ``inspector attach`` that drains
it, under the same fixed load, side by side in one run.

Run: ``python benchmarks/attach_bench.py [--seconds 60] [--rate 5000]`` (bounded by
``--seconds``).

Each variant is the server a user runs (``python -m inspector serve echo``, plus
``--trace`` or ``--trace-listen tcp:0``), pinned to CPU 0; the viewer is a real
``inspector attach 127.0.0.1:PORT --headless --record /dev/null``, pinned to CPU 1 at the
lowest priority with the load generator.

The figure is the server's CPU time per round trip under a fixed offered load, which is
what the viewer's budget (5% of the process's CPU time) is about. Earlier versions of
this benchmark let the load run flat out and read the server's CPU from clock ticks over
0.7 s: the rate then followed whatever else the machine ran, the CPU per round trip
followed the rate (a busier loop serves more connections per turn), a window held one
flush of the trace server or three, and a tick is 10 ms; repeated runs disagreed by tens
of percent. Here:

* the load is paced: 64-byte round trips over 32 connections, ``--rate`` of them a
  second (sent each millisecond as they fall due), so every variant serves the same
  work and its loop turns look alike whatever else the machine does;
* the server's CPU time is read from ``/proc/PID/task/*/schedstat`` (nanoseconds) at
  the start and end of each window, by the load generator;
* the three variants are loaded at the same time, on one schedule, by one generator:
  whatever else the machine runs disturbs them alike within a window, and their ratio
  is taken within each window (the table shows the median over windows, and the
  lowest and highest); windows are ``--duration`` seconds, several flushes of the
  trace server each.

Target (the live server's design, inspector/trace/live.py): an attached viewer costs
at most 5% of the traced process's CPU time.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import re
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import net_bench  # noqa: E402  (CPU pinning)

VARIANTS = {
    "no tracing": [],
    "tracing on": ["--trace"],
    "viewer attached": ["--trace-listen", "tcp:0"],
}
CONNECTIONS = 32
MESSAGE = b"x" * 64
WARMUP = 0.5
#: Round trips falling due while all connections wait beyond this many seconds' worth
#: are skipped (counted), so a stalled server is not flooded when it wakes.
MAX_BACKLOG = 0.05


# ------------------------------------------------------------------- the load


def task_cpu(pid: int) -> float:
    """CPU seconds ``pid``'s threads have run, to the nanosecond (0.0 once it is gone)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    return total / 1e9


def paced_echo(targets: list[tuple[int, int]], rate: float, duration: float, viewer_pid: int = 0) -> list[dict]:
    """Offer ``rate`` round trips a second to each of ``targets`` ((port, server pid)), over
    CONNECTIONS connections each, all on one schedule, for ``duration`` seconds after a
    warm-up; return per target the round trips done and the server's CPU seconds over
    that window (and the viewer's, on every entry)."""
    servers = len(targets)
    by_fd: dict[int, socket.socket] = {}
    owner: dict[int, int] = {}
    idle: list[collections.deque[int]] = []
    for index, (port, _pid) in enumerate(targets):
        ready: collections.deque[int] = collections.deque()
        for _ in range(CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            by_fd[s.fileno()] = s
            owner[s.fileno()] = index
            ready.append(s.fileno())
        idle.append(ready)  # connections with no round trip in flight
    ep = select.epoll()
    for fd in by_fd:
        ep.register(fd, select.EPOLLIN)
    pending = dict.fromkeys(by_fd, 0)
    size = len(MESSAGE)
    sent = [0] * servers
    done = [0] * servers
    skipped = [0] * servers
    started = time.monotonic()
    measuring_at = started + WARMUP
    deadline = measuring_at + duration
    measuring = False
    marks: list[tuple[int, int, float]] = []
    viewer_mark = 0.0
    backlog = max(1, int(rate * MAX_BACKLOG))
    while True:
        now = time.monotonic()
        if not measuring and now >= measuring_at:
            measuring = True
            marks = [(done[i], skipped[i], task_cpu(pid)) for i, (_port, pid) in enumerate(targets)]
            viewer_mark = task_cpu(viewer_pid) if viewer_pid else 0.0
            measuring_at = now
        elif measuring and now >= deadline:
            break
        scheduled = int((now - started) * rate)
        for i in range(servers):
            due = scheduled - skipped[i]
            ready = idle[i]
            while sent[i] < due and ready:
                by_fd[ready.popleft()].send(MESSAGE)
                sent[i] += 1
            if due - sent[i] > backlog:
                skipped[i] += due - sent[i] - backlog
        wait = (scheduled + 1) / rate - (time.monotonic() - started)
        for fd, _ in ep.poll(max(wait, 0.0)):
            try:
                data = by_fd[fd].recv(65536)
            except BlockingIOError:
                continue
            if not data:
                raise RuntimeError("the server closed a connection")
            got = pending[fd] + len(data)
            if got >= size:
                got -= size
                done[owner[fd]] += 1
                idle[owner[fd]].append(fd)
            pending[fd] = got
    elapsed = time.monotonic() - measuring_at
    viewer_cpu = task_cpu(viewer_pid) - viewer_mark if viewer_pid else 0.0
    results = [{"ops": done[i] - marks[i][0], "skipped": skipped[i] - marks[i][1], "elapsed": elapsed,
                "server_cpu": task_cpu(pid) - marks[i][2], "viewer_cpu": viewer_cpu}
               for i, (_port, pid) in enumerate(targets)]
    for s in by_fd.values():
        s.close()
    return results


def _load_main(args: list[str]) -> int:
    """``attach_bench.py _load RATE SECONDS VIEWER_PID PORT:PID...``: one window, as JSON."""
    rate, duration, viewer_pid, *targets = args
    pairs = [(int(port), int(pid)) for port, pid in (target.split(":") for target in targets)]
    print(json.dumps(paced_echo(pairs, float(rate), float(duration), int(viewer_pid))))
    return 0


def measure(servers: list[EchoServer], rate: float, duration: float) -> list[dict]:
    """One window of the paced load against every server at once (a process on the client CPU)."""
    viewers = [server.viewer.pid for server in servers if server.viewer is not None]
    command = [sys.executable, os.path.abspath(__file__), "_load", str(rate), str(duration),
               str(viewers[0] if viewers else 0), *(f"{server.port}:{server.proc.pid}" for server in servers)]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         preexec_fn=functools.partial(net_bench._pin, net_bench.CLIENT_CPU)).stdout
    return json.loads(out)


# ------------------------------------------------------------------- the servers


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
        self.port = int(self.wait_for(r"echo server listening on 127\.0\.0\.1:(\d+)"))
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


# ------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_load"]:
        return _load_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget for the whole run")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds measured per window")
    parser.add_argument("--rate", type=float, default=5000.0, help="round trips offered per second to each variant")
    args = parser.parse_args(argv)
    started = time.monotonic()
    net_bench._pin(net_bench.CLIENT_CPU)  # the parent only waits; keep it off the server's core
    load_before = os.getloadavg()[0]
    servers = {name: EchoServer(name, extra) for name, extra in VARIANTS.items()}
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    try:
        rounds = 0
        per_round = args.duration + WARMUP + 0.5
        while rounds == 0 or time.monotonic() - started + per_round < args.seconds:
            for name, result in zip(servers, measure(list(servers.values()), args.rate, args.duration)):
                results[name].append(result)
            rounds += 1
    finally:
        for server in servers.values():
            server.close()
    print_table(results, rounds, args.rate, args.duration)
    viewer = servers["viewer attached"]
    print(f"the viewer received {viewer.viewer_events()} events in all (the rest were dropped and counted, "
          "to keep the server within its CPU budget)")
    print(f"load average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs; {time.monotonic() - started:.0f} s")
    return 0


def cost(r: dict) -> float:
    """The server's CPU microseconds per round trip in one window."""
    return r["server_cpu"] / max(r["ops"], 1) * 1e6


def print_table(results: dict[str, list[dict]], rounds: int, rate: float, duration: float) -> None:
    """Medians per variant; ratios are taken within each window, then the median (a window
    disturbed by other work on the machine counts once), with their lowest and highest."""

    def ratios(name: str, base: str, key: Callable[[dict], float]) -> list[float]:
        return [key(results[name][i]) / key(results[base][i]) - 1 for i in range(rounds)]

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):+.1%} ({min(values):+.1%}..{max(values):+.1%})"

    header = (f"{'variant':<16} {'round trips/s':>13} {'skipped':>7} {'server CPU':>10} {'CPU us/op':>9}"
              f" {'vs no tracing':>28} {'vs tracing on':>28}")
    print(header)
    print("-" * len(header))
    for name, runs in results.items():
        done = statistics.median(r["ops"] / r["elapsed"] for r in runs)
        skipped = sum(r["skipped"] for r in runs) / max(sum(r["ops"] + r["skipped"] for r in runs), 1)
        load = statistics.median(r["server_cpu"] / r["elapsed"] for r in runs)
        vs_none = spread(ratios(name, "no tracing", cost)) if name != "no tracing" else "-"
        vs_tracing = spread(ratios(name, "tracing on", cost)) if name != "tracing on" else "-"
        print(f"{name:<16} {done:>13,.0f} {skipped:>7.1%} {load:>10.0%} {statistics.median(map(cost, runs)):>9.2f}"
              f" {vs_none:>28} {vs_tracing:>28}")
    viewer = results["viewer attached"]
    if any(r["skipped"] > 0.01 * r["ops"] for runs in results.values() for r in runs):
        print("(some windows skipped over 1% of the offered round trips: the load generator or a server fell "
              "behind, and the CPU per round trip changes with the load; try a lower --rate)")
    print(f"\n{rounds} windows of {duration:g} s, {len(results)} variants at once at {rate:,.0f} round trips/s "
          f"offered; medians, ratios of CPU us/op within each window (lowest..highest in brackets). The viewer "
          f"itself used {statistics.median(r['viewer_cpu'] / r['elapsed'] for r in viewer):.0%} of a CPU. "
          "Target: an attached viewer costs at most 5% of the server's CPU time ('vs tracing on').")


if __name__ == "__main__":
    sys.exit(main())
