"""The greeting dissector: each netstring decoded as a ``HELLO``, ``GREETING``, ``ERROR`` or
``BYE`` message, for ``inspector open FILE --decode CONN:greeting`` and the window's Decode as.

It is sans-IO and uses only ``inspector.dissect``'s public API: the built-in ``netstrings``
dissector does the framing (and reports a broken frame), this one reads what is inside.
"""

from __future__ import annotations

from greeting.wire import unpack
from inspector import dissect
from inspector.dissect import Direction, Message
from inspector.dissect.base import one_line


class GreetingDissector:
    """Feed it each direction's bytes; get back one message per greeting-protocol message."""

    def __init__(self) -> None:
        self._frames = dissect.create("netstrings")

    def feed(self, direction: Direction, data: bytes) -> list[Message]:
        """The messages ``data`` completes in ``direction``."""
        return [self._read(frame) for frame in self._frames.feed(direction, data)]

    def flush(self) -> list[Message]:
        """What was left unfinished when the connection ended."""
        return [self._read(frame) for frame in self._frames.flush()]

    @staticmethod
    def _read(frame: Message) -> Message:
        if frame.kind != "netstring":
            return frame  # a framing error or an unfinished frame, as the netstrings dissector says
        payload = frame.fields["data"]
        try:
            verb, text = unpack(payload)
        except ValueError as exc:
            return Message("error", f"not a greeting message: {exc}", {"error": str(exc), "data": payload},
                           frame.direction)
        summary = one_line(f"{verb} {text}".rstrip())  # peer text: escaped for a terminal, one line
        return Message(verb, summary, {"verb": verb, "text": text}, frame.direction)
