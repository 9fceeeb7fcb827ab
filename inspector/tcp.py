"""TCP over non-blocking sockets: listening ports, connectors and the transport.

Shared by every reactor: the reactor only tells a selectable when its descriptor is
ready. The hot path is ``Connection.doRead`` -> ``protocol.dataReceived`` ->
``Connection.write``, which sends at once when nothing is buffered and buffers (and
watches for writability) only when the kernel would block.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections import deque
from typing import TYPE_CHECKING, Any

from zope.interface import implementer

from inspector import error
from inspector.address import IPv4Address, IPv6Address
from inspector.defer import succeed
from inspector.failure import Failure
from inspector.helpers import describe_callable, is_ip_address, written_bytes
from inspector.interfaces import (
    IConnector,
    IConsumer,
    IHalfCloseableProtocol,
    IListeningPort,
    IProtocol,
    IProtocolFactory,
    IPushProducer,
    ITLSTransport,
)
from inspector.states import ConnectionState, check_transition, closed_state
from inspector.writebuffer import ChunkedWriteBuffer

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.tcp")
# A TraceHooks (the contract in inspector/hooks.py) while tracing is on, else None;
# every hook call is one line: `if _tracer is not None: _tracer.hook(...)`.
_tracer = None
# The call-site capture of the TCP bytes hooks (inspector/hooks.py, CAPTURE_SEAM), set
# with _tracer: a chunk is two C-level appends (its key, then the bytes), no Python call;
# a write also checks the capture's bound (one callback may write without end).
_capture_key: Any = None
_capture_data: Any = None
_captured: Any = None
_capture_limit = 0

__all__ = ["Connection", "Port", "Connector"]

_CONNECT_PENDING = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR)
#: accept() failures that mean "out of resources for now": stop accepting for a while.
_ACCEPT_EXHAUSTED = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def make_address(sockaddr: Any, kind: str = "TCP") -> IPv4Address | IPv6Address:
    """Turn a socket address tuple into an IPv4Address or IPv6Address."""
    if len(sockaddr) == 2:
        return IPv4Address(kind, sockaddr[0], sockaddr[1])  # type: ignore[arg-type]
    return IPv6Address(kind, sockaddr[0], sockaddr[1], sockaddr[2], sockaddr[3])  # type: ignore[arg-type]


def family_for(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal, AF_INET otherwise."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port(port: Any) -> int:
    """Return ``port`` if it is a valid port number; TypeError/ValueError otherwise."""
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, got {port}")
    return port


def check_reactor(reactor: ReactorLike | None) -> ReactorLike:
    """Return ``reactor``; a clear TypeError for None. A port keeps Twisted's optional
    ``reactor`` argument, but this layer cannot fetch the process-wide reactor (it sits
    below ``inspector.reactors``), and a port with none failed later, obscurely."""
    if reactor is None:
        raise TypeError("a port needs the reactor it runs on: pass reactor=, or use reactor.listenTCP() and friends")
    return reactor


def bind_socket(
    family: socket.AddressFamily,
    kind: socket.SocketKind,
    address: tuple,
    backlog: int | None = None,
    share: bool = False,
) -> socket.socket:
    """A non-blocking socket of ``kind`` bound to ``address``; with a ``backlog`` it listens
    (and, on POSIX, may reuse a port in TIME_WAIT); ``share`` lets other sockets bind the
    same port (SO_REUSEADDR, and SO_REUSEPORT where it exists), as multicast receivers do.
    OSError if a step fails, the socket closed."""
    sock = socket.socket(family, kind)
    try:
        if share:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        elif backlog is not None and os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        if backlog is not None:
            sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


# The lifecycle (inspector/states.py's TRANSITIONS) in the names this module checks by
# identity: a state change is rare (connect, half-close, close), so each goes through
# check_transition; the per-byte path reads only plain attributes the changes keep up.
_CONNECTING = ConnectionState.CONNECTING
_CONNECTED = ConnectionState.CONNECTED
_HALF_CLOSED = ConnectionState.HALF_CLOSED
_CLOSING = ConnectionState.CLOSING
_CLOSED = ConnectionState.CLOSED
_FAILED = ConnectionState.FAILED


class _Side:
    """How far one direction of a connection has got: open, draining (a FIN waits
    for the write buffer to empty) or shut (FIN sent or received, or the socket gone)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_OPEN = _Side("open")
_DRAINING = _Side("draining")
_SHUT = _Side("shut")


def _state_after(reason: Any) -> ConnectionState:
    """Closed for a clean end (ConnectionDone), failed for any other reason (a Failure
    or an exception) -- the rule the trace applies to the same close."""
    value = getattr(reason, "value", reason)
    return closed_state(type(value).__name__ if value is not None else "")


def _call_logged(what: str, func: Any, *args: Any) -> None:
    """Call a user callback; log (with traceback) instead of raising."""
    try:
        func(*args)
    except Exception:
        log.error("Error in %s %s", what, describe_callable(func), exc_info=True)


def _protocol_name(transport: object) -> str:
    """The class name of ``transport``'s protocol, or "closed" once it has let go of it."""
    protocol = getattr(transport, "protocol", None)
    return type(protocol).__name__ if protocol is not None else "closed"


@implementer(ITLSTransport, IConsumer, IPushProducer)
class Connection(ChunkedWriteBuffer):
    """A connected TCP socket: the transport a stream protocol writes to.

    Writes go straight to ``send`` while nothing is buffered; the rest waits, by
    reference (inspector/writebuffer.py), until the socket is writable and then goes
    out with one ``sendmsg``. Past ``high_water`` buffered bytes a registered producer
    is paused, and resumed below ``low_water``.

    Its lifecycle is ``state`` (a :class:`~inspector.states.ConnectionState`), moved
    only by :meth:`_move`, which checks the table in :mod:`inspector.states`: connected,
    then half-closed (one direction ended), closing (``loseConnection`` or
    ``abortConnection``), and closed or failed. ``_read_side`` and ``_write_side`` say
    which direction a half-close ended. Twisted's ``connected``, ``disconnecting`` and
    ``disconnected`` stay plain attributes (line receivers read them per line), kept in
    step by :meth:`_move`.
    """

    #: Bytes asked of one recv() at first; grows while reads fill it (bulk transfers
    #: move more per wake-up) and shrinks back when they do not (a small message in a
    #: huge buffer costs a large allocation per read).
    read_size = 65536
    #: The most one recv() asks for.
    max_read_size = 1 << 20
    #: The ``transport`` the trace's connection-opened event names (subclasses say theirs).
    trace_kind = "tcp"

    def __init__(
        self, sock: socket.socket, protocol: IProtocol, reactor: ReactorLike, peer: Any, connector: Any = None,
        host: Any = None,
    ) -> None:
        self.socket = sock
        self._fd = sock.fileno()
        self._recv = sock.recv
        self._send = sock.send
        self._sendmsg = getattr(sock, "sendmsg", None)
        self.protocol = protocol
        self.reactor = reactor
        self.connector = connector
        self._peer = peer
        self._host: Any = host  # None: asked of the socket when first needed
        self.state = _CONNECTED
        # Twisted's flags, which _move keeps in step with ``state``.
        self.connected = True
        self.disconnecting = False
        self.disconnected = False
        self._read_side = _OPEN  # shut once the peer's FIN arrived (half-closeable protocols)
        self._write_side = _OPEN  # draining after loseWriteConnection, shut once FIN is sent
        self._chunks = deque()
        self._buffered = 0  # bytes in _chunks
        self._live = False  # registered with the reactor (after connectionMade)
        self._reading = True
        self._writing = False
        self._close_call: Any = None
        self.producer: Any = None
        self.streamingProducer = False
        self.producerPaused = False

    # --------------------------------------------------------- reactor side

    def fileno(self) -> int:
        """The socket's descriptor (-1 once closed)."""
        return self._fd if not self.disconnected else -1

    def _move(self, new: ConnectionState) -> None:
        """Enter ``new`` (IllegalTransitionError if the lifecycle has no such move), keep
        Twisted's flags in step, and tell the trace (which learns the final state, with
        its reason, from ``connection_closed``)."""
        self.state = check_transition(self.state, new, "TCP connection")
        if new is _CLOSING:
            self.disconnecting = True
        elif new is _CLOSED or new is _FAILED:
            self.connected = False
            self.disconnected = True
            self._write_side = _SHUT  # write() drops what comes after the end
            return
        if _tracer is not None: _tracer.connection_state(self, new)

    def _start(self) -> None:
        """Attach the protocol, then start watching the socket for what it wants."""
        role = "client" if self.connector is not None else "server"
        if _tracer is not None: _tracer.connection_opened(self, role, self.trace_kind)
        try:
            self.protocol.makeConnection(self)
        except Exception as exc:
            log.error("Error in %s", describe_callable(self.protocol.connectionMade), exc_info=True)
            self.connectionLost(Failure(error.ConnectionLost(f"{type(exc).__name__}: {exc}")))
            return
        if self.disconnected:
            return
        self._live = True
        reactor = self.reactor
        if self._reading:
            reactor.addReader(self)
        if self._writing:
            reactor.addWriter(self)

    def doRead(self) -> BaseException | None:
        """Read what the socket has and hand it to the protocol."""
        size = self.read_size
        try:
            data = self._recv(size)
        except BlockingIOError:
            return None
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            return None
        except OSError as exc:
            return error.ConnectionLost(exc)
        if data:
            if _tracer is not None: _capture_key(self._recv) or _capture_data(data)
            n = len(data)
            if n == size:
                if size < self.max_read_size:
                    self.read_size = size * 2
            elif size > 65536 and n < size >> 2:
                self.read_size = size >> 1
            self.protocol.dataReceived(data)
            return None
        return self._read_eof()

    def _read_eof(self) -> BaseException | None:
        if not IHalfCloseableProtocol.providedBy(self.protocol):
            return error.ConnectionDone()
        self._read_side = _SHUT
        if self.state is _CONNECTED:
            self._move(_HALF_CLOSED)
        self._stop_reading()
        self.protocol.readConnectionLost()
        if self._write_side is _SHUT:
            return error.ConnectionDone()
        return None

    # doWrite (send what is buffered, with the producer's flow control) is ChunkedWriteBuffer's.

    def _write_drained(self) -> BaseException | None:
        """Everything is sent: finish a pending close, or a half-close (send the FIN)."""
        if self.disconnecting:
            return error.ConnectionDone()
        if self._write_side is _DRAINING:
            return self._close_write()
        return None

    def _close_write(self) -> BaseException | None:
        self._write_side = _SHUT
        if self.state is _CONNECTED:
            self._move(_HALF_CLOSED)
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError as exc:
            return error.ConnectionLost(exc)
        if IHalfCloseableProtocol.providedBy(self.protocol):
            self.protocol.writeConnectionLost()
        if self._read_side is _SHUT:
            return error.ConnectionDone()
        return None

    def connectionLost(self, reason: Failure) -> None:
        """Close the socket and tell the protocol (exactly once) why the connection ended."""
        if self.disconnected:
            return
        if self._close_call is not None and self._close_call.active():
            self._close_call.cancel()
        self._close_call = None
        self.reactor._forget(self)
        if self._host is None:  # keep getHost() answering after the socket is gone
            try:
                self._host = make_address(self.socket.getsockname())
            except OSError:
                pass
        self._move(_state_after(reason))
        self._live = False
        self._reading = self._writing = False
        self._clear()
        try:
            self.socket.close()
        except OSError:  # pragma: no cover
            pass
        producer, self.producer = self.producer, None
        if producer is not None:
            _call_logged("producer", producer.stopProducing)
        if _tracer is not None: _tracer.connection_closed(self, reason)
        protocol = self.protocol
        _call_logged("connectionLost of", protocol.connectionLost, reason)
        # As Twisted does: a closed transport lets go of its protocol, which refers back
        # to it, so the pair is freed at once rather than by the cyclic collector. Its
        # class stays, so a slow-callback report still names the protocol's handler.
        self.protocol_class = type(protocol)
        del self.protocol
        if self.connector is not None:
            self.connector.connectionLost(reason)

    # ------------------------------------------------------- watching state

    def _start_reading(self) -> None:
        if not self._reading and not self.disconnected:
            self._reading = True
            if self._live:
                self.reactor.addReader(self)

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            if self._live:
                self.reactor.removeReader(self)

    def _start_writing(self) -> None:
        if not self._writing and not self.disconnected:
            self._writing = True
            if self._live:
                self.reactor.addWriter(self)

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            if self._live:
                self.reactor.removeWriter(self)

    # ----------------------------------------------------- ITransport: write

    def write(self, data: bytes) -> None:
        """Send ``data`` now if possible, else buffer it; never blocks."""
        if type(data) is not bytes:
            data = written_bytes(data)
        if not data or self._write_side is not _OPEN:  # half-closed or gone
            return
        if _tracer is not None: (_capture_key(self._send) or _capture_data(data)
                                 or len(_captured) > _capture_limit and _tracer.capture_full())
        if self._buffered:
            self._queue(data)
        else:
            try:
                sent = self._send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # broken: the buffered write fails in doWrite and drops us
            size = len(data)
            if sent == size:
                return
            # The unsent tail, by reference: a large write the kernel half took is not copied.
            self._chunks.append(memoryview(data)[sent:] if sent else data)
            self._buffered = size - sent
            self._start_writing()
        self._buffered_more()

    def _buffered_more(self) -> None:
        """Bytes were queued: tell the trace, and pause a push producer past high water."""
        buffered = self._buffered
        if _tracer is not None: _tracer.write_buffered(self, buffered)
        if buffered > self.high_water:
            producer = self.producer
            if producer is not None and self.streamingProducer and not self.producerPaused:
                self.producerPaused = True
                producer.pauseProducing()

    #: writeSequence with more pieces than this joins them (one fast copy) instead of
    #: handling each in Python; with fewer, big pieces go out (or wait) uncopied.
    scatter_pieces = 16

    def writeSequence(self, iovec: Any) -> None:
        """Write each bytes object of ``iovec`` in order: a few pieces with one ``sendmsg``
        (no joining, the rest queued by reference), many small ones joined."""
        pieces = [c if type(c) is bytes else written_bytes(c) for c in iovec]
        if len(pieces) <= 1 or len(pieces) > self.scatter_pieces or self._sendmsg is None:
            self.write(b"".join(pieces))
            return
        pieces = [c for c in pieces if c]
        if not pieces or self._write_side is not _OPEN:  # nothing, or half-closed or gone
            return
        if _tracer is not None: (_capture_key(self._send) or _capture_data(b"".join(pieces))
                                 or len(_captured) > _capture_limit and _tracer.capture_full())
        if self._buffered:
            for piece in pieces:
                self._queue(piece)
        else:
            try:
                sent = self._sendmsg(pieces)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # broken: the buffered write fails in doWrite and drops us
            self._queue_from(pieces, sent)
            if not self._buffered:
                return
            self._start_writing()
        self._buffered_more()

    def getBufferSize(self) -> int:
        """Return how many written bytes wait to be sent."""
        return self._buffered

    @property
    def _buffer(self) -> bytes:
        """The unsent bytes, joined (a copy: for tests and diagnostics, never the hot path)."""
        return b"".join(self._chunks)

    # ------------------------------------------------------------- closing

    def loseConnection(self) -> None:
        """Close once everything written has been sent (and a pull producer has finished)."""
        if self.disconnected or self.disconnecting:
            return
        self._move(_CLOSING)
        self._stop_reading()
        if self._buffered or (self.producer is not None and not self.streamingProducer):
            self._start_writing()  # doWrite flushes (or asks the pull producer), then closes
            return
        # Nothing to flush: close in a turn of our own, never inside the caller.
        self._close_call = self.reactor.callLater(0, self._close_now)

    def _close_now(self) -> None:
        self._close_call = None
        if self.disconnected:
            return
        if self._buffered:
            self._start_writing()
            return
        self.connectionLost(Failure(error.ConnectionDone()))

    def abortConnection(self) -> None:
        """Close at once, discarding buffered data; the protocol sees ConnectionAborted."""
        if self.disconnected:
            return
        if not self.disconnecting:
            self._move(_CLOSING)
        self._clear()
        self._stop_reading()
        self._stop_writing()
        if self._close_call is not None and self._close_call.active():
            self._close_call.cancel()
        self._close_call = self.reactor.callLater(0, self._abort_now)

    def _abort_now(self) -> None:
        self._close_call = None
        self.connectionLost(Failure(error.ConnectionAborted()))

    def loseWriteConnection(self) -> None:
        """Half-close: send FIN once the buffer drains, and keep reading.

        With nothing buffered and no producer the FIN goes at once: waiting for a
        writable turn would cost two epoll changes and a loop turn per connection.
        """
        if self._write_side is not _OPEN:  # already asked, or gone
            return
        self._write_side = _DRAINING
        if self._buffered or self.producer is not None or self.disconnecting:
            self._start_writing()  # doWrite sends what is left, then shuts the write side
            return
        try:
            why: BaseException | None = self._close_write()
        except Exception as exc:  # writeConnectionLost raised: as if from a handler
            callback = getattr(self.protocol, "writeConnectionLost", self.loseWriteConnection)
            log.error("Error in %s", describe_callable(callback), exc_info=True)
            why = error.ConnectionLost(f"{type(exc).__name__}: {exc}")
        if why is not None and self._close_call is None:
            # Both directions ended (or the shutdown failed): close in a turn of our own.
            self._close_call = self.reactor.callLater(0, self._end_now, why)

    def _end_now(self, why: BaseException) -> None:
        self._close_call = None
        if not self.disconnected:
            self.connectionLost(Failure(why))

    # -------------------------------------------------------- addresses

    def getPeer(self) -> Any:
        """Return the remote address."""
        return self._peer

    def getHost(self) -> Any:
        """Return the local address."""
        if self._host is None:
            self._host = make_address(self.socket.getsockname())
        return self._host

    def getHandle(self) -> socket.socket:
        """Return the socket."""
        return self.socket

    # ------------------------------------------------------------ options

    def getTcpNoDelay(self) -> bool:
        """Return whether Nagle's algorithm is off."""
        return bool(self.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    def setTcpNoDelay(self, enabled: bool) -> None:
        """Turn Nagle's algorithm off (True) or on."""
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(bool(enabled)))

    def getTcpKeepAlive(self) -> bool:
        """Return whether SO_KEEPALIVE is on."""
        return bool(self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))

    def setTcpKeepAlive(self, enabled: bool) -> None:
        """Turn SO_KEEPALIVE on or off."""
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(bool(enabled)))

    # ------------------------------------------- consumer (a producer writes to us)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Register a push (``streaming``) or pull producer feeding this transport."""
        if self.producer is not None:
            raise RuntimeError(f"{self!r} already has a producer ({self.producer!r}); unregister it first")
        if self.disconnected:
            producer.stopProducing()
            return
        self.producer = producer
        self.streamingProducer = bool(streaming)
        self.producerPaused = False
        if streaming:
            if self._buffered > self.high_water:
                self.producerPaused = True
                producer.pauseProducing()
        else:
            self._start_writing()  # doWrite asks a pull producer for data when drained

    def unregisterProducer(self) -> None:
        """Forget the producer; a pending close can now finish."""
        self.producer = None
        self.producerPaused = False
        if self.disconnected:
            return
        if (self.disconnecting or self._write_side is not _OPEN) and not self._buffered:
            self._start_writing()  # doWrite completes the close

    # ------------------------------------------- producer (the peer feeds us)

    def pauseProducing(self) -> None:
        """Stop reading from the peer until ``resumeProducing``."""
        self._stop_reading()

    def resumeProducing(self) -> None:
        """Read from the peer again."""
        if not self.disconnecting and self._read_side is _OPEN:
            self._start_reading()

    def stopProducing(self) -> None:
        """Stop for good: close the connection."""
        self.loseConnection()

    def startTLS(self, contextFactory: Any, normal: bool = True) -> None:
        """Speak TLS from now on (STARTTLS); bytes written before stay plaintext (inspector/tls.py)."""
        from inspector.tls import start_tls

        start_tls(self, contextFactory, normal)

    #: The protocol's class once the connection has closed and let go of the protocol.
    protocol_class: type | None = None

    def capture_keys(self) -> tuple[Any, Any]:
        """The keys the trace's call-site capture files this connection's chunks under,
        (in, out): its socket's bound ``recv`` and ``send``, made once per connection."""
        return self._recv, self._send

    def logPrefix(self) -> str:
        protocol = getattr(self, "protocol", None)  # gone once the connection is closed
        return getattr(protocol, "logPrefix", lambda: type(protocol).__name__)()

    def __repr__(self) -> str:
        return f"<{_protocol_name(self)} transport fd={self._fd} peer={self._peer}>"


# ------------------------------------------------------------------ listening


class _Exhaustion:
    """One episode of a port unable to accept (out of descriptors or memory)."""

    __slots__ = ("started", "recovered", "failures", "reason", "pause", "retry_call", "calm_call")

    def __init__(self, started: float, exc: OSError, pause: float) -> None:
        self.started = self.recovered = started
        self.failures = 0
        self.reason = (exc.strerror or str(exc)).lower()
        self.pause = pause  # seconds before the next try
        self.retry_call: Any = None  # the DelayedCall that watches the socket again
        self.calm_call: Any = None  # the DelayedCall that ends the episode

    def cancel(self) -> None:
        """Cancel the episode's pending calls (the port is closing)."""
        for call in (self.retry_call, self.calm_call):
            if call is not None and call.active():
                call.cancel()
        self.retry_call = self.calm_call = None


@implementer(IListeningPort)
class Port:
    """A listening TCP socket: accepts connections and builds their protocols."""

    #: Most connections accepted per readiness event, so one busy port cannot starve others.
    accepts_per_turn = 128
    #: Out of descriptors (or buffers), the port stops watching its socket -- which stays
    #: readable, so watching it would spin -- and tries one accept again after this many
    #: seconds, doubling the pause up to ``accept_retry_max`` while accepts keep failing.
    accept_retry_initial = 0.05
    accept_retry_max = 1.0
    #: The episode ends (one log line says so) once accepts have worked for this many
    #: seconds without failing again; failures in between belong to the same episode.
    accept_calm = 1.0
    #: The transport each accepted connection gets (a subclass swaps in its own).
    connection_class: type[Connection] = Connection
    #: Where the port's warnings go (a subclass logs under its own module's name).
    logger = log

    def __init__(
        self,
        port: int,
        factory: IProtocolFactory,
        backlog: int = socket.SOMAXCONN,
        interface: str = "127.0.0.1",
        reactor: ReactorLike | None = None,
    ) -> None:
        self.port = check_port(port)
        if not hasattr(factory, "buildProtocol"):
            raise TypeError(f"factory must have buildProtocol(), got {factory!r}")
        if not isinstance(interface, str):
            raise TypeError(f"interface must be a str, not {type(interface).__name__}")
        self.factory = factory
        self.backlog = backlog
        self.interface = interface
        self.reactor = check_reactor(reactor)
        self.socket: socket.socket | None = None
        self.connected = False
        self._fd = -1
        self._family = family_for(interface)
        self._init_accepting()

    def _init_accepting(self) -> None:
        """Start with no accept history: subclasses with their own ``__init__`` call it too."""
        # How many accepts to try per readiness event: grows while connections queue up,
        # shrinks back when they trickle in, so a lone connection costs no extra
        # accept() that only answers EAGAIN (epoll reports the port again if needed).
        self._accept_limit = 1
        self._full_turns = 0
        # The episode of exhausted resources in progress, if any.
        self._exhausted: _Exhaustion | None = None

    def startListening(self) -> None:
        """Bind and listen; CannotListenError names the address if that fails."""
        try:
            sock = bind_socket(self._family, socket.SOCK_STREAM, (self.interface, self.port), self.backlog)
        except OSError as exc:
            if _tracer is not None: _tracer.port_refused(f"{self.interface}:{self.port}", exc)
            raise error.CannotListenError(self.interface, self.port, exc) from None
        self.socket = sock
        self._fd = sock.fileno()
        # (fd, address) without building a Python-level socket twice; private, so typeshed omits it.
        self._accept = sock._accept  # type: ignore[attr-defined]
        self._host = make_address(sock.getsockname())
        # Connections accepted on a specific address have it as their local address.
        self._conn_host: Any = None if self.interface in ("", "0.0.0.0", "::") else self._host
        self.connected = True
        self.factory.doStart()
        self.reactor.addReader(self)
        if _tracer is not None: _tracer.port_started(self)

    def fileno(self) -> int:
        return self._fd if self.connected else -1

    def doRead(self) -> None:
        """Accept waiting connections and start a protocol for each."""
        accept = self._accept
        family = self._family
        factory = self.factory
        reactor = self.reactor
        host = self._conn_host
        connection_class = self.connection_class
        limit = self._accept_limit
        for tried in range(limit):
            if not self.connected:
                return None
            try:
                fd, addr = accept()
            except (BlockingIOError, InterruptedError):
                self._accept_limit = tried or 1
                self._full_turns = 0
                if self._exhausted is not None:
                    self._accepted_again()  # a descriptor was free: the queue is just empty
                return None
            except OSError as exc:
                if exc.errno in _ACCEPT_EXHAUSTED:
                    self._pause_accepting(exc)
                    return None
                continue  # ECONNABORTED and friends: that one is gone, try the next
            if self._exhausted is not None:
                self._accepted_again()
            sock = socket.socket(family, socket.SOCK_STREAM, 0, fd)
            sock.setblocking(False)
            peer = self._make_peer(addr)
            try:
                protocol = factory.buildProtocol(peer)
            except Exception:
                self.logger.error("Error in %s", describe_callable(factory.buildProtocol), exc_info=True)
                sock.close()
                continue
            if protocol is None:
                sock.close()
                continue
            connection_class(sock, protocol, reactor, peer, host=host)._start()
        # Used the whole allowance: after a few such turns in a row, allow more.
        self._full_turns += 1
        if self._full_turns >= 3:
            self._full_turns = 0
            self._accept_limit = min(limit * 2, self.accepts_per_turn)
        return None

    def _make_peer(self, addr: Any) -> Any:
        """The peer address object for what ``accept`` returned."""
        return make_address(addr)

    def _address_text(self) -> str:
        """The port's address as its log lines name it."""
        return _host_port(self._host)

    def _pause_accepting(self, exc: OSError) -> None:
        """accept() failed for want of descriptors or memory: stop watching, retry later.

        The pending connection stays in the kernel's queue, so the socket stays readable;
        watching it would spin the loop at full CPU. One warning starts the episode.
        """
        reactor = self.reactor
        episode = self._exhausted
        if episode is None:
            episode = self._exhausted = _Exhaustion(reactor.seconds(), exc, self.accept_retry_initial)
            self.logger.warning(
                "%s: not accepting on %s for now (retrying every %g-%g s until it works)",
                episode.reason, self._address_text(), self.accept_retry_initial, self.accept_retry_max,
            )
        elif episode.calm_call is not None:
            episode.calm_call.cancel()  # it worked for a moment only: same episode
            episode.calm_call = None
        episode.failures += 1
        pause = episode.pause
        episode.pause = min(pause * 2, self.accept_retry_max)
        reactor.removeReader(self)
        if episode.retry_call is None:
            episode.retry_call = reactor.callLater(pause, self._retry_accepting)

    def _retry_accepting(self) -> None:
        """The back-off is over: watch the socket again (a waiting connection makes it ready)."""
        episode = self._exhausted
        if episode is not None:
            episode.retry_call = None
        if self.connected:
            self.reactor.addReader(self)

    def _accepted_again(self) -> None:
        """An accept worked during an episode: pauses start short again, and the episode
        ends once accepts keep working for ``accept_calm`` seconds."""
        episode = self._exhausted
        if episode is not None and episode.calm_call is None:
            episode.pause = self.accept_retry_initial
            episode.recovered = self.reactor.seconds()
            episode.calm_call = self.reactor.callLater(self.accept_calm, self._accepting_again)

    def _accepting_again(self) -> None:
        """Accepts have worked for a while: end the episode, saying once how long it lasted."""
        episode, self._exhausted = self._exhausted, None
        if episode is None:
            return
        self.logger.warning(
            "accepting on %s again after %.1f s (%d accept attempts failed: %s)",
            self._address_text(), episode.recovered - episode.started, episode.failures, episode.reason,
        )

    def doWrite(self) -> None:
        return None

    def connectionLost(self, reason: Failure) -> None:
        """The reactor dropped the port (shutdown): close it."""
        self._close()

    def _close(self) -> None:
        if not self.connected:
            return
        self.connected = False
        episode, self._exhausted = self._exhausted, None
        if episode is not None:
            episode.cancel()
        if _tracer is not None: _tracer.port_stopped(self)
        self.reactor.removeReader(self)
        if self.socket is not None:
            self.socket.close()
        self._socket_closed()
        self.factory.doStop()

    def _socket_closed(self) -> None:
        """The socket is closed: a subclass lets go of what else it held (a socket file)."""

    def stopListening(self) -> Any:
        """Close the port; return a Deferred that has fired once it is closed."""
        self._close()
        return succeed(None)

    loseConnection = stopListening

    def getHost(self) -> Any:
        """Return the address the port is bound to (the real port when 0 was asked)."""
        return self._host if self.socket is not None else None

    def __repr__(self) -> str:
        state = "listening" if self.connected else "closed"
        return f"<{type(self.factory).__name__} on {self.interface}:{self.port} {state}>"


# ------------------------------------------------------------------ connecting


def _host_port(address: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6) of an address, for log lines."""
    host = address.host
    return f"[{host}]:{address.port}" if ":" in host else f"{host}:{address.port}"


def _connect_error(code: int) -> error.ConnectError:
    """Twisted's ConnectError subclass for a failed connect's errno."""
    return error.getConnectError((code, os.strerror(code)))


class _ConnectAttempt:
    """One attempt of a Connector: resolve, non-blocking connect, wait for writability.

    Its ``state`` is connecting until the socket connects (connected: the attempt hands
    over to a :class:`Connection`) or the attempt fails (failed); the trace follows the
    attempt through its own hooks (connecting, handover, closed).
    """

    def __init__(self, connector: "Connector") -> None:
        self.connector = connector
        self.reactor = connector.reactor
        self.socket: socket.socket | None = None
        self.state = _CONNECTING
        self._watching = False
        self._start_call = self.reactor.callLater(0, self._begin)
        if _tracer is not None: _tracer.connection_connecting(self, connector.host, connector.port, "tcp")

    @property
    def done(self) -> bool:
        """True once the attempt has connected or failed."""
        return self.state is not _CONNECTING

    def _move(self, new: ConnectionState) -> None:
        """Enter ``new``; IllegalTransitionError if the lifecycle has no such move."""
        self.state = check_transition(self.state, new, "TCP connection attempt")

    def fileno(self) -> int:
        return self.socket.fileno() if self.socket is not None else -1

    def _begin(self) -> None:
        self._start_call = None
        if self.done:
            return
        host = self.connector.host
        if is_ip_address(host):
            self._connect_to(host)
        else:
            self.reactor.resolve(host).addCallbacks(self._connect_to, self._resolve_failed)

    def _resolve_failed(self, failure: Failure) -> None:
        if failure.check(error.DNSLookupError):
            self.failIfNotConnected(failure.value)
        else:
            self.failIfNotConnected(error.DNSLookupError(f"address {self.connector.host!r} not found: {failure.value}"))

    def _connect_to(self, address: str) -> None:
        if self.done:
            return
        connector = self.connector
        try:
            sock = socket.socket(family_for(address), socket.SOCK_STREAM)
        except OSError as exc:
            self.failIfNotConnected(error.getConnectError(exc))
            return
        self.socket = sock
        try:
            sock.setblocking(False)
            if connector.bindAddress is not None:
                sock.bind(connector.bindAddress)
        except OSError as exc:
            self.failIfNotConnected(
                error.ConnectBindError(exc.errno, f"{exc.strerror} (binding {connector.bindAddress})")
            )
            return
        code = sock.connect_ex((address, connector.port))
        if code == 0 or code == errno.EISCONN:
            self._connected()
        elif code in _CONNECT_PENDING:
            self._watching = True
            self.reactor.addWriter(self)
        else:
            self.failIfNotConnected(_connect_error(code))

    def doRead(self) -> None:
        return None

    def doWrite(self) -> None:
        """Writable: the connect finished; SO_ERROR says how."""
        if self.done or self.socket is None:
            return None
        code = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.failIfNotConnected(_connect_error(code))
        else:
            self._connected()
        return None

    def _unwatch(self) -> None:
        if self._watching:
            self._watching = False
            self.reactor.removeWriter(self)

    def _connected(self) -> None:
        self._move(_CONNECTED)  # from now on a stop or a timeout is too late
        self._unwatch()
        sock = self.socket
        assert sock is not None
        connector = self.connector
        try:
            peer = make_address(sock.getpeername())
        except OSError as exc:  # reset between connect and now
            self._fail(error.ConnectError(exc.errno, str(exc)))
            return
        try:
            protocol = connector.buildProtocol(peer)
        except Exception as exc:
            log.error("Error in %s", describe_callable(connector.factory.buildProtocol), exc_info=True)
            self._fail(error.ConnectError(None, f"buildProtocol failed: {exc!r}"))
            return
        if protocol is None:
            self._fail(error.ConnectError(None, "the factory refused the connection (buildProtocol returned None)"))
            return
        connection = Connection(sock, protocol, self.reactor, peer, connector)
        connector.transport = connection
        if _tracer is not None: _tracer.connection_handover(self, connection)
        connection._start()

    def connectionLost(self, reason: Failure) -> None:
        """The reactor dropped the attempt (shutdown)."""
        self.failIfNotConnected(error.UserError(None, "the reactor shut down"))

    def failIfNotConnected(self, err: BaseException) -> None:
        """End the attempt with ``err`` unless it already succeeded or failed."""
        if self.state is _CONNECTING:
            self._fail(err)

    def _fail(self, err: BaseException) -> None:
        """End the attempt with ``err``: close the socket and tell the connector."""
        self._move(_FAILED)
        if _tracer is not None: _tracer.connection_closed(self, err)
        if self._start_call is not None and self._start_call.active():
            self._start_call.cancel()
        self._unwatch()
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        self.connector.connectionFailed(Failure(err))

    def loseConnection(self) -> None:
        self.failIfNotConnected(error.UserError(None, "the connection attempt was stopped"))


@implementer(IConnector)
class Connector:
    """An outgoing TCP connection that can be stopped and tried again."""

    def __init__(
        self, host: str, port: int, factory: IProtocolFactory, timeout: float | None, bindAddress: Any,
        reactor: ReactorLike,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise TypeError(f"host must be a non-empty str, got {host!r}")
        self.host = host.strip("[]")
        self.port = check_port(port)
        self._init_connector(factory, timeout, bindAddress, reactor)

    def _init_connector(self, factory: Any, timeout: float | None, bindAddress: Any, reactor: Any) -> None:
        """Check the factory and timeout and start disconnected: subclasses with their own
        ``__init__`` (another kind of address) call it too."""
        if not hasattr(factory, "buildProtocol"):
            raise TypeError(f"factory must have buildProtocol(), got {factory!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive or None, got {timeout!r}")
        self.factory = factory
        self.timeout = timeout
        self.bindAddress = bindAddress
        self.reactor = reactor
        self.state = "disconnected"
        self.transport: Any = None
        self.factoryStarted = False
        self._timeout_call: Any = None

    def connect(self) -> None:
        """Start an attempt; RuntimeError unless disconnected."""
        if self.state != "disconnected":
            raise RuntimeError(f"can't connect in state {self.state!r}")
        self.state = "connecting"
        if not self.factoryStarted:
            self.factory.doStart()
            self.factoryStarted = True
        self.transport = attempt = self._new_attempt()
        if self.timeout is not None:
            self._timeout_call = self.reactor.callLater(
                self.timeout,
                attempt.failIfNotConnected,
                error.TimeoutError(None, f"no connection after {self.timeout} s"),
            )
        started = getattr(self.factory, "startedConnecting", None)
        if started is not None:
            _call_logged("startedConnecting of", started, self)

    def _new_attempt(self) -> Any:
        """Start one attempt to connect (a subclass starts its own kind)."""
        return _ConnectAttempt(self)

    def _cancel_timeout(self) -> None:
        call, self._timeout_call = self._timeout_call, None
        if call is not None and call.active():
            call.cancel()

    def stopConnecting(self) -> None:
        """Stop the attempt in progress (the factory sees UserError)."""
        if self.state != "connecting":
            raise error.NotConnectingError(f"not connecting (state {self.state!r})")
        self.transport.failIfNotConnected(error.UserError(None, "stopConnecting() was called"))

    def disconnect(self) -> None:
        """Stop connecting, or close the established connection."""
        if self.state == "connecting":
            self.stopConnecting()
        elif self.state == "connected" and self.transport is not None:
            self.transport.loseConnection()

    def getDestination(self) -> Any:
        """Return the address being connected to."""
        if ":" in self.host:
            return IPv6Address("TCP", self.host, self.port)
        return IPv4Address("TCP", self.host, self.port)

    def buildProtocol(self, addr: Any) -> Any:
        self.state = "connected"
        self._cancel_timeout()
        return self.factory.buildProtocol(addr)

    def connectionFailed(self, reason: Failure) -> None:
        self._cancel_timeout()
        self.transport = None
        self.state = "disconnected"
        failed = getattr(self.factory, "clientConnectionFailed", None)
        if failed is not None:
            _call_logged("clientConnectionFailed of", failed, self, reason)
        self._maybe_stop_factory()

    def connectionLost(self, reason: Failure) -> None:
        self.state = "disconnected"
        self.transport = None
        lost = getattr(self.factory, "clientConnectionLost", None)
        if lost is not None:
            _call_logged("clientConnectionLost of", lost, self, reason)
        self._maybe_stop_factory()

    def _maybe_stop_factory(self) -> None:
        if self.state == "disconnected" and self.factoryStarted:
            self.factoryStarted = False
            self.factory.doStop()

    def __repr__(self) -> str:
        return f"<Connector to {self.host}:{self.port} {self.state}>"
