"""Decode as… in the window: a raw client talks to a plain-socket server sending
netstrings; the session's messages are decoded again from the connection's recorded
bytes with the dissector a person picks, follow new bytes, go back to the messages as
recorded, and a dissector that raises shows an error row while the window goes on."""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable, Iterator

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QPlainTextEdit, QPushButton, QTableView

from inspector import dissect
from inspector.dissect.base import Message

from ui_support import click_row, find, table_rows

ROLE = 1
KIND, TEXT = 2, 3


class NetstringServer:
    """A plain-socket server: one connection, sends netstrings when told, closes at the end."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(20)
        self.conn: socket.socket | None = None
        self.accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.conn, _ = self.sock.accept()
        self.accepted.set()

    def send(self, data: bytes) -> None:
        assert self.accepted.wait(20) and self.conn is not None
        self.conn.sendall(data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.sock.close()


@pytest.fixture
def server() -> Iterator[NetstringServer]:
    made = NetstringServer()
    yield made
    made.close()


def messages(window: Any) -> list[list[str]]:
    return table_rows(find(window, QTableView, "session.messages"))


def pick(qtbot: Any, menu: QMenu, name: str) -> None:
    """Click the item called ``name`` (an object name) in the open ``menu``."""
    qtbot.waitUntil(menu.isVisible, timeout=5000)
    action = next(a for a in menu.actions() if a.objectName() == name)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())


def right_click_row(qtbot: Any, window: Any, row: int) -> QMenu:
    table = find(window, QTableView, "connections.table")
    viewport = table.viewport()
    at = QPoint(table.visualRect(table.model().index(row, 0)).center())
    # The right button, then the context-menu event the platform sends with it (the
    # offscreen platform sends none by itself).
    qtbot.mouseClick(viewport, Qt.MouseButton.RightButton, pos=at)
    QApplication.sendEvent(viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at, viewport.mapToGlobal(at)))
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=5000)
    return QApplication.activePopupWidget()


def session_menu(qtbot: Any, window: Any) -> QMenu:
    qtbot.mouseClick(find(window, QPushButton, "session.decode"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=5000)
    return QApplication.activePopupWidget()


def start_raw_client(qtbot: Any, window: Any, server: NetstringServer) -> int:
    """Launch the raw client against ``server`` from the launcher; select its connection."""
    from test_ui_window import launch

    launch(qtbot, window, "Raw client (TCP)", host="127.0.0.1", port=server.port)
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(lambda: any(row[ROLE] == "client" for row in table_rows(connections)), timeout=10000)
    row = next(i for i, r in enumerate(table_rows(connections)) if r[ROLE] == "client")
    click_row(qtbot, connections, row)
    return row


class Broken:
    """Like a plug-in with a bug: it fails on the first bytes it sees."""

    def feed(self, direction: str, data: bytes) -> list[Message]:
        raise RuntimeError("this plug-in has a bug")

    def flush(self) -> list[Message]:
        return []


def test_decode_as_netstrings_from_the_context_menu_and_back(
        qtbot: Any, window: Any, server: NetstringServer) -> None:
    row = start_raw_client(qtbot, window, server)
    server.send(b"5:hello,3:ab")
    text_view = find(window, QPlainTextEdit, "session.text")
    qtbot.waitUntil(lambda: "5:hello,3:ab" in text_view.toPlainText(), timeout=10000)
    # As recorded, the raw client's own dissector (raw) shows the chunk in hex.
    qtbot.waitUntil(lambda: any(r[KIND] == "data" for r in messages(window)), timeout=10000)

    pick(qtbot, right_click_row(qtbot, window, row), "decode.netstrings")
    label = find(window, QLabel, "session.decoded")
    assert label.isVisible() and "Decoded as <b>netstrings</b>" in label.text()
    assert [(r[1], r[KIND], r[TEXT]) for r in messages(window)] == [("◀", "netstring", "5 bytes: hello")]

    # Live: the rest of the second netstring and a third arrive, and are decoded.
    server.send(b"c,2:ok,")
    qtbot.waitUntil(lambda: len(messages(window)) == 3, timeout=10000)
    assert [r[TEXT] for r in messages(window)] == ["5 bytes: hello", "3 bytes: abc", "2 bytes: ok"]

    # The menu says which is in use; "as recorded" brings the protocol's messages back.
    menu = session_menu(qtbot, window)
    assert [a.objectName() for a in menu.actions() if a.isChecked()] == ["decode.netstrings"]
    pick(qtbot, menu, "decode.recorded")
    qtbot.waitUntil(lambda: not label.isVisible(), timeout=5000)
    assert {r[KIND] for r in messages(window)} == {"data"}


def test_a_dissector_that_raises_shows_an_error_and_the_window_goes_on(
        qtbot: Any, window: Any, server: NetstringServer) -> None:
    dissect.register("test-broken-ui", Broken, replace=True)
    start_raw_client(qtbot, window, server)
    server.send(b"one\n")
    text_view = find(window, QPlainTextEdit, "session.text")
    qtbot.waitUntil(lambda: "one" in text_view.toPlainText(), timeout=10000)

    pick(qtbot, session_menu(qtbot, window), "decode.test-broken-ui")
    rows = messages(window)
    assert [(r[KIND], r[TEXT]) for r in rows] == [
        ("error", "dissector 'test-broken-ui' failed: RuntimeError: this plug-in has a bug")]
    error_colour = find(window, QTableView, "session.messages").model().index(0, KIND).data(
        Qt.ItemDataRole.ForegroundRole)
    assert error_colour is not None and error_colour.red() > 150
    assert "Decoding as <b>test-broken-ui</b> failed" in find(window, QLabel, "session.decoded").text()

    # The window goes on: new bytes still show, and another dissector works.
    server.send(b"two\n")
    qtbot.waitUntil(lambda: "two" in text_view.toPlainText(), timeout=10000)
    pick(qtbot, session_menu(qtbot, window), "decode.lines")
    assert [(r[KIND], r[TEXT]) for r in messages(window)] == [("line", "one"), ("line", "two")]


def test_decode_as_holds_while_selected_and_ends_with_another_selection(
        qtbot: Any, window: Any, server: NetstringServer, free_port: Callable[[], int]) -> None:
    from test_ui_window import launch

    start_raw_client(qtbot, window, server)
    server.send(b"x\n")
    qtbot.waitUntil(lambda: bool(messages(window)), timeout=10000)
    pick(qtbot, session_menu(qtbot, window), "decode.lines")
    assert [r[TEXT] for r in messages(window)] == ["x"]
    # Another connection selected: its own messages, and the label is gone.
    other = free_port()
    launch(qtbot, window, "Echo server (TCP)", port=other)
    launch(qtbot, window, "Echo client (TCP)", port=other)
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(lambda: len(table_rows(connections)) >= 3, timeout=10000)
    echo_row = next(i for i, r in enumerate(table_rows(connections)) if "echo" in " ".join(r).lower())
    click_row(qtbot, connections, echo_row)
    qtbot.waitUntil(lambda: not find(window, QLabel, "session.decoded").isVisible(), timeout=5000)
    assert {r[KIND] for r in messages(window)} <= {"line"}  # the echo client's own lines


def test_decode_as_on_a_recording_opened_in_the_window(qtbot: Any, window: Any, tmp_path: Any) -> None:
    """A session recorded headless (``connect raw --dissector lines``), opened in the
    window: its recorded messages are the lines; Decode as… netstrings reads them again,
    the unfinished last one included (the connection closed)."""
    import os
    import subprocess
    import sys

    server = NetstringServer()
    sender = threading.Thread(target=lambda: (server.send(b"5:hello,3:abc,2:o"), server.close()), daemon=True)
    sender.start()
    recording = tmp_path / "raw.jsonl"
    env = {key: value for key, value in os.environ.items() if key != "INSPECTOR_REACTOR"}
    done = subprocess.run(
        [sys.executable, "-m", "inspector", "--record", str(recording), "connect", "raw",
         "--host", "127.0.0.1", "--port", str(server.port), "--dissector", "lines"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={**env, "QT_QPA_PLATFORM": "offscreen"})
    sender.join(5)
    assert done.returncode == 0, done.stderr

    loader = window.open_recording(str(recording))
    qtbot.waitUntil(lambda: loader.done, timeout=10000)
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(lambda: len(table_rows(connections)) == 1, timeout=10000)
    click_row(qtbot, connections, 0)
    qtbot.waitUntil(lambda: len(messages(window)) == 1, timeout=10000)
    assert [(r[KIND], r[TEXT]) for r in messages(window)] == [("line", "5:hello,3:abc,2:o (no line ending)")]

    pick(qtbot, right_click_row(qtbot, window, 0), "decode.netstrings")
    assert [(r[KIND], r[TEXT]) for r in messages(window)] == [
        ("netstring", "5 bytes: hello"), ("netstring", "3 bytes: abc"),
        ("incomplete", "3 bytes of an unfinished message: 2:o")]


def test_the_menu_key_opens_decode_as_on_the_selected_row(
        qtbot: Any, window: Any, server: NetstringServer) -> None:
    start_raw_client(qtbot, window, server)
    server.send(b"3:abc,")
    qtbot.waitUntil(lambda: bool(messages(window)), timeout=10000)
    viewport = find(window, QTableView, "connections.table").viewport()
    corner = QPoint(viewport.width() - 2, viewport.height() - 2)  # below the rows: no row there
    QApplication.sendEvent(viewport, QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, corner,
                                                       viewport.mapToGlobal(corner)))
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=5000)
    pick(qtbot, QApplication.activePopupWidget(), "decode.netstrings")
    assert [r[TEXT] for r in messages(window)] == ["3 bytes: abc"]
