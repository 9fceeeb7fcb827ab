"""``inspector --screenshot FILE --scenario demo`` works with no display and writes a picture."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from PySide6.QtGui import QImage


def test_screenshot_of_the_demo_without_a_display(tmp_path: Any) -> None:
    picture = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("DISPLAY", None)
    done = subprocess.run(
        [sys.executable, "-m", "inspector", "--screenshot", str(picture), "--scenario", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    image = QImage(str(picture))
    assert not image.isNull()
    assert image.width() >= 1000 and image.height() >= 600
    # A real window, not a blank canvas: many distinct colours across a grid of samples.
    colours = {
        image.pixel(x, y)
        for x in range(0, image.width(), 23)
        for y in range(0, image.height(), 19)
    }
    assert len(colours) > 20
    assert "echo server" in done.stderr  # the demo really started its services
    # Taking the picture is the tool's own work, not a slow callback to warn the user of.
    assert "finish_screenshot" not in done.stderr, done.stderr[-2000:]
