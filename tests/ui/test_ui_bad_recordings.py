"""Opening hostile files in the window (issue 13, items 3 and 4): a FIFO or an oversized
file is refused at once with the reason in the status bar and the log, the window stays
live; a damaged recording opens up to the damage and the plots redraw without error."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QTableView

from ui_support import find, table_rows


def _log_has(window: Any, text: str) -> bool:
    return any(text in " ".join(row) for row in table_rows(find(window, QTableView, "log.table")))


def test_a_fifo_is_refused_at_once_and_the_window_stays_live(qtbot: Any, window: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)

    def unblock() -> None:
        # Whoever opens the FIFO to read (a blocking open would hang the window) is
        # released by this writer, which writes nothing.
        with open(fifo, "wb"):
            pass

    writer = threading.Thread(target=unblock, daemon=True)
    writer.start()
    started = time.monotonic()
    loader = window.open_recording(str(fifo))
    qtbot.waitUntil(lambda: loader.done, timeout=10000)
    assert time.monotonic() - started < 2.0
    assert "FIFO" in loader.error
    assert "FIFO" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: _log_has(window, "FIFO"), timeout=10000)
    assert window.live
    if writer.is_alive():  # the refusal never opened it for reading: release the writer
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    writer.join(5)


def test_a_recording_over_the_limit_is_refused_with_the_limit_stated(
    qtbot: Any, window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from inspector.trace import recording

    monkeypatch.setattr(recording, "MAX_RECORDING_BYTES", 1 << 20, raising=False)
    big = tmp_path / "big.jsonl"
    turn = '{"kind":"loop.turn","seq":%d,"ts":%d.5,"duration":0.001}\n'
    big.write_text('{"format":"inspector-trace","version":1}\n'
                   + "".join(turn % (n, n) for n in range(1, 30_000)))
    assert big.stat().st_size > 1 << 20
    loader = window.open_recording(str(big))
    qtbot.waitUntil(lambda: loader.done, timeout=10000)
    assert "the limit is 1.0 MiB" in loader.error
    assert "limit is 1.0 MiB" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: _log_has(window, "limit is 1.0 MiB"), timeout=10000)
    assert window.live


def test_a_damaged_recording_opens_up_to_the_damage_and_the_plots_keep_drawing(
    qtbot: Any, window: Any, tmp_path: Path
) -> None:
    path = tmp_path / "damaged.jsonl"
    header = '{"format":"inspector-trace","version":1,"start_time":1e20,"start_monotonic":NaN}\n'
    events = [{"kind": "loop.turn", "seq": n, "ts": 100.0 + n, "duration": 0.002} for n in range(1, 40)]
    events.append({"kind": "conn.opened", "seq": 40, "ts": 140.0, "conn": 1, "role": "server",
                   "protocol": "Echo", "peer": "127.0.0.1:9"})
    lines = [json.dumps(e) + "\n" for e in events]
    lines.append('{"meta":{"dropped":5}}\n')
    lines.append('{"kind":"loop.turn","seq":41,"ts":1e400,"duration":0.001}\n')
    lines.append('{"kind":"loop.turn","seq":42,"ts":142.0,"duration":0.001}\n')
    path.write_text(header + "".join(lines))

    window.timing.show()
    loader = window.open_recording(str(path))
    qtbot.waitUntil(lambda: loader.done, timeout=10000)
    assert not loader.error
    assert loader.events == 40
    assert not window.live
    assert len(table_rows(find(window, QTableView, "connections.table"))) == 1
    qtbot.waitUntil(lambda: _log_has(window, "start_monotonic"), timeout=10000)
    assert _log_has(window, "line 43") and _log_has(window, "out of range")
    # Several redraws of the plots (pytest-qt fails the test on any exception in a slot).
    for _ in range(3):
        window.timing.redraw()
        qtbot.wait(50)
    low, high = window.timing.loop_plot.viewRange()[0]
    assert high - low > 0


def test_recording_from_the_window_replaces_a_confirmed_file_privately(
    qtbot: Any, window: Any, tmp_path: Path
) -> None:
    import stat

    from inspector.trace import load

    path = tmp_path / "again.jsonl"
    path.write_text("an older recording\n")
    os.chmod(path, 0o644)
    assert window.start_recording(str(path))  # the save dialog has asked about replacing it
    qtbot.wait(300)  # the tracer flushes about five times a second
    window.stop_recording()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load(path).problems == []
