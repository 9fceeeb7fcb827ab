"""A big recording's connections: the table writes the cells of the rows it shows (and the
ones it sorts and filters by), not every cell of every row, yet every row a person scrolls
to reads in full, and sorting and filtering by any column stay right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QTableView

from ui_support import find

CONNECTIONS = 3_000
PEER, BYTES_IN = 4, 6


def _write_recording(path: Path) -> None:
    """``CONNECTIONS`` connections; connection n receives n * 7 % 1000 + 1 bytes."""
    from inspector.trace import events as ev
    from inspector.trace.recording import EventEncoder

    events: list[ev.Event] = []
    for n in range(1, CONNECTIONS + 1):
        ts = 100.0 + n * 0.001
        size = n * 7 % 1000 + 1
        events.append(ev.ConnectionOpened(ts=ts, conn=n, role="server", protocol="Echo",
                                          local="127.0.0.1:7000", peer=f"10.0.0.1:{20000 + n}"))
        events.append(ev.BytesIn(ts=ts, conn=n, size=size, data=b""))
        events.append(ev.ConnectionClosed(ts=ts + 0.0005, conn=n, reason_type="ConnectionDone",
                                          reason="closed cleanly", bytes_in=size))
    for seq, event in enumerate(events, 1):
        event.seq = seq
    encoder = EventEncoder()
    header = {"format": "inspector-trace", "version": 1, "start_time": 1.0e9, "start_monotonic": 100.0}
    path.write_text(encoder.line(header) + encoder.events(events), encoding="utf-8")


def _shown_rows(table: QTableView) -> list[list[str]]:
    """The rows of ``table`` a person sees now, as their texts."""
    model = table.model()
    top = max(0, table.rowAt(0))
    bottom = table.rowAt(table.viewport().height() - 1)
    bottom = model.rowCount() - 1 if bottom < 0 else bottom
    return [[str(model.index(row, column).data() or "") for column in range(model.columnCount())]
            for row in range(top, bottom + 1)]


def test_rows_are_written_when_shown_and_still_sort_and_filter_by_every_column(
    qtbot: Any, window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from inspector.ui.models import connections

    monkeypatch.setattr(connections, "LAZY_FROM", 100)
    path = tmp_path / "many.jsonl"
    _write_recording(path)
    loader = window.open_recording(str(path))
    qtbot.waitUntil(lambda: loader.done, timeout=60000)
    assert not loader.error
    panel = window.connections
    table = find(window, QTableView, "connections.table")
    items = panel.model.items
    assert table.model().rowCount() == CONNECTIONS

    # Rows never shown have their id, not yet their other cells.
    assert items.index(CONNECTIONS - 1, 0).data() == str(CONNECTIONS)
    assert items.index(CONNECTIONS - 1, PEER).data() is None

    # Scrolled to the end, every row in view reads in full.
    table.scrollToBottom()
    QApplication.processEvents()
    table.viewport().repaint()
    shown = _shown_rows(table)
    assert shown and shown[-1][0] == str(CONNECTIONS)
    for row in shown:
        n = int(row[0])
        assert row[PEER] == f"10.0.0.1:{20000 + n}"
        assert row[BYTES_IN] and row[5] == "closed"

    # Sorting by bytes in (a column not written for unseen rows) puts the largest first.
    header = table.horizontalHeader()
    for _ in range(2):  # ascending, then descending
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(header.sectionViewportPosition(BYTES_IN) + 5, 5))
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    ids = [int(table.model().index(row, 0).data()) for row in range(table.model().rowCount())]
    sizes = [n * 7 % 1000 + 1 for n in ids]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 1000
    table.scrollToTop()
    table.viewport().repaint()
    shown = _shown_rows(table)
    assert all(row[PEER] for row in shown)
    assert shown[0][BYTES_IN] == "1000 B"  # the largest, its text written as it is shown

    # Filtering by a peer address finds a row listed late.
    search = find(window, QLineEdit, "connections.search")
    search.setFocus()
    qtbot.keyClicks(search, "10.0.0.1:22999")
    qtbot.waitUntil(lambda: table.model().rowCount() == 1, timeout=5000)
    table.viewport().repaint()
    assert _shown_rows(table)[0][:1] + _shown_rows(table)[0][PEER:PEER + 1] == ["2999", "10.0.0.1:22999"]


def test_lazy_rows_listed_with_and_without_a_filter_hold_the_same_cells(qtbot: Any, monkeypatch: Any) -> None:
    """Rows listed lazily with no filter set (the quick way a loading recording takes) hold
    exactly what the general way writes when a filter is set that every row passes."""
    from inspector.ui.models import connections
    from inspector.ui.viewmodel.store import Store

    monkeypatch.setattr(connections, "LAZY_FROM", 100)
    store = Store(clock=0.0)
    for n in range(1, 301):
        store.connection_opened(n, 100.0 + n, "server", "Echo", "127.0.0.1:7000", f"10.0.0.1:{20000 + n}")
    conns = [store.connections[n] for n in range(1, 301)]
    roles = (Qt.ItemDataRole.DisplayRole, connections.SORT_ROLE, Qt.ItemDataRole.TextAlignmentRole,
             connections.FILTER_ROLE)
    written = []
    for protocol in ("", "Echo"):
        model = connections.ConnectionsModel(store)
        model.filter.set(protocol=protocol)
        assert model.filter.passes_all(store) == (protocol == "")
        model._append(conns, lazy=True)
        items = model.items
        assert model.lazy_rows == 200
        written.append(([[items.index(row, column).data(role) for column in range(items.columnCount())
                          for role in roles] for row in range(items.rowCount())],
                        model._shown, model._states, model._flags, model.lazy_rows))
    assert written[0] == written[1]
