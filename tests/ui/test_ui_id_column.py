"""The Connections table's ID column shows whole ids, however large they grow."""

from __future__ import annotations

from typing import Any

from inspector.ui.panels.connections import ConnectionsPanel
from inspector.ui.viewmodel.store import Store


def _open(store: Store, conn_id: int) -> None:
    store.connection_opened(conn_id, 1.0, "server", "echo", "127.0.0.1:7000", f"127.0.0.1:{40000 + conn_id % 20000}",
                            "connected")


def test_ids_past_what_the_first_width_holds_widen_the_column(qtbot: Any) -> None:
    # A churn's ids reach six digits and an attached process's ten: the column used to
    # stay 44 px wide and show "206..." for every row, which names no connection.
    store = Store(clock=0.0)
    panel = ConnectionsPanel(store)
    qtbot.addWidget(panel)
    panel.resize(1200, 400)
    panel.show()
    _open(store, 7)
    panel.refresh()
    narrow = panel.table.columnWidth(0)
    for conn_id in (206_123, 1_000_000_001):
        _open(store, conn_id)
        panel.refresh()
        text_width = panel.table.fontMetrics().horizontalAdvance(str(conn_id))
        assert panel.table.columnWidth(0) >= text_width + 12, (conn_id, panel.table.columnWidth(0))
    assert panel.table.columnWidth(0) > narrow


def test_a_column_the_window_resizes_itself_still_widens_but_never_narrows(qtbot: Any) -> None:
    store = Store(clock=0.0)
    panel = ConnectionsPanel(store)
    qtbot.addWidget(panel)
    panel.show()
    panel.table.setColumnWidth(0, 300)  # wider than any id needs (no mouse button down)
    _open(store, 1_000_000_001)
    panel.refresh()
    assert panel.table.columnWidth(0) == 300
    panel.table.setColumnWidth(0, 40)
    _open(store, 1_000_000_002)
    panel.refresh()
    assert panel.table.columnWidth(0) > 40
