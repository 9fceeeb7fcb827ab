"""The log's Qt model and filter proxy, over :mod:`inspector.ui.viewmodel.log`."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from inspector.ui.models import refilter
from inspector.ui.models.table import Index, TableModel, catch_up_period
from inspector.ui.viewmodel import log as rows
from inspector.ui.viewmodel.store import LogEntry, Store

__all__ = ["LEVEL_COLOURS", "LogModel", "LogFilter"]

LEVEL_COLOURS = {"WARNING": QColor(230, 150, 20), "ERROR": QColor(220, 50, 50), "CRITICAL": QColor(220, 50, 50)}


class LogModel(TableModel):
    """The store's log entries: time, level, source, message, location."""

    HEADERS = rows.HEADERS

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self._shown = len(store.log)
        self._last_catch_up = -1
        #: The store trimmed its log since the last catch-up (the rows moved up).
        self._trimmed = False

    def set_store(self, store: Store) -> None:
        """Show another store's log."""
        self.beginResetModel()
        self.store = store
        self._shown = len(store.log)
        self.endResetModel()

    def refresh(self) -> None:
        """Announce entries appended since the last refresh (while a recording loads, every
        :data:`~inspector.ui.models.table.LOADING_CATCH_UP` seconds, and at once when the first entries arrive)."""
        store = self.store
        self._trimmed = self._trimmed or store.log_trimmed
        if (store.loading and self._shown and len(store.log) >= self._shown
                and catch_up_period() == self._last_catch_up):
            return  # (a log trimmed below the rows shown is caught up at once)
        self._last_catch_up = catch_up_period()
        trimmed, self._trimmed = self._trimmed, False
        count = len(store.log)
        if count < self._shown or trimmed:
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
            return rows.row_texts(entry, self.store.origin)[column]
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            return LEVEL_COLOURS.get(entry.level)
        if role == Qt.ItemDataRole.ToolTipRole and column == 3:
            return entry.message
        if role == Qt.ItemDataRole.ToolTipRole and column == 4:
            return entry.location or None
        return None


class LogFilter(QSortFilterProxyModel):
    """Keeps entries at or above a level, matching a text, within the time range."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rules = rows.LogFilterRules()

    def set_filters(self, level: str | None = None, text: str | None = None) -> None:
        """Change the minimum level and/or the text to match, and re-filter the rows."""
        self.rules.set(level, text)
        refilter(self)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        assert isinstance(model, LogModel)
        return self.rules.accepts(model.entry(source_row), model.store)
