"""The ``raw`` dissector: each chunk as it arrived, summarised in hex."""

from __future__ import annotations

from inspector.dissect.base import Direction, Message

__all__ = ["RawDissector"]

#: How many bytes of a chunk its summary shows in hex.
HEX_PREVIEW = 32


class RawDissector:
    """No framing at all: every chunk fed is one ``data`` message with a hex summary.

    Unlike the framing dissectors its messages follow the chunks, so only their
    concatenation (not their number) is the same however the stream is split.
    """

    def feed(self, direction: Direction, data: bytes) -> list[Message]:
        """One message for ``data`` (none for an empty chunk)."""
        if direction not in ("in", "out"):
            raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
        if not data:
            return []
        shown = data[:HEX_PREVIEW].hex(" ")
        more = f" … (+{len(data) - HEX_PREVIEW})" if len(data) > HEX_PREVIEW else ""
        return [Message("data", f"{len(data)} bytes: {shown}{more}",
                        {"data": data, "length": len(data)}, direction)]

    def flush(self) -> list[Message]:
        """Nothing is ever buffered."""
        return []
