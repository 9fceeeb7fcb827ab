"""A table's Process column and "All processes" filter, shown only while the window is
attached to processes (``inspector attach``): the Connections and Deferreds panels share it."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QComboBox, QTableView

from inspector.ui.viewmodel.processes import ProcessStore
from inspector.ui.viewmodel.store import Store
from inspector.ui.widgets import choice_box

__all__ = ["ProcessChoice"]


class ProcessChoice:
    """``box`` picks one attached process ("" for all); :meth:`sync` shows the box and the
    ``column`` of ``table`` (moved to be second) only for a store of attached processes."""

    def __init__(self, name: str, table: QTableView, column: int, on_change: Callable[[], None]) -> None:
        self.box: QComboBox = choice_box(name, "Process filter", [("All processes", "")], on_change)
        self.box.setToolTip("Show only what one attached process did")
        self.box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.table = table
        self.column = column
        self._labels: list[str] = []
        self.sync(None)

    @property
    def current(self) -> str:
        """The chosen process's label, "" for all."""
        return str(self.box.currentData() or "")

    def sync(self, store: Store | None) -> None:
        """Show or hide the column and the box for ``store``; list processes new to it."""
        attached = isinstance(store, ProcessStore)
        self.table.setColumnHidden(self.column, not attached)
        self.box.setVisible(attached)
        labels = store.labels() if isinstance(store, ProcessStore) else []
        if labels == self._labels:
            return
        if attached and not self._labels:
            header = self.table.horizontalHeader()
            header.moveSection(header.visualIndex(self.column), 1)
            self.table.setColumnWidth(self.column, 130)
            self.table.setColumnWidth(0, 90)  # a second process's ids start at 1,000,000,001
        if labels[: len(self._labels)] != self._labels:
            self.box.setCurrentIndex(0)
            while self.box.count() > 1:
                self.box.removeItem(1)
            self._labels = []
        for label in labels[len(self._labels):]:
            self.box.addItem(label, label)
            self._labels.append(label)

    def changed(self, store: Store) -> bool:
        """True when ``store`` names a process the box does not list yet (cheap: counts)."""
        return isinstance(store, ProcessStore) and len(store.labels()) != len(self._labels)
