"""Command-line values that used to be silently reinterpreted, run as real subprocesses.

``--port ''`` became the default port, ``--endpoint`` quietly won over ``--port``, a
``--timeout`` of ``inf`` or ``3e6`` was accepted (and broke the loop), ``300.1.1.1`` passed
as a host name, and an unterminated 64 MB line on standard input was buffered whole at
quadratic cost. Each is now an exit status 2 (or 1) with a one-line reason.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest
from test_commands import CHILD_ENV, Serving, echo_handler, inspector

from apps_support import ThreadedServer


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "echo", "--port", ""], "inspector serve echo: error: --port needs a value, got an empty one"),
        (["connect", "echo", "--port", " "], "--port needs a value"),
        (["serve", "qotd", "--quote-file", ""], "--quote-file needs a value"),
        (["connect", "qotd", "--timeout", ""], "--timeout needs a value"),
        (["serve", "echo", "--port", "9", "--endpoint", "tcp:0"],
         "--endpoint replaces --port: give one or the other, not both"),
        (["serve", "irc", "--interface", "::1", "--endpoint", "tcp6:0"], "--endpoint replaces --interface"),
        (["connect", "qotd", "--timeout", "inf"], "timeout: must be a finite number of seconds, got inf"),
        (["connect", "qotd", "--timeout", "3e6"], "timeout: must be at most 86400 seconds (a day)"),
        (["serve", "finger", "--idle-timeout", "inf"], "idle_timeout: must be a finite number of seconds"),
        (["connect", "echo", "--reply-timeout", "nan"], "reply_timeout: must be a finite number"),
        (["connect", "irc", "--registration-timeout", "1e7"], "registration_timeout: must be at most"),
        (["connect", "echo", "--host", "300.1.1.1"], "host: '300.1.1.1' is not a valid IPv4 address"),
        (["serve", "echo", "--endpoint", "tcp6:0:interface=127.0.0.1"],
         "a tcp6 endpoint listens on IPv6, but interface 127.0.0.1 is IPv4"),
        (["serve", "echo", "--endpoint", "tcp:0:interface=::1"], r"write interface=\:\:1 or interface=[::1]"),
    ],
)
def test_a_value_that_would_be_reinterpreted_is_refused_with_status_2(args, message) -> None:
    done = inspector(*args, timeout=60)
    assert done.returncode == 2, done.stderr.decode()
    err = done.stderr.decode()
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_serve_with_an_escaped_ipv6_interface_listens_on_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    server = Serving("echo", "--endpoint", r"tcp:0:interface=\:\:1")
    try:
        port = int(server.wait_for(r"listening on \[::1\]:(\d+)").group(1))
        with socket.create_connection(("::1", port), timeout=5) as sock:
            sock.sendall(b"six\r\n")
            assert sock.recv(100) == b"six\r\n"
        assert server.stop() == 0
    finally:
        server.kill()


def test_a_64_mb_unterminated_stdin_line_is_refused_quickly_and_the_next_line_still_goes() -> None:
    """It used to be buffered whole at quadratic cost (23 s), then silently not sent."""
    with ThreadedServer(echo_handler) as server:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "inspector", "connect", "echo", "--port", str(server.port)],
            input=b"first\n" + b"x" * (64 << 20) + b"\nafter the long one\n",
            capture_output=True, timeout=120, env=CHILD_ENV,
        )
        took = time.monotonic() - started
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "line 2 of standard input is longer than 1048576 bytes: not sent" in err
    lines = [line.rsplit(" (", 1)[0] for line in done.stdout.decode().splitlines()]
    assert lines == ["first", "after the long one"]
    assert took < 15, f"took {took:.1f} s"
    assert not re.search("Traceback", err)
