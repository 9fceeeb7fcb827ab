"""Length-prefixed framings: netstrings and int32-prefixed strings (Twisted's receivers)."""

from __future__ import annotations

import struct

from inspector.dissect.base import Direction, Message, StreamDissector, show_bytes

__all__ = ["NetstringDissector", "Int32Dissector", "MAX_LENGTH"]

#: The longest payload accepted by default, as Twisted's receivers' ``MAX_LENGTH``.
MAX_LENGTH = 99999


def _payload(kind: str, payload: bytes) -> Message:
    return Message(kind, f"{len(payload)} bytes: {show_bytes(payload)}",
                   {"data": payload, "length": len(payload)})


def _error(error: str, summary: str, **fields: object) -> Message:
    return Message("error", summary, {"error": error, **fields})


class NetstringDissector(StreamDissector):
    """Netstrings (``5:hello,``). A bad length, an over-long string or a missing comma ends
    decoding of that direction with one ``error`` message, as the framing is then lost."""

    def __init__(self, max_length: int = MAX_LENGTH) -> None:
        super().__init__()
        self.max_length = max_length
        self._max_digits = str(max_length)

    def decode(self, direction: Direction, data: bytes) -> tuple[list[Message], int]:
        """Every complete netstring at the start of ``data``."""
        messages: list[Message] = []
        pos = 0
        while pos < len(data):
            colon = data.find(b":", pos)
            header = data[pos : colon if colon != -1 else len(data)]
            bad = next((i for i, byte in enumerate(header) if not 0x30 <= byte <= 0x39), None)
            if bad is not None:
                return self._fail(direction, messages, _error(
                    "bad length", f"bad netstring length: {show_bytes(header[: bad + 1])} is not a digit"))
            if len(header) > 1 and header[:1] == b"0":
                return self._fail(direction, messages, _error(
                    "bad length", "bad netstring length: a leading zero"))
            # Judged on the shortest prefix that is too big, so any split gives the same error.
            limit = self._max_digits
            if len(header) > len(limit) or (len(header) == len(limit) and header.decode() > limit):
                return self._fail(direction, messages, _error(
                    "too long", f"netstring length over the maximum of {self.max_length} bytes",
                    max_length=self.max_length))
            if colon == -1:
                return messages, pos
            if not header:
                return self._fail(direction, messages, _error("bad length", "bad netstring length: empty"))
            length = int(header)
            end = colon + 1 + length
            if end >= len(data):
                return messages, pos
            if data[end : end + 1] != b",":
                return self._fail(direction, messages, _error(
                    "no comma", f"netstring of {length} bytes not followed by ','"
                    f" but {show_bytes(data[end : end + 1])}"))
            messages.append(_payload("netstring", data[colon + 1 : end]))
            pos = end + 1
        return messages, pos

    def _fail(self, direction: Direction, messages: list[Message], error: Message) -> tuple[list[Message], int]:
        messages.append(error)
        self.stop(direction)
        return messages, 0


class Int32Dissector(StreamDissector):
    """Strings prefixed by their length as a 4-byte big-endian unsigned integer, as
    Twisted's ``Int32StringReceiver``. A length over ``max_length`` ends decoding of that
    direction with one ``error`` message (the receiver would drop the connection)."""

    prefix = struct.Struct("!I")

    def __init__(self, max_length: int = MAX_LENGTH) -> None:
        super().__init__()
        self.max_length = max_length

    def decode(self, direction: Direction, data: bytes) -> tuple[list[Message], int]:
        """Every complete string at the start of ``data``."""
        messages: list[Message] = []
        pos = 0
        size = self.prefix.size
        while len(data) - pos >= size:
            (length,) = self.prefix.unpack_from(data, pos)
            if length > self.max_length:
                messages.append(_error(
                    "too long", f"int32 length {length} over the maximum of {self.max_length} bytes",
                    length=length, max_length=self.max_length))
                self.stop(direction)
                return messages, 0
            end = pos + size + length
            if end > len(data):
                break
            messages.append(_payload("string", data[pos + size : end]))
            pos = end
        return messages, pos
