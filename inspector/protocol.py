"""Protocols and the factories that build them, with Twisted's names and meanings.

A protocol reacts to one connection's events; a factory builds one protocol per
connection and is told (``doStart``/``doStop``) when the ports and connectors using it
come and go, so ``startFactory``/``stopFactory`` run once per period of use.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any, Callable

from zope.interface import implementer

from inspector.error import ConnectionDone, NotConnectingError
from inspector.failure import Failure
from inspector.interfaces import (
    IDatagramProtocol,
    IProcessProtocol,
    IProtocol,
    IProtocolFactory,
    IReactorTime,
    ITransport,
    IUDPTransport,
)

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

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
    "ReconnectingClientFactory",
    "ClientCreator",
    "ProcessProtocol",
    "connectionDone",
]

#: The reason given for a cleanly closed connection, as Twisted's ``protocol.connectionDone``.
connectionDone = Failure(ConnectionDone())
connectionDone.cleanFailure()


class BaseProtocol:
    """What every stream protocol shares: the transport and the connected flag."""

    connected = 0
    transport: Any = None

    def makeConnection(self, transport: ITransport) -> None:
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

    def connectionLost(self, reason: Failure = connectionDone) -> None:
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

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        """The attempt failed; ``reason`` is a Failure (refused, timed out, DNS...)."""

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
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

    def makeConnection(self, transport: IUDPTransport) -> None:
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

    def connectionFailed(self, failure: Failure) -> None:
        """Connecting the port failed (e.g. the name did not resolve)."""


# ------------------------------------------------- reconnecting and one-shot clients


class ReconnectingClientFactory(ClientFactory):
    """A client factory that reconnects after a failed or lost connection, backing off.

    Each retry waits ``factor`` times longer than the last (from ``initialDelay``, at
    most ``maxDelay``), scattered by ``jitter`` so many clients do not return in step.
    Call ``resetDelay`` once connected (typically in ``buildProtocol``), ``stopTrying``
    to give up. Delays are scheduled on ``clock``, else on the connector's reactor.
    """

    maxDelay: float = 3600
    initialDelay: float = 1.0
    factor: float = 2.7182818284590451
    jitter: float = 0.11962656472
    retries = 0
    maxRetries: int | None = None
    continueTrying = 1
    connector: Any = None
    clock: Any = None
    _callID: Any = None
    _delay: float | None = None

    @property
    def delay(self) -> float:
        """The last back-off delay; ``initialDelay`` (even a subclass's) until the first retry."""
        return self.initialDelay if self._delay is None else self._delay

    @delay.setter
    def delay(self, value: float) -> None:
        self._delay = value

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        """Schedule another attempt, unless told to stop trying."""
        if self.continueTrying:
            self.connector = connector
            self.retry()

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        """Schedule a reconnection, unless told to stop trying."""
        if self.continueTrying:
            self.connector = connector
            self.retry()

    def retry(self, connector: Any = None) -> None:
        """Schedule ``connector.connect()`` after the next back-off delay."""
        if not self.continueTrying:
            if self.noisy:
                log.info("%s: abandoning %r on explicit request", self.logPrefix(), connector)
            return
        if connector is None:
            if self.connector is None:
                raise ValueError(f"{self.logPrefix()}: no connector to retry")
            connector = self.connector
        self.retries += 1
        if self.maxRetries is not None and self.retries > self.maxRetries:
            if self.noisy:
                log.info("%s: abandoning %r after %d retries", self.logPrefix(), connector, self.retries - 1)
            return
        delay = min(self.delay * self.factor, self.maxDelay)
        if self.jitter:
            delay = random.normalvariate(delay, delay * self.jitter)
        self.delay = max(0.0, min(delay, self.maxDelay))
        if self.noisy:
            log.info("%s: will retry %r in %.3g seconds", self.logPrefix(), connector, self.delay)

        def reconnect() -> None:
            self._callID = None
            connector.connect()

        self._callID = self._clock_for(connector).callLater(self.delay, reconnect)

    def _clock_for(self, connector: Any) -> Any:
        """The object whose ``callLater`` schedules retries."""
        if self.clock is None:
            self.clock = getattr(connector, "reactor", None)
            if self.clock is None:
                from inspector.reactors import default_reactor

                self.clock = default_reactor()
        return self.clock

    def stopTrying(self) -> None:
        """Cancel a scheduled retry, stop an attempt in progress and make no more."""
        if self._callID is not None:
            self._callID.cancel()
            self._callID = None
        self.continueTrying = 0
        if self.connector is not None:
            try:
                self.connector.stopConnecting()
            except NotConnectingError:
                pass

    def resetDelay(self) -> None:
        """Start back-off afresh: call this once a connection succeeds."""
        self.delay = self.initialDelay
        self.retries = 0
        self._callID = None
        self.continueTrying = 1


class _InstanceFactory(ClientFactory):
    """Hands one ready-made protocol to one connection and reports through a Deferred."""

    noisy = False

    def __init__(self, reactor: IReactorTime, instance: Any, deferred: Any) -> None:
        self.reactor = reactor
        self.instance = instance
        self.deferred = deferred

    def __repr__(self) -> str:
        return f"<ClientCreator factory: {self.instance!r}>"

    def buildProtocol(self, addr: Any) -> Any:
        # Fire on the next turn, so connectionMade has run when the caller gets it.
        self.reactor.callLater(0, self._fire, "callback", self.instance)
        return self.instance

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.reactor.callLater(0, self._fire, "errback", reason)

    def _fire(self, how: str, result: Any) -> None:
        deferred, self.deferred = self.deferred, None
        if deferred is not None and not deferred.called:
            getattr(deferred, how)(result)


class ClientCreator:
    """Connects an instance of ``protocolClass(*args, **kwargs)``; a Deferred gives it back.

    ``ClientCreator(reactor, Greeter).connectTCP(host, port)`` fires with the connected
    protocol, or fails with the connection error. Cancelling it drops the attempt.
    """

    def __init__(self, reactor: ReactorLike, protocolClass: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.reactor = reactor
        self.protocolClass = protocolClass
        self.args = args
        self.kwargs = kwargs

    def connectTCP(self, host: str, port: int, timeout: float = 30, bindAddress: Any = None) -> Any:
        """Connect to ``host:port``; return a Deferred of the protocol instance."""
        from inspector.defer import Deferred

        def cancel(deferred: Any) -> None:
            connector.disconnect()

        deferred: Deferred[Any] = Deferred(cancel)
        factory = _InstanceFactory(self.reactor, self.protocolClass(*self.args, **self.kwargs), deferred)
        connector = self.reactor.connectTCP(host, port, factory, timeout=timeout, bindAddress=bindAddress)
        return deferred

    def _connect(self, connect: Callable[[Any], Any]) -> Any:
        """A Deferred of the protocol, connected by ``connect(factory)`` (which returns
        the connector); cancelling it drops the attempt."""
        from inspector.defer import Deferred

        connectors: list[Any] = []
        deferred: Deferred[Any] = Deferred(lambda _: connectors[0].disconnect())
        factory = _InstanceFactory(self.reactor, self.protocolClass(*self.args, **self.kwargs), deferred)
        connectors.append(connect(factory))
        return deferred

    def connectSSL(self, host: str, port: int, contextFactory: Any, timeout: float = 30,
                   bindAddress: Any = None) -> Any:
        """Connect to ``host:port`` over TLS with ``contextFactory`` (client options or an
        ``ssl.SSLContext``); return a Deferred of the protocol, which fires once connected."""
        return self._connect(lambda factory: self.reactor.connectSSL(
            host, port, factory, contextFactory, timeout=timeout, bindAddress=bindAddress))

    def connectUNIX(self, address: str, timeout: float = 30, checkPID: bool = False) -> Any:
        """Connect to the Unix socket at ``address``; return a Deferred of the protocol."""
        return self._connect(lambda factory: self.reactor.connectUNIX(
            address, factory, timeout=timeout, checkPID=checkPID))


@implementer(IProcessProtocol)
class ProcessProtocol(BaseProtocol):
    """Reacts to a child process (``reactor.spawnProcess``): its output, its pipes, its end.

    ``childDataReceived`` hands the child's stdout to ``outReceived`` and stderr to
    ``errReceived``; ``childConnectionLost`` tells which standard pipe closed through
    ``inConnectionLost``/``outConnectionLost``/``errConnectionLost``.
    """

    transport: Any = None

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        """The child wrote ``data`` to ``childFD``: stdout and stderr go to their own methods."""
        if childFD == 1:
            self.outReceived(data)
        elif childFD == 2:
            self.errReceived(data)

    def outReceived(self, data: bytes) -> None:
        """The child wrote ``data`` to its stdout."""

    def errReceived(self, data: bytes) -> None:
        """The child wrote ``data`` to its stderr."""

    def childConnectionLost(self, childFD: int) -> None:
        """The pipe joined to the child's ``childFD`` closed."""
        if childFD == 0:
            self.inConnectionLost()
        elif childFD == 1:
            self.outConnectionLost()
        elif childFD == 2:
            self.errConnectionLost()

    def inConnectionLost(self) -> None:
        """The child's stdin closed (we closed it, or the child did)."""

    def outConnectionLost(self) -> None:
        """The child closed its stdout."""

    def errConnectionLost(self) -> None:
        """The child closed its stderr."""

    def processExited(self, reason: Failure) -> None:
        """The child exited (``reason`` wraps ProcessDone or ProcessTerminated); its pipes may
        still be open, so output may still arrive."""

    def processEnded(self, reason: Failure) -> None:
        """The child exited and every pipe to it closed: nothing more will happen."""
