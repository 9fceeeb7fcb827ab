"""The "Process client" entry in the window: launched from the form, its pipes shown and typed to."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QTableView

from ui_support import click_row, find, table_rows

ROLE = 1
PROTOCOL = 2
STATE = 5
REASON = 11
SERVICE = 2  # the running-services table
STATUS = 3
PICTURES = os.environ.get("INSPECTOR_TEST_PICTURES")  # set to look at the window after the test


def launch(qtbot: Any, window: Any, title: str, **fields: Any) -> None:
    """Pick ``title`` in the launcher, type ``fields`` into the form, click Start."""
    entry_box = find(window, QComboBox, "launcher.entry")
    index = entry_box.findText(title)
    assert index >= 0, f"{title!r} is not offered by the launcher"
    entry_box.setCurrentIndex(index)
    for name, value in fields.items():
        edit = find(window, QLineEdit, f"launcher.param.{name}")
        edit.clear()
        qtbot.keyClicks(edit, str(value))
    qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)


def test_typed_line_reaches_cat_and_comes_back(qtbot: Any, window: Any) -> None:
    services = find(window, QTableView, "launcher.services")
    connections = find(window, QTableView, "connections.table")

    launch(qtbot, window, "Process client (PIPES)", command="sh -c 'echo ready; exec cat'")
    qtbot.waitUntil(
        lambda: any("sh -c" in row[SERVICE] and row[STATUS] == "running" for row in table_rows(services)),
        timeout=10000,
    )
    # The child is a traced connection, named after the entry, selected as it appears.
    qtbot.waitUntil(
        lambda: any(row[ROLE] == "client" and row[PROTOCOL] == "Process" and row[STATE] == "connected"
                    for row in table_rows(connections)),
        timeout=10000,
    )
    row = next(i for i, r in enumerate(table_rows(connections)) if r[PROTOCOL] == "Process")
    click_row(qtbot, connections, row)
    text_view = find(window, QPlainTextEdit, "session.text")
    qtbot.waitUntil(lambda: "◀ ready" in text_view.toPlainText(), timeout=10000)

    line = find(window, QLineEdit, "session.input")
    qtbot.waitUntil(line.isEnabled, timeout=10000)
    qtbot.keyClicks(line, "hello child")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "◀ hello child" in text_view.toPlainText(), timeout=10000)
    assert "▶ hello child" in text_view.toPlainText()
    assert find(window, QLabel, "launcher.error").text() == ""
    if PICTURES:
        window.grab().save(os.path.join(PICTURES, "process-session.png"))

    # Stopping it from its row: the child is terminated and the service reads "stopped".
    service_row = next(i for i, r in enumerate(table_rows(services)) if "sh -c" in r[SERVICE])
    click_row(qtbot, services, service_row)
    qtbot.waitUntil(lambda: table_rows(services)[service_row][STATUS] == "stopped", timeout=10000)
    # The trace tells how the child ended: terminated by the stop's SIGTERM.
    qtbot.waitUntil(lambda: table_rows(connections)[row][STATE] != "connected", timeout=10000)
    assert "signal 15" in table_rows(connections)[row][REASON]
    assert not line.isEnabled()
    if PICTURES:
        window.grab().save(os.path.join(PICTURES, "process-stopped.png"))


def test_missing_program_is_explained_in_the_form(qtbot: Any, window: Any) -> None:
    launch(qtbot, window, "Process client (PIPES)", command="no-such-program-here --flag")
    error = find(window, QLabel, "launcher.error")
    qtbot.waitUntil(lambda: "no-such-program-here" in error.text(), timeout=10000)
    assert "no such program on PATH" in error.text()
