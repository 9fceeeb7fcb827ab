"""The proxy in the window, driven as a person would: started from the launcher's form
between a plain client socket and a plain-socket echo server, its two legs linked in
Connections, one session showing both directions with both legs' states, faults changed
from the Proxy panel (latency measured from the client), a held chunk edited, released
and dropped, a line injected toward the client; and ``inspector proxy`` opening the window."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QWidget,
)

from ui_support import click_row, find, table_rows

WAIT = 10000  # ms: every wait is bounded


class EchoServer:
    """A plain-socket echo server on 127.0.0.1 (a thread per connection) that keeps
    everything it received, so a test can tell what reached the server."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = bytearray()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                conn.close()
                return
            with self.lock:
                self.received += data
            try:
                conn.sendall(data)
            except OSError:
                return

    def got(self) -> bytes:
        with self.lock:
            return bytes(self.received)

    def close(self) -> None:
        self.listener.close()
        for conn in self.sockets:
            conn.close()


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


class Client:
    """A plain client socket read without blocking Qt's loop (the reactor runs inside it)."""

    def __init__(self, qtbot: Any, port: int) -> None:
        self.qtbot = qtbot
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setblocking(False)
        self.received = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> bytes:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return bytes(self.received)
        self.received += data
        return bytes(self.received)

    def wait_for(self, wanted: bytes, timeout: float = 10.0) -> float:
        """Seconds until ``wanted`` has arrived (fails after ``timeout``)."""
        start = time.monotonic()
        while wanted not in self.read():
            assert time.monotonic() - start < timeout, (wanted, bytes(self.received))
            self.qtbot.wait(5)
        return time.monotonic() - start


def launch_proxy(qtbot: Any, window: Any, port: int, upstream_port: int) -> None:
    """Pick Proxy in the launcher, type its form, click Start, wait until it runs."""
    entry_box = find(window, QComboBox, "launcher.entry")
    entry_box.setCurrentIndex(entry_box.findText("Proxy (TCP)"))
    for name, value in (("port", port), ("upstream_host", "127.0.0.1"), ("upstream_port", upstream_port),
                        ("dissector", "lines")):
        edit = find(window, QLineEdit, f"launcher.param.{name}")
        edit.clear()
        qtbot.keyClicks(edit, str(value))
    qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)
    services = find(window, QTableView, "launcher.services")
    qtbot.waitUntil(lambda: any(f":{port}/tcp" in row[2] and row[3] == "running" for row in table_rows(services)),
                    timeout=WAIT)


def column(table: QTableView, title: str) -> int:
    model = table.model()
    return next(c for c in range(model.columnCount()) if model.headerData(c, Qt.Orientation.Horizontal) == title)


def linked_rows(window: Any) -> dict[str, int]:
    """The rows of the connections table whose Link cell is filled: "client"/"upstream" -> row."""
    table = find(window, QTableView, "connections.table")
    link = column(table, "Link")
    found = {}
    for index, row in enumerate(table_rows(table)):
        if row[link].startswith("client leg"):
            found["client"] = index
        elif row[link].startswith("upstream leg"):
            found["upstream"] = index
    return found


def set_spin(qtbot: Any, box: QDoubleSpinBox, text: str) -> None:
    """Type ``text`` into a spin box and press Enter, as a person would."""
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def tick(qtbot: Any, box: QCheckBox) -> None:
    """Click a check box on its box, as a person would (its row may be wider than its text)."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def held_rows(window: Any) -> list[list[str]]:
    return table_rows(find(window, QTableView, "proxy.held"))


def test_proxy_from_the_launcher_linked_legs_faults_holds_and_injection(
    qtbot: Any, window: Any, free_port: Callable[[], int], echo_server: EchoServer
) -> None:
    port = free_port()
    launch_proxy(qtbot, window, port, echo_server.port)
    client = Client(qtbot, port)
    try:
        client.send(b"hello\n")
        client.wait_for(b"hello\n")

        # Both legs appear, linked to each other.
        qtbot.waitUntil(lambda: len(linked_rows(window)) == 2, timeout=WAIT)
        table = find(window, QTableView, "connections.table")
        ids = column(table, "ID")
        rows = table_rows(table)
        legs = linked_rows(window)
        client_id, upstream_id = (int(rows[legs[leg]][ids]) for leg in ("client", "upstream"))
        link = column(table, "Link")
        assert rows[legs["client"]][link] == f"client leg ⇄ #{upstream_id}"
        assert rows[legs["upstream"]][link] == f"upstream leg ⇄ #{client_id}"

        # Selecting the upstream leg shows the whole session: both directions, both legs' states.
        click_row(qtbot, table, legs["upstream"])
        header = find(window, QLabel, "session.proxy.header")
        qtbot.waitUntil(header.isVisible, timeout=WAIT)
        client_address = f"127.0.0.1:{client.sock.getsockname()[1]}"
        qtbot.waitUntil(lambda: f"client {client_address} (connected)" in header.text(), timeout=WAIT)
        assert f"upstream 127.0.0.1:{echo_server.port} (connected)" in header.text()
        text_view = find(window, QPlainTextEdit, "session.text")
        qtbot.waitUntil(lambda: "▶ hello" in text_view.toPlainText() and "◀ hello" in text_view.toPlainText(),
                        timeout=WAIT)
        messages = find(window, QTableView, "session.messages")
        qtbot.waitUntil(lambda: {row[1] for row in table_rows(messages) if "hello" in row[3]} == {"▶", "◀"},
                        timeout=WAIT)
        assert "client → server" in find(window, QLabel, "session.proxy.legend").text()
        assert "use Inject above" in find(window, QLineEdit, "session.input").placeholderText()

        # The bar's button goes to the other leg.
        other = find(window, QPushButton, "session.proxy.other")
        assert other.text() == f"Go to client leg #{client_id}"
        qtbot.mouseClick(other, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.session.connection is not None and window.session.connection.id == client_id,
                        timeout=WAIT)
        assert header.isVisible()
        # The connections' context menu goes to the other leg too, and so does a double-click.
        from test_ui_decode_as import pick, right_click_row

        def shown() -> int:
            return window.session.connection.id if window.session.connection is not None else 0

        menu = right_click_row(qtbot, window, legs["client"])
        assert any(a.text() == f"Go to the other leg (#{upstream_id})" for a in menu.actions())
        pick(qtbot, menu, "connections.other_leg")
        qtbot.waitUntil(lambda: shown() == upstream_id, timeout=WAIT)
        rect = table.visualRect(table.model().index(legs["upstream"], 0))
        # A double-click as the platform delivers it: a click, then the double-click event.
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.waitUntil(lambda: shown() == client_id, timeout=WAIT)

        # Latency client -> server set from the Proxy panel, measured from the client.
        window.show_dock("Proxy")
        latency = find(window, QDoubleSpinBox, "proxy.fault.latency_up")
        assert latency.isEnabled()
        set_spin(qtbot, latency, "0.3")
        proxy = window.proxy_view.proxies()[0]
        assert proxy.faults.latency_up == pytest.approx(0.3)
        client.send(b"slow\n")
        assert client.wait_for(b"slow\n") >= 0.3
        set_spin(qtbot, latency, "0")
        assert proxy.faults.latency_up == 0.0
        client.send(b"quick\n")
        assert client.wait_for(b"quick\n") < 0.3

        # Hold client -> server: the chunk is listed, edited, released; the server gets the edit.
        tick(qtbot, find(window, QCheckBox, "proxy.fault.hold_up"))
        assert proxy.faults.hold_up
        client.send(b"secret\n")
        qtbot.waitUntil(lambda: len(held_rows(window)) == 1, timeout=WAIT)
        row = held_rows(window)[0]
        assert row[2:4] == ["client → server", "7 B"] and row[5] == "secret\\n"
        assert "1 held client → server" in find(window, QLabel, "proxy.held_summary").text()
        assert b"secret" not in echo_server.got()
        click_row(qtbot, find(window, QTableView, "proxy.held"), 0)
        editor = find(window, QPlainTextEdit, "proxy.editor")
        assert editor.toPlainText() == "secret\\n"
        hex_box = find(window, QCheckBox, "proxy.editor_hex")
        tick(qtbot, hex_box)
        assert editor.toPlainText() == "73 65 63 72 65 74 0a"
        tick(qtbot, hex_box)
        assert editor.toPlainText() == "secret\\n"
        editor.selectAll()
        qtbot.keyClicks(editor, "edited\\x21\\n")
        qtbot.mouseClick(find(window, QPushButton, "proxy.save"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: held_rows(window) and held_rows(window)[0][5] == "edited!\\n", timeout=WAIT)
        assert held_rows(window)[0][3] == "8 B (was 7 B)"
        qtbot.mouseClick(find(window, QPushButton, "proxy.release"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: b"edited!\n" in echo_server.got(), timeout=WAIT)
        client.wait_for(b"edited!\n")
        assert b"secret" not in echo_server.got()
        assert held_rows(window) == []

        # Drop one: it never reaches the server; the next one, released, does.
        client.send(b"drop me\n")
        qtbot.waitUntil(lambda: len(held_rows(window)) == 1, timeout=WAIT)
        click_row(qtbot, find(window, QTableView, "proxy.held"), 0)
        qtbot.mouseClick(find(window, QPushButton, "proxy.drop"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: held_rows(window) == [], timeout=WAIT)
        client.send(b"after\n")
        qtbot.waitUntil(lambda: len(held_rows(window)) == 1, timeout=WAIT)
        qtbot.mouseClick(find(window, QPushButton, "proxy.release_all"), Qt.MouseButton.LeftButton)
        client.wait_for(b"after\n")
        assert echo_server.got().endswith(b"edited!\nafter\n")
        assert b"drop me" not in echo_server.got()

        # A line injected toward the client from the session view reaches the client.
        direction = find(window, QComboBox, "session.proxy.direction")
        direction.setCurrentIndex(direction.findData("down"))
        line = find(window, QLineEdit, "session.proxy.inject")
        qtbot.keyClicks(line, "injected\\x01")
        qtbot.keyClick(line, Qt.Key.Key_Return)
        client.wait_for(b"injected\x01\r\n")
        assert line.text() == ""
        assert b"injected" not in echo_server.got()  # toward the client only
        direction.setCurrentIndex(direction.findData("up"))
        qtbot.keyClicks(line, "to the server")
        qtbot.mouseClick(find(window, QPushButton, "session.proxy.inject_button"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: echo_server.got().endswith(b"to the server\r\n"), timeout=WAIT)
        # A malformed escape is refused in one red line, the text kept to be corrected.
        qtbot.keyClicks(line, "bad\\q")
        qtbot.keyClick(line, Qt.Key.Key_Return)
        error = find(window, QLabel, "session.proxy.error")
        assert error.isVisible() and "unknown escape" in error.text()
        assert line.text() == "bad\\q"
    finally:
        client.sock.close()


def test_the_panel_follows_faults_changed_elsewhere_and_says_when_no_proxy_runs(
    qtbot: Any, window: Any, free_port: Callable[[], int], echo_server: EchoServer
) -> None:
    port = free_port()
    launch_proxy(qtbot, window, port, echo_server.port)
    window.show_dock("Proxy")
    qtbot.waitUntil(lambda: find(window, QDoubleSpinBox, "proxy.fault.latency_up").isEnabled(), timeout=WAIT)
    proxy = window.proxy_view.proxies()[0]
    proxy.faults.latency_down = 0.25  # changed elsewhere (a script): the form follows
    qtbot.waitUntil(lambda: find(window, QDoubleSpinBox, "proxy.fault.latency_down").value() == 0.25, timeout=WAIT)
    # Stopping the proxy empties the panel and says how to start one.
    qtbot.mouseClick(find(window, QPushButton, "launcher.stop_all"), Qt.MouseButton.LeftButton)
    note = find(window, QLabel, "proxy.note")
    qtbot.waitUntil(note.isVisible, timeout=WAIT)
    assert "Start one from the launcher" in note.text()
    assert not find(window, QWidget, "proxy.fault.latency_up").isEnabled()


def _inspector(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "inspector", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_inspector_proxy_without_headless_opens_the_window_with_the_proxy(
    tmp_path: Path, free_port: Callable[[], int], echo_server: EchoServer
) -> None:
    picture = tmp_path / "proxy.png"
    port = free_port()
    done = _inspector("--screenshot", str(picture), "proxy", "--listen", str(port), "--to",
                      f"127.0.0.1:{echo_server.port}", "--latency-down", "0.1", "--hold", "up")
    assert done.returncode == 0, done.stderr
    assert picture.stat().st_size > 10_000
    assert f"proxy listening on 127.0.0.1:{port}" in done.stderr
    assert "hold_up" in done.stderr  # its faults, as the flags set them


def test_inspector_proxy_window_with_a_bad_upstream_says_so_and_exits_1(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    picture = tmp_path / "proxy.png"
    done = _inspector("--screenshot", str(picture), "proxy", "--listen", str(free_port()), "--to", "nowhere")
    assert done.returncode == 1
    assert picture.exists()  # the window still opened and was pictured
    assert "could not start the proxy" in done.stderr


def test_the_store_links_both_legs_whichever_event_comes_first() -> None:
    from inspector.trace import events as ev
    from inspector.ui.viewmodel.connections import LINK_COLUMN, row_texts
    from inspector.ui.viewmodel.feed import apply
    from inspector.ui.viewmodel.store import Store

    def opened(conn: int, role: str) -> ev.ConnectionOpened:
        return ev.ConnectionOpened(conn=conn, ts=1.0, role=role, protocol="x", local="a", peer="b")

    linked = ev.ConnectionLinked(conn=1, ts=1.1, other=2, label="proxy 127.0.0.1:8000")
    for events in ([opened(1, "server"), opened(2, "client"), linked],  # as it happens live
                   [opened(1, "server"), linked, opened(2, "client")]):  # the upstream leg seen late
        store = Store(clock=0.0)
        apply(store, events)
        client, upstream = store.connections[1], store.connections[2]
        assert (client.linked, client.link_role, upstream.linked, upstream.link_role) == (2, "client", 1, "upstream")
        assert row_texts(client, 2.0)[LINK_COLUMN] == "client leg ⇄ #2"
        assert row_texts(upstream, 2.0)[LINK_COLUMN] == "upstream leg ⇄ #1"
    assert row_texts(opened_store_row(), 2.0)[LINK_COLUMN] == ""


def opened_store_row() -> Any:
    """A connection that is no proxy's leg."""
    from inspector.trace import events as ev
    from inspector.ui.viewmodel.feed import apply
    from inspector.ui.viewmodel.store import Store

    store = Store(clock=0.0)
    apply(store, [ev.ConnectionOpened(conn=5, ts=1.0, role="client", protocol="echo", local="a", peer="b")])
    return store.connections[5]
