"""The catalogue: everything a user can launch, described once for the window and the CLI.

Each :class:`Entry` names a protocol ("echo", "qotd", "finger", "irc", "process"), a
role ("server" or "client") and a transport ("tcp", "udp", "tls", "pipes" ...), lists its parameters
(:class:`Param`: type, default, help and validation), and starts it on a reactor:
``entry.start(reactor, **params)`` validates the parameters and returns a
:class:`Handle` whose ``stop()`` returns a Deferred. Client handles of line-based
protocols (echo, irc, process) also take ``send_line(text)``.

Nothing about a protocol is written anywhere else: the launcher form, ``inspector
serve --help`` and ``inspector connect --help`` are all built from these entries.

Writing a plug-in: a distribution declares, in its ``pyproject.toml``,
``[project.entry-points."inspector.catalog"] mine = "my_package.catalog:entries"``,
where ``entries()`` returns ``Entry`` objects built from what this package exports::

    from inspector.catalog import ClientHandle, Entry, Param, check_port, listen_tcp

    def start(entry, reactor, port, interface):  # receives every parameter, checked
        return listen_tcp(entry, reactor, MyFactory(), port, interface, None)

    def entries():
        return [Entry("mine", "server", "tcp", "My server", "What it does.",
                      (Param("port", "int", 9999, "port to listen on", check_port),
                       Param("interface", "str", "127.0.0.1", "address to listen on")),
                      start)]

The starter returns a :class:`Handle`: ``listen_tcp``/``listen_udp`` make a
:class:`ServerHandle`; a client makes a :class:`ClientHandle`, calls ``attach(stop,
send, close)`` and ``output(line)`` for what it receives, and ``finish()`` when done
(``one_shot`` does all that for a client whose life is one Deferred). A plug-in that
fails to load is logged once and skipped (``plugins.problems()`` lists it).

Inside: ``model`` (Param, Entry), ``checks`` (parameter validation), ``handles``
(what a start returns, and the listening helpers), ``builtin`` (echo, QOTD, finger),
``irc`` (the IRC entries), ``process`` (a command run over its standard pipes), ``raw``
(talk raw over TCP and UDP) and ``plugins`` (entries from installed distributions).
"""

from __future__ import annotations

from inspector.catalog.builtin import BUILTIN, DEMO_USERS
from inspector.catalog.checks import check_channel, check_host, check_nick, check_port
from inspector.catalog.handles import (
    ClientHandle,
    ExchangeError,
    Handle,
    ServerHandle,
    listen_tcp,
    listen_udp,
    one_shot,
)
from inspector.catalog.irc import IRC_COMMANDS, irc_entries
from inspector.catalog.model import Entry, Param, ParameterError
from inspector.catalog.plugins import plugin_entries
from inspector.catalog.process import PROCESS_ENTRIES
from inspector.catalog.proxy import PROXY_ENTRIES
from inspector.catalog.raw import RAW_ENTRIES

__all__ = [
    "ParameterError",
    "Param",
    "Entry",
    "Handle",
    "ServerHandle",
    "ClientHandle",
    "ExchangeError",
    "listen_tcp",
    "listen_udp",
    "one_shot",
    "entries",
    "find",
    "names",
    "line_clients",
    "DEMO_USERS",
    "IRC_COMMANDS",
    "check_port",
    "check_host",
    "check_nick",
    "check_channel",
]


def entries() -> list[Entry]:
    """Return every catalogue entry, in display order: the built-ins, then the
    entries of installed plug-ins (loaded once; a broken one is logged and skipped)."""
    shipped = [*BUILTIN, *irc_entries(), *PROCESS_ENTRIES, *RAW_ENTRIES, *PROXY_ENTRIES]
    return [*shipped, *plugin_entries(frozenset(entry.key for entry in shipped))]


def find(name: str, role: str, transport: str = "tcp") -> Entry:
    """Return the entry for ``name``/``role``/``transport``; KeyError lists what exists."""
    for entry in entries():
        if (entry.name, entry.role, entry.transport) == (name, role, transport):
            return entry
    known = ", ".join(sorted({e.name for e in entries() if e.role == role})) or "none"
    kinds = sorted(e.transport for e in entries() if (e.name, e.role) == (name, role))
    if kinds:
        raise KeyError(f"{name} {role} runs over {' or '.join(kinds)}, not {transport}")
    raise KeyError(f"no {role} called {name!r}; known: {known}")


def line_clients() -> list[str]:
    """The protocol names whose clients take typed lines (echo, IRC, process ...), in display order."""
    seen: list[str] = []
    for entry in entries():
        if entry.role == "client" and entry.accepts_lines and entry.name not in seen:
            seen.append(entry.name)
    return seen


def names(role: str) -> list[str]:
    """Return the protocol names that have a ``role`` entry, in display order."""
    seen: list[str] = []
    for entry in entries():
        if entry.role == role and entry.name not in seen:
            seen.append(entry.name)
    return seen
