"""The live window under churn: closed connections beyond "Keep closed" leave the list and
are counted, open ones and the selected one stay, the setting changes it, and the filter
and sort stay right. Real loopback connections from a helper process against an echo
server the window started, driven as a person would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any, Callable

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel, QSpinBox, QTableView

from ui_support import click_row, find, shown_rows, table_rows

ID, STATE, REASON = 0, 5, 11

#: Opens ``count`` connections one after another: each sends a line, reads the echo, closes.
CHURN = textwrap.dedent(
    """
    import socket, sys
    port, count = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"ping\\n")
            got = b""
            while not got.endswith(b"\\n"):
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
    print("done", flush=True)
    """
)


def start_echo(window: Any, port: int) -> None:
    window.launcher.select_entry("echo", "server")
    window.launcher.set_value("port", port)
    window.launcher.start_current()


def churn(qtbot: Any, port: int, count: int) -> None:
    """Open, echo over and close ``count`` connections from another process; the window's
    loop runs meanwhile (qtbot's wait), bounded."""
    helper = subprocess.Popen([sys.executable, "-c", CHURN, str(port), str(count)], stdout=subprocess.PIPE)
    try:
        qtbot.waitUntil(lambda: helper.poll() is not None, timeout=60000)
    finally:
        if helper.poll() is None:
            helper.kill()
        helper.wait(timeout=10)
    assert helper.returncode == 0


def server_rows_closed(window: Any) -> int:
    return sum(1 for c in window.store.connections.values() if c.role == "server" and not c.is_open)


def set_keep(qtbot: Any, window: Any, value: int) -> None:
    """Type ``value`` into the "Keep closed" box, as a person would."""
    box = find(window, QSpinBox, "connections.keep_closed")
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, str(value))
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert box.value() == value


def listed_ids(window: Any) -> list[int]:
    window.refresh()
    return [int(row[ID]) for row in table_rows(find(window, QTableView, "connections.table"))]


def shows(qtbot: Any, window: Any, expected: Callable[[], list[int]]) -> None:
    """Wait (bounded) until the list shows ``expected()`` top to bottom: changed rows are
    rewritten ten times a second, so the list may trail the store by one repaint."""
    try:
        qtbot.waitUntil(lambda: listed_ids(window) == expected(), timeout=3000)
    except Exception:
        assert listed_ids(window) == expected()  # says how they differ
        raise


def settle(qtbot: Any, window: Any, served: int) -> None:
    """Wait until the window folded ``served`` server-side connections in, closed."""
    qtbot.waitUntil(lambda: server_rows_closed(window) + window.store.closed_dropped >= served, timeout=20000)
    window.refresh()  # the list takes out the rows the store let go of


def test_beyond_keep_closed_the_oldest_closed_rows_leave_and_the_count_says_so(
    qtbot: Any, window: Any, free_port: Callable[[], int]
) -> None:
    port = free_port()
    start_echo(window, port)
    window.show_dock("Connections")
    set_keep(qtbot, window, 100)
    dropped = find(window, QLabel, "connections.dropped")
    churn(qtbot, port, 60)
    settle(qtbot, window, 60)
    assert window.store.closed_dropped == 0 and not dropped.isVisible()  # 60 closed: all listed
    first_ids = sorted(listed_ids(window))[:10]

    churn(qtbot, port, 190)
    settle(qtbot, window, 250)
    ids = listed_ids(window)
    assert len(ids) == 100  # the newest 100 closed; the listening port is not a connection
    assert window.store.closed_dropped == 150
    assert not set(first_ids) & set(ids)  # the oldest left
    newest = max(window.store.connections)
    assert newest in ids
    qtbot.waitUntil(dropped.isVisible, timeout=5000)
    assert dropped.text().startswith("150 older closed connections not shown")
    assert "newest 100 closed" in dropped.text()
    assert window.connections.proxy.rowCount() == 100
    assert len(window.store.connections) == 100  # let go of in the store too, not just hidden
    window._update_status()
    assert "100 connections" in window.status.text()


def test_open_connections_and_the_selected_one_stay(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    import socket

    port = free_port()
    start_echo(window, port)
    window.show_dock("Connections")
    set_keep(qtbot, window, 100)
    # One connection that stays open from the start: the oldest of all.
    held = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        qtbot.waitUntil(lambda: window.store.open_count() == 1, timeout=10000)
        held_id = next(c.id for c in window.store.connections.values() if c.is_open)
        churn(qtbot, port, 20)
        settle(qtbot, window, 20)
        # The person selects the oldest closed connection and looks at its session.
        table = find(window, QTableView, "connections.table")
        window.show_dock("Session")
        window.show_dock("Connections")
        rows = table_rows(table)
        oldest_closed = min(int(row[ID]) for row in rows if row[STATE] == "closed")
        click_row(qtbot, table, next(i for i, row in enumerate(rows) if int(row[ID]) == oldest_closed))
        qtbot.waitUntil(lambda: window.session.connection is not None
                        and window.session.connection.id == oldest_closed, timeout=5000)

        churn(qtbot, port, 200)
        settle(qtbot, window, 220)
        ids = listed_ids(window)
        assert held_id in ids  # open: never let go of, however old
        assert oldest_closed in ids  # selected: stays
        assert len(ids) == 100 + 2  # the newest 100 closed, the open one, the selected one
        assert window.store.closed_dropped == 220 - 100 - 1
        assert window.session.connection is not None and window.session.connection.id == oldest_closed
        selected = table.selectionModel().selectedRows()
        assert [int(table.model().index(i.row(), ID).data()) for i in selected] == [oldest_closed]
    finally:
        held.close()


def test_the_setting_changes_the_bound_and_is_kept(
    qtbot: Any, window: Any, free_port: Callable[[], int], settings: QSettings
) -> None:
    port = free_port()
    start_echo(window, port)
    window.show_dock("Connections")
    set_keep(qtbot, window, 200)
    churn(qtbot, port, 250)
    settle(qtbot, window, 250)
    assert len(listed_ids(window)) == 200 and window.store.closed_dropped == 50
    # Lowered: the list shrinks to the new bound at the next refresh.
    set_keep(qtbot, window, 120)
    qtbot.waitUntil(lambda: len(listed_ids(window)) == 120, timeout=5000)
    assert window.store.closed_dropped == 130
    assert find(window, QLabel, "connections.dropped").text().startswith("130 older closed connections")
    # Remembered: a window opened later starts with it.
    assert int(settings.value("connections/keep_closed")) == 120
    from inspector.ui.panels.connections import ConnectionsPanel
    from inspector.ui.viewmodel.store import Store

    later = ConnectionsPanel(Store(clock=0.0))
    qtbot.addWidget(later)
    later.use_settings(settings)
    assert later.keep_box.value() == 120
    # A recording's store keeps every connection: the box is off while it shows.
    assert not later.keep_box.isEnabled()
    assert window.connections.keep_box.isEnabled()


def test_filter_and_sort_stay_right_under_churn(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    import socket

    port = free_port()
    start_echo(window, port)
    window.show_dock("Connections")
    set_keep(qtbot, window, 100)
    panel = window.connections
    table = find(window, QTableView, "connections.table")
    # Sorted by id, newest first, and filtered to the open ones, before the churn starts.
    table.horizontalHeader().setSortIndicator(ID, Qt.SortOrder.DescendingOrder)
    panel.state_box.setCurrentIndex(panel.state_box.findData("open"))
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    try:
        qtbot.waitUntil(lambda: window.store.open_count() == 3, timeout=10000)
        churn(qtbot, port, 250)
        settle(qtbot, window, 250)
        open_ids = sorted((c.id for c in window.store.connections.values() if c.is_open), reverse=True)
        assert len(open_ids) == 3
        shows(qtbot, window, lambda: open_ids)
        # Every state: the newest 100 closed and the 3 open, newest first.
        panel.state_box.setCurrentIndex(0)
        expected = sorted(window.store.connections, reverse=True)
        assert len(expected) == 103
        shows(qtbot, window, lambda: expected)
        # Typed filter: a peer port of one listed closed connection finds that one alone.
        target = window.store.connections[expected[10]]
        panel.text_edit.setFocus()
        qtbot.keyClicks(panel.text_edit, target.peer)
        shows(qtbot, window, lambda: [target.id])
        panel.text_edit.clear()
        # Ascending again after more churn: still in order, still only what the store keeps.
        table.horizontalHeader().setSortIndicator(ID, Qt.SortOrder.AscendingOrder)
        churn(qtbot, port, 50)
        settle(qtbot, window, 300)
        shows(qtbot, window, lambda: sorted(window.store.connections))
    finally:
        for sock in held:
            sock.close()


def test_rows_taken_over_hidden_and_taken_out_keep_the_list_true(qtbot: Any, monkeypatch: Any) -> None:
    """Bursts of opens and closes of every size (rows of closed connections taken over by
    new ones, hidden, taken out in runs) under a filter and a sort: after every refresh the
    table lists exactly what the store keeps, each row (read as a person scrolls to it: rows
    far down the table are written when shown) with its own connection's cells."""
    import random

    from inspector.ui.models import connections as model
    from inspector.ui.panels.connections import ConnectionsPanel
    from inspector.ui.viewmodel.store import Store

    # Changed cells are rewritten every refresh here (a person sees them within 0.1 s).
    monkeypatch.setattr(model, "REPAINT_INTERVAL", 0.0)
    monkeypatch.setattr(model, "REWRITE_BUDGET", 10.0)
    monkeypatch.setattr(model, "INSERT_BUDGET", 10.0)
    monkeypatch.setattr(model, "LAZY_FROM", 100)  # most rows lazy: written when shown
    rng = random.Random(20)
    store = Store(clock=0.0)
    store.closed_limit = 150
    panel = ConnectionsPanel(store)
    qtbot.addWidget(panel)
    panel.keep_box.setValue(150)
    panel.resize(1200, 1600)  # fewer pages to scroll through
    panel.show()
    qtbot.waitExposed(panel)  # painted as on a screen
    table = panel.table
    table.horizontalHeader().setSortIndicator(ID, Qt.SortOrder.DescendingOrder)
    compactions: list[int] = []
    compact = panel.model._compact
    monkeypatch.setattr(panel.model, "_compact", lambda: (compactions.append(len(panel.model._free)), compact()))
    next_id, now = 1, 0.0
    open_ids: list[int] = []
    for step in range(120):
        for _ in range(rng.choice((0, 1, 5, 40, 300))):  # opens
            now += 0.001
            store.connection_opened(next_id, now, "server", rng.choice(("echo", "qotd")), "127.0.0.1:7",
                                    f"127.0.0.1:{10000 + next_id}", "connected")
            open_ids.append(next_id)
            next_id += 1
        rng.shuffle(open_ids)
        for _ in range(min(len(open_ids), rng.choice((0, 3, 30, 250)))):  # closes
            now += 0.001
            store.connection_state(open_ids.pop(), now, "closed", "Connection was closed cleanly.")
        if step % 17 == 5:
            panel.protocol_box.setCurrentIndex(panel.protocol_box.findData(rng.choice(("", "echo", "qotd"))))
        store.now = now
        store.trim_closed()
        panel.refresh()
        store.reset_changes()
        protocol = panel.protocol_box.currentData() or ""
        expected = sorted((cid for cid, c in store.connections.items() if not protocol or c.protocol == protocol),
                          reverse=True)
        got = [int(row[ID]) for row in table_rows(table)]  # ids are written in every row
        assert got == expected, (step, sorted(set(got) ^ set(expected)), len(got), len(expected))
        if step % 4 and step != 119:
            continue  # scrolling through every row at every step takes a minute
        rows = shown_rows(table)
        assert [int(row[ID]) for row in rows] == expected
        for row in rows:
            conn = store.connections[int(row[ID])]
            assert (row[STATE], row[4], row[REASON]) == (str(conn.state), conn.peer, conn.close_reason)
    assert store.closed_dropped > 1000
    assert compactions  # free rows were taken out of the table, not only hidden
    assert panel.model.items.rowCount() <= 2 * len(store.connections) + 1024


def test_a_close_the_window_missed_is_still_shown(qtbot: Any, qt_reactor: Any, free_port: Callable[[], int]) -> None:
    """A window far too slow for the churn misses events; once it catches up, no
    connection the trace saw close is still listed as open."""
    import socket

    import inspector.trace
    from inspector import catalog
    from inspector.trace import TraceConfig
    from inspector.ui.viewmodel.feed import LiveFeed
    from inspector.ui.viewmodel.store import Store

    inspector.trace.disable()
    tracer = inspector.trace.enable(TraceConfig(feed_size=64))
    try:
        store = Store()
        feed = LiveFeed(tracer.trace, store)
        port = free_port()
        server = catalog.find("echo", "server").start(qt_reactor, port=port)
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]

        def all_seen_open() -> bool:
            feed.poll(store.now)
            return store.open_count() == 20

        qtbot.waitUntil(all_seen_open, timeout=10000)
        for sock in held:
            sock.close()
        churn(qtbot, port, 100)  # far more events than the feed holds, none read meanwhile
        qtbot.waitUntil(lambda: not any(s.state not in ("closed", "failed")
                                        for s in tracer.trace.connections.values()), timeout=10000)
        feed.poll(store.now + 2.0)
        assert store.dropped > 0  # the window did miss events
        assert store.open_count() == 0
        assert [c.id for c in store.connections.values() if c.is_open] == []
        server.stop()
    finally:
        inspector.trace.disable()


def test_a_connection_closed_within_its_first_second_shows_no_rate() -> None:
    """Rate is for open connections: one that sent, echoed and closed before the second's
    bin closed shows an empty Rate cell afterwards, and gets no rate series of its own."""
    from inspector.ui.viewmodel.connections import COLUMNS, row_texts
    from inspector.ui.viewmodel.store import Store

    store = Store(clock=0.0)
    store.connection_opened(1, 0.1, "server", "echo", "127.0.0.1:7", "127.0.0.1:5000", "connected")
    store.connection_bytes(1, 0.1, "in", 5, b"ping\n")
    store.connection_bytes(1, 0.1, "out", 5, b"ping\n")
    store.connection_state(1, 0.2, "closed", "Connection was closed cleanly.")
    store.connection_opened(2, 0.1, "server", "echo", "127.0.0.1:7", "127.0.0.1:5001", "connected")
    store.connection_bytes(2, 0.1, "in", 500, b"x" * 500)
    store.reset_changes()
    store.sample(1.0)
    rate = COLUMNS.index("Rate")
    assert row_texts(store.connections[1], 1.0)[rate] == ""
    assert 1 not in store.connection_rates and 1 not in store.changed_connections
    assert row_texts(store.connections[2], 1.0)[rate] != ""  # an open one still has its rate


def test_a_slow_list_spreads_a_burst_but_never_falls_further_behind(qtbot: Any) -> None:
    """Rows that cost more than a refresh's budget: a burst is listed over the next
    refreshes, in order, but a steady arrival is listed as fast as it comes."""
    from inspector.ui.panels.connections import ConnectionsPanel
    from inspector.ui.viewmodel.store import Store

    store = Store(clock=0.0)
    store.closed_limit = 100_000
    panel = ConnectionsPanel(store)
    qtbot.addWidget(panel)
    panel.show()
    next_id = 1

    def arrive(count: int) -> None:
        nonlocal next_id
        for _ in range(count):
            store.connection_opened(next_id, next_id * 0.001, "server", "echo", "127.0.0.1:7",
                                    f"127.0.0.1:{next_id}", "connected")
            next_id += 1
        panel.refresh()
        store.reset_changes()
        panel.model._row_cost = 1.0  # as if each row took a second: the budget lists none

    arrive(50)  # the cost is not known yet: all listed
    assert panel.proxy.rowCount() == 50
    for _ in range(10):
        arrive(150)
    assert panel.proxy.rowCount() == next_id - 1  # steady: listed as fast as it comes
    arrive(3000)  # a burst: spread over the next refreshes
    behind = next_id - 1 - panel.proxy.rowCount()
    assert behind > 0
    for _ in range(40):  # steady arrivals again: the list catches up, never falls further behind
        arrive(150)
        now_behind = next_id - 1 - panel.proxy.rowCount()
        assert now_behind <= behind
        behind = now_behind
    assert behind == 0
    ids = [int(panel.proxy.index(row, 0).data()) for row in range(panel.proxy.rowCount())]
    assert ids == list(range(1, next_id))  # in order


def test_a_window_far_behind_skips_to_the_present(
    qtbot: Any, qt_reactor: Any, free_port: Callable[[], int], monkeypatch: Any
) -> None:
    """A window more events behind than it may trail skips ahead (counting what it skipped
    as missed) and lists what is true now: the connections still open, even those opened
    among the skipped events, and none that closed there as open."""
    import socket

    import inspector.trace
    from inspector import catalog
    from inspector.ui.viewmodel import feed as feed_module
    from inspector.ui.viewmodel.feed import LiveFeed
    from inspector.ui.viewmodel.store import Store

    monkeypatch.setattr(feed_module, "LAG_LIMIT", 400)
    monkeypatch.setattr(feed_module, "CATCH_UP", 100)
    monkeypatch.setattr(feed_module, "SLICE", 50)
    inspector.trace.disable()
    tracer = inspector.trace.enable()
    held: list[socket.socket] = []
    try:
        store = Store()
        feed = LiveFeed(tracer.trace, store)
        port = free_port()
        server = catalog.find("echo", "server").start(qt_reactor, port=port)
        churn(qtbot, port, 60)  # hundreds of events the window has not read
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
        qtbot.waitUntil(lambda: sum(s.state == "connected" for s in tracer.trace.connections.values()) == 5,
                        timeout=10000)
        churn(qtbot, port, 60)  # and hundreds more after them
        qtbot.waitUntil(lambda: len(tracer.trace.connections) >= 125, timeout=10000)
        feed.poll(store.now)
        assert feed.skipped > 0 and store.dropped >= feed.skipped  # said as missed events
        assert tracer.trace.feed.last_seq - feed.cursor.position <= 100 + 50  # near the present
        open_now = sorted(cid for cid, s in tracer.trace.connections.items() if s.state == "connected")
        assert len(open_now) == 5
        assert sorted(c.id for c in store.connections.values() if c.is_open) == open_now
        server.stop()
    finally:
        for sock in held:
            sock.close()
        inspector.trace.disable()


def test_a_window_far_behind_shows_no_deferred_pending_that_got_its_result(monkeypatch: Any) -> None:
    """Deferreds the window listed as pending whose results came among the events it
    skipped show their results after the skip, and one made among the skipped events
    and still waiting is listed as pending."""
    import inspector.trace
    from inspector.defer import Deferred
    from inspector.ui.viewmodel import feed as feed_module
    from inspector.ui.viewmodel.feed import LiveFeed
    from inspector.ui.viewmodel.store import Store

    monkeypatch.setattr(feed_module, "LAG_LIMIT", 400)
    monkeypatch.setattr(feed_module, "CATCH_UP", 100)
    monkeypatch.setattr(feed_module, "SLICE", 50)
    inspector.trace.disable()
    tracer = inspector.trace.enable()
    try:
        store = Store()
        feed = LiveFeed(tracer.trace, store)
        waiting = [Deferred() for _ in range(5)]
        failing = Deferred()
        failing.addErrback(lambda failure: None)
        while feed.poll(store.now):
            pass
        listed = {info.id for info in store.deferreds.values() if info.state == "pending"}
        assert len(listed) == 6  # the window shows them waiting
        noise = 5_000  # thousands of events the window has not read (decoded as the capture lists fill)
        for _ in range(noise):
            Deferred().callback(None)
        for d in waiting:
            d.callback("done")
        failing.errback(ValueError("no"))
        late = Deferred()  # made among the events the window will skip, and still waiting
        for _ in range(1_000):  # (fewer than the trace's finished Deferreds: it keeps their results)
            Deferred().callback(None)
        clock = store.now
        while feed.poll(clock):
            pass
        feed.poll(clock + 1.0)  # a refresh a second later: the window looks at the trace's summaries
        assert feed.skipped > 0
        states = {info.id: info.state for info in store.deferreds.values()}
        assert all(states[did] != "pending" for did in listed), states
        *made_first, made_last = sorted(listed)  # (numbered as they were made)
        assert [states[did] for did in made_first] == ["succeeded"] * 5
        assert states[made_last] == "recovered"  # the failed one, its errback handled it
        pending_now = {did for did, s in tracer.trace.pending.items()}
        assert {did for did, state in states.items() if state == "pending"} == pending_now
        assert len(pending_now) == 1  # the late one
        del late
    finally:
        inspector.trace.disable()


def test_a_live_store_under_churn_stays_bounded() -> None:
    """Hours of churn: the live store, its fold and its rate series hold about the newest
    "Keep closed" connections, not one entry per connection ever seen."""
    from inspector.trace import events as ev
    from inspector.ui.viewmodel.store import Store

    store = Store(clock=0.0)
    store.closed_limit = 100
    for conn_id in range(1, 20_001):
        when = conn_id * 0.0005
        store.fold_event(ev.ConnectionOpened(0, when, "r", 0, conn_id, "server", "echo", "tcp", "a", "b"))
        store.fold_event(ev.BytesIn(0, when, "r", 0, conn_id, 5, b"ping\n"))
        store.fold_event(ev.ConnectionClosed(0, when, "r", 0, conn_id, "ConnectionDone", "closed cleanly", 5, 0))
        if conn_id % 60 == 0:  # a refresh
            store.trim_closed()
            store.sample(when)
            store.reset_changes()
    store.trim_closed()
    assert len(store.connections) == 100 and len(store.order) == 100
    assert store.closed_dropped == 19_900
    assert len(store.fold._closed_order) <= 1000 and len(store.fold._connections) <= 1000
    assert len(store.connection_rates) == 0
