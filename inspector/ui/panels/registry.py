"""Every panel of the main window, in dock and shortcut order (Alt+1 is the first)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from inspector.ui.panels.connections import ConnectionsPanel
from inspector.ui.panels.contract import PanelContext, PanelSpec
from inspector.ui.panels.deferreds import DeferredsPanel
from inspector.ui.panels.launcher import LauncherPanel
from inspector.ui.panels.log import LogPanel
from inspector.ui.panels.proxy import ProxyPanel
from inspector.ui.panels.session import SessionPanel
from inspector.ui.panels.timing import TimingPanel

__all__ = ["PANELS", "spec"]

_LEFT = Qt.DockWidgetArea.LeftDockWidgetArea
_RIGHT = Qt.DockWidgetArea.RightDockWidgetArea
_BOTTOM = Qt.DockWidgetArea.BottomDockWidgetArea


def _launcher(context: PanelContext) -> LauncherPanel:
    return LauncherPanel(context.reactor, context.settings)


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("Launcher", "launcher", _LEFT, "Alt+1", _launcher, follows_store=False, on_range=""),
    PanelSpec("Connections", "connections", _RIGHT, "Alt+2", lambda c: ConnectionsPanel(c.store)),
    PanelSpec("Session", "session", _RIGHT, "Alt+3", lambda c: SessionPanel(c.store), on_range=""),
    PanelSpec("Deferreds", "deferreds", _RIGHT, "Alt+4", lambda c: DeferredsPanel(c.store)),
    PanelSpec("Timing", "timing", _RIGHT, "Alt+5", lambda c: TimingPanel(c.store), on_range="redraw"),
    PanelSpec("Log", "log_panel", _BOTTOM, "Alt+6", lambda c: LogPanel(c.store)),
    PanelSpec("Proxy", "proxy_panel", _RIGHT, "Alt+7", lambda c: ProxyPanel(c.store, c.reactor), on_range=""),
)


def spec(title: str) -> PanelSpec:
    """The registered panel called ``title``."""
    for panel in PANELS:
        if panel.title == title:
            return panel
    raise KeyError(f"no panel called {title!r}; panels: {', '.join(p.title for p in PANELS)}")
