"""Typed trace events: plain slotted dataclasses that serialise to and from JSON.

Every event carries a sequence number (``seq``, increasing across kinds), a monotonic
timestamp (``ts``, seconds), the reactor it came from, and the ids that correlate it:
the loop ``turn`` it happened in and the connection (``conn``) whose code was running.
Bytes and protocol-message events, the hot ones, carry the start time of their loop
turn (taking the clock for each would cost more than the rest of the hook); ``seq``
orders them inside the turn.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from inspector.states import ConnectionState as _ConnectionState

#: kind name -> event class; filled by :func:`_register`.
EVENT_TYPES: dict[str, type["Event"]] = {}

_PY_TYPES = {"int": int, "float": float, "str": str, "bytes": bytes, "bool": bool}


class EventFormatError(ValueError):
    """A serialised event is malformed: unknown kind, missing or mistyped field."""


def _register(cls: type["Event"]) -> type["Event"]:
    """Record ``cls`` under its ``kind`` and precompute its field types for loading."""
    cls._field_types = {f.name: _PY_TYPES[str(f.type)] for f in dataclasses.fields(cls)}
    EVENT_TYPES[cls.kind] = cls
    return cls


@dataclass(slots=True)
class Event:
    """Base of every trace event."""

    kind: ClassVar[str] = "event"
    _field_types: ClassVar[dict[str, type]] = {}

    seq: int = 0
    ts: float = 0.0
    reactor: str = ""
    turn: int = 0
    conn: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict; bytes become base64 strings."""
        out: dict[str, Any] = {"kind": self.kind}
        for name, typ in self._field_types.items():
            value = getattr(self, name)
            out[name] = base64.b64encode(value).decode("ascii") if typ is bytes else value
        return out


def event_from_json(obj: Any) -> Event:
    """Build an event from a dict made by :meth:`Event.to_json`, checking every field.

    Raises :class:`EventFormatError` for anything it does not recognise; it never
    evaluates or imports anything named in the data.
    """
    if not isinstance(obj, dict):
        raise EventFormatError(f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("kind")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventFormatError(f"unknown event kind {kind!r}")
    values: dict[str, Any] = {}
    for name, value in obj.items():
        if name == "kind":
            continue
        typ = cls._field_types.get(name)
        if typ is None:
            raise EventFormatError(f"{kind}: unknown field {name!r}")
        if typ is bytes:
            if not isinstance(value, str):
                raise EventFormatError(f"{kind}.{name}: expected base64 text")
            try:
                value = base64.b64decode(value.encode("ascii"), validate=True)
            except (ValueError, UnicodeEncodeError) as exc:
                raise EventFormatError(f"{kind}.{name}: bad base64 ({exc})") from None
        elif typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise EventFormatError(
                f"{kind}.{name}: expected {typ.__name__}, got {type(value).__name__}"
            )
        values[name] = value
    return cls(**values)


# --- connections and ports -------------------------------------------------------


@_register
@dataclass(slots=True)
class ConnectionOpened(Event):
    """A connection (or UDP port, treated as one) came into being."""

    kind: ClassVar[str] = "conn.opened"
    role: str = ""  # "client", "server" or "udp"
    transport: str = "tcp"
    protocol: str = ""
    local: str = ""
    peer: str = ""


@_register
@dataclass(slots=True)
class ConnectionState(Event):
    """A connection moved from one state to another: ``previous`` ("" for none) and
    ``state`` are :class:`inspector.states.ConnectionState` values, kept as their
    strings in a recording."""

    kind: ClassVar[str] = "conn.state"
    previous: str = ""
    state: str = ""


#: The states a connection moves through, in order (the values of
#: :class:`inspector.states.ConnectionState`, whose lifecycle table says which moves
#: are legal).
STATES: tuple[_ConnectionState, ...] = tuple(_ConnectionState)


@_register
@dataclass(slots=True)
class BytesIn(Event):
    """Bytes arrived; ``size`` is exact, ``data`` may be cut to the capture budget."""

    kind: ClassVar[str] = "conn.in"
    size: int = 0
    data: bytes = b""
    peer: str = ""


@_register
@dataclass(slots=True)
class BytesOut(Event):
    """The application wrote bytes; ``size`` is exact, ``data`` may be cut."""

    kind: ClassVar[str] = "conn.out"
    size: int = 0
    data: bytes = b""
    peer: str = ""


@_register
@dataclass(slots=True)
class ConnectionClosed(Event):
    """A connection ended, with the reason's exception type and message."""

    kind: ClassVar[str] = "conn.closed"
    reason_type: str = ""
    reason: str = ""
    bytes_in: int = 0
    bytes_out: int = 0


@_register
@dataclass(slots=True)
class ConnectionTotals(Event):
    """A connection still open had moved exactly ``bytes_in`` and ``bytes_out`` bytes by
    this point of the stream, though some of its bytes events are not in it (a live
    server left them out to keep within its CPU budget, or a late viewer's snapshot is
    older than them): readers raise their counts to these."""

    kind: ClassVar[str] = "conn.totals"
    bytes_in: int = 0
    bytes_out: int = 0


@_register
@dataclass(slots=True)
class ConnectionLinked(Event):
    """Connection ``conn`` and connection ``other`` are the two legs of one relayed
    session (a proxy: ``conn`` the client's leg, ``other`` the upstream one)."""

    kind: ClassVar[str] = "conn.linked"
    other: int = 0
    label: str = ""


@_register
@dataclass(slots=True)
class PortStarted(Event):
    """A listening port started accepting (TCP) or receiving (UDP)."""

    kind: ClassVar[str] = "port.started"
    port: int = 0
    transport: str = "tcp"
    address: str = ""
    factory: str = ""


@_register
@dataclass(slots=True)
class PortStopped(Event):
    """A listening port stopped."""

    kind: ClassVar[str] = "port.stopped"
    port: int = 0
    address: str = ""


@_register
@dataclass(slots=True)
class PortRefused(Event):
    """Listening failed (address in use, permission ...)."""

    kind: ClassVar[str] = "port.refused"
    address: str = ""
    error: str = ""


@_register
@dataclass(slots=True)
class ProtocolMessage(Event):
    """A protocol parsed (``direction="in"``) or produced (``"out"``) one message."""

    kind: ClassVar[str] = "proto.message"
    protocol: str = ""
    message_kind: str = ""  # "line", "irc", "quote" ...
    direction: str = "in"
    text: str = ""


# --- Deferreds -------------------------------------------------------------------


@_register
@dataclass(slots=True)
class DeferredCreated(Event):
    """A Deferred was made; ``site`` is ``file:line``, ``timer`` the timer running then."""

    kind: ClassVar[str] = "d.created"
    deferred: int = 0
    site: str = ""
    function: str = ""
    timer: int = 0


@_register
@dataclass(slots=True)
class CallbackAdded(Event):
    """A callback, errback or both were added to a Deferred."""

    kind: ClassVar[str] = "d.added"
    deferred: int = 0
    name: str = ""
    callback_kind: str = "callback"  # "callback", "errback" or "both"


@_register
@dataclass(slots=True)
class CallbackRan(Event):
    """One callback ran: ``ts`` is its start, ``duration`` seconds, what went in and out."""

    kind: ClassVar[str] = "d.ran"
    deferred: int = 0
    name: str = ""
    duration: float = 0.0
    input_kind: str = "value"  # "value" or "failure"
    output_type: str = ""
    output_repr: str = ""


@_register
@dataclass(slots=True)
class DeferredChained(Event):
    """A callback returned another Deferred; this one now waits on ``waiting_on``."""

    kind: ClassVar[str] = "d.chained"
    deferred: int = 0
    waiting_on: int = 0


@_register
@dataclass(slots=True)
class DeferredResumed(Event):
    """The Deferred that this one waited on (``waited_on``, see :class:`DeferredChained`)
    has its result: this one's chain goes on with it."""

    kind: ClassVar[str] = "d.resumed"
    deferred: int = 0
    waited_on: int = 0


@_register
@dataclass(slots=True)
class DeferredPaused(Event):
    """The Deferred's callback processing was paused."""

    kind: ClassVar[str] = "d.paused"
    deferred: int = 0


@_register
@dataclass(slots=True)
class DeferredUnpaused(Event):
    """The Deferred's callback processing resumed."""

    kind: ClassVar[str] = "d.unpaused"
    deferred: int = 0


@_register
@dataclass(slots=True)
class DeferredFired(Event):
    """The Deferred got its result (a value)."""

    kind: ClassVar[str] = "d.fired"
    deferred: int = 0
    result_type: str = ""
    result_repr: str = ""


@_register
@dataclass(slots=True)
class DeferredFailed(Event):
    """The Deferred got a Failure as its result."""

    kind: ClassVar[str] = "d.failed"
    deferred: int = 0
    error_type: str = ""
    message: str = ""


@_register
@dataclass(slots=True)
class DeferredCancelled(Event):
    """``cancel()`` was called on the Deferred."""

    kind: ClassVar[str] = "d.cancelled"
    deferred: int = 0


@_register
@dataclass(slots=True)
class DeferredUnhandled(Event):
    """A Deferred was garbage-collected holding an unhandled Failure."""

    kind: ClassVar[str] = "d.unhandled"
    deferred: int = 0
    error_type: str = ""
    message: str = ""
    traceback: str = ""


# --- the loop --------------------------------------------------------------------


@_register
@dataclass(slots=True)
class LoopTurn(Event):
    """One loop iteration: ``ts`` is its start, with what it did."""

    kind: ClassVar[str] = "loop.turn"
    duration: float = 0.0
    fds_ready: int = 0
    timers_run: int = 0
    thread_calls: int = 0


@_register
@dataclass(slots=True)
class TimerScheduled(Event):
    """``callLater`` scheduled ``name`` to run ``delay`` seconds later (at ``due``)."""

    kind: ClassVar[str] = "timer.scheduled"
    timer: int = 0
    name: str = ""
    delay: float = 0.0
    due: float = 0.0


@_register
@dataclass(slots=True)
class TimerFired(Event):
    """A timer's function ran: ``ts`` is its start, ``lateness`` past its due time."""

    kind: ClassVar[str] = "timer.fired"
    timer: int = 0
    name: str = ""
    lateness: float = 0.0
    duration: float = 0.0


@_register
@dataclass(slots=True)
class SlowCallback(Event):
    """Some callback held the loop longer than the configured threshold."""

    kind: ClassVar[str] = "slow"
    name: str = ""
    location: str = ""
    duration: float = 0.0


@_register
@dataclass(slots=True)
class TraceWarning(Event):
    """Something a user should look at; ``category`` is one of :data:`WARNING_CATEGORIES`."""

    kind: ClassVar[str] = "warning"
    category: str = ""
    message: str = ""
    subject: int = 0  # the Deferred, connection or timer id it is about
    details: str = ""


WARNING_CATEGORIES = ("unhandled", "pending", "slow", "late-timer", "write-buffer")
