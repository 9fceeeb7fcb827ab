"""Decode a connection's recorded bytes again with any dissector ("Decode as…").

``inspector open FILE --decode CONN:NAME`` and the window's "Decode as…" both use
:class:`Redecoder`, so they show the same messages. It is incremental: a live
connection's chunk list grows (and its last chunk may grow in place), and each
:meth:`Redecoder.update` feeds only the bytes not fed before. A dissector that raises
gives one ``error`` message (its traceback goes to the log) and is not fed again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, Sequence, cast

from inspector.dissect.base import Direction, Dissector, Message
from inspector.dissect.registry import create

__all__ = ["RecordedChunk", "Decoded", "Redecoder"]

log = logging.getLogger("inspector.dissect")


class RecordedChunk(Protocol):
    """One recorded piece of a stream, as the window's store and a trace keep them."""

    @property
    def time(self) -> float: ...
    @property
    def direction(self) -> str: ...
    @property
    def data(self) -> bytes | bytearray: ...


@dataclass(frozen=True, slots=True)
class Decoded:
    """A message found again, and when: the time of the chunk that completed it."""

    time: float
    message: Message


class Redecoder:
    """Feeds a connection's recorded chunks, oldest first, to a fresh dissector ``name``.

    Raises ``UnknownDissector`` or ``BadDissector`` when made, as ``dissect.create`` does.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.dissector: Dissector = create(name)
        self.failed = False
        self._index = 0  # the chunk fed last (it may still grow)
        self._offset = 0  # how much of it was fed
        self._last = 0.0

    def update(self, chunks: Sequence[RecordedChunk]) -> list[Decoded]:
        """Feed what ``chunks`` (the same list as last time, maybe longer) holds beyond
        what was fed before; return the messages it completes."""
        found: list[Decoded] = []
        while not self.failed and self._index < len(chunks):
            chunk = chunks[self._index]
            data = chunk.data
            if self._offset < len(data):
                piece = bytes(data[self._offset:])
                self._offset = len(data)
                self._last = chunk.time
                found.extend(self._feed(chunk.time, chunk.direction, piece))
            if self._index == len(chunks) - 1:
                break  # the newest chunk may still grow: stay on it
            self._index += 1
            self._offset = 0
        return found

    def finish(self) -> list[Decoded]:
        """The stream ended: the dissector's unfinished tail, if any."""
        if self.failed:
            return []
        try:
            messages = self.dissector.flush()
            return [Decoded(self._last, _checked(m)) for m in messages]
        except Exception as exc:
            return [self._failure(exc, "in")]

    def _feed(self, when: float, direction: str, data: bytes) -> list[Decoded]:
        if direction not in ("in", "out"):
            return []
        try:
            messages = self.dissector.feed(cast(Direction, direction), data)
            return [Decoded(when, _checked(m)) for m in messages]
        except Exception as exc:
            return [self._failure(exc, direction)]

    def _failure(self, exc: Exception, direction: str) -> Decoded:
        self.failed = True
        log.error("dissector %r failed while decoding again", self.name, exc_info=exc)
        text = f"dissector {self.name!r} failed: {type(exc).__name__}: {exc}"
        return Decoded(self._last, Message("error", text, {"error": text}, cast(Direction, direction)))


def _checked(message: object) -> Message:
    """``message`` as a Message (a plug-in's own type with ``kind`` and ``summary`` works);
    TypeError for anything else, so a broken plug-in fails inside the ``try``."""
    if isinstance(message, Message):
        return message
    try:
        kind, summary = getattr(message, "kind"), getattr(message, "summary")
    except AttributeError:
        raise TypeError(f"returned a {type(message).__name__}, not a Message") from None
    direction = getattr(message, "direction", "in")
    return Message(str(kind), str(summary), dict(getattr(message, "fields", None) or {}),
                   "out" if direction == "out" else "in")
