"""The warnings/log panel and the logging handler that feeds it.

Records logged on the "inspector" logger (from any thread) are queued by
:class:`WindowLogHandler` and moved into the store on the next window refresh, so
errors show in the window, never only on stderr.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from typing import Any

from PySide6.QtCore import QItemSelection, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

from inspector.ui.viewmodel.store import LogEntry, Store
from inspector.ui.models import refilter
from inspector.ui.models.table import Index, TableModel
from inspector.ui.widgets import choice_box, filter_bar, row_table, search_line, splitter

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LEVEL_COLOURS = {"WARNING": QColor(230, 150, 20), "ERROR": QColor(220, 50, 50), "CRITICAL": QColor(220, 50, 50)}


class WindowLogHandler(logging.Handler):
    """Queues log records for the window; thread-safe, never blocks the logger."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.pending: deque[logging.LogRecord] = deque(maxlen=10_000)

    def emit(self, record: logging.LogRecord) -> None:
        self.pending.append(record)

    def drain_into(self, store: Store) -> None:
        """Move queued records into ``store``'s log."""
        offset = time.monotonic() - time.time()
        while self.pending:
            record = self.pending.popleft()
            details = ""
            if record.exc_info and record.exc_info[1] is not None:
                details = "".join(traceback.format_exception(*record.exc_info))
            try:
                message = record.getMessage()
            except Exception as exc:  # a bad format string must not lose the record
                message = f"{record.msg!r} (unformattable: {exc})"
            store.add_log(
                record.created + offset,
                record.levelname,
                record.name,
                message,
                f"{record.pathname}:{record.lineno}",
                details,
            )


class LogModel(TableModel):
    """The store's log entries: time, level, source, message, location."""

    HEADERS = ("Time", "Level", "Source", "Message", "Location")

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self._shown = len(store.log)

    def set_store(self, store: Store) -> None:
        """Show another store's log."""
        self.beginResetModel()
        self.store = store
        self._shown = len(store.log)
        self.endResetModel()

    def refresh(self) -> None:
        """Announce entries appended since the last refresh."""
        count = len(self.store.log)
        if count < self._shown or self.store.log_trimmed:
            self.set_store(self.store)
        elif count > self._shown:
            self.beginInsertRows(QModelIndex(), self._shown, count - 1)
            self._shown = count
            self.endInsertRows()

    def entry(self, row: int) -> LogEntry:
        """Return the entry in ``row``."""
        return self.store.log[row]

    def row_count(self) -> int:
        return self._shown

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self.store.log[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                f"{entry.time - self.store.origin:.3f}",
                entry.level,
                entry.source,
                entry.message.splitlines()[0] if entry.message else "",
                entry.location,
            )[column]
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            return LEVEL_COLOURS.get(entry.level)
        if role == Qt.ItemDataRole.ToolTipRole and column == 3:
            return entry.message
        return None


class LogFilter(QSortFilterProxyModel):
    """Keeps entries at or above a level, matching a text, within the time range."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.minimum = 0
        self.text = ""

    def set_filters(self, level: str | None = None, text: str | None = None) -> None:
        """Change the minimum level and/or the text to match."""
        if level is not None:
            self.minimum = LEVELS.index(level) if level in LEVELS else 0
        if text is not None:
            self.text = text.lower()
        refilter(self)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        assert isinstance(model, LogModel)
        entry = model.entry(source_row)
        level = LEVELS.index(entry.level) if entry.level in LEVELS else 2
        if level < self.minimum:
            return False
        if not model.store.in_range(entry.time, entry.time):
            return False
        if self.text:
            return self.text in f"{entry.source} {entry.message} {entry.location}".lower()
        return True


class LogPanel(QWidget):
    """Warnings, errors and unhandled failures with their location and details."""

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("log")
        self.model = LogModel(store, self)
        self.proxy = LogFilter(self)
        self.proxy.setSourceModel(self.model)
        choices = [(level.capitalize(), level) for level in LEVELS]
        self.level_box = choice_box("log.level", "Minimum level", choices, self._filters_changed, current=1)
        self.search = search_line("log.search", "Search log", "Filter log…", self._filters_changed)
        self.table = row_table(self, "log.table", "Log", self.proxy, widths=(64, 72, 170, 520), padding=4)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.details = QPlainTextEdit(objectName="log.details")
        self.details.setAccessibleName("Log details")
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setPlaceholderText("Select an entry to read its full text and traceback.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filter_bar(self.level_box, search=self.search))
        # The log runs along the bottom of the window: the full text sits beside the list.
        layout.addWidget(splitter(Qt.Orientation.Horizontal, (self.table, 3), (self.details, 1)), 1)
        self._filters_changed()

    def set_store(self, store: Store) -> None:
        """Show another store's log."""
        self.model.set_store(store)

    def refresh(self) -> None:
        """Show entries that arrived since the last refresh; follow the end."""
        bar = self.table.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 2
        self.model.refresh()
        if follow and self.model.store.new_log:
            self.table.scrollToBottom()

    def refilter(self) -> None:
        """Re-apply the filters (the selected time range moved)."""
        refilter(self.proxy)

    def _filters_changed(self) -> None:
        self.proxy.set_filters(level=self.level_box.currentData(), text=self.search.text())

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            self.details.clear()
            return
        entry = self.model.entry(self.proxy.mapToSource(rows[0]).row())
        self.details.setPlainText(f"{entry.level} {entry.source} at {entry.location}\n\n{entry.message}\n\n{entry.details}".rstrip())
