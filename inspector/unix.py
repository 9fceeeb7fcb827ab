"""Unix domain stream sockets: a listening port, a connector and the transport.

A Unix stream connection behaves like a TCP one (half-close, flow control, producers),
so its transport is :class:`inspector.tcp.Connection` with Unix addresses. What differs
is naming: a socket is a file (``mode`` applied to it, removed on ``stopListening``)
or, on Linux, a name in the abstract namespace (starting with ``"\\0"``), and a stale
file left by a dead process is handled as Twisted does with ``wantPID``: a
``<address>.lock`` symlink names the owner's PID.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
from typing import TYPE_CHECKING, Any

from zope.interface import implementer

from inspector import error, tcp
from inspector.address import UNIXAddress
from inspector.failure import Failure
from inspector.helpers import describe_callable
from inspector.interfaces import IListeningPort, IProtocolFactory

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.unix")
# A TraceHooks (the contract in inspector/hooks.py) while tracing is on, else None;
# every hook call is one line: `if _tracer is not None: _tracer.hook(...)`.
_tracer = None

__all__ = ["Connection", "Connector", "Port", "check_address"]

#: A connect that found the listener's queue full is tried again after this many seconds
#: (doubling, up to ``_RETRY_MAX``): a Unix connect never completes in the background.
_RETRY_FIRST = 0.005
_RETRY_MAX = 0.2


def check_address(address: Any) -> str:
    """The socket name ``address`` (str, bytes or a path object) stands for, as str
    (bytes decoded as file names are); TypeError or ValueError for anything that cannot
    name a Unix socket."""
    if isinstance(address, os.PathLike):
        address = os.fspath(address)
    if isinstance(address, bytes):
        address = os.fsdecode(address)
    if not isinstance(address, str):
        raise TypeError(f"a Unix socket address must be a str, bytes or path, not {type(address).__name__}")
    if not address or address == "\0":
        raise ValueError("a Unix socket address can't be empty")
    if not _is_abstract(address) and "\0" in address:
        raise ValueError(f"a Unix socket path can't contain a NUL byte: {address!r}")
    return address


def _is_abstract(name: str) -> bool:
    """True for a name in Linux's abstract namespace (no file behind it)."""
    return name.startswith("\0")


def _unix_address(name: Any) -> UNIXAddress:
    """A UNIXAddress for what ``getsockname``/``accept`` returned (empty: unnamed)."""
    return UNIXAddress(name or None)


def _text(name: str) -> str:
    """``unix:<name>`` for log lines, errors and the trace."""
    return str(UNIXAddress(name))


def _pid_alive(pid: int) -> bool:
    """True if a process with ``pid`` exists (signal 0 probes without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


class _PIDLock:
    """``<path>.lock``: a symlink whose target is the owning PID (atomic to create and to
    read, as Twisted's FilesystemLock). A lock whose process is gone is stale."""

    def __init__(self, path: str) -> None:
        self.path = path + ".lock"
        self.held = False

    def acquire(self) -> bool:
        """Take the lock; True if it was free or stale (a dead owner's lock is replaced),
        False while a live process holds it."""
        mine = str(os.getpid())
        for _ in range(3):
            try:
                os.symlink(mine, self.path)
            except FileExistsError:
                try:
                    owner = int(os.readlink(self.path))
                except FileNotFoundError:
                    continue  # released meanwhile: try again
                except (OSError, ValueError):
                    owner = -1  # not a lock of ours (a plain file, garbage): stale
                if owner > 0 and _pid_alive(owner):
                    return False
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                continue
            self.held = True
            return True
        return False

    def release(self) -> None:
        """Remove the lock if we hold it."""
        if self.held:
            self.held = False
            try:
                os.unlink(self.path)
            except OSError:
                pass


class Connection(tcp.Connection):
    """A connected Unix stream socket: TCP's transport (half-close, producers, flow
    control) with :class:`~inspector.address.UNIXAddress` for ``getHost``/``getPeer``."""

    trace_kind = "unix"

    def getTcpNoDelay(self) -> bool:
        """False: a Unix socket has no Nagle algorithm to turn off."""
        return False

    def setTcpNoDelay(self, enabled: bool) -> None:
        """Ignored: Unix sockets send at once anyway."""

    def getTcpKeepAlive(self) -> bool:
        """False: a Unix socket has no keep-alive probes."""
        return False

    def setTcpKeepAlive(self, enabled: bool) -> None:
        """Ignored: the kernel notices a dead local peer without probes."""

    def __repr__(self) -> str:
        return f"<{tcp._protocol_name(self)} transport fd={self._fd} host={self._host} peer={self._peer}>"


@implementer(IListeningPort)
class Port(tcp.Port):
    """A listening Unix stream socket: accepts connections and builds their protocols.

    The accept loop and its back-off at the descriptor limit are :class:`inspector.tcp.Port`'s;
    this class names the socket (a file or an abstract name), applies its mode, holds the
    ``wantPID`` lock and removes the file when it stops.
    """

    #: Most connections accepted per readiness event, so one busy port cannot starve others.
    accepts_per_turn = 64
    connection_class = Connection
    logger = log
    # Twisted's names for the socket's name and address, which TCP types as a number and an IP address.
    port: str  # type: ignore[assignment]
    _host: UNIXAddress  # type: ignore[assignment]

    def __init__(self, address: Any, factory: IProtocolFactory, backlog: int = socket.SOMAXCONN, mode: int = 0o666,
                 wantPID: bool = False, reactor: ReactorLike | None = None) -> None:
        self.port = check_address(address)
        if not hasattr(factory, "buildProtocol"):
            raise TypeError(f"factory must have buildProtocol(), got {factory!r}")
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise ValueError(f"mode must be a permission number such as 0o660, got {mode!r}")
        self.factory = factory
        self.backlog = backlog
        self.mode = mode
        self.wantPID = bool(wantPID)
        self.reactor = tcp.check_reactor(reactor)
        self.socket: socket.socket | None = None
        self.connected = False
        self._fd = -1
        self._family = socket.AF_UNIX
        self._host = UNIXAddress(self.port)
        self._conn_host = self._host
        self._lock: _PIDLock | None = None
        self._init_accepting()

    @property
    def _in_filesystem(self) -> bool:
        return not _is_abstract(self.port)

    def startListening(self) -> None:
        """Bind, set the file's mode and listen; CannotListenError says why it could not."""
        name = self.port
        try:
            if self.wantPID and self._in_filesystem:
                self._take_lock()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(name)
                if self._in_filesystem:
                    os.chmod(name, self.mode)
                sock.listen(self.backlog)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            if self._lock is not None:
                self._lock.release()
                self._lock = None
            if _tracer is not None: _tracer.port_refused(_text(name), exc)
            raise error.CannotListenError("unix", name, exc) from None  # type: ignore[arg-type]
        self.socket = sock
        self._fd = sock.fileno()
        self._accept = sock._accept  # type: ignore[attr-defined]
        self.connected = True
        self.factory.doStart()
        self.reactor.addReader(self)
        if _tracer is not None: _tracer.port_started(self, "unix")

    def _take_lock(self) -> None:
        """Hold ``<address>.lock``; a live owner refuses, a dead one's socket file goes."""
        lock = _PIDLock(self.port)
        if not lock.acquire():
            raise OSError(errno.EADDRINUSE, f"another live process holds {lock.path}")
        self._lock = lock
        try:
            if stat.S_ISSOCK(os.stat(self.port).st_mode):
                os.unlink(self.port)  # left behind by a process that is gone
                log.info("removed the stale socket file %s", self.port)
        except FileNotFoundError:
            pass

    def _make_peer(self, addr: Any) -> UNIXAddress:
        """The peer's UNIXAddress (a client that did not bind is unnamed)."""
        return _unix_address(addr)

    def _address_text(self) -> str:
        """``unix:<name>`` for the back-off's log lines."""
        return _text(self.port)

    def _socket_closed(self) -> None:
        """Remove the socket file (an abstract name goes with the socket) and the lock."""
        if self._in_filesystem:
            try:
                os.unlink(self.port)
            except OSError:
                pass  # removed by someone else already
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def getHost(self) -> UNIXAddress:
        """Return the socket's name as a UNIXAddress."""
        return self._host

    def __repr__(self) -> str:
        state = "listening" if self.connected else "closed"
        return f"<{type(self.factory).__name__} on {_text(self.port)} {state}>"


# ------------------------------------------------------------------ connecting


def _connect_error(code: int, name: str) -> error.ConnectError:
    """The ConnectError subclass for a failed Unix connect, naming the socket."""
    where = _text(name)
    if code == errno.ENOENT:
        return error.BadFileError(code, f"no socket at {where}")
    if code == errno.ECONNREFUSED:
        return error.ConnectionRefusedError(code, f"nothing listens on {where} (a stale socket file?)")
    if code in (errno.EACCES, errno.EPERM):
        return error.BadFileError(code, f"not allowed to connect to {where}")
    return error.getConnectError((code, f"{os.strerror(code)} ({where})"))


class _ConnectAttempt:
    """One attempt of a Connector: a non-blocking connect, retried while the
    listener's queue is full (a Unix connect does not complete in the background)."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.reactor = connector.reactor
        self.socket: socket.socket | None = None
        self.done = False
        self._pause = _RETRY_FIRST
        self._call: Any = self.reactor.callLater(0, self._try)
        if _tracer is not None: _tracer.connection_connecting(self, _text(connector.address), 0, "unix")

    def _try(self) -> None:
        self._call = None
        if self.done:
            return
        name = self.connector.address
        if self.connector.checkPID and not _is_abstract(name):
            lock = name + ".lock"
            if not os.path.lexists(lock):
                self.failIfNotConnected(error.BadFileError(None, f"no lock file {lock} (checkPID)"))
                return
        try:
            sock = self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
        except OSError as exc:
            self.failIfNotConnected(error.getConnectError(exc))
            return
        code = sock.connect_ex(name)
        if code == 0:
            self._connected()
        elif code in (errno.EAGAIN, errno.EINTR):  # the listener's queue is full
            sock.close()
            self.socket = None
            self._call = self.reactor.callLater(self._pause, self._try)
            self._pause = min(self._pause * 2, _RETRY_MAX)
        else:
            self.failIfNotConnected(_connect_error(code, name))

    def _connected(self) -> None:
        self.done = True
        sock = self.socket
        assert sock is not None
        connector = self.connector
        peer = UNIXAddress(connector.address)
        try:
            host = _unix_address(sock.getsockname())
            protocol = connector.buildProtocol(peer)
        except Exception as exc:
            if not isinstance(exc, OSError):
                log.exception("Error in %s", describe_callable(connector.factory.buildProtocol))
            self.done = False
            self.failIfNotConnected(error.ConnectError(None, f"buildProtocol failed: {exc!r}"))
            return
        if protocol is None:
            self.done = False
            self.failIfNotConnected(
                error.ConnectError(None, "the factory refused the connection (buildProtocol returned None)"))
            return
        connection = Connection(sock, protocol, self.reactor, peer, connector, host=host)
        connector.transport = connection
        if _tracer is not None: _tracer.connection_handover(self, connection)
        connection._start()

    def failIfNotConnected(self, err: BaseException) -> None:
        """End the attempt with ``err`` unless it already succeeded or failed."""
        if self.done:
            return
        self.done = True
        if _tracer is not None: _tracer.connection_closed(self, err)
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        self.connector.connectionFailed(Failure(err))

    def loseConnection(self) -> None:
        self.failIfNotConnected(error.UserError(None, "the connection attempt was stopped"))


class Connector(tcp.Connector):
    """An outgoing Unix connection that can be stopped and tried again."""

    def __init__(self, address: Any, factory: IProtocolFactory, timeout: float | None, checkPID: bool,
                 reactor: ReactorLike) -> None:
        self.address = check_address(address)
        self._init_connector(factory, timeout, None, reactor)
        self.checkPID = bool(checkPID)

    def _new_attempt(self) -> _ConnectAttempt:
        """A Unix connect, retried while the listener's queue is full."""
        return _ConnectAttempt(self)

    def getDestination(self) -> UNIXAddress:
        """Return the address being connected to."""
        return UNIXAddress(self.address)

    def __repr__(self) -> str:
        return f"<Connector to {_text(self.address)} {self.state}>"
