"""Several attached processes in one store: which process each row came from, and how
each attachment stands. Plain Python, no Qt.

``inspector attach`` puts the sessions of every process it follows into one
:class:`ProcessStore`; session ``k``'s ids were moved to ``k * ID_STRIDE + id``
(:func:`inspector.trace.viewer.namespaced`), so the process of any connection or Deferred
follows from its id. :class:`ProcessRow` is what the Processes list says about one attachment.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.trace.viewer import ID_STRIDE
from inspector.ui.viewmodel.store import Store

__all__ = ["ProcessStore", "ProcessRow", "process_of", "state_text"]


class ProcessStore(Store):
    """A store fed by attached processes; ``processes`` names each session index ``k``."""

    def __init__(self, clock: float = 0.0) -> None:
        super().__init__(clock=clock)
        #: session index k -> the process's label (its endpoint as the user gave it)
        self.processes: dict[int, str] = {}

    def process_of(self, obj_id: int) -> str:
        """The label of the process connection or Deferred ``obj_id`` belongs to ("" if unknown)."""
        return self.processes.get(obj_id // ID_STRIDE, "")

    def labels(self) -> list[str]:
        """Every process label seen so far, each once, in the order first seen."""
        return list(dict.fromkeys(self.processes[k] for k in sorted(self.processes)))


def process_of(store: Store, obj_id: int) -> str:
    """The process of ``obj_id`` when ``store`` holds attached processes, else ""."""
    return store.process_of(obj_id) if isinstance(store, ProcessStore) else ""


@dataclass(slots=True)
class ProcessRow:
    """One attached process as the Processes list shows it."""

    label: str
    state: str = "connecting"
    detail: str = ""
    program: str = ""
    pid: int | None = None
    sessions: int = 0
    events: int = 0
    missed: int = 0


def state_text(row: ProcessRow) -> str:
    """A person's words for ``row``'s state: "connected", "disconnected — reconnecting",
    "not there yet — retrying" (nothing served there so far), "refused: wrong token" ..."""
    state = row.state
    if state == "disconnected":
        return "disconnected — reconnecting" if row.sessions else "not there yet — retrying"
    if state == "refused":
        return f"refused: {row.detail}" if row.detail else "refused"
    return state
