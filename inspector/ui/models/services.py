"""The launcher's list of running (and recently ended) services as a Qt table model."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor

from inspector.ui.models.table import Index, TableModel
from inspector.ui.viewmodel.services import Service, service_texts

__all__ = ["STATUS_COLOURS", "ServicesModel"]

#: The status column's colours.
STATUS_COLOURS = {"failed": QColor(220, 50, 50), "running": QColor(40, 160, 70), "stopped": QColor(128, 128, 128)}


class ServicesModel(TableModel):
    """Running (and recently ended) services: number, what, status.

    A service's output (echo replies with their round-trip times, quotes, chat) is in
    its tooltip and in the session view of its connection, not in a column the narrow
    launcher would cut off.
    """

    HEADERS = ("", "#", "Service", "Status")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.services: list[Service] = []

    def add(self, service: Service) -> None:
        """Append a service row."""
        row = len(self.services)
        self.beginInsertRows(QModelIndex(), row, row)
        self.services.append(service)
        self.endInsertRows()

    def changed(self, service: Service) -> None:
        """Repaint ``service``'s row."""
        if service in self.services:
            row = self.services.index(service)
            self.rows_changed(row, row)

    def remove_ended(self) -> None:
        """Drop the rows of services that have ended."""
        self.beginResetModel()
        self.services = [s for s in self.services if s.running]
        self.endResetModel()

    def row_count(self) -> int:
        return len(self.services)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        service = self.services[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return service_texts(service)[column]
        if role == Qt.ItemDataRole.AccessibleTextRole and column == 0:
            return f"Stop {service.handle.description}"
        if role == Qt.ItemDataRole.ForegroundRole and column == 3:
            return STATUS_COLOURS.get(service.status)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [service.handle.description]
            if service.error:
                lines.append(f"error: {service.error}")
            lines.extend(list(service.handle.transcript)[-20:])
            return "\n".join(lines)
        return None
