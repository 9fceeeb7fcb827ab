"""The one vocabulary of connection states, and the legal moves between them.

Transports move a connection through these states, the trace records each move, the
fold (shared by ``inspector open`` and the window) keeps the latest, and the window
colours rows by it. The values are the strings recordings have always held, so a
recording written before this enum existed loads and compares equal.

:data:`TRANSITIONS` is the connection lifecycle in one place (as h11 writes its
``_state.py``): every legal move is listed, and :func:`check_transition` makes any
other one a clear error instead of a silently wrong state.

A leaf module: it imports nothing from the project.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = [
    "ConnectionState",
    "IllegalTransitionError",
    "TRANSITIONS",
    "FINAL_STATES",
    "CLEAN_CLOSE",
    "check_transition",
    "closed_state",
]


class ConnectionState(enum.StrEnum):
    """Where a connection is in its life; each member *is* its string (``"half-closed"``)."""

    #: A client's attempt is under way (resolving, connecting).
    CONNECTING = "connecting"
    #: Both directions are open (a UDP port is ``connected`` as soon as it is bound).
    CONNECTED = "connected"
    #: One direction has ended (the peer's FIN arrived, or ours was sent); the other is open.
    HALF_CLOSED = "half-closed"
    #: ``loseConnection`` or ``abortConnection`` was asked; the socket is not closed yet.
    CLOSING = "closing"
    #: It ended cleanly (``ConnectionDone``).
    CLOSED = "closed"
    #: It ended with an error: refused, reset, aborted, timed out.
    FAILED = "failed"


_S = ConnectionState

#: For each state, the states a connection may move to next. The final states lead nowhere.
TRANSITIONS: Mapping[ConnectionState, frozenset[ConnectionState]] = {
    _S.CONNECTING: frozenset({_S.CONNECTED, _S.FAILED}),
    _S.CONNECTED: frozenset({_S.HALF_CLOSED, _S.CLOSING, _S.CLOSED, _S.FAILED}),
    _S.HALF_CLOSED: frozenset({_S.CLOSING, _S.CLOSED, _S.FAILED}),
    _S.CLOSING: frozenset({_S.CLOSED, _S.FAILED}),
    _S.CLOSED: frozenset(),
    _S.FAILED: frozenset(),
}

#: The states a connection ends in.
FINAL_STATES: frozenset[ConnectionState] = frozenset({_S.CLOSED, _S.FAILED})

#: Close reasons (exception class names; "" for none) that mean "closed cleanly".
CLEAN_CLOSE: frozenset[str] = frozenset({"", "ConnectionDone"})


class IllegalTransitionError(RuntimeError):
    """A connection was asked to move between two states the lifecycle does not join."""

    def __init__(self, current: str, new: str, what: str = "connection") -> None:
        allowed = ", ".join(sorted(TRANSITIONS.get(current, frozenset())))  # type: ignore[call-overload]
        super().__init__(
            f"{what} cannot go from '{current}' to '{new}'"
            f" (from '{current}' it may go to: {allowed or 'nowhere, it has ended'})"
        )
        self.current = current
        self.new = new
        self.what = what


def check_transition(current: ConnectionState, new: ConnectionState, what: str = "connection") -> ConnectionState:
    """Return ``new`` if ``current`` may move to it; IllegalTransitionError otherwise."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransitionError(current, new, what)
    return new


def closed_state(reason_type: str) -> ConnectionState:
    """The final state for a close whose reason is the exception class ``reason_type``."""
    return _S.CLOSED if reason_type in CLEAN_CLOSE else _S.FAILED
