"""Light and dark palettes for the window (Fusion style, so both look the same everywhere)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("light", "dark")


def dark_palette() -> QPalette:
    """A dark palette with enough contrast for tables, code views and plots."""
    palette = QPalette()
    role = QPalette.ColorRole
    colours = {
        role.Window: QColor(37, 37, 40),
        role.WindowText: QColor(225, 225, 225),
        role.Base: QColor(26, 26, 28),
        role.AlternateBase: QColor(44, 44, 48),
        role.ToolTipBase: QColor(50, 50, 54),
        role.ToolTipText: QColor(230, 230, 230),
        role.Text: QColor(225, 225, 225),
        role.Button: QColor(48, 48, 52),
        role.ButtonText: QColor(225, 225, 225),
        role.BrightText: QColor(255, 90, 90),
        role.Highlight: QColor(45, 110, 190),
        role.HighlightedText: QColor(255, 255, 255),
        role.Link: QColor(100, 160, 240),
        role.PlaceholderText: QColor(130, 130, 130),
    }
    for colour_role, colour in colours.items():
        palette.setColor(colour_role, colour)
    for colour_role in (role.Text, role.WindowText, role.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, colour_role, QColor(120, 120, 120))
    return palette


def apply_theme(app: QApplication, theme: str) -> None:
    """Switch ``app`` to the "light" or "dark" palette."""
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}; choose one of: {', '.join(THEMES)}")
    app.setStyle("Fusion")
    palette = dark_palette() if theme == "dark" else app.style().standardPalette()
    app.setPalette(palette)
