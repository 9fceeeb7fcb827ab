"""The status bar's summary line, from the store and what the window runs. No Qt."""

from __future__ import annotations

from inspector.ui.viewmodel.deferreds import is_own, is_waiting
from inspector.ui.viewmodel.store import Store

__all__ = ["pending_deferreds", "status_text"]

SEPARATOR = "   ·   "


def pending_deferreds(store: Store, hide_own: bool) -> int:
    """Deferreds still waiting, counted as the Deferreds list shows them (the
    inspector's own left out while that filter is on)."""
    return sum(1 for d in store.deferreds.values() if is_waiting(d) and not (hide_own and is_own(d)))


def status_text(store: Store, live: bool, hide_own: bool, services: int, recording: str | None = None) -> str:
    """ "live · 3 open / 5 connections · 2 pending Deferreds · 4 services", plus missed
    events and the file being recorded to, when there are."""
    parts = [
        "live" if live else "recording (offline)",
        f"{store.open_count()} open / {len(store.connections)} connections",
        f"{pending_deferreds(store, hide_own)} pending Deferreds",
        f"{services} services",
    ]
    if store.dropped:
        parts.append(f"{store.dropped} events missed")
    if recording is not None:
        parts.append(f"● recording {recording}")
    return SEPARATOR.join(parts)
