"""``inspector --record FILE`` and ``inspector open FILE``, run as a user would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from inspector import cli
from inspector.trace import events as ev
from inspector.trace.model import Trace
from inspector.trace.recording import Recorder

QUOTE = b"Tracing is seeing what the loop did.\r\n"


def _one_shot_server(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.sendall(QUOTE)
    listener.close()


def _record_qotd_session(path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    thread = threading.Thread(target=_one_shot_server, args=(listener,), daemon=True)
    thread.start()
    env = dict(os.environ, INSPECTOR_REACTOR="selectors")
    done = subprocess.run(
        [sys.executable, "-m", "inspector", "--record", str(path), "connect", "qotd",
         "--port", str(port)],
        capture_output=True, text=True, timeout=60, env=env,
    )
    thread.join(5)
    assert done.returncode == 0, done.stderr
    assert "Tracing is seeing" in done.stdout, (done.stdout, done.stderr)


def test_record_a_client_run_then_open_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "qotd.jsonl"
    _record_qotd_session(path)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["format"] == "inspector-trace" and header["version"] == 1
    assert cli.main(["open", str(path)]) == 0
    out = capsys.readouterr().out
    assert "reactor SelectorsReactor" in out, out
    assert "connections: 1" in out, out
    assert f"{len(QUOTE)} B in" in out and "ConnectionDone" in out, out

    assert cli.main(["open", str(path), "--transcript", "1"]) == 0
    out = capsys.readouterr().out
    assert "<< Tracing is seeing what the loop did.\\r\\n" in out

    perfetto = tmp_path / "qotd.json"
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    assert cli.main(["open", str(path), "--perfetto", str(perfetto), "--raw", "1",
                     "--out", str(raw_dir)]) == 0
    data = json.loads(perfetto.read_text())
    assert any(e["ph"] == "X" and e["name"] == "loop turn" for e in data["traceEvents"])
    assert (raw_dir / "conn-1.in.bin").read_bytes() == QUOTE


def test_open_reports_damage_and_refuses_non_recordings(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    trace = Trace()
    for _ in range(3):
        trace.add(ev.LoopTurn(ts=1.0, duration=0.001))
    path = tmp_path / "t.jsonl"
    Recorder(trace, path).close()
    path.write_bytes(path.read_bytes() + b'{"kind": "loop.tu')
    assert cli.main(["open", str(path)]) == 1
    out = capsys.readouterr().out
    assert "WARNING" in out and "truncated" in out and "events: 3" in out

    junk = tmp_path / "junk.txt"
    junk.write_text("not a trace\n")
    assert cli.main(["open", str(junk)]) == 2
    assert "not an Inspector trace recording" in capsys.readouterr().err

    assert cli.main(["open", str(path), "--transcript", "7"]) == 2
    assert "no connection 7" in capsys.readouterr().err


def test_trace_option_switches_tracing_on() -> None:
    import atexit

    import inspector.trace
    from inspector.commands.tracing import print_exit_summary, start_from_args

    args = cli.build_parser().parse_args(["--trace", "open", "x"])
    assert args.trace
    tracer = start_from_args(args)
    try:
        assert tracer is not None and inspector.trace.active() is tracer
    finally:
        inspector.trace.disable()
        atexit.unregister(print_exit_summary)  # the summary is for a real command's exit
    assert start_from_args(cli.build_parser().parse_args(["open", "x"])) is None


def test_record_to_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    import inspector.trace
    from inspector.commands.tracing import start_from_args

    target = tmp_path / "no-such-dir" / "t.jsonl"
    args = cli.build_parser().parse_args(["--record", str(target), "open", "x"])
    with pytest.raises(SystemExit, match="cannot record the trace to .*No such file"):
        start_from_args(args)
    assert inspector.trace.active() is None
