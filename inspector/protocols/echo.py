"""Echo (RFC 862): a TCP server with flow control, a UDP server, and a timing client.

The TCP server registers itself as the transport's streaming producer: when the
peer stops reading and the transport's write buffer passes its high-water mark, the
transport pauses us and we stop reading the socket, so a client that sends and never
reads cannot grow the server's memory without bound.

The client sends lines and fires a Deferred per line with the round trip's time.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from zope.interface import implementer

from inspector.defer import Deferred
from inspector.failure import Failure
from inspector.interfaces import IPushProducer, IReactorTime
from inspector.protocol import ClientFactory, DatagramProtocol, Factory, Protocol, connectionDone
from inspector.protocols.basic import ConnectionLimit, LineReceiver

log = logging.getLogger("inspector.echo")

__all__ = [
    "Echo",
    "EchoFactory",
    "EchoUDP",
    "EchoClient",
    "EchoClientFactory",
    "EchoReply",
]


@implementer(IPushProducer)
class Echo(Protocol):
    """Writes back every byte it receives, pausing its reads while the peer lags.

    Past the factory's ``connection_limit`` a new connection is closed at once.
    """

    _admitted = False

    def connectionMade(self) -> None:
        limit = getattr(self.factory, "connection_limit", None)
        if limit is not None:
            if not limit.admit():
                self.transport.loseConnection()
                return
            self._admitted = True
        # Our transport pauses us (the producer) when its buffer is high; we then stop
        # reading, which is what bounds the memory a non-reading peer can claim.
        self.transport.registerProducer(self, True)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._admitted:
            self._admitted = False
            self.factory.connection_limit.release()

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)

    def pauseProducing(self) -> None:
        """The write buffer is high: stop reading until it drains."""
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        """The write buffer drained: read again."""
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        """The transport is going away; nothing of ours to release."""


class EchoFactory(Factory):
    """Builds an :class:`Echo` per connection, at most ``max_connections`` at once.

    The default cap stays below the process's descriptor limit
    (:func:`~inspector.protocols.basic.default_max_connections`); connections over it
    are closed at once, and logged once per episode.
    """

    protocol = Echo

    def __init__(self, max_connections: int | None = None) -> None:
        self.connection_limit = ConnectionLimit(max_connections, "echo server", log)


class EchoUDP(DatagramProtocol):
    """Sends every datagram back to where it came from."""

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.transport.write(datagram, addr)


@dataclass(frozen=True, slots=True)
class EchoReply:
    """One line's round trip: the text that came back and how long it took (seconds)."""

    line: str
    rtt: float

    def __str__(self) -> str:
        return f"{self.line} ({self.rtt * 1000:.3f} ms)"


class EchoClient(LineReceiver):
    """Sends lines to an echo server and times each one's return.

    ``send_line(text)`` returns a Deferred firing with an :class:`EchoReply`; lines
    come back in order, so the pending sends form a FIFO. ``lineEchoed`` is called for
    each reply too, for callers who prefer a callback to Deferreds.
    """

    delimiter = b"\n"
    #: Longest echoed line accepted; an echo of our own lines never exceeds it.
    MAX_LENGTH = 65536

    def __init__(self, clock: Any = None) -> None:
        #: Anything with ``seconds()``: the reactor, normally set by the factory.
        super().__init__()
        self.clock = clock
        self._pending: deque[tuple[float, Deferred]] = deque()

    def connectionMade(self) -> None:
        notify = getattr(self.factory, "client_connected", None)
        if notify is not None:
            notify(self)

    def send_line(self, text: str) -> Deferred:
        """Send ``text`` (one line, no newline in it) and return a Deferred of its EchoReply."""
        if "\n" in text or "\r" in text:
            raise ValueError("send_line takes one line: the text must not contain CR or LF")
        try:
            encoded = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"send_line: the text cannot be encoded as UTF-8 ({exc.reason})") from None
        if len(encoded) + 2 > self.MAX_LENGTH:
            raise ValueError(f"line too long: {len(encoded)} bytes (limit {self.MAX_LENGTH - 2})")
        d: Deferred[Any] = Deferred()
        self._pending.append((self.clock.seconds(), d))
        # Out with CRLF, as line servers expect; replies are split on LF (so a
        # server answering with bare LF works too) and the CR is stripped.
        self.transport.write(encoded + b"\r\n")
        return d

    def lineReceived(self, line: bytes) -> None:
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        if not self._pending:
            self.unexpectedLine(text)
            return
        sent_at, d = self._pending.popleft()
        reply = EchoReply(text, self.clock.seconds() - sent_at)
        self.lineEchoed(reply)
        d.callback(reply)

    def lineEchoed(self, reply: EchoReply) -> None:
        """Called for every reply before its Deferred fires; override to report it."""

    def unexpectedLine(self, text: str) -> None:
        """The server sent a line we did not send; the default ignores it."""

    def lineLengthExceeded(self, line: bytes) -> None:
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        pending, self._pending = self._pending, deque()
        for _sent_at, d in pending:
            d.errback(reason)


class EchoClientFactory(ClientFactory):
    """Makes :class:`EchoClient` s; ``connected`` fires with the protocol once up."""

    protocol = EchoClient

    def __init__(self, reactor: IReactorTime, on_reply: Callable[[EchoReply], Any] | None = None) -> None:
        self.reactor = reactor
        self.on_reply = on_reply
        self.connected: Deferred | None = Deferred()
        self.lost: Deferred = Deferred()

    def buildProtocol(self, addr: Any) -> EchoClient:
        p = super().buildProtocol(addr)
        p.clock = self.reactor
        if self.on_reply is not None:
            p.lineEchoed = self.on_reply
        return p

    def client_connected(self, protocol: EchoClient) -> None:
        """Called by the protocol once connected: fires ``connected``."""
        if self.connected is not None:
            d, self.connected = self.connected, None
            d.callback(protocol)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if self.connected is not None:
            d, self.connected = self.connected, None
            d.errback(reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        if not self.lost.called:
            self.lost.callback(reason.value)
