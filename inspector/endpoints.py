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

import ipaddress
import logging
import os
import re
import socket
from typing import TYPE_CHECKING, Any, Callable

from zope.interface import implementer

from inspector.address import HostnameAddress
from inspector.defer import Deferred, maybeDeferred
from inspector.error import ConnectingCancelledError, DNSLookupError, NoProtocol
from inspector.failure import Failure
from inspector.interfaces import (
    IAddress,
    IDatagramProtocol,
    IProtocol,
    IProtocolFactory,
    IReactorProcess,
    IReactorTCP,
    IReactorTime,
    IReactorUDP,
    IReactorUNIX,
    IStreamClientEndpoint,
    IStreamServerEndpoint,
)
from inspector.protocol import ClientFactory, Factory

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

__all__ = [
    "TCP4ServerEndpoint",
    "TCP6ServerEndpoint",
    "TCP4ClientEndpoint",
    "TCP6ClientEndpoint",
    "HostnameEndpoint",
    "UDPServerEndpoint",
    "UNIXServerEndpoint",
    "UNIXClientEndpoint",
    "ProcessEndpoint",
    "client_string_for",
    "StandardErrorBehavior",
    "SSL4ServerEndpoint",
    "SSL4ClientEndpoint",
    "serverFromString",
    "clientFromString",
    "connectProtocol",
    "NoProtocol",
]


# --------------------------------------------------------------------------- servers


@implementer(IStreamServerEndpoint)
class TCP4ServerEndpoint:
    """A TCP port on an IPv4 interface (127.0.0.1 unless told otherwise).

    The listen ``backlog`` defaults to the system's maximum, as asyncio's does: a short
    queue makes a burst of connects wait for SYN retransmits (seconds each).
    """

    default_interface = "127.0.0.1"

    def __init__(
        self, reactor: IReactorTCP, port: int, backlog: int = socket.SOMAXCONN, interface: str | None = None
    ) -> None:
        self._reactor = reactor
        self._port = port
        self._backlog = backlog
        self._interface = self.default_interface if interface is None else interface

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._interface}:{self._port}>"

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred:
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

    def __init__(self, wrapped: IProtocolFactory, reactor: IReactorTime) -> None:
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

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self._fail(reason)

    def _succeed(self, protocol: Any) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is not None and not deferred.called:
            deferred.callback(protocol)

    def _fail(self, reason: Any) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is not None and not deferred.called:
            deferred.errback(reason)


def _connect_cancellable(reactor: Any, protocolFactory: Any, start: Callable[[Any], Any]) -> Deferred:
    """Connect through ``start(factory)`` (a reactor's ``connectTCP``/``connectUNIX`` call
    returning the connector); a Deferred of the connected protocol or of the failure.

    Cancelling the Deferred before it fires abandons the attempt and fails it with
    ConnectingCancelledError naming the destination, as in Twisted.
    """
    factory = _WrappingFactory(protocolFactory, reactor)
    connector: Any = None

    def cancel(deferred: Deferred) -> None:
        # Detach first: the Deferred fails with ConnectingCancelledError, not with
        # the UserError the connector reports for the abandoned attempt.
        factory._deferred = None
        if connector is not None:
            deferred.errback(ConnectingCancelledError(connector.getDestination()))
            connector.disconnect()

    deferred: Deferred[Any] = Deferred(cancel)
    factory._deferred = deferred
    try:
        connector = start(factory)
    except Exception:
        factory._fail(Failure())
    return deferred


@implementer(IStreamClientEndpoint)
class TCP4ClientEndpoint:
    """A TCP server to connect to by host name or address, port and timeout."""

    def __init__(
        self,
        reactor: ReactorLike,
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

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred:
        """Connect; a Deferred of the connected protocol, or of the connection failure.

        Cancelling the Deferred before it fires abandons the attempt and fails it with
        ConnectingCancelledError naming the destination, as in Twisted.
        """
        return _connect_cancellable(self._reactor, protocolFactory, lambda factory: self._reactor.connectTCP(
            self._host, self._port, factory, timeout=self._timeout, bindAddress=self._bindAddress))


class TCP6ClientEndpoint(TCP4ClientEndpoint):
    """A TCP server to connect to over IPv6 (an IPv6 address or a name)."""


class SSL4ServerEndpoint(TCP4ServerEndpoint):
    """A TLS server on a TCP port (Twisted's name): ``listen`` calls ``listenSSL``."""

    _reactor: ReactorLike

    def __init__(self, reactor: ReactorLike, port: int, sslContextFactory: Any, backlog: int = socket.SOMAXCONN,
                 interface: str | None = None) -> None:
        super().__init__(reactor, port, backlog=backlog, interface=interface)
        self._sslContextFactory = sslContextFactory

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred:
        """Listen with ``protocolFactory`` over TLS; a Deferred of the port."""
        return maybeDeferred(self._reactor.listenSSL, self._port, protocolFactory, self._sslContextFactory,
                             backlog=self._backlog, interface=self._interface)


class SSL4ClientEndpoint(TCP4ClientEndpoint):
    """A TLS server to connect to (Twisted's name): TCP, then TLS with ``sslContextFactory``."""

    def __init__(self, reactor: ReactorLike, host: str, port: int, sslContextFactory: Any, timeout: float = 30,
                 bindAddress: tuple[str, int] | None = None) -> None:
        super().__init__(reactor, host, port, timeout=timeout, bindAddress=bindAddress)
        self._sslContextFactory = sslContextFactory

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred:
        """Connect and start TLS; a Deferred of the user's protocol (its ``connectionMade``
        has run; a failed handshake reaches its ``connectionLost`` with the reason)."""
        from inspector.tls import TLSMemoryBIOFactory

        try:
            wrapped = TLSMemoryBIOFactory(self._sslContextFactory, True, protocolFactory, hostname=self._host)
        except Exception:
            failed: Deferred[Any] = Deferred()
            failed.errback(Failure())
            return failed
        return super().connect(wrapped).addCallback(lambda layer: layer.protocol)


class _LostRace(Exception):
    """An attempt connected after another had already won; its socket is closed."""


@implementer(IProtocolFactory)
class _Entrant:
    """The factory of one racing attempt: only the first to connect builds a protocol."""

    def __init__(self, race: "_Race") -> None:
        self._race = race

    def doStart(self) -> None:
        self._race.wrapped.doStart()

    def doStop(self) -> None:
        self._race.wrapped.doStop()

    def buildProtocol(self, addr: Any) -> Any:
        race = self._race
        if race.winner is not None:
            raise _LostRace(addr)
        race.winner = self
        return race.wrapped.buildProtocol(addr)


def resolve_all(host: str, port: int) -> list[str]:
    """Every distinct address of ``host`` for TCP, in the system resolver's order (blocking).

    Raises DNSLookupError when the name does not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise DNSLookupError(f"address {host!r} not found: {error}") from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    return addresses


@implementer(IStreamClientEndpoint)
class HostnameEndpoint:
    """Connects to a host name trying every address it resolves to, IPv6 and IPv4.

    Addresses are tried in the resolver's order; when one has not answered within
    ``attemptDelay`` seconds the next is tried alongside it, and the first to connect
    wins (the others are abandoned). So ``localhost`` reaches a server listening only
    on ``::1`` or only on ``127.0.0.1``. Fails with the last attempt's error, or with
    DNSLookupError when the name does not resolve. ``resolver(host, port)`` returns the
    addresses to try and runs in the thread pool (default: ``resolve_all``).
    """

    def __init__(
        self,
        reactor: ReactorLike,
        host: str,
        port: int,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
        attemptDelay: float = 0.3,
        resolver: Callable[[str, int], list[str]] | None = None,
    ) -> None:
        self._reactor = reactor
        self._host = host
        self._port = port
        self._timeout = timeout
        self._bindAddress = bindAddress
        self._attemptDelay = attemptDelay
        self._resolver = resolver if resolver is not None else resolve_all

    def __repr__(self) -> str:
        return f"<HostnameEndpoint {self._host}:{self._port}>"

    def _addresses(self) -> Deferred:
        """A Deferred of the host's addresses, looked up off the loop thread."""
        from inspector.threads import deferToThreadPool

        reactor = self._reactor
        return deferToThreadPool(reactor, reactor.getThreadPool(), self._resolver, self._host, self._port)

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred:
        """Connect; a Deferred of the protocol built for the first address that answers."""
        race = _Race(self, protocolFactory)
        lookup = self._addresses()
        race.lookup = lookup
        lookup.addCallbacks(race.start, race.fail)
        return race.result


class _Race:
    """One HostnameEndpoint.connect: staggered attempts, the first to connect wins."""

    def __init__(self, endpoint: HostnameEndpoint, wrapped: Any) -> None:
        self.endpoint = endpoint
        self.wrapped = wrapped
        self.winner: Any = None  # the _Entrant that built the protocol (or a cancel marker)
        self.result: Deferred = Deferred(self.cancel)
        self.lookup: Deferred | None = None
        self.addresses: list[str] = []
        self.next_index = 0
        self.in_flight: list[Deferred] = []
        self.timer: Any = None

    def start(self, addresses: list[str]) -> None:
        self.lookup = None
        self.addresses = addresses
        if not addresses:
            self.fail(Failure(DNSLookupError(f"address {self.endpoint._host!r} not found")))
            return
        self.launch()

    def launch(self) -> None:
        """Start the next address's attempt and arm the timer for the one after."""
        self.timer = None
        if self.result.called or self.next_index >= len(self.addresses):
            return
        address = self.addresses[self.next_index]
        self.next_index += 1
        ep = self.endpoint
        entrant = _Entrant(self)
        attempt = TCP4ClientEndpoint(ep._reactor, address, ep._port, ep._timeout, ep._bindAddress).connect(entrant)
        self.in_flight.append(attempt)
        attempt.addCallbacks(self.won, self.lost, errbackArgs=(attempt, entrant))
        if self.next_index < len(self.addresses):
            self.timer = ep._reactor.callLater(ep._attemptDelay, self.launch)

    def won(self, protocol: IProtocol) -> None:
        self.stop_others()
        if not self.result.called:
            self.result.callback(protocol)

    def lost(self, failure: Failure, attempt: Deferred, entrant: _Entrant) -> None:
        if attempt in self.in_flight:
            self.in_flight.remove(attempt)
        if self.result.called or failure.check(_LostRace):
            return
        if self.winner is entrant:  # connected, but the factory could not build
            self.stop_others()
            self.result.errback(failure)
            return
        if self.winner is not None:
            return  # the winner is being delivered; this one lost anyway
        if self.next_index < len(self.addresses):
            if self.timer is not None:
                self.timer.cancel()
            self.launch()  # after a failure, try the next address at once
        elif not self.in_flight:
            self.result.errback(failure)

    def fail(self, failure: Failure) -> None:
        if not self.result.called:
            self.result.errback(failure)

    def stop_others(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        attempts, self.in_flight = self.in_flight, []
        for attempt in attempts:
            if not attempt.called:
                attempt.cancel()

    def cancel(self, deferred: Deferred) -> None:
        ep = self.endpoint
        try:
            hostname = ep._host.encode("idna")
        except UnicodeError:
            hostname = ep._host.encode("utf-8", "backslashreplace")
        deferred.errback(ConnectingCancelledError(HostnameAddress(hostname, ep._port)))
        if self.winner is None:
            self.winner = object()  # no late attempt may build a protocol now
        if self.lookup is not None:
            self.lookup.addErrback(lambda f: None)
        self.stop_others()


class _OneShotFactory(Factory):
    """Returns one given protocol instance."""

    noisy = False

    def __init__(self, protocol: IProtocol) -> None:
        self._protocol = protocol

    def buildProtocol(self, addr: Any) -> Any:
        return self._protocol


def connectProtocol(endpoint: IStreamClientEndpoint, protocol: IProtocol) -> Deferred:
    """Connect ``protocol`` (an instance) through ``endpoint``; a Deferred of it once connected."""
    return endpoint.connect(_OneShotFactory(protocol))


_log = logging.getLogger("inspector.endpoints")


@implementer(IAddress)
class _ProcessAddress:
    """The address a ProcessEndpoint's factory is given: a child process (as Twisted's)."""


class StandardErrorBehavior:
    """What a ProcessEndpoint does with the child's stderr: LOG it, or DROP it."""

    LOG = "log"
    DROP = "drop"


class _ProcessEndpointTransport:
    """The stream transport a ProcessEndpoint's protocol sees: writes go to stdin; the
    process transport's other methods (signalProcess, pid, closeStdin ...) pass through."""

    def __init__(self, process: Any) -> None:
        self._process = process

    def write(self, data: bytes) -> None:
        self._process.write(data)

    def writeSequence(self, seq: Any) -> None:
        self._process.writeSequence(seq)

    def loseConnection(self) -> None:
        self._process.loseConnection()

    def getHost(self) -> Any:
        return self._process.getHost()

    def getPeer(self) -> Any:
        return self._process.getPeer()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._process.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._process.unregisterProducer()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._process, name)


class _WrapIProtocol:
    """Runs a stream protocol over a child: stdout is its data, the child's end its
    connectionLost (ConnectionDone for exit code 0, else the ProcessTerminated)."""

    def __init__(self, protocol: IProtocol, executable: Any, errFlag: str) -> None:
        self.protocol = protocol
        self.executable = executable
        self.errFlag = errFlag
        self.transport: Any = None

    def makeConnection(self, process: Any) -> None:
        self.transport = _ProcessEndpointTransport(process)
        self.protocol.makeConnection(self.transport)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == 1:
            self.protocol.dataReceived(data)
        elif childFD == 2 and self.errFlag == StandardErrorBehavior.LOG:
            _log.warning("Process %r wrote to stderr: %r", self.executable, data)

    def childConnectionLost(self, childFD: int) -> None:
        pass

    def processExited(self, reason: Failure) -> None:
        pass

    def processEnded(self, reason: Failure) -> None:
        from inspector.error import ConnectionDone, ProcessDone

        if reason.check(ProcessDone):
            self.protocol.connectionLost(Failure(ConnectionDone()))
        else:
            self.protocol.connectionLost(reason)


@implementer(IStreamClientEndpoint)
class ProcessEndpoint:
    """A client endpoint that runs a program: the protocol reads its stdout and writes
    its stdin (Twisted's ``ProcessEndpoint``; arguments as ``spawnProcess``'s)."""

    def __init__(self, reactor: IReactorProcess, executable: Any, args: Any = (), env: Any = {},  # noqa: B006
                 path: Any = None, uid: int | None = None, gid: int | None = None, usePTY: bool = False,
                 childFDs: Any = None, errFlag: str = StandardErrorBehavior.LOG) -> None:
        self._reactor = reactor
        self._executable = executable
        self._args = args
        self._env = env
        self._path = path
        self._uid = uid
        self._gid = gid
        self._usePTY = usePTY
        self._childFDs = childFDs
        self._errFlag = errFlag

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred:
        """Start the program; a Deferred of the protocol (errback if it cannot start)."""

        def start() -> Any:
            proto = protocolFactory.buildProtocol(_ProcessAddress())
            if proto is None:
                raise NoProtocol("the factory built no protocol")
            self._reactor.spawnProcess(
                _WrapIProtocol(proto, self._executable, self._errFlag), self._executable, self._args,
                self._env, self._path, self._uid, self._gid, self._usePTY, self._childFDs)
            return proto

        return maybeDeferred(start)


class UDPServerEndpoint:
    """A UDP port (127.0.0.1 unless told otherwise) for a DatagramProtocol.

    Not a stream endpoint: ``listen`` takes the protocol instance itself, as
    ``listenUDP`` does, and gives a Deferred of the port.
    """

    def __init__(
        self, reactor: IReactorUDP, port: int, interface: str | None = None, maxPacketSize: int = 65535
    ) -> None:
        self._reactor = reactor
        self._port = port
        self._interface = "127.0.0.1" if interface is None else interface
        self._maxPacketSize = maxPacketSize

    def __repr__(self) -> str:
        return f"<UDPServerEndpoint {self._interface}:{self._port}>"

    def listen(self, protocol: IDatagramProtocol) -> Deferred:
        """Bind ``protocol`` to the port; a Deferred of the port, or CannotListenError."""
        return maybeDeferred(
            self._reactor.listenUDP,
            self._port,
            protocol,
            interface=self._interface,
            maxPacketSize=self._maxPacketSize,
        )


@implementer(IStreamServerEndpoint)
class UNIXServerEndpoint:
    """A Unix stream socket (a path, or "\\0name" in Linux's abstract namespace);
    ``wantPID`` replaces a stale socket file left by a dead process."""

    def __init__(self, reactor: IReactorUNIX, address: Any, backlog: int = socket.SOMAXCONN, mode: int = 0o666,
                 wantPID: bool = False) -> None:
        self._reactor = reactor
        self._address = address
        self._backlog = backlog
        self._mode = mode
        self._wantPID = wantPID

    def __repr__(self) -> str:
        return f"<UNIXServerEndpoint {self._address!r}>"

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred:
        """Listen with ``protocolFactory``; a Deferred of the port, or CannotListenError."""
        return maybeDeferred(self._reactor.listenUNIX, self._address, protocolFactory,
                             backlog=self._backlog, mode=self._mode, wantPID=self._wantPID)


@implementer(IStreamClientEndpoint)
class UNIXClientEndpoint:
    """A connection to a Unix stream socket; ``checkPID`` insists on its lock file."""

    def __init__(self, reactor: ReactorLike, path: Any, timeout: float = 30, checkPID: bool = False) -> None:
        self._reactor = reactor
        self._path = path
        self._timeout = timeout
        self._checkPID = checkPID

    def __repr__(self) -> str:
        return f"<UNIXClientEndpoint {self._path!r}>"

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred:
        """Connect; a Deferred of the connected protocol, or of the connection failure
        (ConnectingCancelledError if cancelled before it fires)."""
        return _connect_cancellable(self._reactor, protocolFactory, lambda factory: self._reactor.connectUNIX(
            self._path, factory, timeout=self._timeout, checkPID=self._checkPID))


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
    try:
        return _parse_parts(description, kind, table)
    except ValueError:
        bare = _BARE_IPV6.search(description)
        if bare is None:
            raise
        name, address = bare.group(1), bare.group(2)
        if address.endswith(":") and not address.endswith("::"):
            address = address[:-1]  # the separator before the next argument
        escaped = address.replace(":", "\\:")
        raise ValueError(
            f"the IPv6 address in {name}={address} needs its colons escaped in an endpoint "
            f"description: write {name}={escaped} or {name}=[{address}] (in {description!r})"
        ) from None


#: ``name=`` followed by an IPv6 literal with unescaped colons (``interface=::1``).
_BARE_IPV6 = re.compile(r"(\w+)=((?:[0-9A-Fa-f]{0,4}:){2,}[0-9A-Fa-f.]*)")


def _parse_parts(
    description: str, kind: str, table: dict[str, tuple[list[str], set[str]]]
) -> tuple[str, dict[str, str]]:
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
            if not value:
                raise ValueError(f"{name}= has no value in {description!r}")
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
    if not value > 0 or value > _MAX_SECONDS:
        raise ValueError(
            f"{name} must be a positive number of seconds up to a day ({_MAX_SECONDS:g}), "
            f"got {text!r} in {description!r}"
        )
    return value


#: The longest timeout an endpoint string accepts (a day); more is a typing mistake.
_MAX_SECONDS = 86400.0


def _interface(args: dict[str, str], type_name: str, description: str) -> str | None:
    """The ``interface`` argument checked: an IP address, IPv6 for ``tcp6``, or None."""
    text = args.get("interface")
    if text is None:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(
            f"interface must be an IP address to listen on (e.g. 127.0.0.1, 0.0.0.0, \\:\\:1), "
            f"got {text!r} in {description!r}"
        ) from None
    if type_name == "tcp6" and address.version == 4:
        raise ValueError(
            f"a tcp6 endpoint listens on IPv6, but interface {text} is IPv4 in {description!r}; "
            f"use tcp:PORT:interface={text}"
        )
    return text


_SERVER_ARGS = (["port", "interface", "backlog"], {"port", "interface", "backlog"})
_SERVERS: dict[str, tuple[list[str], set[str]]] = {
    "tcp": _SERVER_ARGS,
    "tcp6": _SERVER_ARGS,
    "udp": (["port", "interface"], {"port", "interface", "maxPacketSize"}),
    "unix": (["address"], {"address", "backlog", "mode", "lockfile"}),
    "ssl": (["port"], {"port", "interface", "backlog", "privateKey", "certKey", "extraCertChain", "caCertsDir",
                       "handshakeTimeout"}),
}
_SERVER_CLASSES: dict[str, Callable[..., Any]] = {"tcp": TCP4ServerEndpoint, "tcp6": TCP6ServerEndpoint}

_CLIENT_ARGS = (["host", "port"], {"host", "port", "timeout", "bindAddress"})
_CLIENTS: dict[str, tuple[list[str], set[str]]] = {
    "tcp": _CLIENT_ARGS, "tcp6": _CLIENT_ARGS, "unix": (["path"], {"path", "timeout", "lockfile"}),
    "tls": (["host", "port"], {"host", "port", "timeout", "bindAddress", "trustRoots", "certificate", "privateKey"}),
}
_CLIENT_CLASSES: dict[str, Callable[..., Any]] = {"tcp": TCP4ClientEndpoint, "tcp6": TCP6ClientEndpoint}


def serverFromString(reactor: ReactorLike, description: str) -> Any:
    """Make a server endpoint from ``tcp:PORT[:interface=ADDR][:backlog=N]`` (or ``tcp6:``).

    The interface is an IP address; an IPv6 one has its colons escaped (``\\:\\:1``) or is
    in brackets (``[::1]``). ``tcp`` takes either family (as Twisted's does), ``tcp6``
    only IPv6. The backlog defaults to ``socket.SOMAXCONN``.

    ``udp:PORT[:interface=ADDR][:maxPacketSize=N]`` gives a UDPServerEndpoint, whose
    ``listen`` takes a DatagramProtocol.

    ``unix:PATH[:backlog=N][:mode=660][:lockfile=1]`` gives a UNIXServerEndpoint (``mode``
    in octal; ``lockfile=1`` is ``wantPID``; ``unix:@NAME`` is Linux's abstract namespace).

    Raises ValueError naming the problem: unknown type or option, missing port, bad number.
    """
    type_name, args = _parse(description, "server", _SERVERS)
    if type_name == "unix":
        return _unix_server(reactor, args, description)
    if type_name == "ssl":
        return _ssl_server(reactor, args, description)
    port = _port(args, description)
    interface = _interface(args, type_name, description)
    if type_name == "udp":
        size = _integer(args.get("maxPacketSize", "65535"), "maxPacketSize", description, 1, 65535)
        return UDPServerEndpoint(reactor, port, interface=interface, maxPacketSize=size)
    backlog = _integer(args.get("backlog", str(socket.SOMAXCONN)), "backlog", description, 1, 1 << 16)
    return _SERVER_CLASSES[type_name](reactor, port, backlog=backlog, interface=interface)


def client_string_for(text: str, *, what: str = "the endpoint", bare_port_host: str | None = None) -> str:
    """``HOST:PORT`` or ``[V6]:PORT`` as the client endpoint string ``tcp:host=H:port=P``.

    What users type where a peer is asked for (a proxy's upstream, a process to attach to);
    an endpoint string is returned as it is, for :func:`clientFromString` to check, and a
    bare port means ``bare_port_host`` when one is given. ValueError names ``what`` is wrong.
    """
    text = text.strip()
    if not text:
        raise ValueError(f"{what} is empty; give HOST:PORT or tcp:host=HOST:port=PORT")
    if bare_port_host is not None and text.isdigit():
        text = f"{bare_port_host}:{text}"
    if text.split(":", 1)[0] in _CLIENTS:
        return text
    host, colon, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if not colon or not port.isdigit() or not host or "=" in host:
        raise ValueError(f"{what} {text!r} is not HOST:PORT (e.g. 127.0.0.1:7000) "
                         "nor an endpoint (tcp:host=127.0.0.1:port=7000)")
    if ":" in host or bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{what} {text!r}: {host!r} is not an IPv6 address; "
                             "write HOST:PORT or [V6]:PORT") from None
        host = "[" + host + "]"
    return f"tcp:host={host}:port={int(port)}"


def clientFromString(reactor: ReactorLike, description: str) -> Any:
    """Make a client endpoint from ``tcp:HOST:PORT`` or ``tcp:host=H:port=P[:timeout=S]``.

    ``bindAddress=ADDR`` picks the local address. ``unix:path=PATH[:timeout=S][:lockfile=1]``
    (or ``unix:PATH``, ``unix:@NAME``) connects to a Unix socket. Raises ValueError naming
    the problem.
    """
    type_name, args = _parse(description, "client", _CLIENTS)
    if type_name == "unix":
        return _unix_client(reactor, args, description)
    if type_name == "tls":
        return _tls_client(reactor, args, description)
    host = args.get("host", "")
    if not host:
        raise ValueError(f"endpoint {description!r} needs a host, e.g. 'tcp:host=localhost:port=6667'")
    if host.rstrip(".").rsplit(".", 1)[-1].isdigit():  # no top-level domain is all digits
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"host {host!r} is not a valid IPv4 address in {description!r}") from None
    port = _port(args, description)
    if port == 0:
        raise ValueError(f"cannot connect to port 0 in {description!r}")
    timeout = _seconds(args.get("timeout", "30"), "timeout", description)
    bind = args.get("bindAddress")
    bindAddress = (bind, 0) if bind else None
    return _CLIENT_CLASSES[type_name](reactor, host, port, timeout=timeout, bindAddress=bindAddress)


def _unix_name(args: dict[str, str], key: str, description: str) -> str:
    """The socket name of a ``unix:`` string: a path, or ``@name`` for the abstract namespace."""
    name = args.get(key, "")
    if not name or name == "@":
        raise ValueError(f"endpoint {description!r} needs a socket path, e.g. 'unix:/tmp/app.sock'")
    return "\0" + name[1:] if name.startswith("@") else name


def _flag(args: dict[str, str], name: str, description: str) -> bool:
    text = args.get(name, "0")
    if text not in ("0", "1"):
        raise ValueError(f"{name} must be 0 or 1, got {text!r} in {description!r}")
    return text == "1"


def _unix_server(reactor: Any, args: dict[str, str], description: str) -> UNIXServerEndpoint:
    """``unix:PATH[:backlog=N][:mode=0666][:lockfile=1]`` (Twisted's string; ``@name`` is abstract)."""
    address = _unix_name(args, "address", description)
    backlog = _integer(args.get("backlog", str(socket.SOMAXCONN)), "backlog", description, 1, 1 << 16)
    try:
        mode = int(args.get("mode", "666"), 8)
    except ValueError:
        raise ValueError(f"mode must be octal digits such as 660, got {args['mode']!r} in {description!r}") from None
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"mode must be at most 7777 (octal), got {args['mode']!r} in {description!r}")
    return UNIXServerEndpoint(reactor, address, backlog=backlog, mode=mode,
                              wantPID=_flag(args, "lockfile", description))


def _unix_client(reactor: Any, args: dict[str, str], description: str) -> UNIXClientEndpoint:
    """``unix:path=PATH[:timeout=S][:lockfile=1]`` (or ``unix:PATH``)."""
    path = _unix_name(args, "path", description)
    timeout = _seconds(args.get("timeout", "30"), "timeout", description)
    return UNIXClientEndpoint(reactor, path, timeout=timeout, checkPID=_flag(args, "lockfile", description))


def _read_pem(path: str, what: str, description: str) -> bytes:
    try:
        with open(path, "rb") as source:
            return source.read()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path!r} in {description!r}: {exc.strerror or exc}") from None


def _ssl_server(reactor: Any, args: dict[str, str], description: str) -> SSL4ServerEndpoint:
    """``ssl:PORT:privateKey=KEY.pem[:certKey=CERT.pem][:interface=ADDR][:backlog=N]
    [:extraCertChain=CHAIN.pem][:caCertsDir=DIR][:handshakeTimeout=S]`` (Twisted's string;
    the certificate defaults to the key's file, which then holds both)."""
    from inspector.ssl import Certificate, CertificateOptions, KeyPair

    port = _port(args, description)
    interface = _interface(args, "tcp", description)
    backlog = _integer(args.get("backlog", str(socket.SOMAXCONN)), "backlog", description, 1, 1 << 16)
    key_path = args.get("privateKey")
    if not key_path:
        raise ValueError(f"endpoint {description!r} needs privateKey=KEY.pem (and certKey=CERT.pem)")
    key_pem = _read_pem(key_path, "private key", description)
    cert_pem = _read_pem(args["certKey"], "certificate", description) if args.get("certKey") else key_pem
    try:
        chain = []
        if args.get("extraCertChain"):
            blob = _read_pem(args["extraCertChain"], "certificate chain", description)
            chain = [Certificate.loadPEM(block + b"-----END CERTIFICATE-----")
                     for block in blob.split(b"-----END CERTIFICATE-----") if b"BEGIN CERTIFICATE" in block]
        ca_certs = None
        if args.get("caCertsDir"):
            directory = args["caCertsDir"]
            try:
                names = sorted(os.listdir(directory))
            except OSError as exc:
                raise ValueError(f"cannot list caCertsDir {directory!r}: {exc.strerror or exc}") from None
            ca_certs = [Certificate.loadPEM(_read_pem(os.path.join(directory, n), "CA certificate", description))
                        for n in names if n.endswith((".pem", ".crt"))]
        options = CertificateOptions(privateKey=KeyPair.load(key_pem), certificate=Certificate.loadPEM(cert_pem),
                                     extraCertChain=chain, caCerts=ca_certs or None)
        options.getContext()  # a key that does not match the certificate fails here, not per connection
    except ValueError as exc:
        raise ValueError(f"{exc} (in {description!r})") from None
    if args.get("handshakeTimeout"):
        options.handshakeTimeout = _seconds(args["handshakeTimeout"], "handshakeTimeout", description)
    return SSL4ServerEndpoint(reactor, port, options, backlog=backlog, interface=interface)


def _tls_client(reactor: Any, args: dict[str, str], description: str) -> SSL4ClientEndpoint:
    """``tls:HOST:PORT[:timeout=S][:bindAddress=ADDR][:trustRoots=CA.pem or DIR]
    [:certificate=CERT.pem:privateKey=KEY.pem]``: the server's certificate and host name are
    checked, against the platform's authorities unless ``trustRoots`` names others."""
    from inspector.ssl import Certificate, KeyPair, PrivateCertificate, optionsForClientTLS, trustRootFromCertificates

    host = args.get("host", "")
    if not host:
        raise ValueError(f"endpoint {description!r} needs a host, e.g. 'tls:example.com:443'")
    port = _port(args, description)
    if port == 0:
        raise ValueError(f"cannot connect to port 0 in {description!r}")
    timeout = _seconds(args.get("timeout", "30"), "timeout", description)
    bind = args.get("bindAddress")
    try:
        trust = None
        roots = args.get("trustRoots")
        if roots:
            paths = ([os.path.join(roots, n) for n in sorted(os.listdir(roots)) if n.endswith((".pem", ".crt"))]
                     if os.path.isdir(roots) else [roots])
            trust = trustRootFromCertificates(
                [Certificate.loadPEM(_read_pem(p, "trust root", description)) for p in paths])
        client_cert = None
        if args.get("certificate") or args.get("privateKey"):
            if not (args.get("certificate") and args.get("privateKey")):
                raise ValueError("a client certificate needs both certificate= and privateKey=")
            client_cert = PrivateCertificate.fromCertificateAndKeyPair(
                Certificate.loadPEM(_read_pem(args["certificate"], "certificate", description)),
                KeyPair.load(_read_pem(args["privateKey"], "private key", description)))
        options = optionsForClientTLS(host, trustRoot=trust, clientCertificate=client_cert)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{exc} (in {description!r})") from None
    return SSL4ClientEndpoint(reactor, host, port, options, timeout=timeout,
                              bindAddress=(bind, 0) if bind else None)
