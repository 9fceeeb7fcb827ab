"""Fixtures for the window's tests: settings in a temporary directory, a Qt reactor."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture
def settings(tmp_path: Any) -> QSettings:
    """QSettings stored in a file under the test's temporary directory."""
    made = QSettings(str(tmp_path / "inspector.ini"), QSettings.Format.IniFormat)
    yield made
    made.sync()
