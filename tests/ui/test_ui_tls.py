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
