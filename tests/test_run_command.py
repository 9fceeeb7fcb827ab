"""``inspector run TARGET --headless``: a user's program in each entry shape, and each bad input.

Every test runs the real command in a subprocess (``python -m inspector run ...``) and
talks to it over loopback, as a person at a terminal would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX signals")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def inspector(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``inspector ARGS`` to completion and return its result."""
    return subprocess.run([sys.executable, "-m", "inspector", *args], cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def start(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``inspector ARGS`` in the background."""
    return subprocess.Popen([sys.executable, "-m", "inspector", *args], cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def connect(port: int, process: subprocess.Popen[str], deadline: float = 20) -> socket.socket:
    """Connect to the program's port once it listens; fail with its output if it exits first."""
    end = time.monotonic() + deadline
    while True:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"exited with {process.returncode} before listening:\n{out}\n{err}")
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.monotonic() > end:
                process.kill()
                pytest.fail(f"nothing listened on port {port} within {deadline}s")
            time.sleep(0.05)


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str, str]:
    """Send ``signum`` and return the exit status and output."""
    process.send_signal(signum)
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"did not stop on {signal.Signals(signum).name}:\n{err}")
    return process.returncode, out, err


def port_is_free(port: int) -> bool:
    """True when nothing listens on the port any more (a new server could take it)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


GREETER = """
    import os
    from inspector.protocol import Factory, Protocol
    from inspector.service import Application, TCPServer

    class Greet(Protocol):
        def connectionMade(self):
            self.transport.write(b"hello from " + self.factory.who + b"\\r\\n")
            self.transport.loseConnection()

    def greeter(who):
        factory = Factory.forProtocol(Greet)
        factory.who = who
        return factory
"""


# ------------------------------------------------------------------- the entry shapes


def test_the_echo_example_serves_over_loopback_and_stops_on_sigint() -> None:
    port = free_port()
    process = start("run", "examples/echo_app.tac", "--headless", cwd=ROOT, env={"ECHO_PORT": str(port)})
    with connect(port, process) as sock:
        sock.sendall(b"ping \x00\xff\r\n")
        assert receive(sock, 9) == b"ping \x00\xff\r\n"
    code, _, err = stop(process, signal.SIGINT)
    assert code == 0, err
    assert "SIGINT received" in err  # logs go to standard error
    assert port_is_free(port)  # the service was stopped: the port is released


def test_an_application_in_a_tac_with_twisteds_application_signature(tmp_path: Path) -> None:
    port = free_port()
    write(tmp_path / "greet.tac", GREETER + f"""
    application = Application("greeter", uid=os.getuid(), gid=os.getgid())
    TCPServer({port}, greeter(b"a tac")).setServiceParent(application)
    """)
    process = start("run", "greet.tac", "--headless", cwd=tmp_path)
    with connect(port, process) as sock:
        assert receive(sock, 100) == b"hello from a tac\r\n"
    code, _, err = stop(process, signal.SIGTERM)
    assert code == 0, err


def test_make_service_gets_the_options_after_the_double_dash(tmp_path: Path) -> None:
    port = free_port()
    write(tmp_path / "plugin.py", GREETER + """
    def makeService(options):
        return TCPServer(int(options["port"]), greeter(options["name"].encode()))
    """)
    process = start("run", "plugin.py", "--headless", "--", "--port", str(port), "--name=options", cwd=tmp_path)
    with connect(port, process) as sock:
        assert receive(sock, 100) == b"hello from options\r\n"
    code, _, err = stop(process, signal.SIGINT)
    assert code == 0, err
    assert port_is_free(port)


def test_a_module_target_with_a_named_entry_point(tmp_path: Path) -> None:
    """``package.module:name``, found from the current directory like ``python -m``."""
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    write(tmp_path / "mypkg" / "tool.py", """
    from inspector.defer import succeed

    def fetch(reactor, *args):
        print("fetched", *args)
        return succeed(None)
    """)
    result = inspector("run", "mypkg.tool:fetch", "--headless", "--", "one", "two", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fetched one two\n"


def test_main_ends_the_program_when_its_deferred_succeeds(tmp_path: Path) -> None:
    write(tmp_path / "later.py", """
    from inspector.task import deferLater

    def main(reactor, word):
        return deferLater(reactor, 0.2, print, "after a while:", word)
    """)
    result = inspector("run", "later.py", "--headless", "--", "done", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "after a while: done\n"


def test_main_whose_deferred_fails_exits_1_and_says_why(tmp_path: Path) -> None:
    write(tmp_path / "fails.py", """
    from inspector.task import deferLater

    def refuse():
        raise RuntimeError("the server said no")

    def main(reactor):
        return deferLater(reactor, 0.1, refuse)
    """)
    result = inspector("run", "fails.py", "--headless", cwd=tmp_path)
    assert result.returncode == 1
    assert "RuntimeError: the server said no" in result.stderr


def test_help_describes_the_window_mode() -> None:
    shown = inspector("run", "--help")
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "not built" not in text
    assert "the window opens on the Qt reactor" in text and "--headless" in text


# ------------------------------------------------------------------------- bad input


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command's ``inspector run: error: ...`` line, after checking it failed with 1."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("inspector run: error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_missing_file(tmp_path: Path) -> None:
    result = inspector("run", "nowhere.tac", "--headless", cwd=tmp_path)
    assert one_error_line(result) == "inspector run: error: nowhere.tac: no such file"
    assert "Traceback" not in result.stderr


def test_a_missing_module(tmp_path: Path) -> None:
    result = inspector("run", "no_such_package.app", "--headless", cwd=tmp_path)
    assert "no_such_package.app: no such module" in one_error_line(result)
    assert "Traceback" not in result.stderr


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "broken.py", """
    def main(reactor):
        return (
    """)
    result = inspector("run", "broken.py", "--headless", cwd=tmp_path)
    line = one_error_line(result)
    assert line.startswith("inspector run: error: broken.py:3: syntax error: ")
    assert "Traceback" not in result.stderr


def test_an_exception_while_importing_shows_only_the_users_frames(tmp_path: Path) -> None:
    write(tmp_path / "explodes.py", """
    def configure():
        raise KeyError("DATABASE_URL")

    configure()
    """)
    result = inspector("run", "explodes.py", "--headless", cwd=tmp_path)
    assert one_error_line(result) == "inspector run: error: explodes.py: KeyError while importing: 'DATABASE_URL'"
    traceback = result.stderr.split("inspector run: error:")[0]
    assert traceback.startswith("Traceback (most recent call last):")
    frames = [line for line in traceback.splitlines() if line.strip().startswith("File ")]
    assert frames == ['  File "explodes.py", line 5, in <module>', '  File "explodes.py", line 3, in configure']


def test_no_entry_point_says_what_was_looked_for(tmp_path: Path) -> None:
    write(tmp_path / "plain.py", "VALUE = 1\n")
    line = one_error_line(inspector("run", "plain.py", "--headless", cwd=tmp_path))
    assert "plain.py: no entry point found" in line
    for name in ("application", "makeService", "main"):
        assert name in line


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = inspector("run", "examples/echo_app.tac", "--headless", cwd=ROOT, env={"ECHO_PORT": str(port)})
    line = one_error_line(result)
    assert f"cannot listen on port {port}" in line
    assert "in use" in line
    assert "Traceback" not in result.stderr


def test_a_service_that_fails_to_start(tmp_path: Path) -> None:
    write(tmp_path / "fragile.tac", """
    from inspector.service import Application, Service

    class NeedsConfig(Service):
        def startService(self):
            super().startService()
            raise FileNotFoundError("settings.ini")

    application = Application("fragile")
    NeedsConfig().setServiceParent(application)
    """)
    result = inspector("run", "fragile.tac", "--headless", cwd=tmp_path)
    assert "fragile.tac: cannot start: FileNotFoundError: settings.ini" in one_error_line(result)


# -------------------------------------------------------------------- the README's way


def test_fetch_quote_example_prints_the_quote_from_a_qotd_server() -> None:
    port = free_port()
    server = start("serve", "qotd", "--port", str(port), "--quote", "Sockets are just files with opinions.")
    try:
        connect(port, server).close()
        result = inspector("run", "examples/fetch_quote.py", "--headless", "--", "127.0.0.1", str(port), cwd=ROOT)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "Sockets are just files with opinions.\n"
    finally:
        stop(server, signal.SIGINT)


def test_fetch_quote_example_exits_1_when_nothing_listens() -> None:
    port = free_port()
    result = inspector("run", "examples/fetch_quote.py", "--headless", "--", "127.0.0.1", str(port), cwd=ROOT)
    assert result.returncode == 1
    assert "refused" in result.stderr


def test_the_chosen_reactor_is_the_default_while_the_target_loads(tmp_path: Path) -> None:
    """A .tac builds endpoints with default_reactor() at import: it must be --reactor's."""
    write(tmp_path / "which.py", """
    from inspector.reactors import default_reactor

    AT_IMPORT = default_reactor()

    def main(reactor):
        print(type(reactor).__name__, AT_IMPORT is reactor)
    """)
    result = inspector("run", "which.py", "--headless", "--reactor", "asyncio", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "AsyncioReactor True\n"


def test_an_endpoint_service_whose_port_is_in_use_is_named(tmp_path: Path) -> None:
    """StreamServerEndpointService only logs a failed listen; run makes it a startup failure, as twistd does."""
    write(tmp_path / "endpoint.tac", """
    import os
    from inspector.endpoints import serverFromString
    from inspector.protocol import Factory, Protocol
    from inspector.reactors import default_reactor
    from inspector.service import Application, StreamServerEndpointService

    application = Application("endpoint")
    endpoint = serverFromString(default_reactor(), "tcp:%s:interface=127.0.0.1" % os.environ["PORT"])
    StreamServerEndpointService(endpoint, Factory.forProtocol(Protocol)).setServiceParent(application)
    """)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = inspector("run", "endpoint.tac", "--headless", cwd=tmp_path, env={"PORT": str(port)}, timeout=15)
    line = one_error_line(result)
    assert f"cannot listen on port {port}" in line
    assert "Traceback" not in result.stderr


def test_record_traces_the_users_own_code(tmp_path: Path) -> None:
    """``--record FILE`` writes the program's trace: its connections, and Deferreds made in the user's file."""
    import json

    port = free_port()
    recording = tmp_path / "quote.jsonl"
    server = start("serve", "qotd", "--port", str(port), "--quote", "Traced.")
    try:
        connect(port, server).close()
        result = inspector("run", "examples/fetch_quote.py", "--headless", "--record", str(recording),
                           "--", "127.0.0.1", str(port), cwd=ROOT)
    finally:
        stop(server, signal.SIGINT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Traced.\n"
    events = [json.loads(line) for line in recording.read_text().splitlines()[1:]]
    kinds = {event.get("kind") for event in events}
    assert {"conn.opened", "conn.closed", "d.created"} <= kinds
    assert any(event.get("site", "").startswith("examples/fetch_quote.py:") for event in events)
    assert "abandoned" not in {event.get("category") for event in events}  # the example leaves no Deferred behind


def test_an_async_main_and_its_exit_code(tmp_path: Path) -> None:
    """``async def main`` works like one returning a Deferred; SystemExit(3) inside it is the exit status."""
    write(tmp_path / "coro.py", """
    import sys
    from inspector.task import deferLater

    async def main(reactor, code):
        await deferLater(reactor, 0.05, lambda: None)
        print("awaited")
        sys.exit(int(code))
    """)
    result = inspector("run", "coro.py", "--headless", "--", "3", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (3, "awaited\n"), result.stderr


def test_make_service_options_that_are_not_options(tmp_path: Path) -> None:
    write(tmp_path / "plugin.py", GREETER + """
    def makeService(options):
        return TCPServer(int(options["port"]), greeter(b"x"))
    """)
    line = one_error_line(inspector("run", "plugin.py", "--headless", "--", "8000", cwd=tmp_path))
    assert "makeService options: expected --option value, got '8000'" in line


def test_make_service_that_raises_shows_the_users_frames(tmp_path: Path) -> None:
    write(tmp_path / "plugin.py", """
    def makeService(options):
        return int(options["port"])
    """)
    result = inspector("run", "plugin.py", "--headless", "--", "--port", "eighty", cwd=tmp_path)
    assert "makeService failed: ValueError: invalid literal for int()" in one_error_line(result)
    frames = [line for line in result.stderr.splitlines() if line.strip().startswith("File ")]
    assert frames == ['  File "plugin.py", line 3, in makeService']
