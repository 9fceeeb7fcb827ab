"""Widgets the panels build the same way: row tables, filter boxes, search lines, splitters."""

from __future__ import annotations

from typing import Any, Callable, Iterable, TypeVar

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QHBoxLayout, QLineEdit, QSplitter, QTableView, QWidget

W = TypeVar("W", bound=QWidget)


def named(widget: W, name: str) -> W:
    """``widget`` with its object name set to ``name`` (what tests and styles find it by), returned so
    it can be built in one expression; PySide6's type stubs omit the constructors' ``objectName=``."""
    widget.setObjectName(name)
    return widget


def row_table(
    owner: QWidget,
    name: str,
    label: str,
    model: QAbstractItemModel,
    widths: Iterable[int] = (),
    padding: int = 6,
    single: bool = True,
) -> QTableView:
    """A table that selects whole rows (one at a time unless ``single`` is False), without
    row numbers, rows as tall as ``owner``'s font plus ``padding``, the last column stretched."""
    table = named(QTableView(), name)
    table.setAccessibleName(label)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    if single:
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(owner.fontMetrics().height() + padding)
    table.horizontalHeader().setStretchLastSection(True)
    # One line a row: wrapping at spaces hid everything after the first words
    # ("qotd server on …") even where the column had room for most of it.
    table.setWordWrap(False)
    for column, width in enumerate(widths):
        table.setColumnWidth(column, width)
    return table


def choice_box(
    name: str, label: str, choices: Iterable[tuple[str, Any]], on_change: Callable[[], None], current: int = 0
) -> QComboBox:
    """A combo box of (text, value) ``choices`` showing ``current``; ``on_change`` runs when the user picks another."""
    box = named(QComboBox(), name)
    box.setAccessibleName(label)
    for text, value in choices:
        box.addItem(text, value)
    box.setCurrentIndex(current)
    box.currentIndexChanged.connect(on_change)
    return box


def search_line(name: str, label: str, placeholder: str, on_change: Callable[[], None]) -> QLineEdit:
    """A clearable filter line; ``on_change`` runs on every edit."""
    edit = named(QLineEdit(), name)
    edit.setAccessibleName(label)
    edit.setPlaceholderText(placeholder)
    edit.setClearButtonEnabled(True)
    edit.textChanged.connect(on_change)
    return edit


def filter_bar(*boxes: QWidget, search: QLineEdit) -> QHBoxLayout:
    """A margin-less row of filter ``boxes`` followed by the ``search`` line, which takes the spare width."""
    bar = QHBoxLayout()
    bar.setContentsMargins(0, 0, 0, 0)
    for box in boxes:
        bar.addWidget(box)
    bar.addWidget(search, 1)
    return bar


def splitter(orientation: Qt.Orientation, *parts: tuple[QWidget, int]) -> QSplitter:
    """A splitter of (widget, stretch factor) ``parts`` in order."""
    split = QSplitter(orientation)
    for position, (widget, stretch) in enumerate(parts):
        split.addWidget(widget)
        split.setStretchFactor(position, stretch)
    return split


def on_screen(widget: QWidget) -> bool:
    """Whether any of ``widget`` is shown now. A dock behind another dock's tab still
    counts as visible to Qt (``isVisible``); its visible region is empty."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()
