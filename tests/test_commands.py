"""``inspector serve`` and ``inspector connect``, run as real subprocesses.

Servers are started headless on a free port, talked to with plain sockets, and
stopped with SIGINT or SIGTERM; the test checks the exit status and the log.
Clients are run against plain-socket servers, with lines fed on standard input.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from inspector import catalog
from inspector.cli import build_parser

from apps_support import ThreadedServer, read_until_closed


def _child_env() -> dict[str, str]:
    """The environment for ``inspector`` children: offscreen Qt, and INSPECTOR_REACTOR only
    when it names one reactor (the suite accepts a comma list; the command does not)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if "," in env.get("INSPECTOR_REACTOR", ""):
        del env["INSPECTOR_REACTOR"]
    return env


CHILD_ENV = _child_env()


def inspector(*args: str, stdin: bytes | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run ``inspector ARGS`` to completion and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        input=stdin, capture_output=True, timeout=timeout, env=CHILD_ENV,
    )


class Serving:
    """A running ``inspector serve`` whose log (standard error) is collected as it comes."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "serve", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=CHILD_ENV,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log)
            if found:
                return found
            if self.proc.poll() is not None:
                self._reader.join(2)
                found = re.search(pattern, self.log)
                if found:
                    return found
                raise AssertionError(f"serve exited ({self.proc.returncode}) before {pattern!r}:\n{self.log}")
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} in the log after {timeout} s:\n{self.log}")

    def port(self) -> int:
        return int(self.wait_for(r"listening on [\d.]+:(\d+)").group(1))

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def serving():
    started: list[Serving] = []

    def start(*args: str) -> Serving:
        proc = Serving(*args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


# ---------------------------------------------------------------------------- serve


@pytest.mark.parametrize("reactor_name", ["selectors", "asyncio", "qt"])
def test_serve_echo_logs_connections_and_stops_cleanly_on_sigint(serving, reactor_name) -> None:
    server = serving("echo", "--port", "0", "--reactor", reactor_name)
    port = server.port()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"hello, echo\r\n")
        assert sock.recv(100) == b"hello, echo\r\n"
        server.wait_for(r"echo server: connection from 127\.0\.0\.1:\d+")
        # Still connected: shutting down closes this connection.
        assert server.stop(signal.SIGINT) == 0
        assert read_until_closed(sock) == b""
    log = server.log
    assert "SIGINT received: shutting down" in log
    assert re.search(r"connection from 127\.0\.0\.1:\d+ closed", log)
    assert "stopped" in log.splitlines()[-1]
    assert "Traceback" not in log


def test_serve_finger_on_an_endpoint_stops_on_sigterm(serving) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = serving("finger", "--endpoint", f"tcp:{port}:interface=127.0.0.1")
    assert server.port() == port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"alice\r\n")
        assert read_until_closed(sock).startswith(b"Login: alice")
    assert server.stop(signal.SIGTERM) == 0
    assert "SIGTERM received" in server.log


def test_serve_qotd_over_udp_with_a_quote_file(serving, tmp_path) -> None:
    quotes = tmp_path / "quotes"
    quotes.write_text("Only this one.\n")
    server = serving("qotd", "--transport", "udp", "--port", "0", "--quote-file", str(quotes))
    port = server.port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"", ("127.0.0.1", port))
        assert sock.recvfrom(1000)[0] == b"Only this one.\r\n"
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["echo", "--port", "99999"], "port: must be between 0 and 65535"),
        (["qotd", "--quote-file", "/nonexistent"], "quote file not found: /nonexistent"),
        (["echo", "--transport", "udp", "--endpoint", "tcp:7"], "--endpoint does not apply"),
        (["echo", "--endpoint", "tcp:port=x"], "port must be a whole number"),
    ],
)
def test_serve_refuses_bad_parameters(args, message) -> None:
    done = inspector("serve", *args)
    assert done.returncode == 2
    assert message in done.stderr.decode()


def test_serve_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = inspector("serve", "echo", "--port", str(port))
    assert done.returncode == 1
    assert f"cannot start echo server: Couldn't listen on 127.0.0.1:{port}" in done.stderr.decode()


# -------------------------------------------------------------------------- connect


def echo_handler(conn: socket.socket) -> None:
    while data := conn.recv(4096):
        conn.sendall(data)


def test_connect_echo_sends_stdin_lines_and_shows_round_trips() -> None:
    with ThreadedServer(echo_handler) as server:
        done = inspector("connect", "echo", "--port", str(server.port), stdin="one\ntwo\r\nthree".encode())
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert [line.rsplit(" (", 1)[0] for line in lines] == ["one", "two", "three"]
    assert all(re.fullmatch(r".* \(\d+\.\d{3} ms\)", line) for line in lines)


def test_connect_echo_stops_cleanly_on_sigint() -> None:
    closed = threading.Event()

    def handler(conn: socket.socket) -> None:
        echo_handler(conn)
        closed.set()  # the client closed its side

    with ThreadedServer(handler) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "connect", "echo", "--port", str(server.port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=CHILD_ENV,
        )
        try:
            proc.stdin.write(b"are you there?\n")
            proc.stdin.flush()
            first = proc.stdout.readline()  # the echo: connected and working
            proc.send_signal(signal.SIGINT)  # standard input is still open
            code = proc.wait(20)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdin.close()
        log = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
        assert closed.wait(5)
    assert first.startswith(b"are you there? (")
    assert code == 0, log
    assert "SIGINT received: shutting down" in log and "Traceback" not in log


def test_connect_qotd_and_finger_print_the_answer() -> None:
    def quote(conn: socket.socket) -> None:
        conn.sendall(b"Plain sockets,\r\nplain wisdom.\r\n")

    def finger(conn: socket.socket) -> None:
        query = conn.recv(100)
        conn.sendall(b"you asked for " + query)

    with ThreadedServer(quote) as qotd, ThreadedServer(finger) as fing:
        got_quote = inspector("connect", "qotd", "--port", str(qotd.port))
        got_finger = inspector("connect", "finger", "--port", str(fing.port), "--query", "/W bob")
    assert (got_quote.returncode, got_quote.stdout) == (0, b"Plain sockets,\nplain wisdom.\n")
    assert (got_finger.returncode, got_finger.stdout) == (0, b"you asked for /W bob\n")


def test_connect_reports_failure_with_status_1() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        done = inspector("connect", "qotd", "--port", str(port))
    assert done.returncode == 1
    assert "Connection was refused" in done.stderr.decode()
    assert done.stdout == b""


def test_connect_irc_sends_stdin_to_the_channel(serving) -> None:
    server = serving("irc", "--port", "0")
    port = server.port()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as watcher:
        watcher.sendall(b"NICK watcher\r\nUSER w 0 * :Watcher\r\nJOIN #inspector\r\n")
        seen = b""
        while b"366" not in seen:  # end of NAMES: we are in the channel
            seen += watcher.recv(4096)
        done = inspector(
            "connect", "irc", "--port", str(port), "--nick", "typist",
            stdin=b"hello from stdin\n/me waves\n",
        )
        assert done.returncode == 0, done.stderr.decode()
        seen = b""
        while b"QUIT" not in seen:
            chunk = watcher.recv(4096)
            assert chunk, "server closed the watcher"
            seen += chunk
    assert b"PRIVMSG #inspector :hello from stdin\r\n" in seen
    assert b"PRIVMSG #inspector :\x01ACTION waves\x01\r\n" in seen
    assert server.stop() == 0


# ---------------------------------------------------------------------------- --help


def help_text(*args: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*args, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("role", ["server", "client"])
def test_help_lists_each_protocols_catalogue_parameters(role, capsys) -> None:
    command = "serve" if role == "server" else "connect"
    for name in catalog.names(role):
        text = help_text(command, name, capsys=capsys)
        for entry in catalog.entries():
            if (entry.name, entry.role) != (name, role):
                continue
            assert entry.transport in text
            for param in entry.params:
                assert param.option in text, f"{command} {name} --help lacks {param.option}"
                assert param.help.split(" (")[0][:25] in " ".join(text.split())
