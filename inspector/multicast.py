"""IPv4 multicast: a UDP port that joins groups and sets the multicast socket options.

Receiving works as on any UDP port (``datagramReceived``); the port binds to all
interfaces by default, as a multicast receiver must to see datagrams sent to a group.
Joining resolves the group (and interface) names first, so it returns a Deferred; a
join the kernel refuses errbacks with :class:`~inspector.error.MulticastJoinError`.
"""

from __future__ import annotations

import socket
import struct

from zope.interface import implementer

from inspector import error
from inspector.defer import Deferred, fail
from inspector.interfaces import IDatagramProtocol, IMulticastTransport, ReactorLike
from inspector.tcp import bind_socket
from inspector.udp import Port

__all__ = ["MulticastPort"]


@implementer(IMulticastTransport)
class MulticastPort(Port):
    """A UDP port for multicast: group membership, TTL, loopback and outgoing interface.

    ``listenMultiple`` sets SO_REUSEADDR (and SO_REUSEPORT where it exists) before
    binding, so several sockets, in this process or others, can share the port and each
    receives the groups it joined.
    """

    def __init__(self, port: int, protocol: IDatagramProtocol, interface: str = "", maxPacketSize: int = 65535,
                 reactor: ReactorLike | None = None, listenMultiple: bool = False) -> None:
        super().__init__(port, protocol, interface, maxPacketSize, reactor)
        if ":" in interface:
            raise ValueError(f"multicast ports are IPv4 only; got interface {interface!r}")
        self.listenMultiple = bool(listenMultiple)

    def _bind(self) -> socket.socket:
        """An IPv4 socket bound to the port, shared with other sockets if ``listenMultiple``
        (UDP's ``startListening`` does the rest)."""
        return bind_socket(socket.AF_INET, socket.SOCK_DGRAM, (self.interface, self.port), share=self.listenMultiple)

    def _bind_text(self) -> str:
        """``interface:port`` for a failed bind; the default interface "" is all of them."""
        return f"{self.interface or '0.0.0.0'}:{self.port}"

    # ------------------------------------------------------------ socket options

    def _sock(self) -> socket.socket:
        if not self.connected or self.socket is None:
            raise error.NotListeningError("the multicast port is not listening")
        return self.socket

    def getOutgoingInterface(self) -> str:
        """Return the address of the interface multicast datagrams leave from
        (``0.0.0.0``: the kernel picks by route)."""
        packed = self._sock().getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
        return socket.inet_ntoa(packed)

    def setOutgoingInterface(self, addr: str) -> Deferred:
        """Send multicast from the interface with address ``addr`` (a name is resolved
        first); a Deferred firing with 1, or errbacking with the socket error."""
        return self.reactor.resolve(addr).addCallback(self._set_interface)

    def _set_interface(self, address: str) -> int:
        self._sock().setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
        return 1

    def getLoopbackMode(self) -> bool:
        """Return whether our multicast datagrams are delivered to this host too."""
        return bool(self._sock().getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP))

    def setLoopbackMode(self, mode: bool) -> None:
        """Deliver our multicast datagrams to listeners on this host (True) or not."""
        self._sock().setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, struct.pack("B", bool(mode)))

    def getTTL(self) -> int:
        """Return how many routers an outgoing multicast datagram may cross."""
        return self._sock().getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)

    def setTTL(self, ttl: int) -> None:
        """Set how many routers an outgoing multicast datagram may cross (0..255;
        1, the default, keeps it on the local network)."""
        if isinstance(ttl, bool) or not isinstance(ttl, int):
            raise TypeError(f"ttl must be an int, not {type(ttl).__name__}")
        if not 0 <= ttl <= 255:
            raise ValueError(f"ttl must be in 0..255, got {ttl}")
        self._sock().setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("B", ttl))

    # ------------------------------------------------------------ membership

    def joinGroup(self, addr: str, interface: str = "") -> Deferred:
        """Join the group ``addr`` on the interface with address ``interface`` (empty:
        the kernel's choice); errbacks with MulticastJoinError if refused."""
        return self._membership(addr, interface, socket.IP_ADD_MEMBERSHIP)

    def leaveGroup(self, addr: str, interface: str = "") -> Deferred:
        """Leave the group ``addr``; errbacks with MulticastJoinError if not a member."""
        return self._membership(addr, interface, socket.IP_DROP_MEMBERSHIP)

    def _membership(self, addr: str, interface: str, option: int) -> Deferred:
        if not isinstance(addr, str) or not isinstance(interface, str):
            return fail(TypeError(f"group and interface must be str, got {addr!r} and {interface!r}"))
        if not self.connected:
            return fail(error.NotListeningError("the multicast port is not listening"))
        group = self.reactor.resolve(addr)
        return group.addCallback(self._with_interface, addr, interface, option)

    def _with_interface(self, group: str, addr: str, interface: str, option: int) -> Deferred:
        resolved = self.reactor.resolve(interface or "0.0.0.0")
        return resolved.addCallback(self._set_membership, group, addr, interface, option)

    def _set_membership(self, local: str, group: str, addr: str, interface: str, option: int) -> None:
        what = "join" if option == socket.IP_ADD_MEMBERSHIP else "leave"
        try:
            request = socket.inet_aton(group) + socket.inet_aton(local)
            self._sock().setsockopt(socket.IPPROTO_IP, option, request)
        except (OSError, error.NotListeningError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise error.MulticastJoinError(
                addr, interface, f"can't {what} group {addr} on {interface or 'the default interface'}: {reason}"
            ) from None

    def __repr__(self) -> str:
        state = "bound" if self.connected else "closed"
        return f"<{type(self.protocol).__name__} on multicast {self.interface or '0.0.0.0'}:{self.port} {state}>"
