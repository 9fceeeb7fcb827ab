"""Test doubles for unit-testing protocols without sockets, as ``twisted.internet.testing``.

A protocol only talks to its transport, so a test can hand it a ``StringTransport``,
feed it bytes with ``dataReceived`` and read back what it wrote; ``MemoryReactor``
records what code asks of a reactor (listen here, connect there) without doing it, and
``MemoryReactorClock`` adds ``inspector.task.Clock`` so timeouts run when the test says::

    from inspector.protocols.echo import Echo
    from inspector.testing import StringTransport

    def test_echo_sends_back_what_it_gets():
        protocol = Echo()
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"hello")
        assert transport.value() == b"hello"

Nothing here touches the network or the clock on the wall, so such tests are exact and
fast; real-socket tests stay the place for what only the kernel can show.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Callable, Iterable

from zope.interface import implementer

from inspector import address as address_module
from inspector import interfaces
from inspector.address import IPv4Address, IPv6Address
from inspector.defer import Deferred
from inspector.error import ConnectionDone
from inspector.failure import Failure
from inspector.interfaces import (
    IAddress,
    IConnector,
    IConsumer,
    IDatagramProtocol,
    IListeningPort,
    IProducer,
    IProtocol,
    IProtocolFactory,
    IPushProducer,
    IReactorCore,
    IReactorFDSet,
    IReactorTCP,
    IReactorUDP,
    ITransport,
)
from inspector.protocol import Protocol
from inspector.task import Clock

__all__ = [
    "AccumulatingProtocol",
    "StringTransport",
    "StringTransportWithDisconnection",
    "StringIOWithoutClosing",
    "MemoryReactor",
    "MemoryReactorClock",
]


class AccumulatingProtocol(Protocol):
    """A protocol that keeps everything it is told, for tests to inspect.

    ``data`` holds every byte received, ``made`` and ``closed`` become 1 when the
    connection is made and lost, ``closedReason`` keeps the reason, and
    ``closedDeferred`` (when a test sets it) fires once the connection is lost. If the
    factory has a ``protocolConnectionMade`` Deferred, it fires with this protocol.
    """

    made = 0
    closed = 0
    closedReason: Failure | None = None
    closedDeferred: Deferred[None] | None = None
    data = b""

    def connectionMade(self) -> None:
        """Record the connection and tell a waiting factory about it (once)."""
        self.made = 1
        factory = self.factory
        waiting = getattr(factory, "protocolConnectionMade", None) if factory is not None else None
        if waiting is not None:
            factory.protocolConnectionMade = None
            waiting.callback(self)

    def dataReceived(self, data: bytes) -> None:
        """Append ``data`` to ``self.data``."""
        self.data += data

    def connectionLost(self, reason: Failure | None = None) -> None:
        """Record the loss and its reason; fire ``closedDeferred`` if one is set."""
        self.closed = 1
        self.closedReason = reason
        if self.closedDeferred is not None:
            waiting, self.closedDeferred = self.closedDeferred, None
            waiting.callback(None)


@implementer(ITransport, IConsumer, IPushProducer)
class StringTransport:
    """A transport that keeps written bytes in memory and only records everything else.

    ``value()`` returns what the protocol wrote since the last ``clear()``;
    ``disconnecting`` becomes True on ``loseConnection`` and ``disconnected`` on
    ``abortConnection``; ``producer``/``streaming`` hold the registered producer; and
    ``producerState`` ('producing', 'paused' or 'stopped') records what the protocol
    asked of the transport as a producer. These extras are for tests only.

    ``resumeProducing`` or ``pauseProducing`` after ``loseConnection`` raise
    RuntimeError unless ``lenient`` is true, so code that expects more data from a
    closing connection is caught.
    """

    disconnecting = False
    disconnected = False
    producer: IProducer | None = None
    streaming: bool | None = None
    hostAddr: IAddress | None = None
    peerAddr: IAddress | None = None
    producerState = "producing"

    def __init__(
        self,
        hostAddress: IAddress | None = None,
        peerAddress: IAddress | None = None,
        lenient: bool = False,
    ) -> None:
        self.clear()
        if hostAddress is not None:
            self.hostAddr = hostAddress
        if peerAddress is not None:
            self.peerAddr = peerAddress
        self.connected = True
        self._lenient = lenient

    # -- for tests

    def clear(self) -> None:
        """Forget everything written so far (a test helper, not a transport method)."""
        self.io = BytesIO()

    def value(self) -> bytes:
        """Return every byte written since the last ``clear()`` (a test helper)."""
        return self.io.getvalue()

    # -- ITransport

    def write(self, data: bytes) -> None:
        """Keep ``data``; anything but ``bytes`` is a TypeError, as on a real transport."""
        if not isinstance(data, bytes):
            raise TypeError(f"Data must be bytes, not {type(data).__name__}")
        self.io.write(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        """Keep each piece of ``data`` in order; text in it is a TypeError."""
        self.io.write(b"".join(data))

    def loseConnection(self) -> None:
        """Record the request to close: ``disconnecting`` becomes True; nothing else happens."""
        self.disconnecting = True

    def abortConnection(self) -> None:
        """Record an abort: ``disconnected`` and ``disconnecting`` both become True."""
        self.disconnected = True
        self.loseConnection()

    def getPeer(self) -> IAddress:
        """Return ``peerAddress`` or, if none was given, a made-up IPv4 peer."""
        if self.peerAddr is None:
            return IPv4Address("TCP", "192.168.1.1", 54321)
        return self.peerAddr

    def getHost(self) -> IAddress:
        """Return ``hostAddress`` or, if none was given, a made-up IPv4 local address."""
        if self.hostAddr is None:
            return IPv4Address("TCP", "10.0.0.1", 12345)
        return self.hostAddr

    # -- IConsumer

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        """Remember ``producer``; a second one without unregistering is a RuntimeError."""
        if self.producer is not None:
            raise RuntimeError("Cannot register two producers")
        self.producer = producer
        self.streaming = streaming

    def unregisterProducer(self) -> None:
        """Forget the producer; a RuntimeError when none is registered."""
        if self.producer is None:
            raise RuntimeError("Cannot unregister a producer unless one is registered")
        self.producer = None
        self.streaming = None

    # -- IPushProducer (flow control asked of the transport by its protocol)

    def _checkState(self) -> None:
        if self.disconnecting and not self._lenient:
            raise RuntimeError("Cannot resume producing after loseConnection")
        if self.producerState == "stopped":
            raise RuntimeError("Cannot resume a stopped producer")

    def pauseProducing(self) -> None:
        """Record that reading was paused (``producerState`` 'paused')."""
        self._checkState()
        self.producerState = "paused"

    def resumeProducing(self) -> None:
        """Record that reading resumed (``producerState`` 'producing')."""
        self._checkState()
        self.producerState = "producing"

    def stopProducing(self) -> None:
        """Record that the protocol stopped the transport for good (``producerState`` 'stopped')."""
        self.producerState = "stopped"


class StringTransportWithDisconnection(StringTransport):
    """A StringTransport whose ``loseConnection`` tells ``protocol`` the connection is gone.

    Set ``transport.protocol`` before closing; the first ``loseConnection`` calls its
    ``connectionLost`` with a ConnectionDone failure and clears ``connected``.
    """

    protocol: IProtocol

    def loseConnection(self) -> None:
        """Call ``protocol.connectionLost`` with ConnectionDone, once."""
        if self.connected:
            self.connected = False
            self.protocol.connectionLost(Failure(ConnectionDone("Bye.")))


class StringIOWithoutClosing(BytesIO):
    """A BytesIO whose ``close`` does nothing, so a test can read it after the code closed it."""

    def close(self) -> None:
        """Stay open."""


# ---------------------------------------------------------------------------- reactor


@implementer(IListeningPort)
class _FakePort:
    """The listening port ``MemoryReactor`` returns: it knows its address and nothing else."""

    def __init__(self, hostAddress: IAddress) -> None:
        self._hostAddress = hostAddress

    def startListening(self) -> None:
        """Do nothing: no socket is ever opened."""

    def stopListening(self) -> None:
        """Do nothing: no socket is ever opened."""

    def getHost(self) -> IAddress:
        """Return the address this port pretends to listen on."""
        return self._hostAddress


@implementer(IConnector)
class _FakeConnector:
    """The connector ``MemoryReactor`` returns; ``stoppedConnecting`` records stopConnecting."""

    _disconnected = False
    stoppedConnecting = False

    def __init__(self, address: IAddress) -> None:
        self._address = address

    def stopConnecting(self) -> None:
        """Record that the attempt was stopped."""
        self.stoppedConnecting = True

    def disconnect(self) -> None:
        """Record the disconnect."""
        self._disconnected = True

    def connect(self) -> None:
        """Do nothing: the attempt never completes."""

    def getDestination(self) -> IAddress:
        """Return the address being connected to."""
        return self._address


@implementer(IAddress)
@dataclass(frozen=True)
class _UNIXPath:
    """The address of a UNIX socket path (until the framework has its own UNIXAddress)."""

    name: str


def _unix_address(path: str) -> IAddress:
    unix_address = getattr(address_module, "UNIXAddress", None)
    return unix_address(path) if unix_address is not None else _UNIXPath(path)


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).version == 6
    except ValueError:
        return False


def _tcp_address(host: str, port: int, kind: str = "TCP") -> IAddress:
    if _is_ipv6(host):
        return IPv6Address(kind, host, port)  # type: ignore[arg-type]
    return IPv4Address(kind, host or "0.0.0.0", port)  # type: ignore[arg-type]


_OPTIONAL = tuple(
    getattr(interfaces, name) for name in ("IReactorSSL", "IReactorUNIX") if hasattr(interfaces, name)
)


@implementer(IReactorCore, IReactorTCP, IReactorUDP, IReactorFDSet, *_OPTIONAL)
class MemoryReactor:
    """A reactor that records what it is asked to do and does none of it.

    Each ``listenTCP``/``connectTCP``/``listenUDP``/``listenSSL``/``connectSSL``/
    ``listenUNIX``/``connectUNIX`` call is appended, arguments and all, to
    ``tcpServers``/``tcpClients``/``udpServers``/``sslServers``/``sslClients``/
    ``unixServers``/``unixClients``; connectors land in ``connectors``. Connections
    never complete. ``run()`` runs the ``callWhenRunning`` hooks and stops at once;
    ``triggers`` keeps system event triggers by phase and event type.
    """

    def __init__(self) -> None:
        self.hasInstalled = False
        self.running: bool | None = False
        self.hasRun = False
        self.hasStopped = False
        self.hasCrashed = False
        self.whenRunningHooks: list[tuple[Callable[..., Any], tuple, dict]] = []
        self.triggers: dict[str, dict[str, list[tuple[Callable[..., Any], tuple, dict]]]] = {}
        self.tcpClients: list[tuple[str, int, IProtocolFactory, float | None, Any]] = []
        self.tcpServers: list[tuple[int, IProtocolFactory, int, str]] = []
        self.udpServers: list[tuple[int, Any, str, int]] = []
        self.sslClients: list[tuple] = []
        self.sslServers: list[tuple] = []
        self.unixClients: list[tuple] = []
        self.unixServers: list[tuple] = []
        self.connectors: list[IConnector] = []
        self.readers: set[Any] = set()
        self.writers: set[Any] = set()

    def install(self) -> None:
        """Record that the reactor was installed."""
        self.hasInstalled = True

    # -- IReactorCore

    def resolve(self, name: str, timeout: Any = 10) -> Deferred:
        """Not available without a network: raises NotImplementedError, as in Twisted."""
        raise NotImplementedError()

    def run(self) -> None:
        """Mark the reactor run and running, call the ``callWhenRunning`` hooks, then stop."""
        assert self.running is False
        self.running = True
        self.hasRun = True
        for f, args, kwargs in self.whenRunningHooks:
            f(*args, **kwargs)
        self.stop()

    def stop(self) -> None:
        """Mark the reactor stopped (``running`` False, ``hasStopped`` True)."""
        self.running = False
        self.hasStopped = True

    def crash(self) -> None:
        """Mark the reactor crashed (``running`` None, ``hasCrashed`` True)."""
        self.running = None
        self.hasCrashed = True

    def iterate(self, delay: float = 0) -> None:
        """Not available: raises NotImplementedError, as in Twisted."""
        raise NotImplementedError()

    def fireSystemEvent(self, eventType: str) -> None:
        """Not available: raises NotImplementedError, as in Twisted."""
        raise NotImplementedError()

    def addSystemEventTrigger(
        self, phase: str, eventType: str, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> None:
        """Keep the trigger in ``triggers[phase][eventType]``; it is never run."""
        self.triggers.setdefault(phase, {}).setdefault(eventType, []).append((callable, args, kw))

    def removeSystemEventTrigger(self, triggerID: Any) -> None:
        """Not available: raises NotImplementedError, as in Twisted."""
        raise NotImplementedError()

    def callWhenRunning(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Call now if the reactor has run; otherwise keep it in ``whenRunningHooks`` for ``run``."""
        if self.running or self.hasRun:
            callable(*args, **kw)
            return None
        self.whenRunningHooks.append((callable, args, kw))
        return None

    # -- IReactorTCP, IReactorUDP and the SSL/UNIX counterparts

    def listenTCP(
        self, port: int, factory: IProtocolFactory, backlog: int = socket.SOMAXCONN, interface: str = "127.0.0.1"
    ) -> IListeningPort:
        """Record ``(port, factory, backlog, interface)`` in ``tcpServers``; return a fake port."""
        self.tcpServers.append((port, factory, backlog, interface))
        return _FakePort(_tcp_address(interface, port))

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: IProtocolFactory,
        timeout: float | None = 30,
        bindAddress: Any = None,
    ) -> IConnector:
        """Record the attempt in ``tcpClients``, tell the factory it started; return the connector."""
        self.tcpClients.append((host, port, factory, timeout, bindAddress))
        return self._connector(_tcp_address(host, port), factory)

    def listenUDP(
        self, port: int, protocol: IDatagramProtocol, interface: str = "127.0.0.1", maxPacketSize: int = 65535
    ) -> IListeningPort:
        """Record ``(port, protocol, interface, maxPacketSize)`` in ``udpServers``; return a fake port."""
        self.udpServers.append((port, protocol, interface, maxPacketSize))
        return _FakePort(_tcp_address(interface, port, "UDP"))

    def listenSSL(
        self, port: int, factory: IProtocolFactory, contextFactory: Any, backlog: int = socket.SOMAXCONN,
        interface: str = "127.0.0.1",
    ) -> IListeningPort:
        """Record the call in ``sslServers``; return a fake port."""
        self.sslServers.append((port, factory, contextFactory, backlog, interface))
        return _FakePort(_tcp_address(interface, port))

    def connectSSL(
        self, host: str, port: int, factory: IProtocolFactory, contextFactory: Any,
        timeout: float | None = 30, bindAddress: Any = None,
    ) -> IConnector:
        """Record the attempt in ``sslClients``, tell the factory it started; return the connector."""
        self.sslClients.append((host, port, factory, contextFactory, timeout, bindAddress))
        return self._connector(_tcp_address(host, port), factory)

    def listenUNIX(
        self, address: str, factory: IProtocolFactory, backlog: int = socket.SOMAXCONN, mode: int = 0o666,
        wantPID: int = 0,
    ) -> IListeningPort:
        """Record the call in ``unixServers``; return a fake port."""
        self.unixServers.append((address, factory, backlog, mode, wantPID))
        return _FakePort(_unix_address(address))

    def connectUNIX(
        self, address: str, factory: IProtocolFactory, timeout: float | None = 30, checkPID: int = 0
    ) -> IConnector:
        """Record the attempt in ``unixClients``, tell the factory it started; return the connector."""
        self.unixClients.append((address, factory, timeout, checkPID))
        return self._connector(_unix_address(address), factory)

    def _connector(self, address: IAddress, factory: Any) -> IConnector:
        connector = _FakeConnector(address)
        factory.startedConnecting(connector)
        self.connectors.append(connector)
        return connector

    # -- IReactorFDSet

    def addReader(self, reader: Any) -> None:
        """Add ``reader`` to ``readers``."""
        self.readers.add(reader)

    def removeReader(self, reader: Any) -> None:
        """Remove ``reader`` from ``readers`` if it is there."""
        self.readers.discard(reader)

    def addWriter(self, writer: Any) -> None:
        """Add ``writer`` to ``writers``."""
        self.writers.add(writer)

    def removeWriter(self, writer: Any) -> None:
        """Remove ``writer`` from ``writers`` if it is there."""
        self.writers.discard(writer)

    def getReaders(self) -> list[Any]:
        """Return the readers as a list."""
        return list(self.readers)

    def getWriters(self) -> list[Any]:
        """Return the writers as a list."""
        return list(self.writers)

    def removeAll(self) -> list[Any]:
        """Empty both sets and return everything that was in them."""
        everything = list(self.readers | self.writers)
        self.readers.clear()
        self.writers.clear()
        return everything


class MemoryReactorClock(MemoryReactor, Clock):
    """A MemoryReactor whose time is a ``Clock``: ``callLater`` runs only when ``advance`` says."""

    def __init__(self) -> None:
        MemoryReactor.__init__(self)
        Clock.__init__(self)
