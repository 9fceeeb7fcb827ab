"""Qt item models over the window's :mod:`inspector.ui.store`."""
