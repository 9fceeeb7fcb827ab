"""The interactive IRC console client: typed lines go to a channel, slash commands do their job.

:class:`IRCConsoleClient` is an :class:`~inspector.protocols.irc.client.IRCClient` for a
person at a console (``inspector connect irc``, the window's IRC client): it reads each
typed line with :func:`~inspector.protocols.irc.console_commands.parse_console_line` and
reports what it sees as one line of text each (``[#tea] <ada> hello``).
"""

from __future__ import annotations

from typing import Any, Callable

from inspector.protocols.irc.client import IRCClient
from inspector.protocols.irc.console_commands import parse_console_line, require_nick

__all__ = ["IRCConsoleClient"]


def _who(user: str) -> str:
    return user.split("!", 1)[0]


class IRCConsoleClient(IRCClient):
    """An IRC client for a person at a console: joins ``channel``, reports what it sees.

    Each event becomes one line passed to ``output``; ``send_user_line`` acts on a typed
    line. ``on_joined(self)`` runs on every join (typed lines can go to the channel);
    ``on_quitting()`` runs when it sends QUIT, so the close that follows is expected.
    """

    def __init__(
        self, nickname: str, channel: str, output: Callable[[str], Any],
        on_joined: Callable[[IRCConsoleClient], Any] = lambda client: None,
        on_quitting: Callable[[], Any] = lambda: None,
    ) -> None:
        super().__init__()
        self.nickname = nickname
        self.current = channel
        self.signed_on = False
        self.output = output
        self.on_joined = on_joined
        self.on_quitting = on_quitting

    def signedOn(self) -> None:
        self.signed_on = True
        self.output(f"signed on as {self.nickname}")
        self.join(self.current)

    def joined(self, channel: str) -> None:
        self.current = channel
        self.output(f"joined {channel}")
        self.on_joined(self)

    def left(self, channel: str) -> None:
        self.output(f"left {channel}")

    def privmsg(self, user: str, channel: str, message: str) -> None:
        self.output(f"[{channel}] <{_who(user)}> {message}")

    def noticed(self, user: str, channel: str, message: str) -> None:
        self.output(f"[{channel}] -{_who(user)}- {message}")

    def action(self, user: str, channel: str, data: str) -> None:
        self.output(f"[{channel}] * {_who(user)} {data}")

    def userJoined(self, user: str, channel: str) -> None:
        self.output(f"{_who(user)} joined {channel}")

    def userLeft(self, user: str, channel: str) -> None:
        self.output(f"{_who(user)} left {channel}")

    def userQuit(self, user: str, quitMessage: str) -> None:
        self.output(f"{_who(user)} quit ({quitMessage})")

    def userRenamed(self, oldname: str, newname: str) -> None:
        self.output(f"{oldname} is now {newname}")

    def topicUpdated(self, user: str, channel: str, newTopic: str) -> None:
        self.output(f"topic of {channel}: {newTopic}")

    def quit(self, message: str = "") -> None:
        self.on_quitting()
        super().quit(message)

    def send_user_line(self, line: str) -> None:
        """Act on one typed line: text goes to the channel, /commands do their job.

        Raises ValueError (nothing sent) for an unknown command or a missing argument.
        """
        read = parse_console_line(line)
        if read.command is None:
            self.say(self.current, read.rest)
            self.output(f"[{self.current}] <{self.nickname}> {read.rest}")
        elif read.command == "/me":
            self.describe(self.current, read.rest)
        elif read.command == "/join":
            self.join(read.target)
        elif read.command == "/part":
            self.leave(self.current, read.rest or None)
        elif read.command == "/msg":
            self.msg(read.target, read.text)
        elif read.command == "/notice":
            self.notice(read.target, read.text)
        elif read.command == "/nick":
            require_nick(read.rest)
            self.setNick(read.rest)
        elif read.command == "/quote":
            self.sendLine(read.rest)
        elif read.command == "/quit":
            self.quit(read.rest)
