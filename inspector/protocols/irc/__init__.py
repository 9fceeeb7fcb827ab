"""IRC: a sans-IO message layer, a client protocol, a small server and a console client.

``message`` parses and serializes lines (no sockets), ``numerics`` names the numeric
replies, ``client`` holds :class:`IRCClient` (Twisted's method names), ``server`` holds
:class:`IRCServerFactory`, ``console_commands`` the console's slash-command table and
``console`` the interactive :class:`IRCConsoleClient`. Both protocols pass every parsed
message through their ``message_received(msg)`` method, the single hook the trace uses
to tag messages.

The names below load their module on first use, so a part of the package (the parser
for the window, the command table for the catalogue) can be imported without the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inspector.protocols.irc.client import (
        IRCClient,
        split_text,
    )
    from inspector.protocols.irc.console import IRCConsoleClient
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
    from inspector.protocols.irc.server import (
        Channel,
        IRCServerFactory,
        IRCServerProtocol,
    )

#: Public name -> the module of this package that defines it.
_EXPORTS: dict[str, str] = {
    "IRCClient": "client",
    "IRCLineProtocol": "framing",
    "IRCServerFactory": "server",
    "IRCServerProtocol": "server",
    "Channel": "server",
    "MAX_LINE_LENGTH": "message",
    "MAX_TAGS_LENGTH": "message",
    "NUMERICS": "message",
    "X_DELIM": "message",
    "Message": "message",
    "ParseError": "message",
    "ctcp_dequote": "message",
    "ctcp_extract": "message",
    "ctcp_quote": "message",
    "ctcp_stringify": "message",
    "decode_line": "message",
    "escape_tag_value": "message",
    "is_valid_channel": "message",
    "is_valid_nick": "message",
    "low_dequote": "message",
    "low_quote": "message",
    "numeric_to_symbolic": "message",
    "parse_message": "message",
    "serialize": "message",
    "split_prefix": "message",
    "split_text": "client",
    "symbolic_to_numeric": "message",
    "unescape_tag_value": "message",
    "IRCConsoleClient": "console",
}

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
    "IRCConsoleClient",
]


def __getattr__(name: str) -> Any:
    """Load the module that defines ``name`` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
