"""What the main window needs from a panel, and how a panel is registered.

The window builds its docks, their View-menu shortcuts (Alt+1 … in registry order)
and its refresh from :data:`inspector.ui.panels.registry.PANELS`; a panel that
follows the store implements :class:`StorePanel`. Adding a panel is adding one
:class:`PanelSpec`, not editing lists in the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QWidget

from inspector.ui.viewmodel.store import Store

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

__all__ = ["PanelContext", "PanelSpec", "StorePanel"]


@runtime_checkable
class StorePanel(Protocol):
    """A panel that shows the window's store: told when the store changes, refreshed
    after each batch of trace events, re-filtered when the time range moves."""

    def set_store(self, store: Store) -> None:
        """Show another store (a loaded recording, or the live session again)."""

    def refresh(self) -> None:
        """Apply what changed in the store since the last refresh (its change lists)."""


@dataclass(frozen=True)
class PanelContext:
    """What a panel may be built from."""

    reactor: ReactorLike
    settings: QSettings
    store: Store


@dataclass(frozen=True)
class PanelSpec:
    """One dock of the window: its title, where it starts, its shortcut, how to build it.

    ``name`` is the window attribute that holds the panel (``window.connections``);
    ``follows_store`` panels are :class:`StorePanel`\\ s; ``on_range`` names the method
    called when the selected time range moves ("" for none).
    """

    title: str
    name: str
    area: Qt.DockWidgetArea
    shortcut: str
    build: Callable[[PanelContext], QWidget]
    follows_store: bool = True
    on_range: str = "refilter"

    @property
    def dock_name(self) -> str:
        """The dock's object name (kept in the saved layout): "dock.connections"."""
        return f"dock.{self.title.lower()}"
