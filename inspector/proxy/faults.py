"""The faults a proxy applies to the bytes it relays: a plain object changed live.

A :class:`Faults` holds every setting (latency per direction with jitter, bandwidth,
slicing, cuts, reset instead of FIN, holding a direction). Setting an attribute takes
effect at once: the proxy listens (:meth:`Faults.on_change`) to release held chunks
when a hold is lifted and to move a cut timer. Directions are ``"up"`` (client to
server) and ``"down"`` (server to client).
"""

from __future__ import annotations

import logging
import random
from typing import Any, Callable, Literal

__all__ = ["DIRECTIONS", "Direction", "Faults", "check_direction"]

log = logging.getLogger("inspector.proxy")

Direction = Literal["up", "down"]
#: ``up``: client -> server; ``down``: server -> client.
DIRECTIONS: tuple[Direction, Direction] = ("up", "down")

#: name -> (kind, smallest value); None means "off" for every optional setting.
_FIELDS: dict[str, tuple[type, float]] = {
    "latency_up": (float, 0.0),
    "latency_down": (float, 0.0),
    "jitter": (float, 0.0),
    "bandwidth_up": (int, 1),
    "bandwidth_down": (int, 1),
    "slice_size": (int, 1),
    "slice_interval": (float, 0.0),
    "cut_after_bytes": (int, 0),
    "cut_after_seconds": (float, 0.0),
    "reset": (bool, 0),
    "hold_up": (bool, 0),
    "hold_down": (bool, 0),
}


def check_direction(direction: str) -> Direction:
    """``direction`` if it is ``up`` or ``down``; ValueError (one line) otherwise."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up' (client to server) or 'down' (server to client), "
                         f"not {direction!r}")
    return direction


class Faults:
    """What to do to relayed bytes; every attribute may be changed while sessions run.

    * ``latency_up`` / ``latency_down``: seconds added to each chunk in that direction;
      ``jitter``: up to that many seconds more or less, at random (order is kept).
    * ``bandwidth_up`` / ``bandwidth_down``: bytes per second (None: unlimited).
    * ``slice_size``: write at most this many bytes at a time, ``slice_interval`` seconds
      apart (so the peer reads them as separate pieces).
    * ``cut_after_bytes``: end the session once this many bytes (both directions
      together) were relayed; ``cut_after_seconds``: once it is that old.
    * ``reset``: end a session with a TCP reset instead of a FIN (a cut, or a FIN forwarded).
    * ``hold_up`` / ``hold_down``: queue what arrives in that direction, visibly, until
      released (lifting the hold releases what is queued).

    A bad value raises ValueError with a one-line message and changes nothing.
    """

    latency_up: float
    latency_down: float
    jitter: float
    bandwidth_up: int | None
    bandwidth_down: int | None
    slice_size: int | None
    slice_interval: float
    cut_after_bytes: int | None
    cut_after_seconds: float | None
    reset: bool
    hold_up: bool
    hold_down: bool
    _listeners: list[Callable[[str], Any]]
    _random: random.Random

    def __init__(self, **settings: Any) -> None:
        defaults: dict[str, Any] = {
            "latency_up": 0.0, "latency_down": 0.0, "jitter": 0.0, "bandwidth_up": None,
            "bandwidth_down": None, "slice_size": None, "slice_interval": 0.002,
            "cut_after_bytes": None, "cut_after_seconds": None, "reset": False,
            "hold_up": False, "hold_down": False,
        }
        object.__setattr__(self, "_listeners", [])
        object.__setattr__(self, "_random", random.Random())
        for name, value in defaults.items():
            object.__setattr__(self, name, value)
        self.update(**settings)

    # -- changing ------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _FIELDS:
            raise AttributeError(f"Faults has no setting {name!r}; known: {', '.join(_FIELDS)}")
        value = self._checked(name, value)
        if getattr(self, name) == value:
            return
        object.__setattr__(self, name, value)
        self._changed(name)

    def update(self, **settings: Any) -> None:
        """Change several settings at once; all are checked before any changes."""
        checked = {name: self._checked(name, value) for name, value in settings.items()}
        for name, value in checked.items():
            setattr(self, name, value)

    @staticmethod
    def _checked(name: str, value: Any) -> Any:
        if name not in _FIELDS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(_FIELDS)}")
        kind, low = _FIELDS[name]
        if kind is bool:
            return bool(value)
        optional = name.startswith(("bandwidth", "slice_size", "cut_after"))
        if value is None or (optional and value == 0 and name != "cut_after_bytes"):
            if optional:
                return None
            raise ValueError(f"{name} needs a value")
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if number != number or number < low:  # NaN too
            raise ValueError(f"{name} must be at least {low}, got {value!r}")
        return number

    def on_change(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(name)`` after each setting that changes (errors are logged)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str], Any]) -> None:
        """Stop calling ``callback``."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _changed(self, name: str) -> None:
        for callback in list(self._listeners):
            try:
                callback(name)
            except Exception:
                log.exception("fault listener %r failed", callback)

    # -- reading -------------------------------------------------------------------------

    def delay(self, direction: Direction) -> float:
        """The latency for the next chunk going ``direction``: the setting, give or take jitter."""
        base = self.latency_up if direction == "up" else self.latency_down
        if self.jitter:
            base += self._random.uniform(-self.jitter, self.jitter)
        return base if base > 0.0 else 0.0

    def bandwidth(self, direction: Direction) -> int | None:
        """Bytes per second allowed going ``direction`` (None: unlimited)."""
        return self.bandwidth_up if direction == "up" else self.bandwidth_down

    def held(self, direction: Direction) -> bool:
        """True while ``direction`` is held."""
        return self.hold_up if direction == "up" else self.hold_down

    def shapes(self, direction: Direction) -> bool:
        """True when chunks going ``direction`` need more than a straight write."""
        if direction == "up":
            return bool(self.latency_up or self.jitter or self.bandwidth_up or self.slice_size
                        or self.hold_up or self.cut_after_bytes is not None)
        return bool(self.latency_down or self.jitter or self.bandwidth_down or self.slice_size
                    or self.hold_down or self.cut_after_bytes is not None)

    def as_dict(self) -> dict[str, Any]:
        """Every setting by name (for a form, a log line or a copy)."""
        return {name: getattr(self, name) for name in _FIELDS}

    def describe(self) -> str:
        """The settings that are on, as one short line ("none" when nothing is)."""
        on = []
        for name, value in self.as_dict().items():
            if name == "slice_interval" and not self.slice_size:
                continue
            if value not in (None, False, 0, 0.0) or (name == "cut_after_bytes" and value == 0):
                on.append(f"{name}={value}" if value is not True else name)
        return ", ".join(on) or "none"

    def __repr__(self) -> str:
        return f"<Faults {self.describe()}>"
