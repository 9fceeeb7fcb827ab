"""``inspector --trace`` prints what it traced at exit; ``inspector open --transcript``
prints only the transcript on standard output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from inspector import cli
from inspector.trace import events as ev
from inspector.trace import transcript
from inspector.trace.recording import load

ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INSPECTOR_REACTOR": "selectors"}


def test_trace_serve_prints_a_summary_to_stderr_when_stopped() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector", "--trace", "serve", "echo", "--port", "0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.append(raw.decode("utf-8", "replace"))
            if "listening on" in lines[-1]:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(30), "".join(lines)
        port = int("".join(lines).split("listening on", 1)[1].split(":", 1)[1].split()[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"hello\n")
            assert sock.recv(100) == b"hello\n"
        time.sleep(0.3)  # the server sees the close
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    reader.join(5)
    log = "".join(lines)
    summary = log.split("trace summary", 1)[1] if "trace summary" in log else ""
    assert "connections: 1" in summary, log
    connection = next(line for line in summary.splitlines() if line.strip().startswith("#1 "))
    assert "server tcp" in connection and ": closed" in connection, connection
    assert "6 B in, 6 B out" in connection, connection
    assert "Deferreds:" in summary and "warnings:" in summary, summary


def _recording(path: Path) -> None:
    events = [
        ev.ConnectionOpened(conn=1, role="client", protocol="Echo", local="127.0.0.1:5000",
                            peer="127.0.0.1:7"),
        ev.ConnectionState(conn=1, state="connected"),
        ev.BytesOut(conn=1, size=6, data=b"hello\n"),
        ev.BytesIn(conn=1, size=6, data=b"hello\n"),
        ev.ConnectionClosed(conn=1, reason_type="ConnectionDone", bytes_in=6, bytes_out=6),
    ]
    lines = [json.dumps({"format": "inspector-trace", "version": 1})]
    for seq, event in enumerate(events, 1):
        event.seq, event.ts = seq, float(seq)
        lines.append(json.dumps(event.to_json()))
    path.write_text("\n".join(lines) + "\n")


def test_open_transcript_prints_only_the_transcript(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "echo.jsonl"
    _recording(path)
    assert cli.main(["open", str(path), "--transcript", "1"]) == 0
    out, err = capsys.readouterr()
    assert out == transcript(load(path), 1)
    assert "hello" in out and "recording:" not in out and "connections:" not in out
    assert err == ""


def test_open_transcript_of_a_damaged_recording_warns_on_stderr(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "cut.jsonl"
    _recording(path)
    path.write_text(path.read_text() + '{"kind": "conn.bytes_in", "seq"')  # cut off mid-line
    assert cli.main(["open", str(path), "--transcript", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == transcript(load(path), 1)
    assert "WARNING" in err and "truncated" in err


def test_open_without_transcript_still_prints_the_summary(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "echo.jsonl"
    _recording(path)
    assert cli.main(["open", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("recording:") and "connections: 1" in out
    assert "#1 client tcp Echo 127.0.0.1:5000 <-> 127.0.0.1:7: closed (ConnectionDone)" in out


def test_open_raw_writes_into_a_folder_it_creates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    """The README's ``open ... --raw 1 --out dump/`` works where no ``dump`` exists yet."""
    path = tmp_path / "echo.jsonl"
    _recording(path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["open", str(path), "--raw", "1", "--out", "dump/"]) == 0
    assert (tmp_path / "dump" / "conn-1.in.bin").read_bytes() == b"hello\n"
    assert (tmp_path / "dump" / "conn-1.out.bin").read_bytes() == b"hello\n"
    assert "wrote dump/conn-1.in.bin" in capsys.readouterr().out


def test_open_piped_into_a_reader_that_stops_early_ends_quietly(tmp_path: Path) -> None:
    """``inspector open FILE | head -1``: the reader goes away after one line, and the
    command ends without a traceback, with the status of a process ended by SIGPIPE."""
    recording = tmp_path / "r.jsonl"
    _recording(recording)
    read_end, write_end = os.pipe()
    os.close(read_end)  # a reader that has already gone: every write fails with EPIPE
    done = subprocess.run([sys.executable, "-m", "inspector", "open", str(recording)],
                          stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 128 + signal.SIGPIPE


def test_decoded_times_never_precede_the_connections_opening(tmp_path: Path) -> None:
    """Bytes carry the time their loop turn began, which can be a little before the open
    was stamped in the same turn (a greeting written in connectionMade): the decoded
    message is shown at +0, not at a negative time since the connection opened."""
    events = [
        ev.ConnectionOpened(conn=1, role="client", protocol="Greeter", local="127.0.0.1:5000",
                            peer="127.0.0.1:7"),
        ev.BytesOut(conn=1, size=6, data=b"hello\n"),
        ev.BytesIn(conn=1, size=6, data=b"howdy\n"),
    ]
    times = [10.000080, 10.0, 10.5]  # the write's turn began 80 us before the open's stamp
    lines = [json.dumps({"format": "inspector-trace", "version": 1})]
    for seq, (event, ts) in enumerate(zip(events, times), 1):
        event.seq, event.ts = seq, ts
        lines.append(json.dumps(event.to_json()))
    recording = tmp_path / "r.jsonl"
    recording.write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, "-m", "inspector", "open", str(recording), "--decode", "1:lines"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    shown = [line.split()[0] for line in done.stdout.splitlines()]
    assert shown == ["+0.000000", "+0.499920"], done.stdout


def test_summary_of_a_busy_recording_counts_what_it_saw_and_lists_a_readable_part(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A recording with more connections, Deferreds and warnings than the fold keeps says
    how many it saw, not how many it kept; warnings are counted per category and only the
    first few of each are listed, so one slow callback is not lost among late timers."""
    events: list[ev.Event] = []
    for conn in range(1, 1_201):
        events.append(ev.ConnectionOpened(conn=conn, role="server", protocol="Echo",
                                          local="127.0.0.1:7", peer=f"127.0.0.1:{10_000 + conn}"))
        events.append(ev.ConnectionClosed(conn=conn, reason_type="ConnectionDone"))
    for deferred in range(1, 2_501):
        events.append(ev.DeferredCreated(deferred=deferred, site="app.py:1", function="go"))
        events.append(ev.DeferredFired(deferred=deferred))
    events.append(ev.DeferredCreated(deferred=9_999, site="app.py:2", function="wait"))
    for n in range(40):
        events.append(ev.TraceWarning(category="late-timer", message=f"timer {n} ran 50 ms late"))
    events.append(ev.TraceWarning(category="slow", message="slow callback: App.parse took 0.3 s"))
    lines = [json.dumps({"format": "inspector-trace", "version": 1})]
    for seq, event in enumerate(events, 1):
        event.seq, event.ts = seq, seq / 1000
        lines.append(json.dumps(event.to_json()))
    path = tmp_path / "busy.jsonl"
    path.write_text("\n".join(lines) + "\n")

    assert cli.main(["open", str(path)]) == 0
    out = capsys.readouterr().out
    assert "connections: 1200 (listed: the 1000 kept" in out and "200 older closed ones are only counted" in out
    assert "#1200 server" in out and "#1 server" not in out
    assert "Deferreds: 2501 created; kept: 1 pending, the newest 2000 finished" in out
    assert "warnings: 41 (late-timer 40, slow 1)" in out
    assert "[late-timer] timer 9 ran 50 ms late" in out and "timer 10 ran" not in out
    assert "... and 30 more [late-timer]" in out
    assert "[slow] slow callback: App.parse took 0.3 s" in out


def test_open_says_who_missed_the_events_a_recording_lacks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A recording made in the process whose reader fell behind, and one made by
    ``inspector attach`` (the process sent a sample, within its CPU budget), say so in
    their own words: the second is not only the recorder's doing, and the user is told
    where to record for every event."""
    own = tmp_path / "own.jsonl"
    _recording(own)
    own.write_text(own.read_text() + '{"meta":{"missed":42}}\n')
    assert cli.main(["open", str(own)]) == 0
    assert "WARNING: the recorder fell behind and missed 42 events" in capsys.readouterr().out
    attached = tmp_path / "attached.jsonl"
    _recording(attached)
    text = attached.read_text().splitlines()
    text.insert(1, '{"meta":{"process.0":"127.0.0.1:6669: app.py (pid 7)"}}')
    attached.write_text("\n".join(text) + '\n{"meta":{"missed":42}}\n')
    assert cli.main(["open", str(attached)]) == 0
    out = capsys.readouterr().out
    assert "WARNING: the recorder fell behind" not in out
    assert "WARNING: 42 events are not in this recording: the attached processes sent a sample" in out
    assert "record in the process itself: --record FILE" in out
