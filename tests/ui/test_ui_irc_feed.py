"""The window shows an IRC line as the IRC protocol itself parsed it: one parser for both.

Each generated line goes through two entry points: the protocol's framing
(``IRCLineProtocol.dataReceived``, which calls ``message_received`` or
``bad_line_received``) and the window's feed (the trace's ``proto.message`` event applied
to a store and shown by the session's Messages table). The command and the parameters
the window shows must be the ones the protocol acted on.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt

from inspector.protocols.irc import IRCLineProtocol, Message, ParseError
from inspector.testing import StringTransport
from inspector.trace import events as ev
from inspector.ui.models.messages import MessagesModel
from inspector.ui.viewmodel.feed import apply
from inspector.ui.viewmodel.store import Store

_WORD = st.text(st.characters(blacklist_characters="\r\n\x00 ", blacklist_categories=("Cs",)), min_size=1, max_size=8)
_TEXT = st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)), max_size=24)
_TAG = st.tuples(st.sampled_from(["time", "msgid", "+draft/reply", "account", "a"]),
                 st.one_of(st.none(), st.text(st.sampled_from("ab;\\s: =x"), max_size=6)))
_COMMAND = st.one_of(st.sampled_from(["PRIVMSG", "privmsg", "NOTICE", "JOIN", "001", "433", "PING"]), _WORD)


@st.composite
def irc_ish_lines(draw: Any) -> str:
    """A line that is often IRC (tags, prefix, middle params, trailing, CTCP) and sometimes not."""
    parts = []
    tags = draw(st.lists(_TAG, max_size=3))
    if tags:
        parts.append("@" + ";".join(key if value is None else f"{key}={value}" for key, value in tags))
    if draw(st.booleans()):
        parts.append(":" + draw(st.sampled_from(["ada!a@host", "irc.example", "bob"])))
    parts.append(draw(_COMMAND))
    parts.extend(draw(st.lists(_WORD, max_size=3)))
    if draw(st.booleans()):
        trailing = draw(_TEXT)
        if draw(st.booleans()):
            trailing = f"\x01{draw(st.sampled_from(['ACTION', 'VERSION', 'PING']))} {trailing}\x01"
        parts.append(":" + trailing)
    separator = draw(st.sampled_from([" ", " ", "  "]))
    return draw(st.sampled_from(["", " "])) + separator.join(parts)


class Recorder(IRCLineProtocol):
    """Keeps what the protocol's framing and parser produced for each line."""

    def __init__(self) -> None:
        self.seen: list[Message | ParseError] = []

    def message_received(self, message: Message) -> None:
        self.seen.append(message)

    def bad_line_received(self, line: bytes, error: ParseError) -> None:
        self.seen.append(error)


def shown_by_the_window(line: str) -> tuple[str, str | None]:
    """The Kind cell and the parameters' tooltip the session's Messages table shows for ``line``."""
    store = Store()
    store.connection_opened(1, 0.0, "client", "LauncherIRCClient", "127.0.0.1:5000", "127.0.0.1:6667", "connected")
    apply(store, [ev.ProtocolMessage(0, 1.0, "qt", 1, 1, "LauncherIRCClient", "irc", "in", line)])
    model = MessagesModel()
    model.show(store.connections[1].messages, 0.0)
    assert model.rowCount() == 1
    kind = model.data(model.index(0, 2), Qt.ItemDataRole.DisplayRole)
    params = model.data(model.index(0, 3), Qt.ItemDataRole.ToolTipRole)
    return kind, params


def understood_by_the_protocol(line: str) -> Message | ParseError:
    protocol = Recorder()
    protocol.makeConnection(StringTransport())
    protocol.dataReceived(line.encode("utf-8") + b"\r\n")
    assert len(protocol.seen) == 1
    return protocol.seen[0]


def expected(parsed: Message | ParseError, line: str) -> tuple[str, str | None]:
    # Without parameters to list, a line too long for its cell is in the tooltip whole.
    long_line = line if len(line) > 60 else None
    if isinstance(parsed, ParseError):
        return "irc", long_line
    tooltip = "\n".join(f"[{i}] {p}" for i, p in enumerate(parsed.params)) or long_line
    return parsed.command, tooltip


def test_a_tagged_ctcp_action_shows_its_command_and_text(qapp: Any) -> None:
    line = "@time=2026-12-04T10:00:00Z;msgid=ab\\:c :ada!a@host PRIVMSG #tea :\x01ACTION pours tea\x01"
    assert shown_by_the_window(line) == ("PRIVMSG", "[0] #tea\n[1] \x01ACTION pours tea\x01")


def test_a_line_the_protocol_rejects_shows_no_command(qapp: Any) -> None:
    assert shown_by_the_window(":ada!a@host") == ("irc", None)
    assert shown_by_the_window("@time=1 :ada PR1VMSG #tea :hi") == ("irc", None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=irc_ish_lines())
def test_the_window_shows_each_line_as_the_protocol_parsed_it(qapp: Any, line: str) -> None:
    if not line.strip(" "):
        return  # the framing skips blank lines: nothing to compare
    assert shown_by_the_window(line) == expected(understood_by_the_protocol(line), line)
