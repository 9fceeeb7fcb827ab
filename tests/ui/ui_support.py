"""Helpers the window's tests share: find widgets by name, read and click table rows."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QTableView, QWidget


def find(widget: QWidget, kind: type, name: str) -> Any:
    """The child of ``widget`` of type ``kind`` with objectName ``name`` (asserting it exists)."""
    found = widget.findChild(kind, name)
    assert found is not None, f"no {kind.__name__} called {name!r}"
    return found


def table_rows(table: QTableView) -> list[list[str]]:
    """Every visible row of ``table`` as the texts a person reads."""
    model = table.model()
    return [
        [str(model.index(row, column).data() or "") for column in range(model.columnCount())]
        for row in range(model.rowCount())
    ]


def click_row(qtbot: Any, table: QTableView, row: int) -> None:
    """Click the first cell of ``row`` as a person would."""
    index = table.model().index(row, 0)
    table.scrollTo(index)
    rect = table.visualRect(index)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.center()))
