"""The Deferreds panel: live and recent Deferreds, the selected one's chain and traceback."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QItemSelection, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase
from PySide6.QtWidgets import QCheckBox, QPlainTextEdit, QScrollArea, QVBoxLayout, QWidget

import inspector
from inspector.ui.viewmodel import format as fmt
from inspector.ui.panels.chain_diagram import ChainDiagram
from inspector.ui.viewmodel.store import DeferredInfo, Store
from inspector.ui.models import refilter
from inspector.ui.models.table import Index, TableModel
from inspector.ui.widgets import choice_box, filter_bar, row_table, search_line, splitter

ID_ROLE = Qt.ItemDataRole.UserRole + 2
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
STATE_TINTS = {
    "pending": QColor(230, 170, 30, 80),
    "paused": QColor(60, 140, 220, 80),
    "succeeded": QColor(40, 170, 70, 60),
    "recovered": QColor(150, 90, 210, 80),
    "failed": QColor(220, 50, 50, 90),
    "cancelled": QColor(128, 128, 128, 60),
    "abandoned": QColor(128, 128, 128, 60),
}
UNHANDLED_TINT = QColor(230, 30, 30, 170)

_PACKAGE = os.path.dirname(os.path.abspath(inspector.__file__))
#: Where the window's own plumbing makes Deferreds (launch handles, one-shot clients,
#: the window itself): hidden from the list unless the user asks to see them.
OWN_SITES = tuple(
    os.path.join(_PACKAGE, *part.split("/"))
    for part in ("catalog/", "ui/", "protocols/oneshot.py")
)


def is_own(info: DeferredInfo) -> bool:
    """True for a Deferred the inspector made for its own plumbing, not the user's code."""
    return info.site.startswith(OWN_SITES)


class DeferredsModel(TableModel):
    """One row per Deferred the store keeps: id, state, age or duration, site, waits on, result."""

    HEADERS = ("ID", "State", "Age / took", "Created at", "Waits on", "Result")

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self._rows: list[DeferredInfo] = []
        self._row_of: dict[int, int] = {}
        self._last_age_refresh = 0.0
        self.set_store(store)

    def set_store(self, store: Store) -> None:
        """Show another store's Deferreds."""
        self.beginResetModel()
        self.store = store
        self._rows = [store.deferreds[i] for i in store.deferred_order]
        self._row_of = {info.id: row for row, info in enumerate(self._rows)}
        self.endResetModel()

    def refresh(self) -> None:
        """Apply the store's Deferred changes since the last refresh, in one batch."""
        store = self.store
        if store.removed_deferreds:
            self.set_store(store)
            return
        new = [d for d in store.new_deferreds if d not in self._row_of and d in store.deferreds]
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for def_id in new:
                self._row_of[def_id] = len(self._rows)
                self._rows.append(store.deferreds[def_id])
            self.endInsertRows()
        rows = [self._row_of[d] for d in store.changed_deferreds if d in self._row_of]
        if rows:
            self.rows_changed(min(rows), max(rows))
        if self._rows and store.now - self._last_age_refresh >= 1.0:
            # Ages of pending Deferreds move with the clock: repaint that column once a second.
            self._last_age_refresh = store.now
            self.dataChanged.emit(self.index(0, 2), self.index(len(self._rows) - 1, 2))

    def info(self, row: int) -> DeferredInfo:
        """Return the Deferred in ``row``."""
        return self._rows[row]

    def row_of(self, def_id: int) -> int | None:
        """Return the row of Deferred ``def_id``."""
        return self._row_of.get(def_id)

    def row_count(self) -> int:
        return len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        info = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(info, column)
        if role == SORT_ROLE:
            if column == 0:
                return info.id
            if column == 2:
                return info.duration if info.duration is not None else self.store.now - info.created_at
            return self._text(info, column)
        if role == ID_ROLE:
            return info.id
        if role == Qt.ItemDataRole.BackgroundRole:
            if info.unhandled:
                return UNHANDLED_TINT
            if column == 1:
                return STATE_TINTS.get(info.state)
        if role == Qt.ItemDataRole.ToolTipRole and column == 3:
            return info.site or None
        if role == Qt.ItemDataRole.FontRole and info.unhandled:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _text(self, info: DeferredInfo, column: int) -> str:
        if column == 0:
            return str(info.id)
        if column == 1:
            return "UNHANDLED" if info.unhandled else info.state
        if column == 2:
            if info.duration is not None:
                return fmt.duration(info.duration)
            return fmt.duration(self.store.now - info.created_at) + " …"
        if column == 3:
            return f"{info.function} ({os.path.basename(info.site)})" if info.site else info.function
        if column == 4:
            if info.state not in ("pending", "paused"):
                return ""
            if info.waits_on is not None:
                return f"Deferred #{info.waits_on}"
            return info.waits_on_text
        return info.result_repr


class DeferredsFilter(QSortFilterProxyModel):
    """Shows live only, failed only, or all; plus a text match and the time range."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.mode = ""
        self.text = ""
        self.hide_own = True
        self.setSortRole(SORT_ROLE)

    def set_filters(self, mode: str | None = None, text: str | None = None, hide_own: bool | None = None) -> None:
        """mode: "" all, "live" pending/paused, "failed" failed or unhandled, "recovered"
        failed and then handled; ``hide_own`` hides the inspector's own Deferreds."""
        if mode is not None:
            self.mode = mode
        if text is not None:
            self.text = text.lower()
        if hide_own is not None:
            self.hide_own = hide_own
        refilter(self)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        assert isinstance(model, DeferredsModel)
        info = model.info(source_row)
        if self.mode == "live" and info.state not in ("pending", "paused"):
            return False
        if self.mode == "failed" and info.state != "failed" and not info.unhandled:
            return False
        if self.mode == "recovered" and info.state != "recovered":
            return False
        if self.hide_own and is_own(info):
            return False
        if not model.store.in_range(info.created_at, info.fired_at):
            return False
        if self.text:
            names = " ".join(node.name for node in info.callbacks)
            haystack = f"{info.id} {info.state} {info.site} {info.function} {info.result_repr} {names}".lower()
            return self.text in haystack
        return True


class DeferredsPanel(QWidget):
    """Table of Deferreds beside the selected one's chain diagram and traceback."""

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("deferreds")
        self.store = store
        self.model = DeferredsModel(store, self)
        self.proxy = DeferredsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.selected: int | None = None

        self.mode_box = choice_box(
            "deferreds.mode",
            "Deferred filter",
            (("All", ""), ("Live (pending)", "live"), ("Failed / unhandled", "failed"), ("Recovered", "recovered")),
            self._filters_changed,
        )
        self.mode_box.setToolTip("Recovered: failed, then an errback handled the failure")
        self.own_box = QCheckBox("Hide the inspector's own", objectName="deferreds.hide_own")
        self.own_box.setToolTip("Hide Deferreds the inspector makes for its own plumbing (launch handles, one-shot clients)")
        self.own_box.setChecked(True)
        self.own_box.toggled.connect(self._filters_changed)
        self.search = search_line("deferreds.search", "Search Deferreds", "Filter by site, callback, result…", self._filters_changed)

        self.table = row_table(self, "deferreds.table", "Deferreds", self.proxy, widths=(44, 84, 84, 190, 100))
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.diagram = ChainDiagram()
        self.diagram.deferred_activated.connect(self.select_deferred)
        scroll = QScrollArea()
        scroll.setWidget(self.diagram)
        scroll.setWidgetResizable(True)
        self.traceback = QPlainTextEdit(objectName="deferreds.traceback")
        self.traceback.setAccessibleName("Failure traceback")
        self.traceback.setReadOnly(True)
        self.traceback.setPlaceholderText("A failed Deferred's traceback appears here.")
        self.traceback.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        detail = splitter(Qt.Orientation.Vertical, (scroll, 3), (self.traceback, 1))
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(filter_bar(self.mode_box, self.own_box, search=self.search))
        left_layout.addWidget(self.table)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter(Qt.Orientation.Horizontal, (left, 3), (detail, 2)))

    def set_store(self, store: Store) -> None:
        """Show another store's Deferreds."""
        self.store = store
        self.model.set_store(store)
        self._show(None)

    def refresh(self) -> None:
        """Apply the store's changes; redraw the selected chain if it changed."""
        selected = self.selected
        self.model.refresh()
        if selected is None:
            return
        if self.store.removed_deferreds:
            # Old finished Deferreds were forgotten and the list rebuilt: keep the choice.
            self._show(selected if selected in self.store.deferreds else None)
            if self.selected is not None:
                self.select_deferred(self.selected, reveal=False)
        elif selected in self.store.changed_deferreds:
            self._show(selected)

    def refilter(self) -> None:
        """Re-apply the filters (the selected time range moved)."""
        refilter(self.proxy)

    def select_deferred(self, def_id: int, reveal: bool = True) -> None:
        """Select Deferred ``def_id`` in the table (with ``reveal``, clearing filters that hide it)."""
        row = self.model.row_of(def_id)
        if row is None:
            return
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid() and reveal:
            self.mode_box.setCurrentIndex(0)
            self.search.clear()
            self.own_box.setChecked(False)
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        if index.isValid():
            self.table.selectRow(index.row())
            self.table.scrollTo(index)

    def _filters_changed(self) -> None:
        self.proxy.set_filters(mode=self.mode_box.currentData() or "", text=self.search.text(), hide_own=self.own_box.isChecked())

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        # Ask for what is selected now: a re-sort also reports a "change" that selects
        # nothing new, which must not clear the diagram.
        rows = self.table.selectionModel().selectedRows()
        chosen = int(rows[0].data(ID_ROLE)) if rows else None
        if chosen != self.selected:
            self._show(chosen)

    def _show(self, def_id: int | None) -> None:
        self.selected = def_id
        info = self.store.deferreds.get(def_id) if def_id is not None else None
        self.diagram.show_deferred(info)
        self.traceback.setPlainText(info.traceback if info is not None else "")
