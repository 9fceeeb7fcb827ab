"""The "Process client" catalogue entry: in-process on every reactor, and as ``inspector connect process``."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from inspector import catalog
from inspector.catalog import ParameterError
from inspector.catalog import process as process_entry
from inspector.catalog.ownership import connection_port, service_port
from inspector.catalog.process import ProcessFailed
from inspector.defer import Deferred

CHILD_ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
if "," in CHILD_ENV.get("INSPECTOR_REACTOR", ""):
    del CHILD_ENV["INSPECTOR_REACTOR"]  # the suite takes a list; the command one name


def entry() -> catalog.Entry:
    return catalog.find("process", "client", "pipes")


def start(reactor: Any, command: str, **params: Any) -> Any:
    """Start the entry and collect its output lines in ``handle.lines``."""
    handle = entry().start(reactor, command=command, **params)
    handle.lines = []
    handle.on_output(handle.lines.append)
    return handle


def outcome(handle: Any) -> Deferred:
    """A Deferred firing with ``done``'s result or its exception (never failing)."""
    return handle.done.addBoth(lambda result: getattr(result, "value", result))


# ------------------------------------------------------------ the entry, in-process


def test_typed_lines_reach_cat_and_end_of_input_ends_it(reactor: Any, run: Any) -> None:
    def go() -> Deferred:
        handle = start(reactor, "sh -c 'echo ready; exec cat'")
        handle.send_line("one")
        handle.send_line("two ü")
        handle.close()
        with pytest.raises(RuntimeError, match="standard input is closed"):
            handle.send_line("three")
        return outcome(handle).addCallback(lambda result: (handle, result))

    handle, result = run(go)
    assert result is None
    assert handle.lines == ["ready", "one", "two ü"]
    assert handle.exit_code == 0
    assert handle.peer_key.startswith("pid ")


def test_stderr_is_marked_and_unfinished_lines_are_kept(reactor: Any, run: Any) -> None:
    def go() -> Deferred:
        handle = start(reactor, "sh -c 'printf \"a\\r\\nb\"; printf oops >&2'")
        return outcome(handle).addCallback(lambda _: handle)

    handle = run(go)
    assert sorted(handle.lines) == ["a", "b", "stderr: oops"]


def test_non_zero_exit_fails_with_the_status(reactor: Any, run: Any) -> None:
    def go() -> Deferred:
        handle = start(reactor, "sh -c 'exit 3'")
        return outcome(handle).addCallback(lambda result: (handle, result))

    handle, result = run(go)
    assert isinstance(result, ProcessFailed) and str(result) == "exited with status 3"
    assert handle.exit_code == 3


def test_killed_child_reports_the_signal_as_shells_do(reactor: Any, run: Any) -> None:
    def go() -> Deferred:
        handle = start(reactor, "sh -c 'kill -KILL $$'")
        return outcome(handle).addCallback(lambda result: (handle, result))

    handle, result = run(go)
    assert str(result) == "killed by signal 9 (SIGKILL)"
    assert handle.exit_code == 128 + 9


def test_stop_terminates_and_kills_a_child_that_ignores_sigterm(
    reactor: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_entry, "KILL_AFTER", 0.2)

    def go() -> Deferred:
        # The trap is set before "ready" is printed, so the stop cannot come too early.
        handle = start(reactor, "sh -c 'trap \"\" TERM; echo ready; while :; do sleep 1; done'")
        started: Deferred = Deferred()
        handle.on_output(lambda line: started.called or started.callback(None))
        started.addCallback(lambda _: handle.stop())
        return started.addCallback(lambda _: outcome(handle)).addCallback(lambda result: (handle, result))

    handle, result = run(go)
    assert result is None  # a stop is a normal end
    assert handle.exit_code is None
    assert "-- stopped (killed by signal 9 (SIGKILL))" in handle.transcript


def test_directory_is_where_the_command_runs(reactor: Any, run: Any, tmp_path: Any) -> None:
    def go() -> Deferred:
        handle = start(reactor, "pwd", directory=str(tmp_path))
        return outcome(handle).addCallback(lambda _: handle)

    assert run(go).lines == [os.path.realpath(tmp_path)]


def test_missing_program_is_one_clear_error(reactor: Any, tmp_path: Any) -> None:
    with pytest.raises(FileNotFoundError, match=r"^cannot run 'no-such-program-x': no such program on PATH$"):
        entry().start(reactor, command="no-such-program-x --flag")
    with pytest.raises(FileNotFoundError, match=r"no such program in "):
        entry().start(reactor, command="./absent", directory=str(tmp_path))
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError, match="not executable"):
        entry().start(reactor, command=str(script))
    script.chmod(0o755)
    script.write_bytes(b"\x7fELF not really")
    with pytest.raises(OSError, match=r"^cannot run '.*script': Exec format error$"):
        entry().start(reactor, command=str(script))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"command": ""}, "command: give the command to run"),
        ({"command": "sh -c 'unbalanced"}, "command: cannot split .*No closing quotation"),
        ({"command": "cat", "directory": "/no/such/dir"}, "directory: '/no/such/dir' is not a directory"),
    ],
)
def test_bad_parameters_are_refused_by_name(values: dict[str, str], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        entry().validate(values)


def test_the_window_ties_the_traced_process_to_its_client() -> None:
    class Launched:
        def __init__(self, handle: Any) -> None:
            self.entry, self.handle, self.params = entry(), handle, {"command": "cat"}

    handle = process_entry.ProcessHandle(entry(), "process 42: cat")
    handle.peer_key = "pid 42"
    # What the trace shows for the child: local "pid <ours>: this process", peer "pid 42: cat".
    assert connection_port("client", "pid 7: this process", "pid 42: sh -c a:b") == "pid 42"
    assert service_port(Launched(handle)) == "pid 42"
    assert connection_port("client", "127.0.0.1:5000", "127.0.0.1:8007") == "8007"  # sockets unchanged


# ------------------------------------------------------------ inspector connect process


def connect_process(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "connect", "process", *args],
        input=stdin, capture_output=True, timeout=60, env=CHILD_ENV,
    )


def test_cli_echoes_through_cat_with_peer_text_escaped() -> None:
    done = connect_process("--command", "sh -c 'echo hi; cat'", stdin=b"one\n\x1b]0;title\x07\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == "hi\none\n\\x1b]0;title\\x07\n"


def test_cli_shows_stderr_marked() -> None:
    done = connect_process("--command", "sh -c 'echo bad >&2'")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == "stderr: bad\n"


def test_cli_exits_with_the_child_status() -> None:
    done = connect_process("--command", "sh -c 'exit 3'")
    assert done.returncode == 3
    assert "exited with status 3" in done.stderr.decode()


def test_cli_missing_program_is_one_line_and_non_zero() -> None:
    done = connect_process("--command", "no-such-program-x")
    assert done.returncode == 1
    errors = [line for line in done.stderr.decode().splitlines() if "ERROR" in line]
    assert len(errors) == 1 and errors[0].endswith("cannot run 'no-such-program-x': no such program on PATH")
    assert "Traceback" not in done.stderr.decode()
