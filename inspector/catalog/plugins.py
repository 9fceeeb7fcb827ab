"""Catalogue plug-ins: entries contributed by installed distributions.

A distribution adds protocols to the launcher, ``inspector serve`` and ``inspector
connect`` by declaring an entry point in the group ``inspector.catalog``::

    [project.entry-points."inspector.catalog"]
    mine = "my_package.catalog:entries"

naming a callable that takes no arguments and returns an iterable of
:class:`~inspector.catalog.Entry`. The plug-ins are loaded once per process; one that
cannot be imported, raises, or returns something else than entries is logged once (a
warning naming its distribution and the error), listed in :func:`problems`, and
skipped, so the built-ins and the other plug-ins still load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from inspector.catalog.model import Entry

log = logging.getLogger("inspector.catalog.plugins")

__all__ = ["GROUP", "PluginProblem", "plugin_entries", "problems"]

#: The entry point group a distribution declares its catalogue callable in.
GROUP = "inspector.catalog"


@dataclass(frozen=True)
class PluginProblem:
    """A plug-in that was skipped: its distribution, entry point and what went wrong."""

    distribution: str
    entry_point: str
    error: str

    def __str__(self) -> str:
        return f"catalogue plug-in {self.entry_point!r} from {self.distribution} skipped: {self.error}"


_problems: list[PluginProblem] = []


def _distribution(point: EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    if dist is None:
        return "an unknown distribution"
    return f"{dist.metadata['Name'] or dist.name} {dist.version}"


def _load(point: EntryPoint) -> list[Entry]:
    """The entries ``point`` gives; ValueError/TypeError or the plug-in's own error if bad."""
    make = point.load()
    if not callable(make):
        raise TypeError(f"{point.value} is a {type(make).__name__}, not a callable returning entries")
    made = make()
    try:
        found = list(made)
    except TypeError:
        raise TypeError(f"{point.value}() returned a {type(made).__name__}, not entries") from None
    for item in found:
        if not isinstance(item, Entry):
            raise TypeError(f"{point.value}() returned a {type(item).__name__}, not an inspector.catalog.Entry")
    return found


def _report(point: EntryPoint, error: str) -> None:
    problem = PluginProblem(_distribution(point), point.name, error)
    _problems.append(problem)
    log.warning("%s", problem)


@cache
def plugin_entries(taken: frozenset[str] = frozenset()) -> tuple[Entry, ...]:
    """Every entry from the installed plug-ins, in entry point order (loaded once).

    ``taken`` holds the keys of the entries already in the catalogue: a plug-in entry
    with one of those keys (or a key an earlier plug-in took) is reported and skipped.
    """
    loaded: list[Entry] = []
    keys = set(taken)
    for point in entry_points(group=GROUP):
        try:
            found = _load(point)
        except Exception as exc:  # a plug-in's bug must not take the catalogue down
            _report(point, f"{type(exc).__name__}: {exc}")
            continue
        for entry in found:
            if entry.key in keys:
                _report(point, f"{entry.key!r} is already in the catalogue")
                continue
            keys.add(entry.key)
            loaded.append(entry)
    return tuple(loaded)


def problems() -> list[PluginProblem]:
    """The plug-ins skipped so far (for the window to show), in the order they were met."""
    return list(_problems)
