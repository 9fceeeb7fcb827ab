"""The raw listener in the window: what a plain client sends is shown, and a line typed
in the session box on that connection is sent to that client (escapes interpreted)."""

from __future__ import annotations

import socket
import time
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QPlainTextEdit, QTableView

from ui_support import click_row, find, table_rows

ROLE = 1
PEER = 4


def test_typed_lines_go_to_the_selected_listener_connection(
    qtbot: Any, window: Any, free_port: Callable[[], int]
) -> None:
    from test_ui_window import launch

    port = free_port()
    launch(qtbot, window, "Raw listener (TCP)", port=port, line_end="\\r\\n")
    connections = find(window, QTableView, "connections.table")
    first = socket.create_connection(("127.0.0.1", port), timeout=10)
    second = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        first.sendall(b"from first\x00\n")
        second.sendall(b"from second\n")
        wanted = f"127.0.0.1:{first.getsockname()[1]}"
        qtbot.waitUntil(lambda: len([r for r in table_rows(connections) if r[ROLE] == "server"]) == 2,
                        timeout=10000)
        rows = table_rows(connections)
        click_row(qtbot, connections, next(i for i, row in enumerate(rows) if row[PEER] == wanted))
        text_view = find(window, QPlainTextEdit, "session.text")
        qtbot.waitUntil(lambda: "from first\\x00" in text_view.toPlainText(), timeout=10000)
        line = find(window, QLineEdit, "session.input")
        qtbot.waitUntil(line.isEnabled, timeout=10000)
        qtbot.keyClicks(line, "hi\\x41")
        qtbot.keyClick(line, Qt.Key.Key_Return)
        got = b""
        deadline = time.monotonic() + 10
        while not got.endswith(b"\r\n") and time.monotonic() < deadline:
            qtbot.wait(20)  # let the reactor (inside Qt's loop) write it
            first.setblocking(False)
            try:
                got += first.recv(100)
            except BlockingIOError:
                pass
        assert got == b"hiA\r\n"  # to the selected connection, not the newer one
        second.setblocking(False)
        try:
            assert second.recv(100) == b""
        except BlockingIOError:
            pass  # nothing arrived: as it should
    finally:
        first.close()
        second.close()


def test_the_dissector_is_picked_from_a_list_of_the_known_ones(
    qtbot: Any, window: Any, free_port: Callable[[], int]
) -> None:
    """The Dissector field offers every dissector there is (plug-ins included); picking
    one from the drop-down fills the field, and the listener then parses with it."""
    from PySide6.QtWidgets import QComboBox, QPushButton

    from inspector import dissect

    entry_box = find(window, QComboBox, "launcher.entry")
    entry_box.setCurrentIndex(entry_box.findText("Raw listener (TCP)"))
    choices = find(window, QComboBox, "launcher.choice.dissector")
    offered = [choices.itemText(i) for i in range(choices.count())]
    assert offered == dissect.names()
    field = find(window, QLineEdit, "launcher.param.dissector")
    assert field.text() == "raw"
    choices.setFocus()
    while field.text() != "lines":  # walk down the list with the arrow key, as a person would
        before = field.text()
        qtbot.keyClick(choices, Qt.Key.Key_Down)
        assert field.text() != before, f"stuck at {before!r} in {offered}"
    port = free_port()
    find(window, QLineEdit, "launcher.param.port").setText(str(port))
    qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)
    connections = find(window, QTableView, "connections.table")
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        client.sendall(b"first line\nsecond line\n")
        qtbot.waitUntil(lambda: any(r[ROLE] == "server" for r in table_rows(connections)), timeout=10000)
        click_row(qtbot, connections, next(i for i, r in enumerate(table_rows(connections)) if r[ROLE] == "server"))
        messages = find(window, QTableView, "session.messages")
        qtbot.waitUntil(lambda: any("second line" in " ".join(r) for r in table_rows(messages)), timeout=10000)
        assert sum("line" in " ".join(r) for r in table_rows(messages)) == 2  # one message per line
    finally:
        client.close()


def test_the_proxy_offers_no_dissector_as_a_choice(qtbot: Any, window: Any) -> None:
    """The proxy's optional dissector and hold fields list "(none)" first; picking it
    leaves the field empty, which the proxy reads as not parsing / not holding."""
    from PySide6.QtWidgets import QComboBox

    entry_box = find(window, QComboBox, "launcher.entry")
    entry_box.setCurrentIndex(entry_box.findText("Proxy (TCP)"))
    hold = find(window, QComboBox, "launcher.choice.hold")
    assert [hold.itemText(i) for i in range(hold.count())] == ["(none)", "up", "down", "both"]
    field = find(window, QLineEdit, "launcher.param.hold")
    hold.setFocus()
    qtbot.keyClick(hold, Qt.Key.Key_Down)
    assert field.text() == "up"
    qtbot.keyClick(hold, Qt.Key.Key_Up)
    assert field.text() == ""
    assert window.findChild(QComboBox, "launcher.choice.dissector").itemText(0) == "(none)"
