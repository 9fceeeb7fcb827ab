"""The session's parsed-messages table: one row per message a dissector recognised."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor

from inspector.ui.models.table import Index, TableModel
from inspector.ui.viewmodel.session import MESSAGE_HEADERS, message_texts
from inspector.ui.viewmodel.store import Message

__all__ = ["DIRECTION_COLOURS", "MessagesModel"]

#: Incoming bytes are tinted blue, outgoing ones orange, in every session view.
DIRECTION_COLOURS = {"in": QColor(50, 120, 220), "out": QColor(220, 110, 20)}
#: An ``error`` message (a framing error, a dissector that failed) is red, so it is seen.
ERROR_COLOUR = QColor(208, 48, 48)


class MessagesModel(TableModel):
    """The parsed messages of one connection: time, direction, kind, text."""

    HEADERS = MESSAGE_HEADERS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.messages: list[Message] = []
        self.origin = 0.0
        self._shown = 0

    def show(self, messages: list[Message], origin: float) -> None:
        """Show ``messages`` (the connection's own list, which grows in place)."""
        self.beginResetModel()
        self.messages = messages
        self.origin = origin
        self._shown = len(messages)
        self.endResetModel()

    def grow(self) -> None:
        """Announce the messages appended since the last call."""
        count = len(self.messages)
        if count > self._shown:
            self.beginInsertRows(QModelIndex(), self._shown, count - 1)
            self._shown = count
            self.endInsertRows()

    def row_count(self) -> int:
        return self._shown

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        message = self.messages[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return message_texts(message, self.origin)[column]
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == 1:
                return DIRECTION_COLOURS.get(message.direction)
            if column in (2, 3) and message.kind == "error":
                return ERROR_COLOUR
            return None
        if role == Qt.ItemDataRole.ToolTipRole and column == 3:
            if message.params:
                return "\n".join(f"[{i}] {p}" for i, p in enumerate(message.params))
            return message.summary if len(message.summary) > 60 else None
        return None
