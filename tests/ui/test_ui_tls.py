"""The session panel marks a TLS connection: its bytes are the plaintext inside TLS."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QPlainTextEdit

import inspector.trace
from inspector.ui.panels.session import TLS_MARK, TLS_WIRE_MARK, SessionPanel
from inspector.ui.viewmodel.feed import LiveFeed
from inspector.ui.viewmodel.store import Store


def test_a_tls_session_is_marked_and_a_tcp_one_is_not(qtbot: Any, qt_reactor: Any, free_port: Any) -> None:
    from inspector import catalog

    inspector.trace.disable()
    tracer = inspector.trace.enable()
    try:
        store = Store()
        feed = LiveFeed(tracer.trace, store)
        panel = SessionPanel(store)
        qtbot.addWidget(panel)
        panel.show()
        tls_server = catalog.find("echo", "server", "tls").start(qt_reactor, port=free_port())
        tcp_server = catalog.find("echo", "server", "tcp").start(qt_reactor, port=free_port())
        tls_client = catalog.find("echo", "client", "tls").start(
            qt_reactor, port=tls_server.port.getHost().port, insecure=True)
        tcp_client = catalog.find("echo", "client", "tcp").start(qt_reactor, port=tcp_server.port.getHost().port)
        replies: list[str] = []
        tls_client.on_output(replies.append)
        tcp_client.on_output(replies.append)
        tls_client.send_line("secret words")
        tcp_client.send_line("plain words")
        qtbot.waitUntil(lambda: len(replies) == 2, timeout=10000)
        feed.poll(store.now + 1.0)

        def client_of(port: int, protocol: str = "EchoClient") -> int:
            found = [c.id for c in store.connections.values()
                     if (c.role, c.protocol) == ("client", protocol) and c.peer.endswith(f":{port}")]
            assert len(found) == 1, [(c.role, c.peer) for c in store.connections.values()]
            return found[0]

        mark = panel.findChild(QLabel, "session.tls")
        text = panel.findChild(QPlainTextEdit, "session.text")
        panel.show_connection(client_of(tls_server.port.getHost().port))
        assert mark.isVisible()
        assert mark.text().startswith(f"{TLS_MARK}: TLSv1.")  # and the version and cipher
        assert "localhost" in mark.toolTip()  # the whole handshake summary
        assert "secret words" in text.toPlainText()  # the decrypted plaintext
        panel.show_connection(client_of(tls_server.port.getHost().port, "TLSMemoryBIOProtocol"))
        assert mark.isVisible() and mark.text() == TLS_WIRE_MARK
        assert "secret words" not in text.toPlainText()  # the records are encrypted
        panel.show_connection(client_of(tcp_server.port.getHost().port))
        assert not mark.isVisible()
        assert "plain words" in text.toPlainText()
        for handle in (tls_client, tcp_client, tls_server, tcp_server):
            handle.stop()
    finally:
        inspector.trace.disable()


def test_launcher_runs_echo_over_tls_and_the_session_shows_the_mark(qtbot: Any, window: Any, free_port: Any) -> None:
    """From the window as a user does it: Echo server (TLS) with its throwaway certificate,
    Echo client (TLS) with its "insecure" box ticked, then the client's session."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QPushButton, QTableView

    from ui_support import click_row, find, table_rows

    def launch(title: str, ticked: tuple[str, ...] = (), **fields: Any) -> None:
        box = find(window, QComboBox, "launcher.entry")
        index = box.findText(title)
        assert index >= 0, f"{title!r} is not offered by the launcher"
        box.setCurrentIndex(index)
        for name, value in fields.items():
            edit = find(window, QLineEdit, f"launcher.param.{name}")
            edit.clear()
            qtbot.keyClicks(edit, str(value))
        for name in ticked:  # a yes/no parameter is a check box, not a field holding "False"
            box = find(window, QCheckBox, f"launcher.param.{name}")
            assert not box.isChecked()
            box.click()
        qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)

    port = free_port()
    launch("Echo server (TLS)", port=port)
    launch("Echo client (TLS)", ticked=("insecure",), port=port)
    connections = find(window, QTableView, "connections.table")

    def client_rows() -> list[int]:
        return [number for number, row in enumerate(table_rows(connections)) if row[1] == "client"]

    # Two rows for the one connection: the TCP connection (TLS records), then the TLS session.
    qtbot.waitUntil(lambda: len(client_rows()) == 2, timeout=10000)
    mark = find(window, QLabel, "session.tls")
    click_row(qtbot, connections, client_rows()[0])
    qtbot.waitUntil(lambda: mark.isVisible() and mark.text() == TLS_WIRE_MARK, timeout=10000)
    click_row(qtbot, connections, client_rows()[1])
    line = find(window, QLineEdit, "session.input")
    qtbot.waitUntil(lambda: mark.isVisible() and mark.text().startswith(TLS_MARK), timeout=10000)
    qtbot.waitUntil(line.isEnabled, timeout=10000)
    qtbot.keyClicks(line, "typed over tls")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    text_view = find(window, QPlainTextEdit, "session.text")
    qtbot.waitUntil(lambda: "◀ typed over tls" in text_view.toPlainText(), timeout=10000)
