"""Endpoints: where to listen or connect, as objects or as short strings.

``serverFromString(reactor, "tcp:8000:interface=127.0.0.1")`` and
``clientFromString(reactor, "tcp:host=localhost:port=6667:timeout=5")`` turn the
strings users type into endpoint objects; ``listen(factory)`` gives a Deferred of the
listening port and ``connect(factory)`` a Deferred of the connected protocol, so a
configuration string is all a program needs to choose its transport.

Strings are ``type:arg:arg...``; each arg is positional or ``name=value``. A colon
inside a value is written ``\\:``, or the value is put in brackets: ``[::1]``.
"""

from __future__ import annotations

from typing import Any, Callable

from zope.interface import implementer

from inspector.defer import Deferred, maybeDeferred
from inspector.failure import Failure
from inspector.interfaces import IStreamClientEndpoint, IStreamServerEndpoint
from inspector.protocol import ClientFactory, Factory

__all__ = [
    "TCP4ServerEndpoint",
    "TCP6ServerEndpoint",
    "TCP4ClientEndpoint",
    "TCP6ClientEndpoint",
    "serverFromString",
    "clientFromString",
    "connectProtocol",
    "NoProtocol",
]


class NoProtocol(Exception):
    """The factory's ``buildProtocol`` returned None, so the connection was refused."""


# --------------------------------------------------------------------------- servers


@implementer(IStreamServerEndpoint)
class TCP4ServerEndpoint:
    """A TCP port on an IPv4 interface (127.0.0.1 unless told otherwise)."""

    default_interface = "127.0.0.1"

    def __init__(self, reactor: Any, port: int, backlog: int = 50, interface: str | None = None) -> None:
        self._reactor = reactor
        self._port = port
        self._backlog = backlog
        self._interface = self.default_interface if interface is None else interface

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._interface}:{self._port}>"

    def listen(self, protocolFactory: Any) -> Deferred:
        """Listen with ``protocolFactory``; a Deferred of the port, or CannotListenError."""
        return maybeDeferred(
            self._reactor.listenTCP,
            self._port,
            protocolFactory,
            backlog=self._backlog,
            interface=self._interface,
        )


class TCP6ServerEndpoint(TCP4ServerEndpoint):
    """A TCP port on an IPv6 interface (::1 unless told otherwise)."""

    default_interface = "::1"


# --------------------------------------------------------------------------- clients


class _WrappingFactory(ClientFactory):
    """Builds the user's protocol for one connection and reports it through a Deferred."""

    noisy = False

    def __init__(self, wrapped: Any, reactor: Any) -> None:
        self._wrapped = wrapped
        self._reactor = reactor
        self._deferred: Deferred | None = None

    def startFactory(self) -> None:
        self._wrapped.doStart()

    def stopFactory(self) -> None:
        self._wrapped.doStop()

    def buildProtocol(self, addr: Any) -> Any:
        try:
            protocol = self._wrapped.buildProtocol(addr)
            if protocol is None:
                raise NoProtocol(f"{self._wrapped!r} refused to build a protocol for {addr}")
        except Exception:
            self._fail(Failure())
            return None
        # Fire on the next turn, so connectionMade has run when the caller gets it.
        self._reactor.callLater(0, self._succeed, protocol)
        return protocol

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        self._fail(reason)

    def _succeed(self, protocol: Any) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is not None and not deferred.called:
            deferred.callback(protocol)

    def _fail(self, reason: Any) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is not None and not deferred.called:
            deferred.errback(reason)


@implementer(IStreamClientEndpoint)
class TCP4ClientEndpoint:
    """A TCP server to connect to by host name or address, port and timeout."""

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> None:
        self._reactor = reactor
        self._host = host
        self._port = port
        self._timeout = timeout
        self._bindAddress = bindAddress

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._host}:{self._port}>"

    def connect(self, protocolFactory: Any) -> Deferred:
        """Connect; a Deferred of the connected protocol, or of the connection failure.

        Cancelling the Deferred before it fires abandons the attempt.
        """
        factory = _WrappingFactory(protocolFactory, self._reactor)
        connector: Any = None

        def cancel(deferred: Deferred) -> None:
            # Detach first: the Deferred fails with CancelledError, not with the
            # UserError the connector reports for the abandoned attempt.
            factory._deferred = None
            if connector is not None:
                connector.disconnect()

        deferred = Deferred(cancel)
        factory._deferred = deferred
        try:
            connector = self._reactor.connectTCP(
                self._host,
                self._port,
                factory,
                timeout=self._timeout,
                bindAddress=self._bindAddress,
            )
        except Exception:
            factory._fail(Failure())
        return deferred


class TCP6ClientEndpoint(TCP4ClientEndpoint):
    """A TCP server to connect to over IPv6 (an IPv6 address or a name)."""


class _OneShotFactory(Factory):
    """Returns one given protocol instance."""

    noisy = False

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    def buildProtocol(self, addr: Any) -> Any:
        return self._protocol


def connectProtocol(endpoint: Any, protocol: Any) -> Deferred:
    """Connect ``protocol`` (an instance) through ``endpoint``; a Deferred of it once connected."""
    return endpoint.connect(_OneShotFactory(protocol))


# ------------------------------------------------------------------ string parsing


def _split(description: str) -> list[str]:
    """Split at unescaped colons outside brackets; drop the escapes and the brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    chars = iter(description)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise ValueError(f"endpoint description {description!r} ends with a lone backslash")
            current.append(escaped)
        elif char == "[":
            depth += 1
            current.append(char)
        elif char == "]":
            depth -= 1
            current.append(char)
        elif char == ":" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise ValueError(f"endpoint description {description!r} has unbalanced brackets")
    parts.append("".join(current))
    return parts


def _unbracket(value: str) -> str:
    return value[1:-1] if value.startswith("[") and value.endswith("]") else value


def _parse(description: str, kind: str, table: dict[str, tuple[list[str], set[str]]]) -> tuple[str, dict[str, str]]:
    """Return the endpoint type and its arguments by name, or raise a clear ValueError."""
    if not isinstance(description, str):
        raise TypeError(f"endpoint description must be a str, not {type(description).__name__}")
    parts = _split(description.strip())
    type_name = parts[0].lower()
    if not type_name:
        raise ValueError(f"empty {kind} endpoint description {description!r}; try 'tcp:...'")
    if type_name not in table:
        hint = ""
        if type_name.isdigit():
            hint = f"; did you mean 'tcp:{description}'?"
        known = ", ".join(sorted(table))
        raise ValueError(
            f"unknown {kind} endpoint type {parts[0]!r} in {description!r} (known: {known}){hint}"
        )
    positional_names, keyword_names = table[type_name]
    args: dict[str, str] = {}
    positional = 0
    for part in parts[1:]:
        name, eq, value = part.partition("=")
        if eq:
            name = name.strip()
            if name not in keyword_names:
                known = ", ".join(sorted(keyword_names))
                raise ValueError(
                    f"unknown option {name!r} for a {type_name} {kind} endpoint in "
                    f"{description!r} (known: {known})"
                )
        else:
            if positional >= len(positional_names):
                raise ValueError(
                    f"too many positional arguments in {description!r}: a {type_name} {kind} "
                    f"endpoint takes {', '.join(positional_names)}"
                )
            name, value = positional_names[positional], part
            positional += 1
        if name in args:
            raise ValueError(f"{name!r} is given twice in {description!r}")
        args[name] = _unbracket(value)
    return type_name, args


def _port(args: dict[str, str], description: str) -> int:
    if "port" not in args or args["port"] == "":
        raise ValueError(f"endpoint {description!r} needs a port, e.g. 'tcp:8000' or 'port=8000'")
    return _integer(args["port"], "port", description, 0, 65535)


def _integer(text: str, name: str, description: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {text!r} in {description!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low} to {high}, got {value} in {description!r}")
    return value


def _seconds(text: str, name: str, description: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {text!r} in {description!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {text!r} in {description!r}")
    return value


_SERVER_ARGS = (["port", "interface", "backlog"], {"port", "interface", "backlog"})
_SERVERS: dict[str, tuple[list[str], set[str]]] = {"tcp": _SERVER_ARGS, "tcp6": _SERVER_ARGS}
_SERVER_CLASSES: dict[str, Callable[..., Any]] = {"tcp": TCP4ServerEndpoint, "tcp6": TCP6ServerEndpoint}

_CLIENT_ARGS = (["host", "port"], {"host", "port", "timeout", "bindAddress"})
_CLIENTS: dict[str, tuple[list[str], set[str]]] = {"tcp": _CLIENT_ARGS, "tcp6": _CLIENT_ARGS}
_CLIENT_CLASSES: dict[str, Callable[..., Any]] = {"tcp": TCP4ClientEndpoint, "tcp6": TCP6ClientEndpoint}


def serverFromString(reactor: Any, description: str) -> Any:
    """Make a server endpoint from ``tcp:PORT[:interface=ADDR][:backlog=N]`` (or ``tcp6:``).

    Raises ValueError naming the problem: unknown type or option, missing port, bad number.
    """
    type_name, args = _parse(description, "server", _SERVERS)
    port = _port(args, description)
    backlog = _integer(args.get("backlog", "50"), "backlog", description, 1, 1 << 16)
    interface = args.get("interface") or None
    return _SERVER_CLASSES[type_name](reactor, port, backlog=backlog, interface=interface)


def clientFromString(reactor: Any, description: str) -> Any:
    """Make a client endpoint from ``tcp:HOST:PORT`` or ``tcp:host=H:port=P[:timeout=S]``.

    ``bindAddress=ADDR`` picks the local address. Raises ValueError naming the problem.
    """
    type_name, args = _parse(description, "client", _CLIENTS)
    host = args.get("host", "")
    if not host:
        raise ValueError(f"endpoint {description!r} needs a host, e.g. 'tcp:host=localhost:port=6667'")
    port = _port(args, description)
    if port == 0:
        raise ValueError(f"cannot connect to port 0 in {description!r}")
    timeout = _seconds(args.get("timeout", "30"), "timeout", description)
    bind = args.get("bindAddress")
    bindAddress = (bind, 0) if bind else None
    return _CLIENT_CLASSES[type_name](reactor, host, port, timeout=timeout, bindAddress=bindAddress)
