"""Finger (RFC 1288): a server over a user database, and a client.

One query per connection: the server reads one line, answers, and closes. The empty
query and ``/W`` list the users; ``user`` or ``/W user`` describe one. Forwarding
(``user@host``) is refused, as RFC 1288 recommends. Junk (control or non-ASCII
bytes), over-long lines and clients that never finish their line get a clear one-line
reply and a close. The sans-IO :func:`parse_query` and :func:`answer` hold the rules;
the protocol only frames lines.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from zope.interface import implementer

from inspector.defer import Deferred
from inspector.failure import Failure
from inspector.files import FileRefused, MiB, read_regular_file
from inspector.interfaces import IHalfCloseableProtocol, IReactorTime
from inspector.protocol import Factory, connectionDone
from inspector.protocols.basic import ConnectionLimit, LineReceiver
from inspector.protocols.oneshot import fetch

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.finger")

__all__ = [
    "FINGER_PORT",
    "MAX_QUERY",
    "UserFileError",
    "UserDatabase",
    "Query",
    "QueryError",
    "parse_query",
    "answer",
    "FingerServer",
    "FingerFactory",
    "finger",
]

#: The port RFC 1288 assigns (privileged; pass another one when not root).
FINGER_PORT = 79

#: The longest query line accepted, in bytes, without its line end.
MAX_QUERY = 256

#: A user name: printable ASCII without space, ``@`` or ``/``.
_USER_RE = re.compile(r"[!-.0-?A-~]{1,64}")

#: What ``/W`` and the empty query list when there are no users.
NO_USERS = "No one is registered here."

#: The largest user file read; a bigger one (or /dev/zero) is refused with a reason.
MAX_USER_FILE = 16 * MiB

#: The reply to a connection over the server's limit.
BUSY = "finger: too many connections; try again later"


class UserFileError(ValueError):
    """A user file is missing, unreadable, or has a line that is not ``user: info``."""


class UserDatabase:
    """User names mapped to their information text (possibly several lines)."""

    def __init__(self, users: Mapping[str, str] | None = None) -> None:
        self._users: dict[str, str] = {}
        for name, info in (users or {}).items():
            if not isinstance(name, str) or not _USER_RE.fullmatch(name):
                raise ValueError(
                    f"bad user name {name!r}: use 1-64 printable ASCII characters, no space, '@' or '/'"
                )
            self._users[name] = str(info)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "UserDatabase":
        """Read ``user: info`` lines; ``#`` comments and blank lines are skipped.

        A user named on several lines gets those lines joined, in order.
        """
        path = Path(path)
        try:
            # Regular files only, at most MAX_USER_FILE: /dev/zero or a FIFO is refused
            # at once instead of exhausting memory or hanging the start.
            text = read_regular_file(path, "user file", MAX_USER_FILE).decode("utf-8")
        except FileRefused as exc:
            raise UserFileError(str(exc)) from None
        except UnicodeDecodeError:
            raise UserFileError(f"user file {path} is not UTF-8 text") from None
        users: dict[str, list[str]] = {}
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            name, sep, info = stripped.partition(":")
            name = name.strip()
            if not sep or not _USER_RE.fullmatch(name):
                raise UserFileError(f"{path}:{number}: expected 'user: info', got {stripped[:60]!r}")
            users.setdefault(name, []).append(info.strip())
        return cls({name: "\n".join(lines) for name, lines in users.items()})

    def lookup(self, name: str) -> str | None:
        """Return ``name``'s information, or None for an unknown user."""
        return self._users.get(name)

    def names(self) -> list[str]:
        """Return the user names, sorted."""
        return sorted(self._users)

    def __len__(self) -> int:
        return len(self._users)


class QueryError(ValueError):
    """A query the server refuses; ``str()`` is the line sent back."""


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: the user asked about (empty: list everyone) and the /W flag."""

    user: str = ""
    verbose: bool = False


def parse_query(line: bytes) -> Query:
    """Parse one query line (without its line end); QueryError says what is wrong."""
    if len(line) > MAX_QUERY:
        raise QueryError(f"finger: query too long (limit {MAX_QUERY} bytes)")
    if any(b < 0x20 or b > 0x7E for b in line):
        raise QueryError("finger: malformed query (only printable ASCII is accepted)")
    text = line.decode("ascii").strip(" ")
    verbose = False
    if text[:2] in ("/W", "/w"):
        verbose = True
        text = text[2:].lstrip(" ")
    if "@" in text:
        raise QueryError("finger: forwarding service denied")
    if text and not _USER_RE.fullmatch(text):
        raise QueryError(f"finger: malformed query: {text[:40]!r} is not a user name")
    return Query(text, verbose)


def answer(database: UserDatabase, query: Query) -> str:
    """Return the reply text (lines joined with LF) for ``query``."""
    if not query.user:
        names = database.names()
        if not names:
            return NO_USERS
        lines = [f"{'Login':<16} Information"]
        for name in names:
            info = database.lookup(name) or ""
            if query.verbose:
                lines.append(name)
                lines.extend(f"    {part}" for part in info.splitlines())
            else:
                first = info.splitlines()[0] if info else ""
                lines.append(f"{name:<16} {first}".rstrip())
        return "\n".join(lines)
    entry = database.lookup(query.user)
    if entry is None:
        return f"finger: {query.user}: no such user."
    return "\n".join([f"Login: {query.user}", *entry.splitlines()])


def _wire(text: str) -> bytes:
    return "".join(f"{line}\r\n" for line in text.split("\n")).encode("utf-8")


@implementer(IHalfCloseableProtocol)
class FingerServer(LineReceiver):
    """Answers one query line and closes; junk, long lines and silence get a clear reply.

    A client that sends its query without a line end and then half-closes (the query
    ends with its FIN) is answered too. Over the factory's connection limit a client
    gets a one-line "too many connections" and a close.
    """

    # RFC 1288 asks for CRLF; split on LF and drop the CR so netcat users work too.
    delimiter = b"\n"
    MAX_LENGTH = MAX_QUERY + 1

    _answered = False
    _admitted = False
    _idle: Any = None

    def connectionMade(self) -> None:
        limit = getattr(self.factory, "connection_limit", None)
        if limit is not None:
            if not limit.admit():
                self._reply(BUSY)
                return
            self._admitted = True
        reactor, timeout = self.factory.reactor, self.factory.timeout
        if reactor is not None and timeout:
            self._idle = reactor.callLater(timeout, self._timed_out)

    def lineReceived(self, line: bytes) -> None:
        if self._answered:
            return
        if line.endswith(b"\r"):
            line = line[:-1]
        try:
            reply = answer(self.factory.users, parse_query(line))
        except QueryError as exc:
            reply = str(exc)
        self._reply(reply)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._reply(f"finger: query too long (limit {MAX_QUERY} bytes)")

    def readConnectionLost(self) -> None:
        """The client half-closed: what it sent without a line end is its query.

        A client that sent nothing at all asked nothing: it is closed without a reply.
        """
        if self._answered:
            return
        rest = self.clearLineBuffer()
        if rest:
            self.lineReceived(rest)
        else:
            self._answered = True
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """Our side is closed; nothing more to do."""

    def _timed_out(self) -> None:
        self._idle = None
        self._reply("finger: timed out waiting for a query")

    def _reply(self, text: str) -> None:
        if self._answered:
            return
        self._answered = True
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self._idle = None
        self.transport.write(_wire(text))
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self._idle = None
        if self._admitted:
            self._admitted = False
            self.factory.connection_limit.release()


class FingerFactory(Factory):
    """Builds :class:`FingerServer` s over ``users``.

    With a ``reactor``, a client that sends no complete line within ``timeout``
    seconds is told so and disconnected. At most ``max_connections`` clients are
    served at once (by default below the descriptor limit); more are told so and closed.
    """

    protocol = FingerServer

    def __init__(
        self, users: UserDatabase | Mapping[str, str], reactor: IReactorTime | None = None, timeout: float = 30,
        *, max_connections: int | None = None,
    ) -> None:
        self.users = users if isinstance(users, UserDatabase) else UserDatabase(users)
        self.reactor = reactor
        self.timeout = timeout
        self.connection_limit = ConnectionLimit(max_connections, "finger server", log)


def finger(
    reactor: ReactorLike, host: str, port: int = FINGER_PORT, query: str = "", timeout: float = 30,
) -> Deferred:
    """Send ``query`` and return a Deferred of the server's answer (LF line ends).

    Raises ValueError at once for a query that is not one line of printable ASCII.
    """
    if any(not (" " <= ch <= "~") for ch in query):
        raise ValueError("a finger query must be one line of printable ASCII")
    d = fetch(reactor, host, port, query.encode("ascii") + b"\r\n", timeout=timeout)
    return d.addCallback(lambda data: "\n".join(data.decode("utf-8", "replace").splitlines()))
