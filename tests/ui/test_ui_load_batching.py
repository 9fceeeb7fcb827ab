"""Loading a big recording: the tables catch up a few times a second in big batches
(not a few rows on every refresh), list exactly the recording's rows when the load ends,
and sort and filter right at once after it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLineEdit, QProgressDialog, QTableView

from ui_support import find, table_rows

CONNECTIONS = 20_000
DEFERREDS = 400  # one every 50 connections


def _write_recording(path: Path) -> None:
    """A recording (as the recorder writes it) of ``CONNECTIONS`` echo connections that open,
    get a line and close, and ``DEFERREDS`` Deferreds that fire."""
    from inspector.trace import events as ev
    from inspector.trace.recording import EventEncoder

    encoder = EventEncoder()
    events: list[ev.Event] = []
    seq = 0

    def add(event: ev.Event) -> None:
        nonlocal seq
        seq += 1
        event.seq = seq
        events.append(event)

    for n in range(1, CONNECTIONS + 1):
        ts = 100.0 + n * 0.001
        add(ev.ConnectionOpened(ts=ts, conn=n, role="server", protocol="Echo", local="127.0.0.1:7000",
                                peer=f"127.0.0.1:{20000 + n % 40000}"))
        add(ev.BytesIn(ts=ts, conn=n, size=6, data=b"hello\n"))
        add(ev.ConnectionClosed(ts=ts + 0.0005, conn=n, reason_type="ConnectionDone", reason="closed cleanly",
                                bytes_in=6))
        if n % 50 == 0:
            d = n // 50
            add(ev.DeferredCreated(ts=ts, deferred=d, site=f"echo.py:{d}", function="handle"))
            add(ev.DeferredFired(ts=ts + 0.0001, deferred=d, result_type="str", result_repr="'ok'"))
    header = {"format": "inspector-trace", "version": 1, "start_time": 1.0e9, "start_monotonic": 100.0}
    path.write_text(encoder.line(header) + encoder.events(events), encoding="utf-8")


def test_a_20000_connection_recording_lists_in_few_batches_and_sorts_and_filters_right_after(
    qtbot: Any, window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from inspector.ui import recordings

    path = tmp_path / "many.jsonl"
    _write_recording(path)
    # Small slices, each a little slower than this machine reads them: the load spans
    # many refreshes of the window, as a big file's does (the reader alone got fast
    # enough to read this one in half a second, too short to tell the two apart).
    monkeypatch.setattr(recordings, "SLICE_SECONDS", 0.0)
    monkeypatch.setattr(recordings, "LINES_PER_SLICE", 200)
    step = recordings.RecordingReader.step

    def slow_step(reader: Any, *args: Any) -> Any:
        time.sleep(0.004)
        return step(reader, *args)

    monkeypatch.setattr(recordings.RecordingReader, "step", slow_step)
    items = window.connections.model.items
    inserted: list[int] = []
    items.rowsInserted.connect(lambda _parent, first, last: inserted.append(last - first + 1))
    deferred_inserts: list[int] = []
    window.deferreds.model.rowsInserted.connect(lambda _parent, first, last: deferred_inserts.append(1))

    started = time.monotonic()
    loader = window.open_recording(str(path))
    dialog = find(window, QProgressDialog, "recording.progress")
    table = find(window, QTableView, "connections.table")
    # Browsable early: rows are listed while the progress dialog still shows.
    qtbot.waitUntil(lambda: (dialog.isVisible() and table.model().rowCount() > 0) or loader.done, timeout=10000)
    assert not loader.done
    qtbot.waitUntil(lambda: loader.done, timeout=120000)
    took = time.monotonic() - started
    assert not loader.error

    # Every connection and Deferred is listed the moment the load ends (no waiting for
    # more refreshes), sorted by id as the header says.
    assert items.rowCount() == CONNECTIONS and table.model().rowCount() == CONNECTIONS
    assert sum(inserted) == CONNECTIONS
    assert window.deferreds.proxy.rowCount() == DEFERREDS
    # The batching: about three catch-ups a second while loading (and one at the end), not
    # one insert on each of the ten refreshes a second.
    assert took > 1.0, f"the load took {took:.2f} s: too short to tell batches from refreshes"
    bound = int(took / 0.3) + 3
    assert len(inserted) <= bound, f"{len(inserted)} inserts in {took:.1f} s (at most {bound})"
    assert len(deferred_inserts) <= bound

    rows = table_rows(table)
    assert rows[0][0] == "1" and rows[-1][0] == str(CONNECTIONS)
    # Sorting right after the load: newest first, by a click on the id header.
    header = table.horizontalHeader()
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(0) + 5, 5))
    ids = [int(table.model().index(row, 0).data()) for row in range(table.model().rowCount())]
    assert ids == sorted(ids, reverse=True) and ids[0] == CONNECTIONS
    # Filtering right after the load: one peer port matches one connection.
    search = find(window, QLineEdit, "connections.search")
    search.setFocus()
    qtbot.keyClicks(search, "127.0.0.1:32345")
    qtbot.waitUntil(lambda: table.model().rowCount() == 1, timeout=5000)
    assert table.model().index(0, 0).data() == "12345"

    # The Deferreds table, sorted newest first (as its header says again), lists every one.
    deferreds = find(window, QTableView, "deferreds.table")
    assert deferreds.horizontalHeader().sortIndicatorSection() == 0
    assert deferreds.horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    listed = [int(deferreds.model().index(row, 0).data()) for row in range(deferreds.model().rowCount())]
    assert listed == list(range(DEFERREDS, 0, -1))
