"""The connections table: a model over the store's connections and its filter proxy.

The model never emits one signal per trace event: :meth:`ConnectionsModel.refresh`
runs once per window refresh and turns the store's "new" and "changed" lists into one
``rowsInserted`` and one ``dataChanged`` for the span that changed.

Painting must not call into Python: a Python subclass of a Qt model is asked (through
the binding) about every cell and role of every repaint. So the cells live in a plain
``QStandardItemModel`` behind a plain ``QSortFilterProxyModel``; Python writes changed
cells and a per-row "passes the filters" flag, and Qt does the sorting, filtering and
painting on its own.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QStandardItemModel

from inspector.states import ConnectionState
from inspector.ui.models.table import catch_up_period, row_runs
from inspector.ui.viewmodel.connections import (
    AGE_COLUMN,
    COLUMNS,
    LINK_COLUMN,
    NUMERIC_COLUMNS,
    PROCESS_COLUMN,
    REASON_COLUMN,
    STATE_COLUMN,
    ConnectionsFilter,
    cell_text,
    row_texts,
    sort_key,
)
from inspector.ui.viewmodel.processes import process_of
from inspector.ui.viewmodel.store import Connection, Store

__all__ = ["COLUMNS", "STATE_COLUMN", "AGE_COLUMN", "ConnectionsFilter", "ConnectionsModel", "STATE_COLOURS"]

#: Seconds between repaints of changed rows (new rows appear at once).
REPAINT_INTERVAL = 0.1
#: Seconds of rewriting changed rows per refresh at most; the rest waits for the next one.
REWRITE_BUDGET = 0.008
#: Seconds of listing new connections per refresh at most (estimated from what rows cost
#: so far); the rest are listed by the next refreshes, in order.
INSERT_BUDGET = 0.006
#: Seconds a catch-up spends listing new rows, and again rewriting changed ones, at
#: most while a recording loads (the one as it ends lists and rewrites everything).
LOADING_BUDGET = 0.06
#: Runs of free rows taken out of the table per refresh at most (each is one signal
#: the proxy and the view answer over all their rows); the rest on a later refresh.
REMOVE_RUNS = 32
#: Rows listed from this row on get only the cells the proxy sorts and filters by (the
#: id, the sort column); the rest of a row's cells are written when it is first shown.
#: Writing every cell of a 68,000-row recording's rows took a third of its loading, and
#: a quarter of each refresh under a live churn; a table this short is written whole.
LAZY_FROM = 1000

#: Role returning the raw value a numeric column sorts by.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: Role of the first cell saying whether the row passes the filters ("1") or not ("0").
FILTER_ROLE = Qt.ItemDataRole.UserRole + 3
_PASS, _FAIL = "1", "0"
_GONE = "-"  # a free row: its connection left the list (fails every filter)

#: Translucent state tints: readable on light and dark palettes alike.
STATE_COLOURS: dict[str, QColor] = {
    ConnectionState.CONNECTING: QColor(230, 170, 30, 90),
    ConnectionState.CONNECTED: QColor(40, 170, 70, 90),
    ConnectionState.HALF_CLOSED: QColor(60, 140, 220, 90),
    ConnectionState.CLOSING: QColor(230, 120, 30, 90),
    ConnectionState.CLOSED: QColor(128, 128, 128, 60),
    ConnectionState.FAILED: QColor(220, 50, 50, 110),
}

_NUMERIC = NUMERIC_COLUMNS
#: Columns whose sort value never changes while their text may (the id; the age sorts by
#: when the connection opened).
_FIXED_SORT = frozenset((0, AGE_COLUMN))
#: Columns empty in most rows (hidden until attached or proxied): a new row's empty cell
#: there is left unwritten.
_MOSTLY_EMPTY = frozenset((PROCESS_COLUMN, LINK_COLUMN))
_COLUMN_COUNT = len(COLUMNS)
#: The shown texts of a row whose cells may hold anything (a lazy row's unwritten ones):
#: unlike any text, so every cell is written.
_UNKNOWN = ("\0",) * _COLUMN_COUNT
RATE_COLUMN = 8
#: Columns whose cells hold their text alone (no sort value, colour or tooltip).
_TEXT_COLUMNS = (1, 2, 3, 4)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_RIGHT_VALUE = _RIGHT.value
_DISPLAY = Qt.ItemDataRole.DisplayRole
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole
_BACKGROUND = Qt.ItemDataRole.BackgroundRole
_TOOLTIP = Qt.ItemDataRole.ToolTipRole


class ConnectionsModel:
    """Rows are connections in the order they opened; columns are :data:`COLUMNS`.

    ``items`` holds the cells (Qt's storage) and ``proxy`` sorts and filters them for
    the view. Python writes only the cells that changed, once per refresh, with
    signals held back and then announced as one ``dataChanged`` for the span.
    """

    def __init__(self, store: Store, parent: Any = None) -> None:
        self.items = QStandardItemModel(0, _COLUMN_COUNT, parent)
        self.items.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = QSortFilterProxyModel(parent)
        self.proxy.setSourceModel(self.items)
        self.proxy.setFilterRole(FILTER_ROLE)
        self.proxy.setFilterKeyColumn(0)
        self.proxy.setFilterFixedString(_PASS)
        self.proxy.setDynamicSortFilter(True)
        #: Whether each row's every cell is written (else only the :attr:`_keyed` ones).
        self._full: list[bool] = []
        #: Rows whose cells are not all written yet (see :data:`LAZY_FROM`).
        self.lazy_rows = 0
        #: Columns written in every row, lazy or not: the id (with the filter flag) and
        #: the columns the table was sorted by.
        self._keyed: set[int] = {0}
        self.sort_by(0)
        self.filter = ConnectionsFilter()
        self.store = store
        self._rows: list[Connection] = []
        self._row_of: dict[int, int] = {}
        self._shown: list[tuple[str, ...]] = []  # the texts each row's cells hold
        self._states: list[str] = []
        self._flags: list[str] = []  # each row's FILTER_ROLE flag, as its first cell holds it
        #: Rows of :attr:`items` the view shows now (None: all); the panel sets it.
        self.visible_rows: Callable[[], Iterable[int]] | None = None
        self._pending: set[int] = set()
        #: Rows whose connection the store let go of: hidden until reused or taken out.
        self._free: list[int] = []
        #: New connections still to be listed (a refresh lists what its budget allows).
        self._waiting: list[int] = []
        #: Seconds a new row has cost, smoothed (0 until measured).
        self._row_cost = 0.0
        #: New connections per refresh, smoothed.
        self._arrivals = 0.0
        self._last_emit = 0.0
        self._last_age_refresh = 0.0
        #: New connections taken in since the last refresh that listed rows.
        self._arrived = 0
        #: Ids of connections that changed since the table last caught up.
        self._changed: set[int] = set()
        #: When the table last caught up with the store (monotonic seconds).
        self._last_catch_up = -1
        #: Whether the store was loading at the last catch-up (its end lists everything).
        self._was_loading = False

    def set_store(self, store: Store) -> None:
        """Show another store (a loaded recording, or a fresh live session)."""
        self.items.setRowCount(0)
        self.store = store
        self._rows, self._row_of, self._shown, self._states, self._flags = [], {}, [], [], []
        self._full = []
        self.lazy_rows = 0
        self.filter.forget(list(self.filter._haystacks))
        self._pending.clear()
        self._free = []
        self._waiting = []
        self._changed.clear()
        self._arrived = 0
        self._was_loading = False
        self._append([store.connections[i] for i in store.order])

    def _append(self, conns: list[Connection], lazy: bool = False) -> None:
        """List ``conns`` below the other rows; ``lazy`` (listed by a refresh): those from
        row :data:`LAZY_FROM` on get only their :attr:`_keyed` cells for now."""
        if not conns:
            return
        first = len(self._rows)
        for offset, conn in enumerate(conns):
            # Python's side first: the proxy asks about the new rows as soon as they exist.
            self._row_of[conn.id] = first + offset
            self._rows.append(conn)
        self._shown.extend([()] * len(conns))
        self._states.extend([""] * len(conns))
        self._flags.extend([_FAIL] * len(conns))
        self._full.extend([True] * len(conns))
        self.items.insertRows(first, len(conns))  # one rowsInserted for the batch
        split = max(first, LAZY_FROM) if lazy else first + len(conns)
        self._write(range(first, min(split, first + len(conns))))
        if split < first + len(conns):
            self._write_keys(range(split, first + len(conns)))
        # ... and one dataChanged for their cells (the proxy sorts and filters them then).
        self._announce(list(range(first, first + len(conns))), _COLUMN_COUNT - 1)

    def _write(self, rows: Iterable[int]) -> None:
        """Write every cell of ``rows`` (new, or taken over by another connection), signals
        held back: the caller announces them.

        Cells are made by Qt (setData on an empty cell), never as Python QStandardItems:
        each of those keeps a Python wrapper alive, which more than doubled the memory of a
        68,000-row table (12 KiB a row, 4 KiB without).
        """
        items = self.items
        index, set_data, set_item_data = items.index, items.setData, items.setItemData
        texts_of, flag_of = self._texts_of, self._flag
        conns, shown, states, flags = self._rows, self._shown, self._states, self._flags
        colours = STATE_COLOURS
        display, sort, align, right, background, tooltip = (
            _DISPLAY, SORT_ROLE, _ALIGNMENT, _RIGHT_VALUE, _BACKGROUND, _TOOLTIP)
        items.blockSignals(True)
        try:
            # Straight-line per row (a loop over the columns with a test per cell cost a
            # third of a row): the sort values are those of sort_key, column by column.
            for row in rows:
                conn = conns[row]
                old = shown[row]  # () for a new row: its cells are empty
                texts = shown[row] = texts_of(conn)
                states[row] = conn.state
                flag = flags[row] = flag_of(conn)
                set_item_data(index(row, 0), {display: texts[0], sort: conn.id, align: right, FILTER_ROLE: flag})
                for column in _TEXT_COLUMNS:
                    set_data(index(row, column), texts[column])
                set_item_data(index(row, STATE_COLUMN), {display: texts[STATE_COLUMN],
                                                         background: colours.get(conn.state)})
                set_item_data(index(row, 6), {display: texts[6], sort: conn.bytes_in, align: right})
                set_item_data(index(row, 7), {display: texts[7], sort: conn.bytes_out, align: right})
                set_item_data(index(row, 8), {display: texts[8], sort: conn.rate, align: right})
                set_item_data(index(row, AGE_COLUMN), {display: texts[AGE_COLUMN], sort: -conn.opened_at,
                                                       align: right})
                set_item_data(index(row, 10), {display: texts[10], sort: -conn.last_activity, align: right})
                reason = texts[REASON_COLUMN]
                if reason or (old and old[REASON_COLUMN]):  # an open connection's is empty
                    set_item_data(index(row, REASON_COLUMN), {display: reason, tooltip: reason or None})
                for column in _MOSTLY_EMPTY:
                    if texts[column] or (old and old[column]):
                        set_data(index(row, column), texts[column])
        finally:
            items.blockSignals(False)

    def _put(self, row: int, column: int, conn: Connection, texts: tuple[str, ...], state: str,
             key_only: bool = False) -> None:
        """Write one cell of ``row`` as :meth:`_write` does (signals held back by the caller);
        ``key_only``: a numeric cell gets its sort value alone (a lazy row's)."""
        items = self.items
        cell = items.index(row, column)
        if key_only and column in _NUMERIC and column:
            items.setData(cell, self._sort_key(conn, column), SORT_ROLE)
            return
        text = texts[column]
        if column == 0:
            items.setItemData(cell, {_DISPLAY: text, SORT_ROLE: conn.id, _ALIGNMENT: _RIGHT_VALUE,
                                     FILTER_ROLE: self._flags[row]})
        elif column == STATE_COLUMN:
            items.setItemData(cell, {_DISPLAY: text, _BACKGROUND: STATE_COLOURS.get(state)})
        elif column in _NUMERIC:
            items.setItemData(cell, {_DISPLAY: text, SORT_ROLE: self._sort_key(conn, column),
                                     _ALIGNMENT: _RIGHT_VALUE})
        elif column == REASON_COLUMN:
            if text or items.data(cell) is not None:
                items.setItemData(cell, {_DISPLAY: text, _TOOLTIP: text or None})
        elif text or items.data(cell) is not None:
            items.setData(cell, text)

    def _write_keys(self, rows: Iterable[int]) -> None:
        """Write only the :attr:`_keyed` cells of new ``rows`` (what the proxy sorts and
        filters by); :meth:`fill` writes the others when the rows are shown."""
        conns, shown, states, flags, full = self._rows, self._shown, self._states, self._flags, self._full
        texts_of, flag_of, put = self._lazy_texts, self._flag, self._put
        keyed = sorted(self._keyed)
        # The usual case, a recording loading: only the id keyed and no filter set (a
        # third of a row's cost was working out empty texts and a verdict every row passes).
        if keyed == [0]:
            empty = ("",) * (_COLUMN_COUNT - 1)

            def texts_of(conn: Connection) -> tuple[str, ...]:
                return (str(conn.id), *empty)
        if self.filter.passes_all(self.store):
            def flag_of(conn: Connection) -> str:
                return _PASS
        self.items.blockSignals(True)
        try:
            for row in rows:
                conn = conns[row]
                texts = shown[row] = texts_of(conn)
                state = states[row] = conn.state
                flags[row] = flag_of(conn)
                if full[row]:
                    full[row] = False
                    self.lazy_rows += 1
                for column in keyed:
                    put(row, column, conn, texts, state, True)
        finally:
            self.items.blockSignals(False)

    def fill(self, rows: Iterable[int]) -> None:
        """Write the missing cells of those of ``rows`` (of :attr:`items`) that have only
        their :attr:`_keyed` ones; no signal: the view is about to paint them, and what
        the proxy sorts and filters by (the keyed cells, as last announced) stays."""
        if not self.lazy_rows:
            return
        conns, shown, states, full = self._rows, self._shown, self._states, self._full
        count = len(conns)
        keyed = self._keyed
        others = [column for column in range(_COLUMN_COUNT) if column not in keyed]
        # Keyed numeric cells hold their sort value alone until now: their text too.
        numbers = [column for column in keyed if column and column in _NUMERIC]
        items = self.items
        put = self._put
        self.items.blockSignals(True)
        try:
            for row in rows:
                if 0 <= row < count and not full[row]:
                    full[row] = True
                    self.lazy_rows -= 1
                    conn, old = conns[row], shown[row]
                    texts = self._texts_of(conn)
                    state = states[row] = conn.state
                    for column in others:
                        put(row, column, conn, texts, state)
                    for column in numbers:
                        items.setItemData(items.index(row, column), {_DISPLAY: texts[column], _ALIGNMENT: _RIGHT_VALUE})
                    # The keyed texts stay as announced: a change since is found and
                    # announced by the next rewrite of the row.
                    shown[row] = tuple(old[column] if column in keyed else text
                                       for column, text in enumerate(texts))
        finally:
            self.items.blockSignals(False)

    def _key_column(self, column: int) -> None:
        """Write ``column`` into every lazy row (the table is about to sort by it)."""
        if column in self._keyed or not 0 <= column < _COLUMN_COUNT:
            return
        self._keyed.add(column)
        if not self.lazy_rows:
            return
        conns, shown, states, full, put = self._rows, self._shown, self._states, self._full, self._put
        self.items.blockSignals(True)
        try:
            for row in range(len(conns)):
                if not full[row]:
                    conn = conns[row]
                    texts = list(shown[row])
                    texts[column] = self._lazy_cell(conn, column)
                    shown[row] = tuple(texts)
                    put(row, column, conn, shown[row], states[row], True)
        finally:
            self.items.blockSignals(False)

    def refresh(self) -> None:
        """Apply what changed in the store since the last refresh, in one batch.

        Ages grow by themselves: once a second they are rewritten in the rows the view
        shows (:attr:`visible_rows`), not in all of them; a row scrolled into view is
        rewritten then (:meth:`refresh_visible`). Sorting by age needs no rewrite: it
        sorts by when the connection opened or was last active.
        """
        store = self.store
        # What the store says changed is taken in on every refresh (the window forgets
        # it after each one), even when the table catches up only later.
        self._waiting.extend(store.new_connections)
        self._arrived += len(store.new_connections)
        self._changed.update(store.changed_connections)
        if store.loading and not store.removed_connections and self._rows:
            # A recording loads: rows are listed and rewritten a couple of times a second,
            # many at once (one insert, one sort of the new rows), not a few per refresh.
            # The first rows show at once; the rest when the loading ends.
            if catch_up_period() == self._last_catch_up:
                return
        # While loading, and once when it ends, everything that waits is listed and
        # rewritten (the catch-ups are rare, and the load must end with every row right).
        catch_up = store.loading or self._was_loading
        ending = self._was_loading and not store.loading
        self._was_loading = store.loading
        self._last_catch_up = catch_up_period()
        if store.removed_connections:
            self._release(store.removed_connections)
            # Hidden first: a row the proxy lists must never get another connection's sort
            # value under it (it re-sorts a row by comparing with its neighbours, which may
            # have changed too); a hidden row taken over is inserted where it belongs.
            self._hide_free()
        new = self._due_rows(catch_up, ending)
        start = time.perf_counter()
        if self._free:
            new = self._take_over(new)
        first_new = len(self._rows)
        self._append(new, lazy=True)
        if len(self._rows) + len(self._free) > 0 and (count := len(new)) >= 16:
            # What a new row costs (writing its cells, the proxy sorting it in), smoothed.
            per_row = (time.perf_counter() - start) / count
            self._row_cost = per_row if not self._row_cost else 0.7 * self._row_cost + 0.3 * per_row
        if self._free and len(self._free) * 4 >= max(len(self._rows), 1024):
            self._compact()
        pending = self._pending
        row_of = self._row_of
        for cid in self._changed:
            row = row_of.get(cid)
            if row is not None and row < first_new:  # rows appended just now are up to date
                pending.add(row)
        self._changed.clear()
        if self._rows and store.now - self._last_age_refresh >= 1.0:
            self._last_age_refresh = store.now
            pending.update(self._visible())
        # Counters change many times a second; rewriting them ~10 times a second reads
        # just as live and costs a third of the repaints.
        now = time.monotonic()
        if pending and (now - self._last_emit >= REPAINT_INTERVAL or catch_up):
            self._last_emit = now
            rows = sorted(pending)
            pending.clear()
            budget = LOADING_BUDGET if catch_up else REWRITE_BUDGET
            done = self._rewrite(rows, deadline=None if ending else time.perf_counter() + budget)
            pending.update(rows[done:])  # the rest waits for the next refresh

    def _due_rows(self, loading: bool = False, ending: bool = False) -> list[Connection]:
        """The new connections to list in this refresh: as many as :data:`INSERT_BUDGET`
        allows at the cost rows had so far (all of them before that is known), and never
        fewer than usually arrive; the rest wait, in order, for the next refreshes.

        A catch-up while a recording loads (``loading``) lists what :data:`LOADING_BUDGET`
        allows, the one as its loading ends (``ending``) every waiting one."""
        store = self.store
        connections, row_of = store.connections, self._row_of
        waiting = self._waiting
        arrived, self._arrived = self._arrived, 0
        room = len(waiting)
        self._arrivals += 0.5 * (arrived - self._arrivals)
        if ending:
            pass
        elif loading:
            if self._row_cost:
                # What arrived since the last catch-up, so no backlog builds up for the
                # end; a backlog (a slow first catch-up) is worked off a budget at a time.
                room = max(64, arrived, int(LOADING_BUDGET / self._row_cost))
        elif self._row_cost:
            # A quarter more than what usually arrives, and a quarter of what waits: the
            # budget spreads a burst over the next refreshes, but the list catches up.
            room = max(64, int(1.25 * self._arrivals) + 1, room // 4, int(INSERT_BUDGET / self._row_cost))
        due = [connections[cid] for cid in waiting[:room] if cid in connections and cid not in row_of]
        del waiting[:room]
        return due

    def _release(self, gone: list[int]) -> None:
        """Rows of connections the store let go of become free: taken over by new
        connections in this refresh, else hidden (their flag fails every filter) and
        taken out of the table now and then. Taking rows out of the top of a 10,000-row
        table costs the table, its proxy and its view a pass over every row each time;
        writing a new connection into a free row costs what one new row does."""
        row_of, pending = self._row_of, self._pending
        free = self._free
        for cid in gone:
            row = row_of.pop(cid, None)
            if row is not None:
                free.append(row)
                pending.discard(row)
        self.filter.forget(gone)

    def _take_over(self, new: list[Connection]) -> list[Connection]:
        """Write the first of ``new`` into free rows (lowest first); return the rest."""
        free = self._free
        free.sort(reverse=True)
        count = min(len(free), len(new))
        rows = [free.pop() for _ in range(count)]
        for row, conn in zip(rows, new):
            self._rows[row] = conn
            self._row_of[conn.id] = row
            if not self._full[row] and row < LAZY_FROM:
                self._full[row] = True
                self.lazy_rows -= 1
                # Its unkeyed cells may hold an earlier connection's texts, not "" as its
                # shown texts say: _write must rewrite even the cells it skips when empty.
                self._shown[row] = _UNKNOWN
        self._write([row for row in rows if row < LAZY_FROM])
        # A row further down gets its keyed cells now, the others when it is painted (it
        # shows the connection it had until then only where no view looks).
        self._write_keys([row for row in rows if row >= LAZY_FROM])
        self._announce(sorted(rows), _COLUMN_COUNT - 1)
        return new[count:]

    def _hide_free(self) -> None:
        """Hide the free rows (their flag fails every filter); once they are a quarter of
        the table, :meth:`_compact` takes them out."""
        items, flags = self.items, self._flags
        hidden: list[int] = []
        items.blockSignals(True)
        try:
            for row in self._free:
                if flags[row] != _GONE:
                    flags[row] = _GONE
                    items.setData(items.index(row, 0), _GONE, FILTER_ROLE)
                    hidden.append(row)
        finally:
            items.blockSignals(False)
        self._announce(sorted(hidden), 0)

    def _compact(self) -> None:
        """Take free rows out of the table, the topmost :data:`REMOVE_RUNS` runs of them."""
        rows = sorted(self._free, reverse=True)
        runs: list[tuple[int, int]] = []  # (first, last), from the bottom up
        last = prev = rows[0]
        for row in rows[1:]:
            if row != prev - 1:
                runs.append((prev, last))
                last = row
            prev = row
        runs.append((prev, last))
        now = runs[-REMOVE_RUNS:]  # the rest stay hidden until a later compaction
        conns = self._rows
        pending_ids = {conns[row].id for row in self._pending}
        items = self.items
        for first, last in now:  # bottom-up, so the rows above keep their numbers
            items.removeRows(first, last - first + 1)
            del conns[first:last + 1], self._shown[first:last + 1]
            del self._states[first:last + 1], self._flags[first:last + 1]
            self.lazy_rows -= self._full[first:last + 1].count(False)
            del self._full[first:last + 1]
        top = now[-1][0]
        shift = 0
        self._free = []
        for first, last in reversed(runs):  # top-down: rows below a removed run move up
            if (first, last) in now:
                shift += last - first + 1
            else:
                self._free.extend(range(first - shift, last - shift + 1))
        row_of = self._row_of
        free = set(self._free)
        for row in range(top, len(conns)):
            if row not in free:
                row_of[conns[row].id] = row
        self._pending = {row_of[cid] for cid in pending_ids if cid in row_of}

    def _visible(self) -> Iterable[int]:
        rows = self.visible_rows() if self.visible_rows is not None else range(len(self._rows))
        count = len(self._rows)
        return [row for row in rows if 0 <= row < count]

    def refresh_visible(self) -> None:
        """Rewrite the rows the view shows now (scrolled to, sorted or filtered into view)."""
        rows = sorted(self._visible())
        if rows:
            self.fill(rows)
            self._rewrite(rows)

    def _rewrite(self, rows: Any, deadline: float | None = None) -> int:
        """Rewrite the cells of ``rows`` that changed; with a ``deadline`` (perf_counter
        seconds) stop there; return how many of ``rows`` were looked at."""
        changed: list[int] = []
        items = self.items
        index, set_data = items.index, items.setData
        row_of = self._row_of
        sort_column = self.proxy.sortColumn()
        if not 0 <= sort_column < _COLUMN_COUNT:
            sort_column = 0
        resorted = False
        looked = 0
        items.blockSignals(True)
        try:
            for row in rows:
                looked += 1
                if deadline is not None and looked % 64 == 0 and time.perf_counter() > deadline:
                    looked -= 1
                    break
                conn = self._rows[row]
                if row_of.get(conn.id) != row:
                    continue  # a free row (its connection left the list)
                full = self._full[row]
                texts = self._texts_of(conn) if full else self._lazy_texts(conn)
                old = self._shown[row]
                flag = self._flag(conn)
                if flag != self._flags[row]:
                    self._flags[row] = flag
                    set_data(index(row, 0), flag, FILTER_ROLE)
                elif texts == old:
                    continue
                changed.append(row)
                if texts[sort_column] != old[sort_column] and sort_column not in _FIXED_SORT:
                    resorted = True
                self._shown[row] = texts
                if not full:  # only its keyed cells are written
                    state = self._states[row] = conn.state
                    for column in self._keyed:
                        if column and texts[column] != old[column]:
                            self._put(row, column, conn, texts, state, True)
                    continue
                for column in range(_COLUMN_COUNT):
                    if texts[column] != old[column]:
                        cell = index(row, column)
                        set_data(cell, texts[column])
                        if column in _NUMERIC:
                            set_data(cell, self._sort_key(conn, column), SORT_ROLE)
                if conn.state != self._states[row]:
                    self._states[row] = conn.state
                    set_data(index(row, STATE_COLUMN), STATE_COLOURS.get(conn.state), _BACKGROUND)
                if conn.close_reason and conn.close_reason != old[REASON_COLUMN]:
                    set_data(index(row, REASON_COLUMN), conn.close_reason, _TOOLTIP)
        finally:
            items.blockSignals(False)
        if resorted and len(changed) > 1:
            # Rows whose sort value changed: one span, so the proxy takes them all out
            # and puts them back in order; one signal each would re-sort each against
            # neighbours still in their old places (and could leave rows out of order).
            self._announce_span(changed, _COLUMN_COUNT - 1)
        else:
            self._announce(changed, _COLUMN_COUNT - 1)
        return looked

    def _announce_span(self, rows: list[int], last_column: int) -> None:
        """One dataChanged from the first to the last of ``rows`` (ascending)."""
        items = self.items
        items.dataChanged.emit(items.index(rows[0], 0), items.index(rows[-1], last_column))

    def _announce(self, rows: list[int], last_column: int) -> None:
        """One dataChanged per run of consecutive rows (ascending), so the proxy looks at
        the rows that changed rather than at every row between the first and the last."""
        if not rows:
            return
        items = self.items
        runs = row_runs(rows)
        if len(runs) > 64:  # scattered: one span costs the proxy less than many signals
            runs = [(rows[0], rows[-1])]
        for first, last in runs:
            items.dataChanged.emit(items.index(first, 0), items.index(last, last_column))

    def sort_by(self, column: int) -> None:
        """Sort numbers (id, bytes, rate, ages) by value and the other columns by text.

        Called before the view sorts by ``column``: a change of sort role makes the proxy
        re-sort at once by the column it sorted by so far, so it first goes back to the
        rows' own order (cheap), and the view's sort is the only one over all the rows.
        """
        self._key_column(column)
        role = SORT_ROLE if column in _NUMERIC else Qt.ItemDataRole.DisplayRole
        if role != self.proxy.sortRole():
            self.proxy.sort(-1)
            self.proxy.setSortRole(role)

    def _flag(self, conn: Connection) -> str:
        return _PASS if self.filter.accepts(conn, self.store) else _FAIL

    def apply_filters(self) -> None:
        """Re-decide which rows pass the filters (they or the time range changed).

        Only the pass/fail flags of rows whose verdict changed are written, and the proxy
        is told of those rows alone: a keystroke in the search box over 10,000 rows stays
        within a frame.
        """
        flags = self._flags
        items = self.items
        changed: list[int] = []
        if self.filter.passes_all(self.store):
            verdicts: Any = (_PASS for _ in self._rows)
        else:
            accepts, store = self.filter.accepts, self.store
            verdicts = (_PASS if accepts(conn, store) else _FAIL for conn in self._rows)
        items.blockSignals(True)
        try:
            for row, flag in enumerate(verdicts):
                if flag != flags[row] and flags[row] != _GONE:
                    flags[row] = flag
                    items.setData(items.index(row, 0), flag, FILTER_ROLE)
                    changed.append(row)
        finally:
            items.blockSignals(False)
        self._announce(changed, 0)

    def connection(self, row: int) -> Connection:
        """Return the connection in ``row`` of :attr:`items`."""
        return self._rows[row]

    def row_of(self, conn_id: int) -> int | None:
        """Return the row showing connection ``conn_id``, if any."""
        return self._row_of.get(conn_id)

    def _lazy_texts(self, conn: Connection) -> tuple[str, ...]:
        """``conn``'s row texts as a lazy row keeps them: its :attr:`_keyed` cells' alone
        (the others ""; see :meth:`_lazy_cell`)."""
        texts = [""] * _COLUMN_COUNT
        for column in self._keyed:
            texts[column] = self._lazy_cell(conn, column)
        return tuple(texts)

    def _lazy_cell(self, conn: Connection, column: int) -> str:
        """What a lazy row keeps of a keyed cell: a numeric one's sort value (the cell holds
        that alone), another's text."""
        if column and column in _NUMERIC:
            return str(self._sort_key(conn, column))
        return self._cell(conn, column)

    def _cell(self, conn: Connection, column: int) -> str:
        """The text of one cell of ``conn``'s row, as :meth:`_texts_of` words it."""
        if column == 0:
            return str(conn.id)
        if column == RATE_COLUMN:
            return cell_text(conn, column, self.store.now) if conn.rate else ""
        if column == PROCESS_COLUMN:
            return process_of(self.store, conn.id)
        return cell_text(conn, column, self.store.now)

    def _texts_of(self, conn: Connection) -> tuple[str, ...]:
        return row_texts(conn, self.store.now, process_of(self.store, conn.id))

    def _sort_key(self, conn: Connection, column: int) -> Any:
        return sort_key(conn, column, self.store.now)
