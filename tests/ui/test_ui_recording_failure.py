"""File → Record follows the recorder's real state: when writing fails (a full disk), the
menu offers Record again, the status bar stops claiming a recording, and the Log says why."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog, QLabel, QTableView

from ui_support import find, table_rows

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")


def _choose_file(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """The save dialog answers ``path``, as a person picking it would."""
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args, **kwargs: (path, "")))


def _keep_loop_busy(reactor: Any, seconds: float) -> None:
    """Turn the reactor's loop every 50 ms for ``seconds`` (recordings flush between turns)."""
    end = reactor.seconds() + seconds

    def tick() -> None:
        if reactor.seconds() < end:
            reactor.callLater(0.05, tick)

    tick()


def test_a_recording_that_cannot_be_written_gives_record_back(
        window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    action = window.record_action
    status = find(window, QLabel, "status.summary")
    assert action.text() == "&Record trace…"

    _keep_loop_busy(window.reactor, 8.0)
    _choose_file(monkeypatch, "/dev/full")
    action.trigger()
    assert action.text() == "Stop &recording"  # the file opened; writing fails on the first flush

    qtbot.waitUntil(lambda: action.text() == "&Record trace…", timeout=5000)
    assert window.recorder is None
    qtbot.waitUntil(lambda: "recording" not in status.text() and status.text() != "", timeout=3000)
    assert "Recording stopped" in window.statusBar().currentMessage()
    assert "No space left on device" in window.statusBar().currentMessage()
    log_messages = [row[3] for row in table_rows(find(window, QTableView, "log.table"))]
    assert any("/dev/full" in message and "stopped" in message for message in log_messages), log_messages

    # Record again works, to a file that can be written; and Stop stops it.
    target = tmp_path / "again.jsonl"
    _choose_file(monkeypatch, str(target))
    action.trigger()
    assert action.text() == "Stop &recording"
    qtbot.waitUntil(lambda: "● recording" in status.text(), timeout=3000)
    action.trigger()
    assert action.text() == "&Record trace…"
    assert target.read_text().startswith('{"format":"inspector-trace"')
