"""Resource policies for connections, with Twisted's names: wrap a factory to limit,
throttle, time out or log the connections it serves.

A :class:`ProtocolWrapper` stands between a transport and the protocol it wraps: to the
transport it is the protocol, to the wrapped protocol it is the transport, so a policy
sees every byte and every call in both directions without the wrapped code knowing.
"""

from __future__ import annotations

import logging
import sys
import weakref
from typing import IO, Any, Callable, Iterable, cast

from zope.interface import directlyProvides, providedBy

from inspector.error import AlreadyCalled, AlreadyCancelled
from inspector.failure import Failure
from inspector.interfaces import (
    IAddress,
    IDelayedCall,
    IHalfCloseableProtocol,
    IProducer,
    IProtocol,
    IProtocolFactory,
    IPushProducer,
    IReactorTime,
    ITransport,
)
from inspector.protocol import ClientFactory, Protocol, ServerFactory, connectionDone

log = logging.getLogger("inspector")

__all__ = [
    "ProtocolWrapper",
    "WrappingFactory",
    "ThrottlingProtocol",
    "ThrottlingFactory",
    "SpewingProtocol",
    "SpewingFactory",
    "LimitConnectionsByPeer",
    "LimitTotalConnectionsFactory",
    "TimeoutProtocol",
    "TimeoutFactory",
    "TrafficLoggingProtocol",
    "TrafficLoggingFactory",
    "TimeoutMixin",
]


def _wrapped_log_prefix(wrapper: object, wrapped: object) -> str:
    """``"<wrapped's prefix> (<wrapper's class>)"``: log lines name both layers."""
    prefix = getattr(wrapped, "logPrefix", None)
    text = prefix() if callable(prefix) else type(wrapped).__name__
    return f"{text} ({type(wrapper).__name__})"


def _clock_near(*owners: Any) -> IReactorTime:
    """The reactor serving the first of ``owners`` that knows one, else the default.

    Reactors are objects here, so a policy schedules on the reactor its connection runs
    on (found through the transport or the factory) rather than on a global one.
    """
    for owner in owners:
        reactor = getattr(owner, "reactor", None)
        if reactor is not None:
            return reactor
    from inspector.reactors import default_reactor

    return default_reactor()


# ------------------------------------------------------------------------ wrapping


class ProtocolWrapper(Protocol):
    """The transport of the protocol it wraps and the protocol of the real transport.

    Every call passes through unchanged; subclasses override the ones their policy is
    about. Once connected it provides the interfaces its transport provides, and it is
    half-closeable exactly when the wrapped protocol is.
    """

    disconnecting = 0

    def __init__(self, factory: "WrappingFactory", wrappedProtocol: IProtocol) -> None:
        self.factory = factory
        self.wrappedProtocol = wrappedProtocol
        self._declare(())

    def _declare(self, interfaces: Iterable[Any]) -> None:
        """Provide ``interfaces``, plus IHalfCloseableProtocol if the wrapped one does.

        The transport asks whether its protocol is half-closeable when the peer's FIN
        arrives; answering for the wrapped protocol keeps a half-close a half-close.
        """
        wanted = [i for i in interfaces if i is not IHalfCloseableProtocol]
        if IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            wanted.append(IHalfCloseableProtocol)
        directlyProvides(self, *wanted)

    def logPrefix(self) -> str:
        """Name the wrapped protocol and this wrapper, e.g. ``"Echo (ProtocolWrapper)"``."""
        return _wrapped_log_prefix(self, self.wrappedProtocol)

    def makeConnection(self, transport: ITransport) -> None:
        """Take ``transport``, register with the factory, then connect the wrapped
        protocol to this wrapper so its transport calls come through here."""
        self._declare(providedBy(transport))
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self.wrappedProtocol.makeConnection(self)

    # -- the transport, as the wrapped protocol sees it

    def write(self, data: bytes) -> None:
        """Write ``data`` to the real transport."""
        self.transport.write(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        """Write each chunk of ``data`` to the real transport."""
        self.transport.writeSequence(data)

    def loseConnection(self) -> None:
        """Close once the real transport has sent what it holds."""
        self.disconnecting = 1
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        """Close at once, dropping unsent data."""
        self.disconnecting = 1
        self.transport.abortConnection()

    def loseWriteConnection(self) -> None:
        """Half-close: send FIN after the buffered data, keep reading."""
        self.transport.loseWriteConnection()

    def getPeer(self) -> IAddress:
        """The real transport's remote address."""
        return self.transport.getPeer()

    def getHost(self) -> IAddress:
        """The real transport's local address."""
        return self.transport.getHost()

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        """Let ``producer`` feed the real transport."""
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        """Forget the producer registered with the real transport."""
        self.transport.unregisterProducer()

    def stopConsuming(self) -> None:
        """Tell the real transport to stop consuming."""
        self.transport.stopConsuming()

    def __getattr__(self, name: str) -> Any:
        # Anything else a transport offers (abortConnection's friends, TCP options,
        # pauseProducing, reactor, ...) is the real transport's.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.transport, name)

    # -- the protocol, as the real transport sees it

    def dataReceived(self, data: bytes) -> None:
        """Hand ``data`` to the wrapped protocol."""
        self.wrappedProtocol.dataReceived(data)

    def readConnectionLost(self) -> None:
        """The peer half-closed: tell the wrapped (half-closeable) protocol."""
        cast(IHalfCloseableProtocol, self.wrappedProtocol).readConnectionLost()

    def writeConnectionLost(self) -> None:
        """Our side half-closed: tell the wrapped (half-closeable) protocol."""
        cast(IHalfCloseableProtocol, self.wrappedProtocol).writeConnectionLost()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Unregister, tell the wrapped protocol, and let go of it (no reference cycle)."""
        self.factory.unregisterProtocol(self)
        self.wrappedProtocol.connectionLost(reason)
        # Let go of it to break the reference cycle; nothing uses it after connectionLost.
        self.wrappedProtocol = None  # type: ignore[assignment]


class WrappingFactory(ClientFactory):
    """Wraps each protocol ``wrappedFactory`` builds in a ``protocol`` (a ProtocolWrapper)
    and keeps the live wrappers in ``protocols``; factory events pass through."""

    protocol: Callable[..., Any] = ProtocolWrapper

    def __init__(self, wrappedFactory: IProtocolFactory) -> None:
        self.wrappedFactory = wrappedFactory
        self.protocols: dict[ProtocolWrapper, int] = {}

    def logPrefix(self) -> str:
        """Name the wrapped factory and this one."""
        return _wrapped_log_prefix(self, self.wrappedFactory)

    def doStart(self) -> None:
        """Start the wrapped factory, then this one."""
        self.wrappedFactory.doStart()
        ClientFactory.doStart(self)

    def doStop(self) -> None:
        """Stop the wrapped factory, then this one."""
        self.wrappedFactory.doStop()
        ClientFactory.doStop(self)

    def startedConnecting(self, connector: Any) -> None:
        """Pass on to the wrapped (client) factory."""
        cast(ClientFactory, self.wrappedFactory).startedConnecting(connector)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        """Pass on to the wrapped (client) factory."""
        cast(ClientFactory, self.wrappedFactory).clientConnectionFailed(connector, reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        """Pass on to the wrapped (client) factory."""
        cast(ClientFactory, self.wrappedFactory).clientConnectionLost(connector, reason)

    def buildProtocol(self, addr: IAddress | None) -> IProtocol | None:
        """Wrap the wrapped factory's protocol for ``addr``; None if it refused."""
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        return self.protocol(self, wrapped)

    def registerProtocol(self, p: ProtocolWrapper) -> None:
        """A wrapper connected: track it."""
        self.protocols[p] = 1

    def unregisterProtocol(self, p: ProtocolWrapper) -> None:
        """A wrapper's connection ended: stop tracking it."""
        del self.protocols[p]


# ----------------------------------------------------------------------- throttling


class ThrottlingProtocol(ProtocolWrapper):
    """Counts the bytes of its connection for a :class:`ThrottlingFactory`, and pauses
    reading (or its producer) when told to."""

    producer: IProducer | None = None

    def write(self, data: bytes) -> None:
        """Count and write."""
        self.factory.registerWritten(len(data))
        ProtocolWrapper.write(self, data)

    def writeSequence(self, seq: Iterable[bytes]) -> None:
        """Count and write each chunk."""
        seq = list(seq)
        self.factory.registerWritten(sum(map(len, seq)))
        ProtocolWrapper.writeSequence(self, seq)

    def dataReceived(self, data: bytes) -> None:
        """Count and pass on."""
        self.factory.registerRead(len(data))
        ProtocolWrapper.dataReceived(self, data)

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        """Remember ``producer``: it is what gets paused when writes are throttled."""
        self.producer = producer
        ProtocolWrapper.registerProducer(self, producer, streaming)

    def unregisterProducer(self) -> None:
        """Forget the producer."""
        self.producer = None
        ProtocolWrapper.unregisterProducer(self)

    def throttleReads(self) -> None:
        """Stop reading from the peer."""
        self.transport.pauseProducing()

    def unthrottleReads(self) -> None:
        """Read from the peer again."""
        self.transport.resumeProducing()

    def throttleWrites(self) -> None:
        """Pause the registered producer, if any (writes without one are not held)."""
        if self.producer is not None:
            cast(IPushProducer, self.producer).pauseProducing()

    def unthrottleWrites(self) -> None:
        """Resume the registered producer, if any."""
        if self.producer is not None:
            cast(IPushProducer, self.producer).resumeProducing()


class ThrottlingFactory(WrappingFactory):
    """Limits the connections at once (``maxConnectionCount``) and the bytes read and
    written per second (``readLimit``, ``writeLimit``) over all of them.

    Once a second, traffic of the second past is compared with the limit; over it,
    reads (or registered producers, for writes) are paused for as long as the excess
    would take at the limit's rate. Writes are only held back through a producer.
    Checks are scheduled with :meth:`callLater`: on ``clock`` if one is set (a Clock in
    tests), else on the reactor of the connections.
    """

    protocol = ThrottlingProtocol

    #: Where the checks are scheduled; None for the connections' reactor.
    clock: IReactorTime | None = None

    def __init__(
        self,
        wrappedFactory: IProtocolFactory,
        maxConnectionCount: int = sys.maxsize,
        readLimit: float | None = None,
        writeLimit: float | None = None,
    ) -> None:
        WrappingFactory.__init__(self, wrappedFactory)
        self.connectionCount = 0
        self.maxConnectionCount = maxConnectionCount
        self.readLimit = readLimit
        self.writeLimit = writeLimit
        self.readThisSecond = 0
        self.writtenThisSecond = 0
        self.unthrottleReadsID: IDelayedCall | None = None
        self.checkReadBandwidthID: IDelayedCall | None = None
        self.unthrottleWritesID: IDelayedCall | None = None
        self.checkWriteBandwidthID: IDelayedCall | None = None
        self._reactor: IReactorTime | None = None
        self._checking = False

    def callLater(self, period: float, func: Callable[[], Any]) -> IDelayedCall:
        """Schedule ``func``; override (or set ``clock``) to run the checks on a Clock."""
        clock = self.clock if self.clock is not None else self._reactor
        if clock is None:
            clock = _clock_near()
        return clock.callLater(period, func)

    def registerWritten(self, length: int) -> None:
        """A protocol wrote ``length`` bytes."""
        self.writtenThisSecond += length

    def registerRead(self, length: int) -> None:
        """A protocol read ``length`` bytes."""
        self.readThisSecond += length

    def checkReadBandwidth(self) -> None:
        """Pause reads if the last second read more than ``readLimit``; check again in 1 s."""
        limit = cast(float, self.readLimit)  # checked only when a read limit is set
        if self.readThisSecond > limit:
            self.throttleReads()
            pause = self.readThisSecond / limit - 1.0
            self.unthrottleReadsID = self.callLater(pause, self.unthrottleReads)
        self.readThisSecond = 0
        self.checkReadBandwidthID = self.callLater(1, self.checkReadBandwidth)

    def checkWriteBandwidth(self) -> None:
        """Pause producers if the last second wrote more than ``writeLimit``; check again in 1 s."""
        limit = cast(float, self.writeLimit)  # checked only when a write limit is set
        if self.writtenThisSecond > limit:
            self.throttleWrites()
            pause = self.writtenThisSecond / limit - 1.0
            self.unthrottleWritesID = self.callLater(pause, self.unthrottleWrites)
        self.writtenThisSecond = 0
        self.checkWriteBandwidthID = self.callLater(1, self.checkWriteBandwidth)

    def throttleReads(self) -> None:
        """Pause reading on every connection."""
        log.info("Throttling reads on %r", self)
        for p in list(self.protocols):
            p.throttleReads()

    def unthrottleReads(self) -> None:
        """Resume reading on every connection."""
        self.unthrottleReadsID = None
        log.info("Stopped throttling reads on %r", self)
        for p in list(self.protocols):
            p.unthrottleReads()

    def throttleWrites(self) -> None:
        """Pause every connection's producer."""
        log.info("Throttling writes on %r", self)
        for p in list(self.protocols):
            p.throttleWrites()

    def unthrottleWrites(self) -> None:
        """Resume every connection's producer."""
        self.unthrottleWritesID = None
        log.info("Stopped throttling writes on %r", self)
        for p in list(self.protocols):
            p.unthrottleWrites()

    def buildProtocol(self, addr: IAddress | None) -> IProtocol | None:
        """Wrap a protocol, or refuse (None) at ``maxConnectionCount`` connections."""
        if self.connectionCount >= self.maxConnectionCount:
            log.info("Max connection count reached!")
            return None
        self.connectionCount += 1
        p = WrappingFactory.buildProtocol(self, addr)
        if p is None:
            self.connectionCount -= 1
        return p

    def registerProtocol(self, p: ProtocolWrapper) -> None:
        """Track ``p``; the first connection starts the once-a-second checks."""
        WrappingFactory.registerProtocol(self, p)
        if self._reactor is None:
            reactor = getattr(p.transport, "reactor", None)
            if reactor is not None:
                self._reactor = reactor
        if not self._checking:
            self._checking = True
            if self.readLimit is not None:
                self.checkReadBandwidth()
            if self.writeLimit is not None:
                self.checkWriteBandwidth()

    def unregisterProtocol(self, p: ProtocolWrapper) -> None:
        """Forget ``p``; when none is left, the checks and pending resumes stop."""
        WrappingFactory.unregisterProtocol(self, p)
        self.connectionCount -= 1
        if self.connectionCount == 0:
            self._checking = False
            for name in ("unthrottleReadsID", "checkReadBandwidthID",
                         "unthrottleWritesID", "checkWriteBandwidthID"):
                call = getattr(self, name)
                setattr(self, name, None)
                if call is not None and call.active():
                    call.cancel()


# -------------------------------------------------------------------------- spewing


class SpewingProtocol(ProtocolWrapper):
    """Logs every chunk received and written."""

    def dataReceived(self, data: bytes) -> None:
        """Log and pass on."""
        log.info("Received: %r", data)
        ProtocolWrapper.dataReceived(self, data)

    def write(self, data: bytes) -> None:
        """Log and write."""
        log.info("Sending: %r", data)
        ProtocolWrapper.write(self, data)


class SpewingFactory(WrappingFactory):
    """Wraps protocols in :class:`SpewingProtocol`."""

    protocol = SpewingProtocol


# ----------------------------------------------------------------- connection limits


class LimitConnectionsByPeer(WrappingFactory):
    """Refuses a peer host's connections beyond ``maxConnectionsPerPeer`` at once."""

    maxConnectionsPerPeer = 5

    def startFactory(self) -> None:
        """Start counting afresh."""
        self.peerConnections: dict[str, int] = {}

    def buildProtocol(self, addr: IAddress | None) -> IProtocol | None:
        """Wrap a protocol for ``addr``, or refuse (None) if its host has too many."""
        host = _host_of(addr)
        count = self.peerConnections.get(host, 0)
        if count >= self.maxConnectionsPerPeer:
            return None
        p = WrappingFactory.buildProtocol(self, addr)
        if p is not None:
            self.peerConnections[host] = count + 1
        return p

    def unregisterProtocol(self, p: ProtocolWrapper) -> None:
        """A connection ended: its host may connect once more."""
        WrappingFactory.unregisterProtocol(self, p)
        host = _host_of(p.getPeer())
        left = self.peerConnections.get(host, 0) - 1
        if left > 0:
            self.peerConnections[host] = left
        else:
            self.peerConnections.pop(host, None)


def _host_of(addr: Any) -> Any:
    """The host part of an address object, or of a ``(host, port)`` tuple."""
    host = getattr(addr, "host", None)
    if host is None and isinstance(addr, tuple) and addr:
        host = addr[0]
    return host


class LimitTotalConnectionsFactory(ServerFactory):
    """A server factory that serves at most ``connectionLimit`` connections at once.

    Past the limit, a connection gets ``overflowProtocol`` (to say "busy" and close, say)
    or, without one, is closed at once. Overflow connections count too.
    """

    connectionCount = 0
    connectionLimit: int | None = None
    overflowProtocol: Callable[[], Any] | None = None

    def buildProtocol(self, addr: IAddress | None) -> IProtocol | None:
        """Build ``protocol``, ``overflowProtocol`` past the limit, or None to refuse."""
        if self.connectionLimit is None or self.connectionCount < self.connectionLimit:
            if self.protocol is None:
                raise TypeError(f"{type(self).__name__}.protocol is not set")
            wrapped = self.protocol()
        elif self.overflowProtocol is None:
            return None
        else:
            wrapped = self.overflowProtocol()
        wrapped.factory = self
        self.connectionCount += 1
        return ProtocolWrapper(self, wrapped)  # type: ignore[arg-type]

    def registerProtocol(self, p: ProtocolWrapper) -> None:
        """Counted when built: nothing to do."""

    def unregisterProtocol(self, p: ProtocolWrapper) -> None:
        """A connection ended: one more may come."""
        self.connectionCount -= 1


# ------------------------------------------------------------------------- timeouts


class TimeoutProtocol(ProtocolWrapper):
    """Closes its connection after ``timeoutPeriod`` seconds without traffic either way.

    The timeout starts when the protocol is built if the factory has a clock of its own
    (``clock``, or an overridden ``callLater``), else when it connects, on the reactor
    its connection runs on.
    """

    def __init__(
        self, factory: "TimeoutFactory", wrappedProtocol: IProtocol, timeoutPeriod: float | None
    ) -> None:
        ProtocolWrapper.__init__(self, factory, wrappedProtocol)
        self.timeoutCall: IDelayedCall | None = None
        self.timeoutPeriod: float | None = None
        if self._uses_transport_reactor():
            self.timeoutPeriod = timeoutPeriod  # armed by makeConnection
        else:
            self.setTimeout(timeoutPeriod)

    def _uses_transport_reactor(self) -> bool:
        """True when the factory leaves scheduling to the connection's reactor."""
        factory = self.factory
        return (getattr(factory, "clock", None) is None
                and getattr(type(factory), "callLater", None) is TimeoutFactory.callLater)

    def makeConnection(self, transport: ITransport) -> None:
        """Connect, first arming a timeout that waited for the transport's reactor."""
        if self.timeoutCall is None and self.timeoutPeriod is not None:
            self.transport = transport
            self.setTimeout(self.timeoutPeriod)
        ProtocolWrapper.makeConnection(self, transport)

    def setTimeout(self, timeoutPeriod: float | None = None) -> None:
        """Cancel the timeout and, unless ``timeoutPeriod`` is None, start a new one."""
        self.cancelTimeout()
        self.timeoutPeriod = timeoutPeriod
        if timeoutPeriod is not None:
            if self.transport is not None and self._uses_transport_reactor():
                self.timeoutCall = _clock_near(self.transport).callLater(timeoutPeriod, self.timeoutFunc)
            else:
                self.timeoutCall = self.factory.callLater(timeoutPeriod, self.timeoutFunc)

    def cancelTimeout(self) -> None:
        """Cancel the timeout, if one is pending."""
        self.timeoutPeriod = None
        call, self.timeoutCall = self.timeoutCall, None
        if call is not None:
            try:
                call.cancel()
            except (AlreadyCalled, AlreadyCancelled):
                pass

    def resetTimeout(self) -> None:
        """Traffic: start the period again."""
        if self.timeoutCall is not None and self.timeoutPeriod is not None:
            self.timeoutCall.reset(self.timeoutPeriod)

    def write(self, data: bytes) -> None:
        """Reset the timeout and write."""
        self.resetTimeout()
        ProtocolWrapper.write(self, data)

    def writeSequence(self, seq: Iterable[bytes]) -> None:
        """Reset the timeout and write."""
        self.resetTimeout()
        ProtocolWrapper.writeSequence(self, seq)

    def dataReceived(self, data: bytes) -> None:
        """Reset the timeout and pass on."""
        self.resetTimeout()
        ProtocolWrapper.dataReceived(self, data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Cancel the timeout and pass on."""
        self.cancelTimeout()
        ProtocolWrapper.connectionLost(self, reason)

    def timeoutFunc(self) -> None:
        """The connection was idle too long: close it. Override to do otherwise."""
        self.timeoutCall = None
        self.loseConnection()


class TimeoutFactory(WrappingFactory):
    """Wraps protocols in :class:`TimeoutProtocol` with ``timeoutPeriod`` (30 min)."""

    protocol = TimeoutProtocol

    #: Where timeouts are scheduled (a Clock in tests); None for the connections' reactor.
    clock: IReactorTime | None = None

    def __init__(self, wrappedFactory: IProtocolFactory, timeoutPeriod: float = 30 * 60) -> None:
        self.timeoutPeriod = timeoutPeriod
        WrappingFactory.__init__(self, wrappedFactory)

    def buildProtocol(self, addr: IAddress | None) -> IProtocol | None:
        """Wrap the wrapped factory's protocol with this factory's timeout."""
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        return self.protocol(self, wrapped, timeoutPeriod=self.timeoutPeriod)

    def callLater(self, period: float, func: Callable[[], Any]) -> IDelayedCall:
        """Schedule ``func`` on ``clock``, else the wrapped factory's reactor or the default
        one (connected protocols schedule on their connection's reactor instead)."""
        clock = self.clock if self.clock is not None else _clock_near(self.wrappedFactory, self)
        return clock.callLater(period, func)


# -------------------------------------------------------------------- traffic logging


class TrafficLoggingProtocol(ProtocolWrapper):
    """Writes one line per event of its connection to ``logfile``.

    ``*`` when connected, ``C n: <bytes>`` for data from the peer, ``S n: <bytes>``
    (``SV n: [...]`` for writeSequence) for data sent, ``S n: *`` for a close asked,
    and ``C n: <reason>`` when the connection ends; ``n`` numbers the connection.
    """

    def __init__(
        self,
        factory: WrappingFactory,
        wrappedProtocol: IProtocol,
        logfile: IO[str],
        lengthLimit: int | None = None,
        number: int = 0,
    ) -> None:
        ProtocolWrapper.__init__(self, factory, wrappedProtocol)
        self.logfile = logfile
        self.lengthLimit = lengthLimit
        self._number = number

    def _log(self, line: str) -> None:
        self.logfile.write(line + "\n")
        self.logfile.flush()

    def _mungeData(self, data: bytes) -> bytes:
        """``data`` cut to ``lengthLimit`` bytes, its end marked as elided."""
        if self.lengthLimit and len(data) > self.lengthLimit:
            data = data[: self.lengthLimit - 12] + b"<... elided>"
        return data

    def connectionMade(self) -> None:
        """Log the connection."""
        self._log("*")
        ProtocolWrapper.connectionMade(self)

    def dataReceived(self, data: bytes) -> None:
        """Log what the client sent, then pass it on."""
        self._log(f"C {self._number}: {self._mungeData(data)!r}")
        ProtocolWrapper.dataReceived(self, data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Log why the connection ended, then pass it on."""
        self._log(f"C {self._number}: {reason!r}")
        ProtocolWrapper.connectionLost(self, reason)

    def write(self, data: bytes) -> None:
        """Log what the server sends, then send it."""
        self._log(f"S {self._number}: {self._mungeData(data)!r}")
        ProtocolWrapper.write(self, data)

    def writeSequence(self, iovec: Iterable[bytes]) -> None:
        """Log the chunks the server sends, then send them."""
        iovec = list(iovec)
        self._log(f"SV {self._number}: {[self._mungeData(d) for d in iovec]!r}")
        ProtocolWrapper.writeSequence(self, iovec)

    def loseConnection(self) -> None:
        """Log the close asked, then close."""
        self._log(f"S {self._number}: *")
        ProtocolWrapper.loseConnection(self)


class TrafficLoggingFactory(WrappingFactory):
    """Logs each connection's traffic to its own file, ``<logfilePrefix>-<n>``.

    A file this factory opened itself is closed when its connection ends; one returned
    by an overridden :meth:`open` (a StringIO in a test, say) is left open to be read.
    """

    protocol = TrafficLoggingProtocol

    _counter = 0

    def __init__(
        self, wrappedFactory: IProtocolFactory, logfilePrefix: str, lengthLimit: int | None = None
    ) -> None:
        self.logfilePrefix = logfilePrefix
        self.lengthLimit = lengthLimit
        WrappingFactory.__init__(self, wrappedFactory)
        self._opened: weakref.WeakSet[IO[str]] = weakref.WeakSet()

    def open(self, name: str) -> IO[str]:
        """Open the log file ``name`` for writing; override to log elsewhere."""
        logfile = open(name, "w", encoding="utf-8")
        self._opened.add(logfile)
        return logfile

    def unregisterProtocol(self, p: ProtocolWrapper) -> None:
        """Stop tracking ``p`` and close its log file if this factory opened it."""
        WrappingFactory.unregisterProtocol(self, p)
        logfile = getattr(p, "logfile", None)
        if logfile is not None and logfile in self._opened:
            self._opened.discard(logfile)
            logfile.close()

    def buildProtocol(self, addr: IAddress | None) -> IProtocol | None:
        """Wrap the wrapped factory's protocol with the next numbered log file."""
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        self._counter += 1
        logfile = self.open(f"{self.logfilePrefix}-{self._counter}")
        return self.protocol(self, wrapped, logfile, self.lengthLimit, self._counter)

    def resetCounter(self) -> None:
        """Number the next connection 1 again."""
        self._counter = 0


# ---------------------------------------------------------------------- TimeoutMixin


class TimeoutMixin:
    """Gives a protocol one idle timeout: ``setTimeout(seconds)`` arms it,
    ``resetTimeout()`` restarts it on activity, ``timeoutConnection()`` runs when it
    expires (by default closing the connection).

    ``timeOut`` is the current period (None: no timeout). Calls are scheduled with
    :meth:`callLater`, which a test may replace with a Clock's.
    """

    timeOut: float | None = None
    transport: ITransport  # the protocol's, which this mixin closes on timeout

    __timeoutCall: IDelayedCall | None = None

    def callLater(self, period: float, func: Callable[..., Any], *args: Any, **kw: Any) -> IDelayedCall:
        """Schedule on the reactor of this protocol's transport (else its factory's,
        else the default reactor); override to use a Clock."""
        reactor = _clock_near(getattr(self, "transport", None), getattr(self, "factory", None))
        return reactor.callLater(period, func, *args, **kw)

    def resetTimeout(self) -> None:
        """Start the period again; nothing if no timeout is armed or it already fired."""
        if self.__timeoutCall is not None and self.timeOut is not None:
            self.__timeoutCall.reset(self.timeOut)

    def setTimeout(self, period: float | None) -> float | None:
        """Arm the timeout for ``period`` seconds from now (None disarms it); return the
        previous period."""
        previous = self.timeOut
        self.timeOut = period
        call = self.__timeoutCall
        if call is not None:
            if period is None:
                self.__timeoutCall = None
                try:
                    call.cancel()
                except (AlreadyCalled, AlreadyCancelled):
                    pass
            else:
                call.reset(period)
        elif period is not None:
            self.__timeoutCall = self.callLater(period, self.__timedOut)
        return previous

    def __timedOut(self) -> None:
        self.__timeoutCall = None
        self.timeoutConnection()

    def timeoutConnection(self) -> None:
        """The timeout expired: close the connection. Override to do something else."""
        self.transport.loseConnection()
