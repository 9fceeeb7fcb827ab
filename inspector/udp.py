"""UDP over non-blocking sockets: a bound port that is also the protocol's transport.

A datagram that cannot be sent at once is dropped (UDP makes no promise either), an
exception in ``datagramReceived`` is logged and the port keeps going.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING, Any

from zope.interface import implementer

from inspector import error
from inspector.defer import succeed
from inspector.helpers import describe_callable, is_ip_address
from inspector.interfaces import IDatagramProtocol, IListeningPort, IUDPTransport, ReactorLike
from inspector.tcp import bind_socket, check_port, check_reactor, family_for, make_address

if TYPE_CHECKING:
    from inspector.failure import Failure

log = logging.getLogger("inspector.udp")
# A TraceHooks (the contract in inspector/hooks.py) while tracing is on, else None;
# every hook call is one line: `if _tracer is not None: _tracer.hook(...)`.
_tracer = None

__all__ = ["Port"]

_REFUSED = (errno.ECONNREFUSED,)


@implementer(IListeningPort, IUDPTransport)
class Port:
    """A UDP socket bound to ``interface:port`` that feeds a DatagramProtocol.

    Each read asks for ``maxPacketSize`` bytes; a longer datagram is truncated to that,
    as in Twisted. The default, 65,535, takes any datagram whole.
    """

    #: Most datagrams read per readiness event, so one busy port cannot starve others.
    reads_per_turn = 256

    def __init__(
        self, port: int, protocol: IDatagramProtocol, interface: str = "127.0.0.1", maxPacketSize: int = 65535,
        reactor: ReactorLike | None = None,
    ) -> None:
        self.port = check_port(port)
        if not hasattr(protocol, "datagramReceived"):
            raise TypeError(f"protocol must have datagramReceived(), got {protocol!r}")
        if not isinstance(interface, str):
            raise TypeError(f"interface must be a str, not {type(interface).__name__}")
        if isinstance(maxPacketSize, bool) or not isinstance(maxPacketSize, int):
            raise TypeError(f"maxPacketSize must be an int, not {type(maxPacketSize).__name__}")
        if maxPacketSize < 1:
            raise ValueError(f"maxPacketSize must be at least 1 byte, got {maxPacketSize}")
        self.protocol = protocol
        self.interface = interface
        self.maxPacketSize = maxPacketSize
        self.reactor = check_reactor(reactor)
        self.socket: socket.socket | None = None
        self.connected = False
        self._connected_addr: tuple | None = None
        self._fd = -1
        self._family = family_for(interface)
        self._host: Any = None

    def startListening(self) -> None:
        """Bind; CannotListenError names the address if that fails."""
        try:
            sock = self._bind()
        except OSError as exc:
            if _tracer is not None: _tracer.port_refused(self._bind_text(), exc)
            raise error.CannotListenError(self.interface, self.port, exc) from None
        self.socket = sock
        self._fd = sock.fileno()
        self._host = make_address(sock.getsockname(), "UDP")
        self.connected = True
        if _tracer is not None: _tracer.port_started(self, "udp")
        if _tracer is not None: _tracer.connection_opened(self, "udp", "udp")
        try:
            self.protocol.makeConnection(self)
        except BaseException:
            # startProtocol failed: release the port before the caller sees the error.
            self.connected = False
            sock.close()
            raise
        if self.connected:
            self.reactor.addReader(self)

    def _bind(self) -> socket.socket:
        """The port's socket, bound and non-blocking (a subclass may set options first)."""
        return bind_socket(self._family, socket.SOCK_DGRAM, (self.interface, self.port))

    def _bind_text(self) -> str:
        """``interface:port`` as the trace names a bind that failed."""
        return f"{self.interface}:{self.port}"

    def fileno(self) -> int:
        return self._fd if self.connected else -1

    def doRead(self) -> None:
        """Read waiting datagrams and hand each to the protocol."""
        recvfrom = self.socket.recvfrom  # type: ignore[union-attr]
        size = self.maxPacketSize
        for _ in range(self.reads_per_turn):
            if not self.connected:
                return None
            try:
                data, addr = recvfrom(size)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                if exc.errno in _REFUSED:
                    self._refused()
                    continue
                log.error("UDP read error on %s: %s", self._host, exc)
                return None
            if _tracer is not None: _tracer.datagram_in(self, data, addr)
            try:
                self.protocol.datagramReceived(data, addr[:2])
            except Exception:
                log.error("Error in %s", describe_callable(self.protocol.datagramReceived), exc_info=True)
        return None

    def _refused(self) -> None:
        refused = getattr(self.protocol, "connectionRefused", None)
        if refused is not None:
            try:
                refused()
            except Exception:
                log.error("Error in %s", describe_callable(refused), exc_info=True)

    def doWrite(self) -> None:
        return None

    def write(self, datagram: bytes, addr: Any = None) -> None:
        """Send ``datagram`` to ``addr`` (a (host, port) tuple), or to the connected peer.

        Dropped if the kernel's buffer is full; MessageLengthError if too long.
        """
        if not self.connected or self.socket is None:
            raise error.NotListeningError("the UDP port is not listening")
        if type(datagram) is not bytes:
            if isinstance(datagram, (bytearray, memoryview)):
                datagram = bytes(datagram)
            else:
                raise TypeError(f"write() takes bytes, not {type(datagram).__name__}")
        if _tracer is not None: _tracer.datagram_out(self, datagram, addr if addr is not None else self._connected_addr)
        try:
            if self._connected_addr is not None:
                if addr is not None and tuple(addr[:2]) != self._connected_addr:
                    raise ValueError(f"this port is connected to {self._connected_addr}; can't write to {addr}")
                self.socket.send(datagram)
            else:
                if addr is None:
                    raise ValueError("write() needs an address on an unconnected UDP port")
                host, port = addr[0], addr[1]
                if not is_ip_address(host):
                    raise ValueError(f"write() needs an IP address, not {host!r}; resolve it first")
                self.socket.sendto(datagram, (host, port))
        except (BlockingIOError, InterruptedError):
            return  # buffer full: dropped, as UDP may
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                raise error.MessageLengthError(f"datagram of {len(datagram)} bytes is too long") from None
            if exc.errno in _REFUSED and self._connected_addr is not None:
                self._refused()
                return
            raise

    def writeSequence(self, seq: Any, addr: Any = None) -> None:
        """Send the concatenation of ``seq`` as one datagram."""
        self.write(b"".join(seq), addr)

    def connect(self, host: str, port: int) -> None:
        """Only exchange datagrams with ``host:port`` (an IP address)."""
        if self._connected_addr is not None:
            raise RuntimeError(f"already connected to {self._connected_addr}")
        if not is_ip_address(host):
            raise ValueError(f"connect() needs an IP address, not {host!r}; resolve it first")
        check_port(port)
        assert self.socket is not None
        self.socket.connect((host, port))
        self._connected_addr = (host, port)

    def getHost(self) -> Any:
        """Return the bound address."""
        return self._host

    def stopListening(self) -> Any:
        """Close the port and stop the protocol; returns a fired Deferred."""
        self._close()
        return succeed(None)

    loseConnection = stopListening

    def connectionLost(self, reason: Failure | None = None) -> None:
        """The reactor dropped the port (shutdown): close it."""
        self._close()

    def _close(self) -> None:
        if not self.connected:
            return
        self.connected = False
        if _tracer is not None: _tracer.port_stopped(self)
        if _tracer is not None: _tracer.connection_closed(self, None)
        self.reactor.removeReader(self)
        if self.socket is not None:
            self.socket.close()
        try:
            self.protocol.doStop()
        except Exception:
            log.error("Error in %s", describe_callable(self.protocol.doStop), exc_info=True)

    def setBroadcastAllowed(self, enabled: bool) -> None:
        """Allow (or forbid) sending to broadcast addresses."""
        assert self.socket is not None
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, int(bool(enabled)))

    def getBroadcastAllowed(self) -> bool:
        """Return whether broadcast is allowed."""
        assert self.socket is not None
        return bool(self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST))

    def __repr__(self) -> str:
        state = "bound" if self.connected else "closed"
        return f"<{type(self.protocol).__name__} on UDP {self.interface}:{self.port} {state}>"


