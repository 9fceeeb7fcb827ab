"""One-shot TCP clients: send a request (maybe none), read until the server closes.

QOTD and finger clients are both this shape, so both are built on :func:`fetch`,
which returns a Deferred of the bytes received. A size limit guards against a
server that never stops sending, and a deadline against one that never closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inspector.defer import Deferred
from inspector.error import ConnectionDone, TimeoutError
from inspector.failure import Failure
from inspector.interfaces import IReactorTime
from inspector.protocol import ClientFactory, Protocol, connectionDone

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

__all__ = ["ReplyTooLong", "CollectingClient", "CollectingClientFactory", "fetch"]


class ReplyTooLong(Exception):
    """The server sent more than the client's limit; the connection was aborted."""


class CollectingClient(Protocol):
    """Sends the factory's request, then gathers every byte until the connection ends."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._too_long = False

    def connectionMade(self) -> None:
        if self.factory.request:
            self.transport.write(self.factory.request)

    def dataReceived(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.factory.limit:
            self._too_long = True
            self.transport.abortConnection()
            return
        self._chunks.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._too_long:
            limit = self.factory.limit
            outcome: Any = Failure(ReplyTooLong(f"the server sent more than {limit} bytes"))
        elif reason.check(ConnectionDone):
            outcome = b"".join(self._chunks)
        else:
            outcome = reason
        self.factory.finish(outcome)


class CollectingClientFactory(ClientFactory):
    """Makes one :class:`CollectingClient`; ``deferred`` fires with the bytes or a Failure."""

    protocol = CollectingClient

    def __init__(self, request: bytes = b"", limit: int = 1 << 20) -> None:
        self.request = request
        self.limit = limit
        # Cancelling the Deferred drops the connection (or the attempt).
        self.deferred: Deferred = Deferred(lambda _: self.connector and self.connector.disconnect())
        self.connector: Any = None
        self._deadline: Any = None

    def finish(self, outcome: Any) -> None:
        """Fire ``deferred`` once with bytes or a Failure; later outcomes are dropped."""
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        if self.deferred.called:
            return
        if isinstance(outcome, Failure):
            self.deferred.errback(outcome)
        else:
            self.deferred.callback(outcome)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.finish(reason)

    def start_deadline(self, reactor: IReactorTime, timeout: float, where: str) -> None:
        """Fail with TimeoutError unless the exchange is over within ``timeout`` seconds."""

        def expire() -> None:
            self._deadline = None
            self.finish(Failure(TimeoutError(string=f"no complete reply from {where} after {timeout:g} s")))
            self.connector.disconnect()

        self._deadline = reactor.callLater(timeout, expire)


def fetch(
    reactor: ReactorLike, host: str, port: int, request: bytes = b"", timeout: float = 30,
    limit: int = 1 << 20,
) -> Deferred:
    """Connect, send ``request``, and return a Deferred of everything read until close."""
    factory = CollectingClientFactory(request, limit)
    factory.connector = reactor.connectTCP(host, port, factory, timeout=timeout)
    factory.start_deadline(reactor, timeout, f"{host}:{port}")
    return factory.deferred
