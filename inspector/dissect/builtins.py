"""The dissectors that ship with the inspector."""

from __future__ import annotations

from inspector.dissect.framed import Int32Dissector, NetstringDissector
from inspector.dissect.irc import IRCDissector
from inspector.dissect.lines import LineDissector
from inspector.dissect.raw import RawDissector

__all__ = ["BUILTINS", "register_builtins"]

BUILTINS = {
    "lines": LineDissector,
    "irc": IRCDissector,
    "netstrings": NetstringDissector,
    "int32": Int32Dissector,
    "raw": RawDissector,
}


def register_builtins() -> None:
    """Register every built-in under its name (again: harmless)."""
    from inspector.dissect.registry import register

    for name, factory in BUILTINS.items():
        register(name, factory, replace=True)
