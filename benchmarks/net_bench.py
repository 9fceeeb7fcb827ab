"""Network benchmark: our reactor against Twisted's epoll reactor and plain asyncio.

Run ``python benchmarks/net_bench.py`` (about a minute). Three workloads:

* echo: round trips per second of 64-byte ping-pong over 32 connections;
* qotd: connections per second to a QOTD server (connect, read a line, closed by the
  server), 16 attempts in flight;
* bulk: MB/s echoed over one connection (64 KiB writes, up to 4 MiB in flight);
* bulk1m: the same with up to 1 MiB in flight.

Each server runs in its own process pinned to CPU 0; the load comes from a separate
raw-socket epoll client process pinned to CPU 1 -- ``net_load.c``, compiled on first
use, or the Python client below when no compiler is found (its CPU use is reported, to
show it is not the bottleneck). Every round measures every server on every workload; the table
shows medians over rounds, and ratios are taken within a round before the median.

Servers are named entries of ``SERVERS`` (name -> function that serves forever), so
other reactors can be added as ``--server NAME`` entries. ``serve`` is different: it is
the command users run, ``python -m inspector serve echo`` and ``... serve qotd`` (two
processes, default logging, standard error to a file), measured next to the bare server
in the same run; ``uvloop`` is asyncio's protocols on uvloop's loop.
"""

from __future__ import annotations

import argparse
import errno
import functools
import hashlib
import json
import logging
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

QUOTE = b"An apple a day keeps the doctor away\r\n"
MESSAGE = b"x" * 64
CONNECTIONS = 32
QOTD_IN_FLIGHT = 16
BULK_CHUNK = 65536
BULK_WINDOW = 4 * 1024 * 1024
SERVER_CPU = 0
CLIENT_CPU = 1


# ---------------------------------------------------------------------- servers


def _announce(echo_port: int, qotd_port: int) -> None:
    """Tell the parent which ports to load."""
    sys.stdout.write(f"{echo_port} {qotd_port}\n")
    sys.stdout.flush()


def serve_inspector(reactor_name: str = "selectors", slow_callback_threshold: float | None = 0.05) -> None:
    """Echo and QOTD on one of our reactors."""
    from inspector import reactors
    from inspector.protocol import Factory, Protocol

    reactor = reactors.create(reactor_name)
    reactor.slow_callback_threshold = slow_callback_threshold
    # Detection stays on (it is part of the price); its warnings, which a busy machine
    # provokes by preempting the server, stay out of the table.
    logging.getLogger("inspector").setLevel(logging.ERROR)

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    class QOTD(Protocol):
        def connectionMade(self) -> None:
            self.transport.write(QUOTE)
            self.transport.loseConnection()

    echo = reactor.listenTCP(0, Factory.forProtocol(Echo), backlog=1024)
    qotd = reactor.listenTCP(0, Factory.forProtocol(QOTD), backlog=1024)
    reactor.callWhenRunning(_announce, echo.getHost().port, qotd.getHost().port)
    reactor.run()


def serve_twisted_epoll() -> None:
    """Echo and QOTD on Twisted's epoll reactor."""
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import protocol, reactor

    class Echo(protocol.Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    class QOTD(protocol.Protocol):
        def connectionMade(self) -> None:
            self.transport.write(QUOTE)
            self.transport.loseConnection()

    echo = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), backlog=1024, interface="127.0.0.1")
    qotd = reactor.listenTCP(0, protocol.Factory.forProtocol(QOTD), backlog=1024, interface="127.0.0.1")
    reactor.callWhenRunning(_announce, echo.getHost().port, qotd.getHost().port)
    reactor.run()


def serve_asyncio() -> None:
    """Echo and QOTD as plain asyncio Protocols (not streams)."""
    import asyncio

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)  # type: ignore[attr-defined]

    class QOTD(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transport.write(QUOTE)  # type: ignore[attr-defined]
            transport.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        echo = await loop.create_server(Echo, "127.0.0.1", 0, backlog=1024)
        qotd = await loop.create_server(QOTD, "127.0.0.1", 0, backlog=1024)
        _announce(echo.sockets[0].getsockname()[1], qotd.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_baseline() -> None:
    """The bare server on the checkout named by ``--baseline`` (its ``inspector`` package
    imported instead of this one): before/after figures in one run."""
    sys.path.insert(0, os.environ["INSPECTOR_BENCH_BASELINE"])
    for name in [m for m in sys.modules if m == "inspector" or m.startswith("inspector.")]:
        del sys.modules[name]
    serve_inspector()


def serve_uvloop() -> None:
    """The asyncio server on uvloop's loop (libuv)."""
    import uvloop

    uvloop.install()
    serve_asyncio()


def serve_catalog_protocols() -> None:
    """The echo and QOTD protocols ``inspector serve`` runs (flow control, connection
    limit, QOTD's half-close), on a bare selectors reactor without the command around them."""
    from inspector import reactors
    from inspector.protocols.echo import EchoFactory
    from inspector.protocols.qotd import QOTDFactory, StaticQuoter

    reactor = reactors.create("selectors")
    logging.getLogger("inspector").setLevel(logging.ERROR)
    echo = reactor.listenTCP(0, EchoFactory(), backlog=1024, interface="127.0.0.1")
    qotd = reactor.listenTCP(0, QOTDFactory(StaticQuoter(QUOTE.decode().rstrip())), backlog=1024,
                             interface="127.0.0.1")
    reactor.callWhenRunning(_announce, echo.getHost().port, qotd.getHost().port)
    reactor.run()


def serve_inspector_safe_close() -> None:
    """The bare server with QOTD closing the way ours does: FIN after the quote, then the
    client's close (no RST for unread input; no linger timer), to price that close alone."""
    from zope.interface import implementer

    from inspector import reactors
    from inspector.interfaces import IHalfCloseableProtocol
    from inspector.protocol import Factory, Protocol

    reactor = reactors.create("selectors")
    logging.getLogger("inspector").setLevel(logging.ERROR)

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    @implementer(IHalfCloseableProtocol)
    class QOTD(Protocol):
        def connectionMade(self) -> None:
            self.transport.write(QUOTE)
            self.transport.loseWriteConnection()

        def readConnectionLost(self) -> None:
            pass

        def writeConnectionLost(self) -> None:
            pass

    echo = reactor.listenTCP(0, Factory.forProtocol(Echo), backlog=1024)
    qotd = reactor.listenTCP(0, Factory.forProtocol(QOTD), backlog=1024)
    reactor.callWhenRunning(_announce, echo.getHost().port, qotd.getHost().port)
    reactor.run()


#: Server name -> function serving echo and QOTD forever (it prints the two ports).
SERVERS: dict[str, Callable[[], None]] = {
    "inspector": serve_inspector,
    "twisted-epoll": serve_twisted_epoll,
    "asyncio": serve_asyncio,
    "uvloop": serve_uvloop,
    "baseline": serve_baseline,  # added by --baseline DIR
    # The protocols the command serves, without the command.
    "inspector-protocols": serve_catalog_protocols,
    # The command itself: started by CommandServer, not through _serve.
    "serve": serve_inspector,
    # Not run by default: our reactor with slow-callback detection off, to price it,
    # and our reactors hosted on foreign loops.
    "inspector-noslow": functools.partial(serve_inspector, "selectors", None),
    # The bare server with our QOTD's safe close (FIN, then wait for the client's close).
    "inspector-safe-close": serve_inspector_safe_close,
    "inspector-qt": functools.partial(serve_inspector, "qt"),
    "inspector-asyncio": functools.partial(serve_inspector, "asyncio"),
}
#: What runs when no --server is given.
DEFAULT_SERVERS = ["inspector", "serve", "twisted-epoll", "asyncio", "uvloop"]
#: The server the ratios compare against the others.
OURS = "inspector"


# ---------------------------------------------------------------------- clients


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def load_echo(port: int, duration: float, server_pid: int) -> dict:
    """64-byte ping-pong on CONNECTIONS connections; count round trips."""
    socks = []
    for _ in range(CONNECTIONS):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks.append(s)
    ep = select.epoll()
    by_fd = {}
    pending = {}
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN)
        by_fd[s.fileno()] = s
        pending[s.fileno()] = 0
    for s in socks:
        s.send(MESSAGE)
    size = len(MESSAGE)
    poll = ep.poll
    count = 0
    warm_until = time.monotonic() + 0.3
    warm = True
    start = cpu0 = scpu0 = 0.0
    deadline = warm_until + duration
    now = 0.0
    while True:
        for fd, _ in poll(1.0):
            s = by_fd[fd]
            got = pending[fd] + len(s.recv(65536))
            while got >= size:
                got -= size
                count += 1
                s.send(MESSAGE)
            pending[fd] = got
        now = time.monotonic()
        if warm and now >= warm_until:
            warm = False
            count = 0
            start, cpu0, scpu0 = now, _cpu_seconds(), _proc_cpu(server_pid)
        elif not warm and now >= deadline:
            break
    elapsed = now - start
    cpu = _cpu_seconds() - cpu0
    server_cpu = _proc_cpu(server_pid) - scpu0
    for s in socks:
        s.close()
    return {"rate": count / elapsed, "client_cpu": cpu / elapsed, "server_cpu": server_cpu / elapsed}


def load_qotd(port: int, duration: float, server_pid: int) -> dict:
    """Connect, read the quote until the server closes, repeat; QOTD_IN_FLIGHT at a time."""
    ep = select.epoll()
    conns: dict[int, list] = {}
    addr = ("127.0.0.1", port)
    errors = 0

    def start_one() -> None:
        s = socket.socket()
        s.setblocking(False)
        code = s.connect_ex(addr)
        if code not in (0, errno.EINPROGRESS):
            raise OSError(code, os.strerror(code))
        ep.register(s.fileno(), select.EPOLLIN)
        conns[s.fileno()] = [s, 0]

    for _ in range(QOTD_IN_FLIGHT):
        start_one()
    count = 0
    warm_until = time.monotonic() + 0.3
    warm = True
    start = cpu0 = scpu0 = 0.0
    deadline = warm_until + duration
    now = 0.0
    want = len(QUOTE)
    while True:
        for fd, _ in ep.poll(1.0):
            entry = conns[fd]
            s = entry[0]
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
                errors += 1
            if data:
                entry[1] += len(data)
                continue
            if entry[1] == want:
                count += 1
            else:
                errors += 1
            ep.unregister(fd)
            del conns[fd]
            s.close()
            start_one()
        now = time.monotonic()
        if warm and now >= warm_until:
            warm = False
            count = errors = 0
            start, cpu0, scpu0 = now, _cpu_seconds(), _proc_cpu(server_pid)
        elif not warm and now >= deadline:
            break
    elapsed = now - start
    cpu = _cpu_seconds() - cpu0
    server_cpu = _proc_cpu(server_pid) - scpu0
    for s, _ in conns.values():
        s.close()
    return {"rate": count / elapsed, "client_cpu": cpu / elapsed, "server_cpu": server_cpu / elapsed, "errors": errors}


def load_bulk(port: int, duration: float, server_pid: int, window: int = BULK_WINDOW) -> dict:
    """Stream 64 KiB writes over one connection, keeping up to ``window`` bytes in flight."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    fd = s.fileno()
    ep = select.epoll()
    ep.register(fd, select.EPOLLIN | select.EPOLLOUT)
    chunk = b"b" * BULK_CHUNK
    view = memoryview(chunk)
    offset = 0
    sent = received = 0
    counted = 0
    warm_until = time.monotonic() + 0.3
    warm = True
    start = cpu0 = scpu0 = 0.0
    deadline = warm_until + duration
    now = 0.0
    writing = True
    while True:
        for _, ev in ep.poll(1.0):
            if ev & select.EPOLLIN:
                while True:
                    try:
                        n = len(s.recv(1 << 20))
                    except BlockingIOError:
                        break
                    received += n
                    counted += n
            if ev & select.EPOLLOUT:
                while sent - received < window:
                    try:
                        n = s.send(view[offset:])
                    except BlockingIOError:
                        break
                    sent += n
                    offset = (offset + n) % BULK_CHUNK
        want_write = sent - received < window
        if want_write != writing:
            writing = want_write
            ep.modify(fd, select.EPOLLIN | (select.EPOLLOUT if writing else 0))
        now = time.monotonic()
        if warm and now >= warm_until:
            warm = False
            counted = 0
            start, cpu0, scpu0 = now, _cpu_seconds(), _proc_cpu(server_pid)
        elif not warm and now >= deadline:
            break
    elapsed = now - start
    cpu = _cpu_seconds() - cpu0
    server_cpu = _proc_cpu(server_pid) - scpu0
    s.close()
    return {"rate": counted / elapsed / 1e6, "client_cpu": cpu / elapsed, "server_cpu": server_cpu / elapsed}


LOADS: dict[str, tuple[Callable[[int, float, int], dict], str]] = {
    "echo": (load_echo, "round trips/s"),
    "qotd": (load_qotd, "connections/s"),
    "bulk": (load_bulk, "MB/s"),
    "bulk1m": (functools.partial(load_bulk, window=1 << 20), "MB/s"),
}


# ------------------------------------------------------------------- harness


def _pin(cpu: int) -> None:
    """Run on ``cpu`` only, at the highest priority allowed (less noise from other work)."""
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -20)
    except (OSError, AttributeError):
        pass  # not privileged: run at normal priority


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid``."""
    user, system = _proc_user_system(pid)
    return user + system


def _proc_user_system(pid: int) -> tuple[float, float]:
    """CPU seconds process ``pid`` has spent so far in its own code and in the kernel."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


class Server:
    """A server process: started, asked for its ports, terminated."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "_serve", name],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"server {name!r} did not start")
        self.ports = {"echo": int(line.split()[0]), "qotd": int(line.split()[1])}
        self.ports["bulk"] = self.ports["bulk1m"] = self.ports["echo"]

    def pid(self, workload: str) -> int:
        """The process serving ``workload`` (its CPU use is measured)."""
        return self.proc.pid

    def close(self) -> None:
        _stop(self.proc)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CommandServer:
    """``python -m inspector serve echo`` and ``... serve qotd`` as a user starts them:
    two processes pinned like the others, default logging, standard error to a file
    (whose line count is reported, to show what the log cost)."""

    def __init__(self, name: str = "serve", root: str | None = None) -> None:
        self.name = name
        self.logs = tempfile.TemporaryDirectory(prefix="inspector-serve-bench-")
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        # ``python -m inspector`` finds the package in the working directory first.
        root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for key, extra in (("echo", []), ("qotd", ["--quote", QUOTE.decode().rstrip()])):
            port = _free_port()
            with open(os.path.join(self.logs.name, f"{key}.log"), "wb") as err:
                self.procs[key] = subprocess.Popen(
                    [sys.executable, "-m", "inspector", "serve", key, "--port", str(port), *extra],
                    stdout=subprocess.DEVNULL, stderr=err, cwd=root,
                    preexec_fn=functools.partial(_pin, SERVER_CPU),
                )
            self.ports[key] = port
        self.ports["bulk"] = self.ports["bulk1m"] = self.ports["echo"]
        for key in ("echo", "qotd"):
            self._wait_listening(key)

    def _wait_listening(self, key: str) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.procs[key].poll() is not None:
                raise RuntimeError(f"inspector serve {key} exited: {self.log_text(key)[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", self.ports[key]), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)  # polling a port another process opens: no event to wait for
        raise RuntimeError(f"inspector serve {key} did not listen within 20 s")

    def log_text(self, key: str) -> str:
        with open(os.path.join(self.logs.name, f"{key}.log"), errors="replace") as f:
            return f.read()

    def pid(self, workload: str) -> int:
        return self.procs["qotd" if workload == "qotd" else "echo"].pid

    def close(self) -> None:
        for key, proc in self.procs.items():
            _stop(proc)
            lines = self.log_text(key).count("\n")
            print(f"{self.name} {key}: {lines} log lines")
        self.logs.cleanup()


def _start(name: str, baseline: str | None) -> Server | CommandServer:
    """Start the server ``name`` (the serve command, ours or the baseline's, or a SERVERS entry)."""
    if name == "serve":
        return CommandServer()
    if name == "serve-baseline":
        return CommandServer(name, os.path.abspath(baseline or "."))
    return Server(name)


def build_c_client() -> str | None:
    """Compile ``net_load.c`` (the same loads in C) once; None if no compiler works."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "net_load.c")
    with open(source, "rb") as f:
        digest = hashlib.sha1(f.read()).hexdigest()[:12]
    binary = os.path.join(tempfile.gettempdir(), f"inspector-net-load-{digest}")
    if os.path.exists(binary):
        return binary
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    partial = f"{binary}.{os.getpid()}"
    done = subprocess.run([compiler, "-O2", "-o", partial, source], capture_output=True)
    if done.returncode != 0:
        return None
    os.replace(partial, binary)
    return binary


def measure(server: Server | CommandServer, workload: str, duration: float, c_client: str | None) -> dict:
    """Run one client process against ``server``; return its rate and both sides' CPU use."""
    args = [workload, str(server.ports[workload]), str(duration), str(server.pid(workload))]
    if c_client is not None:
        command = [c_client, *args]
    else:
        command = [sys.executable, os.path.abspath(__file__), "_load", *args]
    user0, system0 = _proc_user_system(server.pid(workload))
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, preexec_fn=functools.partial(_pin, CLIENT_CPU)
    ).stdout
    user1, system1 = _proc_user_system(server.pid(workload))
    result = json.loads(out)
    # The kernel's share of the server's CPU over the whole client run (warm-up included):
    # what system calls and the TCP stack cost, apart from the server's Python.
    spent = (user1 - user0) + (system1 - system0)
    result["server_system_share"] = (system1 - system0) / spent if spent > 0 else 0.0
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server", action="append", choices=sorted(SERVERS), help="servers to compare (repeatable; default: all)"
    )
    parser.add_argument(
        "--workload", action="append", choices=sorted(LOADS), help="workloads (repeatable; default: all)"
    )
    parser.add_argument("--baseline", metavar="DIR",
                        help="also run the bare server from another checkout (a directory holding its inspector/)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--duration", type=float, default=0.7, help="seconds measured per case")
    parser.add_argument("--client", choices=["c", "python"], default="c",
                        help="load generator: C (built from net_load.c if a compiler exists) or Python")
    args = parser.parse_args(argv)
    names = args.server or list(DEFAULT_SERVERS)
    if args.baseline:
        os.environ["INSPECTOR_BENCH_BASELINE"] = os.path.abspath(args.baseline)
        names.append("baseline")
        if "serve" in names:
            names.append("serve-baseline")
    workloads = args.workload or list(LOADS)
    _pin(CLIENT_CPU)  # the parent only waits; keep it off the server's core
    c_client = build_c_client() if args.client == "c" else None
    load_before = os.getloadavg()[0]
    servers: dict[str, Server | CommandServer] = {}
    results: dict[tuple[str, str], list[dict]] = {}
    try:
        for name in names:  # (inside the try: a server that fails to start stops the others)
            servers[name] = _start(name, args.baseline)
        for rnd in range(args.rounds):
            order = names[rnd % len(names):] + names[: rnd % len(names)]  # rotate who goes first
            for workload in workloads:
                for name in order:
                    results.setdefault((workload, name), []).append(
                        measure(servers[name], workload, args.duration, c_client))
    finally:
        for server in servers.values():
            server.close()
    print_table(names, workloads, results, args.rounds)
    print(f"load generator: {'C (net_load.c)' if c_client else 'Python (raw sockets, epoll)'}")
    print(f"load average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
          " (other work on the machine makes every figure noisier; compare within a run).")
    errors = sum(r.get("errors", 0) for runs in results.values() for r in runs)
    if errors:
        print(f"QOTD clients saw {errors} short or failed reads.")
    return 0


def print_table(names: list[str], workloads: list[str], results: dict, rounds: int) -> None:
    """Medians per server and workload, and our ratio to each peer (median of per-round ratios)."""
    ours = OURS if OURS in names else names[0]
    header = (f"{'workload':<8} {'server':<19} {'median':>11} {'unit':<14} {'ours/this':>9}"
              f" {'server CPU':>10} {'CPU us/op':>9} {'kernel':>6} {'client CPU':>10}")
    print(header)
    print("-" * len(header))
    for workload in workloads:
        unit = LOADS[workload][1]
        for name in names:
            runs = results[(workload, name)]
            rates = [r["rate"] for r in runs]
            ratio = statistics.median(
                results[(workload, ours)][i]["rate"] / runs[i]["rate"] for i in range(rounds)
            )
            median = statistics.median(rates)
            shown = f"{median:,.1f}" if workload.startswith("bulk") else f"{median:,.0f}"
            # Server CPU per operation (per MB for bulk): meaningful even on a busy machine.
            cost = statistics.median(r["server_cpu"] / r["rate"] * 1e6 for r in runs)
            print(
                f"{workload:<8} {name:<19} {shown:>11} {unit:<14} {ratio:>8.2f}x"
                f" {statistics.median(r['server_cpu'] for r in runs):>9.0%}"
                f" {cost:>9.1f}"
                f" {statistics.median(r.get('server_system_share', 0.0) for r in runs):>6.0%}"
                f" {statistics.median(r['client_cpu'] for r in runs):>9.0%}"
            )
    print(f"\n{rounds} rounds; server pinned to CPU {SERVER_CPU}, client to CPU {CLIENT_CPU}; "
          f"'ours/this' = {ours} divided by that server, within each round, median;\n"
          f"'CPU us/op' = server CPU microseconds per round trip / connection / MB;\n"
          f"'kernel' = the part of the server's CPU spent in the kernel (system calls, TCP), the rest is its Python.")


def _entry() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "_serve":
        _pin(SERVER_CPU)
        SERVERS[sys.argv[2]]()
        return 0
    if len(sys.argv) >= 6 and sys.argv[1] == "_load":
        result = LOADS[sys.argv[2]][0](int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
        print(json.dumps(result))
        return 0
    return main()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(_entry())
