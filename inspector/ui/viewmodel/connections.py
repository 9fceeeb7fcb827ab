"""What the connections table says about each connection, and which rows it lists.

Plain Python over the store's :class:`~inspector.ui.viewmodel.store.Connection` rows:
the text of every cell, the value each column sorts by, and the filter bar's rules.
The Qt model (:mod:`inspector.ui.models.connections`) only copies these into its cells.
"""

from __future__ import annotations

from typing import Any, Iterable

from inspector.ui.viewmodel import format as fmt
from inspector.ui.viewmodel.processes import process_of
from inspector.ui.viewmodel.store import Connection, Store

__all__ = ["COLUMNS", "STATE_COLUMN", "AGE_COLUMN", "REASON_COLUMN", "PROCESS_COLUMN", "LINK_COLUMN",
           "NUMERIC_COLUMNS", "cell_text", "link_text", "row_texts", "sort_key", "ConnectionsFilter"]

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
    "Process",
    "Link",
)
STATE_COLUMN = COLUMNS.index("State")
AGE_COLUMN = COLUMNS.index("Age")
REASON_COLUMN = COLUMNS.index("Close reason")
#: Shown only when the window is attached to processes (``inspector attach``).
PROCESS_COLUMN = COLUMNS.index("Process")
#: The other leg of a proxied session ("⇄ #6"); hidden until a connection has one.
LINK_COLUMN = COLUMNS.index("Link")
#: Columns that sort by a number (id, bytes, rate, ages), not by their text.
NUMERIC_COLUMNS = frozenset((0, 6, 7, 8, 9, 10))
_COLUMN_COUNT = len(COLUMNS)


def cell_text(conn: Connection, column: int, now: float, process: str = "") -> str:
    """The text of ``conn``'s cell in ``column`` at store time ``now`` (ages grow with it);
    ``process`` is the attached process it belongs to, if any."""
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
    if column == LINK_COLUMN:
        return link_text(conn)
    if column == PROCESS_COLUMN:
        return process
    return conn.close_reason


def link_text(conn: Connection) -> str:
    """The Link cell: which leg of a proxied session this is and the other's id ("" if none)."""
    if not conn.linked:
        return ""
    return f"{'client' if conn.link_role == 'client' else 'upstream'} leg ⇄ #{conn.linked}"


def row_texts(conn: Connection, now: float, process: str = "") -> tuple[str, ...]:
    """Every cell of ``conn``'s row, in :data:`COLUMNS` order (the same texts as
    :func:`cell_text`, built in one go: this runs for every changed row of every refresh)."""
    size, age = fmt.size, fmt.age
    end = conn.closed_at if conn.closed_at is not None else now
    return (
        str(conn.id), conn.role, conn.protocol, conn.local, conn.peer, conn.state,
        size(conn.bytes_in), size(conn.bytes_out), fmt.rate(conn.rate) if conn.rate else "",
        age(end - conn.opened_at), age(now - conn.last_activity) + " ago", conn.close_reason,
        process, link_text(conn) if conn.linked else "",
    )


def sort_key(conn: Connection, column: int, now: float) -> Any:
    """What ``column`` sorts ``conn`` by: the number behind a numeric cell, else its text."""
    if column == 0:
        return conn.id
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
    return cell_text(conn, column, now)


class ConnectionsFilter:
    """Which connections to show: by protocol, state group, process, free text and time range.

    Deciding is cheap enough to run over 10,000 rows on a keystroke: a filter that asks
    for nothing passes every row at once, and each row's lower-cased search text is kept
    until its state or close reason (the parts of it that change) do.
    """

    def __init__(self) -> None:
        self.protocol = ""
        self.state = ""
        self.text = ""
        self.process = ""
        #: connection id -> (its state, its close reason, its search text) when last made
        self._haystacks: dict[int, tuple[Any, str, str]] = {}

    def set(self, protocol: str | None = None, state: str | None = None, text: str | None = None,
            process: str | None = None) -> None:
        """Change any of the filters; empty strings mean "any"."""
        if process is not None:
            self.process = process
        if protocol is not None:
            self.protocol = protocol
        if state is not None:
            self.state = state
        if text is not None:
            self.text = text.lower()

    def passes_all(self, store: Store) -> bool:
        """True when no filter is set (and no time range): every row is listed."""
        return not (self.protocol or self.state or self.text or self.process) and store.time_range is None

    def forget(self, conn_ids: Iterable[int]) -> None:
        """Drop what is kept for connections no longer listed."""
        for conn_id in conn_ids:
            self._haystacks.pop(conn_id, None)

    def _haystack(self, conn: Connection, store: Store) -> str:
        kept = self._haystacks.get(conn.id)
        if kept is not None and kept[0] == conn.state and kept[1] == conn.close_reason:
            return kept[2]
        haystack = " ".join(
            (
                str(conn.id),
                conn.role,
                conn.protocol,
                conn.local,
                conn.peer,
                conn.state,
                conn.close_reason,
                conn.service,
                process_of(store, conn.id),
            )
        ).lower()
        self._haystacks[conn.id] = (conn.state, conn.close_reason, haystack)
        return haystack

    def accepts(self, conn: Connection, store: Store) -> bool:
        """True when ``conn`` should be listed."""
        if self.protocol and conn.protocol != self.protocol:
            return False
        if self.state == "open" and not conn.is_open:
            return False
        if self.state and self.state != "open" and conn.state != self.state:
            return False
        if store.time_range is not None and not store.in_range(conn.opened_at, conn.closed_at):
            return False
        if self.process and process_of(store, conn.id) != self.process:
            return False
        if self.text:
            return self.text in self._haystack(conn, store)
        return True
