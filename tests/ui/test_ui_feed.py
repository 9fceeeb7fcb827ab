"""Real traced Deferreds reach the Deferreds panel through the live feed."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QLineEdit, QPlainTextEdit, QTableView

import inspector.trace
from inspector.defer import Deferred, fail
from inspector.ui.panels.deferreds import DeferredsPanel
from inspector.ui.viewmodel.feed import LiveFeed
from inspector.ui.viewmodel.store import Store

from ui_support import click_row, find, table_rows


@pytest.fixture
def tracer() -> Any:
    made = inspector.trace.enable()
    yield made
    inspector.trace.disable()


def add_one(value: int) -> int:
    return value + 1


def recover(failure: Any) -> str:
    return "recovered"


def wait_for_reply(value: int) -> Deferred:
    return Deferred()


def test_a_traced_chain_shows_the_branch_taken_and_what_it_waits_on(qtbot: Any, tracer: Any) -> None:
    store = Store()
    feed = LiveFeed(tracer.trace, store)
    panel = DeferredsPanel(store)
    qtbot.addWidget(panel)
    panel.show()
    outer = Deferred()
    outer.addCallback(add_one)
    outer.addErrback(recover)
    outer.addCallbacks(wait_for_reply, recover)
    outer.callback(41)
    feed.poll(store.now)
    panel.refresh()
    store.reset_changes()

    qtbot.keyClicks(find(panel, QLineEdit, "deferreds.search"), "add_one")
    table = find(panel, QTableView, "deferreds.table")
    assert len(table_rows(table)) == 1
    click_row(qtbot, table, 0)
    description = panel.diagram.accessibleDescription()
    assert "1. callback add_one ran" in description and "returned 42" in description
    assert "2. errback recover passed over" in description
    assert "3. callback wait_for_reply / recover ran" in description
    assert "waits on Deferred #" in description
    row = table_rows(table)[0]
    assert row[1] == "paused" and row[4].startswith("Deferred #")


def test_an_unhandled_failure_is_logged_and_marked(qtbot: Any, tracer: Any) -> None:
    import gc

    store = Store()
    feed = LiveFeed(tracer.trace, store)
    panel = DeferredsPanel(store)
    qtbot.addWidget(panel)
    failed = fail(ValueError("nobody handled me"))
    del failed
    gc.collect()
    feed.poll(store.now)
    panel.refresh()
    table = find(panel, QTableView, "deferreds.table")
    rows = table_rows(table)
    assert [row[1] for row in rows] == ["UNHANDLED"]
    click_row(qtbot, table, 0)
    assert "nobody handled me" in find(panel, QPlainTextEdit, "deferreds.traceback").toPlainText()
    assert any("nobody handled me" in entry.message for entry in store.log if entry.level == "ERROR")


def test_an_errback_added_after_success_is_shown_passed_over(qtbot: Any, tracer: Any) -> None:
    store = Store()
    feed = LiveFeed(tracer.trace, store)
    panel = DeferredsPanel(store)
    qtbot.addWidget(panel)
    done = Deferred()
    done.callback("quote of the day")
    done.addErrback(recover)
    feed.poll(store.now)
    panel.refresh()
    table = find(panel, QTableView, "deferreds.table")
    click_row(qtbot, table, 0)
    description = panel.diagram.accessibleDescription()
    assert "1. errback recover passed over" in description
    assert table_rows(table)[0][1] == "succeeded"


def test_counts_stay_exact_when_the_window_falls_behind(qtbot: Any, qt_reactor: Any, free_port: Any) -> None:
    from inspector import catalog
    from inspector.trace import TraceConfig

    inspector.trace.disable()
    tracer = inspector.trace.enable(TraceConfig(feed_size=64))  # a window far too slow
    try:
        store = Store()
        feed = LiveFeed(tracer.trace, store)
        server = catalog.find("echo", "server").start(qt_reactor, port=free_port())
        client = catalog.find("echo", "client").start(qt_reactor, port=server.address.port)
        replies: list[str] = []
        client.on_output(replies.append)

        def both_connections_seen() -> bool:
            feed.poll(store.now)
            return len(store.connections) == 2

        qtbot.waitUntil(both_connections_seen, timeout=10000)
        for number in range(300):
            client.send_line(f"line {number}")
        qtbot.waitUntil(lambda: any("line 299" in r for r in replies), timeout=10000)
        feed.poll(store.now + 2.0)
        assert store.dropped > 0
        for conn_id, summary in tracer.trace.connections.items():
            conn = store.connections[conn_id]
            assert (conn.bytes_in, conn.bytes_out) == (summary.bytes_in, summary.bytes_out)
        assert any(conn.bytes_in >= 300 * len("line 0\r\n") for conn in store.connections.values())
        client.stop()
        server.stop()
    finally:
        inspector.trace.disable()
