"""The dissector API: a sans-IO object turning each direction's bytes into messages.

A :class:`Dissector` is fed the bytes of one connection as they arrive, ``"in"`` (from the
peer) and ``"out"`` (to it), and returns the complete messages found so far. Each
direction is buffered on its own, so the same stream split anywhere gives the same
messages: what a recording holds can be decoded again with any dissector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol, runtime_checkable

__all__ = [
    "DIRECTIONS", "Direction", "Message", "Dissector", "DissectorFactory", "StreamDissector",
    "show_bytes", "one_line",
]

Direction = Literal["in", "out"]
DIRECTIONS: tuple[Direction, Direction] = ("in", "out")

#: A summary holds at most this many characters; the rest is cut with an ellipsis.
SUMMARY_LENGTH = 200


@dataclass(frozen=True)
class Message:
    """One decoded message: its ``kind`` (``"line"``, ``"PRIVMSG"``, ``"error"``...), a one-line
    ``summary`` safe to print, the decoded ``fields``, and the ``direction`` it travelled."""

    kind: str
    summary: str
    fields: dict[str, Any] = field(default_factory=dict)
    direction: Direction = "in"


@runtime_checkable
class Dissector(Protocol):
    """What every dissector provides; built-ins and plug-ins alike."""

    def feed(self, direction: Direction, data: bytes) -> list[Message]:
        """Take the next ``data`` travelling in ``direction``; return the messages it completes."""
        ...

    def flush(self) -> list[Message]:
        """The stream ended: report what is still buffered (an incomplete message)."""
        ...


#: What the registry holds: a callable making a fresh dissector for one connection.
DissectorFactory = Callable[[], Dissector]


def one_line(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """``text`` on one line and safe for a terminal, cut to ``limit`` characters."""
    from inspector.trace.session import printable

    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_bytes(data: bytes, limit: int = SUMMARY_LENGTH) -> str:
    """``data`` as text: printable ASCII kept, anything else as ``\\xNN`` (``\\r``, ``\\n``, ``\\t``)."""
    from inspector.trace.session import escape_bytes

    return one_line(escape_bytes(data[:limit]) + ("…" if len(data) > limit else ""), limit + 1)


class StreamDissector:
    """A base for framing dissectors: one buffer and one state per direction.

    Subclasses implement :meth:`decode`, which takes the buffered bytes of one direction
    and returns the messages found and how many bytes they used; the rest stays
    buffered. A subclass that meets a fatal framing error calls :meth:`stop`: that
    direction is then ignored (a framing error cannot be resynchronised).
    """

    def __init__(self) -> None:
        self._buffers: dict[str, bytes] = {"in": b"", "out": b""}
        self._stopped: dict[str, bool] = {"in": False, "out": False}

    def feed(self, direction: Direction, data: bytes) -> list[Message]:
        """Buffer ``data`` and return every message it completes in ``direction``."""
        if direction not in self._buffers:
            raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
        if self._stopped[direction] or not data:
            return []
        buffered = self._buffers[direction] + data
        messages, used = self.decode(direction, buffered)
        self._buffers[direction] = b"" if self._stopped[direction] else buffered[used:]
        return [_with_direction(m, direction) for m in messages]

    def flush(self) -> list[Message]:
        """Report each direction's unfinished message, then forget it."""
        messages: list[Message] = []
        for direction in DIRECTIONS:
            rest = self._buffers[direction]
            self._buffers[direction] = b""
            if rest and not self._stopped[direction]:
                messages.extend(_with_direction(m, direction) for m in self.incomplete(direction, rest))
        return messages

    def stop(self, direction: Direction) -> None:
        """Ignore everything after this point in ``direction`` (after a fatal framing error)."""
        self._stopped[direction] = True

    def decode(self, direction: Direction, data: bytes) -> tuple[list[Message], int]:
        """Decode the messages at the start of ``data``; return them and the bytes they used."""
        raise NotImplementedError

    def incomplete(self, direction: Direction, rest: bytes) -> list[Message]:
        """What :meth:`flush` reports for ``rest``, the bytes of an unfinished message."""
        return [Message("incomplete", f"{len(rest)} bytes of an unfinished message: {show_bytes(rest, 60)}",
                        {"data": rest})]


def _with_direction(message: Message, direction: Direction) -> Message:
    if message.direction == direction:
        return message
    return Message(message.kind, message.summary, message.fields, direction)
