"""The window driven as a person would: launch, watch, read, type, stop — over real sockets."""

from __future__ import annotations

import socket
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QTableView

from ui_support import click_row, find, table_rows

STATE = 5  # the connections table's State column
ROLE = 1
REASON = 11
SERVICE = 2  # the running-services table: Stop button, #, Service, Status, Last output
STATUS = 3


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


def test_echo_session_from_launch_to_stop(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    port = free_port()
    services = find(window, QTableView, "launcher.services")
    connections = find(window, QTableView, "connections.table")

    launch(qtbot, window, "Echo server (TCP)", port=port)
    qtbot.waitUntil(
        lambda: any(f":{port}/tcp" in row[SERVICE] and row[STATUS] == "running" for row in table_rows(services)),
        timeout=10000,
    )
    launch(qtbot, window, "Echo client (TCP)", port=port)
    qtbot.waitUntil(
        lambda: (
            sorted(row[ROLE] for row in table_rows(connections) if row[STATE] == "connected") == ["client", "server"]
        ),
        timeout=10000,
    )

    rows = table_rows(connections)
    client_row = next(i for i, row in enumerate(rows) if row[ROLE] == "client")
    click_row(qtbot, connections, client_row)
    line = find(window, QLineEdit, "session.input")
    qtbot.waitUntil(line.isEnabled, timeout=10000)
    qtbot.keyClicks(line, "hello inspector")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    text_view = find(window, QPlainTextEdit, "session.text")
    qtbot.waitUntil(lambda: "◀ hello inspector" in text_view.toPlainText(), timeout=10000)
    assert "▶ hello inspector" in text_view.toPlainText()
    assert "68 65 6c 6c 6f" in find(window, QPlainTextEdit, "session.hex").toPlainText()

    # The client's connection Deferred, as a diagram.
    window.show_dock("Deferreds")
    search = find(window, QLineEdit, "deferreds.search")
    qtbot.keyClicks(search, "connected")
    deferreds = find(window, QTableView, "deferreds.table")
    qtbot.waitUntil(lambda: deferreds.model().rowCount() > 0, timeout=10000)
    click_row(qtbot, deferreds, deferreds.model().rowCount() - 1)
    diagram = window.deferreds.diagram

    def first_step() -> str:
        lines = diagram.accessibleDescription().splitlines()
        return lines[1] if len(lines) > 1 else ""

    qtbot.waitUntil(
        lambda: first_step().startswith("1. callback") and "connected" in first_step() and " ran " in first_step(),
        timeout=10000,
    )
    assert "returned" in first_step()

    # Stop the server: its connections close, and the table says so.
    server_row = next(
        i for i, row in enumerate(table_rows(services)) if f":{port}/tcp" in row[SERVICE] and "server" in row[SERVICE]
    )
    click_row(qtbot, services, server_row)  # the row's Stop button
    qtbot.waitUntil(lambda: all(row[STATE] == "closed" for row in table_rows(connections)), timeout=10000)
    assert all(row[REASON] for row in table_rows(connections))
    qtbot.waitUntil(lambda: table_rows(services)[server_row][STATUS] == "stopped", timeout=10000)
    assert not line.isEnabled()


def test_bad_values_and_busy_ports_show_in_the_window(qtbot: Any, window: Any) -> None:
    error = find(window, QLabel, "launcher.error")
    launch(qtbot, window, "Echo server (TCP)", port=70000)
    assert "port" in error.text() and "65535" in error.text()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        launch(qtbot, window, "Echo server (TCP)", port=busy.getsockname()[1])
        assert str(busy.getsockname()[1]) in error.text()
    assert find(window, QTableView, "launcher.services").model().rowCount() == 0
    qtbot.waitUntil(
        lambda: any("65535" in row[3] for row in table_rows(find(window, QTableView, "log.table"))), timeout=10000
    )


def test_invalid_nick_and_unreachable_host_are_explained(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    error = find(window, QLabel, "launcher.error")
    launch(qtbot, window, "IRC client (TCP)", port=free_port(), nick="9lives", channel="#tea")
    assert "nick" in error.text() and "9lives" in error.text()
    launch(qtbot, window, "Echo client (TCP)", host="no-such-host.invalid", port=free_port())
    qtbot.waitUntil(lambda: "no-such-host.invalid" in error.text(), timeout=15000)
    services = find(window, QTableView, "launcher.services")
    assert [row[STATUS] for row in table_rows(services)] == ["failed"]


def test_refused_client_shows_failure(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    launch(qtbot, window, "Echo client (TCP)", port=free_port())
    error = find(window, QLabel, "launcher.error")
    qtbot.waitUntil(lambda: "refused" in error.text().lower(), timeout=10000)
    services = find(window, QTableView, "launcher.services")
    assert table_rows(services)[0][STATUS] == "failed"


def test_launcher_values_and_layout_persist(
    qtbot: Any, qt_reactor: Any, settings: Any, free_port: Callable[[], int]
) -> None:
    import inspector.trace
    from inspector.ui.app import build_window

    first = build_window(qt_reactor, settings, trace=False)
    qtbot.addWidget(first)
    first.show()
    port = free_port()
    launch(qtbot, first, "Echo server (TCP)", port=port)
    first.docks["Timing"].hide()
    first.close()
    second = build_window(qt_reactor, settings, trace=False)
    qtbot.addWidget(second)
    second.show()
    assert find(second, QComboBox, "launcher.entry").currentText() == "Echo server (TCP)"
    assert find(second, QLineEdit, "launcher.param.port").text() == str(port)
    assert not second.docks["Timing"].isVisible()
    assert second.docks["Connections"].isVisible()
    second.shutdown()
    inspector.trace.disable()


def test_shortcut_starts_the_demo(qtbot: Any, window: Any) -> None:
    qtbot.keyClick(window, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    services = find(window, QTableView, "launcher.services")
    qtbot.waitUntil(lambda: len(table_rows(services)) >= 5, timeout=10000)
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(lambda: len(table_rows(connections)) >= 6, timeout=10000)

    # An IRC bot's session: its parsed messages, and a line typed to the channel.
    qtbot.waitUntil(
        lambda: any(row[ROLE] == "client" and "IRC" in row[2] for row in table_rows(connections)), timeout=10000
    )
    bot_row = next(i for i, row in enumerate(table_rows(connections)) if row[ROLE] == "client" and "IRC" in row[2])
    click_row(qtbot, connections, bot_row)
    messages = find(window, QTableView, "session.messages")
    qtbot.waitUntil(
        lambda: any(row[2] == "PRIVMSG" and "#demo" in row[4] for row in table_rows(messages)), timeout=10000
    )
    line = find(window, QLineEdit, "session.input")
    qtbot.waitUntil(line.isEnabled, timeout=10000)
    qtbot.keyClicks(line, "hello from the test")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    text_view = find(window, QPlainTextEdit, "session.text")
    qtbot.waitUntil(lambda: "PRIVMSG #demo :hello from the test" in text_view.toPlainText(), timeout=10000)

    # The loop's own timing, measured through the trace while all this ran.
    window.show_dock("Timing")
    summary = find(window, QLabel, "timing.summary")
    qtbot.waitUntil(
        lambda: summary.text().startswith("loop turns:") and "loop turns: 0 " not in summary.text(), timeout=10000
    )

    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: all(row[STATUS] == "stopped" for row in table_rows(services)), timeout=10000)


def test_dark_palette_from_the_menu_and_remembered(qtbot: Any, qt_reactor: Any, settings: Any) -> None:
    from PySide6.QtGui import QAction, QPalette
    from PySide6.QtWidgets import QApplication

    import inspector.trace
    from inspector.ui.app import build_window

    first = build_window(qt_reactor, settings, trace=False)
    qtbot.addWidget(first)
    first.show()
    dark = find(first, QAction, "action.dark")
    dark.trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 80
    first.close()
    second = build_window(qt_reactor, settings, trace=False)
    qtbot.addWidget(second)
    assert find(second, QAction, "action.dark").isChecked()
    find(second, QAction, "action.dark").trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 160
    second.shutdown()
    inspector.trace.disable()
