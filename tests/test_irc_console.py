"""The IRC console: one table of slash commands, and a client that acts on typed lines.

The table (``inspector.protocols.irc.console_commands.COMMANDS``) is the only list: the
unknown-command error and ``inspector connect irc --help`` must both name every command in
it, and each command must do its job on the wire.
"""

from __future__ import annotations

import pytest

from inspector import catalog
from inspector.cli import build_parser
from inspector.protocols.irc.console import IRCConsoleClient
from inspector.protocols.irc.console_commands import COMMANDS, commands_help, parse_console_line
from inspector.testing import StringTransport


def connect_help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["connect", "irc", "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def console(nick: str = "ada", channel: str = "#tea") -> tuple[IRCConsoleClient, StringTransport, list[str]]:
    """A console client registered over an in-memory transport, what it shows, and its wire."""
    shown: list[str] = []
    client = IRCConsoleClient(nick, channel, shown.append)
    transport = StringTransport()
    client.makeConnection(transport)
    client.dataReceived(f":irc.test 001 {nick} :Welcome\r\n:irc.test 422 {nick} :No MOTD\r\n".encode())
    client.dataReceived(f":{nick}!u@h JOIN {channel}\r\n".encode())
    transport.clear()
    return client, transport, shown


def test_connect_help_names_every_console_command_with_its_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    text = connect_help(capsys)
    for command in COMMANDS:
        assert command.syntax in text, f"connect irc --help lacks {command.syntax}"


def test_the_unknown_command_error_names_every_console_command() -> None:
    client, transport, _ = console()
    with pytest.raises(ValueError, match="unknown command /dance") as raised:
        client.send_user_line("/dance with me")
    known = str(raised.value).partition("known: ")[2].split(", ")
    assert known == [command.name for command in COMMANDS]
    assert transport.value() == b""  # nothing sent


def test_the_catalogue_lists_the_same_commands_as_the_console() -> None:
    assert list(catalog.IRC_COMMANDS) == [command.name for command in COMMANDS]
    description = catalog.find("irc", "client").description
    assert all(command.syntax in description for command in COMMANDS)


def test_the_printable_help_has_one_line_per_command() -> None:
    lines = commands_help().splitlines()[1:]
    assert [line.split()[0] for line in lines] == [command.name for command in COMMANDS]
    for line, command in zip(lines, COMMANDS):
        assert command.syntax in line and line.endswith(command.help)


#: Each command typed with its arguments, and the IRC line it must send.
TYPED = {
    "/me": ("/me pours tea", b"PRIVMSG #tea :\x01ACTION pours tea\x01\r\n"),
    "/join": ("/join #cake", b"JOIN #cake\r\n"),
    "/part": ("/part bye all", b"PART #tea :bye all\r\n"),
    "/msg": ("/msg bob hello there", b"PRIVMSG bob :hello there\r\n"),
    "/notice": ("/notice #tea heads up", b"NOTICE #tea :heads up\r\n"),
    "/nick": ("/nick ada2", b"NICK ada2\r\n"),
    "/quote": ("/quote TOPIC #tea :scones", b"TOPIC #tea :scones\r\n"),
    "/quit": ("/QUIT gone home", b"QUIT :gone home\r\n"),
}


def test_every_command_in_the_table_is_exercised_here() -> None:
    assert sorted(TYPED) == sorted(command.name for command in COMMANDS)


@pytest.mark.parametrize("name", sorted(TYPED))
def test_each_command_sends_its_irc_line(name: str) -> None:
    client, transport, _ = console()
    typed, expected = TYPED[name]
    client.send_user_line(typed)
    assert transport.value() == expected


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.needs], ids=lambda c: c.name)
def test_a_command_missing_its_argument_shows_its_usage(command) -> None:
    client, transport, _ = console()
    with pytest.raises(ValueError) as raised:
        client.send_user_line(command.name + (" onlyoneword" if command.needs == "target and text" else ""))
    assert str(raised.value) == f"usage: {command.syntax}: {command.help}"
    assert transport.value() == b""


def test_text_goes_to_the_channel_and_a_double_slash_sends_a_slash() -> None:
    client, transport, shown = console()
    client.send_user_line("hello")
    client.send_user_line("//shrug")
    assert transport.value() == b"PRIVMSG #tea :hello\r\nPRIVMSG #tea :/shrug\r\n"
    assert shown[-2:] == ["[#tea] <ada> hello", "[#tea] <ada> /shrug"]


def test_a_bad_nick_is_refused_before_anything_is_sent() -> None:
    client, transport, _ = console()
    with pytest.raises(ValueError, match="'9lives' is not a nickname"):
        client.send_user_line("/nick 9lives")
    assert transport.value() == b""


def test_what_the_console_sees_is_one_line_each() -> None:
    _, _, shown = console()
    assert shown == ["signed on as ada", "joined #tea"]
    client, _, shown = console()
    client.dataReceived(
        b":bob!b@h PRIVMSG #tea :hi ada\r\n"
        b":bob!b@h PRIVMSG #tea :\x01ACTION waves\x01\r\n"
        b":bob!b@h NOTICE #tea :psst\r\n"
        b":bob!b@h NICK :robert\r\n"
    )
    assert shown[2:] == ["[#tea] <bob> hi ada", "[#tea] * bob waves", "[#tea] -bob- psst", "bob is now robert"]


def test_parsing_a_typed_line_needs_no_connection() -> None:
    read = parse_console_line("/MSG bob see you")
    assert (read.command, read.target, read.text) == ("/msg", "bob", "see you")
    assert parse_console_line("plain words").command is None


def test_the_irc_package_names_load_on_first_use() -> None:
    import inspector.protocols.irc as irc

    assert sorted(irc.__all__) == sorted(irc._EXPORTS)
    for name in irc.__all__:
        assert getattr(irc, name) is not None
    with pytest.raises(AttributeError):
        irc.no_such_name  # noqa: B018


def test_listing_the_catalogue_reads_the_command_table_without_loading_the_protocols() -> None:
    import subprocess
    import sys

    script = (
        "import sys, inspector.catalog as c; c.entries(); "
        "print(sorted(m for m in sys.modules if m.startswith('inspector.protocols.irc')))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "inspector.protocols.irc.console_commands" in out
    assert "inspector.protocols.irc.client" not in out and "inspector.protocols.irc.server" not in out
