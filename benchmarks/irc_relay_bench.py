"""IRC server relay throughput: our IRC server against Twisted's ``twisted.words`` server.

Run: ``python benchmarks/irc_relay_bench.py`` (about half a minute). Each server runs
in its own process (pinned to CPU 0 when there are two CPUs); a raw-socket driver in
this process (CPU 1) registers ``RECEIVERS`` clients plus one sender in one channel,
the sender writes ``MESSAGES`` PRIVMSG lines as fast as the server takes them, and the
clock stops when every receiver has read every line. The table shows relayed lines
per second (median of the rounds) and the ratio (ours / Twisted's; above 1.0 means
we relay faster).

Our server runs with its flood limit raised out of the way (Twisted's has none), on
the selectors reactor; Twisted's on its default (epoll) reactor.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import subprocess
import sys
import time

RECEIVERS = 8
MESSAGES = 20000
ROUNDS = 3
CHANNEL = b"#bench"


def serve_ours(port: int) -> None:
    import logging

    from inspector.protocols.irc import IRCServerFactory
    from inspector.reactors import create

    reactor = create("selectors")
    # Slow-callback detection stays on, as by default; its warnings (a 256 KiB read
    # relays thousands of lines in one callback) would only clutter the table.
    logging.getLogger("inspector").setLevel(logging.ERROR)
    factory = IRCServerFactory(reactor, flood_burst=10**9, flood_rate=1e9, max_send_queue=1 << 30)
    reactor.listenTCP(port, factory, backlog=64, interface="127.0.0.1")
    reactor.run()


def serve_twisted(port: int) -> None:
    from twisted.cred import checkers, portal
    from twisted.internet import reactor
    from twisted.words import service

    realm = service.InMemoryWordsRealm("bench.local")
    realm.createGroupOnRequest = True
    realm.createUserOnRequest = True
    checker = checkers.InMemoryUsernamePasswordDatabaseDontUse()
    for index in range(RECEIVERS + 1):
        checker.addUser(f"u{index}", "pw")
    reactor.listenTCP(port, service.IRCFactory(realm, portal.Portal(realm, [checker])), interface="127.0.0.1")
    reactor.run()


SERVERS = {"inspector": serve_ours, "twisted.words": serve_twisted}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {cpu})


def _read_until(sock: socket.socket, marker: bytes, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}: {data[-300:]!r}")
        data += chunk
    return data


def _join(port: int, index: int) -> socket.socket:
    deadline = time.monotonic() + 10
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port))
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    nick = f"u{index}".encode()
    sock.sendall(b"PASS pw\r\nNICK " + nick + b"\r\nUSER " + nick + b" 0 * :bench\r\n")
    _read_until(sock, b" 001 ")
    sock.sendall(b"JOIN " + CHANNEL + b"\r\n")
    _read_until(sock, b" 366 ")
    return sock


def measure(port: int) -> float:
    """Relayed lines per second for one round against the server on ``port``."""
    receivers = [_join(port, index) for index in range(1, RECEIVERS + 1)]
    sender = _join(port, 0)
    time.sleep(0.2)  # let the JOIN echoes of later joiners reach earlier receivers
    for sock in receivers:
        sock.setblocking(False)
        try:
            while sock.recv(65536):
                pass
        except BlockingIOError:
            pass
    sender.setblocking(False)
    payload = b"".join(b"PRIVMSG #bench :message number %d\r\n" % i for i in range(MESSAGES))
    view = memoryview(payload)
    selector = selectors.DefaultSelector()
    counts = {sock: 0 for sock in receivers}
    tails = {sock: b"" for sock in receivers}
    for sock in receivers:
        selector.register(sock, selectors.EVENT_READ)
    selector.register(sender, selectors.EVENT_WRITE)
    sent = 0
    done = 0
    start = time.perf_counter()
    deadline = start + 60
    while done < RECEIVERS:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {sum(counts.values())} of {MESSAGES * RECEIVERS} lines arrived")
        for key, _ in selector.select(1.0):
            sock = key.fileobj
            if sock is sender:
                try:
                    sent += sender.send(view[sent : sent + 262144])
                except BlockingIOError:
                    continue
                if sent == len(payload):
                    selector.unregister(sender)
                continue
            data = sock.recv(262144)
            if not data:
                raise ConnectionError("a receiver was closed")
            data = tails[sock] + data
            counts[sock] += data.count(b"\n")
            tails[sock] = data[data.rfind(b"\n") + 1 :]
            if counts[sock] >= MESSAGES:
                selector.unregister(sock)
                done += 1
    elapsed = time.perf_counter() - start
    selector.close()
    for sock in [sender, *receivers]:
        sock.close()
    return MESSAGES * RECEIVERS / elapsed


def run_server(name: str, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--serve", name, str(port)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs=2, metavar=("NAME", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    if args.serve:
        _pin(0)
        SERVERS[args.serve[0]](int(args.serve[1]))
        return
    _pin(1)
    results: dict[str, list[float]] = {name: [] for name in SERVERS}
    ratios = []
    for _ in range(args.rounds):
        round_result = {}
        for name in SERVERS:
            port = _free_port()
            process = run_server(name, port)
            try:
                round_result[name] = measure(port)
            finally:
                process.terminate()
                process.wait(timeout=10)
            results[name].append(round_result[name])
        ratios.append(round_result["inspector"] / round_result["twisted.words"])
    print(f"relay: {RECEIVERS} receivers x {MESSAGES} PRIVMSG lines, median of {args.rounds} rounds")
    print(f"{'server':16} {'lines/s':>10}")
    for name, values in results.items():
        print(f"{name:16} {statistics.median(values):10.0f}")
    print(f"{'ratio (ours/Twisted)':24} {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
