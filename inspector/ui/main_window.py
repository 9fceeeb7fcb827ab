"""The main window: docks for every panel, menus, shortcuts, refresh timer, persistence.

About 30 times a second the window drains the trace into its store, lets every panel
apply the batch of changes, then forgets them; nothing is redrawn per event. The
dock layout, the palette and the launcher's last values live in QSettings.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, cast

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMenu, QMessageBox, QWidget

from inspector import catalog
from inspector.ui.demo import Demo
from inspector.ui.palette import apply_theme
from inspector.ui.panels.connections import ConnectionsPanel
from inspector.ui.panels.contract import PanelContext, PanelSpec, StorePanel
from inspector.ui.panels.deferreds import DeferredsPanel
from inspector.ui.panels.launcher import LauncherPanel
from inspector.ui.panels.log import LogPanel
from inspector.ui.panels.proxy import ProxyPanel
from inspector.ui.panels.range_banner import RangeBanner
from inspector.ui.panels.registry import PANELS
from inspector.ui.panels.session import SessionPanel
from inspector.ui.panels.timing import TimingPanel
from inspector.ui.proxy_view import ProxyView
from inspector.ui.recordings import RecordingLoader, export_perfetto, export_transcript
from inspector.ui.viewmodel.claims import Claims
from inspector.ui.viewmodel.feed import LiveFeed
from inspector.ui.viewmodel.log import WindowLogHandler
from inspector.ui.viewmodel.services import Service
from inspector.ui.viewmodel.status import status_text
from inspector.ui.viewmodel.store import Store
from inspector.ui.widgets import named

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.ui")

#: Milliseconds between refreshes (about 30 per second).
REFRESH_MS = 33
#: While a recording loads into the panels, they refresh on every this many ticks.
LOADING_REFRESH_EVERY = 3
LAYOUT_VERSION = 3  # 2: the log runs along the bottom, full width; 3: the Proxy dock


class MainWindow(QMainWindow):
    """The inspector: launcher, connections, session, Deferreds, timing and log docks."""

    def __init__(self, reactor: ReactorLike, tracer: Any = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setObjectName("inspector.main")
        #: The title while the live session shows (``inspector attach`` names its processes).
        self.live_title = "Inspector"
        self.setWindowTitle(self.live_title)
        self.reactor = reactor
        self.tracer = tracer
        self.settings = settings if settings is not None else QSettings("Inspector", "inspector")
        self.store = Store(clock=time.monotonic())
        self.live_store = self.store
        self.live = True
        #: What refresh drains into the live store: the local trace, or attached processes.
        self.feed: Any = LiveFeed(tracer.trace, self.store) if tracer is not None else None
        #: Run at shutdown (attached processes are detached there).
        self.shutdown_hooks: list[Callable[[], None]] = []
        self.recorder: Any = None
        self.demo: Demo | None = None
        self.loader: RecordingLoader | None = None
        #: What was shown when a recording started loading: (store, live, trace, title).
        self._before_loading: tuple[Store, bool, Any, str] | None = None
        self.loaded_trace: Any = None
        self._shut_down = False
        self._ticks = 0

        self.log_handler = WindowLogHandler()
        # On the root logger: a user's Logger namespaces and log.msg/err show too.
        logging.getLogger().addHandler(self.log_handler)
        framework_log = logging.getLogger("inspector")
        self._log_level = framework_log.level
        if framework_log.getEffectiveLevel() > logging.INFO:
            framework_log.setLevel(logging.INFO)  # the log panel shows notices too

        self.claims = Claims()

        self.setDockNestingEnabled(True)
        central = QWidget()
        self.setCentralWidget(central)
        central.hide()
        #: Every panel by dock title, built and docked from the registry, in its order.
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        context = PanelContext(reactor, self.settings, self.store)
        for spec in PANELS:
            self._dock(spec, spec.build(context))
        self.launcher = cast(LauncherPanel, self.panels["Launcher"])
        self.connections = cast(ConnectionsPanel, self.panels["Connections"])
        self.connections.use_settings(self.settings)
        self.session = cast(SessionPanel, self.panels["Session"])
        self.deferreds = cast(DeferredsPanel, self.panels["Deferreds"])
        self.timing = cast(TimingPanel, self.panels["Timing"])
        self.log_panel = cast(LogPanel, self.panels["Log"])
        self.proxy_panel = cast(ProxyPanel, self.panels["Proxy"])
        self._default_layout()
        self.default_state = self.saveState(LAYOUT_VERSION)

        self.connections.connection_selected.connect(self._connection_selected)
        self.connections.connections_cleared.connect(self._connections_cleared)
        self.connections.decode_requested.connect(self._decode_as)
        self.connections.decoding_of = self._decoding_of
        self.session.send_requested.connect(self._send_line)
        self.session.send_refusal = self._send_refusal
        self.timing.range_selected.connect(self._range_selected)
        self.launcher.demo_requested.connect(self.start_demo)
        self.launcher.started.connect(self._service_started)
        self.launcher.ended.connect(self._service_ended)
        self.launcher.output_listener = self._service_output
        #: Proxies: the Proxy panel, the session's proxy bar, the connections' Link column.
        self.proxy_view = ProxyView(self)

        # Right under the Log, visible whichever dock is raised: a time range hides part
        # of the session, and this says so (and clears it).
        self.range_banner = RangeBanner()
        self.range_banner.clear_requested.connect(self.timing.clear_range)
        self.statusBar().addPermanentWidget(self.range_banner)
        self.status = named(QLabel(), "status.summary")
        self.statusBar().addPermanentWidget(self.status)
        self._build_menus()
        self._restore()

        self.timer = QTimer(self)
        self.timer.setObjectName("inspector.refresh")
        self.timer.timeout.connect(self.refresh)
        self.timer.start(REFRESH_MS)
        if tracer is None:
            self.statusBar().showMessage("Tracing is off: connections and Deferreds are not shown.")

    # -- layout ------------------------------------------------------------------------

    def _dock(self, spec: PanelSpec, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(spec.title, self)
        dock.setObjectName(spec.dock_name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(spec.area, dock)
        self.docks[spec.title] = dock
        self.panels[spec.title] = widget
        return dock

    def _store_panels(self) -> list[StorePanel]:
        """The panels that show the store, in registry order."""
        return [cast(StorePanel, self.panels[spec.title]) for spec in PANELS if spec.follows_store]

    def _default_layout(self) -> None:
        docks = self.docks
        for dock in docks.values():
            dock.setFloating(False)
            dock.show()
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, docks["Launcher"])
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, docks["Connections"])
        self.splitDockWidget(docks["Launcher"], docks["Connections"], Qt.Orientation.Horizontal)
        self.splitDockWidget(docks["Connections"], docks["Session"], Qt.Orientation.Vertical)
        self.tabifyDockWidget(docks["Session"], docks["Deferreds"])
        self.tabifyDockWidget(docks["Deferreds"], docks["Timing"])
        self.tabifyDockWidget(docks["Timing"], docks["Proxy"])
        # The log along the bottom at full width, so its messages are not cut.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, docks["Log"])
        docks["Session"].raise_()
        self.resizeDocks([docks["Launcher"], docks["Connections"]], [340, 1100], Qt.Orientation.Horizontal)
        self.resizeDocks([docks["Connections"], docks["Session"]], [290, 370], Qt.Orientation.Vertical)
        self.resizeDocks([docks["Log"]], [170], Qt.Orientation.Vertical)

    def reset_layout(self) -> None:
        """Put every dock back where it starts."""
        self.restoreState(self.default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()

    def show_dock(self, title: str) -> None:
        """Show and raise the dock called ``title``."""
        dock = self.docks[title]
        dock.show()
        dock.raise_()

    # -- menus and shortcuts --------------------------------------------------------------

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any = None, name: str = "") -> QAction:
        action = QAction(text, self)
        if name:
            action.setObjectName(name)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.record_action = self._action(file_menu, "&Record trace…", self.toggle_recording, "Ctrl+R", "action.record")
        self._action(
            file_menu, "&Open recording…", self.open_recording_dialog, QKeySequence.StandardKey.Open, "action.open"
        )
        self.live_action = self._action(file_menu, "Back to &live session", self.show_live, "Ctrl+L", "action.live")
        self.live_action.setEnabled(False)
        file_menu.addSeparator()
        self._action(
            file_menu, "Export &Perfetto JSON…", self.export_perfetto_dialog, "Ctrl+E", "action.export_perfetto"
        )
        self._action(
            file_menu,
            "Export session &transcript…",
            self.export_transcript_dialog,
            "Ctrl+Shift+E",
            "action.export_transcript",
        )
        self._action(file_menu, "Save &screenshot…", self.screenshot_dialog, "Ctrl+Shift+P", "action.screenshot")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit, "action.quit")

        run_menu = bar.addMenu("&Run")
        self._action(run_menu, "&Start", self.launcher.start_current, "Ctrl+Return", "action.start")
        self._action(run_menu, "Stop &selected service", self.launcher.stop_selected, "Ctrl+Shift+X", "action.stop")
        self._action(run_menu, "Stop &all services", self.launcher.stop_all, "Ctrl+Shift+S", "action.stop_all")
        run_menu.addSeparator()
        self._action(run_menu, "&Demo", self.start_demo, "Ctrl+D", "action.demo")
        self.stop_demo_action = self._action(run_menu, "Stop d&emo", self.stop_demo, None, "action.stop_demo")
        self.stop_demo_action.setVisible(False)

        view_menu = bar.addMenu("&View")
        for spec in PANELS:
            toggle = self.docks[spec.title].toggleViewAction()
            toggle.setShortcut(QKeySequence(spec.shortcut))
            view_menu.addAction(toggle)
        view_menu.addSeparator()
        self._action(view_menu, "&Find connections", self._focus_search, QKeySequence.StandardKey.Find, "action.find")
        self.dark_action = self._action(view_menu, "&Dark palette", self._dark_toggled, "Ctrl+Shift+D", "action.dark")
        self.dark_action.setCheckable(True)
        self._action(view_menu, "&Reset layout", self.reset_layout, None, "action.reset_layout")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Inspector", self._about, None, "action.about")

    def _focus_search(self) -> None:
        self.show_dock("Connections")
        self.connections.text_edit.setFocus()
        self.connections.text_edit.selectAll()

    def _dark_toggled(self) -> None:
        self.set_theme("dark" if self.dark_action.isChecked() else "light")

    def set_theme(self, theme: str) -> None:
        """Switch to the "light" or "dark" palette and remember it."""
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        apply_theme(app, theme)
        self.dark_action.setChecked(theme == "dark")
        self.settings.setValue("window/theme", theme)
        self.timing.apply_palette()

    def shortcuts(self) -> list[tuple[str, str]]:
        """(what, keys) for every menu action that has a shortcut, in menu order: the
        list About shows is read from the menus, so it cannot drift from them."""
        found: list[tuple[str, str]] = []
        for menu_action in self.menuBar().actions():
            menu = menu_action.menu()
            if not isinstance(menu, QMenu):  # None for a plain action; typed QObject
                continue
            for action in menu.actions():
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                if keys:
                    what = action.text().replace("&", "").rstrip("…")
                    found.append((f"{menu_action.text().replace('&', '')} → {what}", keys))
        return found

    def _about(self) -> None:
        import html

        import inspector

        rows = "".join(
            f"<tr><td>{html.escape(what)}</td><td>&nbsp;&nbsp;<b>{html.escape(keys)}</b></td></tr>"
            for what, keys in self.shortcuts()
        )
        box = QMessageBox(self)
        box.setObjectName("about")
        box.setWindowTitle("About Inspector")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(
            f"<h3>Inspector {html.escape(inspector.__version__)}</h3>"
            "<p>A network inspector on its own Twisted-style framework: launch servers and "
            "clients, watch their connections, sessions, Deferreds and loop timing.</p>"
            f"<p><b>Shortcuts</b></p><table>{rows}</table>"
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- persistence --------------------------------------------------------------------

    def _restore(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 900)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state, LAYOUT_VERSION)
        self.set_theme(str(self.settings.value("window/theme", "light")))

    def save_settings(self) -> None:
        """Write the layout, geometry and palette to QSettings."""
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop refreshing, recording, the demo and every service; detach the log handler."""
        if self._shut_down:
            return
        self._shut_down = True
        self.timer.stop()
        if self.demo is not None:
            self.demo.stop()
        self.launcher.stop_all()
        self.stop_recording()
        for hook in self.shutdown_hooks:
            try:
                hook()
            except Exception:
                log.exception("shutting down %r failed", hook)
        logging.getLogger().removeHandler(self.log_handler)
        logging.getLogger("inspector").setLevel(self._log_level)

    # -- the refresh ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Drain the trace, let every panel apply the batch, forget the batch.

        While a recording loads into the panels they catch up 10 times a second, not 30:
        the loading gets the rest of the loop (the window answers clicks all the while).
        """
        store = self.store
        if self.loader is not None and store is self.loader.store:
            self._ticks += 1
            if self._ticks % LOADING_REFRESH_EVERY:
                return
        now = time.monotonic()
        if self.live:
            if self.feed is not None:
                self.feed.poll(now)
            else:
                store.now = now
        select = self.claims.claim(store, self.launcher.running()) if self.live else None
        if self.recorder is not None and self.recorder.closed:
            self._recording_failed()
        self.log_handler.drain_into(self.live_store)
        for panel in self._store_panels():
            panel.refresh()
        self.proxy_view.refresh()
        if select is not None:
            self.show_dock("Session")
            self.connections.select_connection(select)
        if store.removed_connections:  # older closed ones the live list let go of
            self.claims.forget(store.removed_connections)
        store.reset_changes()
        self._ticks += 1
        if self._ticks % 10 == 0:
            self._update_status()

    def _update_status(self) -> None:
        recording = str(self.recorder.path) if self.recorder is not None else None
        self.status.setText(status_text(self.store, self.live, self.deferreds.own_box.isChecked(),
                                        len(self.launcher.running()), recording))

    # -- launcher <-> connections -----------------------------------------------------------

    def _service_started(self, service: Service) -> None:
        self.statusBar().showMessage(f"Started {service.handle.description}", 4000)
        if service.from_form and service.entry.role == "client":
            self.claims.client_started(service)

    def _service_ended(self, service: Service) -> None:
        # Replace "Started …" at once: a refused client must not look started.
        if service.status == "failed":
            self.statusBar().showMessage(f"{service.handle.description} failed: {service.error}", 10000)
        else:
            self.statusBar().showMessage(f"{service.handle.description} {service.status}", 4000)

    def _service_output(self, service: Service, line: str) -> None:
        shown = self.session.connection
        if shown is not None and self.claims.owner(shown.id) is service:
            self.session.show_output(line)
        self.live_store.add_log(time.monotonic(), "INFO", service.handle.description, line)

    def _send_refusal(self, conn: Any) -> str:
        """Why lines cannot be sent on ``conn`` ("" when they can)."""
        if not self.live:
            return "This is a recording: nothing can be sent."
        service = self.claims.owner(conn.id)
        if service is None:
            kinds = ", ".join(catalog.line_clients())
            return f"Lines can be sent only by a client started from the launcher ({kinds}); this connection has none."
        if not service.running:
            return f"{service.handle.description} has ended."
        return ""

    def _send_line(self, conn_id: int, text: str) -> None:
        service = self.claims.owner(conn_id)
        if service is None or not service.running:
            self.statusBar().showMessage("This connection has no client that can send lines.", 5000)
            return
        self.session.show_send_error("")
        try:
            conn = self.store.connections.get(conn_id)
            send_to = getattr(service.handle, "send_line_to", None)  # a listener: to this peer
            if send_to is not None and conn is not None and conn.role == "server":
                d = send_to(conn.peer, text)
            else:
                d = service.handle.send_line(text)
        except Exception as exc:
            self.session.show_send_error(f"Not sent: {exc}")
            log.error("could not send on %s: %s", service.handle.description, exc)
            return

        def failed(failure: Any) -> None:
            self.session.show_send_error(f"Not sent: {failure.getErrorMessage()}")
            log.error("sending on %s failed: %s", service.handle.description, failure.getErrorMessage())

        d.addErrback(failed)

    def _connection_selected(self, conn_id: int) -> None:
        self.session.show_connection(conn_id)
        service = self.claims.owner(conn_id) if self.live else None
        if service is not None:
            self.session.show_output(service.last_output)
        self.timing.show_connection(conn_id)
        self.statusBar().showMessage(f"Connection #{conn_id}", 2000)

    def _decode_as(self, conn_id: int, name: str) -> None:
        """Decode as… from a connection's context menu: its session, decoded with ``name``."""
        shown = self.session.connection
        if shown is None or shown.id != conn_id:
            self._connection_selected(conn_id)
        self.session.decode_as(name or None)
        self.show_dock("Session")

    def _decoding_of(self, conn_id: int) -> str | None:
        shown = self.session.connection
        return self.session.decoding if shown is not None and shown.id == conn_id else None

    def _connections_cleared(self, gone: list[int]) -> None:
        self.claims.forget(gone)
        shown = self.session.connection
        if shown is not None and shown.id in gone:
            self.session.show_connection(None)
        self.statusBar().showMessage(f"Cleared {len(gone)} closed connections", 4000)

    def _range_selected(self, time_range: Any) -> None:
        self.store.select_time_range(time_range)
        if time_range is None:
            self.range_banner.clear()
        else:
            start, end = time_range
            self.range_banner.show_range(start - self.store.origin, end - self.store.origin)
        for spec in PANELS:
            if spec.on_range:
                getattr(self.panels[spec.title], spec.on_range)()

    # -- demo ---------------------------------------------------------------------------

    def start_demo(self) -> None:
        """Start the demo scenario (once; a second start stops the first)."""
        if self.demo is not None and self.demo.running:
            self.demo.stop()
        self.demo = Demo(self.launcher, self.reactor)
        problems = self.demo.start()
        self.demo.handle.done.addCallback(self._demo_ended)
        self.stop_demo_action.setVisible(True)
        message = "Demo running" + (f" (without {', '.join(problems)})" if problems else "")
        self.statusBar().showMessage(message, 6000)

    def stop_demo(self) -> None:
        """Stop the demo and every service it started (as Stop on its row does)."""
        demo = self.demo
        if demo is not None and demo.service is not None:
            self.launcher.stop(demo.service)

    def _demo_ended(self, result: Any) -> Any:
        if self.demo is None or not self.demo.running:
            self.stop_demo_action.setVisible(False)
        return result

    # -- recording, opening, exporting -------------------------------------------------------

    def toggle_recording(self) -> None:
        """Start recording the trace to a file the user picks, or stop recording."""
        if self.recorder is not None:
            self.stop_recording()
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Record trace to", "inspector-trace.jsonl", "Trace recordings (*.jsonl)"
        )
        if path:
            self.start_recording(path)

    def start_recording(self, path: str) -> bool:
        """Record the live trace to ``path`` as JSON Lines; False (and a message) if not."""
        if self.tracer is None:
            self._error("Recording", "Tracing is off, so there is nothing to record.")
            return False
        from inspector.trace import record

        try:
            self.recorder = record(path, self.tracer, overwrite=True)  # the save dialog asked
        except OSError as exc:
            self._error("Recording", f"Cannot record to {path}: {exc}")
            return False
        self.record_action.setText("Stop &recording")
        log.info("recording the trace to %s", path)
        return True

    def _recording_failed(self) -> None:
        """Writing the recording failed and the recorder stopped itself (its error is in
        the Log already): let the menu offer Record again and the status bar say so."""
        recorder, self.recorder = self.recorder, None
        self.record_action.setText("&Record trace…")
        self.statusBar().showMessage(f"Recording stopped: {recorder.error}", 15000)
        self._update_status()

    def stop_recording(self) -> None:
        """Finish the recording file, if one is being written."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return
        if self.tracer is not None:
            self.tracer.remove_periodic(recorder.flush)
        recorder.close()
        self.record_action.setText("&Record trace…")
        log.info("recorded %d events to %s", recorder.written, recorder.path)

    def open_recording_dialog(self) -> None:
        """Ask for a recording and open it."""
        path, _ = QFileDialog.getOpenFileName(self, "Open recording", "", "Trace recordings (*.jsonl);;All files (*)")
        if path:
            self.open_recording(path)

    def open_recording(self, path: str) -> RecordingLoader:
        """Load ``path`` in steps with a progress dialog. The panels show the recording
        as it loads (browsable from the first slice, and no 100,000-row rebuild at the
        end); a cancelled or refused load puts back what was shown before."""
        if self.loader is not None:
            self.loader.cancel()
        loader = RecordingLoader(path, Store(clock=0.0), self)
        self.loader = loader
        loader.finished.connect(self._recording_loaded)
        loader.start()
        if not loader.done:
            self._before_loading = (self.store, self.live, self.loaded_trace, self.windowTitle())
            self.show_store(loader.store, live=False)
            self.loaded_trace = loader.trace
            self.setWindowTitle(f"Inspector — {loader.path} (loading…)")
        return loader

    def _recording_loaded(self, loader: RecordingLoader) -> None:
        self.loader = None
        before, self._before_loading = self._before_loading, None
        if loader.error:
            if before is not None and self.store is loader.store:
                store, live, trace, title = before
                self.show_store(store, live)
                self.loaded_trace = trace
                self.setWindowTitle(title)
            self._error("Open recording", loader.error)
            return
        if self.store is not loader.store:
            self.show_store(loader.store, live=False)
        else:
            self.refresh()
        self.loaded_trace = loader.trace
        for problem in loader.problems:
            self.store.add_log(self.store.now, "WARNING", "recording", problem)
        self.setWindowTitle(f"Inspector — {loader.path}")
        self.statusBar().showMessage(f"Opened {loader.path}: {loader.events} events", 8000)

    def show_store(self, store: Store, live: bool) -> None:
        """Point every panel at ``store`` (a recording's, or the live one)."""
        self.timing.clear_range()  # the range belongs to the store being left
        self.live = live
        self.store = store
        for panel in self._store_panels():
            panel.set_store(store)
        self.live_action.setEnabled(not live)
        self.refresh()

    def show_live(self) -> None:
        """Leave a recording and show the live session again."""
        self.show_store(self.live_store, live=True)
        self.loaded_trace = None
        self.setWindowTitle(self.live_title)

    def current_trace(self) -> Any:
        """The trace the window shows: the loaded recording's, or the live one."""
        if not self.live:
            return self.loaded_trace
        return self.feed.trace if self.feed is not None else None

    def export_perfetto_dialog(self) -> None:
        """Export the shown trace as Chrome/Perfetto trace-event JSON."""
        path, _ = QFileDialog.getSaveFileName(
            self, "Export Perfetto trace", "inspector-trace.json", "Trace events (*.json)"
        )
        if path:
            self.export_perfetto(path)

    def export_perfetto(self, path: str) -> bool:
        """Write the Perfetto JSON to ``path``; False (and a message) if that fails."""
        try:
            count = export_perfetto(self.current_trace(), path)
        except Exception as exc:
            self._error("Export", str(exc))
            return False
        self.statusBar().showMessage(f"Exported {count} trace events to {path}", 8000)
        return True

    def export_transcript_dialog(self) -> None:
        """Export the selected connection's session as a text transcript."""
        conn = self.session.connection
        if conn is None:
            self._error("Export", "Select a connection first.")
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export session transcript", f"connection-{conn.id}.txt", "Text (*.txt)"
        )
        if path:
            self.export_transcript(conn.id, path)

    def export_transcript(self, conn_id: int, path: str) -> bool:
        """Write connection ``conn_id``'s transcript to ``path``."""
        try:
            export_transcript(self.current_trace(), conn_id, path)
        except Exception as exc:
            self._error("Export", str(exc))
            return False
        self.statusBar().showMessage(f"Wrote the transcript of connection #{conn_id} to {path}", 8000)
        return True

    def screenshot_dialog(self) -> None:
        """Save a PNG of the window."""
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "inspector.png", "PNG (*.png)")
        if path:
            self.grab().save(path, "PNG")

    def _error(self, title: str, message: str) -> None:
        """Show ``message`` in the window (status bar and log panel), never only on stderr."""
        log.error("%s: %s", title, message)
        self.statusBar().showMessage(f"{title}: {message}", 10000)
