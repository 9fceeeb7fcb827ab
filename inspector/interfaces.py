"""The framework's contracts as ``zope.interface`` interfaces.

Classes declare them with ``@implementer`` and tests check them with
``zope.interface.verify.verifyObject``. Names and meanings follow Twisted's, so code
written against Twisted's documentation reads the same here. Deferred is a class, not
an interface.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Callable, Protocol

from zope.interface import Attribute, Interface, implementer

if TYPE_CHECKING:
    from inspector.defer import Deferred

# --------------------------------------------------------------------------- addresses


class IAddress(Interface):
    """An address a transport is bound or connected to."""


# ---------------------------------------------------------------------------- reactor


class IDelayedCall(Interface):
    """A call scheduled with ``callLater``."""

    def getTime():
        """Return the time (on the reactor's clock) at which the call will run."""

    def cancel():
        """Cancel the call; raise AlreadyCalled or AlreadyCancelled if it is too late."""

    def delay(secondsLater):
        """Move the call ``secondsLater`` seconds later (negative moves it earlier)."""

    def reset(secondsFromNow):
        """Reschedule the call to run ``secondsFromNow`` seconds from now."""

    def active():
        """Return True while the call has neither run nor been cancelled."""


class IReactorTime(Interface):
    """Time and scheduled calls."""

    def seconds():
        """Return the current time in seconds from a monotonic clock."""

    def callLater(delay, callable, *args, **kw):
        """Call ``callable(*args, **kw)`` after ``delay`` seconds; return an IDelayedCall."""

    def getDelayedCalls():
        """Return the pending IDelayedCall objects."""


class IReactorCore(Interface):
    """Running, stopping and system event triggers."""

    running = Attribute("True while the reactor is running (after startup, before shutdown).")

    def resolve(name, timeout=None):
        """Resolve a host name without blocking; return a Deferred of an address string."""

    def run():
        """Fire the startup triggers and run the loop until ``stop`` is called."""

    def stop():
        """Fire the shutdown triggers and then stop the loop."""

    def crash():
        """Stop the loop at once without firing shutdown triggers."""

    def iterate(delay=0):
        """Run one turn of the loop, waiting at most ``delay`` seconds."""

    def fireSystemEvent(eventType):
        """Fire the before/during/after triggers of ``eventType`` ("startup", "shutdown")."""

    def addSystemEventTrigger(phase, eventType, callable, *args, **kw):
        """Add a trigger for ``phase`` ("before", "during", "after") of ``eventType``."""

    def removeSystemEventTrigger(triggerID):
        """Remove a trigger added with ``addSystemEventTrigger``."""

    def callWhenRunning(callable, *args, **kw):
        """Call now if running, otherwise once the reactor has started."""


class IReactorThreads(Interface):
    """Running code in threads and handing results back to the loop thread."""

    def getThreadPool():
        """Return the reactor's thread pool, starting it if needed."""

    def callInThread(callable, *args, **kwargs):
        """Run ``callable`` in a pool thread."""

    def callFromThread(callable, *args, **kw):
        """Run ``callable`` in the loop thread soon; safe to call from any thread."""

    def suggestThreadPoolSize(size):
        """Set the largest number of pool threads."""


class IReactorFDSet(Interface):
    """Watching descriptors; what each backend supplies."""

    def addReader(reader):
        """Call ``reader.doRead()`` whenever its descriptor is readable."""

    def addWriter(writer):
        """Call ``writer.doWrite()`` whenever its descriptor is writable."""

    def removeReader(reader):
        """Stop watching ``reader`` for readability."""

    def removeWriter(writer):
        """Stop watching ``writer`` for writability."""

    def removeAll():
        """Stop watching everything except internal descriptors; return what was removed."""

    def getReaders():
        """Return the watched readers."""

    def getWriters():
        """Return the watched writers."""


class IReactorTCP(Interface):
    """TCP listening and connecting."""

    def listenTCP(port, factory, backlog=socket.SOMAXCONN, interface="127.0.0.1"):
        """Listen on ``port`` (0 picks one); return an IListeningPort."""

    def connectTCP(host, port, factory, timeout=30, bindAddress=None):
        """Connect to ``host:port`` using ``factory``; return an IConnector."""


class IReactorUDP(Interface):
    """UDP."""

    def listenUDP(port, protocol, interface="127.0.0.1", maxPacketSize=65535):
        """Bind a DatagramProtocol to ``port``; return an IListeningPort."""


class IReactorPluggableResolver(Interface):
    """Name resolution that does not block the loop."""

    def resolve(name, timeout=None):
        """Return a Deferred of the first address of ``name``."""


# ------------------------------------------------------------------------- transports


class IListeningPort(Interface):
    """A listening TCP or UDP port."""

    def startListening():
        """Start listening; raise CannotListenError on failure."""

    def stopListening():
        """Stop listening; may return a Deferred that fires once closed."""

    def getHost():
        """Return the IAddress this port is bound to."""


class IConnector(Interface):
    """An outgoing connection attempt, able to be retried."""

    def stopConnecting():
        """Stop an attempt in progress."""

    def disconnect():
        """Disconnect, or stop connecting."""

    def connect():
        """Try to connect (again)."""

    def getDestination():
        """Return the IAddress being connected to."""


class ITransport(Interface):
    """The protocol's view of a connection."""

    def write(data):
        """Write bytes; buffered and sent without blocking."""

    def writeSequence(data):
        """Write an iterable of bytes."""

    def loseConnection():
        """Close after the buffered data has been written."""

    def getPeer():
        """Return the remote IAddress."""

    def getHost():
        """Return the local IAddress."""


class ITCPTransport(ITransport):
    """A TCP transport."""

    def loseWriteConnection():
        """Half-close: send FIN after the buffer drains, keep reading."""

    def abortConnection():
        """Close at once, discarding buffered data."""

    def getTcpNoDelay():
        """Return whether Nagle's algorithm is disabled."""

    def setTcpNoDelay(enabled):
        """Disable (True) or enable Nagle's algorithm."""

    def getTcpKeepAlive():
        """Return whether SO_KEEPALIVE is on."""

    def setTcpKeepAlive(enabled):
        """Turn SO_KEEPALIVE on or off."""


class IUDPTransport(Interface):
    """A UDP transport."""

    def write(packet, addr=None):
        """Send a datagram to ``addr`` (or to the connected address)."""

    def connect(host, port):
        """Connect: only exchange datagrams with ``host:port``."""

    def getHost():
        """Return the local IAddress."""

    def stopListening():
        """Close the port."""


class IProducer(Interface):
    """Something that produces data for a consumer."""

    def stopProducing():
        """Stop producing for good."""


class IPushProducer(IProducer):
    """A producer that produces until paused."""

    def pauseProducing():
        """Stop producing until ``resumeProducing``."""

    def resumeProducing():
        """Produce again."""


class IPullProducer(IProducer):
    """A producer asked for each chunk."""

    def resumeProducing():
        """Produce one chunk."""


class IConsumer(Interface):
    """Something that consumes data from a producer."""

    def registerProducer(producer, streaming):
        """Register a producer; ``streaming`` True for push producers."""

    def unregisterProducer():
        """Forget the producer."""

    def write(data):
        """Consume bytes."""


# -------------------------------------------------------------------------- protocols


class IProtocol(Interface):
    """A stream protocol: reacts to connection events and bytes."""

    def makeConnection(transport):
        """Attach the transport and call ``connectionMade``."""

    def connectionMade():
        """The connection is up."""

    def dataReceived(data):
        """Bytes arrived."""

    def connectionLost(reason):
        """The connection ended; ``reason`` is a Failure."""


class IHalfCloseableProtocol(Interface):
    """A protocol that is told when each direction closes."""

    def readConnectionLost():
        """The peer will send no more data."""

    def writeConnectionLost():
        """Our side will send no more data."""


class IProtocolFactory(Interface):
    """Builds a protocol instance per connection."""

    def buildProtocol(addr):
        """Return a new protocol for ``addr``, or None to refuse the connection."""

    def doStart():
        """Called by each port/connector as it starts using the factory."""

    def doStop():
        """Called by each port/connector as it stops using the factory."""


class IDatagramProtocol(Interface):
    """A datagram protocol."""

    def makeConnection(transport):
        """A port starts using this protocol; ``transport`` is its IUDPTransport."""

    def doStop():
        """A port stops using this protocol; the last one to stop calls ``stopProtocol``."""

    def datagramReceived(datagram, addr):
        """A datagram arrived from ``addr``."""


# -------------------------------------------------------------------------- endpoints


class IStreamServerEndpoint(Interface):
    """Somewhere a stream server can listen."""

    def listen(protocolFactory):
        """Return a Deferred of an IListeningPort."""


class IStreamClientEndpoint(Interface):
    """Somewhere a stream client can connect."""

    def connect(protocolFactory):
        """Return a Deferred of the connected protocol."""


# --------------------------------------------------------------------------- services


class IService(Interface):
    """A thing that starts and stops with the application."""

    name = Attribute("The service's name, or None.")
    running = Attribute("True while started.")
    parent = Attribute("The IServiceCollection holding it, or None.")

    def setName(name):
        """Name the service (only before it has a parent)."""

    def setServiceParent(parent):
        """Add to a service collection."""

    def disownServiceParent():
        """Remove from the parent collection; may return a Deferred."""

    def privilegedStartService():
        """Do work that needs privileges, before ``startService``."""

    def startService():
        """Start."""

    def stopService():
        """Stop; may return a Deferred."""


class IServiceCollection(Interface):
    """A service holding other services."""

    def getServiceNamed(name):
        """Return the child called ``name``."""

    def addService(service):
        """Add a child."""

    def removeService(service):
        """Remove a child; may return a Deferred."""


# -------------------------------------------------------------------------- protocols


class IQuoter(Interface):
    """Source of quotes for the QOTD protocol."""

    def getQuote():
        """Return a quote as a str."""


class IConnectionTable(Interface):
    """A server factory that keeps its own table of open connections and tells a watcher
    of their ends (not Twisted's: Inspector's own).

    Whoever runs the server (the catalogue's handle) reads the table instead of wrapping
    each protocol's ``connectionLost``, so a churn of short connections costs it no call
    per end; it asks to hear of every end only while it needs them (a close to log, a
    stop to wait for)."""

    connections = Attribute("dict of the open connections, keyed by protocol (values are the factory's)")
    closes_watcher = Attribute(
        "None, or a callable(protocol, reason) told of every end while watch_every_close "
        "is true, and of every end that is not a clean close"
    )
    watch_every_close = Attribute("bool: tell closes_watcher of clean ends too")


# ------------------------------------------------ Unix domain sockets and multicast


class IReactorUNIX(Interface):
    """Unix domain stream sockets (Linux's abstract namespace too: a name starting "\\0")."""

    def listenUNIX(address, factory, backlog=socket.SOMAXCONN, mode=0o666, wantPID=False):
        """Listen on the socket file ``address``; return an IListeningPort.

        ``mode`` is applied to the file; with ``wantPID`` a ``<address>.lock`` file holds
        our PID, so a stale socket left by a dead process is replaced and a live one
        refuses with CannotListenError.
        """

    def connectUNIX(address, factory, timeout=30, checkPID=False):
        """Connect to the socket ``address``; return an IConnector.

        With ``checkPID`` the connect fails at once unless ``<address>.lock`` exists.
        """


class IReactorMulticast(Interface):
    """UDP multicast."""

    def listenMulticast(port, protocol, interface="", maxPacketSize=65535, listenMultiple=False):
        """Bind a DatagramProtocol to UDP ``port`` for multicast; return an
        IMulticastTransport. ``listenMultiple`` lets several sockets share the port."""


class IMulticastTransport(Interface):
    """The transport of a multicast UDP port: group membership and sending options."""

    def joinGroup(addr, interface=""):
        """Join the group ``addr`` on ``interface``; a Deferred (MulticastJoinError on failure)."""

    def leaveGroup(addr, interface=""):
        """Leave the group ``addr``; a Deferred."""

    def getOutgoingInterface():
        """Return the interface address multicast datagrams leave from."""

    def setOutgoingInterface(addr):
        """Send multicast datagrams from the interface with address ``addr``; a Deferred."""

    def getLoopbackMode():
        """Return whether our own multicast datagrams are delivered back to this host."""

    def setLoopbackMode(mode):
        """Deliver our own multicast datagrams to this host (True) or not."""

    def getTTL():
        """Return the time-to-live of outgoing multicast datagrams."""

    def setTTL(ttl):
        """Set the time-to-live of outgoing multicast datagrams."""


# ------------------------------------------------------------------------------- TLS


class IReactorSSL(Interface):
    """TLS listening and connecting (TCP with a TLS layer on top)."""

    def listenSSL(port, factory, contextFactory, backlog=socket.SOMAXCONN, interface="127.0.0.1"):
        """Listen on ``port`` speaking TLS as a server with ``contextFactory``; return an
        IListeningPort."""

    def connectSSL(host, port, factory, contextFactory, timeout=30, bindAddress=None):
        """Connect to ``host:port`` and speak TLS as a client with ``contextFactory``;
        return an IConnector."""


class ISSLTransport(ITCPTransport):
    """A TCP transport carrying TLS."""

    def getPeerCertificate():
        """Return the peer's certificate (an ``inspector.ssl.Certificate``), or None."""


class ITLSTransport(ITCPTransport):
    """A TCP transport that can start TLS in the middle of a connection."""

    def startTLS(contextFactory):
        """Speak TLS from now on; bytes written before stay plaintext."""


# -------------------------------------------------------------------------- processes


class IProcessTransport(ITransport):
    """The transport of a child process: its pipes, its pid and its signals."""

    pid = Attribute("The child's process id from before connectionMade until processEnded; None after.")

    def closeStdin():
        """Close the child's stdin once everything written has been sent."""

    def closeStdout():
        """Close the pipe the child's stdout goes to."""

    def closeStderr():
        """Close the pipe the child's stderr goes to."""

    def closeChildFD(descriptor):
        """Close the pipe joined to ``descriptor`` in the child (nothing if none is)."""

    def writeToChild(childFD, data):
        """Write ``data`` to the pipe the child reads as ``childFD``; KeyError if there is none."""

    def signalProcess(signalID):
        """Send a signal ('TERM', 'KILL', 'INT', 'HUP', 'STOP' or a number); ProcessExitedAlready
        once the child is gone."""


class IProcessProtocol(Interface):
    """What a child process tells: its output per descriptor, closed pipes, its end."""

    def makeConnection(process):
        """The child runs; ``process`` is its IProcessTransport."""

    def childDataReceived(childFD, data):
        """The child wrote ``data`` to its descriptor ``childFD``."""

    def childConnectionLost(childFD):
        """The pipe joined to the child's ``childFD`` closed."""

    def processExited(reason):
        """The child exited (a Failure of ProcessDone or ProcessTerminated); pipes may stay open."""

    def processEnded(reason):
        """The child exited and all its pipes closed (a Failure of ProcessDone or ProcessTerminated)."""


class IReactorProcess(Interface):
    """Starting child processes."""

    def spawnProcess(processProtocol, executable, args=(), env={}, path=None, uid=None, gid=None,
                     usePTY=False, childFDs=None):
        """Start ``executable`` with ``args`` (argv, its first item the program's name); ``env``
        is the whole environment ({} none, None: ours), ``path`` the working directory,
        ``childFDs`` maps child descriptors to 'r' (we read), 'w' (we write) or a descriptor
        of ours. Return an IProcessTransport."""


# ---------------------------------------------------------------------------- typing


@implementer(IReactorCore, IReactorTime, IReactorThreads, IReactorPluggableResolver, IReactorTCP, IReactorUDP,
             IReactorSSL, IReactorUNIX, IReactorMulticast, IReactorProcess)
class ReactorLike(Protocol):
    """The type of "the reactor" for code that uses more than one of its interfaces.

    A zope interface names one role (IReactorTime, IReactorTCP ...); code that schedules
    calls *and* opens connections needs their intersection, which Python's types cannot
    spell, so this structural type lists the methods of IReactorCore, IReactorTime,
    IReactorThreads, IReactorPluggableResolver, IReactorTCP, IReactorUDP, IReactorSSL,
    IReactorUNIX, IReactorMulticast, IReactorProcess and the watching half of
    IReactorFDSet together. Every reactor in ``inspector.reactors`` matches it; it is for the type checker only. It
    declares the interfaces it lists (mypy-zope checks that it has their methods), so
    a ReactorLike can be handed on to code that asks for just one role, e.g. IReactorTime.
    """

    @property
    def running(self) -> bool: ...

    def seconds(self) -> float: ...

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> IDelayedCall: ...

    def getDelayedCalls(self) -> Any: ...

    def run(self) -> None: ...

    def stop(self) -> None: ...

    def crash(self) -> None: ...

    def iterate(self, delay: float = 0) -> None: ...

    def fireSystemEvent(self, eventType: str) -> None: ...

    def addSystemEventTrigger(
        self, phase: str, eventType: str, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any: ...

    def removeSystemEventTrigger(self, triggerID: Any) -> None: ...

    def callWhenRunning(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> Any: ...

    def getThreadPool(self) -> Any: ...

    def callInThread(self, callable: Callable[..., Any], *args: Any, **kwargs: Any) -> None: ...

    def callFromThread(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> None: ...

    def suggestThreadPoolSize(self, size: int) -> None: ...

    def addReader(self, reader: Any) -> None: ...

    def addWriter(self, writer: Any) -> None: ...

    def removeReader(self, reader: Any) -> None: ...

    def removeWriter(self, writer: Any) -> None: ...

    def _forget(self, selectable: Any) -> None:
        """Drop every watch and reference to a closed ``selectable`` (the framework's own
        transports call it as they close; not part of Twisted's interfaces)."""

    def resolve(self, name: str, timeout: Any = None) -> Deferred: ...

    def listenTCP(self, port: int, factory: IProtocolFactory, backlog: int = ..., interface: str = ...) -> Any: ...

    def connectTCP(
        self, host: str, port: int, factory: IProtocolFactory, timeout: float | None = ..., bindAddress: Any = None
    ) -> Any: ...

    def listenUDP(
        self, port: int, protocol: IDatagramProtocol, interface: str = ..., maxPacketSize: int = ...
    ) -> Any: ...

    def listenSSL(
        self, port: int, factory: IProtocolFactory, contextFactory: Any, backlog: int = ..., interface: str = ...
    ) -> Any: ...

    def connectSSL(
        self, host: str, port: int, factory: IProtocolFactory, contextFactory: Any,
        timeout: float | None = ..., bindAddress: Any = None,
    ) -> Any: ...

    def listenUNIX(
        self, address: Any, factory: IProtocolFactory, backlog: int = ..., mode: int = ..., wantPID: bool = ...
    ) -> Any: ...

    def connectUNIX(
        self, address: Any, factory: IProtocolFactory, timeout: float | None = ..., checkPID: bool = ...
    ) -> Any: ...

    def listenMulticast(
        self, port: int, protocol: IDatagramProtocol, interface: str = ..., maxPacketSize: int = ...,
        listenMultiple: bool = ...,
    ) -> Any: ...

    def spawnProcess(
        self, processProtocol: IProcessProtocol, executable: Any, args: Any = ..., env: Any = ...,
        path: Any = None, uid: int | None = None, gid: int | None = None, usePTY: bool = ..., childFDs: Any = None,
    ) -> Any: ...
