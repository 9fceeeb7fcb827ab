"""The Deferreds list's Qt model and filter proxy, over the Qt-free rules of
:mod:`inspector.ui.viewmodel.deferreds` (cell texts, sort values, which rows show)."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QFont

from inspector.ui.models import refilter
from inspector.ui.models.table import Index, TableModel, catch_up_period, row_runs
from inspector.ui.viewmodel import deferreds as rows
from inspector.ui.viewmodel.processes import process_of
from inspector.ui.viewmodel.store import DeferredInfo, Store

#: While a recording loads, this table catches up on every this many of the tables'
#: catch-ups (with them, so the window repaints once): most Deferreds a recording makes
#: are forgotten again soon (the store keeps the newest finished ones), and each listed
#: one costs the proxy a Python filter call, then its removal. Every third catch-up
#: listed a third as many of those (0.5 s of a million events' loading).
LOADING_PERIODS = 3

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

class DeferredsModel(TableModel):
    """One row per Deferred the store keeps: id, state, age or duration, site, waits on, result."""

    HEADERS = rows.HEADERS

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self._rows: list[DeferredInfo] = []
        self._row_of: dict[int, int] = {}
        self._last_age_refresh = 0.0
        #: How the once-a-second age update reaches the view (None: :meth:`ages_changed`);
        #: the panel repaints its table instead, unless it is sorted by age.
        self.repaint_ages: Callable[[], None] | None = None
        self.set_store(store)

    def set_store(self, store: Store) -> None:
        """Show another store's Deferreds."""
        self._new: list[int] = []
        self._changed: set[int] = set()
        self._removed = False
        self._last_catch_up = -1
        self.beginResetModel()
        self.store = store
        self._rows = [store.deferreds[i] for i in store.deferred_order]
        self._row_of = {info.id: row for row, info in enumerate(self._rows)}
        self.endResetModel()

    def refresh(self, shown: bool = True) -> None:
        """Apply the store's Deferred changes since the last refresh, in one batch.

        While a recording loads the table catches up every :data:`LOADING_PERIODS` times
        :data:`~inspector.ui.models.table.LOADING_CATCH_UP` seconds while ``shown`` (on
        screen), never while not, and once when it ends: what changed in between is kept
        until then.
        """
        store = self.store
        self._new.extend(store.new_deferreds)
        self._changed.update(store.changed_deferreds)
        self._removed = self._removed or store.removed_deferreds
        period = catch_up_period() // LOADING_PERIODS
        if store.loading and self._rows and (period == self._last_catch_up or not shown):
            return
        self._last_catch_up = period
        new_ids, self._new = self._new, []
        changed, self._changed = self._changed, set()
        removed, self._removed = self._removed, False
        if removed and not self._remove_forgotten():
            self.set_store(store)
            return
        new = [d for d in new_ids if d not in self._row_of and d in store.deferreds]
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for def_id in new:
                self._row_of[def_id] = len(self._rows)
                self._rows.append(store.deferreds[def_id])
            self.endInsertRows()
        rows = [self._row_of[d] for d in changed if d in self._row_of]
        self.rows_changed_runs(rows)
        if self._rows and store.now - self._last_age_refresh >= 1.0:
            # Ages of pending Deferreds move with the clock: repaint that column once a second.
            self._last_age_refresh = store.now
            if self.repaint_ages is not None:
                self.repaint_ages()
            else:
                self.ages_changed()

    def _remove_forgotten(self, most_runs: int = 64) -> bool:
        """Take out the rows of Deferreds the store forgot, a run of rows at a time; False
        (the caller resets instead) when they are scattered over more than ``most_runs``.

        A reset made the proxy sort and filter every row again through Python, hundreds
        of milliseconds each time the store trims its finished Deferreds while a long
        recording loads.
        """
        kept = self.store.deferreds
        gone = [row for row, info in enumerate(self._rows) if kept.get(info.id) is not info]
        if not gone:
            return True
        runs = row_runs(gone)
        if len(runs) > most_runs:
            return False
        for first, last in reversed(runs):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first:last + 1]
            self.endRemoveRows()
        self._row_of = {info.id: row for row, info in enumerate(self._rows)}
        return True

    def ages_changed(self) -> None:
        """Tell the views every age changed (a proxy sorted by age re-sorts: it looks at
        every row, so the panel does this only while the table is sorted by age)."""
        if self._rows:
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
            return rows.cell_text(info, column, self.store.now, process_of(self.store, info.id))
        if role == SORT_ROLE:
            return rows.sort_value(info, column, self.store.now, process_of(self.store, info.id))
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


class DeferredsFilter(QSortFilterProxyModel):
    """Shows live only, failed only, or all; plus a text match and the time range."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rules = rows.DeferredsFilterRules()
        self.setSortRole(SORT_ROLE)

    def set_filters(self, mode: str | None = None, text: str | None = None, hide_own: bool | None = None,
                    process: str | None = None) -> None:
        """Change the filters (see :meth:`DeferredsFilterRules.set`; ``process``: one attached
        process's, "" any) and re-filter the rows."""
        self.rules.set(mode, text, hide_own)
        if process is not None:
            self.rules.process = process
        refilter(self)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        assert isinstance(model, DeferredsModel)
        return self.rules.accepts(model.info(source_row), model.store)
