"""At the descriptor limit a listening port backs off instead of spinning (issue 13, item 1).

A listening socket with connections queued stays readable while ``accept`` fails with
EMFILE, so a server that keeps watching it spins at 100% CPU and logs every failure.
These tests run out of descriptors for real: ``inspector serve echo`` under a low
``RLIMIT_NOFILE`` in a child process, and an in-process port with the soft limit
lowered to the lowest free descriptor for a moment. Both on every reactor.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from inspector.defer import Deferred
from inspector.protocol import ClientFactory, Protocol
from inspector.protocols.echo import EchoFactory

CHILD_LIMIT = 64  # descriptors the child server may have open
CLIENTS = 100  # connections opened against it: more than it can hold
EXHAUSTED = re.compile(r"(?i)too many open files")


def _child_env() -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("INSPECTOR_REACTOR", None)
    return env


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Server:
    """``inspector serve echo`` in a child limited to CHILD_LIMIT descriptors; its log collected."""

    def __init__(self, reactor_name: str) -> None:
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (CHILD_LIMIT, CHILD_LIMIT))

        self.proc = subprocess.Popen(
            # The connection cap (below the descriptor limit by default) would refuse the
            # extra clients before descriptors run out, and whether they ran out would
            # then depend on how many refusals landed in one loop turn: lift it.
            [sys.executable, "-m", "inspector", "serve", "echo", "--port", "0", "--reactor", reactor_name,
             "--max-connections", str(CLIENTS * 2)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=_child_env(), preexec_fn=limit,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def matching(self, pattern: re.Pattern[str] | str) -> list[str]:
        return [line for line in list(self.lines) if re.search(pattern, line)]

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(pattern)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited ({self.proc.returncode}):\n" + "\n".join(self.lines[-30:]))
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} in the log after {timeout} s:\n" + "\n".join(self.lines[-30:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads CPU time from /proc")
@pytest.mark.parametrize("reactor_name", ["selectors", "asyncio", "qt"])
def test_serve_echo_at_the_descriptor_limit_backs_off_logs_once_and_recovers(reactor_name: str) -> None:
    server = _Server(reactor_name)
    clients: list[socket.socket] = []
    try:
        line = server.wait_for(r"listening on 127\.0\.0\.1:\d+")
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        for _ in range(CLIENTS):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            clients.append(sock)
        server.wait_for(EXHAUSTED)

        # Saturated: connections are queued that the server cannot take. It must sit idle.
        before = _cpu_seconds(server.proc.pid)
        time.sleep(1.5)
        used = _cpu_seconds(server.proc.pid) - before
        complaints = server.matching(EXHAUSTED)
        assert len(complaints) <= 3, f"{len(complaints)} lines about the limit, e.g. {complaints[:3]}"
        assert used < 0.3, f"the server used {used:.2f} s of CPU in 1.5 s while it could not accept"
        warning = complaints[0]
        assert f"not accepting on 127.0.0.1:{port} for now" in warning, warning

        # Descriptors come back when the clients leave: the server accepts again and says so.
        for sock in clients:
            sock.close()
        clients.clear()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"are you back?\r\n")
            sock.settimeout(10)
            assert sock.recv(100) == b"are you back?\r\n"
        server.wait_for(rf"accepting on 127\.0\.0\.1:{port} again after [\d.]+ s \(\d+ accept attempts failed")
        # One episode: one warning when it started, one line when it ended.
        assert len(server.matching("not accepting on")) == 1, server.matching(EXHAUSTED)
        assert len(server.matching(EXHAUSTED)) == 2, server.matching(EXHAUSTED)
    finally:
        for sock in clients:
            sock.close()
        server.stop()


def _lowest_free_fd() -> int:
    fd = os.dup(0)
    os.close(fd)
    return fd


class _Pinger(Protocol):
    def __init__(self, done: Deferred) -> None:
        self.done = done
        self.got = b""

    def connectionMade(self) -> None:
        self.transport.write(b"ping")

    def dataReceived(self, data: bytes) -> None:
        self.got += data
        if self.got == b"ping" and not self.done.called:
            self.done.callback(self.got)
            self.transport.loseConnection()


class _PingFactory(ClientFactory):
    def __init__(self, done: Deferred) -> None:
        self.done = done

    def buildProtocol(self, addr: Any) -> Protocol:
        return _Pinger(self.done)

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        if not self.done.called:
            self.done.errback(reason)


def test_port_out_of_descriptors_tries_rarely_and_stop_listening_cancels_the_retry(reactor, run, caplog) -> None:
    """In process: while accept fails with EMFILE the port tries a handful of times a
    second, not thousands; it accepts again once descriptors are free; and stopping a
    port during a back-off leaves no retry timer behind."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    port = reactor.listenTCP(0, EchoFactory())
    port.accept_calm = 0.1  # the episode ends 0.1 s after accepts work again
    address = ("127.0.0.1", port.getHost().port)
    waiting = [socket.create_connection(address, timeout=5) for _ in range(3)]
    real_accept = port._accept
    attempts = [0]

    def counting_accept() -> Any:
        attempts[0] += 1
        return real_accept()

    port._accept = counting_accept
    restored = [False]

    def restore() -> None:
        if not restored[0]:
            restored[0] = True
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    def scenario() -> Deferred:
        done: Deferred = Deferred()

        def guarded(step: Any) -> Any:
            """Run ``step``; a failed check ends the test at once instead of timing out."""

            def call(*args: Any) -> None:
                try:
                    step(*args)
                except BaseException:
                    restore()
                    if not done.called:
                        done.errback()

            return call

        # From here on no new descriptor can be made: every accept fails with EMFILE.
        resource.setrlimit(resource.RLIMIT_NOFILE, (_lowest_free_fd(), hard))

        def saturated() -> None:
            restore()
            tries = attempts[0]
            assert 1 <= tries <= 10, f"{tries} accept attempts in 1 s out of descriptors"
            ping: Deferred = Deferred()
            reactor.connectTCP(*address, _PingFactory(ping), timeout=5)
            ping.addCallback(guarded(recovered))
            ping.addErrback(done.errback)

        def recovered(reply: bytes) -> None:
            assert reply == b"ping"
            reactor.callLater(0.3, guarded(exhaust_again))

        def exhaust_again() -> None:
            # One more connection waits while descriptors run out again; the port is
            # stopped in the middle of the back-off that follows.
            extra.append(socket.create_connection(address, timeout=5))
            restored[0] = False
            resource.setrlimit(resource.RLIMIT_NOFILE, (_lowest_free_fd(), hard))
            reactor.callLater(0.2, guarded(stop_during_backoff))

        def stop_during_backoff() -> None:
            restore()
            port.stopListening()
            leftover = [c for c in reactor.getDelayedCalls() if getattr(c.func, "__self__", None) is port]
            assert leftover == [], f"the stopped port still has {leftover}"
            done.callback(None)

        reactor.callLater(1.0, guarded(saturated))
        return done

    extra: list[socket.socket] = []
    try:
        with caplog.at_level(logging.INFO, logger="inspector.tcp"):
            run(scenario, timeout=15)
    finally:
        restore()
        for sock in waiting + extra:
            sock.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "inspector.tcp"]
    starts = [m for m in messages if "not accepting on" in m]
    assert starts and starts[0].startswith("too many open files: not accepting on 127.0.0.1:"), messages
    resumed = [m for m in messages if re.search(r"accepting on 127\.0\.0\.1:\d+ again after", m)]
    # Two episodes, the second cut short by stopListening: two warnings, one resumption.
    assert (len(starts), len(resumed), len(messages)) == (2, 1, 3), messages
