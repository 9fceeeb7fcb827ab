"""The log panel: warnings, errors and notices, filtered, with the selected one's full text."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

from inspector.ui.models import refilter
from inspector.ui.models.log import LogFilter, LogModel
from inspector.ui.viewmodel.log import LEVELS
from inspector.ui.viewmodel.store import Store
from inspector.ui.widgets import choice_box, filter_bar, named, row_table, search_line, splitter

__all__ = ["LogPanel"]


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
        self.details = named(QPlainTextEdit(), "log.details")
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
        self.details.setPlainText(
            f"{entry.level} {entry.source} at {entry.location}\n\n{entry.message}\n\n{entry.details}".rstrip()
        )
