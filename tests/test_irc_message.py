"""The sans-IO IRC layer: parsing, serializing, tags, CTCP, numerics, framing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocols.irc import (
    MAX_LINE_LENGTH,
    IRCLineProtocol,
    Message,
    ParseError,
    ctcp_dequote,
    ctcp_extract,
    ctcp_quote,
    ctcp_stringify,
    escape_tag_value,
    is_valid_channel,
    is_valid_nick,
    low_dequote,
    low_quote,
    numeric_to_symbolic,
    parse_message,
    serialize,
    split_prefix,
    split_text,
    symbolic_to_numeric,
    unescape_tag_value,
)
from inspector.testing import StringTransport

# ---------------------------------------------------------------- parsing


def test_parse_full_message_with_prefix_and_trailing() -> None:
    msg = parse_message(b":nick!user@host PRIVMSG #chan :hello there\r\n")
    assert msg == Message("PRIVMSG", ["#chan", "hello there"], "nick!user@host", {})
    assert msg.nick == "nick"


def test_parse_without_prefix_and_bare_lf() -> None:
    assert parse_message(b"PING :abc\n") == Message("PING", ["abc"])


def test_parse_middle_params_and_lowercase_command() -> None:
    msg = parse_message("user guest 0 * :Real Name")
    assert msg.command == "USER"
    assert msg.params == ["guest", "0", "*", "Real Name"]


def test_parse_trailing_keeps_colons_and_spaces() -> None:
    msg = parse_message(":s 372 me :-  a :colon:  and  spaces ")
    assert msg.params == ["me", "-  a :colon:  and  spaces "]


def test_parse_empty_trailing() -> None:
    assert parse_message("TOPIC #c :").params == ["#c", ""]


def test_parse_numeric() -> None:
    msg = parse_message(":irc.example 001 bob :Welcome")
    assert msg.command == "001" and msg.prefix == "irc.example"


def test_parse_extra_spaces_between_params() -> None:
    assert parse_message("MODE  #c   +o   bob").params == ["#c", "+o", "bob"]


def test_parse_ircv3_tags_with_escapes() -> None:
    msg = parse_message(r"@time=2024-01-01T00:00:00Z;msgid=a\sb\:c\\d;flag :n!u@h PRIVMSG #c :hi")
    assert msg.tags == {"time": "2024-01-01T00:00:00Z", "msgid": "a b;c\\d", "flag": None}
    assert msg.command == "PRIVMSG" and msg.params == ["#c", "hi"]


def test_parse_latin1_fallback_keeps_every_byte() -> None:
    msg = parse_message(b"PRIVMSG #c :caf\xe9")
    assert msg.params[-1] == "caf\xe9"


def test_parse_utf8() -> None:
    assert parse_message("PRIVMSG #c :héllo ☃".encode()).params[-1] == "héllo ☃"


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"", "no command"),
        (b"   ", "no command"),
        (b":prefixonly", "no command"),
        (b": PRIVMSG x", "empty prefix"),
        (b"@tags=only", "no command"),
        (b"PRIV\x00MSG x", "NUL"),
        (b"PRIVMSG a\nb", "CR or LF"),
        (b"12 x", "bad command"),
        (b"\xff\xfe\xfd", "bad command"),
        (b"PRIV-MSG x", "bad command"),
    ],
)
def test_parse_garbage_returns_error_value(line: bytes, reason: str) -> None:
    result = parse_message(line)
    assert isinstance(result, ParseError)
    assert reason in result.reason
    assert not result


def test_parse_non_text_input_is_an_error_value() -> None:
    assert isinstance(parse_message(12345), ParseError)  # type: ignore[arg-type]


def test_parse_max_length() -> None:
    line = "PRIVMSG #c :" + "x" * 500
    assert isinstance(parse_message(line, max_length=MAX_LINE_LENGTH), ParseError)
    assert isinstance(parse_message(line[:510], max_length=MAX_LINE_LENGTH), Message)
    # The tags section does not count against the 512 bytes.
    tagged = "@k=" + "v" * 600 + " " + line[:510]
    assert isinstance(parse_message(tagged, max_length=MAX_LINE_LENGTH), Message)


# ---------------------------------------------------------------- serializing


def test_serialize_adds_colon_only_when_needed() -> None:
    assert serialize(Message("NICK", ["bob"])) == b"NICK bob"
    assert serialize(Message("PRIVMSG", ["#c", "hi there"])) == b"PRIVMSG #c :hi there"
    assert serialize(Message("PRIVMSG", ["#c", ":)"])) == b"PRIVMSG #c ::)"
    assert serialize(Message("TOPIC", ["#c", ""])) == b"TOPIC #c :"
    assert serialize(Message("PING", ["x"], "srv")) == b":srv PING x"


def test_serialize_tags_escaped() -> None:
    raw = serialize(Message("TAGMSG", ["#c"], None, {"a": "x y;z", "b": None}))
    assert raw == rb"@a=x\sy\:z;b TAGMSG #c"
    assert parse_message(raw).tags == {"a": "x y;z", "b": None}


@pytest.mark.parametrize(
    "message",
    [
        Message("PRIVMSG", ["#c", "a\r\nQUIT"]),
        Message("PRIVMSG", ["two words", "x"]),
        Message("PRIVMSG", ["", "x"]),
        Message("PRIVMSG", [":x", "y"]),
        Message("", []),
        Message("BAD CMD", []),
        Message("PING", ["x"], "has space"),
        Message("PRIVMSG", ["#c", "x" * 600]),
        Message("PRIVMSG", ["#c", "nul\x00"]),
    ],
)
def test_serialize_rejects_what_cannot_be_sent(message: Message) -> None:
    with pytest.raises(ValueError):
        serialize(message)


def test_serialize_length_limit_counts_crlf() -> None:
    ok = Message("PRIVMSG", ["#c", "a " + "x" * (508 - len("PRIVMSG #c :"))])
    assert len(serialize(ok)) == 510
    with pytest.raises(ValueError, match="512"):
        serialize(Message("PRIVMSG", ["#c", "a " + "x" * (509 - len("PRIVMSG #c :"))]))


_middle = st.text(
    alphabet=st.characters(blacklist_characters=" \r\n\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=20,
).filter(lambda s: not s.startswith(":"))
_trailing = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
    max_size=60,
)
_tag_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-/.0123456789", min_size=1, max_size=10)
_tag_value = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(
    command=st.one_of(st.sampled_from(["PRIVMSG", "NOTICE", "JOIN", "MODE"]), st.from_regex(r"\A[0-9]{3}\Z")),
    middles=st.lists(_middle, max_size=5),
    trailing=st.one_of(st.none(), _trailing),
    prefix=st.one_of(st.none(), _middle),
    tags=st.dictionaries(_tag_key, _tag_value, max_size=4),
)
def test_round_trip(command, middles, trailing, prefix, tags) -> None:
    params = middles + ([trailing] if trailing is not None else [])
    message = Message(command, params, prefix, tags)
    parsed = parse_message(serialize(message, max_length=None))
    assert isinstance(parsed, Message), parsed
    assert parsed == message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    result = parse_message(data)
    assert isinstance(result, (Message, ParseError))
    if isinstance(result, Message):
        # Whatever parses re-serializes and parses to the same message.
        again = parse_message(serialize(result, max_length=None))
        assert again == result


# ---------------------------------------------------------------- tags, prefixes


@pytest.mark.parametrize(
    "escaped, value",
    [(r"a\sb", "a b"), (r"a\:b", "a;b"), (r"a\\b", "a\\b"), (r"a\r\n", "a\r\n"), (r"a\b", "ab"), ("a\\", "a")],
)
def test_tag_value_unescape(escaped: str, value: str) -> None:
    assert unescape_tag_value(escaped) == value


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_tag_value_escape_round_trip(value: str) -> None:
    assert unescape_tag_value(escape_tag_value(value)) == value


def test_split_prefix() -> None:
    assert split_prefix("nick!user@host") == ("nick", "user", "host")
    assert split_prefix("irc.server") == ("irc.server", None, None)
    assert split_prefix("nick@host") == ("nick", None, "host")


# ---------------------------------------------------------------- CTCP


def test_ctcp_extract_action() -> None:
    assert ctcp_extract("\x01ACTION waves\x01") == ([("ACTION", "waves")], [])


def test_ctcp_extract_action_missing_final_delimiter() -> None:
    assert ctcp_extract("\x01ACTION waves hello") == ([("ACTION", "waves hello")], [])


def test_ctcp_extract_mixed_text_and_queries() -> None:
    extended, normal = ctcp_extract("hi \x01VERSION\x01 there\x01ping 123\x01")
    assert extended == [("VERSION", None), ("PING", "123")]
    assert normal == ["hi ", " there"]


def test_ctcp_stringify_round_trip_with_delimiter_in_data() -> None:
    text = ctcp_stringify([("ACTION", "says \x01 and \\ ok")])
    assert text.count("\x01") == 2
    assert ctcp_extract(text) == ([("ACTION", "says \x01 and \\ ok")], [])


def test_ctcp_dequote_keeps_unknown_escapes() -> None:
    assert ctcp_dequote(r"C:\path") == r"C:\path"


@given(st.text())
def test_ctcp_quote_round_trip(text: str) -> None:
    assert "\x01" not in ctcp_quote(text)
    assert ctcp_dequote(ctcp_quote(text)) == text


@given(st.text())
def test_low_quote_round_trip(text: str) -> None:
    quoted = low_quote(text)
    assert not set(quoted) & {"\r", "\n", "\x00"}
    assert low_dequote(quoted) == text


def test_ctcp_stringify_rejects_bad_tag() -> None:
    with pytest.raises(ValueError):
        ctcp_stringify([("TWO WORDS", None)])


# ---------------------------------------------------------------- numerics


def test_numeric_names() -> None:
    assert symbolic_to_numeric["RPL_WELCOME"] == "001"
    assert numeric_to_symbolic["433"] == "ERR_NICKNAMEINUSE"
    assert numeric_to_symbolic["417"] == "ERR_INPUTTOOLONG"
    assert len(numeric_to_symbolic) == len(symbolic_to_numeric)


# ---------------------------------------------------------------- message splitting


@pytest.mark.parametrize(
    ("nick", "valid"),
    [
        ("alice", True),
        ("[bot]_2-x", True),
        ("a" * 30, True),
        ("", False),
        ("9lives", False),
        ("a b", False),
        ("-a", False),
        ("a" * 31, False),
    ],
)
def test_nick_syntax(nick: str, valid: bool) -> None:
    assert is_valid_nick(nick) is valid


def test_nick_length_limit_is_the_callers() -> None:
    assert is_valid_nick("alice", max_length=5)
    assert not is_valid_nick("alice", max_length=4)


@pytest.mark.parametrize(
    ("channel", "valid"),
    [
        ("#tea", True),
        ("&local", True),
        ("+modeless", True),
        ("!safe", True),
        ("#" + "c" * 49, True),
        ("#", False),
        ("tea", False),
        ("#a,b", False),
        ("#a b", False),
        ("#a:b", False),
        ("#a\x07", False),
        ("#" + "c" * 50, False),
    ],
)
def test_channel_syntax(channel: str, valid: bool) -> None:
    assert is_valid_channel(channel) is valid


def test_channel_prefixes_and_length_are_the_callers() -> None:
    assert not is_valid_channel("+x", prefixes="#&")
    assert is_valid_channel("&x", prefixes="#&")
    assert not is_valid_channel("#abcd", max_length=4)


def test_split_text_prefers_spaces_and_never_cuts_characters() -> None:
    text = ("word " * 50 + "☃" * 40).strip()
    pieces = split_text(text, 40)
    assert all(len(p.encode()) <= 40 for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert all(not p.startswith(" ") for p in pieces)


def test_split_text_on_newlines_only() -> None:
    assert split_text("a\r\nb\nc\rd\x1de", 100) == ["a", "b", "c", "d\x1de"]


# ---------------------------------------------------------------- framing


class _Recorder(IRCLineProtocol):
    MAX_LENGTH = 32

    def __init__(self) -> None:
        self.transport = StringTransport()
        self.events: list[tuple[str, object]] = []

    def message_received(self, message: Message) -> None:
        self.events.append(("msg", message.command))

    def bad_line_received(self, line: bytes, error: ParseError) -> None:
        self.events.append(("bad", line))

    def lineLengthExceeded(self, line: bytes) -> None:
        self.events.append(("long", len(line)))


def test_framing_crlf_lf_empty_lines_and_overlong() -> None:
    p = _Recorder()
    p.dataReceived(b"PING a\r\n\r\n\nPONG b\n" + b"X" * 40 + b"\r\nJOIN #c\r\n!!\r\n")
    assert p.events == [("msg", "PING"), ("msg", "PONG"), ("long", 40), ("msg", "JOIN"), ("bad", b"!!")]


def test_framing_overlong_unterminated_line_is_reported_once_then_skipped() -> None:
    p = _Recorder()
    for _ in range(5):
        p.dataReceived(b"Y" * 20)
    p.dataReceived(b"tail\r\nNICK x\r\n")
    assert p.events == [("long", 40), ("msg", "NICK")]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_framing_random_bytes_at_random_splits(data: bytes, cuts: list[int]) -> None:
    """Any bytes, cut anywhere, give the same events as one chunk, and never raise."""
    whole = _Recorder()
    whole.dataReceived(data)
    pieces = _Recorder()
    last = 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        pieces.dataReceived(data[last:cut])
        last = cut
    pieces.dataReceived(data[last:])
    assert [e for e in pieces.events if e[0] != "long"] == [e for e in whole.events if e[0] != "long"]
