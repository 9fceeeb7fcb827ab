"""Talk raw: the raw TCP client, TCP listener and UDP client against plain sockets,
in-process on every reactor and as ``inspector connect raw`` / ``inspector serve raw``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import pytest

from inspector import catalog
from inspector.catalog.raw import typed_bytes
from inspector.defer import Deferred

from reactor_support import run_reactor_until

CHILD_ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
if "," in CHILD_ENV.get("INSPECTOR_REACTOR", ""):
    del CHILD_ENV["INSPECTOR_REACTOR"]  # the suite takes a list; the command one name

REPLY = b"\x00\x1b]0;pwned\x07hi\xff\n"  # NUL, a retitle sequence, a byte that is not UTF-8


def test_typed_text_escapes_and_hex() -> None:
    assert typed_bytes("a\\tb\\x00\\\\c\\r\\n") == b"a\tb\x00\\c\r\n"
    assert typed_bytes("GET /", line_end="\\r\\n") == b"GET /\r\n"
    assert typed_bytes("48 69 0d0a", hex_mode=True, line_end="\\n") == b"Hi\r\n"
    with pytest.raises(ValueError, match="unknown escape"):
        typed_bytes("\\q")
    with pytest.raises(ValueError, match="not hex"):
        typed_bytes("4g", hex_mode=True)


class PlainServer:
    """One TCP connection on a plain socket: records what arrives until the client
    shuts down its side, then answers ``reply`` and closes."""

    def __init__(self, reply: bytes) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(20)
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(20)
            while chunk := conn.recv(4096):
                self.received += chunk
            conn.sendall(self.reply)
        self.sock.close()


def test_raw_client_sends_escapes_and_hex_and_shows_binary_replies(reactor: Any) -> None:
    server = PlainServer(REPLY)
    lines: list[str] = []

    def go() -> Deferred:
        text = catalog.find("raw", "client", "tcp").start(reactor, port=server.port, line_end="")
        text.on_output(lines.append)
        text.send_line("a\\tb\\x00\\\\")
        text.send_line("\\r\\n")
        text.close()
        return text.done

    assert run_reactor_until(reactor, go) is None  # the server closed cleanly
    server.thread.join(5)
    assert server.received == b"a\tb\x00\\\r\n"
    assert "".join(lines) == "\\x00\\x1b]0;pwned\\x07hi\\xff"  # every byte, controls shown escaped


def test_raw_client_hex_mode(reactor: Any) -> None:
    server = PlainServer(b"\x01\x02\xfe")
    lines: list[str] = []

    def go() -> Deferred:
        handle = catalog.find("raw", "client", "tcp").start(reactor, port=server.port, hex=True)
        handle.on_output(lines.append)
        handle.send_line("de ad be ef")
        handle.close()
        return handle.done

    run_reactor_until(reactor, go)
    server.thread.join(5)
    assert server.received == b"\xde\xad\xbe\xef"
    assert lines == ["01 02 fe"]


def test_raw_listener_shows_arrivals_and_sends_typed_lines(reactor: Any) -> None:
    got: dict[str, bytes] = {}

    def client(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"hello\x00\xff\n")
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = sock.recv(100)
                if not chunk:
                    break
                data += chunk
            got["reply"] = data

    def go() -> Deferred:
        handle = catalog.find("raw", "server", "tcp").start(reactor, port=0, line_end="\\r\\n")
        arrived: Deferred = Deferred()
        handle.on_output(lambda line: arrived.called or arrived.callback(line))
        thread = threading.Thread(target=client, args=(handle.address.port,), daemon=True)
        thread.start()

        def answer(line: str) -> Deferred:
            got["line"] = line.encode("utf-8")
            handle.send_line("ok\\x01")
            return reactor_wait(thread).addCallback(lambda _: handle.stop())

        return arrived.addCallback(answer)

    def reactor_wait(thread: threading.Thread) -> Deferred:
        return run_in_thread(reactor, thread.join, 20)

    run_reactor_until(reactor, go, timeout=30)
    assert got["line"].startswith(b"127.0.0.1:") and got["line"].endswith(b": hello\\x00\\xff")
    assert got["reply"] == b"ok\x01\r\n"


def run_in_thread(reactor: Any, fn: Any, *args: Any) -> Deferred:
    """A Deferred fired on the reactor thread once ``fn(*args)`` returned in another thread."""
    d: Deferred = Deferred()

    def work() -> None:
        fn(*args)
        reactor.callFromThread(d.callback, None)

    threading.Thread(target=work, daemon=True).start()
    return d


def test_raw_listener_refuses_to_send_without_a_connection(reactor: Any) -> None:
    def go() -> Any:
        handle = catalog.find("raw", "server", "tcp").start(reactor, port=0)
        failed = handle.send_line("x").addErrback(lambda reason: reason.getErrorMessage())
        return failed.addCallback(lambda message: handle.stop().addCallback(lambda _: message))

    assert "no open connection to send to" in run_reactor_until(reactor, go)


def udp_echo() -> tuple[socket.socket, Callable[[], None]]:
    """A plain UDP socket answering each datagram with b">" and the datagram, and how to
    stop it: its thread ends before its socket closes. (A thread still polling a closed
    descriptor number grabs whatever file takes that number next -- a later test's pipe
    to a child -- and holds it open until its poll times out.)"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                data, addr = sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            sock.sendto(b">" + data, addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(5)
        sock.close()

    return sock, stop


def test_raw_udp_sends_datagrams_and_shows_replies(reactor: Any) -> None:
    sock, stop = udp_echo()
    port = sock.getsockname()[1]
    lines: list[str] = []
    try:
        def go() -> Deferred:
            handle = catalog.find("raw", "client", "udp").start(reactor, port=port, line_end="")
            both: Deferred = Deferred()

            def seen(line: str) -> None:
                lines.append(line)
                if len(lines) == 2 and not both.called:
                    both.callback(None)

            handle.on_output(seen)
            handle.send_line("ping\\x00")
            handle.send_line("pong\\n")
            return both.addCallback(lambda _: handle.stop())

        run_reactor_until(reactor, go)
    finally:
        stop()
    assert sorted(lines) == sorted([f"127.0.0.1:{port}: >ping\\x00", f"127.0.0.1:{port}: >pong"])


def inspector(*args: str, stdin: bytes = b"", timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "inspector", *args], input=stdin, capture_output=True,
                          timeout=timeout, env=CHILD_ENV)


def test_connect_raw_is_netcat_with_escapes() -> None:
    server = PlainServer(REPLY)
    done = inspector("connect", "raw", "--port", str(server.port), "--line-end", "\\r\\n",
                     stdin=b"GET / HTTP/1.0\nnul\\x00\n")
    server.thread.join(5)
    assert done.returncode == 0, done.stderr
    assert server.received == b"GET / HTTP/1.0\r\nnul\x00\r\n"
    # Printed escaped: the terminal is never retitled by the peer.
    assert done.stdout == b"\\x00\\x1b]0;pwned\\x07hi\\xff\n"


def test_connect_raw_hex_and_failure() -> None:
    server = PlainServer(b"\x00\xff")
    done = inspector("connect", "raw", "--port", str(server.port), "--hex", stdin=b"00 ff 41\n")
    server.thread.join(5)
    assert (done.returncode, server.received, done.stdout) == (0, b"\x00\xffA", b"00 ff\n")
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]
    refused = inspector("connect", "raw", "--port", str(closed_port))
    assert refused.returncode == 1 and b"refused" in refused.stderr


def test_connect_raw_udp() -> None:
    sock, stop = udp_echo()
    try:
        port = sock.getsockname()[1]
        done = inspector("connect", "raw", "--transport", "udp", "--port", str(port), stdin=b"hey\n")
    finally:
        stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"127.0.0.1:{port}: >hey\n".encode()


def test_serve_raw_logs_what_arrives() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-m", "inspector", "serve", "raw", "--port", str(port)],
                             stderr=subprocess.PIPE, env=CHILD_ENV)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "inspector serve raw never listened"
                time.sleep(0.1)
        with sock:
            sock.sendall(b"knock\x1b[2J\n")
            time.sleep(0.5)
        time.sleep(0.5)
    finally:
        child.terminate()
        _, err = child.communicate(timeout=20)
    assert child.returncode == 0, err
    assert b": knock\\x1b[2J" in err  # logged, escaped for the terminal
