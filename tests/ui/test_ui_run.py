"""``inspector run TARGET`` in the window, driven as a person would, over real loopback sockets.

The program is started as the command starts it (``start_program``, which ``inspector
run`` calls once the window is up); everything after that is clicks and reading what
the window shows. Plug-ins that fail to load come from real ``.dist-info`` entry points
on ``sys.path``; the screenshot runs the real command in a subprocess.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QToolButton,
)

from ui_support import click_row, find, table_rows

ROOT = Path(__file__).resolve().parents[2]
SERVICE = 2  # the running-services table: Stop button, #, Service, Status
STATUS = 3
ROLE, LOCAL, STATE = 1, 3, 5  # the connections table
CREATED_AT = 3  # the Deferreds table
LOG_LEVEL, LOG_SOURCE, LOG_MESSAGE = 1, 2, 3


@pytest.fixture
def program_window(window: Any, qt_reactor: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The window, with its reactor as the process-wide default, as ``inspector run`` installs it:
    a program's ``TCPServer(port, factory)`` (no reactor given) listens on the window's reactor."""
    from inspector import reactors

    monkeypatch.setattr(reactors, "_installed", qt_reactor)
    return window


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def start(window: Any, path: Path, *args: str) -> Any:
    from inspector.ui.app import start_program

    return start_program(window, str(path), list(args))


def exchange(qtbot: Any, port: int, data: bytes, expect: int | None = None) -> bytes:
    """Connect to ``port``, send ``data``, and wait (turning the loop) for ``expect`` bytes back."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        if data:
            sock.sendall(data)
        sock.setblocking(False)
        got = bytearray()
        wanted = len(data) if expect is None else expect

        def arrived() -> bool:
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                return False
            got.extend(chunk)
            return len(got) >= wanted or not chunk

        qtbot.waitUntil(arrived, timeout=10000)
        return bytes(got)
    finally:
        sock.close()


def refused(port: int) -> bool:
    """True when nothing listens on ``port`` any more."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def service_rows(window: Any) -> list[list[str]]:
    return table_rows(find(window, QTableView, "launcher.services"))


def log_rows(window: Any) -> list[list[str]]:
    return table_rows(find(window, QTableView, "log.table"))


def log_details(qtbot: Any, window: Any, text: str) -> str:
    """Click the Log row whose message holds ``text`` and return the full text shown beside it."""
    table = find(window, QTableView, "log.table")
    qtbot.waitUntil(lambda: any(text in row[LOG_MESSAGE] for row in table_rows(table)), timeout=10000)
    row = next(i for i, cells in enumerate(table_rows(table)) if text in cells[LOG_MESSAGE])
    click_row(qtbot, table, row)
    return str(find(window, QPlainTextEdit, "log.details").toPlainText())


def launch_echo_server(qtbot: Any, window: Any, port: int) -> None:
    """Start the built-in echo server from the launcher form and check it echoes."""
    entry_box = find(window, QComboBox, "launcher.entry")
    entry_box.setCurrentIndex(entry_box.findText("Echo server (TCP)"))
    edit = find(window, QLineEdit, "launcher.param.port")
    edit.clear()
    qtbot.keyClicks(edit, str(port))
    qtbot.mouseClick(find(window, QPushButton, "launcher.start"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: any(f":{port}/tcp" in row[SERVICE] and row[STATUS] == "running" for row in service_rows(window)),
        timeout=10000,
    )
    assert exchange(qtbot, port, b"still usable\n") == b"still usable\n"


# ------------------------------------------------------------------------- entry shapes


TWO_SERVICES = """
from inspector.defer import Deferred
from inspector.protocol import Factory, Protocol
from inspector.reactors import default_reactor
from inspector.service import Application, Service, TCPServer


class Echo(Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class Upper(Protocol):
    def dataReceived(self, data):
        self.transport.write(data.upper())


class Ticker(Service):
    # A timer and a Deferred of the program's own, to be seen in the window.
    def startService(self):
        super().startService()
        self.ticked = Deferred()
        self.ticked.addCallback(lambda _: "ticked")
        self.call = default_reactor().callLater(0.05, self.ticked.callback, None)

    def stopService(self):
        if self.call.active():
            self.call.cancel()
        return super().stopService()


application = Application("two", uid=None, gid=None)
TCPServer({echo}, Factory.forProtocol(Echo)).setServiceParent(application)
TCPServer({upper}, Factory.forProtocol(Upper)).setServiceParent(application)
Ticker().setServiceParent(application)
"""


def test_an_application_lists_each_service_and_stops_one(
    qtbot: Any, program_window: Any, free_port: Callable[[], int], tmp_path: Path
) -> None:
    window = program_window
    echo, upper = free_port(), free_port()
    app = write(tmp_path / "two.tac", TWO_SERVICES.format(echo=echo, upper=upper))
    assert start(window, app) is not None

    qtbot.waitUntil(lambda: len(service_rows(window)) == 3, timeout=10000)
    rows = service_rows(window)
    assert [row[STATUS] for row in rows] == ["running"] * 3
    assert f"127.0.0.1:{echo}" in rows[0][SERVICE] and f"127.0.0.1:{upper}" in rows[1][SERVICE]
    assert "Ticker" in rows[2][SERVICE]
    assert rows[0][0] == "Stop"
    assert window.windowTitle() == f"Inspector — {app}"

    assert exchange(qtbot, echo, b"hello\n") == b"hello\n"
    assert exchange(qtbot, upper, b"shout\n") == b"SHOUT\n"

    # The program's connections, Deferreds and timers show as the built-ins' do.
    connections = find(window, QTableView, "connections.table")
    qtbot.waitUntil(
        lambda: {f":{echo}", f":{upper}"} <= {row[LOCAL][row[LOCAL].rfind(":"):] for row in table_rows(connections)
                                               if row[ROLE] == "server"},
        timeout=10000,
    )
    window.show_dock("Deferreds")
    deferreds = find(window, QTableView, "deferreds.table")
    qtbot.waitUntil(lambda: any("two.tac" in row[CREATED_AT] for row in table_rows(deferreds)), timeout=10000)
    qtbot.waitUntil(lambda: window.store.timer_lateness.count > 0, timeout=10000)

    # Stop the echo service from its row: its port closes, the other still serves.
    click_row(qtbot, find(window, QTableView, "launcher.services"), 0)
    qtbot.waitUntil(lambda: service_rows(window)[0][STATUS] == "stopped", timeout=10000)
    assert refused(echo)
    assert exchange(qtbot, upper, b"again\n") == b"AGAIN\n"
    assert [row[STATUS] for row in service_rows(window)[1:]] == ["running", "running"]

    # Closing the window stops the rest of the program.
    window.close()
    qtbot.waitUntil(lambda: refused(upper), timeout=10000)
    assert [row[STATUS] for row in service_rows(window)] == ["stopped"] * 3


def test_stop_all_and_the_shutdown_trigger_stop_the_application(
    qtbot: Any, program_window: Any, qt_reactor: Any, free_port: Callable[[], int], tmp_path: Path
) -> None:
    window = program_window
    port = free_port()
    marker = tmp_path / "stopped.txt"
    app = write(tmp_path / "app.tac", f"""
        from inspector.protocol import Factory, Protocol
        from inspector.service import Application, MultiService, TCPServer

        class Top(MultiService):
            def stopService(self):
                open({str(marker)!r}, "w").write("the application's stopService ran")
                return super().stopService()

        application = Application("top")
        top = Top()
        top.setServiceParent(application)
        TCPServer({port}, Factory.forProtocol(Protocol)).setServiceParent(top)
    """)
    program = start(window, app)
    qtbot.waitUntil(lambda: len(service_rows(window)) == 1, timeout=10000)
    qtbot.mouseClick(find(window, QPushButton, "launcher.stop_all"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: service_rows(window)[0][STATUS] == "stopped", timeout=10000)
    qtbot.waitUntil(lambda: refused(port), timeout=10000)
    assert marker.read_text() == "the application's stopService ran"
    # Quitting (the window's close quits the application) runs the reactor's shutdown
    # triggers: the application itself is stopped then.
    assert program.service.running
    qt_reactor.stop()
    qtbot.waitUntil(lambda: not program.service.running, timeout=10000)


def test_make_service_gets_its_options(
    qtbot: Any, program_window: Any, free_port: Callable[[], int], tmp_path: Path
) -> None:
    window = program_window
    port = free_port()
    app = write(tmp_path / "greeter.py", """
        from inspector.protocol import Factory, Protocol
        from inspector.service import TCPServer

        class Greet(Protocol):
            def connectionMade(self):
                self.transport.write(self.factory.greeting.encode() + b"\\n")
                self.transport.loseConnection()

        def makeService(options):
            factory = Factory.forProtocol(Greet)
            factory.greeting = options["greeting"]
            return TCPServer(int(options["port"]), factory)
    """)
    start(window, app, "--port", str(port), "--greeting", "hello from options")
    qtbot.waitUntil(lambda: len(service_rows(window)) == 1, timeout=10000)
    assert f"TCPServer on 127.0.0.1:{port}" == service_rows(window)[0][SERVICE]
    table = find(window, QTableView, "launcher.services")
    assert table.columnWidth(STATUS) >= table.sizeHintForColumn(STATUS)  # "running" is read whole, not "runn…"
    assert exchange(qtbot, port, b"", expect=100) == b"hello from options\n"


def test_main_that_succeeds_ends_its_row_and_the_window_stays(
    qtbot: Any, program_window: Any, tmp_path: Path
) -> None:
    window = program_window
    app = write(tmp_path / "hello.py", """
        from inspector.task import deferLater

        def main(reactor, word):
            return deferLater(reactor, 0.05, lambda: word.upper())
    """)
    start(window, app, "done")
    rows = service_rows(window)
    assert rows[0][SERVICE] == "main of hello.py" and rows[0][STATUS] == "running"
    qtbot.waitUntil(lambda: service_rows(window)[0][STATUS] == "ended", timeout=10000)
    assert window.isVisible()
    assert "main returned 'DONE'" in find(window, QTableView, "launcher.services").model().index(0, 0).data(
        Qt.ItemDataRole.ToolTipRole)


def test_main_that_fails_shows_why_with_its_traceback(
    qtbot: Any, program_window: Any, tmp_path: Path
) -> None:
    window = program_window
    app = write(tmp_path / "fails.py", """
        from inspector.task import deferLater

        def refuse():
            raise RuntimeError("the server said no")

        def main(reactor):
            return deferLater(reactor, 0.05, refuse)
    """)
    start(window, app)
    qtbot.waitUntil(lambda: service_rows(window)[0][STATUS] == "failed", timeout=10000)
    assert "the server said no" in window.statusBar().currentMessage()
    details = log_details(qtbot, window, "main of fails.py failed: the server said no")
    assert "Traceback" in details and "in refuse" in details
    assert window.isVisible()


def test_stopping_a_main_that_waits_cancels_its_deferred(qtbot: Any, program_window: Any, tmp_path: Path) -> None:
    window = program_window
    app = write(tmp_path / "waits.py", """
        import logging
        from inspector.defer import Deferred

        def main(reactor):
            return Deferred(lambda d: logging.getLogger("waits").warning("main was cancelled"))
    """)
    start(window, app)
    assert service_rows(window)[0][STATUS] == "running"
    click_row(qtbot, find(window, QTableView, "launcher.services"), 0)  # its Stop button
    qtbot.waitUntil(lambda: service_rows(window)[0][STATUS] == "stopped", timeout=10000)
    qtbot.waitUntil(lambda: any(row[LOG_MESSAGE] == "main was cancelled" for row in log_rows(window)), timeout=10000)
    assert not any(row[LOG_LEVEL] == "ERROR" for row in log_rows(window))


def test_an_exception_in_a_callback_is_logged_and_the_program_goes_on(
    qtbot: Any, program_window: Any, free_port: Callable[[], int], tmp_path: Path
) -> None:
    window = program_window
    port = free_port()
    app = write(tmp_path / "buggy.py", f"""
        from inspector.protocol import Factory, Protocol
        from inspector.service import TCPServer

        class Buggy(Protocol):
            def dataReceived(self, data):
                if data.startswith(b"boom"):
                    raise ValueError("a bug in the user's protocol")
                self.transport.write(data)

        def makeService(options):
            return TCPServer({port}, Factory.forProtocol(Buggy))
    """)
    start(window, app)
    qtbot.waitUntil(lambda: len(service_rows(window)) == 1, timeout=10000)
    exchange(qtbot, port, b"boom\n", expect=1)  # the connection is dropped: nothing comes back
    details = log_details(qtbot, window, "Error in Buggy.dataReceived")
    assert "Traceback" in details and "in dataReceived" in details
    assert "ValueError: a bug in the user's protocol" in details
    assert exchange(qtbot, port, b"fine\n") == b"fine\n"
    assert service_rows(window)[0][STATUS] == "running"


# ------------------------------------------------------------------------------ bad input


def bad_port_in_use(tmp_path: Path, taken: int) -> tuple[Path, str]:
    app = write(tmp_path / "busy.tac", f"""
        from inspector.protocol import Factory, Protocol
        from inspector.service import Application, TCPServer

        application = Application("busy")
        TCPServer({taken}, Factory.forProtocol(Protocol)).setServiceParent(application)
    """)
    return app, f"busy.tac: cannot start: cannot listen on port {taken}"


BAD_INPUTS: dict[str, tuple[str, str, str, str]] = {
    # name: (file, source, what the dialog says, what the details hold)
    "missing file": ("", "", "nowhere.tac: no such file", ""),
    "syntax error": ("broken.py", "def main(reactor):\n    return (\n", "broken.py:2: syntax error", ""),
    "exception while importing": (
        "explodes.py",
        'def configure():\n    raise KeyError("DATABASE_URL")\n\nconfigure()\n',
        "explodes.py: KeyError while importing: 'DATABASE_URL'",
        'explodes.py", line 2, in configure',
    ),
    "no entry point": (
        "plain.py", "VALUE = 1\n",
        "plain.py: no entry point found; looked for application (an Application or IService), "
        "makeService(options), main(reactor, *args)", "",
    ),
    "service fails to start": (
        "fragile.tac",
        "from inspector.service import Application, Service\n\n"
        "class NeedsConfig(Service):\n"
        "    def startService(self):\n"
        "        super().startService()\n"
        "        raise FileNotFoundError('settings.ini')\n\n"
        "application = Application('fragile')\nNeedsConfig().setServiceParent(application)\n",
        "fragile.tac: cannot start: FileNotFoundError: settings.ini",
        "in startService",
    ),
}


@pytest.mark.parametrize("case", [*BAD_INPUTS, "port in use"])
def test_bad_input_gives_a_dialog_and_a_log_entry_and_the_window_still_works(
    case: str, qtbot: Any, program_window: Any, free_port: Callable[[], int], tmp_path: Path
) -> None:
    window = program_window
    with socket.socket() as holder:
        if case == "port in use":
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            app, said = bad_port_in_use(tmp_path, holder.getsockname()[1])
            details = ""
        else:
            name, source, said, details = BAD_INPUTS[case]
            app = tmp_path / (name or "nowhere.tac")
            if name:
                write(app, source)
        assert start(window, app) is None

        box = window.findChild(QMessageBox, "run.problem")
        assert box is not None and box.isVisible()
        assert not box.isModal() or box.windowModality() != Qt.WindowModality.ApplicationModal
        assert said in box.text()
        assert box.windowTitle() == f"Cannot run {app}"
        assert details in box.detailedText()
        if case == "port in use":
            assert "in use" in box.text()
        shown = log_details(qtbot, window, said)
        assert "ERROR" in [row[LOG_LEVEL] for row in log_rows(window) if said in row[LOG_MESSAGE]]
        assert details in shown
        assert not service_rows(window)  # nothing half-started is listed
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.findChild(QMessageBox, "run.problem") is None, timeout=5000)

    launch_echo_server(qtbot, window, free_port())


# ------------------------------------------------------------------------- broken plug-ins


def broken_distribution(root: Path) -> None:
    """A distribution as pip leaves it, whose catalogue and dissector plug-ins both fail to import."""
    info = root / "brokenplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[inspector.catalog]\nbroken = brokenplug_catalog:entries\n\n"
        "[inspector.dissectors]\nmangled = brokenplug_dissector:Mangled\n"
    )
    (root / "brokenplug_catalog.py").write_text("import no_such_dependency_for_the_test\n")
    (root / "brokenplug_dissector.py").write_text("raise RuntimeError('the dissector is broken')\n")


@pytest.fixture
def broken_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The broken distribution on ``sys.path``, with the plug-ins not loaded yet in this process."""
    from inspector.catalog import plugins
    from inspector.dissect import registry

    root = tmp_path / "site"
    root.mkdir()
    broken_distribution(root)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(plugins, "_problems", [])
    monkeypatch.setattr(registry, "_problems", [])
    monkeypatch.setattr(registry, "_failed", set())
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    plugins.plugin_entries.cache_clear()
    yield root
    plugins.plugin_entries.cache_clear()  # the next window loads the plug-ins without this one


def test_broken_plugins_are_reported_once_in_the_window(
    qtbot: Any, qt_reactor: Any, settings: Any, broken_plugins: Path, free_port: Callable[[], int]
) -> None:
    import inspector.trace
    from inspector.ui.app import build_window

    window = build_window(qt_reactor, settings)
    qtbot.addWidget(window)
    window.show()
    try:
        note = find(window, QFrame, "launcher.plugin_note")
        assert note.isVisible()
        text = find(window, QLabel, "launcher.plugin_note.text").text()
        assert text == "2 plug-ins could not be loaded: broken, mangled — see Log"

        table = find(window, QTableView, "log.table")
        qtbot.waitUntil(lambda: sum("skipped" in row[LOG_MESSAGE] for row in table_rows(table)) == 2, timeout=10000)
        messages = [row[LOG_MESSAGE] for row in table_rows(table) if "skipped" in row[LOG_MESSAGE]]
        assert any("'broken' from brokenplug 1.0" in m and "no_such_dependency_for_the_test" in m for m in messages)
        assert any("'mangled'" in m and "the dissector is broken" in m for m in messages)
        assert all(row[LOG_LEVEL] == "WARNING" for row in table_rows(table) if "skipped" in row[LOG_MESSAGE])

        qtbot.mouseClick(find(window, QToolButton, "launcher.plugin_note.dismiss"), Qt.MouseButton.LeftButton)
        assert not note.isVisible()
        window.refresh()
        assert sum("skipped" in row[LOG_MESSAGE] for row in table_rows(table)) == 2  # still once each
        launch_echo_server(qtbot, window, free_port())  # the built-ins still load and run
    finally:
        window.shutdown()
        qtbot.wait(50)
        inspector.trace.disable()


def test_no_note_when_every_plugin_loads(window: Any) -> None:
    assert not find(window, QFrame, "launcher.plugin_note").isVisible()


# ------------------------------------------------------------------------------ screenshot


def screenshot(tmp_path: Path, picture: Path, target: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``inspector --screenshot PICTURE run TARGET`` with no display, from the project's root."""
    environ = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"), **env)
    environ.pop("DISPLAY", None)
    environ.pop("INSPECTOR_REACTOR", None)
    return subprocess.run(
        [sys.executable, "-m", "inspector", "--screenshot", str(picture), "run", target],
        capture_output=True, text=True, timeout=120, env=environ, cwd=ROOT,
    )


def test_screenshot_of_a_running_program(tmp_path: Path, free_port: Callable[[], int]) -> None:
    picture = tmp_path / "run.png"
    port = free_port()
    done = screenshot(tmp_path, picture, "examples/echo_app.tac", ECHO_PORT=str(port))
    assert done.returncode == 0, done.stderr[-3000:]
    image = QImage(str(picture))
    assert not image.isNull() and image.width() >= 1000
    assert f"started TCPServer on 127.0.0.1:{port}" in done.stderr


def test_screenshot_of_a_program_that_cannot_load_exits_1(tmp_path: Path) -> None:
    picture = tmp_path / "run.png"
    done = screenshot(tmp_path, picture, "examples/no_such_app.tac")
    assert done.returncode == 1
    assert "examples/no_such_app.tac: no such file" in done.stderr
    assert not QImage(str(picture)).isNull()  # the window (still usable) is pictured all the same


@pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX signals")
def test_sigterm_to_the_window_runs_the_programs_stop_service(tmp_path: Path, free_port: Callable[[], int]) -> None:
    port = free_port()
    marker = tmp_path / "stopped.txt"
    app = write(tmp_path / "marked.tac", f"""
        from inspector.protocol import Factory, Protocol
        from inspector.service import Application, MultiService, TCPServer

        class Top(MultiService):
            def stopService(self):
                open({str(marker)!r}, "w").write("stopService ran")
                return super().stopService()

        application = Application("marked")
        top = Top()
        top.setServiceParent(application)
        TCPServer({port}, Factory.forProtocol(Protocol)).setServiceParent(top)
    """)
    environ = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    environ.pop("DISPLAY", None)
    environ.pop("INSPECTOR_REACTOR", None)
    process = subprocess.Popen([sys.executable, "-m", "inspector", "run", str(app)], env=environ,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while refused(port):  # another process: nothing to await but its port
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the program never listened"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err[-3000:]
    assert "SIGTERM received: shutting down" in err
    assert marker.read_text() == "stopService ran"
