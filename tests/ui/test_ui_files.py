"""File menu: record the trace, open a recording (or a file that is not one), export."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QProgressDialog, QTableView

from ui_support import click_row, find, table_rows


def test_opening_a_file_that_is_not_a_recording_shows_why(qtbot: Any, window: Any, tmp_path: Any) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("just some notes\n")
    loader = window.open_recording(str(junk))
    qtbot.waitUntil(lambda: loader.done, timeout=10000)
    assert "not an Inspector trace recording" in window.statusBar().currentMessage()
    qtbot.waitUntil(
        lambda: any(
            "not an Inspector trace recording" in row[3] for row in table_rows(find(window, QTableView, "log.table"))
        ),
        timeout=10000,
    )
    assert window.live  # the live session stays on screen


def test_exporting_without_a_selection_explains(qtbot: Any, window: Any) -> None:
    window.export_transcript_dialog()
    assert "Select a connection first" in window.statusBar().currentMessage()


def test_record_then_open_shows_the_session_offline_and_exports(
    qtbot: Any, window: Any, tmp_path: Any, free_port: Any
) -> None:
    import json

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QComboBox, QLineEdit, QPlainTextEdit, QPushButton

    recording = tmp_path / "session.jsonl"
    assert window.start_recording(str(recording))
    port = free_port()
    entry = find(window, QComboBox, "launcher.entry")
    entry.setCurrentIndex(entry.findText("Echo server (TCP)"))
    find(window, QLineEdit, "launcher.param.port").setText(str(port))
    qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)
    entry.setCurrentIndex(entry.findText("Echo client (TCP)"))
    find(window, QLineEdit, "launcher.param.port").setText(str(port))
    qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(lambda: len(table_rows(connections)) == 2, timeout=10000)
    window.launcher.running()[-1].handle.send_line("recorded line")
    qtbot.waitUntil(lambda: any("B" in row[6] and row[6] != "0 B" for row in table_rows(connections)), timeout=10000)
    qtbot.wait(300)  # the tracer flushes the recording about five times a second
    window.stop_recording()
    window.launcher.stop_all()

    loader = window.open_recording(str(recording))
    qtbot.waitUntil(lambda: loader.done, timeout=10000)
    assert not loader.error
    assert not window.live
    assert window.windowTitle().endswith("session.jsonl")
    rows = table_rows(connections)
    assert sorted(row[1] for row in rows) == ["client", "server"]
    client_row = next(i for i, row in enumerate(rows) if row[1] == "client")
    click_row(qtbot, connections, client_row)
    text = find(window, QPlainTextEdit, "session.text").toPlainText()
    assert "▶ recorded line" in text and "◀ recorded line" in text
    assert not find(window, QLineEdit, "session.input").isEnabled()  # nothing to send to offline

    perfetto = tmp_path / "trace.json"
    assert window.export_perfetto(str(perfetto))
    events = json.loads(perfetto.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    assert any(event.get("ph") == "X" for event in events)
    transcript = tmp_path / "client.txt"
    conn_id = window.session.connection.id
    assert window.export_transcript(conn_id, str(transcript))
    assert "recorded line" in transcript.read_text()


def test_a_long_recording_loads_with_progress_and_the_window_stays_live(
    qtbot: Any, window: Any, tmp_path: Any, free_port: Any
) -> None:
    from inspector import catalog
    from inspector.ui import recordings

    recording = tmp_path / "long.jsonl"
    assert window.start_recording(str(recording))
    server = catalog.find("echo", "server").start(window.reactor, port=free_port())
    client = catalog.find("echo", "client").start(window.reactor, port=server.address.port)
    replies: list[str] = []
    client.on_output(replies.append)
    for number in range(1500):
        client.send_line(f"line {number:04d} " + "x" * 40)
    qtbot.waitUntil(lambda: sum("line 1499" in r for r in replies) > 0, timeout=20000)
    qtbot.wait(300)
    window.stop_recording()
    client.stop()
    server.stop()
    assert recording.stat().st_size > recordings.QUIET_BYTES

    progress: list[int] = []
    loader = window.open_recording(str(recording))
    loader.progressed.connect(progress.append)
    assert window.findChild(QProgressDialog, "recording.progress") is not None
    qtbot.waitUntil(lambda: loader.done, timeout=20000)
    assert not loader.error
    assert len(progress) >= 2 and progress == sorted(progress)
    rows = table_rows(find(window, QTableView, "connections.table"))
    assert sorted(row[1] for row in rows) == ["client", "server"]
    assert (
        window.findChild(QProgressDialog, "recording.progress") is None
        or not window.findChild(QProgressDialog, "recording.progress").isVisible()
    )
