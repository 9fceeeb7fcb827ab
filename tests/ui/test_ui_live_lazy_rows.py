"""A live table longer than LAZY_FROM: rows far down get only their id and sort cells
when listed, the rest when shown; yet a row a person scrolls or sorts into view shows its
own connection's current cells, whatever happened to it while no one looked."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QApplication

from ui_support import shown_rows

ID, PEER, STATE, REASON = 0, 4, 5, 11
LAZY = 50


def _panel(qtbot: Any, monkeypatch: Any, keep: int = 10_000) -> tuple[Any, Any]:
    from inspector.ui.models import connections as model
    from inspector.ui.panels.connections import ConnectionsPanel
    from inspector.ui.viewmodel.store import Store

    monkeypatch.setattr(model, "LAZY_FROM", LAZY)
    monkeypatch.setattr(model, "REPAINT_INTERVAL", 0.0)
    store = Store(clock=0.0)
    store.closed_limit = keep
    panel = ConnectionsPanel(store)
    qtbot.addWidget(panel)
    panel.keep_box.setValue(keep)
    panel.resize(1200, 400)
    panel.show()
    qtbot.waitExposed(panel)
    return panel, store


def _open(store: Any, first: int, count: int) -> None:
    for cid in range(first, first + count):
        store.now = cid * 0.001
        store.connection_opened(cid, store.now, "server", "echo", "127.0.0.1:7000",
                                f"10.0.0.{cid % 250}:{20000 + cid}", "connected")


def _refresh(panel: Any, store: Any) -> None:
    store.trim_closed()
    panel.refresh()
    store.reset_changes()
    QApplication.processEvents()


def _row_as_seen(panel: Any, conn_id: int) -> list[str]:
    """Scroll ``conn_id``'s row into view, let the table paint, read the row."""
    model = panel.model
    index = panel.proxy.mapFromSource(model.items.index(model.row_of(conn_id), 0))
    panel.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
    QApplication.processEvents()
    panel.table.viewport().repaint()
    return [str(panel.proxy.index(index.row(), column).data() or "") for column in range(panel.proxy.columnCount())]


def test_an_unseen_row_whose_connection_closed_shows_it_closed_when_scrolled_to(
    qtbot: Any, monkeypatch: Any
) -> None:
    panel, store = _panel(qtbot, monkeypatch)
    _open(store, 1, 400)
    _refresh(panel, store)
    assert panel.model.lazy_rows  # rows far down are not written yet
    # Connection 300 closes while its row is far below the view.
    store.now += 1.0
    store.connection_state(300, store.now, "closed", "reset by peer")
    _refresh(panel, store)
    row = _row_as_seen(panel, 300)
    assert (row[ID], row[PEER], row[STATE], row[REASON]) == ("300", "10.0.0.50:20300", "closed", "reset by peer")


def test_a_row_taken_over_unseen_shows_its_new_connection_when_scrolled_to(qtbot: Any, monkeypatch: Any) -> None:
    """Closed connections beyond "Keep closed" leave; new ones take their rows over."""
    panel, store = _panel(qtbot, monkeypatch, keep=100)
    _open(store, 1, 400)
    _refresh(panel, store)
    # Every row seen once (its cells written), then the oldest 300 close and leave.
    assert len(shown_rows(panel.table)) == 400 and not panel.model.lazy_rows
    store.now += 1.0
    for cid in range(1, 301):
        store.connection_state(cid, store.now, "closed", "done")
    _refresh(panel, store)
    _open(store, 1001, 150)  # take over free rows, unseen
    _refresh(panel, store)
    for cid in (1001, 1080, 1150):
        row = _row_as_seen(panel, cid)
        assert (row[ID], row[PEER], row[STATE], row[REASON]) == (
            str(cid), f"10.0.0.{cid % 250}:{20000 + cid}", "connected", "")


def test_new_rows_sorted_to_the_top_are_painted_whole(qtbot: Any, monkeypatch: Any) -> None:
    """Newest first (ID descending): the rows just listed, far down the model, are the
    ones in view, and they show every cell."""
    panel, store = _panel(qtbot, monkeypatch)
    panel.table.horizontalHeader().setSortIndicator(ID, Qt.SortOrder.DescendingOrder)
    _open(store, 1, 300)
    _refresh(panel, store)
    store.now += 0.5
    store.connection_bytes(300, store.now, "in", 1234)
    _refresh(panel, store)
    panel.grab()  # paints the table as a screen would
    proxy = panel.proxy
    top = [[str(proxy.index(row, column).data() or "") for column in range(proxy.columnCount())]
           for row in range(5)]
    assert [row[ID] for row in top] == ["300", "299", "298", "297", "296"]
    for row in top:
        cid = int(row[ID])
        assert (row[PEER], row[STATE]) == (f"10.0.0.{cid % 250}:{20000 + cid}", "connected")
    assert top[0][6] == "1.2 KiB"  # bytes that came in while it was listed lazily


def test_filters_find_unseen_rows_by_their_current_cells(qtbot: Any, monkeypatch: Any) -> None:
    """Text and state filters decide by the connection, not by cells not yet written."""
    panel, store = _panel(qtbot, monkeypatch)
    _open(store, 1, 400)
    _refresh(panel, store)
    store.now += 1.0
    store.connection_state(333, store.now, "closed", "reset by peer")
    _refresh(panel, store)
    panel.state_box.setCurrentIndex(panel.state_box.findData("closed"))
    assert panel.proxy.rowCount() == 1
    assert _row_as_seen(panel, 333)[:STATE + 1][PEER:] == ["10.0.0.83:20333", "closed"]
    panel.state_box.setCurrentIndex(0)
    panel.text_edit.setText("10.0.0.99:20349")
    assert panel.proxy.rowCount() == 1
    row = _row_as_seen(panel, 349)
    assert (row[ID], row[PEER], row[STATE]) == ("349", "10.0.0.99:20349", "connected")
