"""The "filtered to …" banner: says that a time range hides part of the session, and clears it.

A range selected on the timing plots filters the connections, Deferreds and log; without
this banner a log emptied by the filter looks like a log with nothing in it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

from inspector.ui.widgets import named


class RangeBanner(QFrame):
    """Hidden while nothing is filtered; else "Filtered to 12.3–15.6 s" and a "Show all" button."""

    clear_requested = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("range.banner")
        # Drawn in the highlight colours, so it stands out in light and dark themes alike.
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Highlight)
        self.setForegroundRole(QPalette.ColorRole.HighlightedText)
        self.label = named(QLabel(), "range.banner.text")
        self.label.setForegroundRole(QPalette.ColorRole.HighlightedText)
        self.clear_button = named(QToolButton(), "range.banner.clear")
        self.clear_button.setText("Show all")
        self.clear_button.setToolTip("Clear the time range selected on the Timing plots")
        self.clear_button.setAccessibleName("Clear the time filter")
        self.clear_button.clicked.connect(self.clear_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 2, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.clear_button)
        self.setToolTip("Connections, Deferreds, the Log and the callback histogram show only this span "
                        "(seconds since the session began)")
        self.hide()

    def show_range(self, start: float, end: float) -> None:
        """Say the panels are filtered to [start, end], seconds since the session began."""
        self.label.setText(f"Filtered to {start:.1f}–{end:.1f} s")
        self.show()

    def clear(self) -> None:
        """Nothing is filtered any more: hide."""
        self.label.clear()
        self.hide()
