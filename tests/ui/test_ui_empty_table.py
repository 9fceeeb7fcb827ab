"""An empty Connections table says why it is empty, as a person reads it."""

from __future__ import annotations

from typing import Any

from inspector.ui.panels.connections import ConnectionsPanel
from inspector.ui.viewmodel.store import Store


def test_an_empty_table_says_how_to_get_connections_and_when_filters_hide_them(qtbot: Any) -> None:
    store = Store(clock=0.0)
    panel = ConnectionsPanel(store)
    qtbot.addWidget(panel)
    panel.resize(1000, 400)
    panel.show()
    note = panel.empty_label
    assert note.isVisible() and "Launcher" in note.text()
    store.connection_opened(1, 1.0, "server", "echo", "127.0.0.1:7000", "127.0.0.1:40001", "connected")
    panel.refresh()
    assert not note.isVisible()
    qtbot.keyClicks(panel.text_edit, "no-such-peer")
    assert note.isVisible() and note.text() == "No connection matches the filters."
    panel.text_edit.clear()
    assert not note.isVisible()
