"""The window attached to live processes (``inspector attach ENDPOINT...``).

:func:`attach_window` turns a main window built without a local tracer into a view of
processes that serve their trace: the Connections, Session, Deferreds, Timing and Log
panels show an :class:`~inspector.ui.viewmodel.attached.AttachedFeed`'s store, a Processes
list (beside the launcher, which is switched off: it starts services in this window only)
says how each attachment stands, and the status bar sums it up.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QDockWidget, QLabel, QVBoxLayout, QWidget

from inspector.ui.viewmodel.attached import AttachedFeed
from inspector.ui.viewmodel.processes import ProcessRow, ProcessStore, state_text
from inspector.ui.widgets import named, row_table

__all__ = ["ProcessesPanel", "attach_window", "HEADERS"]

HEADERS = ("Process", "State", "PID", "Program", "Events", "Missed")
_STATE_COLUMN = HEADERS.index("State")
_PROGRAM_COLUMN = HEADERS.index("Program")
#: Translucent tints of the attachment states, readable on both palettes.
STATE_TINTS = {
    "connecting": QColor(230, 170, 30, 90),
    "connected": QColor(40, 170, 70, 90),
    "disconnected": QColor(230, 120, 30, 110),
    "refused": QColor(220, 50, 50, 110),
    "stopped": QColor(128, 128, 128, 60),
}
#: Run-menu actions that start or stop the window's own services: off while attached.
_LOCAL_ACTIONS = ("action.start", "action.stop", "action.stop_all", "action.demo", "action.record")


def row_cells(row: ProcessRow) -> tuple[str, ...]:
    """The texts of ``row``'s cells, in :data:`HEADERS` order."""
    return (row.label, state_text(row), str(row.pid or ""), row.program, str(row.events),
            str(row.missed) if row.missed else "")


class ProcessesPanel(QWidget):
    """Every attached process: its endpoint, program, pid, state, events received, missed."""

    def __init__(self, feed: AttachedFeed, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("processes")
        self.feed = feed
        self.items = QStandardItemModel(0, len(HEADERS), self)
        self.items.setHorizontalHeaderLabels(list(HEADERS))
        self.table = row_table(self, "processes.table", "Attached processes", self.items,
                               widths=(120, 180, 50, 160, 60))
        widest = self.fontMetrics().horizontalAdvance("disconnected — reconnecting")
        self.table.setColumnWidth(_STATE_COLUMN, widest + 16)
        note = named(QLabel(
            "The window follows these processes live (inspector attach). Each one is re-attached when it "
            "restarts; what it showed before stays listed. The launcher is off: it starts services in "
            "this window only."
        ), "processes.note")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(note)
        layout.addWidget(self.table)
        self._version = -1

    def refresh(self) -> None:
        """Rewrite the rows when an attachment changed (cheap otherwise)."""
        if self._version == self.feed.version:
            return
        self._version = self.feed.version
        items = self.items
        rows = self.feed.rows
        if items.rowCount() != len(rows):
            items.setRowCount(len(rows))
        for number, row in enumerate(rows):
            for column, text in enumerate(row_cells(row)):
                item = items.item(number, column)
                if item is None:
                    item = QStandardItem(text)
                    item.setEditable(False)
                    items.setItem(number, column, item)
                elif item.text() != text:
                    item.setText(text)
                if column == _PROGRAM_COLUMN:
                    item.setToolTip(text)
            state = items.item(number, _STATE_COLUMN)
            state.setData(STATE_TINTS.get(row.state), Qt.ItemDataRole.BackgroundRole)
            state.setToolTip(row.detail or state_text(row))


def attach_window(window: Any, endpoints: list[str], token: str | None = None, *,
                  retry: float = 0.5, max_retry: float = 5.0) -> AttachedFeed:
    """Show ``endpoints``' processes in ``window`` (a main window built without tracing)
    and start attaching; detaches when the window shuts down. ValueError for an endpoint
    that cannot be parsed (nothing is changed then)."""
    store = ProcessStore(clock=time.monotonic())
    feed = AttachedFeed(window.reactor, store, endpoints, token, retry=retry, max_retry=max_retry)
    feed.start()
    window.feed = feed
    window.live_store = store
    window.show_store(store, live=True)
    window.shutdown_hooks.append(feed.stop)
    # Ctrl-C ends the loop: detach first, so that end is not logged as the processes'.
    window.reactor.addSystemEventTrigger("before", "shutdown", feed.stop)

    panel = ProcessesPanel(feed)
    dock = QDockWidget("Processes", window)
    dock.setObjectName("dock.processes")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    window.tabifyDockWidget(window.docks["Launcher"], dock)
    dock.show()
    dock.raise_()
    window.resizeDocks([dock], [430], Qt.Orientation.Horizontal)  # room for "disconnected — reconnecting"
    window.processes = panel

    names = ", ".join(feed.labels)
    window.launcher.setEnabled(False)
    window.launcher.setToolTip(f"Attached to {names}: the launcher starts services in this window only")
    for name in _LOCAL_ACTIONS:
        action = window.findChild(QAction, name)
        if action is not None:
            action.setEnabled(False)
    window.live_title = f"Inspector — attached to {names}"
    window.setWindowTitle(window.live_title)
    summary = named(QLabel(), "status.processes")
    window.statusBar().addPermanentWidget(summary)
    window.statusBar().showMessage(f"Attaching to {names}…", 5000)

    def refresh() -> None:
        panel.refresh()
        text = "·   " + feed.summary()
        if summary.text() != text:
            summary.setText(text)

    window.timer.timeout.connect(refresh)
    refresh()
    return feed
