"""Keeping passwords out of recordings: IRC ``PASS``, ``OPER`` and ``AUTHENTICATE``.

A recording is a file that outlives the session and gets shared, so by default the
arguments of those commands are replaced by ``***`` in everything written: the bytes
of each connection (a stream, so a command split across reads is still caught), the
parsed protocol messages, and any other text field (a repr of a line in a callback's
result, say). The live trace in memory is left as it is.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from inspector.trace import events as ev

__all__ = ["MASK", "SECRET_COMMANDS", "Redactor", "redact_line", "redact_text"]

#: What replaces a secret argument.
MASK = "***"
#: Commands whose arguments are secrets (case-insensitive, as IRC commands are).
SECRET_COMMANDS = frozenset({b"PASS", b"OPER", b"AUTHENTICATE"})

# A line's start up to its command: optional IRCv3 tags, optional prefix, the command,
# and the byte after it (a space means arguments follow).
_HEAD = re.compile(rb"(?:@[^ \r\n]* +)?(?::[^ \r\n]* +)?([A-Za-z]+)([ \r\n])")
# What the start of a line may look like before its command is complete (no secret
# command is longer than AUTHENTICATE: a longer run of letters is decided at once, so a
# stream of letters without a line end is not scanned again at every chunk).
_PARTIAL = re.compile(rb"(?:@[^ \r\n]*(?: +|\Z))?(?::[^ \r\n]*(?: +|\Z))?[A-Za-z]{0,12}")
# Tags may be 8191 bytes; past this a line's command cannot be a secret one.
_HEAD_LIMIT = 8192 + 512

_LINE = re.compile(
    r"(\s*(?:@[^ ]* +)?(?::[^ ]* +)?(?:PASS|OPER|AUTHENTICATE) +)(.+)", re.IGNORECASE | re.DOTALL
)
_FREE = re.compile(r"\b(PASS|OPER|AUTHENTICATE)( +:?)[^\r\n'\"\\]+")
_MASK_BYTES = MASK.encode("ascii")


def redact_line(text: str) -> str:
    """One protocol line with the arguments of a secret command replaced by ``***``."""
    match = _LINE.match(text)
    if match is None:
        return redact_text(text)
    return match.group(1) + MASK


def redact_text(text: str) -> str:
    """Free text (a repr, a message) with ``PASS x``-like runs masked up to a quote or line end."""
    if "PASS" in text or "OPER" in text or "AUTHENTICATE" in text:
        return _FREE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return text


_UNDECIDED, _CLEAR, _SECRET = 0, 1, 2


class _Stream:
    """One direction of one connection: where in the current line the redactor is."""

    __slots__ = ("head", "mode", "cr")

    def __init__(self) -> None:
        self.head = b""  # the current line so far, while its command is not known yet
        self.mode = _UNDECIDED
        self.cr = False  # a secret argument ended in CR: the line ending is CRLF

    def feed(self, data: bytes) -> bytes:
        """Return ``data`` with secret arguments masked, continuing from earlier chunks."""
        out: list[bytes] = []
        pos = 0
        size = len(data)
        while pos < size:
            newline = data.find(b"\n", pos)
            end = size if newline < 0 else newline + 1
            piece = data[pos:end]
            if self.mode == _CLEAR:
                out.append(piece)
            elif self.mode == _SECRET:
                if newline >= 0:
                    out.append(b"\r\n" if piece.endswith(b"\r\n") or (piece == b"\n" and self.cr) else b"\n")
                else:
                    self.cr = piece.endswith(b"\r")
            else:
                out.append(self._decide(piece, newline >= 0))
            if newline >= 0:
                self.mode = _UNDECIDED
                self.head = b""
                self.cr = False
            pos = end
        return b"".join(out)

    def _decide(self, piece: bytes, complete: bool) -> bytes:
        emitted = len(self.head)
        line = self.head + piece
        match = _HEAD.match(line)
        if match is not None:
            self.head = b""
            if match.group(1).upper() not in SECRET_COMMANDS or match.group(2) != b" ":
                self.mode = _CLEAR
                return piece
            cut = match.end()
            masked = line[:cut] + _MASK_BYTES
            if complete:
                masked += b"\r\n" if line.endswith(b"\r\n") else b"\n"
            else:
                self.mode = _SECRET
                self.cr = line.endswith(b"\r")
            return masked[min(emitted, cut):]
        if not complete and len(line) <= _HEAD_LIMIT and _PARTIAL.fullmatch(line) is not None:
            self.head = line  # the command is not complete yet; nothing secret so far
        else:
            self.head = b""
            self.mode = _CLEAR
        return piece


class Redactor:
    """Turns events into JSON-ready dicts with secrets masked, keeping per-stream state.

    One redactor serves one recording: it must see a connection's bytes in order.
    """

    def __init__(self) -> None:
        self._streams: dict[tuple[int, bool], _Stream] = {}
        self._text_fields: dict[type, tuple[str, ...]] = {
            cls: tuple(name for name, typ in cls._field_types.items() if typ is str and name != "reactor")
            for cls in ev.EVENT_TYPES.values()
        }

    def to_json(self, event: ev.Event) -> dict[str, Any]:
        """``event.to_json()`` with every secret argument masked."""
        obj = event.to_json()
        cls = event.__class__
        if cls is ev.BytesIn or cls is ev.BytesOut:
            if event.data:  # type: ignore[attr-defined]
                key = (event.conn, cls is ev.BytesIn)
                stream = self._streams.get(key)
                if stream is None:
                    stream = self._streams[key] = _Stream()
                data = event.data  # type: ignore[attr-defined]
                masked = stream.feed(data)
                if masked != data:
                    obj["data"] = base64.b64encode(masked).decode("ascii")
            return obj
        if cls is ev.ProtocolMessage:
            obj["text"] = redact_line(obj["text"])
            return obj
        if cls is ev.ConnectionClosed:
            self._streams.pop((event.conn, True), None)
            self._streams.pop((event.conn, False), None)
        for name in self._text_fields[cls]:
            value = obj[name]
            if value:
                obj[name] = redact_text(value)
        return obj
