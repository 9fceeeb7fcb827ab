"""While a recording loads, the log lists new entries a few times a second (each catch-up
repaints the whole log dock), and everything the moment the load ends."""

from __future__ import annotations

from typing import Any


def test_the_log_catches_up_in_batches_while_a_recording_loads(qapp: Any) -> None:
    from inspector.ui.models.log import LogModel
    from inspector.ui.viewmodel.store import Store

    store = Store()
    model = LogModel(store)
    store.loading = True
    store.add_log(1.0, "WARNING", "load", "first")
    model.refresh()
    assert model.rowCount() == 1  # the first entries show at once
    for n in range(50):
        store.add_log(2.0 + n, "WARNING", "load", f"entry {n}")
        store.reset_changes()
        model.refresh()  # the refreshes right after hold the new entries back
    assert model.rowCount() == 1
    store.loading = False
    model.refresh()
    assert model.rowCount() == 51
    assert model.index(50, 3).data() == "entry 49"


def test_a_log_trimmed_while_loading_never_lists_rows_it_no_longer_has(qapp: Any) -> None:
    from inspector.ui.models.log import LogModel
    from inspector.ui.viewmodel.store import Store

    store = Store()
    model = LogModel(store)
    store.loading = True
    for n in range(20_000):
        store.add_log(float(n), "WARNING", "load", f"entry {n}")
    model.refresh()
    assert model.rowCount() == 20_000
    store.add_log(20_000.0, "WARNING", "load", "one too many")  # trims 5,000 of them
    model.refresh()
    assert model.rowCount() == len(store.log) == 15_001
    assert model.index(15_000, 3).data() == "one too many"
