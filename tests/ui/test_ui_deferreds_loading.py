"""While a recording loads, the Deferreds list catches up on every few of the tables'
catch-ups (with them, so the window repaints once for all): a recording makes most of
its Deferreds and forgets them again soon, and each one listed costs a filter call and a
removal. When the loading ends, the list holds every Deferred kept."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QModelIndex

from inspector.ui.models import deferreds as deferreds_model


def test_a_loading_recordings_deferreds_are_listed_every_few_catch_ups_then_all(
        qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from inspector.ui.viewmodel.store import Store

    period = {"now": 0}
    monkeypatch.setattr(deferreds_model, "catch_up_period", lambda: period["now"])
    store = Store(clock=0.0)
    model = deferreds_model.DeferredsModel(store)
    inserted: list[int] = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append(last - first + 1))
    store.loading = True
    made = 0
    listed_at: list[int] = []
    for now in range(12):  # twelve of the tables' catch-up periods, ten Deferreds each
        period["now"] = now
        for _ in range(10):
            made += 1
            store.deferred_created(made, float(made), "site.py:1")
        before = len(inserted)
        model.refresh()
        store.reset_changes()
        if len(inserted) > before:
            listed_at.append(now)
    step = deferreds_model.LOADING_PERIODS
    assert step > 1
    assert listed_at == list(range(0, 12, step))
    assert model.rowCount(QModelIndex()) < made
    store.loading = False  # the loading ends: everything kept is listed at once
    model.refresh()
    assert model.rowCount(QModelIndex()) == made == len(store.deferreds)


def test_a_loading_recordings_deferreds_wait_while_their_tab_is_behind_another(
        qtbot: Any, window: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind the Session tab (where it starts) the Deferreds list lists nothing more while
    a recording loads; brought to the front it catches up at once, and at the end it holds
    every Deferred kept, sorted as before."""
    from inspector.trace import events as ev
    from inspector.trace.recording import EventEncoder
    from inspector.ui import recordings
    from inspector.ui.main_window import LOADING_REFRESH_EVERY

    events: list[ev.Event] = []
    for n in range(1, 3001):
        events.append(ev.DeferredCreated(ts=100.0 + n * 0.001, deferred=n, site="app.py:1", function="f"))
        if n % 3:
            events.append(ev.DeferredFired(ts=100.0 + n * 0.001, deferred=n))
    for seq, event in enumerate(events, 1):
        event.seq = seq
    path = tmp_path / "deferreds.jsonl"
    header = {"format": "inspector-trace", "version": 1, "start_time": 1.0e9, "start_monotonic": 100.0}
    path.write_text(EventEncoder().line(header) + EventEncoder().events(events), encoding="utf-8")

    monkeypatch.setattr(recordings, "LINES_PER_SLICE", 100)
    monkeypatch.setattr(recordings, "SLICE_SECONDS", 0.0)  # one slice a step
    ticks = iter(range(0, 1 << 30, deferreds_model.LOADING_PERIODS))  # each refresh a catch-up time
    monkeypatch.setattr(deferreds_model, "catch_up_period", lambda: next(ticks))
    model = window.deferreds.model
    listed: list[int] = []
    model.rowsInserted.connect(lambda parent, first, last: listed.append(last - first + 1))
    window.show_dock("Session")
    qtbot.wait(50)
    loader = window.open_recording(str(path))
    loader._timer.stop()  # the test loads it slice by slice, the window refreshing between

    def load_some(slices: int) -> None:
        for _ in range(slices):
            loader._step()
            for _ in range(LOADING_REFRESH_EVERY):
                window.refresh()

    load_some(10)
    assert not loader.done
    assert len(listed) <= 1  # at most the first rows, listed before anything was held back
    window.show_dock("Deferreds")
    qtbot.wait(50)
    during = len(listed)
    load_some(2)
    assert len(listed) > during  # in front, it catches up
    loader._timer.start()
    qtbot.waitUntil(lambda: loader.done, timeout=60000)
    window.refresh()
    assert model.rowCount(QModelIndex()) == len(window.store.deferreds) > 0
