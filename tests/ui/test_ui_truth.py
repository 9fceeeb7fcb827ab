"""The window tells the truth (issue 14): what it lists, how it names states, where it
says what went wrong — driven as a person would, over real loopback sockets."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QTableView

from ui_support import find, table_rows

SERVICE = 2  # the running-services table: Stop button, #, Service, Status, Last output
STATUS = 3


def menu_action(window: Any, menu_title: str, name: str) -> Any:
    """The action ``name`` as found in the menu bar's ``menu_title`` menu (asserting it is there)."""
    for menu_action_ in window.menuBar().actions():
        if menu_action_.text().replace("&", "") == menu_title:
            for action in menu_action_.menu().actions():
                if action.objectName() == name:
                    return action
    raise AssertionError(f"no {name} in the {menu_title} menu")


def demo_row(services: QTableView) -> list[str] | None:
    return next((row for row in table_rows(services) if row[SERVICE].startswith("demo")), None)


def test_stop_all_stops_the_demo_and_its_queries(qtbot: Any, window: Any) -> None:
    services = find(window, QTableView, "launcher.services")
    qtbot.mouseClick(find(window, QPushButton, "launcher.demo"), Qt.MouseButton.LeftButton)
    # The demo is listed like any other service, and Run offers "Stop demo" while it runs.
    qtbot.waitUntil(lambda: demo_row(services) is not None and demo_row(services)[STATUS] == "running", timeout=10000)
    stop_demo = menu_action(window, "Run", "action.stop_demo")
    assert stop_demo.isVisible() and stop_demo.isEnabled()
    # Let the once-a-second QOTD query run at least once.
    qtbot.waitUntil(lambda: any(c.protocol == "CollectingClient" or "qotd" in c.protocol.lower() and c.role == "client"
                                for c in window.store.connections.values()), timeout=10000)

    qtbot.mouseClick(find(window, QPushButton, "launcher.stop_all"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.launcher.running(), timeout=10000)
    assert demo_row(services)[STATUS] in ("stopped", "ended")
    assert not stop_demo.isVisible()
    qtbot.waitUntil(lambda: window.store.open_count() == 0, timeout=10000)
    # Nothing keeps querying: no new connection in more than one QOTD period.
    seen = len(window.store.connections)
    qtbot.wait(1500)
    assert len(window.store.connections) == seen
    qtbot.waitUntil(lambda: window.status.text().endswith(" 0 services"), timeout=5000)


def test_run_menu_stops_the_demo(qtbot: Any, window: Any) -> None:
    services = find(window, QTableView, "launcher.services")
    menu_action(window, "Run", "action.demo").trigger()
    qtbot.waitUntil(lambda: len(window.launcher.running()) >= 4, timeout=10000)
    menu_action(window, "Run", "action.stop_demo").trigger()
    qtbot.waitUntil(lambda: not window.launcher.running(), timeout=10000)
    assert demo_row(services) is not None


# -- item 5: the Deferreds list tells the truth ------------------------------------------

DEF_ID, DEF_STATE, DEF_AGE, DEF_SITE, DEF_WAITS, DEF_RESULT = range(6)


def deferred_rows(window: Any) -> list[list[str]]:
    window.refresh()
    return table_rows(find(window, QTableView, "deferreds.table"))


def rows_made_in(window: Any, function: str) -> list[list[str]]:
    """The Deferreds list's rows for Deferreds created in ``function``, oldest first."""
    rows = [row for row in deferred_rows(window) if row[DEF_SITE].startswith(f"{function} (")]
    return sorted(rows, key=lambda row: int(row[DEF_ID]))


def pending_in_status(window: Any) -> int:
    window._update_status()
    text = window.status.text()
    return int(text.split(" pending Deferreds")[0].rsplit(" ", 1)[1])


def test_a_failed_start_leaves_no_pending_deferred_and_blames_no_connection(
    qtbot: Any, window: Any, free_port: Callable[[], int]
) -> None:
    import socket

    from PySide6.QtWidgets import QCheckBox, QLabel

    # First some traffic, so a connection has been "current" in the loop.
    port = free_port()
    window.launcher.select_entry("echo", "server")
    window.launcher.set_value("port", port)
    window.launcher.start_current()
    window.launcher.select_entry("echo", "client")
    window.launcher.set_value("port", port)
    client = window.launcher.start_current()
    qtbot.waitUntil(lambda: window.store.open_count() == 2, timeout=10000)
    client.handle.send_line("hello")
    qtbot.waitUntil(
        lambda: any(c.bytes_in for c in window.store.connections.values() if c.role == "client"), timeout=10000
    )
    window.refresh()
    before = pending_in_status(window)

    own = find(window, QCheckBox, "deferreds.hide_own")
    qtbot.mouseClick(own, Qt.MouseButton.LeftButton)  # show the inspector's own Deferreds too
    window.refresh()
    newest_before = max(int(row[DEF_ID]) for row in deferred_rows(window))

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        window.launcher.select_entry("echo", "server")
        window.launcher.set_value("port", busy.getsockname()[1])
        qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)
        assert "in use" in find(window, QLabel, "launcher.error").text()
    finally:
        busy.close()
    window.refresh()
    # A start that failed made no handle, so no Deferred of the launcher's waits for anything.
    made = [row for row in deferred_rows(window) if int(row[DEF_ID]) > newest_before]
    assert not [row for row in made if "handles.py" in row[DEF_SITE]], made
    assert not [row for row in made if "connection #" in row[DEF_WAITS]], made
    qtbot.mouseClick(own, Qt.MouseButton.LeftButton)
    assert pending_in_status(window) == before


def test_a_handled_failure_shows_recovered_in_its_own_colour(qtbot: Any, window: Any) -> None:
    from PySide6.QtCore import Qt as QtCore_Qt
    from PySide6.QtWidgets import QComboBox

    from inspector.defer import Deferred

    def boom(_: Any) -> None:
        raise ValueError("boom")

    recovered: Deferred = Deferred()
    recovered.addCallback(boom)
    recovered.addErrback(lambda failure: "handled")
    plain: Deferred = Deferred()
    plain.addCallback(lambda value: value + 1)
    recovered.callback(1)
    plain.callback(1)
    qtbot.waitUntil(
        lambda: len(rows_made_in(window, "test_a_handled_failure_shows_recovered_in_its_own_colour")) == 2, timeout=5000
    )
    first, second = rows_made_in(window, "test_a_handled_failure_shows_recovered_in_its_own_colour")
    assert first[DEF_STATE] == "recovered"
    assert second[DEF_STATE] == "succeeded"
    table = find(window, QTableView, "deferreds.table")
    model = table.model()
    tints = {}
    for row in range(model.rowCount()):
        state = model.index(row, DEF_STATE).data()
        tints[state] = model.index(row, DEF_STATE).data(QtCore_Qt.ItemDataRole.BackgroundRole)
    assert tints["recovered"] != tints["succeeded"]
    # The filter offers "Recovered" and shows only those.
    mode = find(window, QComboBox, "deferreds.mode")
    mode.setCurrentIndex(mode.findText("Recovered"))
    assert [row[DEF_STATE] for row in deferred_rows(window)] == ["recovered"]


def test_the_inspectors_own_deferreds_are_hidden_by_default(
    qtbot: Any, window: Any, free_port: Callable[[], int]
) -> None:
    from PySide6.QtWidgets import QCheckBox

    port = free_port()
    window.launcher.select_entry("echo", "server")
    window.launcher.set_value("port", port)
    window.launcher.start_current()
    window.launcher.select_entry("qotd", "client")
    window.launcher.set_value("port", port)  # an echo server: the query ends at close
    window.launcher.start_current()
    qtbot.waitUntil(lambda: bool(window.store.deferreds), timeout=5000)
    own = ("handles.py", "oneshot.py")
    assert not any(name in row[DEF_SITE] for row in deferred_rows(window) for name in own)
    box = find(window, QCheckBox, "deferreds.hide_own")
    assert box.isChecked()
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    assert any(name in row[DEF_SITE] for row in deferred_rows(window) for name in own)


def test_a_chain_resumes_when_the_deferred_it_returned_fires(qtbot: Any, window: Any) -> None:
    from inspector.defer import Deferred

    d1: Deferred = Deferred()
    d2: Deferred = Deferred()
    d1.addCallback(lambda x: d2)
    d1.addCallback(str.upper)
    d1.callback("first")
    d2.callback("second")
    assert d1.result == "SECOND"
    name = "test_a_chain_resumes_when_the_deferred_it_returned_fires"
    qtbot.waitUntil(lambda: len(rows_made_in(window, name)) == 2, timeout=5000)
    outer, inner = rows_made_in(window, name)
    assert inner[DEF_STATE] == "succeeded"
    assert outer[DEF_STATE] == "succeeded", outer
    assert outer[DEF_RESULT] == "'SECOND'"
    assert outer[DEF_WAITS] == ""
    assert pending_in_status(window) == 0
    # The trace itself says the chain resumed, and with what.
    window.tracer.sync()
    resumed = [e for e in window.tracer.trace.subscribe(from_start=True).drain(100000) if e.kind == "d.resumed"]
    assert [(e.deferred, e.waited_on) for e in resumed] == [(int(outer[DEF_ID]), int(inner[DEF_ID]))]
    # Its chain diagram says so too.
    from ui_support import click_row
    window.show_dock("Deferreds")
    table = find(window, QTableView, "deferreds.table")
    row = next(i for i, r in enumerate(table_rows(table)) if r[DEF_ID] == outer[DEF_ID])
    click_row(qtbot, table, row)
    diagram = window.deferreds.diagram
    assert "resumed" in diagram.accessibleDescription()
    assert "succeeded" in diagram.accessibleDescription().splitlines()[0]


# -- item 7: errors where the user looks ------------------------------------------------------


def start_irc_bot(qtbot: Any, window: Any, free_port: Callable[[], int]) -> Any:
    """An IRC server and a bot joined to #tea, both from the launcher; the bot's session shown."""
    from ui_support import click_row

    port = free_port()
    window.launcher.select_entry("irc", "server")
    window.launcher.set_value("port", port)
    assert window.launcher.start_current() is not None
    window.launcher.select_entry("irc", "client")
    window.launcher.set_value("port", port)
    window.launcher.set_value("nick", "tester")
    window.launcher.set_value("channel", "#tea")
    bot = window.launcher.start_current()
    qtbot.waitUntil(lambda: "joined #tea" in bot.last_output, timeout=10000)
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(lambda: any(row[1] == "client" for row in table_rows(connections)), timeout=10000)
    row = next(i for i, r in enumerate(table_rows(connections)) if r[1] == "client")
    click_row(qtbot, connections, row)
    return bot


def test_a_bad_command_is_explained_next_to_the_input(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    from PySide6.QtWidgets import QLabel, QLineEdit

    start_irc_bot(qtbot, window, free_port)
    line = find(window, QLineEdit, "session.input")
    qtbot.waitUntil(line.isEnabled, timeout=10000)
    qtbot.keyClicks(line, "/bogus now")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    said = find(window, QLabel, "session.send_error")
    qtbot.waitUntil(lambda: said.isVisible() and "unknown command /bogus" in said.text(), timeout=5000)
    assert line.text() == "/bogus now"  # kept, to be corrected
    line.clear()
    qtbot.keyClicks(line, "hello tea")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not said.isVisible(), timeout=5000)


def test_a_user_stopped_bot_shows_stopped(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    bot = start_irc_bot(qtbot, window, free_port)
    services = find(window, QTableView, "launcher.services")
    window.launcher.stop(bot)
    qtbot.waitUntil(lambda: not bot.running, timeout=10000)
    row = next(r for r in table_rows(services) if r[SERVICE].startswith("irc client"))
    assert row[STATUS] == "stopped"
    assert "failed" not in window.statusBar().currentMessage()


def test_a_refused_client_does_not_stay_started_in_the_status_bar(
    qtbot: Any, window: Any, free_port: Callable[[], int]
) -> None:
    window.launcher.select_entry("echo", "client")
    window.launcher.set_value("port", free_port())
    qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)
    services = find(window, QTableView, "launcher.services")
    qtbot.waitUntil(lambda: table_rows(services)[0][STATUS] == "failed", timeout=10000)
    message = window.statusBar().currentMessage()
    assert not message.startswith("Started"), message
    assert "failed" in message and "refused" in message.lower()


# -- item 8: nothing cut off at 1440x900; names, round trips, clearing, selection, reasons ------


def assert_columns_fit(table: QTableView) -> None:
    """Every column of ``table`` is inside its viewport and wide enough for its title."""
    header = table.horizontalHeader()
    metrics = header.fontMetrics()
    assert header.length() <= table.viewport().width() + 2, (
        table.objectName(),
        header.length(),
        table.viewport().width(),
    )
    model = table.model()
    for column in range(model.columnCount()):
        if header.isSectionHidden(column):
            continue
        title = str(model.headerData(column, Qt.Orientation.Horizontal) or "")
        assert header.sectionSize(column) >= metrics.horizontalAdvance(title) + 8, (
            table.objectName(),
            title,
            header.sectionSize(column),
        )


def test_nothing_is_cut_off_at_1440_by_900(qtbot: Any, window: Any) -> None:
    window.resize(1440, 900)
    window.start_demo()
    qtbot.waitUntil(lambda: len(window.launcher.running()) >= 8, timeout=10000)
    qtbot.waitUntil(lambda: len(window.store.connections) >= 8, timeout=10000)
    window.connections.select_connection(next(c.id for c in window.store.connections.values() if c.role == "client"))
    qtbot.wait(100)
    for name in ("launcher.services", "log.table", "connections.table", "session.messages"):
        assert_columns_fit(find(window, QTableView, name))
    window.show_dock("Deferreds")
    qtbot.wait(100)
    assert_columns_fit(find(window, QTableView, "deferreds.table"))
    services = find(window, QTableView, "launcher.services")
    headers = [services.model().headerData(c, Qt.Orientation.Horizontal) for c in range(services.model().columnCount())]
    assert "Last output" not in headers  # the echo round trip lives in the session view


def test_protocols_are_named_as_the_launcher_names_them(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    start_irc_bot(qtbot, window, free_port)
    connections = find(window, QTableView, "connections.table")

    def both_named() -> bool:
        window.refresh()  # a row may show before its protocol is known; the name follows
        return sorted(row[2] for row in table_rows(connections)) == ["IRC", "IRC"]

    qtbot.waitUntil(both_named, timeout=10000)


def test_a_started_client_is_selected_and_its_round_trip_shows_in_the_session(
    qtbot: Any, window: Any, free_port: Callable[[], int]
) -> None:
    from PySide6.QtWidgets import QLabel, QLineEdit

    port = free_port()
    window.launcher.select_entry("echo", "server")
    window.launcher.set_value("port", port)
    qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)
    window.launcher.select_entry("echo", "client")
    window.launcher.set_value("port", port)
    qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)
    # Its connection is selected without a click, and the session is ready to type in.
    line = find(window, QLineEdit, "session.input")
    qtbot.waitUntil(line.isEnabled, timeout=10000)
    assert window.session.connection is not None and window.session.connection.role == "client"
    qtbot.keyClicks(line, "marco")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    output = find(window, QLabel, "session.output")
    qtbot.waitUntil(lambda: output.isVisible() and "marco" in output.text() and " ms)" in output.text(), timeout=10000)


def test_closed_connections_can_be_cleared(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    port = free_port()
    window.launcher.select_entry("echo", "server")
    window.launcher.set_value("port", port)
    server = window.launcher.start_current()
    window.launcher.select_entry("echo", "client")
    window.launcher.set_value("port", port)
    window.launcher.start_current()
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(lambda: [r[5] for r in table_rows(connections)] == ["connected", "connected"], timeout=10000)
    window.launcher.stop(server)
    qtbot.waitUntil(lambda: [r[5] for r in table_rows(connections)] == ["closed", "closed"], timeout=10000)
    qtbot.mouseClick(find(window, QPushButton, "connections.clear"), Qt.MouseButton.LeftButton)
    assert table_rows(connections) == []
    assert window.session.connection is None


def test_a_disabled_send_says_why(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    from PySide6.QtWidgets import QLineEdit

    from ui_support import click_row

    line = find(window, QLineEdit, "session.input")
    send = find(window, QPushButton, "session.send")
    assert not send.isEnabled() and "select" in send.toolTip().lower()
    port = free_port()
    window.launcher.select_entry("echo", "server")
    window.launcher.set_value("port", port)
    window.launcher.start_current()
    window.launcher.select_entry("qotd", "client")  # a client that sends no lines
    window.launcher.set_value("port", port)
    window.launcher.start_current()
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(lambda: any(r[1] == "server" for r in table_rows(connections)), timeout=10000)
    click_row(qtbot, connections, next(i for i, r in enumerate(table_rows(connections)) if r[1] == "server"))
    assert not send.isEnabled()
    assert send.toolTip() and send.toolTip() == line.placeholderText()
    assert "launcher" in send.toolTip() or "closed" in send.toolTip()
    if "launcher" in send.toolTip():  # it names every kind of client that takes lines, from the catalogue
        assert all(name in send.toolTip().lower() for name in ("echo", "irc", "process")), send.toolTip()


# -- item 9: direction reads without colour, in glyphs the font has --------------------------------


def test_every_session_line_is_marked_with_its_direction(qtbot: Any, window: Any, free_port: Callable[[], int]) -> None:
    from PySide6.QtWidgets import QPlainTextEdit

    start_irc_bot(qtbot, window, free_port)
    text_view = find(window, QPlainTextEdit, "session.text")
    # The server's welcome arrives as one chunk of many lines.
    qtbot.waitUntil(lambda: "End of /NAMES" in text_view.toPlainText(), timeout=10000)
    lines = [line for line in text_view.toPlainText().splitlines() if line]
    assert len(lines) > 5
    unmarked = [line for line in lines if not line.startswith(("◀ ", "▶ "))]
    assert not unmarked, unmarked
    assert any(line.startswith("◀ :irc.inspector.local 002") for line in lines)
    assert any(line.startswith("▶ USER") for line in lines)


def test_the_marks_the_window_draws_are_in_its_fonts(qtbot: Any, window: Any) -> None:
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QPlainTextEdit

    from inspector.ui.panels.chain_diagram import footer_text
    from inspector.ui.viewmodel.session import DIRECTION_MARKS
    from inspector.ui.viewmodel.store import DeferredInfo

    waiting = footer_text(DeferredInfo(1, 0.0, "here.py:1", state="pending", waits_on_text="a timer"))
    assert "waiting on a timer" in waiting
    texts = {
        find(window, QPlainTextEdit, "session.text").font(): "".join(DIRECTION_MARKS.values()),
        window.deferreds.diagram.font(): waiting,
    }
    for font, text in texts.items():
        metrics = QFontMetrics(font)
        missing = [char for char in text if ord(char) > 127 and not metrics.inFontUcs4(ord(char))]
        assert not missing, (font.family(), missing)


# -- item 11: About says the version and the shortcuts -------------------------------------


def test_about_shows_the_version_and_every_shortcut(qtbot: Any, window: Any) -> None:
    from PySide6.QtWidgets import QMessageBox

    import inspector

    menu_action(window, "Help", "action.about").trigger()
    box = window.findChild(QMessageBox, "about")
    assert box is not None
    qtbot.waitUntil(box.isVisible, timeout=5000)
    text = box.text()
    assert f"Inspector {inspector.__version__}" in text
    for keys in ("Ctrl+D", "Ctrl+R", "Ctrl+Shift+S", "Ctrl+F", "Alt+1"):
        assert keys in text, keys
    assert "Demo" in text and "Stop all services" in text
    box.close()
