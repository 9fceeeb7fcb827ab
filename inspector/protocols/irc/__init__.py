"""IRC: a sans-IO message layer, a client protocol and a small server.

``message`` parses and serializes lines (no sockets), ``client`` holds
:class:`IRCClient` (Twisted's method names), ``server`` holds
:class:`IRCServerFactory`. Both protocols pass every parsed message through their
``message_received(msg)`` method, the single hook the trace uses to tag messages.
"""

from inspector.protocols.irc.client import IRCClient, split_text
from inspector.protocols.irc.framing import IRCLineProtocol
from inspector.protocols.irc.message import (
    MAX_LINE_LENGTH,
    MAX_TAGS_LENGTH,
    NUMERICS,
    X_DELIM,
    Message,
    ParseError,
    ctcp_dequote,
    ctcp_extract,
    ctcp_quote,
    ctcp_stringify,
    decode_line,
    escape_tag_value,
    is_valid_channel,
    is_valid_nick,
    low_dequote,
    low_quote,
    numeric_to_symbolic,
    parse_message,
    serialize,
    split_prefix,
    symbolic_to_numeric,
    unescape_tag_value,
)
from inspector.protocols.irc.server import Channel, IRCServerFactory, IRCServerProtocol

__all__ = [
    "IRCClient",
    "IRCLineProtocol",
    "IRCServerFactory",
    "IRCServerProtocol",
    "Channel",
    "MAX_LINE_LENGTH",
    "MAX_TAGS_LENGTH",
    "NUMERICS",
    "X_DELIM",
    "Message",
    "ParseError",
    "ctcp_dequote",
    "ctcp_extract",
    "ctcp_quote",
    "ctcp_stringify",
    "decode_line",
    "escape_tag_value",
    "is_valid_channel",
    "is_valid_nick",
    "low_dequote",
    "low_quote",
    "numeric_to_symbolic",
    "parse_message",
    "serialize",
    "split_prefix",
    "split_text",
    "symbolic_to_numeric",
    "unescape_tag_value",
]
