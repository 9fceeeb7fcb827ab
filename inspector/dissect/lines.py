"""Line framing (CRLF or LF) with a cap on line length, and the ``lines`` dissector."""

from __future__ import annotations

from inspector.dissect.base import Direction, Message, StreamDissector, one_line, show_bytes

__all__ = ["LineDissector", "MAX_LINE_LENGTH"]

#: The longest line the ``lines`` dissector accepts, in bytes, line ending excluded.
MAX_LINE_LENGTH = 16384
#: How many bytes of an over-long line its error message shows.
PREVIEW_LENGTH = 40


class LineDissector(StreamDissector):
    """Split each direction at LF (a CR before it is dropped); each line is a message.

    A line longer than ``max_length`` is not buffered without bound: one ``error``
    message ("line too long") is reported as soon as the line passes the cap, and the
    rest of it, up to its LF, is skipped. Subclasses turn a line into messages by
    overriding :meth:`line_received`.
    """

    def __init__(self, max_length: int = MAX_LINE_LENGTH) -> None:
        super().__init__()
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        self.max_length = max_length
        self._discarding: dict[str, bool] = {"in": False, "out": False}

    def decode(self, direction: Direction, data: bytes) -> tuple[list[Message], int]:
        """Every complete line of ``data``; an over-long one reported once and skipped."""
        messages: list[Message] = []
        pos = 0
        limit = self.max_length
        while True:
            end = data.find(b"\n", pos)
            if self._discarding[direction]:
                if end == -1:
                    return messages, len(data)
                self._discarding[direction] = False
                pos = end + 1
                continue
            if end == -1:
                rest = len(data) - pos
                # The last byte may be the CR of a CRLF still to come: it does not count yet.
                if rest > limit + 1 or (rest == limit + 1 and data[-1:] != b"\r"):
                    messages.append(self._too_long(data[pos : pos + PREVIEW_LENGTH]))
                    self._discarding[direction] = True
                    return messages, len(data)
                return messages, pos
            line = data[pos:end]
            pos = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > limit:
                messages.append(self._too_long(line[:PREVIEW_LENGTH]))
            else:
                messages.extend(self.line_received(line))

    def _too_long(self, start: bytes) -> Message:
        start = start[: min(PREVIEW_LENGTH, self.max_length)]
        return Message(
            "error",
            f"line too long (over {self.max_length} bytes), skipped: {show_bytes(start)}…",
            {"error": "line too long", "max_length": self.max_length, "start": start},
        )

    def line_received(self, line: bytes) -> list[Message]:
        """The messages one line (without its line ending) stands for."""
        text = _decode(line)
        return [Message("line", one_line(text) if line else "(empty line)", {"text": text, "data": line})]

    def incomplete(self, direction: Direction, rest: bytes) -> list[Message]:
        """An unterminated last line is still a line (a peer may close without a newline)."""
        if self._discarding[direction]:
            return []
        if rest.endswith(b"\r"):
            rest = rest[:-1]
        return [Message(m.kind, m.summary + " (no line ending)", {**m.fields, "unterminated": True})
                for m in self.line_received(rest)]


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")
