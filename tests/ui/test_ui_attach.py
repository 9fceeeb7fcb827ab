"""The window attached to live processes (``inspector attach ENDPOINT...`` without
--headless): real ``inspector serve echo --trace-listen`` subprocesses, echo traffic from a
plain socket, the Connections table filled from them with a Process column and filter,
a process killed (disconnected) and started again on the same port (connected again, the
old rows kept), and a wrong token (refused)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QPlainTextEdit, QTableView

from inspector.ui.viewmodel.connections import COLUMNS
from inspector.ui.viewmodel.connections import PROCESS_COLUMN as PROCESS  # shown second

from ui_support import click_row, find, table_rows

ID = 0
ROLE, LOCAL, STATE, IN, OUT = 1, 3, 5, 6, 7
REASON = COLUMNS.index("Close reason")
P_LABEL, P_STATE, P_PID = 0, 1, 2


class Served:
    """``inspector serve echo --trace-listen ...`` in a subprocess, its log read as it comes."""

    def __init__(self, trace_listen: str = "tcp:0", *extra: str) -> None:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        for name in ("INSPECTOR_TRACE_LISTEN", "INSPECTOR_TRACE_TOKEN", "INSPECTOR_REACTOR"):
            env.pop(name, None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "serve", "echo", "--endpoint", "tcp:0",
             "--trace-listen", trace_listen, *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )
        self.text = ""
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.trace_port = int(self.wait_for(r"serving the trace on 127\.0\.0\.1:(\d+)"))
        self.echo_port = int(self.wait_for(r"echo server listening on 127\.0\.0\.1:(\d+)"))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._changed:
                self.text += raw.decode("utf-8", "replace")
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while (found := re.search(pattern, self.text)) is None:
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, f"no {pattern!r} in:\n{self.text}"
                self._changed.wait(min(left, 0.5))
        return found.group(1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def serve() -> Any:
    started: list[Served] = []

    def start(*args: str) -> Served:
        served = Served(*args)
        started.append(served)
        return served

    yield start
    for served in started:
        served.kill()


@pytest.fixture
def attached(qtbot: Any, qt_reactor: Any, settings: Any) -> Any:
    """A function attaching a fresh window (built as ``inspector attach`` builds it) to endpoints."""
    from inspector.ui.app import build_window
    from inspector.ui.remote import attach_window

    made: list[Any] = []

    def open_window(endpoints: list[str], token: str | None = None) -> Any:
        window = build_window(qt_reactor, settings, trace=False)
        qtbot.addWidget(window)
        window.resize(1440, 900)
        window.show()
        attach_window(window, endpoints, token, retry=0.1, max_retry=0.3)
        made.append(window)
        return window

    yield open_window
    for window in made:
        window.shutdown()
    qtbot.wait(50)


def echo(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = conn.recv(4096)
            assert chunk, "the echo server closed early"
            got += chunk
        assert got == payload


def processes(window: Any) -> list[list[str]]:
    return table_rows(find(window, QTableView, "processes.table"))


def rows_of(window: Any) -> list[list[str]]:
    return table_rows(find(window, QTableView, "connections.table"))


def wait_rows(qtbot: Any, window: Any, accept: Callable[[list[str]], bool], count: int = 1) -> list[list[str]]:
    qtbot.waitUntil(lambda: sum(accept(row) for row in rows_of(window)) >= count, timeout=15000)
    return [row for row in rows_of(window) if accept(row)]


def test_the_window_shows_a_served_process_live(qtbot: Any, serve: Any, attached: Any, tmp_path: Any) -> None:
    served = serve()
    label = f"127.0.0.1:{served.trace_port}"
    window = attached([label])
    qtbot.waitUntil(lambda: processes(window)[0][P_STATE] == "connected", timeout=15000)
    assert processes(window)[0][P_PID] == str(served.proc.pid)
    assert window.windowTitle() == f"Inspector — attached to {label}"
    assert not window.launcher.isEnabled()  # it starts services in this window only

    echo(served.echo_port, b"hello from a socket\n")
    row = wait_rows(qtbot, window, lambda r: r[LOCAL] == f"127.0.0.1:{served.echo_port}" and r[IN] == "20 B")[0]
    assert (row[ROLE], row[OUT], row[PROCESS]) == ("server", "20 B", label)
    table = find(window, QTableView, "connections.table")
    assert not table.isColumnHidden(PROCESS)
    assert table.horizontalHeader().visualIndex(PROCESS) == 1
    click_row(qtbot, table, next(i for i, r in enumerate(rows_of(window)) if r[ID] == row[ID]))
    session = find(window, QPlainTextEdit, "session.text")
    qtbot.waitUntil(lambda: "◀ hello from a socket" in session.toPlainText(), timeout=5000)
    qtbot.waitUntil(lambda: window.store.loop_turns.count > 0, timeout=5000)  # the Timing panel's data
    log_rows = table_rows(find(window, QTableView, "log.table"))
    assert any(f"attached to {label}" in " ".join(r) for r in log_rows)
    assert find(window, QLabel, "status.processes").text().endswith("attached: 1 connected")
    # Another store (a recording) has no processes; back to live, they show again.
    from inspector.ui.viewmodel.store import Store

    window.show_store(Store(clock=0.0), live=False)
    assert table.isColumnHidden(PROCESS) and not find(window, QComboBox, "connections.process").isVisible()
    window.show_live()
    assert not table.isColumnHidden(PROCESS) and find(window, QComboBox, "connections.process").isVisible()
    assert window.windowTitle() == f"Inspector — attached to {label}"
    # The File menu's exports read what arrived from the process.
    transcript = tmp_path / "session.txt"
    assert window.export_transcript(int(row[ID]), str(transcript))
    assert "hello from a socket" in transcript.read_text()


def test_two_processes_at_once_with_a_process_filter(qtbot: Any, serve: Any, attached: Any, tmp_path: Any) -> None:
    one, two = serve(), serve()
    window = attached([f"127.0.0.1:{one.trace_port}", f"tcp:host=127.0.0.1:port={two.trace_port}"])
    labels = [f"127.0.0.1:{one.trace_port}", f"127.0.0.1:{two.trace_port}"]  # one way of naming both
    qtbot.waitUntil(lambda: [r[P_STATE] for r in processes(window)] == ["connected"] * 2, timeout=15000)
    echo(one.echo_port, b"to one\n")
    echo(two.echo_port, b"to two!\n")
    wait_rows(qtbot, window, lambda r: r[IN] in ("7 B", "8 B"), count=2)
    by_process = {r[PROCESS]: r for r in rows_of(window) if r[IN] in ("7 B", "8 B")}
    assert by_process[labels[0]][LOCAL] == f"127.0.0.1:{one.echo_port}"
    assert by_process[labels[1]][LOCAL] == f"127.0.0.1:{two.echo_port}"
    assert int(by_process[labels[1]][ID]) >= 1_000_000_000  # the second process's ids kept apart

    box = find(window, QComboBox, "connections.process")
    assert box.isVisible() and [box.itemText(i) for i in range(box.count())] == ["All processes", *labels]
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_Down, Qt.KeyboardModifier.NoModifier)  # "All processes" -> the first
    assert box.currentText() == labels[0]
    qtbot.waitUntil(lambda: {r[PROCESS] for r in rows_of(window)} == {labels[0]}, timeout=5000)
    qtbot.keyClick(box, Qt.Key.Key_Down, Qt.KeyboardModifier.NoModifier)
    qtbot.waitUntil(lambda: {r[PROCESS] for r in rows_of(window)} == {labels[1]}, timeout=5000)
    qtbot.keyClick(box, Qt.Key.Key_Home, Qt.KeyboardModifier.NoModifier)
    qtbot.waitUntil(lambda: {r[PROCESS] for r in rows_of(window)} == set(labels), timeout=5000)

    # The Deferreds list says whose each Deferred is, and filters by process too.
    window.show_dock("Deferreds")
    deferreds = find(window, QTableView, "deferreds.table")
    qtbot.mouseClick(find(window, QCheckBox, "deferreds.hide_own"), Qt.MouseButton.LeftButton)  # show them all
    column = deferreds.model().sourceModel().HEADERS.index("Process")
    assert not deferreds.isColumnHidden(column)
    qtbot.waitUntil(lambda: {r[column] for r in table_rows(deferreds)} == set(labels), timeout=10000)
    chooser = find(window, QComboBox, "deferreds.process")
    chooser.setFocus()
    qtbot.keyClick(chooser, Qt.Key.Key_End, Qt.KeyboardModifier.NoModifier)  # the last process
    qtbot.waitUntil(lambda: {r[column] for r in table_rows(deferreds)} == {labels[1]}, timeout=5000)
    # More traffic: both stay attached all along (nothing they sent was refused as "not a trace").
    for n in range(20):
        echo(one.echo_port, b"more to one %02d\n" % n)
        echo(two.echo_port, b"more to two %02d\n" % n)
    wait_rows(qtbot, window, lambda r: r[IN] == "15 B" and r[STATE] == "closed", count=40)
    log_text = " ".join(" ".join(r) for r in table_rows(find(window, QTableView, "log.table")))
    assert "disconnected" not in log_text and "not a trace" not in log_text, log_text
    assert [r[P_STATE] for r in processes(window)] == ["connected"] * 2
    window.refresh()
    assert window.grab().save(str(tmp_path / "attached_two.png"), "PNG")


def test_a_killed_process_shows_disconnected_then_connected_again(qtbot: Any, serve: Any, attached: Any) -> None:
    first = serve()
    label = f"127.0.0.1:{first.trace_port}"
    window = attached([label])
    qtbot.waitUntil(lambda: processes(window)[0][P_STATE] == "connected", timeout=15000)
    echo(first.echo_port, b"before\n")
    wait_rows(qtbot, window, lambda r: r[IN] == "7 B" and r[STATE] == "closed")
    held = socket.create_connection(("127.0.0.1", first.echo_port), timeout=10)  # open when it dies
    held.sendall(b"held open\n")
    assert held.recv(100) == b"held open\n"
    wait_rows(qtbot, window, lambda r: r[IN] == "10 B" and r[STATE] == "connected")
    first.kill()  # mid-stream: no goodbye
    held.close()
    qtbot.waitUntil(lambda: processes(window)[0][P_STATE] == "disconnected — reconnecting", timeout=15000)
    assert wait_rows(qtbot, window, lambda r: r[IN] == "7 B")  # what was shown stays
    assert find(window, QLabel, "status.processes").text().endswith("attached: 1 disconnected")

    second = serve(f"tcp:{first.trace_port}")
    qtbot.waitUntil(lambda: processes(window)[0][P_STATE] == "connected", timeout=15000)
    assert processes(window)[0][P_PID] == str(second.proc.pid)
    echo(second.echo_port, b"after it\n")
    after = wait_rows(qtbot, window, lambda r: r[IN] == "9 B")[0]
    assert int(after[ID]) >= 1_000_000_000 and after[PROCESS] == label
    assert wait_rows(qtbot, window, lambda r: r[IN] == "7 B")  # the first process's row is still there
    # The connection the first process had open ended with it, and the row says so.
    ended = wait_rows(qtbot, window, lambda r: r[IN] == "10 B")[0]
    assert ended[STATE] == "closed" and ended[REASON].startswith("its process ended"), ended


def test_a_wrong_token_shows_refused(qtbot: Any, serve: Any, attached: Any) -> None:
    served = serve("tcp:0", "--trace-token", "right")
    window = attached([f"127.0.0.1:{served.trace_port}"], token="wrong")
    qtbot.waitUntil(lambda: processes(window)[0][P_STATE].startswith("refused"), timeout=15000)
    assert processes(window)[0][P_STATE] == "refused: wrong token"
    assert rows_of(window) == []


def test_the_same_process_met_again_after_a_dropped_link_shows_nothing_twice(
    qtbot: Any, serve: Any, attached: Any
) -> None:
    served = serve()
    window = attached([f"127.0.0.1:{served.trace_port}"])
    qtbot.waitUntil(lambda: processes(window)[0][P_STATE] == "connected", timeout=15000)
    echo(served.echo_port, b"once\n")
    before = wait_rows(qtbot, window, lambda r: r[IN] == "5 B" and r[STATE] == "closed")
    attachment = window.feed.attachments[0]
    states: list[str] = []
    shown = attachment.on_state

    def heard(att: Any, state: Any, detail: str) -> None:
        states.append(state)
        shown(att, state, detail)

    attachment.on_state = heard
    attachment._protocol.transport.abortConnection()  # the link drops; the process lives on
    qtbot.waitUntil(lambda: attachment.session == 2 and processes(window)[0][P_STATE] == "connected", timeout=15000)
    assert states[:2] == ["disconnected", "connected"]
    echo(served.echo_port, b"twice\n")
    wait_rows(qtbot, window, lambda r: r[IN] == "6 B" and r[STATE] == "closed")
    # The snapshot the process sent again did not add its connections a second time.
    assert [r for r in rows_of(window) if r[IN] == "5 B"] == before
    assert all(int(r[ID]) < 1_000_000_000 for r in rows_of(window))


def test_inspector_attach_opens_the_window(serve: Any, tmp_path: Any) -> None:
    served = serve()
    picture = tmp_path / "attach.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    env.pop("INSPECTOR_TRACE_LISTEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "inspector", "--screenshot", str(picture), "attach", f"127.0.0.1:{served.trace_port}"],
        capture_output=True, timeout=60, env=env,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert f"attached to 127.0.0.1:{served.trace_port}" in done.stderr.decode()
    assert picture.stat().st_size > 10_000


def test_names_and_clocks_of_attached_processes() -> None:
    from inspector.ui.viewmodel.attached import clock_shift, short_label

    assert short_label("tcp:host=127.0.0.1:port=6669") == "127.0.0.1:6669"
    assert short_label(" 10.0.0.2:7000 ") == "10.0.0.2:7000"
    assert short_label("unix:path=/run/app.sock") == "unix:path=/run/app.sock"
    here = socket.gethostname()
    assert clock_shift({"host": here, "start_time": 1.0, "start_monotonic": 5.0}) == 0.0
    # Another machine: its clock is matched through both wall clocks.
    wall_minus_mono = time.time() - time.monotonic()
    shift = clock_shift({"host": here + "-elsewhere", "start_time": 1000.0, "start_monotonic": 10.0})
    assert abs(shift - (wall_minus_mono - 990.0)) < 0.01


def test_a_process_started_after_the_window_is_picked_up(
    qtbot: Any, serve: Any, attached: Any, free_port: Callable[[], int]
) -> None:
    port = free_port()
    window = attached([f"127.0.0.1:{port}"])
    qtbot.waitUntil(lambda: processes(window)[0][P_STATE] == "not there yet — retrying", timeout=15000)
    served = serve(f"tcp:{port}:interface=127.0.0.1")
    qtbot.waitUntil(lambda: processes(window)[0][P_STATE] == "connected", timeout=15000)
    echo(served.echo_port, b"late\n")
    assert wait_rows(qtbot, window, lambda r: r[IN] == "5 B")[0][PROCESS] == f"127.0.0.1:{port}"


def test_a_window_that_falls_behind_drops_the_oldest_and_counts_them() -> None:
    from inspector.trace import events as ev
    from inspector.ui.viewmodel.attached import AttachedFeed
    from inspector.ui.viewmodel.processes import ProcessStore

    class Attachment:  # what the feed reads of an attachment
        label, session, missed = "127.0.0.1:6669", 1, 3
        header = {"pid": 7, "host": socket.gethostname(), "start_monotonic": 1.0}

    store = ProcessStore(clock=0.0)
    feed = AttachedFeed(None, store, ["127.0.0.1:6669"], max_pending=100)
    feed._events(Attachment(), [ev.LoopTurn(seq=n, ts=float(n), duration=0.001) for n in range(1, 251)])
    assert feed.dropped == 150
    feed.poll(300.0)
    assert store.dropped == 153  # dropped here, plus what the process could not send us
    assert store.loop_turns.count == 100 and min(store.loop_turns.times) >= 150.0  # the newest were kept


def test_the_events_an_attachment_keeps_are_left_as_they_came() -> None:
    """The attachment's reader checks each event's number against the last it kept: the
    window must move ids apart on copies, never on the events themselves."""
    from inspector.trace import events as ev
    from inspector.ui.viewmodel.attached import AttachedFeed
    from inspector.ui.viewmodel.processes import ProcessStore

    class First:
        label, session, missed = "127.0.0.1:1", 1, 0
        header = {"pid": 1, "host": socket.gethostname(), "start_monotonic": 1.0}

    class Second(First):
        label = "127.0.0.1:2"
        header = {"pid": 2, "host": socket.gethostname(), "start_monotonic": 1.0}

    store = ProcessStore(clock=0.0)
    feed = AttachedFeed(None, store, ["127.0.0.1:1", "127.0.0.1:2"])
    for attachment in (First(), Second()):
        events = [ev.ConnectionOpened(seq=7, ts=2.0, conn=3, role="server", local="a", peer="b"),
                  ev.BytesIn(seq=8, ts=2.5, conn=3, size=4, data=b"ping")]
        feed._events(attachment, events)
        assert [(e.seq, e.conn) for e in events] == [(7, 3), (8, 3)]
    feed.poll(3.0)
    assert sorted(store.connections) == [3, 1_000_000_003]
    assert [store.process_of(c) for c in sorted(store.connections)] == ["127.0.0.1:1", "127.0.0.1:2"]
    assert store.connections[1_000_000_003].bytes_in == 4


def test_an_attached_busy_process_keeps_only_the_newest_closed_connections() -> None:
    """Attached to a process that opens and closes connections all day, the window keeps
    its open ones and the newest closed ones (Keep closed), counting the rest, as it does
    for its own connections; before, every closed connection stayed for ever."""
    from inspector.trace import events as ev
    from inspector.ui.viewmodel.attached import AttachedFeed
    from inspector.ui.viewmodel.processes import ProcessStore

    class Attachment:  # what the feed reads of an attachment
        label, session, missed = "127.0.0.1:6669", 1, 0
        header = {"pid": 7, "host": socket.gethostname(), "start_monotonic": 1.0}

    store = ProcessStore(clock=0.0)
    feed = AttachedFeed(None, store, ["127.0.0.1:6669"])
    store.closed_limit = 10
    events: list[ev.Event] = []
    for conn in range(1, 31):
        events.append(ev.ConnectionOpened(seq=2 * conn - 1, ts=float(conn), conn=conn, role="server",
                                          local="127.0.0.1:6667", peer=f"127.0.0.1:{40000 + conn}"))
        if conn <= 25:  # the last five stay open
            events.append(ev.ConnectionClosed(seq=2 * conn, ts=conn + 0.5, conn=conn))
    feed._events(Attachment(), events)
    feed.poll(40.0)
    kept = sorted(store.connections)
    assert kept == list(range(16, 31))  # the newest 10 closed, and the 5 open
    assert store.closed_dropped == 15
