"""The "Decode as…" menu, as in Wireshark: every dissector there is, and "as recorded".

The connections table's context menu and the session panel's button show the same
menu; choosing calls back with a dissector's name, or None for the protocol's own
messages. The names come from the dissector registry, so plug-ins are listed too.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtWidgets import QMenu

from inspector import dissect

__all__ = ["AS_RECORDED", "add_decode_actions", "dissector_help"]

log = logging.getLogger("inspector.ui")

AS_RECORDED = "Show messages as recorded"


def dissector_help(name: str) -> str:
    """The first line of dissector ``name``'s docstring ("" when it has none or cannot be found)."""
    try:
        factory = dissect.get(name)
    except Exception:  # a name that vanished: the menu still shows
        return ""
    doc = (getattr(factory, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def add_decode_actions(menu: QMenu, current: str | None, choose: Callable[[str | None], None]) -> None:
    """Add "Decode as NAME" for every dissector, then "Show messages as recorded", to ``menu``;
    the one in use (``current``; None: as recorded) is checked."""
    try:
        names = dissect.names()
    except Exception:  # the registry loads plug-ins: one broken must not break the menu
        log.exception("the dissectors could not be listed")
        names = []
    for name in names:
        action = menu.addAction(f"Decode as {name}")
        action.setObjectName(f"decode.{name}")
        action.setCheckable(True)
        action.setChecked(name == current)
        action.setToolTip(dissector_help(name))
        action.triggered.connect(lambda _checked=False, chosen=name: choose(chosen))
    menu.setToolTipsVisible(True)
    menu.addSeparator()
    recorded = menu.addAction(AS_RECORDED)
    recorded.setObjectName("decode.recorded")
    recorded.setCheckable(True)
    recorded.setChecked(current is None)
    recorded.setToolTip("The messages the connection's own protocol reported")
    recorded.triggered.connect(lambda _checked=False: choose(None))
