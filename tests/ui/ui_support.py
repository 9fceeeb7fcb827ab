"""Helpers the window's tests share: find widgets by name, read and click table rows."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtWidgets import QAbstractItemView, QApplication, QTableView, QWidget


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


class _Paints(QObject):
    """Counts the paint events a widget gets."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def shown_rows(table: QTableView) -> list[list[str]]:
    """Every visible row of ``table`` as a person reads it by scrolling through the list:
    each page is scrolled to and painted (the table writes a row's cells when it is first
    shown), then read. The table must be on screen (e.g. ``qtbot.waitExposed``)."""
    model = table.model()
    count = model.rowCount()
    rows: dict[int, list[str]] = {}
    paints = _Paints()
    table.viewport().installEventFilter(paints)
    try:
        row = 0
        while row < count:
            table.scrollTo(model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtTop)
            QApplication.processEvents()  # the table lays its rows out, as between frames
            painted = paints.count
            table.viewport().repaint()
            assert paints.count > painted, "the table was not painted"
            top = max(0, table.rowAt(0))
            bottom = table.rowAt(table.viewport().height() - 1)
            bottom = count - 1 if bottom < 0 else bottom
            assert top <= row <= bottom, (top, row, bottom)
            for shown in range(top, bottom + 1):
                rows[shown] = [str(model.index(shown, column).data() or "") for column in range(model.columnCount())]
            row = bottom + 1
    finally:
        table.viewport().removeEventFilter(paints)
    return [rows[row] for row in range(count)]


def click_row(qtbot: Any, table: QTableView, row: int) -> None:
    """Click the first cell of ``row`` as a person would."""
    index = table.model().index(row, 0)
    table.scrollTo(index)
    rect = table.visualRect(index)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.center()))
