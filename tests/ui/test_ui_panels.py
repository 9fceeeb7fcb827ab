"""The panels, driven through their visible controls, over a store filled as the trace would."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit, QPlainTextEdit, QTableView

from inspector.ui.models import connections as connections_model
from inspector.ui.panels.connections import ConnectionsPanel
from inspector.ui.panels.deferreds import DeferredsPanel
from inspector.ui.panels.log import LogPanel
from inspector.ui.panels.session import SessionPanel
from inspector.ui.panels.timing import TimingPanel
from inspector.ui.viewmodel.log import WindowLogHandler
from inspector.ui.viewmodel.store import Store


def child(widget: Any, kind: type, name: str) -> Any:
    found = widget.findChild(kind, name)
    assert found is not None, f"no {kind.__name__} called {name!r}"
    return found


def column_texts(table: QTableView, column: int) -> list[str]:
    model = table.model()
    return [model.index(row, column).data() for row in range(model.rowCount())]


def open_connection(
    store: Store, conn_id: int, when: float, protocol: str = "EchoProtocol", role: str = "client"
) -> None:
    store.connection_opened(conn_id, when, role, protocol, f"127.0.0.1:{40000 + conn_id}", "127.0.0.1:8007")
    store.connection_state(conn_id, when, "connected")


def test_five_thousand_connections_arrive_in_one_batch(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The batching, not the time budget: on a loaded machine 500 rewrites can outlast the
    # 8 ms a refresh may spend, and the rest then (rightly) waits for the next refresh.
    monkeypatch.setattr(connections_model, "REWRITE_BUDGET", 10.0)
    store = Store(clock=0.0)
    panel = ConnectionsPanel(store)
    qtbot.addWidget(panel)
    inserts: list[tuple[int, int]] = []
    changes: list[tuple[int, int]] = []
    panel.model.items.rowsInserted.connect(lambda parent, first, last: inserts.append((first, last)))
    panel.model.items.dataChanged.connect(lambda top, bottom, roles=(): changes.append((top.row(), bottom.row())))
    for conn_id in range(1, 5001):
        open_connection(store, conn_id, conn_id * 0.001)
        store.connection_bytes(conn_id, conn_id * 0.001, "in", 10, b"0123456789")
    panel.refresh()
    store.reset_changes()
    assert inserts == [(0, 4999)]
    table = child(panel, QTableView, "connections.table")
    assert table.model().rowCount() == 5000
    # Hundreds of updates to many rows: still one repaint signal for the batch.
    for conn_id in range(1, 5001, 10):
        store.connection_bytes(conn_id, 6.0, "out", 5, b"hello")
    changes.clear()

    def shown() -> bool:
        panel.refresh()  # what the window's 30 Hz timer does
        return table.model().index(0, 7).data() == "5 B"

    qtbot.waitUntil(shown, timeout=2000)
    assert len(changes) == 1  # 500 rows changed: one signal


def test_filters_by_protocol_state_and_text(qtbot: Any) -> None:
    store = Store(clock=0.0)
    panel = ConnectionsPanel(store)
    qtbot.addWidget(panel)
    open_connection(store, 1, 0.1, "EchoProtocol")
    open_connection(store, 2, 0.2, "IRCClient")
    open_connection(store, 3, 0.3, "IRCClient")
    store.connection_state(3, 1.0, "closed", "ConnectionDone: closed cleanly")
    panel.refresh()
    table = child(panel, QTableView, "connections.table")
    protocol = child(panel, QComboBox, "connections.protocol")
    state = child(panel, QComboBox, "connections.state")
    search = child(panel, QLineEdit, "connections.search")

    protocol.setCurrentIndex(protocol.findText("IRCClient"))
    assert sorted(column_texts(table, 0)) == ["2", "3"]
    state.setCurrentIndex(state.findData("open"))
    assert column_texts(table, 0) == ["2"]
    protocol.setCurrentIndex(0)
    state.setCurrentIndex(state.findData("closed"))
    assert column_texts(table, 0) == ["3"]
    assert column_texts(table, 11) == ["ConnectionDone: closed cleanly"]
    closed_tint = table.model().index(0, 5).data(Qt.ItemDataRole.BackgroundRole)
    state.setCurrentIndex(state.findData("open"))
    open_tint = table.model().index(0, 5).data(Qt.ItemDataRole.BackgroundRole)
    assert closed_tint is not None and open_tint is not None and closed_tint != open_tint
    state.setCurrentIndex(0)
    qtbot.keyClicks(search, "40001")
    assert column_texts(table, 0) == ["1"]


def test_sorting_by_bytes_uses_numbers_not_text(qtbot: Any) -> None:
    store = Store(clock=0.0)
    panel = ConnectionsPanel(store)
    qtbot.addWidget(panel)
    for conn_id, count in ((1, 900), (2, 5000), (3, 20)):
        open_connection(store, conn_id, conn_id)
        store.connection_bytes(conn_id, conn_id, "in", count)
    panel.refresh()
    table = child(panel, QTableView, "connections.table")
    table.horizontalHeader().sortIndicatorChanged.emit(6, Qt.SortOrder.DescendingOrder)
    table.sortByColumn(6, Qt.SortOrder.DescendingOrder)
    assert column_texts(table, 0) == ["2", "1", "3"]


def test_session_shows_both_directions_in_text_and_hex(qtbot: Any) -> None:
    store = Store(clock=0.0)
    panel = SessionPanel(store)
    qtbot.addWidget(panel)
    open_connection(store, 7, 0.0)
    store.connection_bytes(7, 0.1, "out", 6, b"hello\n")
    store.connection_bytes(7, 0.2, "in", 6, b"hello\n")
    store.connection_bytes(7, 0.3, "in", 3, b"\x00\xff\r")
    store.connection_message(7, 0.2, "in", "irc", ":srv 001 bob :Welcome", (":srv", "001", "bob", "Welcome"))
    panel.show_connection(7)
    text = child(panel, QPlainTextEdit, "session.text").toPlainText()
    assert "▶ hello" in text and "◀ hello" in text
    assert "\\x00\\xff\\r" in text
    hex_text = child(panel, QPlainTextEdit, "session.hex").toPlainText()
    assert "▶ 00000000  68 65 6c 6c 6f 0a" in hex_text
    assert "◀ 00000006  00 ff 0d" in hex_text  # offsets count per direction
    messages = child(panel, QTableView, "session.messages")
    assert messages.model().index(0, 3).data() == ":srv 001 bob :Welcome"


def test_session_follows_the_end_but_keeps_a_scrolled_position(qtbot: Any) -> None:
    store = Store(clock=0.0)
    panel = SessionPanel(store)
    qtbot.addWidget(panel)
    panel.resize(500, 300)
    panel.show()
    open_connection(store, 1, 0.0)
    for number in range(200):
        store.connection_bytes(1, number * 0.1, "in", 8, b"line %03d\n" % number)
    panel.show_connection(1)
    view = child(panel, QPlainTextEdit, "session.text")
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum() > 0
    store.reset_changes()
    store.connection_bytes(1, 30.0, "in", 8, b"line 200\n")
    panel.refresh()
    assert bar.value() == bar.maximum()
    bar.setValue(10)  # the user scrolls up to read
    store.reset_changes()
    store.connection_bytes(1, 31.0, "in", 8, b"line 201\n")
    panel.refresh()
    assert bar.value() == 10
    assert "line 201" in view.toPlainText()


def test_deferred_diagram_shows_branch_taken_and_chain_link(qtbot: Any) -> None:
    store = Store(clock=0.0)
    panel = DeferredsPanel(store)
    qtbot.addWidget(panel)
    store.deferred_created(1, 0.0, "client.py:10", "connect")
    store.deferred_callback_added(1, "got_protocol", "callback")
    store.deferred_callback_added(1, "report_error", "errback")
    store.deferred_callback_added(1, "send_hello", "callback")
    store.deferred_state(1, 0.5, "succeeded", "<EchoClient>")
    store.deferred_callback_ran(1, 0.5, "got_protocol", "callback", 0.0002, "EchoClient", "<EchoClient>", False)
    store.deferred_callback_ran(1, 0.5, "send_hello", "callback", 0.0001, "Deferred", "<Deferred>", False)
    store.deferred_created(2, 0.5, "client.py:20", "send_hello")
    store.deferred_chained(1, 2)
    panel.refresh()
    table = child(panel, QTableView, "deferreds.table")
    rows = {table.model().index(r, 0).data(): r for r in range(table.model().rowCount())}
    table.selectRow(rows["1"])
    description = panel.diagram.accessibleDescription()
    assert "callback got_protocol ran" in description
    assert "errback report_error passed over" in description
    assert "send_hello ran" in description and "waits on Deferred #2" in description
    assert table.model().index(rows["1"], 4).data() == "Deferred #2"
    # New Deferreds arriving (and re-sorting the list) keep the chosen diagram up.
    store.reset_changes()
    for def_id in range(3, 30):
        store.deferred_created(def_id, 1.0, "later.py:1", "later")
    panel.refresh()
    assert panel.diagram.info is not None and panel.diagram.info.id == 1
    # Thousands more: old finished ones are forgotten, the chosen (still waiting) one stays.
    store.reset_changes()
    for def_id in range(30, 3000):
        store.deferred_created(def_id, 2.0, "later.py:1", "later")
        store.deferred_state(def_id, 2.0, "succeeded", "None")
    panel.refresh()
    assert panel.diagram.info is not None and panel.diagram.info.id == 1
    assert [int(i.data()) for i in table.selectionModel().selectedRows()] == [1]
    assert table.model().rowCount() < 2900
    panel.diagram.deferred_activated.emit(2)  # clicking the link opens the chained one
    assert panel.diagram.info is not None and panel.diagram.info.id == 2


def test_unhandled_failure_stands_out_with_traceback(qtbot: Any) -> None:
    store = Store(clock=0.0)
    panel = DeferredsPanel(store)
    qtbot.addWidget(panel)
    store.deferred_created(5, 0.0, "bot.py:3", "say")
    store.deferred_state(5, 0.1, "failed", "ValueError: boom")
    store.deferred_unhandled(5, 0.2, "Traceback (most recent call last):\nValueError: boom")
    panel.refresh()
    mode = child(panel, QComboBox, "deferreds.mode")
    mode.setCurrentIndex(mode.findData("failed"))
    table = child(panel, QTableView, "deferreds.table")
    assert table.model().rowCount() == 1
    assert table.model().index(0, 1).data() == "UNHANDLED"
    assert table.model().index(0, 0).data(Qt.ItemDataRole.BackgroundRole) is not None
    table.selectRow(0)
    assert "ValueError: boom" in child(panel, QPlainTextEdit, "deferreds.traceback").toPlainText()
    assert store.log[-1].level == "ERROR"


def test_log_panel_shows_records_from_the_inspector_logger(qtbot: Any) -> None:
    store = Store()
    panel = LogPanel(store)
    qtbot.addWidget(panel)
    handler = WindowLogHandler()
    logger = logging.getLogger("inspector.test_ui")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("callback exploded")
        except RuntimeError:
            logger.exception("callback %s failed", "on_line")
    finally:
        logger.removeHandler(handler)
    handler.drain_into(store)
    panel.refresh()
    table = child(panel, QTableView, "log.table")
    assert table.model().index(0, 3).data() == "callback on_line failed"
    table.selectRow(0)
    details = child(panel, QPlainTextEdit, "log.details").toPlainText()
    assert "RuntimeError: callback exploded" in details


@pytest.mark.parametrize("installed", ["on sys.path", "editable (found by a finder)"])
def test_log_location_names_the_module_not_the_absolute_path(
        qtbot: Any, monkeypatch: pytest.MonkeyPatch, installed: str) -> None:
    """The Location column is narrow: it shows where a record came from as the import
    path (``inspector/protocols/qotd.py:N``), the whole path in its tooltip and details,
    also when the package is not under any ``sys.path`` entry (``pip install -e``)."""
    import os
    import sys

    import inspector.protocols.qotd as qotd
    from inspector.ui.viewmodel.log import short_location

    root = os.path.dirname(os.path.dirname(os.path.abspath(qotd.__file__)))
    if installed.startswith("editable"):
        monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p or os.curdir) != root])
        monkeypatch.chdir("/")
    short_location.cache_clear()

    store = Store()
    panel = LogPanel(store)
    qtbot.addWidget(panel)
    handler = WindowLogHandler()
    handler.emit(logging.LogRecord("inspector.qotd", logging.WARNING, qotd.__file__, 123, "full", None, None))
    handler.emit(logging.LogRecord("elsewhere", logging.WARNING, "/nowhere/mine.py", 7, "odd", None, None))
    handler.drain_into(store)
    panel.refresh()
    table = child(panel, QTableView, "log.table")
    assert column_texts(table, 4) == ["inspector/protocols/qotd.py:123", "/nowhere/mine.py:7"]
    assert table.model().index(0, 4).data(Qt.ItemDataRole.ToolTipRole) == f"{qotd.__file__}:123"
    table.selectRow(0)
    assert f"{qotd.__file__}:123" in child(panel, QPlainTextEdit, "log.details").toPlainText()
    search = child(panel, QLineEdit, "log.search")
    qtbot.keyClicks(search, "qotd.py")
    assert column_texts(table, 3) == ["full"]
    short_location.cache_clear()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_time_range_selection_filters_connections(qtbot: Any, theme: str) -> None:
    store = Store(clock=0.0)
    connections = ConnectionsPanel(store)
    timing = TimingPanel(store)
    qtbot.addWidget(connections)
    qtbot.addWidget(timing)
    open_connection(store, 1, 1.0)
    store.connection_state(1, 2.0, "closed")
    open_connection(store, 2, 10.0)
    for second in range(12):
        store.loop_turn(float(second), 0.001)
        store.sample(float(second))
    connections.refresh()
    timing.redraw()

    def filtered(time_range: Any) -> None:
        store.select_time_range(time_range)
        connections.refilter()

    timing.range_selected.connect(filtered)
    timing.select_range(8.0, 11.0)
    table = child(connections, QTableView, "connections.table")
    assert column_texts(table, 0) == ["2"]
    timing.range_box.setChecked(False)
    assert sorted(column_texts(table, 0)) == ["1", "2"]


def test_a_burst_is_rendered_over_several_refreshes_without_losing_a_byte(qtbot: Any) -> None:
    from inspector.ui.panels import session

    store = Store(clock=0.0)
    panel = SessionPanel(store)
    qtbot.addWidget(panel)
    open_connection(store, 1, 0.0)
    panel.show_connection(1)
    burst = b"".join(b"%05d\n" % n for n in range(15_000))  # 90,000 bytes at once
    store.reset_changes()
    store.connection_bytes(1, 1.0, "in", len(burst), burst)
    panel.refresh()
    text_view = child(panel, QPlainTextEdit, "session.text")
    first = text_view.toPlainText()
    assert "00000" in first and "14999" not in first  # one refresh renders a slice
    refreshes = 1
    while "14999" not in text_view.toPlainText():
        store.reset_changes()
        panel.refresh()
        refreshes += 1
        assert refreshes < 50
    assert refreshes >= len(burst) // session.RENDER_BUDGET
    lines = text_view.toPlainText().replace("◀ ", "").split("\n")
    assert [line for line in lines if line] == ["%05d" % n for n in range(15_000)]
    hex_lines = child(panel, QPlainTextEdit, "session.hex").toPlainText().splitlines()
    assert len(hex_lines) == len(burst) // 16
