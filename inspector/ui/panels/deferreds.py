"""The Deferreds panel: live and recent Deferreds, the selected one's chain and traceback."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QCheckBox, QPlainTextEdit, QScrollArea, QVBoxLayout, QWidget

from inspector.ui.models import refilter
from inspector.ui.models.deferreds import ID_ROLE, DeferredsFilter, DeferredsModel
from inspector.ui.panels.chain_diagram import ChainDiagram
from inspector.ui.panels.process_filter import ProcessChoice
from inspector.ui.viewmodel.deferreds import HEADERS, PROCESS_COLUMN
from inspector.ui.viewmodel.store import Store
from inspector.ui.widgets import choice_box, filter_bar, named, on_screen, row_table, search_line, splitter

#: The Deferreds table's age/duration column.
AGE_COLUMN = HEADERS.index("Age / took")

__all__ = ["DeferredsPanel"]


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
        self.own_box = named(QCheckBox("Hide the inspector's own"), "deferreds.hide_own")
        self.own_box.setToolTip(
            "Hide Deferreds the inspector makes for its own plumbing (launch handles, one-shot clients)"
        )
        self.own_box.setChecked(True)
        self.own_box.toggled.connect(self._filters_changed)
        self.search = search_line(
            "deferreds.search", "Search Deferreds", "Filter by site, callback, result…", self._filters_changed
        )

        self.table = row_table(self, "deferreds.table", "Deferreds", self.proxy, widths=(60, 84, 84, 190, 100))
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        #: The header's sort while a recording loads unsorted (put back when it ends).
        self._sort_before_loading: tuple[int, Qt.SortOrder] = (0, Qt.SortOrder.DescendingOrder)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.repaint_ages = self._repaint_ages
        # Only when attached to processes (inspector attach): which one each Deferred is in.
        self.processes = ProcessChoice("deferreds.process", self.table, PROCESS_COLUMN, self._filters_changed)

        self.diagram = ChainDiagram()
        self.diagram.deferred_activated.connect(self.select_deferred)
        scroll = QScrollArea()
        scroll.setWidget(self.diagram)
        scroll.setWidgetResizable(True)
        self.traceback = named(QPlainTextEdit(), "deferreds.traceback")
        self.traceback.setAccessibleName("Failure traceback")
        self.traceback.setReadOnly(True)
        self.traceback.setPlaceholderText("A failed Deferred's traceback appears here.")
        self.traceback.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        detail = splitter(Qt.Orientation.Vertical, (scroll, 3), (self.traceback, 1))
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(filter_bar(self.processes.box, self.mode_box, self.own_box, search=self.search))
        left_layout.addWidget(self.table)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter(Qt.Orientation.Horizontal, (left, 3), (detail, 2)))

    def set_store(self, store: Store) -> None:
        """Show another store's Deferreds."""
        self.store = store
        self.model.set_store(store)
        if not self.proxy.dynamicSortFilter():
            self._sort_again()  # a load left unfinished (cancelled)
        self.processes.sync(store)
        self._show(None)

    def _repaint_ages(self) -> None:
        """Once a second: repaint the ages in view; re-sort only when sorted by age (the
        proxy then looks at every row, 10,000 pending Deferreds or not)."""
        if self.table.horizontalHeader().sortIndicatorSection() == AGE_COLUMN:
            self.model.ages_changed()
        else:
            self.table.viewport().update()

    def refresh(self) -> None:
        """Apply the store's changes; redraw the selected chain if it changed."""
        selected = self.selected
        loading = self.store.loading
        if loading and self.proxy.dynamicSortFilter():
            # While a recording loads, new and changed rows are not sorted (each comparison
            # asks the model, in Python) nor re-filtered batch by batch; once at the end.
            self.proxy.setDynamicSortFilter(False)
            # The header shows no sort order meanwhile (the view then stops sorting).
            header = self.table.horizontalHeader()
            self._sort_before_loading = (header.sortIndicatorSection(), header.sortIndicatorOrder())
            header.setSortIndicator(-1, header.sortIndicatorOrder())
        self.model.refresh(shown=on_screen(self))
        if not loading and not self.proxy.dynamicSortFilter():
            self._sort_again()
        if self.processes.changed(self.store):
            self.processes.sync(self.store)
        if selected is None:
            return
        if self.store.removed_deferreds:
            # Old finished Deferreds were forgotten and the list rebuilt: keep the choice.
            self._show(selected if selected in self.store.deferreds else None)
            if self.selected is not None:
                self.select_deferred(self.selected, reveal=False)
        elif selected in self.store.changed_deferreds:
            self._show(selected)

    def _sort_again(self) -> None:
        """Sort and filter every row again, as the header says (after a load)."""
        self.proxy.setDynamicSortFilter(True)
        header = self.table.horizontalHeader()
        if header.sortIndicatorSection() < 0:  # as before the load (the view sorts)
            header.setSortIndicator(*self._sort_before_loading)
        else:  # a column the user clicked while it loaded
            self.proxy.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        refilter(self.proxy)

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
        self.proxy.set_filters(
            mode=self.mode_box.currentData() or "", text=self.search.text(), hide_own=self.own_box.isChecked(),
            process=self.processes.current,
        )

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
