"""Dissectors on live connections (``inspector.dissect.live``): the raw entries decode both
directions with the chosen dissector, and the trace gets each message on the right
connection and direction, on every reactor, against plain-socket peers."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

import inspector.trace as trace_module
from inspector import catalog, dissect
from inspector.catalog.model import ParameterError
from inspector.defer import Deferred
from inspector.dissect import live
from inspector.dissect.base import Message
from inspector.trace import events as ev
from inspector.trace.recording import load

from reactor_support import run_reactor_until

CHILD_ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
if "," in CHILD_ENV.get("INSPECTOR_REACTOR", ""):
    del CHILD_ENV["INSPECTOR_REACTOR"]  # the suite takes a list; the command one name


class PlainServer:
    """One TCP connection on a plain socket: sends ``greeting``, reads until the client
    shuts down its side, then sends ``reply`` and closes."""

    def __init__(self, greeting: bytes, reply: bytes = b"") -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.reply = reply
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(20)
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(20)
            conn.sendall(self.greeting)
            while chunk := conn.recv(4096):
                self.received += chunk
            conn.sendall(self.reply)
        self.sock.close()


@pytest.fixture
def tracer() -> Iterator[Any]:
    tracer = trace_module.enable()
    try:
        yield tracer
    finally:
        trace_module.disable()


def messages_of(tracer: Any, port: int) -> tuple[int, list[tuple[str, str, str]]]:
    """The id of the client connection to ``port`` and its messages (direction, kind, text)."""
    tracer.sync()
    events = tracer.trace.events()
    opened = {e.conn for e in events if isinstance(e, ev.ConnectionOpened) and e.peer.endswith(f":{port}")}
    assert len(opened) == 1, opened
    (conn,) = opened
    return conn, [(e.direction, e.message_kind, e.text) for e in events
                  if isinstance(e, ev.ProtocolMessage) and e.conn == conn]


def test_raw_client_messages_reach_the_trace_on_their_connection(reactor: Any, tracer: Any) -> None:
    server = PlainServer(b"hello\r\nwor", b"ld\n3:abc,tail")

    def go() -> Deferred:
        handle = catalog.find("raw", "client", "tcp").start(reactor, port=server.port, dissector="lines")
        handle.send_line("ping")
        handle.close()
        return handle.done

    run_reactor_until(reactor, go)
    server.thread.join(5)
    assert server.received == b"ping\n"
    conn, messages = messages_of(tracer, server.port)
    assert conn > 0
    # "hello" may arrive before or after "ping" is sent: compare each direction in order.
    assert [m for m in messages if m[0] == "out"] == [("out", "line", "ping")]
    assert [m for m in messages if m[0] == "in"] == [
        ("in", "line", "hello"), ("in", "line", "world"), ("in", "line", "3:abc,tail (no line ending)")]


def test_the_default_dissector_is_raw_one_message_per_chunk(reactor: Any, tracer: Any) -> None:
    server = PlainServer(b"", b"\x00\x01")

    def go() -> Deferred:
        handle = catalog.find("raw", "client", "tcp").start(reactor, port=server.port, line_end="")
        handle.send_line("AB")
        handle.close()
        return handle.done

    run_reactor_until(reactor, go)
    _, messages = messages_of(tracer, server.port)
    assert messages == [("out", "data", "2 bytes: 41 42"), ("in", "data", "2 bytes: 00 01")]


def test_raw_listener_decodes_each_accepted_connection(reactor: Any, tracer: Any) -> None:
    def client(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"5:hello,")
            data = b"x"
            while data and not data.endswith(b","):  # the answer, or the end (bounded by the timeout)
                data = sock.recv(100)

    def go() -> Deferred:
        handle = catalog.find("raw", "server", "tcp").start(
            reactor, port=0, dissector="netstrings", line_end="")
        arrived: Deferred = Deferred()
        handle.on_output(lambda line: arrived.called or arrived.callback(line))
        threading.Thread(target=client, args=(handle.address.port,), daemon=True).start()

        def answer(_: str) -> Deferred:
            handle.send_line("2:ok,")
            return handle.stop()

        return arrived.addCallback(answer)

    run_reactor_until(reactor, go)
    tracer.sync()
    events = tracer.trace.events()
    accepted = {e.conn for e in events if isinstance(e, ev.ConnectionOpened) and e.role == "server"}
    assert len(accepted) == 1
    got = [(e.conn, e.direction, e.message_kind, e.text) for e in events if isinstance(e, ev.ProtocolMessage)]
    (conn,) = accepted
    assert got == [(conn, "in", "netstring", "5 bytes: hello"), (conn, "out", "netstring", "2 bytes: ok")]


def test_raw_udp_decodes_datagrams_on_the_udp_port(reactor: Any, tracer: Any) -> None:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(20)
    port = peer.getsockname()[1]

    def answer() -> None:
        data, addr = peer.recvfrom(100)
        peer.sendto(b"PONG " + data, addr)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()

    def go() -> Deferred:
        handle = catalog.find("raw", "client", "udp").start(
            reactor, host="127.0.0.1", port=port, dissector="lines", timeout=5.0)
        replied: Deferred = Deferred()
        handle.on_output(lambda line: replied.called or replied.callback(line))
        handle.send_line("x")
        return replied.addCallback(lambda _: handle.stop())

    try:
        run_reactor_until(reactor, go)
    finally:
        thread.join(5)
        peer.close()
    tracer.sync()
    events = tracer.trace.events()
    udp = list({e.conn for e in events if isinstance(e, ev.ConnectionOpened) and e.transport == "udp"})
    got = [(e.conn, e.direction, e.text) for e in events if isinstance(e, ev.ProtocolMessage)]
    assert len(udp) == 1 and got == [(udp[0], "out", "x"), (udp[0], "in", "PONG x")]


class Exploding:
    """A plug-in-like dissector with a bug: it raises on its second chunk."""

    def __init__(self) -> None:
        self.calls = 0

    def feed(self, direction: str, data: bytes) -> list[Message]:
        self.calls += 1
        if self.calls > 1:
            raise ZeroDivisionError("a bug in the plug-in")
        return [Message("chunk", data.decode(), {}, direction)]  # type: ignore[arg-type]

    def flush(self) -> list[Message]:
        return []


def test_a_dissector_that_raises_is_reported_once_and_the_protocol_goes_on(
        reactor: Any, tracer: Any, caplog: pytest.LogCaptureFixture) -> None:
    dissect.register("test-exploding", Exploding, replace=True)
    server = PlainServer(b"", b"after")
    output: list[str] = []

    def go() -> Deferred:
        handle = catalog.find("raw", "client", "tcp").start(
            reactor, port=server.port, dissector="test-exploding", line_end="")
        handle.on_output(output.append)
        handle.send_line("one")
        handle.send_line("two")
        handle.send_line("three")
        handle.close()
        return handle.done

    with caplog.at_level(logging.ERROR, logger="inspector.dissect"):
        run_reactor_until(reactor, go)
    server.thread.join(5)
    assert server.received == b"onetwothree"  # sending went on
    assert output == ["after"]  # and so did showing what arrives
    _, messages = messages_of(tracer, server.port)
    assert messages == [("out", "chunk", "one"), (
        "out", "error", "dissector 'test-exploding' failed: ZeroDivisionError: a bug in the plug-in")]
    failures = [r for r in caplog.records if "test-exploding" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None  # logged once, with its traceback


def test_tracing_off_feeds_nothing() -> None:
    """Off, feed is one ``is None`` check: the dissector is never called."""
    assert live._tracer is None
    exploding = Exploding()
    watcher = live.LiveDissector(object(), exploding)  # type: ignore[arg-type]
    for _ in range(3):
        watcher.feed("in", b"x")
    watcher.flush()
    assert exploding.calls == 0 and not watcher.failed


def test_an_unknown_dissector_is_a_clear_parameter_error() -> None:
    entry = catalog.find("raw", "client", "tcp")
    with pytest.raises(ParameterError, match=r"^dissector: no dissector named 'sip' \(there are: .*lines.*\)$"):
        entry.validate({"port": "1", "dissector": "sip"})
    assert entry.validate({"port": "1"})["dissector"] == "raw"


def test_connect_raw_with_an_unknown_dissector_says_so_on_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "inspector", "connect", "raw", "--port", "1", "--dissector", "sip"],
        capture_output=True, text=True, timeout=60, env=CHILD_ENV, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if "sip" in line]
    assert len(errors) == 1 and "no dissector named 'sip'" in errors[0] and "lines" in errors[0]
    assert "Traceback" not in done.stderr


def test_connect_raw_headless_records_the_decoded_messages(tmp_path: Path) -> None:
    server = PlainServer(b"first\r\nsecond\n", b"")
    record = tmp_path / "raw.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "inspector", "--record", str(record), "connect", "raw",
         "--host", "127.0.0.1", "--port", str(server.port), "--dissector", "lines"],
        input="hi there\n", capture_output=True, text=True, timeout=60, env=CHILD_ENV)
    server.thread.join(5)
    assert done.returncode == 0, done.stderr
    assert "first" in done.stdout and server.received == b"hi there\n"
    trace = load(record)
    (conn,) = trace.connections.values()
    assert [(m.direction, m.message_kind, m.text) for m in conn.messages] == [
        ("in", "line", "first"), ("in", "line", "second"), ("out", "line", "hi there")] or \
        [(m.direction, m.message_kind, m.text) for m in conn.messages] == [
        ("out", "line", "hi there"), ("in", "line", "first"), ("in", "line", "second")]


def test_connect_raw_with_a_plugin_dissector_from_its_entry_point(tmp_path: Path) -> None:
    """A dissector installed as a distribution (a real .dist-info entry point) is a
    valid --dissector, and its messages are what the recording holds."""
    from test_dissect import install_plugins

    site = tmp_path / "site"
    install_plugins(site)
    server = PlainServer(b"quiet please\n", b"")
    record = tmp_path / "shout.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "inspector", "--record", str(record), "connect", "raw",
         "--host", "127.0.0.1", "--port", str(server.port), "--dissector", "shout"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={**CHILD_ENV, "PYTHONPATH": str(site)})
    server.thread.join(5)
    assert done.returncode == 0, done.stderr
    (conn,) = load(record).connections.values()
    assert [(m.direction, m.message_kind, m.text) for m in conn.messages] == [("in", "shout", "QUIET PLEASE")]
