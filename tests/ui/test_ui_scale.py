"""The window at scale: thousands of connections arrive in batches, filter and sort right,
and a long recording is browsable while it loads (and a cancelled load puts the view back)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit, QProgressDialog, QTableView

from ui_support import click_row, find, table_rows


def _store_with(count: int, now: float = 100.0) -> Any:
    from inspector.ui.viewmodel.store import Store

    store = Store(clock=0.0)
    for conn_id in range(1, count + 1):
        store.connection_opened(conn_id, conn_id * 0.001, "server", "echo", "127.0.0.1:7000",
                                f"127.0.0.1:{20000 + conn_id}", "connected")
        store.connection_bytes(conn_id, conn_id * 0.001, "in", conn_id)
    store.now = now
    return store


def _panel(qtbot: Any, store: Any) -> Any:
    from inspector.ui.panels.connections import ConnectionsPanel

    panel = ConnectionsPanel(store)
    qtbot.addWidget(panel)
    panel.resize(1200, 600)
    panel.show()
    return panel


def _list_all(panel: Any, store: Any) -> None:
    """Refresh until every connection of ``store`` is listed (a refresh lists what fits its budget)."""
    for _ in range(10_000):
        panel.refresh()
        store.reset_changes()
        if panel.model.items.rowCount() == len(store.connections):
            return
    raise AssertionError("the connections were never all listed")


def test_5000_new_connections_are_one_insert_and_the_filter_and_sort_stay_right(qtbot: Any) -> None:
    from inspector.ui.viewmodel.store import Store

    store = Store(clock=0.0)
    panel = _panel(qtbot, store)
    inserted: list[tuple[int, int]] = []
    panel.model.items.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    fresh = _store_with(5000)
    for conn_id in fresh.order:  # the same 5,000 connections arrive between two refreshes
        conn = fresh.connections[conn_id]
        store.connection_opened(conn.id, conn.opened_at, conn.role, conn.protocol, conn.local, conn.peer,
                                conn.state)
        store.connection_bytes(conn.id, conn.opened_at, "in", conn.bytes_in)
    panel.refresh()
    store.reset_changes()
    assert inserted == [(0, 4999)]  # one insert for the burst, not 5,000
    assert panel.proxy.rowCount() == 5000

    panel.text_edit.setText("127.0.0.1:24321")
    rows = table_rows(panel.table)
    assert [row[0] for row in rows] == ["4321"]
    panel.text_edit.setText("")
    assert panel.proxy.rowCount() == 5000

    header = panel.table.horizontalHeader()
    header.setSortIndicator(6, Qt.SortOrder.DescendingOrder)  # "In", by byte count
    assert table_rows(panel.table)[0][0] == "5000"
    store.connection_bytes(17, 101.0, "in", 1_000_000)  # one connection overtakes the rest
    qtbot.wait(150)  # counters are rewritten at most ten times a second
    panel.refresh()
    store.reset_changes()
    top = table_rows(panel.table)[:2]
    assert [row[0] for row in top] == ["17", "5000"]
    assert top[0][6] == "976.6 KiB"


def test_a_keystroke_that_keeps_the_same_rows_announces_no_change(qtbot: Any) -> None:
    store = _store_with(3000)
    panel = _panel(qtbot, store)
    _list_all(panel, store)
    changes: list[tuple[int, int]] = []
    panel.model.items.dataChanged.connect(lambda first, last, _roles=None: changes.append((first.row(), last.row())))
    panel.text_edit.setText("127.0.0.1")  # every row still matches
    assert changes == []
    assert panel.proxy.rowCount() == 3000
    panel.text_edit.setText("127.0.0.1:2000")  # the peers 127.0.0.1:20001 to :20009
    assert sorted(int(row[0]) for row in table_rows(panel.table)) == list(range(1, 10))
    # Only the rows whose verdict changed were announced, as runs (not one span of all).
    assert sum(last - first + 1 for first, last in changes) == 3000 - 9


def test_ages_in_view_move_with_the_clock_and_a_row_scrolled_to_is_up_to_date(qtbot: Any) -> None:
    store = _store_with(2000, now=10.0)
    panel = _panel(qtbot, store)
    _list_all(panel, store)
    panel.table.scrollToTop()
    panel.model.refresh_visible()
    assert table_rows(panel.table)[0][9] == "10 s"
    store.now = 40.0
    qtbot.wait(150)  # cells are rewritten at most ten times a second
    panel.refresh()
    assert table_rows(panel.table)[0][9] == "40 s"
    bar = panel.table.verticalScrollBar()
    bar.setValue(bar.maximum())  # the last rows: never in view until now
    index = panel.proxy.index(panel.proxy.rowCount() - 1, 9)
    assert panel.proxy.data(index) == "38 s"  # opened at 2.0 s, now 40 s


def test_pending_deferreds_stay_and_finished_ones_are_trimmed_with_ten_thousand_pending() -> None:
    from inspector.ui.viewmodel.store import RECENT_DEFERREDS, Store

    store = Store(clock=0.0)
    for def_id in range(1, 10_001):
        store.deferred_created(def_id, def_id * 0.001, "site.py:1")
    for def_id in range(10_001, 15_001):
        store.deferred_created(def_id, def_id * 0.001, "site.py:2")
        store.deferred_state(def_id, def_id * 0.001, "succeeded")
    pending = [d for d in store.deferreds.values() if d.state == "pending"]
    finished = [d for d in store.deferreds.values() if d.state != "pending"]
    assert len(pending) == 10_000
    assert len(finished) <= 10_000 // 4 + RECENT_DEFERREDS
    assert max(d.id for d in finished) == 15_000  # the newest are the ones kept


def _record_churn(qtbot: Any, window: Any, path: Any, free_port: Any, count: int = 300) -> None:
    """Record ``count`` echo clients that connect, send a line, read it back and close."""
    from inspector import catalog
    from inspector.protocol import ClientCreator, Protocol

    assert window.start_recording(str(path))
    server = catalog.find("echo", "server").start(window.reactor, port=free_port())
    done: list[int] = []

    class Client(Protocol):
        def connectionMade(self) -> None:  # noqa: N802
            self.transport.write(b"scale line %d\n" % len(done))

        def dataReceived(self, data: bytes) -> None:  # noqa: N802
            self.transport.loseConnection()

        def connectionLost(self, reason: Any = None) -> None:  # noqa: N802
            done.append(1)

    for _ in range(count):
        ClientCreator(window.reactor, Client).connectTCP("127.0.0.1", server.address.port)
    qtbot.waitUntil(lambda: len(done) == count, timeout=30000)
    qtbot.wait(300)  # the tracer flushes the recording about five times a second
    window.stop_recording()
    server.stop()


def test_a_long_recording_is_browsable_while_it_loads_and_shows_the_right_bytes(
    qtbot: Any, window: Any, tmp_path: Any, free_port: Any, monkeypatch: Any
) -> None:
    from inspector.ui import recordings

    path = tmp_path / "churn.jsonl"
    _record_churn(qtbot, window, path, free_port)
    assert path.stat().st_size > recordings.QUIET_BYTES
    monkeypatch.setattr(recordings, "SLICE_SECONDS", 0.0)  # one small step per turn of the loop
    # Steps small enough that the load spans many turns on any machine (loading got fast
    # enough that a fast machine read this file in the few turns before the first refresh).
    monkeypatch.setattr(recordings, "LINES_PER_SLICE", 20)

    loader = window.open_recording(str(path))
    finished: list[Any] = []
    loader.finished.connect(finished.append)
    dialog = find(window, QProgressDialog, "recording.progress")
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(lambda: (dialog.isVisible() and len(table_rows(connections)) > 0) or loader.done,
                    timeout=10000)
    assert not loader.done  # rows are listed, with the progress shown, before the whole file is read
    assert not window.live and "loading" in window.windowTitle()
    qtbot.waitUntil(lambda: loader.done, timeout=60000)
    assert not loader.error and finished == [loader]  # once, not also as "cancelled"
    assert not any("cancelled" in entry.message for entry in window.store.log + window.live_store.log)
    assert not window.live and window.store is loader.store
    assert window.windowTitle().endswith("churn.jsonl")
    # The last rows are listed by the next refreshes (each lists what fits in a frame).
    qtbot.waitUntil(lambda: connections.model().rowCount() == 600, timeout=10000)
    rows = table_rows(connections)
    assert sum(row[1] == "client" for row in rows) == 300
    assert sum(row[1] == "server" for row in rows) == 300

    client = next(i for i, row in enumerate(rows) if row[1] == "client")
    click_row(qtbot, connections, client)
    text = find(window, QPlainTextEdit, "session.text").toPlainText()
    assert "▶ scale line" in text and "◀ scale line" in text
    assert window.deferreds.model.rowCount() > 0


def test_cancelling_a_recording_puts_the_live_view_back(
    qtbot: Any, window: Any, tmp_path: Any, free_port: Any, monkeypatch: Any
) -> None:
    from PySide6.QtWidgets import QPushButton

    from inspector.ui import recordings

    path = tmp_path / "churn.jsonl"
    _record_churn(qtbot, window, path, free_port)
    monkeypatch.setattr(recordings, "SLICE_SECONDS", 0.0)
    live_store = window.store
    loader = window.open_recording(str(path))
    assert window.store is loader.store
    dialog = find(window, QProgressDialog, "recording.progress")
    qtbot.waitUntil(lambda: dialog.isVisible() or loader.done, timeout=10000)
    assert not loader.done
    cancel = dialog.findChild(QPushButton)
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert loader.done and loader.error == "loading cancelled"
    assert window.live and window.store is live_store
    assert window.windowTitle() == window.live_title
    assert "loading cancelled" in window.statusBar().currentMessage()
