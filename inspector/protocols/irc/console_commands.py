"""The IRC console's slash commands: one table, and typed lines read without I/O.

``COMMANDS`` is the one list of slash commands (name, arguments, one-line help). The
unknown-command error, the catalogue entry's description (``inspector connect irc
--help`` and the launcher) and the README's list are all made from it. This module
imports nothing from the IRC protocol, so the catalogue can describe the console
without loading the client and the server.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COMMANDS",
    "ConsoleCommand",
    "ConsoleLine",
    "commands_help",
    "commands_summary",
    "parse_console_line",
    "require_nick",
]


@dataclass(frozen=True)
class ConsoleCommand:
    """One slash command: its name, its arguments as written in help, and what it does.

    ``needs`` says what must follow the name: ``""`` nothing, ``"rest"`` some text,
    ``"target and text"`` a first word and more text after it.
    """

    name: str
    arguments: str
    help: str
    needs: str = ""

    @property
    def syntax(self) -> str:
        """How to type it: ``/msg NICK TEXT``."""
        return f"{self.name} {self.arguments}" if self.arguments else self.name


#: Every slash command the console understands, in the order help lists them.
COMMANDS: tuple[ConsoleCommand, ...] = (
    ConsoleCommand("/me", "ACTION", "describe an action in the channel", "rest"),
    ConsoleCommand("/join", "#CHANNEL", "join (and talk in) another channel", "rest"),
    ConsoleCommand("/part", "[MESSAGE]", "leave the current channel"),
    ConsoleCommand("/msg", "NICK TEXT", "a private message", "target and text"),
    ConsoleCommand("/notice", "TARGET TEXT", "a notice", "target and text"),
    ConsoleCommand("/nick", "NEW", "change nickname", "rest"),
    ConsoleCommand("/quote", "LINE", "send a raw IRC line", "rest"),
    ConsoleCommand("/quit", "[MESSAGE]", "leave the server"),
)

_BY_NAME = {command.name: command for command in COMMANDS}


def commands_summary() -> str:
    """The commands' syntax on one line, for the catalogue entry's description."""
    return ", ".join(command.syntax for command in COMMANDS)


def commands_help() -> str:
    """One line per command (syntax, then what it does): for help text and the README."""
    width = max(len(command.syntax) for command in COMMANDS)
    lines = ["A line that starts with / is a command (// sends a line that starts with /):"]
    lines += [f"  {command.syntax:<{width}}  {command.help}" for command in COMMANDS]
    return "\n".join(lines)


def require_nick(value: str) -> None:
    """Raise ValueError unless ``value`` is an IRC nickname (RFC 2812 syntax, up to 30)."""
    from inspector.protocols.irc.message import NICK_LENGTH, is_valid_nick

    if not is_valid_nick(value):
        raise ValueError(
            f"{value!r} is not a nickname: start with a letter or one of []\\`_^{{|}}, then "
            f"letters, digits, those or '-', at most {NICK_LENGTH} characters"
        )


@dataclass(frozen=True)
class ConsoleLine:
    """A typed line, read: ``command`` is None for text to say, else a name from ``COMMANDS``."""

    command: str | None
    rest: str

    @property
    def target(self) -> str:
        """The first word after the command."""
        return self.rest.partition(" ")[0]

    @property
    def text(self) -> str:
        """What follows the first word."""
        return self.rest.partition(" ")[2]


def parse_console_line(line: str) -> ConsoleLine:
    """Read one typed line; raise ValueError for an unknown command or a missing argument.

    Text goes to the channel; ``//text`` sends ``/text``; command names are not case
    sensitive.
    """
    if not line.startswith("/") or line.startswith("//"):
        return ConsoleLine(None, line[1:] if line.startswith("//") else line)
    name, _, rest = line.partition(" ")
    name = name.lower()
    command = _BY_NAME.get(name)
    if command is None:
        known = ", ".join(command.name for command in COMMANDS)
        raise ValueError(f"unknown command {name}; known: {known}")
    read = ConsoleLine(name, rest)
    missing = (command.needs == "rest" and not rest) or (command.needs == "target and text" and not read.text)
    if missing:
        raise ValueError(f"usage: {command.syntax}: {command.help}")
    return read
