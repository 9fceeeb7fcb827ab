"""Closing a one-second bin gives each connection that moved bytes its rate, and the
connections that went quiet fall back to no rate; connections that never moved bytes
are not touched (closing a bin looks at the busy connections alone). And a connection
closed twice leaves the list once, under the Keep closed limit."""

from __future__ import annotations


def test_a_bin_rates_the_busy_connections_and_a_quiet_one_falls_to_nothing() -> None:
    from inspector.ui.viewmodel.store import Store

    store = Store(clock=0.0)
    for cid in range(1, 2001):
        store.connection_opened(cid, 0.0, "server", "Echo", "127.0.0.1:1", f"127.0.0.1:{cid}")
    store.connection_bytes(7, 0.5, "in", 1000)
    store.connection_bytes(9, 0.6, "out", 500)
    store.reset_changes()
    store.sample(1.0)
    assert store.connections[7].rate == 1000.0 and store.connections[9].rate == 500.0
    assert store.changed_connections == {7, 9}
    assert store.connection_rates[7].values[-1] == 1000.0
    store.reset_changes()
    store.connection_bytes(9, 1.5, "out", 100)
    store.sample(2.0)
    assert store.connections[7].rate == 0.0 and store.connections[9].rate == 100.0
    assert store.changed_connections == {7, 9}
    store.reset_changes()
    store.sample(3.0)
    assert store.connections[9].rate == 0.0 and store.changed_connections == {9}
    store.reset_changes()
    store.sample(4.0)
    assert store.changed_connections == set()  # nothing moved, nothing to rewrite
    # A connection that closes within its bin keeps no rate, and gets no series.
    store.connection_bytes(11, 4.2, "in", 10)
    store.connection_state(11, 4.3, "closed")
    store.sample(5.0)
    assert store.connections[11].rate == 0.0 and 11 not in store.connection_rates


def test_a_connection_closed_twice_leaves_the_list_once() -> None:
    from inspector.ui.viewmodel.store import Store

    store = Store(clock=0.0)
    store.closed_limit = 1
    for cid in (1, 2, 3):
        store.connection_opened(cid, 0.0, "server", "Echo", "127.0.0.1:1", f"127.0.0.1:{cid}")
    store.connection_state(1, 1.0, "closed")
    store.connection_state(1, 1.5, "connected")  # seen open again (a newer state)
    store.connection_state(1, 2.0, "closed")
    store.connection_state(2, 2.5, "closed")
    store.connection_state(3, 3.0, "closed")
    gone = store.trim_closed()
    assert sorted(gone) == [1, 2] and list(store.connections) == [3]
    assert store.closed_dropped == 2
