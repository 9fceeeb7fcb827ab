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
