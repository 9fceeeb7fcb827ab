"""What the Deferreds list says about each Deferred, and which ones it lists.

Plain Python over the store's :class:`~inspector.ui.viewmodel.store.DeferredInfo`:
cell texts and sort values, which Deferreds are the inspector's own plumbing, and the
filter bar's rules. The Qt model and proxy (:mod:`inspector.ui.models.deferreds`)
only ask these.
"""

from __future__ import annotations

import os
from typing import Any

import inspector
from inspector.ui.viewmodel import format as fmt
from inspector.ui.viewmodel.processes import process_of
from inspector.ui.viewmodel.store import DeferredInfo, Store

__all__ = ["HEADERS", "PROCESS_COLUMN", "OWN_SITES", "is_own", "is_waiting", "cell_text", "sort_value",
           "DeferredsFilterRules"]

HEADERS = ("ID", "State", "Age / took", "Created at", "Waits on", "Result", "Process")
#: Shown only when the window is attached to processes (``inspector attach``).
PROCESS_COLUMN = HEADERS.index("Process")

_PACKAGE = os.path.dirname(os.path.abspath(inspector.__file__))
#: Where the window's own plumbing makes Deferreds (launch handles, one-shot clients,
#: the window itself): hidden from the list unless the user asks to see them.
OWN_SITES = tuple(
    os.path.join(_PACKAGE, *part.split("/"))
    for part in ("catalog/", "ui/", "protocols/oneshot.py")
)


def is_own(info: DeferredInfo) -> bool:
    """True for a Deferred the inspector made for its own plumbing, not the user's code."""
    return info.site.startswith(OWN_SITES)


def is_waiting(info: DeferredInfo) -> bool:
    """True while the Deferred has not fired for good (pending, or paused on another)."""
    return info.state in ("pending", "paused")


def cell_text(info: DeferredInfo, column: int, now: float, process: str = "") -> str:
    """The text of ``info``'s cell in ``column`` at store time ``now`` (ages grow with it);
    ``process`` is the attached process it belongs to, if any."""
    if column == 0:
        return str(info.id)
    if column == 1:
        return "UNHANDLED" if info.unhandled else info.state
    if column == 2:
        if info.duration is not None:
            return fmt.duration(info.duration)
        return fmt.duration(now - info.created_at) + " …"
    if column == 3:
        return f"{info.function} ({os.path.basename(info.site)})" if info.site else info.function
    if column == 4:
        if not is_waiting(info):
            return ""
        if info.waits_on is not None:
            return f"Deferred #{info.waits_on}"
        return info.waits_on_text
    if column == PROCESS_COLUMN:
        return process
    return info.result_repr


def sort_value(info: DeferredInfo, column: int, now: float, process: str = "") -> Any:
    """What ``column`` sorts by: the id, the age or duration in seconds, else the text."""
    if column == 0:
        return info.id
    if column == 2:
        return info.duration if info.duration is not None else now - info.created_at
    return cell_text(info, column, now, process)


class DeferredsFilterRules:
    """Which Deferreds to list: live, failed or recovered only; the inspector's own
    hidden or not; one attached process; a text to match; and the store's time range."""

    def __init__(self) -> None:
        self.mode = ""
        self.text = ""
        self.hide_own = True
        self.process = ""

    def set(self, mode: str | None = None, text: str | None = None, hide_own: bool | None = None) -> None:
        """mode: "" all, "live" pending/paused, "failed" failed or unhandled, "recovered"
        failed and then handled; ``hide_own`` hides the inspector's own Deferreds."""
        if mode is not None:
            self.mode = mode
        if text is not None:
            self.text = text.lower()
        if hide_own is not None:
            self.hide_own = hide_own

    def accepts(self, info: DeferredInfo, store: Store) -> bool:
        """True when ``info`` should be listed."""
        if self.mode == "live" and not is_waiting(info):
            return False
        if self.mode == "failed" and info.state != "failed" and not info.unhandled:
            return False
        if self.mode == "recovered" and info.state != "recovered":
            return False
        if self.hide_own and is_own(info):
            return False
        if not store.in_range(info.created_at, info.fired_at):
            return False
        if self.process and process_of(store, info.id) != self.process:
            return False
        if self.text:
            names = " ".join(node.name for node in info.callbacks)
            haystack = f"{info.id} {info.state} {info.site} {info.function} {info.result_repr} {names}"
            haystack = f"{haystack} {process_of(store, info.id)}".lower()
            return self.text in haystack
        return True
