"""Fixtures for the window's tests: settings in a temporary directory, a live window."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from PySide6.QtCore import QSettings

import reactor_support


@pytest.fixture
def settings(tmp_path: Any) -> QSettings:
    """QSettings stored in a file under the test's temporary directory."""
    made = QSettings(str(tmp_path / "inspector.ini"), QSettings.Format.IniFormat)
    yield made
    made.sync()


@pytest.fixture
def qt_reactor(qapp: Any) -> Any:
    """A Qt reactor started inside pytest-qt's application (qtbot's waits turn its loop)."""
    from inspector import reactors

    made = reactors.create("qt")
    made.startRunning()
    yield made
    if made.running:
        made.crash()
    made.close()


@pytest.fixture
def window(qtbot: Any, qt_reactor: Any, settings: QSettings) -> Any:
    """The main window with tracing on, shown; services stopped and tracing off after."""
    import inspector.trace
    from inspector.ui.app import build_window

    made = build_window(qt_reactor, settings)
    qtbot.addWidget(made)
    made.show()
    yield made
    made.shutdown()
    qtbot.wait(50)
    inspector.trace.disable()


@pytest.fixture
def free_port() -> Callable[[], int]:
    """Return a function giving a TCP port nothing listens on right now."""
    return reactor_support.free_port
