"""The catalogue: everything a user can launch, described once for the window and the CLI.

Each :class:`Entry` names a protocol ("echo", "qotd", "finger", "irc"), a role
("server" or "client") and a transport ("tcp" or "udp"), lists its parameters
(:class:`Param`: type, default, help and validation), and starts it on a reactor:
``entry.start(reactor, **params)`` validates the parameters and returns a
:class:`Handle` whose ``stop()`` returns a Deferred. Client handles of line-based
protocols (echo, irc) also take ``send_line(text)``.

Nothing about a protocol is written anywhere else: the launcher form, ``inspector
serve --help`` and ``inspector connect --help`` are all built from these entries.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from inspector.defer import CancelledError, Deferred, succeed
from inspector.failure import Failure

log = logging.getLogger("inspector.catalog")

__all__ = [
    "ParameterError",
    "Param",
    "Entry",
    "Handle",
    "ServerHandle",
    "ClientHandle",
    "entries",
    "find",
    "names",
    "DEFAULT_QUOTES",
    "check_port",
    "check_host",
    "check_nick",
    "check_channel",
]

#: The quotes file shipped with Inspector (fortune format).
DEFAULT_QUOTES = Path(__file__).resolve().parent.parent / "resources" / "quotes.txt"


class ParameterError(ValueError):
    """A launch parameter is missing, unknown or invalid; the message names it."""


# ------------------------------------------------------------------------- validation


def check_port(value: int, allow_zero: bool = False) -> None:
    """Raise ValueError unless ``value`` is a TCP/UDP port (0 too, if ``allow_zero``)."""
    low = 0 if allow_zero else 1
    if not low <= value <= 65535:
        raise ValueError(f"must be between {low} and 65535, got {value}")


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_host(value: str) -> None:
    """Raise ValueError unless ``value`` is an IPv4/IPv6 address or a host name."""
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(p) for p in name.split(".")):
        raise ValueError(f"{value!r} is neither an IP address nor a host name")


# RFC 2812 nick: a letter or one of []\`_^{|} first, then letters, digits, those, or '-'.
_NICK_RE = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*")
NICK_MAX = 30


def check_nick(value: str) -> None:
    """Raise ValueError unless ``value`` is an IRC nickname (RFC 2812 syntax, up to 30)."""
    if not value or len(value) > NICK_MAX or not _NICK_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a nickname: start with a letter or one of []\\`_^{{|}}, then "
            f"letters, digits, those or '-', at most {NICK_MAX} characters"
        )


# RFC 2812 channel: a prefix, then up to 49 characters, none a space, comma, BEL or colon.
_CHANNEL_RE = re.compile(r"[#&+!][^\x00\x07\r\n ,:]{1,49}")


def check_channel(value: str) -> None:
    """Raise ValueError unless ``value`` is an IRC channel name (#, &, + or ! prefix)."""
    if not _CHANNEL_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a channel: start with #, & , + or !, then 1-49 characters "
            "without spaces, commas or colons"
        )


def _check_existing_file(value: str) -> None:
    path = Path(value)
    if not path.is_file():
        raise ValueError(f"no such file: {value}")


def _check_quote_file(value: str) -> None:
    from inspector.protocols.qotd import load_fortune_file

    load_fortune_file(value)  # QuoteFileError (a ValueError) says what is wrong


def _check_user_file(value: str) -> None:
    from inspector.protocols.finger import UserDatabase

    UserDatabase.from_file(value)


def _check_positive(value: float) -> None:
    if not value > 0:
        raise ValueError(f"must be more than 0, got {value:g}")


def _check_finger_query(value: str) -> None:
    if any(not (" " <= ch <= "~") for ch in value):
        raise ValueError("must be printable ASCII on one line")


# ------------------------------------------------------------------------- parameters

_KINDS: dict[str, type] = {"int": int, "float": float, "str": str, "path": str}


@dataclass(frozen=True)
class Param:
    """One launch parameter: what the form field or ``--option`` asks for.

    ``kind`` is "int", "float", "str" or "path" (a file the user picks). ``check``
    raises ValueError with a short reason for a bad value; ``optional`` parameters
    may be left empty (None). Values given as text (CLI, form fields) are converted.
    """

    name: str
    kind: str
    default: Any
    help: str
    check: Callable[[Any], None] | None = None
    optional: bool = False

    @property
    def option(self) -> str:
        """The command-line spelling: ``--quote-file`` for ``quote_file``."""
        return "--" + self.name.replace("_", "-")

    def parse(self, raw: Any) -> Any:
        """Return ``raw`` converted to this parameter's type and checked; ParameterError if bad."""
        if raw is None or (isinstance(raw, str) and raw == "" and self.kind != "str"):
            if self.default is None and not self.optional:
                raise ParameterError(f"{self.name}: a value is required")
            return self.default
        convert = _KINDS[self.kind]
        if isinstance(raw, bool) or (self.kind != "float" and not isinstance(raw, (str, convert))):
            raise ParameterError(f"{self.name}: expected {self.kind}, got {type(raw).__name__}")
        try:
            value = convert(raw.strip() if isinstance(raw, str) and self.kind != "str" else raw)
        except (TypeError, ValueError):
            what = {"int": "a whole number", "float": "a number"}.get(self.kind, self.kind)
            raise ParameterError(f"{self.name}: expected {what}, got {raw!r}") from None
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as exc:
                raise ParameterError(f"{self.name}: {exc}") from None
        return value


def _port(default: int, server: bool) -> Param:
    if server:
        return Param("port", "int", default, "port to listen on (0: any free port)",
                     lambda v: check_port(v, allow_zero=True))
    return Param("port", "int", default, "port to connect to", check_port)


_INTERFACE = Param("interface", "str", "127.0.0.1", "address to listen on (0.0.0.0 or :: for all)",
                   check_host)


def _check_server_endpoint(value: str) -> None:
    from inspector.endpoints import serverFromString

    serverFromString(None, value)  # ValueError names what is wrong


_ENDPOINT = Param("endpoint", "str", None,
                  "where to listen, e.g. tcp:8007:interface=127.0.0.1 or tcp6:8007 "
                  "(replaces port and interface)", _check_server_endpoint, optional=True)
_HOST = Param("host", "str", "127.0.0.1", "server to connect to (name or address)", check_host)
_TIMEOUT = Param("timeout", "float", 10.0, "seconds to wait for the server", _check_positive)


# ---------------------------------------------------------------------------- handles


class Handle:
    """Something launched from the catalogue: stop it, watch its output.

    ``description`` is one short line for lists ("echo server on 127.0.0.1:8007/tcp").
    ``done`` fires with None (or a client's result) when it ends by itself or is
    stopped, and errbacks if a client fails. Output lines (replies, quotes, chat)
    go to every ``on_output`` callback; status notes (connected, closed) go to the
    log. The last ``TRANSCRIPT`` of both are kept in ``transcript``.
    """

    TRANSCRIPT = 500
    accepts_lines = False

    def __init__(self, entry: "Entry", description: str) -> None:
        self.entry = entry
        self.description = description
        self.done: Deferred = Deferred()
        self.transcript: deque[str] = deque(maxlen=self.TRANSCRIPT)
        self._listeners: list[Callable[[str], Any]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"

    @property
    def running(self) -> bool:
        """True until ``done`` has fired."""
        return not self.done.called

    def on_output(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(line)`` for every output line from now on."""
        self._listeners.append(callback)

    def output(self, line: str) -> None:
        """Record ``line`` and pass it to the listeners (exceptions there are logged)."""
        self.transcript.append(line)
        for callback in list(self._listeners):
            try:
                callback(line)
            except Exception:
                log.exception("output listener %r failed", callback)

    def note(self, text: str) -> None:
        """Record a status event (connected, closed, failed): logged and kept in the
        transcript as "-- text", but not passed to the output listeners."""
        log.info("%s: %s", self.description, text)
        self.transcript.append(f"-- {text}")

    def finish(self, result: Any = None) -> None:
        """Fire ``done`` once, with a result or a Failure."""
        if self.done.called:
            return
        if isinstance(result, Failure):
            self.done.errback(result)
        else:
            self.done.callback(result)

    def stop(self) -> Deferred:
        """Stop; the Deferred fires once everything is closed."""
        raise NotImplementedError

    def send_line(self, text: str) -> Deferred:
        """Send one line (clients of line protocols only)."""
        raise TypeError(f"{self.entry.title} does not send lines")


class ServerHandle(Handle):
    """A listening server: its port, and the connections it accepted.

    ``stop()`` stops listening and closes every accepted connection; its Deferred
    fires when the port and the connections are all closed. Connections are logged
    on the "inspector.catalog" logger as they open and close.
    """

    def __init__(self, entry: "Entry", label: str, factory: Any = None) -> None:
        super().__init__(entry, label)
        self.label = label
        self.port: Any = None
        self.connections: set[Any] = set()
        self._closing: list[Deferred] = []
        if factory is not None:
            self._track(factory)

    @property
    def address(self) -> Any:
        """The address the port is bound to (the real port when 0 was asked for)."""
        return self.port.getHost()

    def listening(self, port: Any) -> None:
        """Record the listening ``port`` and describe and log where it listens."""
        self.port = port
        host = port.getHost()
        where = f"[{host.host}]:{host.port}" if ":" in host.host else f"{host.host}:{host.port}"
        self.description = f"{self.label} on {where}/{self.entry.transport}"
        log.info("%s listening on %s (%s)", self.label, where, self.entry.transport)

    def _track(self, factory: Any) -> None:
        # Wrap buildProtocol (once per connection, never per byte) to learn of each
        # connection, so stop() can close them and the log can report them.
        build = factory.buildProtocol

        def buildProtocol(addr: Any) -> Any:
            protocol = build(addr)
            if protocol is not None:
                self._adopt(protocol, addr)
            return protocol

        factory.buildProtocol = buildProtocol

    def _adopt(self, protocol: Any, addr: Any) -> None:
        lost = protocol.connectionLost
        closed: Deferred = Deferred()
        self.connections.add(protocol)
        log.info("%s: connection from %s", self.label, addr)

        def connectionLost(reason: Any) -> None:
            try:
                lost(reason)
            finally:
                self.connections.discard(protocol)
                why = reason.getErrorMessage() if hasattr(reason, "getErrorMessage") else reason
                log.info("%s: connection from %s closed: %s", self.label, addr, why)
                closed.callback(None)

        protocol.connectionLost = connectionLost
        protocol._inspector_closed = closed

    def stop(self) -> Deferred:
        from inspector.defer import DeferredList, maybeDeferred

        if self.done.called:
            return succeed(None)
        waits = []
        if self.port is not None:
            waits.append(maybeDeferred(self.port.stopListening))
        for protocol in list(self.connections):
            waits.append(protocol._inspector_closed)
            transport = protocol.transport
            if transport is not None:
                # A registered producer would hold the close back until it
                # unregisters (Twisted's rule); the server is going away, so drop it.
                if getattr(transport, "producer", None) is not None:
                    transport.unregisterProducer()
                transport.loseConnection()
        log.info("%s stopping", self.description)

        def stopped(_: Any) -> None:
            log.info("%s stopped", self.description)
            self.finish(None)

        return DeferredList(waits, consumeErrors=True).addCallback(stopped)


class ClientHandle(Handle):
    """A client: connecting, maybe exchanging lines, finished when the exchange is over."""

    def __init__(self, entry: "Entry", description: str) -> None:
        super().__init__(entry, description)
        self.accepts_lines = entry.accepts_lines
        self._stopper: Callable[[], Any] | None = None
        self._sender: Callable[[str], Deferred] | None = None

    def stop(self) -> Deferred:
        if not self.done.called and self._stopper is not None:
            self._stopper()
        if self.done.called:
            return succeed(None)
        waiter: Deferred = Deferred()
        self.done.addBoth(lambda result: (waiter.callback(None), result)[1])
        return waiter

    def send_line(self, text: str) -> Deferred:
        if not self.accepts_lines:
            return super().send_line(text)
        if self._sender is None or self.done.called:
            raise RuntimeError(f"{self.description}: not connected")
        return self._sender(text)


# ---------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """One launchable thing: protocol name, role, transport, parameters and starter."""

    name: str
    role: str
    transport: str
    title: str
    description: str
    params: tuple[Param, ...]
    starter: Callable[..., Handle] = field(repr=False)
    accepts_lines: bool = False

    @property
    def key(self) -> str:
        """A unique id: "echo server tcp"."""
        return f"{self.name} {self.role} {self.transport}"

    def param(self, name: str) -> Param:
        """Return the parameter called ``name``."""
        for param in self.params:
            if param.name == name:
                return param
        raise ParameterError(f"{self.title} has no parameter {name!r}")

    def defaults(self) -> dict[str, Any]:
        """Return every parameter's default value."""
        return {param.name: param.default for param in self.params}

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Return all parameters, converted and checked, defaults filled in.

        Raises ParameterError for an unknown name or a bad value, naming it.
        """
        known = {param.name for param in self.params}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(
                f"{self.title} has no parameter {unknown[0]!r}; it takes: {', '.join(sorted(known))}"
            )
        return {param.name: param.parse(values.get(param.name)) for param in self.params}

    def start(self, reactor: Any, **params: Any) -> Handle:
        """Validate ``params`` and start on ``reactor``; return the Handle."""
        return self.starter(self, reactor, **self.validate(params))


# ------------------------------------------------------------------------- starters


def _listen_tcp(
    entry: Entry, reactor: Any, factory: Any, port: int, interface: str, endpoint: str | None
) -> ServerHandle:
    handle = ServerHandle(entry, entry.title.lower(), factory)
    if not endpoint:
        handle.listening(reactor.listenTCP(port, factory, interface=interface))
        return handle
    from inspector.endpoints import serverFromString

    outcome: list[Any] = []
    listening = serverFromString(reactor, endpoint).listen(factory)
    listening.addBoth(outcome.append)
    if not outcome:  # an endpoint that listens later: record the port when it does
        listening.addCallback(handle.listening)
    elif isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    else:
        handle.listening(outcome[0])
    return handle


def _listen_udp(entry: Entry, reactor: Any, protocol: Any, port: int, interface: str) -> ServerHandle:
    handle = ServerHandle(entry, entry.title.lower())
    handle.listening(reactor.listenUDP(port, protocol, interface=interface))
    return handle


def _start_echo_server(
    entry: Entry, reactor: Any, port: int, interface: str, endpoint: str | None = None
) -> Handle:
    from inspector.protocols.echo import EchoFactory, EchoUDP

    if entry.transport == "udp":
        return _listen_udp(entry, reactor, EchoUDP(), port, interface)
    return _listen_tcp(entry, reactor, EchoFactory(), port, interface, endpoint)


def _start_echo_client(entry: Entry, reactor: Any, host: str, port: int, timeout: float) -> Handle:
    from inspector.protocols.echo import EchoClientFactory

    handle = ClientHandle(entry, f"echo client to {host}:{port}/tcp")
    factory = EchoClientFactory(reactor, on_reply=lambda reply: handle.output(str(reply)))
    connector = reactor.connectTCP(host, port, factory, timeout=timeout)
    state: dict[str, Any] = {}

    def connected(protocol: Any) -> None:
        state["protocol"] = protocol
        handle.note(f"connected to {host}:{port}")

    def failed(reason: Failure) -> None:
        handle.note(f"could not connect to {host}:{port}: {reason.getErrorMessage()}")
        handle.finish(reason)

    def send(text: str) -> Deferred:
        protocol = state.get("protocol")
        if protocol is not None:
            return protocol.send_line(text)
        # Still connecting: send once connected.
        later: Deferred = Deferred()

        def go(_: Any) -> None:
            if "protocol" in state:
                state["protocol"].send_line(text).chainDeferred(later)
            else:
                later.errback(Failure(RuntimeError(f"{handle.description}: not connected")))

        factory_connected.addBoth(go)
        return later

    def lost(reason: Any) -> None:
        handle.note(f"connection closed: {reason}")
        handle.finish(None)

    def stop() -> None:
        protocol = state.get("protocol")
        if protocol is not None and protocol.transport is not None:
            protocol.transport.loseConnection()
        else:
            connector.disconnect()

    factory_connected: Deferred = Deferred()
    factory.connected.addCallbacks(connected, failed).chainDeferred(factory_connected)
    factory.lost.addCallback(lost)
    handle._stopper = stop
    handle._sender = send
    return handle


def _make_quoter(quote: str | None, quote_file: str) -> Any:
    from inspector.protocols.qotd import FortuneQuoter, StaticQuoter

    return StaticQuoter(quote) if quote else FortuneQuoter(quote_file)


def _start_qotd_server(
    entry: Entry, reactor: Any, port: int, interface: str, quote_file: str, quote: str | None,
    endpoint: str | None = None,
) -> Handle:
    from inspector.protocols.qotd import QOTDUDP, QOTDFactory

    quoter = _make_quoter(quote, quote_file)
    if entry.transport == "udp":
        return _listen_udp(entry, reactor, QOTDUDP(quoter), port, interface)
    return _listen_tcp(entry, reactor, QOTDFactory(quoter), port, interface, endpoint)


def _one_shot(entry: Entry, description: str, deferred: Deferred, show: Callable[[Any], str]) -> Handle:
    """A handle for a client whose whole life is one Deferred (QOTD, finger)."""
    handle = ClientHandle(entry, description)

    def got(result: Any) -> None:
        handle.output(show(result))
        handle.finish(result)

    def failed(reason: Failure) -> None:
        if reason.check(CancelledError):
            handle.note("stopped")
            handle.finish(None)
            return
        handle.note(f"failed: {reason.getErrorMessage()}")
        handle.finish(reason)

    handle._stopper = lambda: deferred.cancel()
    deferred.addCallbacks(got, failed)
    return handle


def _start_qotd_client(entry: Entry, reactor: Any, host: str, port: int, timeout: float) -> Handle:
    from inspector.protocols.qotd import get_quote, get_quote_udp

    ask = get_quote_udp if entry.transport == "udp" else get_quote
    d = ask(reactor, host, port, timeout=timeout)
    return _one_shot(entry, f"qotd client to {host}:{port}/{entry.transport}", d, str)


#: Who a finger server describes when no user file is given.
DEMO_USERS = {
    "alice": "Alice Liddell\nOffice: down the rabbit hole\nPlan: follow the white rabbit",
    "bob": "Bob the builder\nPlan: fix it",
    "root": "The system administrator",
}


def _start_finger_server(
    entry: Entry, reactor: Any, port: int, interface: str, users_file: str | None,
    idle_timeout: float, endpoint: str | None = None,
) -> Handle:
    from inspector.protocols.finger import FingerFactory, UserDatabase

    users = UserDatabase.from_file(users_file) if users_file else UserDatabase(DEMO_USERS)
    factory = FingerFactory(users, reactor, idle_timeout)
    return _listen_tcp(entry, reactor, factory, port, interface, endpoint)


def _start_finger_client(
    entry: Entry, reactor: Any, host: str, port: int, query: str, timeout: float
) -> Handle:
    from inspector.protocols.finger import finger

    d = finger(reactor, host, port, query, timeout=timeout)
    return _one_shot(entry, f"finger client to {host}:{port}/tcp ({query or 'all users'})", d, str)


# ---------------------------------------------------------------------------- the list


def _server_params(default_port: int, *extra: Param, tcp: bool = True) -> tuple[Param, ...]:
    endpoint = (_ENDPOINT,) if tcp else ()
    return (_port(default_port, server=True), _INTERFACE, *extra, *endpoint)


def _client_params(default_port: int, *extra: Param) -> tuple[Param, ...]:
    return (_HOST, _port(default_port, server=False), *extra, _TIMEOUT)


_QUOTE_PARAMS = (
    Param("quote_file", "path", str(DEFAULT_QUOTES), "fortune file: quotes separated by % lines",
          _check_quote_file),
    Param("quote", "str", None, "serve this one quote instead of the file", optional=True),
)

_BUILTIN: list[Entry] = [
    Entry("echo", "server", "tcp", "Echo server",
          "Sends back every byte; stops reading from a client that does not read its echoes.",
          _server_params(8007), _start_echo_server),
    Entry("echo", "server", "udp", "Echo server",
          "Sends every datagram back to its sender.", _server_params(8007, tcp=False),
          _start_echo_server),
    Entry("echo", "client", "tcp", "Echo client",
          "Sends lines and shows each echo with its round-trip time.",
          _client_params(8007), _start_echo_client, accepts_lines=True),
    Entry("qotd", "server", "tcp", "QOTD server",
          "Quote of the Day (RFC 865): sends a quote and closes.",
          _server_params(8017, *_QUOTE_PARAMS), _start_qotd_server),
    Entry("qotd", "server", "udp", "QOTD server",
          "Quote of the Day (RFC 865): answers every datagram with a quote.",
          _server_params(8017, *_QUOTE_PARAMS, tcp=False), _start_qotd_server),
    Entry("qotd", "client", "tcp", "QOTD client", "Fetches one quote.",
          _client_params(8017), _start_qotd_client),
    Entry("qotd", "client", "udp", "QOTD client", "Asks for one quote with a datagram.",
          _client_params(8017), _start_qotd_client),
    Entry("finger", "server", "tcp", "Finger server",
          "Finger (RFC 1288): describes users; the empty query and /W list them.",
          _server_params(
              8079,
              Param("users_file", "path", None, "file of 'user: info' lines (default: a demo list)",
                    _check_user_file, optional=True),
              Param("idle_timeout", "float", 30.0, "seconds a client may take to send its query",
                    _check_positive),
          ), _start_finger_server),
    Entry("finger", "client", "tcp", "Finger client", "Asks a finger server about a user.",
          _client_params(8079, Param("query", "str", "", "user name, /W, or empty for everyone",
                                     _check_finger_query)), _start_finger_client),
]


# ------------------------------------------------------------------------------- IRC
# The IRC package is imported only when an IRC entry starts.


def _start_irc_server(
    entry: Entry, reactor: Any, port: int, interface: str, motd: str | None,
    max_connections: int, endpoint: str | None = None,
) -> Handle:
    from inspector.protocols.irc import IRCServerFactory

    factory = IRCServerFactory(reactor, motd=motd, max_connections=max_connections)
    return _listen_tcp(entry, reactor, factory, port, interface, endpoint)


#: What an IRC client handle understands in ``send_line`` besides plain text.
IRC_COMMANDS = {
    "/me": "/me ACTION: describe an action in the channel",
    "/join": "/join #CHANNEL: join (and talk in) another channel",
    "/part": "/part: leave the current channel",
    "/msg": "/msg NICK TEXT: a private message",
    "/notice": "/notice TARGET TEXT: a notice",
    "/nick": "/nick NEW: change nickname",
    "/quote": "/quote LINE: send a raw IRC line",
    "/quit": "/quit [MESSAGE]: leave the server",
}


def _irc_client_protocol(
    handle: ClientHandle, nick: str, channel: str, ready: Callable[[Any], None]
) -> Any:
    """Make an IRCClient that joins ``channel`` and reports what it sees to ``handle``.

    ``ready(protocol)`` is called on each join: typed lines can go to the channel.
    """
    from inspector.protocols.irc import IRCClient

    def who(user: str) -> str:
        return user.split("!", 1)[0]

    class LauncherIRCClient(IRCClient):
        nickname = nick
        current = channel

        def signedOn(self) -> None:
            handle.output(f"signed on as {self.nickname}")
            self.join(self.current)

        def joined(self, name: str) -> None:
            self.current = name
            handle.output(f"joined {name}")
            ready(self)

        def left(self, name: str) -> None:
            handle.output(f"left {name}")

        def privmsg(self, user: str, target: str, message: str) -> None:
            handle.output(f"[{target}] <{who(user)}> {message}")

        def noticed(self, user: str, target: str, message: str) -> None:
            handle.output(f"[{target}] -{who(user)}- {message}")

        def action(self, user: str, target: str, data: str) -> None:
            handle.output(f"[{target}] * {who(user)} {data}")

        def userJoined(self, user: str, name: str) -> None:
            handle.output(f"{who(user)} joined {name}")

        def userLeft(self, user: str, name: str) -> None:
            handle.output(f"{who(user)} left {name}")

        def userQuit(self, user: str, message: str) -> None:
            handle.output(f"{who(user)} quit ({message})")

        def userRenamed(self, old: str, new: str) -> None:
            handle.output(f"{old} is now {new}")

        def topicUpdated(self, user: str, name: str, topic: str) -> None:
            handle.output(f"topic of {name}: {topic}")

        def send_user_line(self, text: str) -> None:
            """Act on one typed line: text goes to the channel, /commands do their job."""
            if not text.startswith("/") or text.startswith("//"):
                text = text[1:] if text.startswith("//") else text
                self.say(self.current, text)
                handle.output(f"[{self.current}] <{self.nickname}> {text}")
                return
            command, _, rest = text.partition(" ")
            command = command.lower()
            target, _, words = rest.partition(" ")
            if command == "/me" and rest:
                self.describe(self.current, rest)
            elif command == "/join" and rest:
                self.join(target)
            elif command == "/part":
                self.leave(self.current, rest or None)
            elif command in ("/msg", "/notice") and words:
                (self.msg if command == "/msg" else self.notice)(target, words)
            elif command == "/nick" and rest:
                check_nick(rest)
                self.setNick(rest)
            elif command == "/quote" and rest:
                self.sendLine(rest)
            elif command == "/quit":
                self.quit(rest)
            else:
                usage = IRC_COMMANDS.get(command)
                raise ValueError(
                    f"usage: {usage}" if usage else f"unknown command {command}; known: {', '.join(IRC_COMMANDS)}"
                )

    return LauncherIRCClient()


def _start_irc_client(
    entry: Entry, reactor: Any, host: str, port: int, nick: str, channel: str, timeout: float
) -> Handle:
    from inspector.protocol import ClientFactory

    handle = ClientHandle(entry, f"irc client {nick} to {host}:{port}/tcp")
    state: dict[str, Any] = {}
    # Lines typed before the first join wait here, then go to the channel in order.
    waiting: list[tuple[str, Deferred]] = []

    def ready(protocol: Any) -> None:
        state["joined"] = True
        while waiting and protocol.transport is not None:
            text, d = waiting.pop(0)
            try:
                protocol.send_user_line(text)
            except ValueError as exc:
                d.errback(Failure(exc))
            else:
                d.callback(None)

    def fail_waiting(reason: Failure) -> None:
        while waiting:
            waiting.pop(0)[1].errback(reason)

    class Factory(ClientFactory):
        def buildProtocol(self, addr: Any) -> Any:
            protocol = _irc_client_protocol(handle, nick, channel, ready)
            protocol.factory = self
            protocol.reactor = reactor
            state["protocol"] = protocol
            return protocol

        def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
            handle.note(f"could not connect to {host}:{port}: {reason.getErrorMessage()}")
            fail_waiting(reason)
            handle.finish(reason)

        def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
            handle.note(f"connection closed: {reason.getErrorMessage()}")
            fail_waiting(reason)
            handle.finish(None)

    connector = reactor.connectTCP(host, port, Factory(), timeout=timeout)

    def send(text: str) -> Deferred:
        protocol = state.get("protocol")
        if not state.get("joined") or protocol is None or protocol.transport is None:
            d: Deferred = Deferred()
            waiting.append((text, d))
            return d
        protocol.send_user_line(text)
        return succeed(None)

    def stop() -> None:
        protocol = state.get("protocol")
        if protocol is not None and protocol.transport is not None:
            protocol.quit("stopped from Inspector")
            # The server closes after ERROR; don't wait for it forever.
            reactor.callLater(2, protocol.transport.loseConnection)
        else:
            connector.disconnect()

    handle._sender = send
    handle._stopper = stop
    return handle


def _irc_entries() -> list[Entry]:
    """The IRC entries, when the IRC package is there (it is imported only to start one)."""
    import importlib.util

    if importlib.util.find_spec("inspector.protocols.irc") is None:
        return []
    return [
        Entry("irc", "server", "tcp", "IRC server",
              "A small IRC server: channels, messages, nick changes, limits.",
              _server_params(
                  6667,
                  Param("motd", "str", None, "message of the day (none: 422)", optional=True),
                  Param("max_connections", "int", 1024, "most clients at once",
                        lambda v: _check_positive(v)),
              ), _start_irc_server),
        Entry("irc", "client", "tcp", "IRC client",
              "Joins a channel; typed lines go to it (/me, /join, /msg, /nick, /quote, /quit).",
              _client_params(
                  6667,
                  Param("nick", "str", "inspector", "nickname", check_nick),
                  Param("channel", "str", "#inspector", "channel to join", check_channel),
              ), _start_irc_client, accepts_lines=True),
    ]


def entries() -> list[Entry]:
    """Return every catalogue entry, in display order."""
    return [*_BUILTIN, *_irc_entries()]


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


def names(role: str) -> list[str]:
    """Return the protocol names that have a ``role`` entry, in display order."""
    seen: list[str] = []
    for entry in entries():
        if entry.role == role and entry.name not in seen:
            seen.append(entry.name)
    return seen
