"""The window has an icon (task bar, window list, Alt+Tab), read from the package data."""

from __future__ import annotations

from typing import Any


def test_the_window_has_an_icon(window: Any) -> None:
    icon = window.windowIcon()
    assert not icon.isNull()
    image = icon.pixmap(32, 32).toImage()
    assert image.width() == 32
    # A drawing, not a blank square: more than a handful of distinct colours.
    colours = {image.pixel(x, y) for x in range(32) for y in range(32)}
    assert len(colours) > 8


def test_the_application_gives_every_window_the_icon(qapp: Any) -> None:
    from inspector.ui.app import _application

    app = _application()
    assert app is qapp
    assert not app.windowIcon().isNull()
