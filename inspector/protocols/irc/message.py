"""IRC messages without I/O: parse a line, serialize a message, CTCP, numerics.

RFC 1459/2812 framing with IRCv3 message tags tolerated. ``parse_message`` never
raises on what a peer sends: garbage yields a :class:`ParseError` value the caller
reports. ``serialize`` is for our own messages and raises ``ValueError`` on a message
that cannot be sent (a space in a middle parameter, CR/LF/NUL anywhere, too long).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from inspector.protocols.irc.numerics import NUMERICS, numeric_to_symbolic, symbolic_to_numeric

__all__ = [
    "MAX_LINE_LENGTH",
    "MAX_TAGS_LENGTH",
    "Message",
    "ParseError",
    "parse_message",
    "serialize",
    "split_prefix",
    "NICK_LENGTH",
    "CHANNEL_LENGTH",
    "CHANNEL_PREFIXES",
    "is_valid_nick",
    "is_valid_channel",
    "escape_tag_value",
    "unescape_tag_value",
    "decode_line",
    "X_DELIM",
    "ctcp_quote",
    "ctcp_dequote",
    "low_quote",
    "low_dequote",
    "ctcp_extract",
    "ctcp_stringify",
    "NUMERICS",
    "symbolic_to_numeric",
    "numeric_to_symbolic",
]

#: A line, CRLF included, may hold this many bytes (tags excluded).
MAX_LINE_LENGTH = 512
#: The IRCv3 tags section ("@" ... " ") may hold this many bytes.
MAX_TAGS_LENGTH = 8191

X_DELIM = "\x01"


@dataclass(slots=True)
class Message:
    """One IRC message: IRCv3 tags, optional source prefix, command, parameters.

    ``command`` is upper-cased (numerics stay three digits); ``params`` holds every
    parameter, the trailing one included, without its leading colon.
    """

    command: str
    params: list[str] = field(default_factory=list)
    prefix: str | None = None
    tags: dict[str, str | None] = field(default_factory=dict)
    #: Indices of the parameters that arrived as bytes that are not UTF-8: those were
    #: decoded as Latin-1 (one character per byte), so their bytes can be sent on as
    #: received (see :meth:`param_bytes`) instead of being re-encoded.
    undecodable: tuple[int, ...] = field(default=(), compare=False, repr=False)

    @property
    def nick(self) -> str | None:
        """The nick (or server name) of the prefix, if there is one."""
        return split_prefix(self.prefix)[0] if self.prefix else None

    def param_bytes(self, index: int) -> bytes:
        """The bytes of ``params[index]`` as the peer sent them (UTF-8 for our own messages).

        A server relaying a message passes these on, so text in another encoding
        reaches its readers unchanged rather than re-encoded as UTF-8 mojibake.
        """
        param = self.params[index]
        if self.undecodable and (index % len(self.params) if index < 0 else index) in self.undecodable:
            try:
                return param.encode("latin-1")
            except UnicodeEncodeError:  # changed since parsing: it is text now
                pass
        return param.encode("utf-8")

    def to_bytes(self) -> bytes:
        """Serialize without the CRLF; see :func:`serialize`."""
        return serialize(self)


@dataclass
class ParseError:
    """What ``parse_message`` returns for a line that is not an IRC message."""

    reason: str
    line: bytes | str

    def __bool__(self) -> bool:
        return False


def _from_escaped(text: str) -> str:
    """A piece of a surrogate-escaped decoding, decoded again: UTF-8 if it is, else Latin-1."""
    return decode_line(text.encode("utf-8", "surrogateescape"))


def _encoded_length(text: str) -> int:
    """Bytes ``text`` stood for on the wire (escaped bytes count one each)."""
    try:
        return len(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return len(text.encode("utf-8", "surrogatepass"))


def decode_line(line: bytes) -> str:
    """Decode a received line: UTF-8 when it is valid, else Latin-1 (lossless)."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_QUOTES = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}


_TAG_ESCAPE_RE = re.compile(r"\\(.?)", re.DOTALL)


def _tag_unescape_one(match: re.Match) -> str:
    ch = match.group(1)
    return _TAG_ESCAPES.get(ch, ch)


def unescape_tag_value(value: str) -> str:
    """Undo IRCv3 tag-value escaping; unknown escapes keep the character, a lone final backslash is dropped."""
    if "\\" not in value:
        return value
    return _TAG_ESCAPE_RE.sub(_tag_unescape_one, value)


def escape_tag_value(value: str) -> str:
    """Escape a tag value so it survives in the tags section."""
    return "".join(_TAG_QUOTES.get(ch, ch) for ch in value)


def _parse_tags(text: str) -> dict[str, str | None]:
    tags: dict[str, str | None] = {}
    for item in text.split(";"):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if key:
            tags[key] = unescape_tag_value(value) if eq else None
    return tags


#: Raw command -> canonical (upper-case) command, for commands already validated once.
_COMMANDS: dict[str, str] = {}
_COMMANDS_MAX = 512


def _command(word: str) -> str | None:
    """The canonical form of a command word (letters, or three digits), or None if invalid."""
    known = _COMMANDS.get(word)
    if known is not None:
        return known
    if not (word.isascii() and (word.isalpha() or (len(word) == 3 and word.isdigit()))):
        return None
    canonical = word.upper()
    if len(_COMMANDS) < _COMMANDS_MAX:
        _COMMANDS[word] = canonical
    return canonical


def parse_message(line: bytes | str, max_length: int | None = None) -> Message | ParseError:
    """Parse one line (CRLF optional) into a :class:`Message`, or return a :class:`ParseError`.

    ``max_length`` (bytes, CRLF counted, tags not) reports over-long lines as errors;
    by default any length is accepted, since some servers relay longer lines.
    """
    raw = line
    escaped = False
    if type(line) is bytes:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            # Not UTF-8: parse with the bad bytes escaped, then decode as Latin-1 only
            # the parts that hold them, so UTF-8 channel names still match and the
            # text's bytes can be relayed exactly (Message.param_bytes).
            text = line.decode("utf-8", "surrogateescape")
            escaped = True
    elif isinstance(line, (str, bytes, bytearray)):
        text = line if isinstance(line, str) else decode_line(bytes(line))
    else:
        return ParseError(f"expected bytes or str, not {type(line).__name__}", repr(line))
    if text[-1:] in ("\n", "\r"):
        text = text.rstrip("\r\n")
    if "\n" in text or "\r" in text:
        return ParseError("line contains CR or LF before its end", raw)
    if "\x00" in text:
        return ParseError("line contains a NUL byte", raw)
    if text[:1] == " ":
        text = text.lstrip(" ")
    if not text:
        return ParseError("no command", raw)
    tags: dict[str, str | None] = {}
    if text[0] == "@":
        tag_text, _, text = text[1:].partition(" ")
        if _encoded_length(tag_text) + 2 > MAX_TAGS_LENGTH:
            return ParseError("tags section too long", raw)
        if escaped:
            tag_text = _from_escaped(tag_text)
        tags = _parse_tags(tag_text)
        if text[:1] == " ":
            text = text.lstrip(" ")
    if max_length is not None:
        body_length = _encoded_length(text) + 2
        if body_length > max_length:
            return ParseError(f"line too long ({body_length} > {max_length} bytes)", raw)
    prefix = None
    if text[:1] == ":":
        space = text.find(" ")
        if space == -1:
            return ParseError("no command", raw)
        prefix = text[1:space]
        if not prefix:
            return ParseError("empty prefix", raw)
        if escaped:
            prefix = _from_escaped(prefix)
        text = text[space + 1 :]
        if text[:1] == " ":
            text = text.lstrip(" ")
    if not text or text[0] == ":":
        return ParseError("no command", raw)
    trailing_at = text.find(" :")
    if trailing_at == -1:
        params = text.split(" ")
    else:
        params = text[:trailing_at].split(" ")
    if "" in params:  # runs of spaces separate parameters too
        params = [word for word in params if word]
    command = _command(params[0])
    if command is None:
        word = _from_escaped(params[0]) if escaped else params[0]
        return ParseError(f"bad command {word[:32]!r}", raw)
    del params[0]
    if trailing_at != -1:
        params.append(text[trailing_at + 2 :])
    if escaped:
        undecodable = []
        for index, param in enumerate(params):
            if not param.isascii():
                data = param.encode("utf-8", "surrogateescape")
                try:
                    params[index] = data.decode("utf-8")
                except UnicodeDecodeError:
                    params[index] = data.decode("latin-1")
                    undecodable.append(index)
        return Message(command, params, prefix, tags, tuple(undecodable))
    return Message(command, params, prefix, tags)


def _check_text(what: str, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"{what} must not contain CR, LF or NUL: {value[:40]!r}")


def serialize(message: Message, max_length: int | None = MAX_LINE_LENGTH) -> bytes:
    """Encode ``message`` as UTF-8 bytes without CRLF.

    Raises ``ValueError`` if it cannot be sent as one line: CR/LF/NUL anywhere, a space
    or leading colon in a parameter other than the last, or longer than ``max_length``
    bytes with CRLF (tags excluded; ``None`` disables the check).
    """
    parts = []
    if message.tags:
        items = []
        for key, value in message.tags.items():
            _check_text("tag key", key)
            if not key or " " in key or ";" in key or "=" in key:
                raise ValueError(f"bad tag key {key!r}")
            items.append(key if value is None else f"{key}={escape_tag_value(value)}")
        tags = "@" + ";".join(items)
        if len(tags.encode("utf-8")) + 1 > MAX_TAGS_LENGTH:
            raise ValueError("tags section too long")
    else:
        tags = ""
    if message.prefix is not None:
        _check_text("prefix", message.prefix)
        if not message.prefix or " " in message.prefix:
            raise ValueError(f"bad prefix {message.prefix!r}")
        parts.append(":" + message.prefix)
    _check_text("command", message.command)
    if not message.command or " " in message.command or message.command.startswith(":"):
        raise ValueError(f"bad command {message.command!r}")
    parts.append(message.command)
    params = list(message.params)
    undecodable = message.undecodable
    raw_parts = [part.encode("utf-8") for part in parts]
    for index, param in enumerate(params):
        _check_text("parameter", param)
        last = index == len(params) - 1
        special = not param or " " in param or param.startswith(":")
        if special and not last:
            raise ValueError(f"only the last parameter may be empty, hold spaces or start with ':' ({param[:40]!r})")
        # A parameter received as bytes that are not UTF-8 goes out as it came.
        data = message.param_bytes(index) if undecodable else param.encode("utf-8")
        raw_parts.append(b":" + data if special else data)
    body = b" ".join(raw_parts)
    if max_length is not None and len(body) + 2 > max_length:
        raise ValueError(f"message is {len(body) + 2} bytes with CRLF; the limit is {max_length}")
    if tags:
        return tags.encode("utf-8") + b" " + body
    return body


def split_prefix(prefix: str) -> tuple[str, str | None, str | None]:
    """Split ``nick!user@host`` into (nick, user, host); missing parts are None."""
    nick, bang, rest = prefix.partition("!")
    if bang:
        user, at, host = rest.partition("@")
        return nick, user, (host if at else None)
    nick, at, host = prefix.partition("@")
    return nick, None, (host if at else None)


# ------------------------------------------------------------------------------ names

#: Longest nickname and channel name we accept by default (NICKLEN, CHANNELLEN).
NICK_LENGTH = 30
CHANNEL_LENGTH = 50
#: Channel prefixes of RFC 2812: network-wide, local, modeless, safe.
CHANNEL_PREFIXES = "#&+!"

# RFC 2812 nickname: a letter or one of []\`_^{|} first, then letters, digits, those or '-'.
_NICK_RE = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*")
# What follows a channel's prefix: no NUL, BEL, CR, LF, space, comma or colon.
_CHANNEL_BODY_RE = re.compile(r"[^\x00\x07\r\n ,:]+")


def is_valid_nick(text: str, max_length: int = NICK_LENGTH) -> bool:
    """True when ``text`` is an RFC 2812 nickname of at most ``max_length`` characters."""
    return len(text) <= max_length and _NICK_RE.fullmatch(text) is not None


def is_valid_channel(text: str, max_length: int = CHANNEL_LENGTH, prefixes: str = CHANNEL_PREFIXES) -> bool:
    """True when ``text`` is one of ``prefixes`` then at least one character allowed in a
    channel name, at most ``max_length`` characters in all."""
    return 1 < len(text) <= max_length and text[0] in prefixes and _CHANNEL_BODY_RE.fullmatch(text, 1) is not None


# ------------------------------------------------------------------------------ CTCP

_M_QUOTE = "\x10"
_LOW_QUOTES = {"\x10": "\x10\x10", "\x00": "\x100", "\n": "\x10n", "\r": "\x10r"}
_LOW_UNQUOTES = {"\x10": "\x10", "0": "\x00", "n": "\n", "r": "\r"}
_X_QUOTE = "\\"
_CTCP_QUOTES = {"\\": "\\\\", X_DELIM: "\\a"}
_CTCP_UNQUOTES = {"\\": "\\", "a": X_DELIM}


def _dequote(text: str, mark: str, table: dict[str, str]) -> str:
    if mark not in text:
        return text
    out = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == mark and i + 1 < n and text[i + 1] in table:
            out.append(table[text[i + 1]])
            i += 2
        else:
            # An unknown escape is kept as it is: nothing a user typed is lost.
            out.append(ch)
            i += 1
    return "".join(out)


def low_quote(text: str) -> str:
    """CTCP low-level (M-QUOTE) quoting of NUL, CR, LF and the quote character."""
    return "".join(_LOW_QUOTES.get(ch, ch) for ch in text)


def low_dequote(text: str) -> str:
    """Undo :func:`low_quote`."""
    return _dequote(text, _M_QUOTE, _LOW_UNQUOTES)


def ctcp_quote(text: str) -> str:
    """CTCP-level (X-QUOTE) quoting of the backslash and the \\x01 delimiter."""
    return "".join(_CTCP_QUOTES.get(ch, ch) for ch in text)


def ctcp_dequote(text: str) -> str:
    """Undo :func:`ctcp_quote`; unknown escapes are left as written."""
    return _dequote(text, _X_QUOTE, _CTCP_UNQUOTES)


def ctcp_extract(text: str) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Split a PRIVMSG/NOTICE text into CTCP messages and plain text.

    Returns (extended, normal): extended is a list of (TAG, data or None), normal a
    list of the plain text pieces. An unterminated final CTCP message (no closing
    \\x01, as some clients send ACTION) is accepted.
    """
    extended: list[tuple[str, str | None]] = []
    normal: list[str] = []
    pieces = text.split(X_DELIM)
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            if piece:
                normal.append(piece)
        elif piece:
            tag, space, data = piece.partition(" ")
            if tag:
                extended.append((tag.upper(), ctcp_dequote(data) if space else None))
            else:
                normal.append(piece)
    return extended, normal


def ctcp_stringify(messages: Iterable[tuple[str, str | None]]) -> str:
    """Build the text of CTCP messages: each (TAG, data or None) between \\x01 delimiters."""
    out = []
    for tag, data in messages:
        if not tag or " " in tag or X_DELIM in tag:
            raise ValueError(f"bad CTCP tag {tag!r}")
        body = tag if data is None else f"{tag} {ctcp_quote(data)}"
        out.append(X_DELIM + body + X_DELIM)
    return "".join(out)
