"""Start the window: a QApplication, the Qt reactor, tracing on, the main window.

``run_window(args)`` is what ``inspector`` runs without a sub-command, and what
``inspector run TARGET`` runs without ``--headless`` (the program then starts in the
window). With ``--screenshot FILE`` it runs the chosen scenario (or the program) for a
few seconds, saves a PNG of the window and exits, which works on a machine with no
display (offscreen platform); the status is 1 when the program could not load or start.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.ui")

#: Seconds a scenario runs before ``--screenshot`` takes its picture.
SCREENSHOT_AFTER = 4.0

#: Qt platforms (QT_QPA_PLATFORM) that draw without a display server.
HEADLESS_PLATFORMS = frozenset(
    {"offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb", "vkkhrdisplay"}
)


def missing_display(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Return one line saying what to do when the window has no display here, else None.

    On X11/Wayland systems Qt aborts (SIGABRT, with advice to reinstall) when neither
    DISPLAY nor WAYLAND_DISPLAY is set, so this is checked before Qt starts.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    chosen = {part.split(":")[0].strip() for part in environ.get("QT_QPA_PLATFORM", "").split(";")}
    if chosen & HEADLESS_PLATFORMS:
        return None
    return (
        "inspector: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set): "
        "set DISPLAY or run under Wayland; 'inspector --screenshot FILE' works headless, "
        "and serve, connect and open need no display"
    )


def window_icon() -> Any:
    """The window's icon (a QIcon), read from the package's data wherever it is installed."""
    from PySide6.QtGui import QIcon, QPixmap

    from inspector import data

    pixmap = QPixmap()
    pixmap.loadFromData(data.resource(data.ICON_PNG).read_bytes(), "PNG")
    return QIcon(pixmap)


def _application() -> Any:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "inspector"])
    app.setApplicationName("Inspector")
    app.setOrganizationName("Inspector")
    QApplication.setWindowIcon(window_icon())  # static: instance() is typed QCoreApplication
    return app


def _qt_reactor() -> Any:
    """The process-wide reactor, installed as a Qt reactor (the window needs Qt's loop)."""
    from inspector import reactors
    from inspector.error import ReactorAlreadyInstalledError

    try:
        reactor = reactors.install("qt")
    except ReactorAlreadyInstalledError:
        installed = reactors.default_reactor()
        if type(installed).__name__ == "QtReactor":
            return installed
        raise
    from inspector.commands.tracing import serve_trace

    serve_trace(reactor)  # --trace-listen / INSPECTOR_TRACE_LISTEN: the window serves its trace too
    return reactor


def plugin_problems() -> list[tuple[str, str]]:
    """Load the catalogue and dissector plug-ins (once per process) and return those that
    failed, as (short name, one-line message) for the launcher's note and the Log."""
    from inspector import catalog
    from inspector.catalog import plugins
    from inspector.dissect import registry

    catalog.entries()
    registry.names()
    found = [(problem.entry_point, str(problem)) for problem in plugins.problems()]
    found.extend((problem.name, str(problem)) for problem in registry.problems())
    return found


def build_window(reactor: ReactorLike, settings: Any = None, trace: bool = True) -> Any:
    """Make the main window on ``reactor`` (a QtReactor), with tracing on unless told not.

    Plug-ins are loaded before the window's log handler exists, so each one that failed
    is reported once in the window: by the launcher's note and one Log entry.
    """
    from inspector.ui.main_window import MainWindow

    problems = plugin_problems()
    tracer = None
    if trace:
        import inspector.trace

        tracer = inspector.trace.enable()
    window = MainWindow(reactor, tracer, settings)
    window.setWindowIcon(window_icon())
    window.launcher.show_plugin_problems(problems)
    return window


def start_program(window: Any, target: str, program_args: list[str]) -> Any:
    """Run the user's program ``target`` in ``window`` (``inspector run TARGET``): its
    services or main are listed under Running; a problem opens a dialog. Returns the
    running program, or None."""
    from inspector.ui.program import run_program

    program = run_program(window, window.launcher, window.reactor, target, program_args)
    if program is not None:
        window.setWindowTitle(f"Inspector — {target}")
    return program


def take_screenshot(window: Any, path: str) -> bool:
    """Save a PNG of ``window`` to ``path``; True when it was written."""
    window.refresh()
    window.timing.redraw()
    ok = bool(window.grab().save(path, "PNG"))
    if ok:
        log.info("saved a screenshot of the window to %s", path)
    else:
        print(f"inspector: could not write the screenshot {path}", file=sys.stderr)
    return ok


def run_window(args: Any) -> int:
    """Open the window and run until it closes; return the exit status."""
    screenshot = getattr(args, "screenshot", None)
    scenario = getattr(args, "scenario", None)
    target = getattr(args, "target", None) if getattr(args, "command", None) == "run" else None
    proxying = getattr(args, "command", None) == "proxy"  # inspector proxy without --headless
    # `inspector attach ENDPOINT...`: the window shows those processes, not its own trace.
    attach_to = list(args.endpoints) if getattr(args, "command", None) == "attach" else None
    if screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    problem = missing_display()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = _application()
    for chosen in (getattr(args, "reactor", None), getattr(args, "sub_reactor", None)):
        if chosen not in (None, "qt"):
            print(f"inspector: the window runs on the qt reactor (not {chosen})", file=sys.stderr)
    if target is not None:
        sys.argv = [target, *getattr(args, "program_args", [])]  # as twistd and the headless run set it
    reactor = _qt_reactor()
    settings = None
    if screenshot:
        # A picture must not depend on (or change) the user's saved layout.
        from PySide6.QtCore import QSettings, QTemporaryDir

        scratch = QTemporaryDir()
        settings = QSettings(os.path.join(scratch.path(), "screenshot.ini"), QSettings.Format.IniFormat)
    window = build_window(reactor, settings, trace=attach_to is None)
    if screenshot:
        window.resize(1440, 900)
    window.show()
    status = {"code": 0, "failed": 0}

    def begin() -> None:
        if attach_to is not None:
            from inspector.ui.remote import attach_window

            token = getattr(args, "token", None) or os.environ.get("INSPECTOR_TRACE_TOKEN") or None
            attach_window(window, attach_to, token)
            if screenshot:
                reactor.callLater(SCREENSHOT_AFTER / 2, show_a_session)
        if scenario == "demo":
            window.start_demo()
            reactor.callLater(SCREENSHOT_AFTER / 2, show_a_session)
        if target is not None:
            program = start_program(window, target, list(getattr(args, "program_args", [])))
            if program is None:
                status["failed"] = 1  # a picture is still taken; the exit status tells a script
            if screenshot:
                reactor.callLater(SCREENSHOT_AFTER / 2, show_a_session)
        if proxying:
            from inspector.ui.proxy_view import start_proxy

            if start_proxy(window, args) is None:
                status["failed"] = 1  # as for run TARGET: a picture, and a status a script can tell
            if screenshot:
                reactor.callLater(SCREENSHOT_AFTER / 2, show_a_session)
        if screenshot:
            reactor.callLater(SCREENSHOT_AFTER, picture_next, screenshot)

    def show_a_session() -> None:
        # Open an IRC bot's session (else an echo client's, else any of a user's
        # program): the picture shows a live stream and its parsed messages.
        for kind in ("irc", "echo"):
            for conn in window.store.connections.values():
                if conn.role == "client" and kind in conn.protocol.lower() and conn.is_open:
                    window.connections.select_connection(conn.id)
                    return
        if target is not None or attach_to is not None or proxying:
            for conn in sorted(window.store.connections.values(), key=lambda c: (not c.is_open, c.id)):
                window.connections.select_connection(conn.id)
                return

    def picture_next(path: str) -> None:
        # Grabbing and saving the window takes tens of milliseconds: the tool's own
        # work, which the slow-callback detection must not report to the user (it reads
        # its threshold once a pass, hence the picture in the next one).
        reactor.slow_callback_threshold = None
        reactor.callLater(0, finish_screenshot, path)

    def finish_screenshot(path: str) -> None:
        status["code"] = 0 if take_screenshot(window, path) and not status["failed"] else 1
        window.close()
        reactor.stop()

    def closing() -> None:
        window.shutdown()

    app.aboutToQuit.connect(closing)
    reactor.callWhenRunning(begin)
    restore_signals = None
    if target is not None or attach_to is not None or proxying:
        # Ctrl-C or SIGTERM in the terminal that ran `inspector run` closes the window
        # the way twistd stops: the shutdown triggers run, so the program's stopService does.
        from inspector.commands.common import install_signal_handlers

        restore_signals = install_signal_handlers(reactor)
    try:
        reactor.run()
    finally:
        if restore_signals is not None:
            restore_signals()
    # Tear the window down while Qt and Python are both still whole.
    window.shutdown()
    window.deleteLater()
    app.processEvents()
    reactor.close()
    return status["code"]
