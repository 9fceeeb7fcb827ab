"""The window reads a big recording in a child process (the second CPU) and shows exactly
what it shows when it reads the file itself: the same rows, counts and problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_reader_process import _events


def _open(qtbot: Any, window: Any, path: Path) -> tuple[Any, str, dict[int, tuple[Any, ...]]]:
    loader = window.open_recording(str(path))
    reader = type(loader._reader).__name__
    qtbot.waitUntil(lambda: loader.done, timeout=30000)
    rows = {cid: (c.state, c.bytes_in, c.bytes_out, c.close_reason, c.peer)
            for cid, c in window.store.connections.items()}
    return loader, reader, rows


def test_a_recording_read_by_the_child_shows_what_one_read_here_shows(
    qtbot: Any, window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import inspector.ui.recordings as recordings

    lines = _events(4000)
    lines[2000:2000] = [{"meta": {"bogus": [1]}}]
    lines.append({"kind": "conn.state", "seq": 10**6, "ts": "damaged"})
    lines.append(lines[0])
    path = tmp_path / "recording.jsonl"
    header = {"format": "inspector-trace", "version": 1, "start_monotonic": 100.0}
    path.write_text("".join(json.dumps(line) + "\n" for line in [header, *lines]))

    monkeypatch.setattr(recordings, "PROCESS_BYTES", 1 << 40)
    here, read_here, rows_here = _open(qtbot, window, path)
    monkeypatch.setattr(recordings, "PROCESS_BYTES", 0)
    child, read_by_child, rows_child = _open(qtbot, window, path)

    assert (read_here, read_by_child) == ("RecordingReader", "ReaderProcess")
    assert child.events == here.events == 4000
    assert child.problems == here.problems and len(here.problems) == 2
    assert rows_child == rows_here and len(rows_here) == 800
