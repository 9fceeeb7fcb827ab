"""``inspector attach`` against real ``inspector serve`` processes: a recording that
``inspector open`` reads, tokens, a viewer that never reads while the server is under
load, a server killed and started again, and two servers at once."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from inspector.trace.model import Trace
from inspector.trace.recording import load
from inspector.trace.stream import StreamReader


def _child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **extra}
    if "," in env.get("INSPECTOR_REACTOR", ""):
        del env["INSPECTOR_REACTOR"]
    env.pop("INSPECTOR_TRACE_LISTEN", None)
    env.pop("INSPECTOR_TRACE_TOKEN", None)
    env.update(extra)
    return env


class Child:
    """A running ``inspector ARGS`` whose log (standard error) is collected as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env or _child_env(),
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 20, count: int = 1) -> re.Match:
        """The ``count``-th match of ``pattern`` in the log, waiting for it (bounded)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = list(re.finditer(pattern, self.log))
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {pattern!r} (x{count}) in the log after {timeout} s:\n{self.log}")
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"exited ({self.proc.returncode}) before {pattern!r}:\n{self.log}")
                self._changed.wait(min(left, 0.5))

    def finish(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.finish()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def children():
    started: list[Child] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Child:
        child = Child(*args, env=env)
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()


def serve_echo(children, trace_listen: str = "tcp:0", env: dict[str, str] | None = None) -> tuple[Child, int, int]:
    """An ``inspector serve echo`` serving its trace; returns it, its echo port and its trace port."""
    server = children("serve", "echo", "--endpoint", "tcp:0", "--trace-listen", trace_listen, env=env)
    trace_port = int(server.wait_for(r"serving the trace on 127\.0\.0\.1:(\d+)").group(1))
    echo_port = int(server.wait_for(r"echo server listening on 127\.0\.0\.1:(\d+)").group(1))
    return server, echo_port, trace_port


def echo(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def closes_in(text: str, after: str = "") -> int:
    """Closed connections in a recording's ``text``; with ``after``, only those written
    after the last occurrence of that text (none while it is not written yet)."""
    if after:
        if after not in text:
            return 0
        text = text.rsplit(after, 1)[1]
    return text.count('"kind":"conn.closed"')


def wait_for_closes(record: Path, count: int = 1, after: str = "", timeout: float = 20) -> None:
    """Wait (bounded) until ``record`` holds ``count`` closed connections (those after the
    text ``after`` only, when given): what a recording shows once a session has ended.
    Fails with the record's text when they are not all there in time."""
    deadline = time.monotonic() + timeout
    while True:
        text = record.read_text() if record.exists() else ""
        if closes_in(text, after) >= count:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"{count} closed connection(s){f' after {after}' if after else ''} not in "
                                 f"{record.name} after {timeout} s; it holds:\n{text}")
        time.sleep(0.05)


def test_closes_written_before_the_marker_do_not_count(tmp_path: Path) -> None:
    """The first session's close does not stand for the second's while the second
    session's meta line is not written yet: waiting then stopped the viewer too early."""
    record = tmp_path / "r.jsonl"
    first = '{"meta":{"process.0":"a"}}\n{"kind":"conn.closed","conn":2}\n'
    record.write_text(first)
    with pytest.raises(AssertionError, match=r"(?s)after \"process\.1\" not in r\.jsonl.*process\.0"):
        wait_for_closes(record, after='"process.1"', timeout=0.2)
    record.write_text(first + '{"meta":{"process.1":"b"}}\n{"kind":"conn.closed","conn":2}\n')
    wait_for_closes(record, after='"process.1"', timeout=0.2)


def test_waiting_for_closes_fails_with_the_record(tmp_path: Path) -> None:
    record = tmp_path / "r.jsonl"
    record.write_text('{"meta":{"process.0":"a"}}\n')
    with pytest.raises(AssertionError, match=r"(?s)2 closed connection\(s\) not in r\.jsonl after 0\.2 s.*process\.0"):
        wait_for_closes(record, 2, timeout=0.2)


def open_text(path: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "inspector", "open", str(path)], capture_output=True,
                          timeout=60, env=_child_env())
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_attach_records_a_serving_process(children, tmp_path: Path) -> None:
    server, echo_port, trace_port = serve_echo(children)
    record = tmp_path / "live.jsonl"
    viewer = children("attach", f"127.0.0.1:{trace_port}", "--headless", "--record", str(record))
    viewer.wait_for(r"attached to 127\.0\.0\.1:\d+: .*serve echo.* \(pid \d+\)")
    assert echo(echo_port, b"hello attach\n") == b"hello attach\n"
    assert echo(echo_port, b"second\n") == b"second\n"
    # Stop once both sessions' ends are in the file (they arrive within a flush or two).
    wait_for_closes(record, 2)
    assert viewer.stop() == 0
    assert "disconnected" not in viewer.log  # our own stop is not the process going away
    text = open_text(record)
    assert re.search(rf"server tcp Echo 127\.0\.0\.1:{echo_port} <-> .*: closed .* 13 B in, 13 B out", text), text
    assert re.search(r"server tcp Echo .* 7 B in, 7 B out", text), text
    assert "_Viewer" not in text  # the viewer's own connection is left out
    assert os.stat(record).st_mode & 0o077 == 0
    assert server.stop() == 0


def test_a_wrong_token_exits_1_with_the_refusal(children, tmp_path: Path) -> None:
    server, _, trace_port = serve_echo(children, env=_child_env(INSPECTOR_TRACE_TOKEN="s3cret"))
    viewer = children("attach", f"tcp:host=127.0.0.1:port={trace_port}", "--token", "guess", "--headless",
                      "--record", str(tmp_path / "no.jsonl"))
    assert viewer.finish() == 1
    assert "refused by tcp:host=127.0.0.1" in viewer.log and "wrong token" in viewer.log
    assert re.search(r"trace viewer 127\.0\.0\.1:\d+ refused: wrong token", server.wait_for("refused: .*").string)
    good = children("attach", f"127.0.0.1:{trace_port}", "--headless", "--record", str(tmp_path / "ok.jsonl"),
                    "--duration", "0.5", env=_child_env(INSPECTOR_TRACE_TOKEN="s3cret"))
    assert good.finish() == 0, good.log
    assert "attached to" in good.log


def test_a_token_is_required_off_loopback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "inspector", "serve", "echo", "--endpoint", "tcp:0",
         "--trace-listen", "tcp:0:interface=0.0.0.0"],
        capture_output=True, timeout=30, env=_child_env(),
    )
    assert done.returncode == 2
    assert done.stderr.decode().strip().splitlines() == [
        "inspector: serving the trace on tcp:0:interface=0.0.0.0 lets other machines read it: give a token "
        "(INSPECTOR_TRACE_TOKEN=... or --trace-token), or listen on 127.0.0.1"
    ]
    done = subprocess.run([sys.executable, "-m", "inspector", "attach", "127.0.0.1:1", "--headless"],
                          capture_output=True, timeout=30, env=_child_env())
    assert done.returncode == 2 and b"--headless needs --record FILE" in done.stderr


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
def test_a_viewer_that_never_reads_does_not_hold_up_the_server(children) -> None:
    server, echo_port, trace_port = serve_echo(children)
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", trace_port))
    stuck.sendall(b'{"token": null}\n')
    payload = b"y" * 4096
    with socket.create_connection(("127.0.0.1", echo_port), timeout=10) as conn:
        def round_trip() -> None:
            conn.sendall(payload)
            got = 0
            while got < len(payload):
                got += len(conn.recv(65536))

        for _ in range(500):  # warm up: the trace's rings and the capture budget fill
            round_trip()
        before = _rss_kib(server.proc.pid)
        start = time.monotonic()
        rounds = 0
        while time.monotonic() - start < 3.0:  # a few seconds of load, each round trip traced
            round_trip()
            rounds += 1
        after = _rss_kib(server.proc.pid)
    assert rounds > 500  # the echo kept going (a stalled server would manage a handful)
    # What the viewer did not read was dropped, not kept: about a hundred bytes of JSON per
    # event, several events a round trip, would be tens of MB.
    assert after - before < 30 * 1024, (before, after, rounds)
    # When it reads again, it is told how many events it lost (a running count; each
    # round trip made at least three: bytes in, bytes out, a loop turn).
    stuck.settimeout(10)
    reader = StreamReader(Trace())
    deadline = time.monotonic() + 20
    while reader.missed <= rounds and time.monotonic() < deadline:
        echo(echo_port, b"nudge\n")  # new events: a flush that reports the count
        try:
            reader.feed(stuck.recv(1 << 20))
        except socket.timeout:
            pass
    stuck.close()
    assert reader.header is not None and reader.missed > rounds
    assert server.stop() == 0


def test_attach_follows_a_process_killed_and_started_again(children, tmp_path: Path) -> None:
    first, echo_port, trace_port = serve_echo(children)
    record = tmp_path / "restart.jsonl"
    viewer = children("attach", f"127.0.0.1:{trace_port}", "--headless", "--record", str(record))
    viewer.wait_for("attached to")
    assert echo(echo_port, b"before\n") == b"before\n"
    wait_for_closes(record)
    first.proc.kill()  # mid-stream: no goodbye
    first.finish()
    viewer.wait_for(r"disconnected from 127\.0\.0\.1:\d+")
    second, echo_port2, _ = serve_echo(children, trace_listen=f"tcp:{trace_port}")
    viewer.wait_for(r"connected again to 127\.0\.0\.1:\d+")
    assert echo(echo_port2, b"after it\n") == b"after it\n"
    wait_for_closes(record, after='"process.1"')
    assert viewer.stop() == 0
    text = open_text(record)
    assert re.search(rf"Echo 127\.0\.0\.1:{echo_port} <-> .* 7 B in, 7 B out", text), text
    assert re.search(rf"Echo 127\.0\.0\.1:{echo_port2} <-> .* 9 B in, 9 B out", text), text
    header = load(record).header
    assert header["process.0"].endswith(f"(pid {first.proc.pid}) on {socket.gethostname()}")
    assert f"(pid {second.proc.pid})" in header["process.1"]
    assert second.stop() == 0


def test_a_dropped_link_to_a_running_process_records_nothing_twice(children, tmp_path: Path) -> None:
    """The link to a process that keeps running breaks (here: the relay between them is
    killed and started again); the viewer connects again to the same process, whose
    snapshot repeats what was already recorded: the recording holds it once."""
    from reactor_support import free_port

    server, echo_port, trace_port = serve_echo(children)
    relay_port = free_port()

    def relay() -> Child:
        started = children("proxy", "--headless", "--listen", f"tcp:{relay_port}:interface=127.0.0.1",
                           "--to", f"127.0.0.1:{trace_port}")
        started.wait_for("listening")
        return started

    first_relay = relay()
    record = tmp_path / "dropped.jsonl"
    viewer = children("attach", f"127.0.0.1:{relay_port}", "--headless", "--record", str(record))
    viewer.wait_for("attached to")
    assert echo(echo_port, b"before\n") == b"before\n"
    wait_for_closes(record)
    first_relay.proc.kill()
    first_relay.finish()
    viewer.wait_for(r"disconnected from 127\.0\.0\.1:\d+")
    relay()
    viewer.wait_for(r"connected again to 127\.0\.0\.1:\d+")
    assert echo(echo_port, b"after it\n") == b"after it\n"
    wait_for_closes(record, 2)
    assert viewer.stop() == 0
    text = open_text(record)
    assert len(re.findall(r"Echo 127\.0\.0\.1:%d <-> .* 7 B in, 7 B out" % echo_port, text)) == 1, text
    assert len(re.findall(r"Echo 127\.0\.0\.1:%d <-> .* 9 B in, 9 B out" % echo_port, text)) == 1, text
    assert "? <-> ?" not in text  # the first link's own connection is not in the trace
    header = load(record).header
    assert f"(pid {server.proc.pid})" in header["process.0"]
    assert "process.1" not in header  # the same process, not a second one
    assert server.stop() == 0


def test_two_processes_attached_at_once(children, tmp_path: Path) -> None:
    one, echo_one, trace_one = serve_echo(children)
    two, echo_two, trace_two = serve_echo(children)
    record = tmp_path / "two.jsonl"
    viewer = children("attach", f"127.0.0.1:{trace_one}", f"tcp:host=127.0.0.1:port={trace_two}",
                      "--headless", "--record", str(record))
    viewer.wait_for("attached to", count=2)
    assert echo(echo_one, b"to one\n") == b"to one\n"
    assert echo(echo_two, b"to two!\n") == b"to two!\n"
    wait_for_closes(record, 2)
    assert viewer.stop() == 0
    trace = load(record)
    by_port = {s.local: s for s in trace.connections.values() if s.role == "server"}
    assert (by_port[f"127.0.0.1:{echo_one}"].bytes_in, by_port[f"127.0.0.1:{echo_two}"].bytes_in) == (7, 8)
    # Each process's connections kept apart: the second's ids were moved past the first's.
    ids = sorted(s.id for s in by_port.values())
    assert ids[0] < 1_000_000_000 <= ids[1]
    pids = {trace.header["process.0"].rsplit("(pid ", 1)[1].split(")")[0],
            trace.header["process.1"].rsplit("(pid ", 1)[1].split(")")[0]}
    assert pids == {str(one.proc.pid), str(two.proc.pid)}
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    seqs = [line["seq"] for line in lines if "seq" in line]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert one.stop() == 0 and two.stop() == 0


def test_the_window_serves_its_trace_too(children, tmp_path: Path) -> None:
    window = children("--trace-listen", "tcp:0", "--scenario", "demo", "--screenshot", str(tmp_path / "w.png"))
    trace_port = int(window.wait_for(r"serving the trace on 127\.0\.0\.1:(\d+)", timeout=60).group(1))
    record = tmp_path / "window.jsonl"
    viewer = children("attach", f"127.0.0.1:{trace_port}", "--headless", "--record", str(record))
    viewer.wait_for(r"attached to 127\.0\.0\.1:\d+: inspector .*--screenshot", timeout=60)
    assert viewer.stop() == 0, viewer.log
    assert load(record).header["reactor"].startswith("QtReactor")
    assert window.finish(60) == 0


def test_the_environment_or_an_option_before_the_command_serve_the_trace(children) -> None:
    from_env = children("serve", "echo", "--endpoint", "tcp:0", env=_child_env(INSPECTOR_TRACE_LISTEN="tcp:0"))
    before = children("--trace-listen", "tcp:0", "connect", "echo", "--port", str(_echo_port(from_env)))
    for child in (from_env, before):
        child.wait_for(r"serving the trace on 127\.0\.0\.1:\d+")
    assert before.finish() == 0  # (its standard input is empty: it is done at once)
    assert from_env.stop() == 0


def _echo_port(server: Child) -> int:
    return int(server.wait_for(r"echo server listening on 127\.0\.0\.1:(\d+)").group(1))
