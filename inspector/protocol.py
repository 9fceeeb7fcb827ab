"""Protocols and the factories that build them, with Twisted's names and meanings.

A protocol reacts to one connection's events; a factory builds one protocol per
connection and is told (``doStart``/``doStop``) when the ports and connectors using it
come and go, so ``startFactory``/``stopFactory`` run once per period of use.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from zope.interface import implementer

from inspector.interfaces import (
    IDatagramProtocol,
    IProtocol,
    IProtocolFactory,
)

log = logging.getLogger("inspector")

__all__ = [
    "BaseProtocol",
    "Protocol",
    "Factory",
    "ServerFactory",
    "ClientFactory",
    "AbstractDatagramProtocol",
    "DatagramProtocol",
    "ConnectedDatagramProtocol",
]


class BaseProtocol:
    """What every stream protocol shares: the transport and the connected flag."""

    connected = 0
    transport: Any = None

    def makeConnection(self, transport: Any) -> None:
        """Attach ``transport`` and call ``connectionMade``."""
        self.connected = 1
        self.transport = transport
        self.connectionMade()

    def connectionMade(self) -> None:
        """Called once the connection is up; override to greet the peer."""


@implementer(IProtocol)
class Protocol(BaseProtocol):
    """A stream protocol; override ``dataReceived`` and friends.

    ``factory`` is set by ``Factory.buildProtocol``.
    """

    factory: Any = None

    def logPrefix(self) -> str:
        """Return the prefix used when logging for this protocol."""
        return self.__class__.__name__

    def dataReceived(self, data: bytes) -> None:
        """Bytes arrived from the peer, in chunks of any size."""

    def connectionLost(self, reason: Any) -> None:
        """The connection ended; ``reason`` is a Failure (ConnectionDone or ConnectionLost)."""


@implementer(IProtocolFactory)
class Factory:
    """Builds protocol instances (``protocol`` is the class) and counts its users."""

    protocol: Callable[[], Any] | None = None
    numPorts = 0
    noisy = True

    @classmethod
    def forProtocol(cls, protocol: Callable[[], Any], *args: Any, **kwargs: Any) -> "Factory":
        """Make a factory of this class that builds ``protocol`` instances."""
        factory = cls(*args, **kwargs)
        factory.protocol = protocol
        return factory

    def logPrefix(self) -> str:
        """Return the prefix used when logging for this factory."""
        return self.__class__.__name__

    def doStart(self) -> None:
        """A port or connector starts using this factory; the first one starts it."""
        if not self.numPorts:
            if self.noisy:
                log.debug("Starting factory %r", self)
            self.startFactory()
        self.numPorts += 1

    def doStop(self) -> None:
        """A port or connector stops using this factory; the last one stops it."""
        if self.numPorts == 0:
            return  # more stops than starts: nothing to do, like Twisted
        self.numPorts -= 1
        if not self.numPorts:
            if self.noisy:
                log.debug("Stopping factory %r", self)
            self.stopFactory()

    def startFactory(self) -> None:
        """Override to acquire resources (open files, connect to databases)."""

    def stopFactory(self) -> None:
        """Override to release what ``startFactory`` acquired."""

    def buildProtocol(self, addr: Any) -> Any:
        """Return a new protocol for ``addr`` with ``factory`` set, or None to refuse."""
        if self.protocol is None:
            raise TypeError(f"{type(self).__name__}.protocol is not set; use forProtocol()")
        p = self.protocol()
        p.factory = self
        return p


class ServerFactory(Factory):
    """A factory for servers."""


class ClientFactory(Factory):
    """A factory for clients: told when connecting starts, fails or is lost."""

    def startedConnecting(self, connector: Any) -> None:
        """A connection attempt started through ``connector``."""

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        """The attempt failed; ``reason`` is a Failure (refused, timed out, DNS...)."""

    def clientConnectionLost(self, connector: Any, reason: Any) -> None:
        """An established connection ended; ``reason`` is a Failure."""


class AbstractDatagramProtocol:
    """What datagram protocols share: the transport and start/stop counting."""

    transport: Any = None
    numPorts = 0
    noisy = True

    def logPrefix(self) -> str:
        """Return the prefix used when logging for this protocol."""
        return self.__class__.__name__

    def doStart(self) -> None:
        """The port starts using this protocol; the first start calls ``startProtocol``."""
        if not self.numPorts:
            self.startProtocol()
        self.numPorts += 1

    def doStop(self) -> None:
        """The port stops; the last stop calls ``stopProtocol`` and drops the transport."""
        if self.numPorts == 0:
            return
        self.numPorts -= 1
        self.transport = None
        if not self.numPorts:
            self.stopProtocol()

    def startProtocol(self) -> None:
        """Called when the protocol starts listening on a port."""

    def stopProtocol(self) -> None:
        """Called when the protocol stops listening."""

    def makeConnection(self, transport: Any) -> None:
        """Attach the port as transport and start the protocol."""
        self.transport = transport
        self.doStart()

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """A datagram arrived from ``addr`` (a (host, port) tuple)."""


@implementer(IDatagramProtocol)
class DatagramProtocol(AbstractDatagramProtocol):
    """A UDP protocol; override ``datagramReceived``."""

    def connectionRefused(self) -> None:
        """On a connected port, the peer answered with ICMP port unreachable."""


class ConnectedDatagramProtocol(DatagramProtocol):
    """A UDP protocol used with a connected port (``transport.connect``)."""

    def connectionFailed(self, failure: Any) -> None:
        """Connecting the port failed (e.g. the name did not resolve)."""
