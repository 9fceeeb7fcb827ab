"""Dissectors by name: the built-ins, those registered in code, and plug-ins.

A plug-in is an installed distribution declaring an entry point in the group
``inspector.dissectors``; its name is the dissector's name and it names a callable that
returns a fresh dissector (a class works). Plug-ins are loaded the first time a name is
looked up; one that fails to import is logged once and skipped, and the others load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import metadata

from inspector.dissect.base import Dissector, DissectorFactory

__all__ = [
    "ENTRY_POINT_GROUP", "UnknownDissector", "BadDissector", "register", "get", "create", "names", "load_plugins",
    "PluginProblem", "problems",
]

log = logging.getLogger("inspector.dissect")

ENTRY_POINT_GROUP = "inspector.dissectors"

_factories: dict[str, DissectorFactory] = {}
_plugins_loaded = False
_failed: set[str] = set()


@dataclass(frozen=True)
class PluginProblem:
    """A dissector plug-in that was skipped: its name, what its entry point names, and why."""

    name: str
    value: str
    error: str

    def __str__(self) -> str:
        return f"dissector plug-in {self.name!r} ({self.value}) skipped: {self.error}"


_problems: list[PluginProblem] = []


def problems() -> list[PluginProblem]:
    """The dissector plug-ins skipped so far (for the window to show), in the order met."""
    return list(_problems)


class UnknownDissector(KeyError):
    """No dissector has that name; the message lists the ones that exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown dissector"


class BadDissector(TypeError):
    """A factory made something that is not a dissector (it lacks ``feed`` or ``flush``)."""


def register(name: str, factory: DissectorFactory, replace: bool = False) -> None:
    """Make ``factory`` (a callable returning a new dissector) available as ``name``.

    Registering a name twice is an error unless ``replace`` is true, so a plug-in cannot
    silently shadow a built-in.
    """
    if not name or not isinstance(name, str):
        raise ValueError("a dissector needs a non-empty name")
    if not callable(factory):
        raise TypeError(f"dissector {name!r}: factory must be callable, not {type(factory).__name__}")
    if name in _factories and not replace and _factories[name] is not factory:
        raise ValueError(f"a dissector named {name!r} is already registered")
    _factories[name] = factory


def load_plugins() -> None:
    """Register every ``inspector.dissectors`` entry point not loaded yet.

    Called by :func:`get` and :func:`names`; it runs once per process, so a plug-in
    that fails is reported once and then skipped.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _failed:
            continue
        if entry.name in _factories:
            _failed.add(entry.name)
            _problems.append(PluginProblem(entry.name, entry.value, "a dissector with that name exists"))
            log.warning("dissector plug-in %r (%s) is skipped: a dissector with that name exists",
                        entry.name, entry.value)
            continue
        try:
            factory = entry.load()
            register(entry.name, factory)
        except Exception as exc:  # a broken plug-in must not break the others
            _failed.add(entry.name)
            _problems.append(PluginProblem(entry.name, entry.value, f"{type(exc).__name__}: {exc}"))
            log.error("dissector plug-in %r (%s) failed to load and is skipped: %s: %s",
                      entry.name, entry.value, type(exc).__name__, exc)


def names() -> list[str]:
    """Every dissector name, sorted: built-ins, registered ones and plug-ins."""
    _builtins()
    load_plugins()
    return sorted(_factories)


def get(name: str) -> DissectorFactory:
    """The factory registered as ``name``; :class:`UnknownDissector` lists the names there are."""
    _builtins()
    if name not in _factories:
        load_plugins()
    try:
        return _factories[name]
    except KeyError:
        raise UnknownDissector(
            f"no dissector named {name!r} (there are: {', '.join(sorted(_factories))})") from None


def create(name: str) -> Dissector:
    """A new dissector of kind ``name``, for one connection.

    A factory that returns something without ``feed`` and ``flush`` (a plug-in naming the
    wrong object) is a :class:`BadDissector` naming the dissector, not a failure later on.
    """
    dissector = get(name)()
    if not isinstance(dissector, Dissector):
        raise BadDissector(f"dissector {name!r} made a {type(dissector).__name__}, "
                        "which has no feed(direction, data) and flush()")
    return dissector


def _builtins() -> None:
    if "raw" not in _factories:
        from inspector.dissect import builtins

        builtins.register_builtins()
