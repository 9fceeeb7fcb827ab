"""``inspector connect`` against hostile and broken servers, run as real subprocesses.

Two families of failure. Peer text went to the terminal raw, so a server could retitle
the window, clear the screen or make the terminal type a reply: every client now shows
control characters escaped. And a failed exchange looked like success or never ended:
with standard input at its end, a refused or unresolvable client said "stopped by the
user" and exited 0, a reset or an unanswered line exited 0, and a server that accepts and
never answers held the echo and IRC clients forever. Every failure now exits 1 with the
reason on standard error, within the reply (echo) or registration (IRC) timeout.

The peers are plain-socket servers on 127.0.0.1; the failure cases run on every reactor.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from typing import Callable

import pytest
from test_commands import CHILD_ENV

from apps_support import ThreadedServer
from reactor_support import REACTOR_NAMES

#: Sets the window title to "pwned" (OSC 0, ended by BEL), then clears the screen.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J"
SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J"


def connect(*args: str, stdin: bytes = b"", timeout: float = 30) -> subprocess.CompletedProcess:
    """Run ``inspector connect ARGS`` with ``stdin`` (then end of input) to completion."""
    return subprocess.run(
        [sys.executable, "-m", "inspector", "connect", *args],
        input=stdin, capture_output=True, timeout=timeout, env=CHILD_ENV,
    )


def read_line(conn: socket.socket, buffer: bytearray) -> bytes | None:
    """The next LF-ended line from ``conn`` (None when it closes)."""
    while b"\n" not in buffer:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.rstrip(b"\r")


def wait_for_close(conn: socket.socket) -> None:
    """Read and ignore everything until the client closes (or the handler's timeout)."""
    while conn.recv(4096):
        pass


def fake_irc(script: str) -> Callable[[socket.socket], None]:
    """A handler playing an IRC server: welcomes the client, then follows ``script``.

    "hostile": sends HOSTILE in a PRIVMSG, a NOTICE and an ERROR around the JOIN, then
    waits for QUIT; "no-join": welcomes but never confirms the JOIN.
    """

    def handle(conn: socket.socket) -> None:
        buffer = bytearray()
        nick = "inspector"
        while (line := read_line(conn, buffer)) is not None:
            command, _, rest = line.decode().partition(" ")
            if command == "NICK":
                nick = rest
            elif command == "USER":
                conn.sendall(f":srv 001 {nick} :Welcome\r\n:srv 422 {nick} :No MOTD\r\n".encode())
            elif command == "JOIN" and script == "hostile":
                channel = rest.split()[0]
                conn.sendall(
                    f":evil!e@h PRIVMSG {channel} :{HOSTILE}\r\n"
                    f":evil!e@h NOTICE {channel} :{HOSTILE}\r\n"
                    f":{nick}!u@h JOIN {channel}\r\n".encode()
                )
            elif command == "QUIT":
                conn.sendall(f"ERROR :Closing link {HOSTILE}\r\n".encode())
                return

    return handle


def hostile_echo(conn: socket.socket) -> None:
    buffer = bytearray()
    while read_line(conn, buffer) is not None:
        conn.sendall(f"{HOSTILE}\u009b2J \u202eevil\r\n".encode())


def hostile_quote(conn: socket.socket) -> None:
    conn.sendall(HOSTILE.encode() + b"\r\n")


def hostile_finger(conn: socket.socket) -> None:
    conn.recv(100)
    conn.sendall(b"Login: evil\r\n" + HOSTILE.encode() + b"\r\n")


@pytest.mark.parametrize(
    ("client", "handler", "stdin"),
    [
        ("echo", hostile_echo, b"hello\n"),
        ("qotd", hostile_quote, b""),
        ("finger", hostile_finger, b""),
        ("irc", fake_irc("hostile"), b""),
    ],
)
def test_every_client_shows_peer_control_characters_escaped(client, handler, stdin) -> None:
    with ThreadedServer(handler) as server:
        done = connect(client, "--port", str(server.port), stdin=stdin)
    out, err = done.stdout.decode(), done.stderr.decode()
    for stream in (done.stdout, done.stderr):
        assert b"\x1b" not in stream and b"\x07" not in stream and b"\xc2\x9b" not in stream
    assert SHOWN in out, out
    assert done.returncode == 0, err
    if client == "echo":
        assert "\\x9b2J \\u202eevil" in out  # C1 controls and bidi overrides too
    if client == "irc":
        assert f"<evil> {SHOWN}" in out and f"-evil- {SHOWN}" in out
        assert f"Closing link {SHOWN}" in err  # the log quotes the server's ERROR


# ------------------------------------------------------------------ exit status


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("reactor_name", REACTOR_NAMES)
@pytest.mark.parametrize("client", ["echo", "irc"])
def test_a_refused_client_with_stdin_at_its_end_fails(client, reactor_name) -> None:
    done = connect(client, "--port", str(refused_port()), "--reactor", reactor_name, stdin=b"")
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "Connection was refused" in err and "stopped" not in err
    assert done.stdout == b""


@pytest.mark.parametrize("reactor_name", REACTOR_NAMES)
@pytest.mark.parametrize("client", ["echo", "irc"])
def test_a_client_whose_connect_times_out_with_stdin_at_its_end_fails(client, reactor_name) -> None:
    """The end of input arrives long before the attempt fails, so it is never taken for a stop.

    A listening socket with a full accept queue drops further SYNs: the attempt hangs
    until ``--timeout``.
    """
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(0)
        port = blackhole.getsockname()[1]
        fillers = [socket.create_connection(("127.0.0.1", port), timeout=5)]
        try:
            started = time.monotonic()
            done = connect(client, "--port", str(port), "--timeout", "1", "--reactor", reactor_name, stdin=b"")
            took = time.monotonic() - started
        finally:
            for filler in fillers:
                filler.close()
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "User timeout caused connection failure" in err and "stopped" not in err
    assert took < 15


@pytest.mark.parametrize("client", ["echo", "irc"])
def test_an_unresolvable_client_with_stdin_at_its_end_fails(client) -> None:
    done = connect(client, "--host", "nonexistent.invalid", stdin=b"hello\n")
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "DNS lookup failed" in err and "nonexistent.invalid" in err and "stopped" not in err


def resetting(conn: socket.socket) -> None:
    conn.recv(100)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01" + bytes(7))  # close = RST


def closing_unanswered(conn: socket.socket) -> None:
    conn.recv(100)  # read the line, close cleanly without echoing it


def silent(conn: socket.socket) -> None:
    wait_for_close(conn)


@pytest.mark.parametrize("reactor_name", REACTOR_NAMES)
@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (resetting, "not answered"),
        (closing_unanswered, "line 'hello' not answered"),
        (silent, "no echo of 'hello' from 127.0.0.1:"),
    ],
    ids=["reset", "closed", "silent"],
)
def test_an_echo_client_whose_line_is_not_answered_fails(handler, reason, reactor_name) -> None:
    with ThreadedServer(handler) as server:
        started = time.monotonic()
        done = connect(
            "echo", "--port", str(server.port), "--reply-timeout", "1", "--reactor", reactor_name,
            stdin=b"hello\n",
        )
        took = time.monotonic() - started
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert reason in err and "Traceback" not in err
    assert done.stdout == b""
    assert took < 15


def test_an_echo_client_waits_for_every_reply_then_exits_0() -> None:
    """Slow echoes (0.3 s each) still count: end of input waits for them, then closes."""
    closed = threading.Event()

    def slow_echo(conn: socket.socket) -> None:
        buffer = bytearray()
        while (line := read_line(conn, buffer)) is not None:
            time.sleep(0.3)
            conn.sendall(line + b"\r\n")
        closed.set()

    with ThreadedServer(slow_echo) as server:
        done = connect("echo", "--port", str(server.port), "--reply-timeout", "5", stdin=b"a\nb\nc\n")
        assert closed.wait(5)
    assert done.returncode == 0, done.stderr.decode()
    assert [line.rsplit(" (", 1)[0] for line in done.stdout.decode().splitlines()] == ["a", "b", "c"]


def test_an_echo_client_reports_the_first_unanswered_of_several_lines() -> None:
    """Two lines come back, the third never does: exit 1 naming it, after the timeout."""

    def two_of_three(conn: socket.socket) -> None:
        buffer = bytearray()
        for _ in range(2):
            conn.sendall(read_line(conn, buffer) + b"\r\n")
        wait_for_close(conn)

    with ThreadedServer(two_of_three) as server:
        # Long enough for "a" and "b" to come back on a loaded machine.
        done = connect("echo", "--port", str(server.port), "--reply-timeout", "3", stdin=b"a\nb\nc\n")
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "no echo of 'c'" in err
    assert [line.rsplit(" (", 1)[0] for line in done.stdout.decode().splitlines()] == ["a", "b"]


def closing_before_sign_on(conn: socket.socket) -> None:
    conn.recv(100)  # NICK/USER; then close without a welcome


@pytest.mark.parametrize("reactor_name", REACTOR_NAMES)
@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (closing_before_sign_on, "closed the connection before sign-on"),
        (silent, "not signed on at 127.0.0.1:"),
        (fake_irc("no-join"), "not in #inspector at 127.0.0.1:"),
    ],
    ids=["closed", "silent", "no-join"],
)
def test_an_irc_client_that_never_gets_in_fails(handler, reason, reactor_name) -> None:
    with ThreadedServer(handler) as server:
        started = time.monotonic()
        done = connect(
            "irc", "--port", str(server.port), "--registration-timeout", "1", "--reactor", reactor_name,
            stdin=b"hello\n",
        )
        took = time.monotonic() - started
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert reason in err and "Traceback" not in err
    if handler is not closing_before_sign_on:  # (a quick close may beat reading stdin)
        assert "line 'hello' not answered" in err  # the typed line was not sent either
    assert took < 15


def test_an_irc_client_with_nothing_typed_still_fails_on_a_silent_server() -> None:
    with ThreadedServer(silent) as server:
        done = connect("irc", "--port", str(server.port), "--registration-timeout", "1", stdin=b"")
    assert done.returncode == 1, done.stderr.decode()
    assert "not signed on" in done.stderr.decode()


def test_the_irc_client_shows_escaped_what_another_user_sends_through_our_own_server() -> None:
    """The reported case end to end: a user of ``inspector serve irc`` retitles a reader's terminal."""
    from test_commands import Serving

    server = Serving("irc", "--port", "0")
    try:
        port = server.port()
        reader = subprocess.Popen(
            [sys.executable, "-m", "inspector", "connect", "irc", "--port", str(port), "--nick", "reader"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=CHILD_ENV,
        )
        try:
            while b"joined #inspector" not in (line := reader.stdout.readline()):
                assert line, reader.stderr.read().decode()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as evil:
                evil.sendall(b"NICK evil\r\nUSER e 0 * :E\r\nJOIN #inspector\r\n")
                evil.sendall(f"PRIVMSG #inspector :{HOSTILE}\r\n".encode())
                while b"<evil>" not in (line := reader.stdout.readline()):
                    assert line, reader.stderr.read().decode()
                shown = line
                reader.stdin.close()  # end of input: the reader quits
                code = reader.wait(20)
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.wait(5)
            rest = reader.stdout.read() + reader.stderr.read()
            reader.stdout.close()
            reader.stderr.close()
        assert shown == f"[#inspector] <evil> {SHOWN}\n".encode()
        assert b"\x1b" not in rest and b"\x07" not in rest
        assert code == 0, rest.decode()
        assert server.stop() == 0
    finally:
        server.kill()
