"""While a recording loads, the tables catch up a few times a second, and all in the same
refresh: the window then repaints once for them all, not once for each table at moments
of its own."""

from __future__ import annotations

import time
from typing import Any

from inspector.ui.models.connections import ConnectionsModel
from inspector.ui.models.log import LogModel
from inspector.ui.viewmodel.store import Store


def test_the_tables_catch_up_in_the_same_refreshes_while_a_recording_loads(qapp: Any, monkeypatch: Any) -> None:
    clock = {"now": 1000.05}
    monkeypatch.setattr(time, "monotonic", lambda: clock["now"])
    store = Store(clock=0.0)
    store.loading = True
    connections, log = ConnectionsModel(store), LogModel(store)
    caught_up: dict[str, list[int]] = {"connections": [], "log": []}
    conn_id = 0
    for tick in range(40):  # four seconds of refreshes, ten a second
        clock["now"] += 0.1
        conn_id += 1
        store.connection_opened(conn_id, float(tick), "client", "Echo", "", "127.0.0.1:7")
        if tick >= 2:  # the log's first entry comes a little later than the first connection
            store.add_log(float(tick), "WARNING", "trace.late-timer", f"late {tick}")
        before = (connections.items.rowCount(), log.rowCount())
        connections.refresh()
        log.refresh()
        store.reset_changes()
        if connections.items.rowCount() != before[0]:
            caught_up["connections"].append(tick)
        if log.rowCount() != before[1]:
            caught_up["log"].append(tick)
    # Both list their first rows at once, then catch up a few times a second...
    assert caught_up["connections"][0] == 0 and caught_up["log"][0] == 2
    assert 8 <= len(caught_up["connections"]) <= 16
    # ... and, after their first rows, in the same refreshes.
    assert [t for t in caught_up["connections"] if t > 2] == [t for t in caught_up["log"] if t > 2]
