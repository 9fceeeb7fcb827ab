"""Proxy benchmark: ``inspector proxy --headless`` against ``socat`` and a plain asyncio relay.

Run ``python benchmarks/proxy_bench.py --seconds 4`` (about 20 s: each relay gets
``--seconds`` per workload, split over ``--rounds`` interleaved rounds; medians shown). Each relay sits
between a blocking-socket client (this process) and an upstream server (its own
process: a sink for the throughput case, an echo for the round trips). Two workloads:

* throughput: MB/s of one connection streaming 64 KiB writes to a sink, until the
  sink has counted every byte (so buffered bytes do not flatter anyone);
* round trip: median time of a 64-byte ping-pong, and what each relay adds to the
  same round trip made without a relay ("direct").

The relays, each a process started here: our command exactly as a user runs it,
``socat TCP-LISTEN:PORT,fork,reuseaddr TCP:HOST:PORT`` (skipped if socat is missing),
and a ``asyncio.Protocol`` relay with flow control written below.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

CHUNK = b"x" * 65536
PING = b"p" * 64


# ---------------------------------------------------------------------- upstream and relays


def serve_upstream() -> None:
    """The upstream server: first byte 'S' -> sink (reply with the count after EOF), 'E' -> echo."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    print(server.getsockname()[1], flush=True)

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            mode = conn.recv(1)
            if mode == b"S":
                count = 0
                while True:
                    data = conn.recv(1 << 20)
                    if not data:
                        break
                    count += len(data)
                conn.sendall(str(count).encode())
            elif mode == b"E":
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    conn.sendall(data)

    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def serve_asyncio_relay(listen: int, upstream: int) -> None:
    """A plain asyncio relay: one Protocol per side, reading paused while the other side's
    write buffer is above its high-water mark (what a careful asyncio relay does)."""

    class Side(asyncio.Protocol):
        def __init__(self) -> None:
            self.transport: asyncio.Transport | None = None
            self.peer: Side | None = None
            self.pending: list[bytes] = []

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data: bytes) -> None:
            peer = self.peer
            if peer is None or peer.transport is None:
                self.pending.append(data)
            else:
                peer.transport.write(data)

        def eof_received(self) -> bool:
            if self.peer is not None and self.peer.transport is not None:
                self.peer.transport.write_eof()
            return True

        def connection_lost(self, exc: Exception | None) -> None:
            if self.peer is not None and self.peer.transport is not None:
                self.peer.transport.close()

        def pause_writing(self) -> None:
            if self.peer is not None and self.peer.transport is not None:
                self.peer.transport.pause_reading()

        def resume_writing(self) -> None:
            if self.peer is not None and self.peer.transport is not None:
                self.peer.transport.resume_reading()

    class Client(Side):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            transport.pause_reading()  # type: ignore[attr-defined]
            asyncio.get_running_loop().create_task(self.connect())

        async def connect(self) -> None:
            loop = asyncio.get_running_loop()
            _, up = await loop.create_connection(Side, "127.0.0.1", upstream)
            up.peer, self.peer = self, up
            for data in self.pending:
                assert up.transport is not None
                up.transport.write(data)
            self.pending.clear()
            assert self.transport is not None
            self.transport.resume_reading()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Client, "127.0.0.1", listen)
        print("ready", flush=True)
        await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def start_relay(name: str, upstream: int) -> tuple[int, subprocess.Popen | None]:
    """Start relay ``name`` in front of ``upstream``; return its port and process."""
    if name == "direct":
        return upstream, None
    port = free_port()
    if name == "inspector":
        args = [sys.executable, "-m", "inspector", "proxy", "--headless", "--listen", str(port),
                "--to", f"127.0.0.1:{upstream}"]
    elif name == "socat":
        args = ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"TCP:127.0.0.1:{upstream}"]
    elif name == "asyncio":
        args = [sys.executable, __file__, "--serve-asyncio", str(port), str(upstream)]
    else:
        raise ValueError(name)
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_listening(port, process)
    return port, process


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# ---------------------------------------------------------------------- workloads


def throughput(port: int, seconds: float) -> float:
    """MB/s of one connection streaming to the sink, counted by the sink."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"S")
        start = time.perf_counter()
        deadline = start + seconds
        sent = 0
        while time.perf_counter() < deadline:
            sock.sendall(CHUNK)
            sent += len(CHUNK)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            data = sock.recv(64)
            if not data:
                break
            reply += data
        elapsed = time.perf_counter() - start
    counted = int(reply or b"0")
    if counted != sent:
        raise RuntimeError(f"the sink counted {counted} bytes of {sent}")
    return counted / elapsed / 1e6


def round_trip(port: int, seconds: float) -> float:
    """Median seconds of a 64-byte ping-pong."""
    times = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"E")
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(times) < 10:
            start = time.perf_counter()
            sock.sendall(PING)
            got = 0
            while got < len(PING):
                data = sock.recv(len(PING) - got)
                if not data:
                    raise RuntimeError("the echo closed")
                got += len(data)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per relay and workload")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all relays (medians shown)")
    parser.add_argument("--relay", action="append", choices=["inspector", "socat", "asyncio"],
                        help="only these relays (default: all)")
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-asyncio", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_upstream:
        serve_upstream()
        return 0
    if args.serve_asyncio:
        serve_asyncio_relay(*args.serve_asyncio)
        return 0
    relays = args.relay or ["inspector", "socat", "asyncio"]
    if "socat" in relays and shutil.which("socat") is None:
        print("socat not found (Debian package socat): skipped", file=sys.stderr)
        relays.remove("socat")
    upstream_process = subprocess.Popen([sys.executable, __file__, "--serve-upstream"],
                                        stdout=subprocess.PIPE, text=True)
    names = ["direct", *relays]
    rates: dict[str, list[float]] = {name: [] for name in names}
    rtts: dict[str, list[float]] = {name: [] for name in names}
    processes: list[subprocess.Popen | None] = []
    try:
        assert upstream_process.stdout is not None
        upstream = int(upstream_process.stdout.readline())
        ports = {}
        for name in names:
            ports[name], process = start_relay(name, upstream)
            processes.append(process)
        # Rounds interleave the relays, so a burst of load from elsewhere on the machine
        # hits them all; the table shows each one's median over the rounds.
        share = args.seconds / args.rounds / 2
        for _ in range(args.rounds):
            for name in names:
                rates[name].append(throughput(ports[name], share))
                rtts[name].append(round_trip(ports[name], share))
    finally:
        for process in processes:
            stop(process)
        stop(upstream_process)
    results = {name: (statistics.median(rates[name]), statistics.median(rtts[name])) for name in names}
    base_rtt = results["direct"][1]
    print(f"proxy benchmark: {args.seconds:g} s per relay and workload in {args.rounds} rounds (medians), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}")
    print(f"{'relay':<12}{'throughput MB/s':>17}{'round trip µs':>16}{'added µs':>11}")
    for name, (rate, rtt) in results.items():
        added = "" if name == "direct" else f"{(rtt - base_rtt) * 1e6:.0f}"
        print(f"{name:<12}{rate:>17.1f}{rtt * 1e6:>16.0f}{added:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
