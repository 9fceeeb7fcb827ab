"""Reactors are objects; this module names them and keeps the process-wide default.

Code should receive the reactor it uses (a parameter, or ``factory.reactor``). The
module-level default exists for short scripts: ``install(name)`` chooses it once and
``default_reactor()`` returns it (the selectors reactor if none was chosen, or the one
named by the ``INSPECTOR_REACTOR`` environment variable). As in Twisted,
``from inspector.reactors import reactor`` is that default, made on first use: a
later ``install()`` then refuses.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from inspector.error import ReactorAlreadyInstalledError

#: Reactor name -> "module:Class". The Qt entry is the only one that imports Qt.
REACTORS: dict[str, str] = {
    "selectors": "inspector.reactors.selectors:SelectorsReactor",
    "qt": "inspector.reactors.qt:QtReactor",
    "asyncio": "inspector.reactors.asyncio:AsyncioReactor",
}

_installed: Any = None


def reactor_class(name: str) -> type:
    """Return the reactor class called ``name``; ValueError names the known ones."""
    try:
        target = REACTORS[name]
    except KeyError:
        known = ", ".join(sorted(REACTORS))
        raise ValueError(f"unknown reactor {name!r}; choose one of: {known}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def available() -> list[str]:
    """Return the names of the reactors that can be made in this process."""
    names = []
    for name in REACTORS:
        try:
            reactor_class(name)
        except ImportError:
            continue
        names.append(name)
    return names


def create(name: str, **kwargs: Any) -> Any:
    """Make a new reactor object of the kind called ``name``."""
    return reactor_class(name)(**kwargs)


def install(name: str = "selectors", **kwargs: Any) -> Any:
    """Choose the process-wide reactor once and return it."""
    global _installed
    if _installed is not None:
        raise ReactorAlreadyInstalledError(
            f"a reactor is already installed ({type(_installed).__name__})"
        )
    _installed = create(name, **kwargs)
    return _installed


def default_reactor() -> Any:
    """Return the process-wide reactor, making one from ``INSPECTOR_REACTOR`` or selectors."""
    if _installed is None:
        install(os.environ.get("INSPECTOR_REACTOR") or "selectors")
    return _installed


def __getattr__(name: str) -> Any:
    """``inspector.reactors.reactor`` is :func:`default_reactor`'s reactor, as Twisted's
    ``from twisted.internet import reactor`` is its default one (made when first asked)."""
    if name == "reactor":
        return default_reactor()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _uninstall() -> None:
    """Forget the process-wide reactor (tests only)."""
    global _installed
    _installed = None
