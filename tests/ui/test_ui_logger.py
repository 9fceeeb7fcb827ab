"""Events from Twisted-style loggers in any namespace show in the window's Log."""

from __future__ import annotations

from typing import Any

from inspector import log as oldlog
from inspector.logger import Logger


def test_a_users_logger_and_log_err_show_in_the_log(qtbot: Any, window: Any) -> None:
    Logger(namespace="myapp.server").warn("{n} users waiting", n=3)
    try:
        raise ValueError("the knob came off")
    except ValueError:
        oldlog.err(None, "while frobbing")
    window.refresh()
    entries = [(entry.source, entry.level, entry.message) for entry in window.live_store.log]
    assert ("myapp.server", "WARNING", "3 users waiting") in entries
    assert ("log_legacy", "CRITICAL", "while frobbing") in entries
    frobbing = next(entry for entry in window.live_store.log if entry.message == "while frobbing")
    assert "ValueError: the knob came off" in frobbing.details
