"""The ``irc`` dissector: IRC lines parsed with the IRC protocol's own sans-IO parser."""

from __future__ import annotations

from inspector.dissect.base import Message, one_line, show_bytes
from inspector.dissect.lines import LineDissector
from inspector.protocols.irc.message import MAX_LINE_LENGTH, MAX_TAGS_LENGTH, ParseError, decode_line, parse_message
from inspector.protocols.irc.numerics import numeric_to_symbolic

__all__ = ["IRCDissector"]


class IRCDissector(LineDissector):
    """IRC messages (RFC 1459/2812, IRCv3 tags): CRLF or LF ends a line, empty lines are skipped.

    Lines are parsed by :func:`inspector.protocols.irc.message.parse_message`, the parser
    the client and server use, so the dissector and the protocol agree on every line.
    A line that is not an IRC message is an ``error`` message saying why.
    """

    def __init__(self, max_length: int = MAX_TAGS_LENGTH + MAX_LINE_LENGTH) -> None:
        super().__init__(max_length)

    def line_received(self, line: bytes) -> list[Message]:
        """One parsed message (kind: its command), or an ``error`` for a bad line."""
        if not line:
            return []
        parsed = parse_message(line)
        if isinstance(parsed, ParseError):
            return [Message("error", f"not an IRC message ({parsed.reason}): {show_bytes(line)}",
                            {"error": parsed.reason, "data": line})]
        fields = {
            "command": parsed.command,
            "params": list(parsed.params),
            "prefix": parsed.prefix,
            "nick": parsed.nick,
            "tags": dict(parsed.tags),
        }
        name = numeric_to_symbolic.get(parsed.command)
        if name:
            fields["name"] = name
        text = decode_line(line)
        if text.startswith("@"):  # the tags are in the fields; the summary shows the message
            text = text.partition(" ")[2].lstrip(" ")
        return [Message(parsed.command, one_line(text), fields)]
