"""The window's layout shows its architecture: panels come from one registry, and the
view-model under them runs without Qt."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from inspector.ui.panels.contract import StorePanel
from inspector.ui.panels.registry import PANELS


def test_every_dock_the_window_shows_is_a_registered_panel_with_its_shortcut(qtbot: Any, window: Any) -> None:
    docks = {dock.objectName(): dock for dock in window.findChildren(QDockWidget)}
    # A dock added to the window without a registry entry (or an entry without its dock) fails here.
    assert sorted(docks) == sorted(spec.dock_name for spec in PANELS)
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    toggles = {action.text(): action for action in view_menu.actions()}
    for spec in PANELS:
        dock = docks[spec.dock_name]
        assert dock.windowTitle() == spec.title
        assert dock.widget() is getattr(window, spec.name)
        assert toggles[spec.title].shortcut().toString() == spec.shortcut
        assert window.dockWidgetArea(dock) != Qt.DockWidgetArea.NoDockWidgetArea
        if spec.follows_store:
            assert isinstance(dock.widget(), StorePanel)
        if spec.on_range:
            assert callable(getattr(dock.widget(), spec.on_range))
    assert len({spec.shortcut for spec in PANELS}) == len(PANELS)
    # The About box lists the shortcuts read from the menus: every panel's is there.
    listed = dict(window.shortcuts())
    for spec in PANELS:
        assert listed[f"View → {spec.title}"] == spec.shortcut


def test_a_panels_shortcut_hides_and_shows_its_dock(qtbot: Any, window: Any) -> None:
    for number, spec in enumerate(PANELS, 1):
        dock = window.findChild(QDockWidget, spec.dock_name)
        window.activateWindow()
        window.show_dock(spec.title)
        qtbot.waitUntil(dock.isVisible)
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{number}"), Qt.KeyboardModifier.AltModifier)
        qtbot.waitUntil(lambda: not dock.isVisible(), timeout=2000)
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{number}"), Qt.KeyboardModifier.AltModifier)
        qtbot.waitUntil(dock.isVisible, timeout=2000)


#: Imports every view-model module with Qt (and pyqtgraph) refused, then uses them.
_QT_FREE = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    BLOCKED = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "pyqtgraph")

    class RefuseQt:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} imported by the Qt-free view-model")
            return None

    sys.meta_path.insert(0, RefuseQt())
    import inspector.ui.viewmodel as viewmodel

    names = [info.name for info in pkgutil.iter_modules(viewmodel.__path__, "inspector.ui.viewmodel.")]
    for name in names:
        importlib.import_module(name)
    importlib.import_module("inspector.catalog.ownership")

    from inspector.ui.viewmodel.claims import Claims
    from inspector.ui.viewmodel.connections import ConnectionsFilter, row_texts
    from inspector.ui.viewmodel.status import status_text
    from inspector.ui.viewmodel.store import Store

    store = Store(clock=0.0)
    store.connection_opened(1, 0.5, "server", "Echo", "127.0.0.1:8007", "127.0.0.1:5000", "connected")
    assert row_texts(store.connections[1], 2.0)[5] == "connected"
    assert ConnectionsFilter().accepts(store.connections[1], store)
    assert Claims().claim(store, []) is None
    print(status_text(store, True, True, 0))
    print(sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
    print(len(names))
    """
)


def test_the_view_model_imports_and_runs_without_qt() -> None:
    done = subprocess.run([sys.executable, "-c", _QT_FREE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    status, loaded, modules = done.stdout.splitlines()
    assert status == "live   ·   1 open / 1 connections   ·   0 pending Deferreds   ·   0 services"
    assert loaded == "[]"
    assert int(modules) >= 8  # store, feed, format, hexdump, connections, deferreds, log, session, …
