"""The connections panel: filter bar over a sortable table of every connection.

The live list keeps every open connection and the newest closed ones (the "Keep closed"
box, 10,000 by default); older closed ones leave it, and a line under the filter bar
counts them. The selected connection stays whatever its age.

A row's context menu offers "Decode as…" (as in Wireshark): it selects the row and asks,
through :attr:`ConnectionsPanel.decode_requested`, for the session to be decoded again.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QEvent, QItemSelection, QObject, QPoint, QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inspector.ui.models.connections import ConnectionsModel
from inspector.ui.panels.decode_menu import add_decode_actions
from inspector.ui.panels.process_filter import ProcessChoice
from inspector.ui.viewmodel.connections import PROCESS_COLUMN
from inspector.ui.viewmodel.store import CLOSED_LIMIT, STATES, Store
from inspector.ui.widgets import choice_box, filter_bar, named, row_table, search_line


class ConnectionsPanel(QWidget):
    """Shows every connection; selecting a row announces its id."""

    #: The QSettings key of the "Keep closed" box.
    KEEP_CLOSED_KEY = "connections/keep_closed"

    connection_selected = Signal(int)
    #: Closed connections were cleared from the list (their ids).
    connections_cleared = Signal(list)
    #: "Decode as…" was chosen on a connection: its id and the dissector ("": as recorded).
    decode_requested = Signal(int, str)

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("connections")
        self.model = ConnectionsModel(store, self)
        self.proxy = self.model.proxy

        self.protocol_box = choice_box(
            "connections.protocol", "Protocol filter", [("All protocols", "")], self._filters_changed
        )
        states = [("Any state", ""), ("Open", "open")] + [(state.capitalize(), state) for state in STATES]
        self.state_box = choice_box("connections.state", "State filter", states, self._filters_changed)
        self.text_edit = search_line(
            "connections.search", "Search connections", "Filter: address, id, reason… (Ctrl+F)", self._filters_changed
        )

        self.table = row_table(self, "connections.table", "Connections", self.proxy)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().sortIndicatorChanged.connect(self._sort_changed)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((44, 56, 130, 120, 120, 84, 70, 70, 80, 50, 90)):
            self.table.setColumnWidth(column, width)
        #: The widest id listed so far, and whether the person sized the ID column
        #: themselves (then it is left as they made it).
        self._widest_id = 0
        self._id_sized_by_hand = False
        self._sizing_id = False
        self.table.horizontalHeader().sectionResized.connect(self._section_resized)
        #: What an empty table says, over its viewport: how to get connections, or that
        #: the filters hide them all (an empty white table tells a newcomer nothing).
        self.empty_label = named(QLabel(self.table.viewport()), "connections.empty")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setEnabled(False)  # drawn in the palette's quieter text colour
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        # Ages are rewritten only in the rows in view: a row scrolled into view is brought
        # up to date at once.
        self.model.visible_rows = self.visible_rows
        self.table.verticalScrollBar().valueChanged.connect(lambda _value: self.model.refresh_visible())
        # Rows a recording listed have only their id and sort cells until shown: the
        # rows about to be painted get the rest first.
        self.table.viewport().installEventFilter(self)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.context_menu: QMenu | None = None
        #: The dissector connection ``conn`` is decoded with (None: as recorded), for the
        #: menu's check mark; the window points it at the session panel.
        self.decoding_of: Callable[[int], str | None] = lambda conn: None

        self.clear_button = named(QPushButton("Clear closed"), "connections.clear")
        self.clear_button.setToolTip("Remove closed and failed connections (and their sessions) from the list")
        self.clear_button.clicked.connect(self.clear_closed)

        self.keep_label = QLabel("Keep closed")
        self.keep_box = named(QSpinBox(), "connections.keep_closed")
        self.keep_box.setAccessibleName("Closed connections kept")
        self.keep_box.setRange(100, 1_000_000)
        self.keep_box.setSingleStep(1000)
        self.keep_box.setGroupSeparatorShown(True)
        self.keep_box.setValue(CLOSED_LIMIT)
        self.keep_box.setToolTip("How many closed connections the live list keeps (the newest); older ones "
                                 "leave it. Open connections and the selected one always stay. "
                                 "A recording (File → Record trace) keeps every connection.")
        self.keep_label.setToolTip(self.keep_box.toolTip())
        self.keep_label.setBuddy(self.keep_box)
        self.keep_box.valueChanged.connect(self._keep_changed)
        self.settings: QSettings | None = None
        #: "N older closed connections not shown": hidden until some left the list.
        self.dropped_label = named(QLabel(), "connections.dropped")
        self.dropped_label.setWordWrap(True)
        self.dropped_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        # Only when attached to processes (inspector attach): which one each row came from.
        self.processes = ProcessChoice("connections.process", self.table, PROCESS_COLUMN, self._filters_changed)
        self.process_box = self.processes.box
        bar = filter_bar(self.process_box, self.protocol_box, self.state_box, search=self.text_edit)
        bar.addWidget(self.clear_button)
        bar.addWidget(self.keep_label)
        bar.addWidget(self.keep_box)
        layout.addLayout(bar)
        layout.addWidget(self.dropped_label)
        layout.addWidget(self.table)
        self._protocols: set[str] = set()
        self.selected: int | None = None
        self._dropped_shown = -1
        self.processes.sync(store)
        self._apply_limit(store)
        self._show_empty()

    def use_settings(self, settings: QSettings) -> None:
        """Read the "Keep closed" value from ``settings`` and write it back when changed."""
        self.settings = settings
        saved = settings.value(self.KEEP_CLOSED_KEY)
        try:
            value = int(str(saved)) if saved is not None else CLOSED_LIMIT
        except ValueError:
            value = CLOSED_LIMIT  # a hand-edited file: the default, not an error at start
        self.keep_box.setValue(value)

    def _keep_changed(self, value: int) -> None:
        if self.settings is not None:
            self.settings.setValue(self.KEEP_CLOSED_KEY, value)
        self._apply_limit(self.model.store)

    def _apply_limit(self, store: Store) -> None:
        """A live store keeps the newest "Keep closed" closed connections; a recording's
        store (``closed_limit`` None) keeps every one and is left so."""
        live = store.closed_limit is not None
        if live:
            store.closed_limit = self.keep_box.value()
        # A recording keeps every connection: the box says so by being off.
        self.keep_box.setEnabled(live)
        self.keep_label.setEnabled(live)

    def _show_dropped(self) -> None:
        store = self.model.store
        dropped = store.closed_dropped
        if dropped == self._dropped_shown:
            return
        self._dropped_shown = dropped
        if not dropped:
            self.dropped_label.hide()
            return
        self.dropped_label.setText(
            f"{dropped:,} older closed connection{'s' if dropped != 1 else ''} not shown: the list keeps "
            f"the newest {store.closed_limit or 0:,} closed (Keep closed), every open one and the selected one."
        )
        self.dropped_label.show()

    def set_store(self, store: Store) -> None:
        """Show another store's connections."""
        self._apply_limit(store)
        self.model.set_store(store)
        self.selected = None
        store.pinned = None
        self._protocols.clear()
        while self.protocol_box.count() > 1:
            self.protocol_box.removeItem(1)
        self._add_protocols()
        self.processes.sync(store)
        self._show_empty()

    def refresh(self) -> None:
        """Apply the store's changes since the last refresh."""
        self.model.refresh()
        self._show_dropped()
        if self.model.store.new_connections:
            self._add_protocols(new_only=True)
            self._fit_ids(max(self.model.store.new_connections))
        if self.processes.changed(self.model.store):
            self.processes.sync(self.model.store)
        self._show_empty()

    def _show_empty(self) -> None:
        """Say why the table is empty, if it is; hide the note once a row shows."""
        if self.proxy.rowCount():
            if self.empty_label.isVisible():
                self.empty_label.hide()
            return
        if self.model.store.connections:
            text = "No connection matches the filters."
        else:
            text = ("No connections yet.\nStart a server or a client in the Launcher (Ctrl+Return), "
                    "run the demo (Ctrl+D), or open a recording (File → Open recording…).")
        if self.empty_label.text() != text:
            self.empty_label.setText(text)
        self.empty_label.setGeometry(self.table.viewport().rect().adjusted(24, 0, -24, 0))
        self.empty_label.show()

    def _fit_ids(self, newest: int) -> None:
        """Widen the ID column to show ``newest`` whole: ids grow past what its first width
        holds (a churn reaches six digits, an attached process's ids ten), and "206…"
        names no connection. A column the person sized is left alone."""
        if newest <= self._widest_id or self._id_sized_by_hand:
            return
        self._widest_id = newest
        header = self.table.horizontalHeader()
        # The digits, the cell's margins and the header's sort arrow.
        needed = self.table.fontMetrics().horizontalAdvance(str(newest)) + 30
        if needed > header.sectionSize(0):
            self._sizing_id = True
            try:
                header.resizeSection(0, needed)
            finally:
                self._sizing_id = False

    def _section_resized(self, column: int, _old: int, _new: int) -> None:
        """Note a person dragging the ID column's edge (a mouse button is down), not the
        window's own resizing."""
        if column == 0 and not self._sizing_id and QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            self._id_sized_by_hand = True

    def clear_closed(self) -> None:
        """Drop closed and failed connections from the store and the list."""
        gone = self.model.store.remove_closed()
        if not gone:
            return
        if self.selected in gone:
            self.selected = None
            self.model.store.pinned = None
        self.model.set_store(self.model.store)
        self._show_dropped()
        self._show_empty()
        if self.selected is not None:
            self.select_connection(self.selected)
        self.connections_cleared.emit(gone)

    def refilter(self) -> None:
        """Re-apply the filters (the selected time range moved)."""
        self.model.apply_filters()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Before the table paints, write the missing cells of the rows it shows."""
        if self.model.lazy_rows and event.type() == QEvent.Type.Paint:
            self.model.fill(self.visible_rows())
        elif event.type() == QEvent.Type.Resize and self.empty_label.isVisible():
            self.empty_label.setGeometry(self.table.viewport().rect().adjusted(24, 0, -24, 0))
        return False

    def visible_rows(self) -> list[int]:
        """Rows of the model's items the table shows now (top to bottom)."""
        proxy = self.proxy
        count = proxy.rowCount()
        if count == 0:
            return []
        top = self.table.rowAt(0)
        bottom = self.table.rowAt(self.table.viewport().height() - 1)
        top = 0 if top < 0 else top
        bottom = count - 1 if bottom < 0 else bottom
        return [proxy.mapToSource(proxy.index(row, 0)).row() for row in range(top, bottom + 1)]

    def _sort_changed(self, column: int, _order: Qt.SortOrder) -> None:
        self.model.sort_by(column)
        self.model.refresh_visible()

    def _add_protocols(self, new_only: bool = False) -> None:
        """Offer every protocol seen in the protocol filter (from the new rows alone when
        ``new_only``: looking through all 10,000 on every refresh costs a frame)."""
        store = self.model.store
        connections = store.connections
        if new_only:  # new rows, and rows whose protocol was learnt late (claimed by a launch)
            ids = set(store.new_connections) | store.changed_connections
            conns: Any = [connections[cid] for cid in ids if cid in connections]
        else:
            conns = connections.values()
        for conn in conns:
            if conn.protocol and conn.protocol not in self._protocols:
                self._protocols.add(conn.protocol)
                self.protocol_box.addItem(conn.protocol, conn.protocol)

    def _filters_changed(self) -> None:
        self.model.filter.set(
            process=self.processes.current,
            protocol=self.protocol_box.currentData() or "",
            state=self.state_box.currentData() or "",
            text=self.text_edit.text(),
        )
        self.model.apply_filters()
        self.model.refresh_visible()
        self._show_empty()

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            conn_id = self.model.connection(self.proxy.mapToSource(rows[0]).row()).id
            if conn_id != self.selected:
                self.selected = conn_id
                self.model.store.pinned = conn_id  # kept in the list however old it gets
                self.connection_selected.emit(conn_id)

    def _context_menu(self, position: QPoint) -> None:
        """Right-click on a row (or the menu key): select it and offer Decode as… (the menu
        does not block the loop)."""
        index = self.table.indexAt(position)
        if not index.isValid():  # the menu key: the current row
            index = self.table.currentIndex()
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        conn_id = self.model.connection(self.proxy.mapToSource(index).row()).id
        menu = QMenu(self)
        menu.setObjectName("connections.menu")
        add_decode_actions(menu, self.decoding_of(conn_id),
                           lambda name: self.decode_requested.emit(conn_id, name or ""))
        menu.aboutToHide.connect(menu.deleteLater)
        self.context_menu = menu
        menu.popup(self.table.viewport().mapToGlobal(position))

    def select_connection(self, conn_id: int) -> None:
        """Select the row of connection ``conn_id`` (if shown)."""
        row = self.model.row_of(conn_id)
        if row is None:
            return
        index = self.proxy.mapFromSource(self.model.items.index(row, 0))
        if index.isValid():
            self.table.selectRow(index.row())
            self.table.scrollTo(index)
