"""``inspector`` with no display says what to do in one line and exits 1, before Qt aborts.

Without the check Qt's xcb plugin aborts the process (SIGABRT, exit 134) with advice to
reinstall the application, which is never the fix.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from inspector.ui.app import missing_display

DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")


def run_headless(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in DISPLAY_VARIABLES}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], env=env,
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland check")
@pytest.mark.parametrize("platform", [None, "xcb", "wayland"])
def test_no_display_says_what_to_do_in_one_line_and_exits_1(platform: str | None) -> None:
    done = run_headless(**({"QT_QPA_PLATFORM": platform} if platform else {}))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1, done.stderr
    (line,) = lines
    for advice in ("DISPLAY", "Wayland", "--screenshot", "serve", "connect", "open"):
        assert advice in line
    assert "reinstall" not in done.stderr.lower()


@pytest.mark.parametrize("environ", [
    {"DISPLAY": ":0"},
    {"WAYLAND_DISPLAY": "wayland-0"},
    {"QT_QPA_PLATFORM": "offscreen"},
    {"QT_QPA_PLATFORM": "vnc:size=800x600"},
    {"QT_QPA_PLATFORM": "wayland;minimal"},
])
def test_a_display_or_a_headless_platform_is_enough(environ: dict[str, str]) -> None:
    assert missing_display(environ, "linux") is None


def test_other_systems_are_not_second_guessed() -> None:
    assert missing_display({}, "darwin") is None
    assert missing_display({}, "win32") is None
    assert missing_display({}, "linux") is not None
