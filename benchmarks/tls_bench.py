"""TLS benchmark: our reactor's listenSSL against asyncio's TLS and Twisted's, in one run.

Run ``python benchmarks/tls_bench.py`` (about a minute). Two workloads over TLS 1.3:

* echo: round trips per second of 64-byte ping-pong over 16 connections;
* bulk: MB/s echoed over one connection (64 KiB writes, up to 1 MiB in flight).

Each server runs in its own process pinned to CPU 0 (started afresh every round, and
serving both workloads); the load comes from this process pinned to CPU 1: a stdlib
``ssl`` client on non-blocking sockets and ``selectors``, the same for every server (its
CPU share is printed: near 100% means the client, not the server, was the limit). The
certificate comes from trustme (the test extra), written once into a temporary directory.
Twisted's TLS needs pyOpenSSL (``twisted[tls]``); without it that server is skipped with
the reason printed. The table shows medians over rounds; ratios against asyncio are
taken within a round before the median, and their range over the rounds is shown (on a
shared machine it is wide: read the ratios with it). The server's CPU time per round trip
or per MB is the steadier figure when other work preempts the server.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import selectors
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

MESSAGE = b"x" * 64
CONNECTIONS = 16
BULK_CHUNK = 65536
BULK_WINDOW = 1024 * 1024
WARM_UP = 0.3
SERVER_CPU = 0
CLIENT_CPU = 1
CERT = "server.pem"
KEY = "server.key"
CA = "ca.pem"
HOSTNAME = "localhost"


# ---------------------------------------------------------------------- servers


def _announce(port: int) -> None:
    """Tell the parent which port to load."""
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()


def _server_context(certs: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(certs, CERT), os.path.join(certs, KEY))
    return context


def serve_inspector(certs: str, reactor_name: str = "selectors") -> None:
    """The catalogue's echo protocol (EchoFactory) under ``reactor.listenSSL``."""
    import logging

    from inspector import reactors
    from inspector.protocols.echo import EchoFactory

    logging.getLogger("inspector").setLevel(logging.ERROR)
    reactor = reactors.create(reactor_name)
    port = reactor.listenSSL(0, EchoFactory(), _server_context(certs), backlog=1024)
    reactor.callWhenRunning(_announce, port.getHost().port)
    reactor.run()


def serve_asyncio(certs: str) -> None:
    """An asyncio.Protocol echo behind ``loop.create_server(..., ssl=context)``."""
    import asyncio

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=_server_context(certs), backlog=1024)
        _announce(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_twisted(certs: str) -> None:
    """Twisted's echo example protocol under its epoll reactor's ``listenSSL``."""
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import protocol, reactor
    from twisted.internet import ssl as twisted_ssl

    class Echo(protocol.Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    with open(os.path.join(certs, CERT), "rb") as f:
        pem = f.read()
    with open(os.path.join(certs, KEY), "rb") as f:
        pem += f.read()
    options = twisted_ssl.PrivateCertificate.loadPEM(pem).options()
    port = reactor.listenSSL(0, protocol.Factory.forProtocol(Echo), options, backlog=1024,
                             interface="127.0.0.1")
    reactor.callWhenRunning(_announce, port.getHost().port)
    reactor.run()


#: Server name -> function serving TLS echo forever on a port it prints. "inspector" is
#: the command users run, ``inspector serve echo --tls`` (see ``command_line``), when the
#: catalogue has it; else the small listenSSL server above stands in.
SERVERS: dict[str, Callable[[str], None]] = {
    "inspector": serve_inspector,
    "asyncio": serve_asyncio,
    "twisted": serve_twisted,
    # Not run by default: the listenSSL script even when the command exists, and our
    # reactor hosted on asyncio's loop.
    "inspector-script": serve_inspector,
    "inspector-asyncio": lambda certs: serve_inspector(certs, "asyncio"),
}
DEFAULT_SERVERS = ["inspector", "asyncio", "twisted"]
BASELINE = "asyncio"
#: How the echo command says where it listens (on stderr).
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+) \(tls\)")


def command_line(name: str, certs: str) -> list[str] | None:
    """``inspector serve echo --tls`` on a free port with our certificate, for server
    ``name`` == "inspector", if this checkout's catalogue has a TLS echo; else None."""
    if name != "inspector":
        return None
    helped = subprocess.run([sys.executable, "-m", "inspector", "serve", "echo", "--help"],
                            capture_output=True, text=True)
    if "--tls" not in helped.stdout:
        return None
    return [sys.executable, "-m", "inspector", "serve", "echo", "--tls", "--port", "0",
            "--certificate", os.path.join(certs, CERT), "--private-key", os.path.join(certs, KEY)]


def unavailable(name: str) -> str | None:
    """Why server ``name`` cannot run here, or None if it can."""
    if name == "twisted":
        try:
            import OpenSSL  # noqa: F401
            import twisted  # noqa: F401
        except ImportError as exc:
            return f"{exc} (Twisted's TLS needs pyOpenSSL: pip install 'twisted[tls]')"
    return None


# ---------------------------------------------------------------------- client


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _connect(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    """A TLS connection with its handshake done, then made non-blocking."""
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = context.wrap_socket(raw, server_hostname=HOSTNAME)
    conn.setblocking(False)
    return conn


def _read_all(conn: ssl.SSLSocket) -> int:
    """Plaintext bytes readable now (including what OpenSSL holds decrypted); -1 at EOF."""
    total = 0
    while True:
        try:
            data = conn.recv(1 << 20)
        except (ssl.SSLWantReadError, BlockingIOError):
            return total
        if not data:
            return -1 if total == 0 else total
        total += len(data)


class Clock:
    """Skips the warm-up, then times ``duration`` s of client and server CPU."""

    def __init__(self, duration: float, server_pid: int) -> None:
        self.server_pid = server_pid
        self.warm_until = time.monotonic() + WARM_UP
        self.deadline = self.warm_until + duration
        self.warm = True
        self.start = self.cpu0 = self.server_cpu0 = 0.0

    def tick(self) -> str:
        """'warm' while warming up, 'reset' once warm-up ends, 'run', then 'done'."""
        now = time.monotonic()
        if self.warm:
            if now < self.warm_until:
                return "warm"
            self.warm = False
            self.start, self.cpu0, self.server_cpu0 = now, _cpu_seconds(), _proc_cpu(self.server_pid)
            return "reset"
        return "done" if now >= self.deadline else "run"

    def result(self, amount: float) -> dict:
        elapsed = time.monotonic() - self.start
        return {
            "rate": amount / elapsed,
            "client_cpu": (_cpu_seconds() - self.cpu0) / elapsed,
            "server_cpu": (_proc_cpu(self.server_pid) - self.server_cpu0) / elapsed,
        }


def load_echo(port: int, context: ssl.SSLContext, duration: float, server_pid: int) -> dict:
    """64-byte ping-pong on CONNECTIONS TLS connections; count round trips."""
    conns = [_connect(port, context) for _ in range(CONNECTIONS)]
    sel = selectors.DefaultSelector()
    pending = {}
    for conn in conns:
        sel.register(conn, selectors.EVENT_READ)
        pending[conn] = 0
        conn.send(MESSAGE)
    size = len(MESSAGE)
    count = 0
    clock = Clock(duration, server_pid)
    while True:
        for key, _ in sel.select(1.0):
            conn = key.fileobj
            got = _read_all(conn)  # type: ignore[arg-type]
            if got < 0:
                raise RuntimeError("the server closed an echo connection")
            got += pending[conn]
            while got >= size:
                got -= size
                count += 1
                conn.send(MESSAGE)  # type: ignore[union-attr]
            pending[conn] = got
        state = clock.tick()
        if state == "reset":
            count = 0
        elif state == "done":
            break
    result = clock.result(count)
    sel.close()
    for conn in conns:
        conn.close()
    return result


def load_bulk(port: int, context: ssl.SSLContext, duration: float, server_pid: int) -> dict:
    """Stream 64 KiB writes over one TLS connection, up to BULK_WINDOW in flight; MB/s echoed."""
    conn = _connect(port, context)
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ | selectors.EVENT_WRITE)
    chunk = b"b" * BULK_CHUNK
    sent = received = counted = 0
    writing = True
    clock = Clock(duration, server_pid)
    while True:
        for _, events in sel.select(1.0):
            if events & selectors.EVENT_READ:
                got = _read_all(conn)
                if got < 0:
                    raise RuntimeError("the server closed the bulk connection")
                received += got
                counted += got
            if events & selectors.EVENT_WRITE:
                while sent - received < BULK_WINDOW:
                    try:
                        sent += conn.send(chunk)
                    except (ssl.SSLWantWriteError, BlockingIOError):
                        break
        # OpenSSL may hold decrypted bytes the socket no longer signals.
        if conn.pending():
            got = _read_all(conn)
            received += max(got, 0)
            counted += max(got, 0)
        want_write = sent - received < BULK_WINDOW
        if want_write != writing:
            writing = want_write
            sel.modify(conn, selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0))
        state = clock.tick()
        if state == "reset":
            counted = 0
        elif state == "done":
            break
    result = clock.result(counted / 1e6)
    sel.close()
    conn.close()
    return result


LOADS: dict[str, tuple[Callable[[int, ssl.SSLContext, float, int], dict], str]] = {
    "echo": (load_echo, "round trips/s"),
    "bulk": (load_bulk, "MB/s"),
}


# ------------------------------------------------------------------- harness


def _pin(cpu: int) -> None:
    """Run on ``cpu`` only, when the machine has it."""
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def make_certificates(directory: str) -> None:
    """A trustme CA and a server certificate for HOSTNAME and 127.0.0.1, as PEM files."""
    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert(HOSTNAME, "127.0.0.1")
    ca.cert_pem.write_to_path(os.path.join(directory, CA))
    issued.cert_chain_pems[0].write_to_path(os.path.join(directory, CERT))
    for extra in issued.cert_chain_pems[1:]:
        extra.write_to_path(os.path.join(directory, CERT), append=True)
    issued.private_key_pem.write_to_path(os.path.join(directory, KEY))


class Server:
    """A server process pinned to SERVER_CPU: started, asked for its port, terminated."""

    def __init__(self, name: str, certs: str, command: list[str] | None) -> None:
        self.name = name
        if command is None:
            self.proc = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "_serve", name, certs],
                stdout=subprocess.PIPE,
                text=True,
            )
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                self.close()
                raise RuntimeError(f"server {name!r} did not start")
            self.port = int(line)
            return
        # The command logs to stderr: a file, so a chatty server never blocks on a full pipe.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self.log,
                                     preexec_fn=lambda: _pin(SERVER_CPU))
        deadline = time.monotonic() + 15
        while True:
            self.log.seek(0)
            found = LISTENING.search(self.log.read())
            if found:
                self.port = int(found.group(1))
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                text = self.log.read()
                self.close()
                raise RuntimeError(f"server {name!r} did not start: {text[-2000:]}")
            time.sleep(0.05)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def header() -> str:
    """Date, CPU model, cores, Python and the load average: what the figures depend on."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{datetime.datetime.now():%Y-%m-%d %H:%M}  {model}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()} ({ssl.OPENSSL_VERSION}), load average {load}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="seconds per server per workload per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server", action="append", choices=sorted(SERVERS), help="servers to measure")
    parser.add_argument("--load", action="append", choices=sorted(LOADS), help="workloads to run")
    args = parser.parse_args(argv)
    wanted = args.server or DEFAULT_SERVERS
    workloads = args.load or list(LOADS)
    names = []
    notes: list[str] = []
    for name in wanted:
        reason = unavailable(name)
        if reason:
            print(f"skipping {name}: {reason}")
        else:
            names.append(name)
    _pin(CLIENT_CPU)
    rates = {(n, w): [] for n in names for w in workloads}  # type: dict[tuple[str, str], list[float]]
    ratios = {(n, w): [] for n in names for w in workloads}  # type: dict[tuple[str, str], list[float]]
    server_cpu = {(n, w): [] for n in names for w in workloads}  # type: dict[tuple[str, str], list[float]]
    client_cpu: dict[str, list[float]] = {w: [] for w in workloads}
    with tempfile.TemporaryDirectory() as certs:
        make_certificates(certs)
        commands = {name: command_line(name, certs) for name in names}
        if "inspector" in names:
            command = commands["inspector"]
            how = " ".join(command[2:6]) if command else "a listenSSL script (the catalogue has no TLS echo)"
            notes.append(f"inspector = {how}, selectors reactor")
        client = ssl.create_default_context(cafile=os.path.join(certs, CA))
        for _ in range(args.rounds):
            this_round = {}
            for name in names:
                server = Server(name, certs, commands[name])
                try:
                    for workload in workloads:
                        result = LOADS[workload][0](server.port, client, args.seconds, server.proc.pid)
                        this_round[name, workload] = result["rate"]
                        rates[name, workload].append(result["rate"])
                        server_cpu[name, workload].append(result["server_cpu"])
                        client_cpu[workload].append(result["client_cpu"])
                finally:
                    server.close()
            if BASELINE in names:
                for (name, workload), rate in this_round.items():
                    ratios[name, workload].append(rate / this_round[BASELINE, workload])
    print(header())
    print(f"TLS echo: 64-byte round trips over {CONNECTIONS} connections; TLS bulk: 64 KiB writes over one "
          f"connection echoed back. {args.rounds} rounds x {args.seconds:g} s, medians; server on CPU "
          f"{SERVER_CPU}, stdlib-ssl client on CPU {CLIENT_CPU}")
    for note in notes:
        print(note)
    for workload in workloads:
        unit = LOADS[workload][1]
        cost_unit = "server us/trip" if unit != "MB/s" else "server ms/MB"
        scale = 1e6 if unit != "MB/s" else 1e3
        print(f"\n{workload:<20}{unit:>15}{'vs ' + BASELINE:>14}{'(range)':>16}{'server CPU':>12}{cost_unit:>16}")
        for name in names:
            cell = ratios[name, workload]
            ratio = f"{statistics.median(cell):.2f}x" if cell else "-"
            spread = f"{min(cell):.2f}-{max(cell):.2f}" if cell else ""
            rate = statistics.median(rates[name, workload])
            figure = f"{rate:,.0f}" if unit != "MB/s" else f"{rate:,.1f}"
            cost = statistics.median(c / r * scale for c, r in zip(server_cpu[name, workload], rates[name, workload]))
            print(f"{name:<20}{figure:>15}{ratio:>14}{spread:>16}"
                  f"{statistics.median(server_cpu[name, workload]):>12.0%}{cost:>16.1f}")
        print(f"load client CPU share: max {max(client_cpu[workload]):.0%} "
              f"(near 100%: the client was the limit)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "_serve":
        _pin(SERVER_CPU)
        SERVERS[sys.argv[2]](sys.argv[3])
    else:
        sys.exit(main())
