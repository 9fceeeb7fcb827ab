"""A base for the window's read-only table models: a fixed header row, flat rows.

Subclasses name their columns in ``HEADERS``, say how many rows they show in
:meth:`TableModel.row_count` and answer :meth:`data`; the counting and header
boilerplate Qt asks for lives here once.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex

#: Seconds between the tables' catch-ups while a recording loads.
LOADING_CATCH_UP = 0.3


def catch_up_period() -> int:
    """Which :data:`LOADING_CATCH_UP` period of the clock this is. A table catches up
    (while a recording loads) when the period changed since its last catch-up: so all of
    them catch up in the same refresh, and the window repaints once for them all, not
    once for each at moments of its own (a third of the loading's repaints)."""
    return int(time.monotonic() / LOADING_CATCH_UP)


def row_runs(rows: list[int]) -> list[tuple[int, int]]:
    """Ascending, non-empty ``rows`` as (first, last) runs of consecutive rows: what one
    Qt signal (changed, removed) can cover at a time."""
    runs: list[tuple[int, int]] = []
    start = prev = rows[0]
    for row in rows[1:]:
        if row != prev + 1:
            runs.append((start, prev))
            start = row
        prev = row
    runs.append((start, prev))
    return runs


class TableModel(QAbstractTableModel):
    """A flat table whose columns are :attr:`HEADERS` and whose row count the subclass gives."""

    HEADERS: tuple[str, ...] = ()

    def row_count(self) -> int:
        """How many rows the view may show now."""
        raise NotImplementedError

    def rows_changed(self, first: int, last: int) -> None:
        """Repaint every cell of rows ``first`` to ``last`` (one ``dataChanged``)."""
        self.dataChanged.emit(self.index(first, 0), self.index(last, len(self.HEADERS) - 1))

    def rows_changed_runs(self, rows: list[int], most: int = 64) -> None:
        """Repaint ``rows``: one ``dataChanged`` per run of consecutive rows, so a proxy
        re-filters the rows that changed, not every row between the first and the last
        (more than ``most`` runs: one span, cheaper than that many signals)."""
        if not rows:
            return
        rows = sorted(rows)
        runs = row_runs(rows)
        if len(runs) > most:
            runs = [(rows[0], rows[-1])]
        for first, last in runs:
            self.rows_changed(first, last)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else self.row_count()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None
