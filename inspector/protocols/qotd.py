"""Quote of the Day (RFC 865) over TCP and UDP, with quoters and clients.

A quoter (:class:`~inspector.interfaces.IQuoter`) supplies the text: a
:class:`StaticQuoter` always gives the same quote, a :class:`FortuneQuoter` picks one
at random from fortune-format files (quotes separated by lines holding only ``%``).
Over TCP the server sends a quote and closes; over UDP it answers any datagram with
one. The clients return a Deferred of the quote as text.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING, Any, Callable, Iterable

from zope.interface import implementer

from inspector.defer import Deferred
from inspector.error import ConnectionDone, ConnectionRefusedError, TimeoutError
from inspector.failure import Failure
from inspector.files import FileRefused, MiB, read_regular_file
from inspector.interfaces import (
    IConnectionTable,
    IHalfCloseableProtocol,
    IPullProducer,
    IQuoter,
    IReactorTime,
    ITransport,
)
from inspector.protocol import DatagramProtocol, Factory, Protocol, connectionDone
from inspector.protocols.basic import ConnectionLimit
from inspector.protocols.oneshot import fetch
from inspector.reactors.base import ReactorBase

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.qotd")

__all__ = [
    "QOTD_PORT",
    "QuoteFileError",
    "QOTDError",
    "StaticQuoter",
    "FortuneQuoter",
    "parse_fortunes",
    "encode_quote",
    "decode_quote",
    "QOTD",
    "QOTDFactory",
    "QOTDUDP",
    "get_quote",
    "QOTDUDPClient",
    "get_quote_udp",
]

#: The port RFC 865 assigns (privileged; pass another one when not root).
QOTD_PORT = 17

#: RFC 865: a quote "should be limited to" 512 characters; UDP answers are cut there.
UDP_QUOTE_LIMIT = 512

#: The most a client accepts before deciding the server is not a QOTD server.
CLIENT_MAX_BYTES = 64 * 1024

#: The largest quote file read; a bigger one (or /dev/zero) is refused with a reason.
MAX_QUOTE_FILE = 16 * MiB


class QuoteFileError(ValueError):
    """A quote file is missing, unreadable, not UTF-8 or holds no quotes."""


class QOTDError(Exception):
    """The server's answer was not a quote (nothing sent, or far too much)."""


# ------------------------------------------------------------------------------ quoters


@implementer(IQuoter)
class StaticQuoter:
    """Always gives the same quote (fixed at creation, so a server may encode it once)."""

    def __init__(self, quote: str) -> None:
        if not isinstance(quote, str) or not quote.strip():
            raise ValueError("a static quote must be a non-empty string")
        self._quote = quote

    @property
    def quote(self) -> str:
        """The quote (read-only)."""
        return self._quote

    def getQuote(self) -> str:
        """Return the quote."""
        return self._quote


def parse_fortunes(text: str) -> list[str]:
    """Split fortune-format text into quotes; ``%`` lines separate them, blanks are dropped."""
    quotes: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.rstrip() == "%":
            quotes.append("\n".join(current).strip("\n"))
            current = []
        else:
            current.append(line.rstrip())
    quotes.append("\n".join(current).strip("\n"))
    return [quote for quote in quotes if quote.strip()]


@implementer(IQuoter)
class FortuneQuoter:
    """Gives a random quote from one or more fortune files, read once at creation.

    Raises :class:`QuoteFileError` naming the file when one is missing, unreadable,
    not UTF-8, or holds no quotes, so a bad path fails at start rather than per client.
    """

    def __init__(
        self, filenames: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        rng: random.Random | None = None,
    ) -> None:
        if isinstance(filenames, (str, os.PathLike)):
            filenames = [filenames]
        self.filenames = [Path(name) for name in filenames]
        if not self.filenames:
            raise QuoteFileError("no quote file given")
        self._rng = rng or random.Random()
        self.quotes: list[str] = []
        for path in self.filenames:
            self.quotes.extend(load_fortune_file(path))

    def getQuote(self) -> str:
        """Return one of the loaded quotes, chosen at random."""
        return self._rng.choice(self.quotes)


def load_fortune_file(path: str | os.PathLike[str]) -> list[str]:
    """Return the quotes of the fortune file at ``path``; QuoteFileError says what is wrong."""
    path = Path(path)
    try:
        # Regular files only, at most MAX_QUOTE_FILE: /dev/zero or a FIFO is refused at
        # once instead of exhausting memory or hanging the start.
        raw = read_regular_file(path, "quote file", MAX_QUOTE_FILE)
    except FileRefused as exc:
        raise QuoteFileError(str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise QuoteFileError(f"quote file {path} is not UTF-8 text (byte {exc.start})") from None
    quotes = parse_fortunes(text)
    if not quotes:
        raise QuoteFileError(f"quote file holds no quotes: {path}")
    return quotes


# ----------------------------------------------------------------------------- encoding


def encode_quote(quote: str, limit: int | None = None) -> bytes:
    """Return ``quote`` as UTF-8 with CRLF line ends, cut to ``limit`` bytes if given."""
    lines = quote.splitlines() or [""]
    data = "\r\n".join(lines).encode("utf-8") + b"\r\n"
    if limit is not None and len(data) > limit:
        cut = data[: limit - 2].decode("utf-8", "ignore").encode("utf-8")
        data = cut + b"\r\n"
    return data


def decode_quote(data: bytes) -> str:
    """Return the text of a received quote: UTF-8 (bad bytes replaced), LF line ends."""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines())


# ------------------------------------------------------------------------------ servers


class LingerSweep:
    """Drops the connections that wait longer than ``linger`` seconds, with one timer.

    Every connection waits the same time, so deadlines come in arrival order: an
    insertion-ordered dict maps each waiting connection to its deadline, oldest first,
    and a connection costs one store when it starts waiting and one removal when it
    closes (no timer, no entry object of its own). Closed connections leave the table
    at once, so it holds only those still open.

    A wait takes ``deadline`` as its own instead of reading the clock (a call a
    connection): while anything waits the timer ticks every ``period`` (a quarter of
    the linger, at least 10 ms), drops the overdue and sets ``deadline`` to its time
    plus ``period`` plus ``linger``. So a client that never closes is dropped between
    ``linger`` and ``linger + period`` seconds after its wait began, the timer wakes the
    loop at most once a period (four times a linger, never once a loop turn however long
    turns take), and it stops once nobody waits.

    The table may be a server's own table of open connections (``table``, as
    :class:`QOTDFactory` keeps): an entry whose deadline is None is open but not waiting
    yet (its quote still being written) and is passed over. ``close(key)`` ends an
    overdue connection (by default ``key.loseConnection()``, for a table of transports).
    """

    #: How far past the waiting connections the table may grow (it never does: closed
    #: connections leave it at once); a bound for tests written against the old deque.
    compact_above = 64
    #: The shortest time between two ticks, in seconds (a linger of 0 must not spin).
    min_period = 0.01

    def __init__(
        self, reactor: IReactorTime, linger: float, table: dict[Any, float | None] | None = None,
        close: Callable[[Any], object] | None = None,
    ) -> None:
        self.reactor = reactor
        self.linger = linger
        #: Seconds between two ticks while anything waits.
        self.period = max(linger / 4, self.min_period)
        #: While False (the factory stopped listening), the timer goes once nobody waits.
        self.listening = True
        self._waiting: dict[Any, float | None] = table if table is not None else {}  # key -> deadline, oldest first
        self._own_table = table is None
        self._close = close if close is not None else _lose_connection
        seconds = reactor.seconds
        if getattr(seconds, "__func__", None) is ReactorBase.seconds:
            seconds = monotonic  # the stock reactors' clock itself, without a method call around it
        self._seconds = seconds
        #: The deadline of a wait starting now (valid while the timer ticks: see start()).
        self.deadline = 0.0
        self._call: Any = None

    def __len__(self) -> int:
        """How many connections are in the table (waiting, or about to)."""
        return len(self._waiting)

    def add(self, key: Any) -> Any:
        """Start ``key``'s wait (at the end of the table); pass what this returns to
        :meth:`discard` when it closes.

        (:class:`QOTD` writes this and :meth:`discard` out for its usual connection.)"""
        if self._call is None:
            self.start()
        waiting = self._waiting
        waiting.pop(key, None)  # an entry not waiting yet moves to the end, where its deadline belongs
        waiting[key] = self.deadline
        return key

    def start(self) -> None:
        """Start ticking (called when a wait starts and the timer is not running): this
        sets ``deadline``, so call it before a wait takes that."""
        self._tick_at(self._seconds())

    def _tick_at(self, now: float) -> None:
        period = self.period
        self.deadline = now + period + self.linger
        self._call = self.reactor.callLater(period, self._sweep)

    def change_linger(self, linger: float) -> None:
        """Wait ``linger`` seconds from now on, the waits in progress included (each
        counted from the tick before it began), keeping the deadlines in order."""
        old = self.linger + self.period
        self.linger = linger
        self.period = max(linger / 4, self.min_period)
        shift = linger + self.period - old
        waiting = self._waiting
        for key, deadline in waiting.items():
            if deadline is not None:
                waiting[key] = deadline + shift
        self.deadline += shift
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()
            self._call = self.reactor.callLater(0, self._sweep)  # at the new pace, from now

    def discard(self, key: Any) -> None:
        """The connection closed: it waits no more."""
        waiting = self._waiting
        if waiting.pop(key, _ABSENT) is not _ABSENT and not waiting and not self.listening:
            self.cancel()

    def cancel(self) -> None:
        """Forget the timer, and every wait unless the table is a server's own."""
        if self._own_table:
            self._waiting.clear()
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()

    def _sweep(self) -> None:
        self._call = None
        now = self._seconds()
        waiting = self._waiting
        overdue = []
        pending = False
        for key, deadline in waiting.items():
            if deadline is None:
                continue  # open, not waiting yet
            if deadline > now:
                pending = True
                break
            overdue.append(key)
        for key in overdue:
            del waiting[key]
            try:
                self._close(key)
            except Exception:
                log.error("Error closing a lingering QOTD connection", exc_info=True)
        if pending and self._call is None:
            self._tick_at(now)


_ABSENT = object()


def _lose_connection(transport: Any) -> None:
    transport.loseConnection()


def _close_protocol(protocol: Any) -> None:
    transport = protocol.transport
    if transport is not None:
        transport.loseConnection()


@implementer(IHalfCloseableProtocol, IPullProducer)
class QOTD(Protocol):
    """Sends the factory quoter's quote and closes the connection (RFC 865, TCP).

    Input is read and discarded, and the close is a half-close (FIN after the quote)
    followed by waiting for the client's own close: closing a socket with unread input
    makes the kernel send a reset, which can destroy the quote before the client reads
    it. A client that never closes is dropped after the factory's ``linger`` seconds
    (up to a quarter of that later: :class:`LingerSweep`).
    A long quote is written as a pull producer, one ``chunk_size`` piece whenever the
    transport's buffer has drained, so a client that never reads holds at most one
    piece of our memory, never the whole quote. Over the factory's connection limit a
    connection is closed at once, with no quote.
    """

    #: Bytes handed to the transport at a time for a quote longer than this.
    chunk_size = 64 * 1024

    #: The connection limit that counts this connection (a factory other than a
    #: :class:`QOTDFactory`, whose table of open connections is its count).
    _limit: ConnectionLimit | None = None
    #: What else the connection holds: the rest of a long quote, or its own linger timer.
    _data: bytes | None = None
    _offset = 0
    _timer: Any = None

    def connectionMade(self) -> None:
        factory = self.factory
        transport = self.transport
        try:
            usual = factory.usual
            half_close = transport.loseWriteConnection
        except AttributeError:  # a factory or a transport of another kind
            usual = None
        if usual is None:
            self._made_otherwise(factory, transport)
            return
        # The usual connection written out (a QOTDFactory with a static short quote and
        # its sweep, a transport that half-closes), without a method call: one entry in
        # the factory's table is the limit's count, the open connection a watcher sees
        # and the wait for the client's close; then the quote and our FIN.
        table, limit, data, sweep = usual
        if (len(table) >= limit.maximum or limit.refusing) and not limit.admits(len(table)):
            transport.loseConnection()
            return
        if sweep._call is None:
            sweep.start()
        table[self] = sweep.deadline
        transport.write(data)
        half_close()

    def _made_otherwise(self, factory: Any, transport: ITransport) -> None:
        """connectionMade for a factory that is not a :class:`QOTDFactory` (its quoter,
        its limit and its linger read if it has them), or a QOTDFactory's connection that
        is not the usual one (a quoter that varies, a long quote, no sweep yet, a
        transport that cannot half-close)."""
        limit = getattr(factory, "connection_limit", None)
        if limit is not None:
            if not limit.admit():
                transport.loseConnection()
                return
            if isinstance(factory, QOTDFactory):
                factory.connections[self] = None  # its table is the limit's count
            else:
                self._limit = limit
        self._quote(factory, transport, getattr(factory, "fixed_quote", None))

    def _quote(self, factory: Any, transport: Any, data: bytes | None) -> None:
        """Send the quote (``data``, or the quoter's next one), a long one as a producer."""
        if data is None:
            encode = getattr(factory, "encoded_quote", None)
            data = encode() if encode is not None else encode_quote(factory.quoter.getQuote())
        if len(data) > self.chunk_size:
            self._data = data
            transport.registerProducer(self, False)
            return
        transport.write(data)
        self._written()

    def resumeProducing(self) -> None:
        """The transport drained: hand it the next piece of the quote."""
        data = self._data
        if data is None:
            return
        start = self._offset
        self._offset = end = start + self.chunk_size
        self.transport.write(data[start:end])
        if end >= len(data):
            self._data = None
            self.transport.unregisterProducer()
            self._written()

    def pauseProducing(self) -> None:
        """Not used by a pull producer's transport; nothing to do."""

    def stopProducing(self) -> None:
        """The connection is going away: forget the rest of the quote."""
        self._data = None

    def _written(self) -> None:
        """The whole quote is written: send FIN after it, and wait a while for the client's close."""
        transport = self.transport
        half_close = getattr(transport, "loseWriteConnection", None)
        if half_close is None:
            transport.loseConnection()
            return
        half_close()
        factory = self.factory
        sweep = getattr(factory, "sweep", None)
        if sweep is None:
            make_sweep = getattr(factory, "linger_sweep", None)
            if make_sweep is None:
                self._wait_alone(factory, transport)
                return
            sweep = make_sweep(transport)
        table = getattr(factory, "connections", None)
        if table is None or self in table:  # (not if the connection has ended meanwhile)
            sweep.add(self)

    def _wait_alone(self, factory: Any, transport: ITransport) -> None:
        """A factory of its own (not a :class:`QOTDFactory`): one timer per connection."""
        reactor = getattr(factory, "reactor", None) or getattr(transport, "reactor", None)
        linger = getattr(factory, "linger", None)
        if reactor is not None and linger is not None:
            self._timer = reactor.callLater(linger, self._linger_expired)

    def _linger_expired(self) -> None:
        self._timer = None
        self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        """Whatever a client sends is read and dropped (RFC 865 ignores it)."""

    def readConnectionLost(self) -> None:
        """The client closed its side; the transport closes once our FIN is out too."""

    def writeConnectionLost(self) -> None:
        """Our FIN is out; the client's close (or the linger timer) ends the connection."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Leave the factory's table (the connection's place under the limit and its
        wait), tell the factory's watcher if it asks or the end was not clean, and let go
        of the transport: a TCP transport lets go of its protocol as it closes, but a
        wrapping one (TLS) keeps it, and the pair would wait for the cyclic collector."""
        factory = self.factory
        try:
            table = factory.connections
            watcher = factory.closes_watcher
        except AttributeError:  # a factory of another kind
            self._lost_otherwise()
            self.transport = None
            return
        try:
            del table[self]
        except KeyError:  # refused over the limit, or dropped by the sweep (it removes first)
            pass
        if not table:
            sweep = factory.sweep
            if sweep is not None and not sweep.listening:
                sweep.cancel()
        if watcher is not None and (factory.watch_every_close or type(reason) is not Failure
                                    or reason.type is not ConnectionDone):
            watcher(self, reason)
        self.transport = None

    def _lost_otherwise(self) -> None:
        """Give back the place under the limit; the rest of a long quote and a
        connection's own linger timer go."""
        limit = self._limit
        if limit is not None:
            self._limit = None
            limit.release()
        self._data = None
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()


@implementer(IConnectionTable)
class QOTDFactory(Factory):
    """Builds :class:`QOTD` protocols quoting from ``quoter``.

    ``max_connections`` caps the connections served at once (by default below the
    descriptor limit); ``linger`` is how long, in seconds, a connection waits for the
    client to close after the quote. ``reactor`` runs that timer (by default the
    connection's own reactor).

    The factory keeps one table of its open connections, ``connections`` (protocol ->
    the end of its wait for the client's close, None before the quote is written): its
    size is what the connection limit counts, the linger sweep walks it, and whoever
    runs the server reads it to see and stop them. ``closes_watcher(protocol, reason)``,
    when set, is told of every connection's end while ``watch_every_close`` is true,
    and of every end that is not a clean close.
    """

    protocol = QOTD
    #: The waits of connections that sent their quote (made with the factory when it has
    #: a reactor, else with the first connection).
    sweep: LingerSweep | None = None
    #: The quote on the wire when it never changes (a :class:`StaticQuoter`), else None.
    fixed_quote: bytes | None = None
    #: What the usual connection needs, read at once: (table, limit, quote, sweep) while
    #: the quote never changes, fits in one write and the sweep exists, else None.
    usual: tuple[dict[QOTD, float | None], ConnectionLimit, bytes, LingerSweep] | None = None

    def __init__(
        self, quoter: IQuoter, reactor: IReactorTime | None = None, *, max_connections: int | None = None,
        linger: float = 10.0,
    ) -> None:
        self.reactor = reactor
        self.connections: dict[QOTD, float | None] = {}
        #: Told of connection ends (see above); None: nobody asks.
        self.closes_watcher: Callable[[QOTD, Failure], object] | None = None
        self.watch_every_close = False
        self.sweep = None
        self.linger = linger
        if reactor is not None:
            self.sweep = LingerSweep(reactor, linger, self.connections, _close_protocol)
        self.connection_limit = ConnectionLimit(max_connections, "QOTD server", log, self.connections)
        self._encoded: dict[str, bytes] = {}
        self.quoter = quoter

    def _find_usual(self) -> None:
        """Set ``usual`` for the current quoter and sweep (the protocol's ``chunk_size`` as
        it is now: a protocol class given later with a smaller one still gets quotes up to
        the old size in one write)."""
        data = self.fixed_quote
        sweep = self.sweep
        limit = getattr(self, "connection_limit", None)
        if data is None or sweep is None or limit is None or len(data) > self.protocol.chunk_size:
            self.usual = None
        else:
            self.usual = (self.connections, limit, data, sweep)

    @property
    def linger(self) -> float:
        """Seconds a connection waits for the client's close after the quote."""
        return self._linger

    @linger.setter
    def linger(self, linger: float) -> None:
        if not (linger >= 0 and linger != float("inf")):
            raise ValueError(f"linger must be a finite number of seconds, not {linger!r}")
        self._linger = linger
        if self.sweep is not None:
            self.sweep.change_linger(linger)

    @property
    def quoter(self) -> IQuoter:
        """Where the quotes come from."""
        return self._quoter

    @quoter.setter
    def quoter(self, quoter: IQuoter) -> None:
        self._quoter = quoter
        self.fixed_quote = encode_quote(quoter.quote) if type(quoter) is StaticQuoter else None
        self._find_usual()

    def linger_sweep(self, transport: ITransport) -> LingerSweep:
        """The sweep that drops connections whose client has not closed within ``linger``
        seconds of the quote (one timer for all of them): made with the first connection,
        on the factory's reactor or else the transport's."""
        sweep = self.sweep
        if sweep is None:
            reactor: IReactorTime = self.reactor or getattr(transport, "reactor")  # a transport has its reactor
            sweep = self.sweep = LingerSweep(reactor, self.linger, self.connections, _close_protocol)
            self._find_usual()
        return sweep

    def doStart(self) -> None:
        super().doStart()
        if self.sweep is not None:
            self.sweep.listening = True

    def doStop(self) -> None:
        super().doStop()
        sweep = self.sweep
        if sweep is not None and not self.numPorts:
            sweep.listening = False
            if not len(sweep):
                sweep.cancel()

    def encoded_quote(self) -> bytes:
        """The next quote as bytes on the wire; one copy per distinct quote is kept and shared."""
        quote = self.quoter.getQuote()
        data = self._encoded.get(quote)
        if data is None:
            if len(self._encoded) >= 256:
                self._encoded.clear()
            data = self._encoded[quote] = encode_quote(quote)
        return data


class QOTDUDP(DatagramProtocol):
    """Answers every datagram with a quote (RFC 865, UDP); the datagram is ignored."""

    def __init__(self, quoter: IQuoter) -> None:
        self.quoter = quoter

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.transport.write(encode_quote(self.quoter.getQuote(), UDP_QUOTE_LIMIT), addr)


# ------------------------------------------------------------------------------ clients


def _check_quote(data: bytes) -> str:
    if not data.strip():
        raise QOTDError("the server closed the connection without sending a quote")
    return decode_quote(data)


def get_quote(reactor: ReactorLike, host: str, port: int = QOTD_PORT, timeout: float = 30) -> Deferred:
    """Connect over TCP and return a Deferred of the quote text (LF line ends).

    Fails with the connection error, TimeoutError after ``timeout`` seconds, QOTDError
    when the server sends nothing, or ReplyTooLong past 64 KiB.
    """
    return fetch(reactor, host, port, timeout=timeout, limit=CLIENT_MAX_BYTES).addCallback(_check_quote)


class QOTDUDPClient(DatagramProtocol):
    """Sends one datagram to a QOTD server and fires ``deferred`` with the answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        # Cancelling closes the port; the Deferred then fails with CancelledError.
        self.deferred: Deferred = Deferred(lambda _: self.transport and self.transport.stopListening())

    def startProtocol(self) -> None:
        self.transport.connect(self.host, self.port)
        self.transport.write(b"")

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        try:
            self.finish(_check_quote(datagram))
        except QOTDError as exc:
            self.finish(Failure(exc))

    def connectionRefused(self) -> None:
        self.finish(Failure(ConnectionRefusedError(string=f"{self.host}:{self.port} (UDP)")))

    def finish(self, outcome: Any) -> None:
        """Fire ``deferred`` once (quote or Failure) and close the port."""
        if self.deferred.called:
            return
        if self.transport is not None:
            self.transport.stopListening()
        if isinstance(outcome, Failure):
            self.deferred.errback(outcome)
        else:
            self.deferred.callback(outcome)


def get_quote_udp(reactor: ReactorLike, host: str, port: int = QOTD_PORT, timeout: float = 5) -> Deferred:
    """Ask over UDP and return a Deferred of the quote; TimeoutError if none comes back."""

    def send(address: str) -> Deferred:
        client = QOTDUDPClient(address, port)
        interface = "::" if ":" in address else "0.0.0.0"
        reactor.listenUDP(0, client, interface=interface)

        def expire() -> None:
            client.finish(
                Failure(TimeoutError(string=f"no quote from {host}:{port} (UDP) after {timeout:g} s"))
            )

        deadline = reactor.callLater(timeout, expire)

        def done(result: Any) -> Any:
            if deadline.active():
                deadline.cancel()
            return result

        return client.deferred.addBoth(done)

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return reactor.resolve(host).addCallback(send)
    return send(host)

