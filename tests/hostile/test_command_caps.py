"""The connection caps as users run them: ``inspector serve`` (issue 13, item 1).

The echo, QOTD and finger factories have a cap; these tests check that the command line
offers it and that, when not given, the IRC server's cap stays below the process's
descriptor limit, so a client over the limit is told so instead of waiting in the
listen queue while ``accept`` fails.
"""

from __future__ import annotations

import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time

import pytest

from inspector.endpoints import serverFromString
from inspector.protocols.echo import EchoUDP


class _Serve:
    """``inspector serve ...`` in a child process, its stderr collected line by line."""

    def __init__(self, *args: str, nofile: int | None = None) -> None:
        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        env.pop("INSPECTOR_REACTOR", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "serve", *args, "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env, preexec_fn=limit,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def port(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
                if found:
                    return int(found.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited ({self.proc.returncode}):\n" + "\n".join(self.lines))
            time.sleep(0.02)
        raise AssertionError("the server never said where it listens:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _closed_at_once(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True when the server closes ``sock`` without sending anything."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.mark.parametrize("protocol", ["echo", "qotd", "finger"])
def test_serve_max_connections_refuses_the_one_over_the_cap(protocol: str) -> None:
    """``--max-connections 2``: two clients are served, a third is closed at once."""
    server = _Serve(protocol, "--max-connections", "2")
    try:
        port = server.port()
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        if protocol == "echo":
            held[0].sendall(b"ping")
            assert held[0].recv(4) == b"ping"
        time.sleep(0.2)  # the two are counted before the third arrives
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            if protocol == "finger":  # finger tells the refused client why, then closes
                extra.settimeout(5)
                assert b"too many connections" in extra.recv(200)
            else:
                assert _closed_at_once(extra)
        finally:
            extra.close()
            for sock in held:
                sock.close()
    finally:
        server.stop()


def test_serve_irc_cap_stays_below_the_descriptor_limit() -> None:
    """Under ``ulimit -n 64`` every IRC client is registered or refused with ERROR; none hangs."""
    server = _Serve("irc", nofile=64)
    clients: list[socket.socket] = []
    try:
        port = server.port()
        outcomes: list[str] = []
        for number in range(60):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            clients.append(sock)
            sock.sendall(f"NICK n{number}\r\nUSER u 0 * :u\r\n".encode())
        for sock in clients:
            sock.settimeout(5)
            seen = b""
            try:
                while b" 001 " not in seen and b"ERROR" not in seen:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    seen += chunk
            except socket.timeout:
                pass
            outcomes.append("welcomed" if b" 001 " in seen else "refused" if b"ERROR" in seen else "hung")
        assert "hung" not in outcomes, outcomes.count("hung")
        assert "refused" in outcomes  # the cap, not the descriptor limit, turned the rest away
    finally:
        for sock in clients:
            sock.close()
        server.stop()


def _round_trip(port: int, payload: bytes) -> bytes:
    """Send ``payload`` as one datagram from a plain socket and return the reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.settimeout(5)
        peer.sendto(payload, ("127.0.0.1", port))
        return peer.recv(70000)


def test_udp_endpoint_reads_whole_large_datagrams(reactor, run) -> None:
    """A ``udp:`` endpoint string reads up to 65,535 bytes by default, like listenUDP."""
    from inspector.threads import deferToThreadPool

    payload = os.urandom(65507)

    def scenario():
        listening = serverFromString(reactor, "udp:0:interface=127.0.0.1").listen(EchoUDP())

        def listening_on(port):
            reply = deferToThreadPool(reactor, reactor.getThreadPool(), _round_trip, port.getHost().port, payload)
            reply.addBoth(lambda result: (port.stopListening(), result)[1])
            return reply

        return listening.addCallback(listening_on)

    echoed = run(scenario)
    assert len(echoed) == len(payload) and echoed == payload
