"""The proxy between real third-party peers, on every reactor: our IRC client and
jaraco's ``irc`` client through it to ``miniircd``, with the IRC dissector's messages
asserted on both legs in the trace; and ``inspector proxy --headless`` as a user runs
it, in front of ``socat``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest
import test_irc_interop
from proxy_support import recv_all, start_proxy

from inspector import trace
from inspector.threads import deferToThreadPool

from irc_support import RecordingClient, close_all, connect, start_peer, stop_peer
from reactor_support import free_port

PEER_DEADLINE = 8.0

miniircd = test_irc_interop.miniircd  # a miniircd on a free loopback port, killed after the test


@pytest.fixture
def tracer() -> Iterator[Any]:
    import gc

    gc.collect()  # an earlier test's garbage is not this trace's business
    made = trace.enable()
    try:
        yield made
    finally:
        trace.disable()


def _messages(tracer: Any, conn: int) -> list[tuple[str, str, str]]:
    tracer.sync()
    summary = tracer.trace.connections[conn]
    return [(m.direction, m.message_kind, m.text) for m in summary.messages]


def test_our_irc_client_through_the_proxy_to_miniircd_is_dissected_on_both_legs(
        reactor: Any, run: Any, miniircd: int, tracer: Any) -> None:
    async def scenario() -> Any:
        proxy, port = start_proxy(reactor, miniircd, dissector="irc", latency_down=0.02)
        alice = connect(reactor, port, RecordingClient("alice"))
        await alice.log.wait_for("signedOn", "alice")
        bob = connect(reactor, miniircd, RecordingClient("bob"))  # straight to the server
        await bob.log.wait_for("signedOn", "bob")
        alice.join("#proxied")
        await alice.log.wait_for("joined", "#proxied")
        bob.join("#proxied")
        await alice.log.wait_for("userJoined", "bob", "#proxied")
        bob.say("#proxied", "hello through the proxy")
        await alice.log.wait_for("privmsg", "bob", "#proxied", "hello through the proxy")
        alice.say("#proxied", "and back")
        await bob.log.wait_for("privmsg", "alice", "#proxied", "and back")
        session = proxy.sessions[0]
        await close_all(alice, bob)
        await session.closed
        await proxy.stop()
        return session

    session = run(scenario, timeout=30)
    client_leg, upstream_leg = session.conn_ids()
    seen_client = _messages(tracer, client_leg)
    seen_upstream = _messages(tracer, upstream_leg)
    # From alice, as the client leg read them; the same, written on the upstream leg.
    for direction_client, direction_upstream, kind, text in [
        ("in", "out", "NICK", "NICK alice"),
        ("in", "out", "JOIN", "JOIN #proxied"),
        ("in", "out", "PRIVMSG", "PRIVMSG #proxied :and back"),
    ]:
        assert (direction_client, kind, text) in seen_client, seen_client
        assert (direction_upstream, kind, text) in seen_upstream, seen_upstream
    # From the server: the welcome and bob's message, read upstream and written to alice.
    assert any(d == "out" and k == "001" for d, k, _ in seen_client)
    assert any(d == "in" and k == "001" for d, k, _ in seen_upstream)
    relayed = [t for d, k, t in seen_client if d == "out" and k == "PRIVMSG"]
    assert relayed and relayed[0].endswith("PRIVMSG #proxied :hello through the proxy")
    tracer.sync()
    assert tracer.trace.connections[client_leg].linked == upstream_leg


def _jaraco_session(port: int) -> dict[str, Any]:
    """jaraco's irc.client in this thread: register, join, talk, quit (bounded)."""
    import irc.client

    seen: dict[str, Any] = {"welcome": None, "joined": False, "errors": []}
    loop = irc.client.Reactor()
    conn = loop.server().connect("127.0.0.1", port, "jaraco")

    def on_welcome(c: Any, event: Any) -> None:
        seen["welcome"] = event.target
        c.join("#sliced")

    def on_join(c: Any, event: Any) -> None:
        if event.source.nick == "jaraco":
            seen["joined"] = True
            c.privmsg("#sliced", "hello in small pieces")
            c.quit("jaraco leaves")

    conn.add_global_handler("welcome", on_welcome)
    conn.add_global_handler("join", on_join)
    for code in ("nosuchnick", "unknowncommand", "notregistered", "needmoreparams", "erroneusnickname"):
        conn.add_global_handler(code, lambda c, event: seen["errors"].append(event.type))
    deadline = time.monotonic() + PEER_DEADLINE
    while conn.is_connected() and time.monotonic() < deadline:
        loop.process_once(0.05)
    seen["timed_out"] = conn.is_connected()
    conn.close()
    return seen


def test_jaraco_irc_client_through_a_slicing_proxy_to_miniircd(
        reactor: Any, run: Any, miniircd: int, tracer: Any) -> None:
    """Quirk covered: both peers' framing copes with lines arriving 5 bytes at a time."""

    async def scenario() -> Any:
        proxy, port = start_proxy(reactor, miniircd, dissector="irc", slice_size=5, slice_interval=0.0)
        watcher = connect(reactor, miniircd, RecordingClient("watcher"))
        await watcher.log.wait_for("signedOn", "watcher")
        watcher.join("#sliced")
        await watcher.log.wait_for("joined", "#sliced")
        seen = await deferToThreadPool(reactor, reactor.getThreadPool(), _jaraco_session, port)
        await watcher.log.wait_for("privmsg", "jaraco", "#sliced", "hello in small pieces")
        session = proxy.sessions[0]
        await session.closed
        await close_all(watcher)
        await proxy.stop()
        return seen, session

    seen, session = run(scenario, timeout=30)
    assert seen["welcome"] == "jaraco" and seen["joined"]
    assert seen["errors"] == [] and not seen["timed_out"]
    client_leg, upstream_leg = session.conn_ids()
    upstream = _messages(tracer, upstream_leg)
    assert ("out", "PRIVMSG", "PRIVMSG #sliced :hello in small pieces") in upstream
    assert ("out", "QUIT", "QUIT :jaraco leaves") in upstream
    assert any(d == "out" and k == "001" for d, k, _ in _messages(tracer, client_leg))


@pytest.fixture
def socat_echo() -> Iterator[int]:
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (Debian package socat)")
    port = free_port()
    process = start_peer(["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", "PIPE"], port)
    try:
        yield port
    finally:
        stop_peer(process)


def _wait_for_line(stream: Any, needle: str, timeout: float = 10.0) -> list[str]:
    """Read ``stream``'s lines until one holds ``needle`` (bounded by the process's own end)."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"no line with {needle!r} in: {''.join(lines)}")


def test_the_headless_command_in_front_of_socat(socat_echo: int, tmp_path: Any) -> None:
    listen = free_port()
    recording = tmp_path / "proxy.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "inspector", "proxy", "--headless", "--listen", str(listen),
         "--to", f"127.0.0.1:{socat_echo}", "--latency-down", "0.05", "--dissector", "lines",
         "--record", str(recording)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        _wait_for_line(process.stderr, "press Ctrl-C to stop")
        with socket.create_connection(("127.0.0.1", listen), timeout=10) as sock:
            start = time.monotonic()
            sock.sendall(b"hello socat\n")
            sock.shutdown(socket.SHUT_WR)
            echoed = recv_all(sock)
            elapsed = time.monotonic() - start
        logged = _wait_for_line(process.stderr, "session 1:")
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert echoed == b"hello socat\n" and elapsed >= 0.05
    assert process.returncode == 0, rest
    session_line = logged[-1]
    assert f"-> 127.0.0.1:{socat_echo}: 12 B up, 12 B down" in session_line
    assert "closed by the" in session_line
    opened = subprocess.run([sys.executable, "-m", "inspector", "open", str(recording)],
                            capture_output=True, text=True, timeout=30)
    assert "proxied to #" in opened.stdout and "proxied from #" in opened.stdout, opened.stdout


def test_the_command_refuses_bad_flags_with_one_line() -> None:
    for args, message in [
        (["--to", "nowhere"], "not HOST:PORT"),
        (["--to", "127.0.0.1:7000", "--dissector", "nope"], "no dissector named 'nope'"),
        (["--to", "127.0.0.1:7000", "--latency", "-1"], "expected 0 seconds or more"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "inspector", "proxy", "--headless", "--listen", "0", *args],
            capture_output=True, text=True, timeout=30,
        )
        assert done.returncode == 2
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
