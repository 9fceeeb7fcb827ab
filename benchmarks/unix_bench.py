"""Unix-socket echo benchmark: our reactor against asyncio's Unix servers, in one run.

Run ``python benchmarks/unix_bench.py`` (about 25 seconds; ``--rounds``, ``--duration``). The workload is 64-byte
ping-pong round trips over 16 Unix stream connections at once. Each server runs in its
own process pinned to CPU 0; the load is a raw-socket epoll client pinned to CPU 1 (its
CPU use is shown, to tell whether it was the bottleneck). Every round measures every
server; the table shows medians over the rounds, each one's rate relative to asyncio's
``start_unix_server`` (streams), the usual way asyncio code serves a Unix socket (the ratio
taken within a round), and the server's CPU share. A header names the date, CPU, cores,
Python and load average: the figures mean little without them.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time

MESSAGE = b"x" * 64
CONNECTIONS = 16
SERVER_CPU = 0
CLIENT_CPU = 1


def serve_inspector(path: str, reactor_name: str) -> None:
    """Echo over a Unix socket on one of our reactors."""
    from inspector import reactors
    from inspector.protocol import Factory, Protocol

    reactor = reactors.create(reactor_name)

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    reactor.listenUNIX(path, Factory.forProtocol(Echo))
    reactor.callWhenRunning(_ready)
    reactor.run()


def serve_asyncio_streams(path: str) -> None:
    """Echo with asyncio.start_unix_server (StreamReader/StreamWriter)."""
    import asyncio

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def main() -> None:
        await asyncio.start_unix_server(echo, path)
        _ready()
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_asyncio_protocol(path: str) -> None:
    """Echo with loop.create_unix_server and a plain asyncio.Protocol."""
    import asyncio

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)  # type: ignore[attr-defined]

    async def main() -> None:
        await asyncio.get_running_loop().create_unix_server(Echo, path)
        _ready()
        await asyncio.Event().wait()

    asyncio.run(main())


SERVERS = {
    "inspector": lambda path: serve_inspector(path, "selectors"),
    "inspector-asyncio": lambda path: serve_inspector(path, "asyncio"),
    "asyncio-streams": serve_asyncio_streams,
    "asyncio-protocol": serve_asyncio_protocol,
}
BASELINE = "asyncio-streams"


def _ready() -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def header() -> str:
    """Date, CPU model, cores, Python and the load average: what the figures depend on."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{datetime.datetime.now():%Y-%m-%d %H:%M}  {model}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, load average {load}")


def load(path: str, duration: float, server_pid: int) -> tuple[float, float, float]:
    """Ping-pong on CONNECTIONS sockets for ``duration`` s: (round trips/s, client CPU
    share, server CPU share)."""
    socks = []
    for _ in range(CONNECTIONS):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        socks.append(s)
    poller = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    pending = {s.fileno(): 0 for s in socks}
    for s in socks:
        poller.register(s.fileno(), select.EPOLLIN)
        s.send(MESSAGE)
    trips = 0
    cpu0 = time.process_time()
    server0 = _proc_cpu(server_pid)
    start = time.perf_counter()
    end = start + duration
    while time.perf_counter() < end:
        for fd, _ in poller.poll(0.5):
            s = by_fd[fd]
            got = len(s.recv(65536))
            pending[fd] += got
            if pending[fd] >= len(MESSAGE):
                pending[fd] = 0
                trips += 1
                s.send(MESSAGE)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    server = _proc_cpu(server_pid) - server0
    poller.close()
    for s in socks:
        s.close()
    return trips / elapsed, cpu / elapsed, server / elapsed


def measure(name: str, duration: float) -> tuple[float, float, float]:
    """Start server ``name`` in a process pinned to SERVER_CPU, load it, stop it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "echo.sock")
        code = (f"import os, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                f"import unix_bench as b; b._pin({SERVER_CPU}); b.SERVERS[{name!r}]({path!r})")
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if line.strip() != "ready":
                raise RuntimeError(f"server {name} did not start")
            return load(path, duration, proc.pid)
        finally:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=1.5, help="seconds per server per round")
    parser.add_argument("--server", action="append", choices=sorted(SERVERS), help="servers to measure")
    args = parser.parse_args(argv)
    names = args.server or list(SERVERS)
    _pin(CLIENT_CPU)
    rates: dict[str, list[float]] = {n: [] for n in names}
    ratios: dict[str, list[float]] = {n: [] for n in names}
    client_cpu: list[float] = []
    server_cpu: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.rounds):
        this_round = {}
        for name in names:
            rate, cpu, served = measure(name, args.duration)
            server_cpu[name].append(served)
            this_round[name] = rate
            rates[name].append(rate)
            client_cpu.append(cpu)
        if BASELINE in this_round:
            for name in names:
                ratios[name].append(this_round[name] / this_round[BASELINE])
    print(header())
    print(f"Unix-socket echo, 64-byte round trips over {CONNECTIONS} connections, "
          f"{args.rounds} rounds x {args.duration:g} s (median)")
    print(f"{'server':<20}{'round trips/s':>15}{'vs ' + BASELINE:>22}{'server CPU':>12}")
    for name in names:
        ratio = f"{statistics.median(ratios[name]):.2f}x" if ratios[name] else "-"
        print(f"{name:<20}{statistics.median(rates[name]):>15,.0f}{ratio:>22}"
              f"{statistics.median(server_cpu[name]):>12.0%}")
    print(f"load client CPU share: max {max(client_cpu):.0%} (near 100%: the client was the limit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
