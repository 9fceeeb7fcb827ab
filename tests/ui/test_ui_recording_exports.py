"""A recording opened in the window is folded once, into the window's store; the trace
the exports read is filled from the file when an export asks. The exports, and what the
session panel shows, must be what ``inspector open`` gives for the same file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QPlainTextEdit, QProgressDialog, QTableView

from inspector.trace import events as ev
from inspector.trace import perfetto, session
from inspector.trace.recording import EventEncoder, load

from ui_support import click_row, find, table_rows

CONNECTIONS = 400


def _write_recording(path: Path) -> None:
    """Connections that each send a numbered greeting and get it back, then close."""
    events: list[ev.Event] = []
    seq = 0

    def add(cls: type[ev.Event], **values: Any) -> None:
        nonlocal seq
        seq += 1
        events.append(cls(seq=seq, ts=10.0 + seq / 1000, reactor="R", **values))

    for conn in range(1, CONNECTIONS + 1):
        greeting = f"hello {conn:04d}\r\n".encode()
        add(ev.ConnectionOpened, conn=conn, role="client", protocol="Echo", local="127.0.0.1:1",
            peer="127.0.0.1:2")
        add(ev.ConnectionState, conn=conn, previous="connecting", state="connected")
        add(ev.BytesOut, conn=conn, size=len(greeting), data=greeting)
        add(ev.BytesIn, conn=conn, size=len(greeting), data=greeting)
        add(ev.DeferredCreated, deferred=conn, site="x.py:1", function="f")
        add(ev.DeferredFired, deferred=conn, result_type="int", result_repr=str(conn))
        add(ev.ConnectionClosed, conn=conn, reason_type="ConnectionDone", reason="closed cleanly",
            bytes_in=len(greeting), bytes_out=len(greeting))
    encoder = EventEncoder(secrets=True)
    header = {"format": "inspector-trace", "version": 1, "start_time": 1700000000.0,
              "start_monotonic": 10.0, "host": "h", "reactor": "R"}
    path.write_text(encoder.line(header) + encoder.events(events) + encoder.line({"meta": {"end_time": 1.8e9}}))


def test_exports_of_an_opened_recording_match_the_command_line(
    qtbot: Any, window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from inspector.ui import recordings

    path = tmp_path / "many.jsonl"
    _write_recording(path)
    assert path.stat().st_size > recordings.QUIET_BYTES
    monkeypatch.setattr(recordings, "SLICE_SECONDS", 0.0)  # many slices, the dialog shown

    loader = window.open_recording(str(path))
    assert window.findChild(QProgressDialog, "recording.progress") is not None
    qtbot.waitUntil(lambda: loader.done, timeout=60000)
    assert not loader.error and loader.events == 7 * CONNECTIONS
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(lambda: connections.model().rowCount() == CONNECTIONS, timeout=10000)

    # The session panel shows the recorded bytes of the connection picked.
    rows = table_rows(connections)
    row = next(i for i, r in enumerate(rows) if r[0].lstrip("#") == "357")
    click_row(qtbot, connections, row)
    text = find(window, QPlainTextEdit, "session.text").toPlainText()
    assert "▶ hello 0357" in text and "◀ hello 0357" in text
    assert "0356" not in text and "0358" not in text

    reference = load(path)
    transcript = tmp_path / "357.txt"
    assert window.export_transcript(357, str(transcript))
    assert transcript.read_text() == session.transcript(reference, 357)
    assert "hello 0357" in transcript.read_text()

    ours, theirs = tmp_path / "window.json", tmp_path / "command.json"
    assert window.export_perfetto(str(ours))
    perfetto.export(reference, str(theirs))
    assert json.loads(ours.read_text()) == json.loads(theirs.read_text())
    assert window.loaded_trace.problems == reference.problems == []
