"""The connections table: a model over the store's connections and its filter proxy.

The model never emits one signal per trace event: :meth:`ConnectionsModel.refresh`
runs once per window refresh and turns the store's "new" and "changed" lists into one
``rowsInserted`` and one ``dataChanged`` for the span that changed.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from inspector.ui import format as fmt
from inspector.ui.store import Connection, Store
from inspector.ui.models import refilter

COLUMNS = (
    "ID",
    "Role",
    "Protocol",
    "Local",
    "Peer",
    "State",
    "In",
    "Out",
    "Rate",
    "Age",
    "Last activity",
    "Close reason",
)
STATE_COLUMN = COLUMNS.index("State")
AGE_COLUMN = COLUMNS.index("Age")

#: Seconds between repaints of changed rows (new rows appear at once).
REPAINT_INTERVAL = 0.1

#: Role returning the raw value a column sorts by.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: Role returning the connection id of a row.
ID_ROLE = Qt.ItemDataRole.UserRole + 2

#: Translucent state tints: readable on light and dark palettes alike.
STATE_COLOURS = {
    "connecting": QColor(230, 170, 30, 90),
    "connected": QColor(40, 170, 70, 90),
    "half-closed": QColor(60, 140, 220, 90),
    "closing": QColor(230, 120, 30, 90),
    "closed": QColor(128, 128, 128, 60),
    "failed": QColor(220, 50, 50, 110),
}

Index = QModelIndex | QPersistentModelIndex

# Roles as plain ints: comparing them is much cheaper than comparing enum members.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole.value)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_OTHER_ROLES = frozenset((int(SORT_ROLE), int(ID_ROLE), _BACKGROUND, _ALIGNMENT, _TOOLTIP))
_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
_NUMERIC = frozenset((0, 6, 7, 8, 9, 10))


class ConnectionsModel(QAbstractTableModel):
    """Rows are connections in the order they opened; columns are :data:`COLUMNS`."""

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self._rows: list[Connection] = []
        self._row_of: dict[int, int] = {}
        self._texts: dict[int, tuple[str, ...]] = {}
        self._pending: set[int] = set()
        self._last_emit = 0.0
        self._last_age_refresh = 0.0

    def set_store(self, store: Store) -> None:
        """Show another store (a loaded recording, or a fresh live session)."""
        self.beginResetModel()
        self.store = store
        self._rows = [store.connections[i] for i in store.order]
        self._row_of = {conn.id: row for row, conn in enumerate(self._rows)}
        self._texts.clear()
        self._pending.clear()
        self.endResetModel()

    def refresh(self) -> None:
        """Apply what changed in the store since the last refresh, in one batch."""
        store = self.store
        new = [cid for cid in store.new_connections if cid not in self._row_of]
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for cid in new:
                self._row_of[cid] = len(self._rows)
                self._rows.append(store.connections[cid])
            self.endInsertRows()
        texts = self._texts
        pending = self._pending
        row_of = self._row_of
        for cid in store.changed_connections:
            row = row_of.get(cid)
            if row is not None:
                texts.pop(row, None)  # fresh text whenever the view next asks
                pending.add(row)
        if self._rows and store.now - self._last_age_refresh >= 1.0:
            self._last_age_refresh = store.now
            texts.clear()
            pending.update((0, len(self._rows) - 1))
        # Counters change many times a second; repainting them ~10 times a second reads
        # just as live and costs a third of the paints.
        now = time.monotonic()
        if pending and now - self._last_emit >= REPAINT_INTERVAL:
            self._last_emit = now
            self.dataChanged.emit(self.index(min(pending), 0), self.index(max(pending), len(COLUMNS) - 1))
            pending.clear()

    def connection(self, row: int) -> Connection:
        """Return the connection shown in ``row``."""
        return self._rows[row]

    def row_of(self, conn_id: int) -> int | None:
        """Return the row showing connection ``conn_id``, if any."""
        return self._row_of.get(conn_id)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = _DISPLAY) -> Any:
        # Called for every visible cell and role on each repaint: cheapest checks first,
        # and a row's texts are formatted once per change, not once per paint.
        if role == _DISPLAY:
            row = index.row()
            texts = self._texts.get(row)
            if texts is None:
                texts = self._texts[row] = tuple(self._text(self._rows[row], c) for c in range(len(COLUMNS)))
            return texts[index.column()]
        if role not in _OTHER_ROLES or not index.isValid():
            return None
        conn = self._rows[index.row()]
        column = index.column()
        if role == SORT_ROLE:
            return self._sort_key(conn, column)
        if role == ID_ROLE:
            return conn.id
        if role == _BACKGROUND:
            return STATE_COLOURS.get(conn.state) if column == STATE_COLUMN else None
        if role == _ALIGNMENT:
            return _RIGHT if column in _NUMERIC else None
        if role == _TOOLTIP and column == len(COLUMNS) - 1:
            return conn.close_reason or None
        return None

    def _text(self, conn: Connection, column: int) -> str:
        now = self.store.now
        if column == 0:
            return str(conn.id)
        if column == 1:
            return conn.role
        if column == 2:
            return conn.protocol
        if column == 3:
            return conn.local
        if column == 4:
            return conn.peer
        if column == 5:
            return conn.state
        if column == 6:
            return fmt.size(conn.bytes_in)
        if column == 7:
            return fmt.size(conn.bytes_out)
        if column == 8:
            return fmt.rate(conn.rate)
        if column == 9:
            end = conn.closed_at if conn.closed_at is not None else now
            return fmt.age(end - conn.opened_at)
        if column == 10:
            return fmt.age(now - conn.last_activity) + " ago"
        return conn.close_reason

    def _sort_key(self, conn: Connection, column: int) -> Any:
        if column == 0:
            return conn.id
        if column == 5:
            return conn.state
        if column == 6:
            return conn.bytes_in
        if column == 7:
            return conn.bytes_out
        if column == 8:
            return conn.rate
        if column == 9:
            return -conn.opened_at
        if column == 10:
            return -conn.last_activity
        return self._text(conn, column)


class ConnectionsFilter(QSortFilterProxyModel):
    """Filters rows by protocol, state group, free text and the selected time range."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.protocol = ""
        self.state = ""
        self.text = ""
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_filters(self, protocol: str | None = None, state: str | None = None, text: str | None = None) -> None:
        """Change any of the filters; empty strings mean "any"."""
        if protocol is not None:
            self.protocol = protocol
        if state is not None:
            self.state = state
        if text is not None:
            self.text = text.lower()
        refilter(self)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        assert isinstance(model, ConnectionsModel)
        conn = model.connection(source_row)
        if self.protocol and conn.protocol != self.protocol:
            return False
        if self.state == "open" and not conn.is_open:
            return False
        if self.state and self.state != "open" and conn.state != self.state:
            return False
        if not model.store.in_range(conn.opened_at, conn.closed_at):
            return False
        if self.text:
            haystack = " ".join(
                (str(conn.id), conn.role, conn.protocol, conn.local, conn.peer, conn.state, conn.close_reason, conn.service)
            ).lower()
            return self.text in haystack
        return True
