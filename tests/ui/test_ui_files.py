"""File menu: opening something that is not a recording says so in the window."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTableView

from ui_support import find, table_rows


def test_opening_a_file_that_is_not_a_recording_shows_why(qtbot: Any, window: Any, tmp_path: Any) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("just some notes\n")
    loader = window.open_recording(str(junk))
    qtbot.waitUntil(lambda: loader.done)
    assert "not an Inspector trace recording" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: any("not an Inspector trace recording" in row[3] for row in table_rows(find(window, QTableView, "log.table"))))
    assert window.live  # the live session stays on screen


def test_exporting_without_a_selection_explains(qtbot: Any, window: Any) -> None:
    window.export_transcript_dialog()
    assert "Select a connection first" in window.statusBar().currentMessage()
