"""Handles: what starting a catalogue entry returns, to stop it and watch its output.

Also the listening helpers every server entry uses, so that tracking connections,
logging them and closing them on ``stop()`` is written once.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from inspector.catalog.connlog import ConnectionLog
from inspector.defer import Deferred, DeferredList, maybeDeferred, succeed
from inspector.error import ConnectionDone
from inspector.failure import Failure
from inspector.interfaces import IConnectionTable
from inspector.protocol import BaseProtocol, Factory, connectionDone

if TYPE_CHECKING:
    from inspector.catalog.model import Entry

log = logging.getLogger("inspector.catalog")

__all__ = [
    "Handle", "ServerHandle", "ClientHandle", "ExchangeError", "listen_tcp", "listen_udp", "one_shot",
]


class ExchangeError(Exception):
    """A client's exchange went wrong without a connection error: no reply in time,
    no sign-on in time, or the server closed before the exchange was over."""


class Handle:
    """Something launched from the catalogue: stop it, watch its output.

    ``description`` is one short line for lists ("echo server on 127.0.0.1:8007/tcp").
    ``done`` fires with None (or a client's result) when it ends by itself or is
    stopped, and errbacks if a client fails. Output lines (replies, quotes, chat)
    go to every ``on_output`` callback; status notes (connected, closed) go to the
    log. The last ``TRANSCRIPT`` of both are kept in ``transcript``.
    """

    TRANSCRIPT = 500
    accepts_lines = False

    def __init__(self, entry: Entry, description: str) -> None:
        self.entry = entry
        self.description = description
        self.done: Deferred = Deferred()
        self.transcript: deque[str] = deque(maxlen=self.TRANSCRIPT)
        self._listeners: list[Callable[[str], Any]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"

    @property
    def running(self) -> bool:
        """True until ``done`` has fired."""
        return not self.done.called

    def on_output(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(line)`` for every output line from now on."""
        self._listeners.append(callback)

    def output(self, line: str) -> None:
        """Record ``line`` and pass it to the listeners (exceptions there are logged)."""
        self.transcript.append(line)
        for callback in list(self._listeners):
            try:
                callback(line)
            except Exception:
                log.exception("output listener %r failed", callback)

    def note(self, text: str) -> None:
        """Record a status event (connected, closed, failed): logged and kept in the
        transcript as "-- text", but not passed to the output listeners."""
        log.info("%s: %s", self.description, text)
        self.transcript.append(f"-- {text}")

    def finish(self, result: Any = None) -> None:
        """Fire ``done`` once, with a result or a Failure."""
        if self.done.called:
            return
        if isinstance(result, Failure):
            self.done.errback(result)
        else:
            self.done.callback(result)

    def stop(self) -> Deferred:
        """Stop; the Deferred fires once everything is closed."""
        raise NotImplementedError

    def send_line(self, text: str) -> Deferred:
        """Send one line (clients of line protocols only)."""
        raise TypeError(f"{self.entry.title} does not send lines")


class ServerHandle(Handle):
    """A listening server: its port, and the connections it accepted.

    ``stop()`` stops listening and closes every accepted connection; its Deferred
    fires when the port and the connections are all closed. Connections are logged
    on the "inspector.catalog" logger as they open and close.
    """

    def __init__(self, entry: Entry, label: str, factory: Any = None) -> None:
        super().__init__(entry, label)
        self.label = label
        self.port: Any = None
        #: Open connections, as protocols (the values are not this handle's: a factory
        #: that keeps its own table of open connections lends it, see ``_track``).
        self.connections: dict[Any, Any] = {}
        #: What stop() waits for: protocol -> the Deferred fired when it has closed (made
        #: only then, so a churn of short connections pays for no Deferred).
        self._waiters: dict[Any, Deferred] = {}
        #: Logs connections one by one at first, then one summary line per interval.
        self.connection_log = ConnectionLog(label, log, open_count=lambda: len(self.connections))
        #: The open connections whose open was logged one by one: protocol -> peer address.
        self._shown: dict[Any, Any] = {}
        #: Protocol class -> its subclass that tells this handle of each connection's start
        #: (and end, unless the factory tells of ends).
        self._tracked: dict[type, type] = {}
        self._tracked_classes: set[type] = set()
        #: The factory whose own table is ``connections`` and which tells of ends, if any.
        self._lender: Any = None
        if factory is not None:
            self._track(factory)

    @property
    def address(self) -> Any:
        """The address the port is bound to (the real port when 0 was asked for)."""
        return self.port.getHost()

    def listening(self, port: Any) -> None:
        """Record the listening ``port`` and describe and log where it listens."""
        self.port = port
        self.connection_log.reactor = getattr(port, "reactor", None)
        host = port.getHost()
        where = f"[{host.host}]:{host.port}" if ":" in host.host else f"{host.host}:{host.port}"
        self.description = f"{self.label} on {where}/{self.entry.transport}"
        log.info("%s listening on %s (%s)", self.label, where, self.entry.transport)

    def _track(self, factory: Any) -> None:
        """Learn of each connection ``factory`` builds, so stop() can close them and the
        log can report them, at the price of a dict store and a log count per connection.

        The protocols are made of a subclass of their class whose ``makeConnection`` and
        ``connectionLost`` tell the handle: the factory's ``protocol`` is replaced by it.
        A factory with a ``buildProtocol`` of its own has it wrapped (once, not per
        connection), so that a protocol built another way is given the subclass as its
        class. No closure or wrapper per connection, no reference cycle through one for
        the garbage collector to find, and for the usual factory no call of its own.
        (A ``protocol`` given to such a factory after this is not followed: set it first.)

        A factory that keeps its own table of open connections and tells of their ends
        (:class:`~inspector.interfaces.IConnectionTable`, as
        :class:`~inspector.protocols.qotd.QOTDFactory` does) lends that table as ``connections``, and its
        protocols' subclass only tells of the start: no call of ours at the end of a
        connection unless its open was logged, stop() waits for it, or it failed.
        """
        base = getattr(factory, "protocol", None)
        lends_table = IConnectionTable.providedBy(factory)
        if (isinstance(base, type) and lends_table
                and getattr(factory.buildProtocol, "__func__", None) is Factory.buildProtocol):
            self.connections = factory.connections
            self._lender = factory
            factory.closes_watcher = self._ended
            factory.protocol = self._tracked_class(base, ends=False)
            return
        if isinstance(base, type):
            factory.protocol = self._tracked_class(base)
            if getattr(factory.buildProtocol, "__func__", None) is Factory.buildProtocol:
                return  # it builds ``factory.protocol``: every protocol has the subclass
        build = factory.buildProtocol
        tracked = self._tracked_classes

        def buildProtocol(addr: Any) -> Any:
            protocol = build(addr)
            if protocol is not None and type(protocol) not in tracked:  # not ``factory.protocol``
                self._adopt(protocol, addr)
            return protocol

        factory.buildProtocol = buildProtocol

    def _tracked_class(self, base: type, ends: bool = True) -> type:
        """``base`` with a ``makeConnection`` that also tells this handle (and registers the
        connection), and with ``ends`` a ``connectionLost`` too (made once per class)."""
        tracked = self._tracked.get(base)
        if tracked is not None:
            return tracked
        if base in self._tracked_classes:
            return base
        namespace = {
            "__slots__": (), "__module__": base.__module__, "__qualname__": base.__qualname__,
            "__doc__": base.__doc__, "makeConnection": self._starting(base, register=ends),
        }
        if ends:
            namespace["connectionLost"] = self._ending(getattr(base, "connectionLost"))  # noqa: B009 - any class
        tracked = type(base.__name__, (base,), namespace)
        self._tracked[base] = tracked
        self._tracked_classes.add(tracked)
        return tracked

    def _starting(self, base: type, register: bool = True) -> Callable[..., None]:
        """A ``makeConnection(protocol, transport)`` that counts or logs the new connection
        (adding it to ``connections`` if ``register``) and then does what ``base``'s does:
        written out when that is BaseProtocol's own (attach the transport, call
        connectionMade), so the usual protocol pays no extra call."""
        base_make: Any = getattr(base, "makeConnection")  # noqa: B009 - any class
        if base_make is BaseProtocol.makeConnection:
            base_make = None
        connections = self.connections
        connection_log = self.connection_log
        opened = self._opened

        def makeConnection(protocol: Any, transport: Any) -> None:
            if register:
                connections[protocol] = None
            if connection_log.counting:  # a churn: counted for the summary line, no call
                connection_log.counted += 1
            else:
                opened(protocol, _peer_of(transport))
            if base_make is None:  # BaseProtocol.makeConnection, written out
                protocol.connected = 1
                protocol.transport = transport
                protocol.connectionMade()
            else:
                base_make(protocol, transport)

        return makeConnection

    def _opened(self, protocol: Any, addr: Any) -> None:
        """Hand a new connection from ``addr`` to the log (which may just count it)."""
        if self.connection_log.opened(addr):
            self._shown[protocol] = addr
            self._watch_ends()

    def _watch_ends(self) -> None:
        """Ask the lending factory to tell of every end while one is awaited or its open
        was logged, and of failed ones only otherwise."""
        lender = self._lender
        if lender is not None:
            lender.watch_every_close = bool(self._shown or self._waiters)

    def _ended(self, protocol: Any, reason: Any, transport: Any = None) -> None:
        """Connection ``protocol`` ended (told by the lending factory, or by the tracked
        ``connectionLost`` when there is something to do): log the close if its open was
        logged or it failed, fire what stop() waits for."""
        closed = self._waiters.pop(protocol, None) if self._waiters else None
        addr = self._shown.pop(protocol, None) if self._shown else None
        if addr is None and _failed(reason):
            addr = _peer_of(protocol.transport if transport is None else transport)
        if addr is not None:
            self.connection_log.closed(reason, addr)
        self._watch_ends()
        if closed is not None and not closed.called:
            closed.callback(None)

    def _adopt(self, protocol: Any, addr: Any) -> None:
        """Make ``protocol``'s class the one that tells this handle of the connection's
        start and end (or, for a class that cannot be swapped, tell it now and wrap the end)."""
        try:
            protocol.__class__ = self._tracked_class(type(protocol))
        except TypeError:  # a class whose instances cannot change class: wrap this one
            self.connections[protocol] = None
            self._opened(protocol, addr)
            self._wrap(protocol)

    def _wrap(self, protocol: Any) -> None:
        """Tell this handle when ``protocol``'s connection ends by wrapping its own
        ``connectionLost`` (the rare protocol whose class cannot be swapped)."""
        lost = protocol.connectionLost
        ending = self._ending(lambda _protocol, reason: lost(reason))
        protocol.connectionLost = lambda reason=connectionDone: ending(protocol, reason)

    def _ending(self, base_lost: Callable[..., Any]) -> Callable[..., None]:
        """A ``connectionLost(protocol, reason)`` that runs ``base_lost`` and then forgets
        the connection, logs its close if its open was logged or it ended in an error, and
        fires what stop() waits for."""
        connections = self.connections
        waiters = self._waiters
        shown = self._shown
        ended = self._ended

        def connectionLost(protocol: Any, reason: Any = connectionDone) -> None:
            transport = protocol.transport  # (a protocol may let go of it as it closes)
            try:
                base_lost(protocol, reason)
            finally:
                connections.pop(protocol, None)
                # A clean close nobody waits for and whose open was only counted: no call.
                if waiters or shown or not (type(reason) is Failure and reason.type is ConnectionDone):
                    ended(protocol, reason, transport)

        return connectionLost

    def closing(self, protocol: Any) -> Deferred:
        """A Deferred that fires when the open connection of ``protocol`` has closed
        (at once if it is not open)."""
        if protocol not in self.connections:
            return succeed(None)
        closed = self._waiters.get(protocol)
        if closed is None:
            closed = self._waiters[protocol] = Deferred()
            self._watch_ends()
        return closed

    def all_closed(self) -> Deferred:
        """A Deferred that fires when every connection open now has closed."""
        return DeferredList([self.closing(protocol) for protocol in list(self.connections)],
                            consumeErrors=True)

    def stop(self) -> Deferred:
        if self.done.called:
            return succeed(None)
        waits = []
        if self.port is not None:
            waits.append(maybeDeferred(self.port.stopListening))
        for protocol in list(self.connections):
            waits.append(self.closing(protocol))
            transport = protocol.transport
            if transport is not None:
                # A registered pull producer would hold the close back until it
                # unregisters; the server is going away, so drop any producer.
                if getattr(transport, "producer", None) is not None:
                    transport.unregisterProducer()
                transport.loseConnection()
        log.info("%s stopping", self.description)

        def stopped(_: Any) -> None:
            self.connection_log.flush()
            log.info("%s stopped", self.description)
            self.finish(None)

        return DeferredList(waits, consumeErrors=True).addCallback(stopped)


class ClientHandle(Handle):
    """A client: connecting, maybe exchanging lines, finished when the exchange is over."""

    def __init__(self, entry: Entry, description: str) -> None:
        super().__init__(entry, description)
        self.accepts_lines = entry.accepts_lines
        self._stopper: Callable[[], Any] | None = None
        self._sender: Callable[[str], Deferred] | None = None
        self._closer: Callable[[], Any] | None = None

    def attach(
        self, stop: Callable[[], Any], send: Callable[[str], Deferred] | None = None,
        close: Callable[[], Any] | None = None,
    ) -> None:
        """Give the handle its client's ``stop()`` (start closing), ``send(text)`` and
        ``close()`` (end the exchange once connected; default: ``stop``)."""
        self._stopper = stop
        self._sender = send
        self._closer = close

    #: True once ``stop()`` was asked: a failure after that (an attempt cut short)
    #: ends the client normally instead of failing ``done``.
    stopping = False

    def finish(self, result: Any = None) -> None:
        if self.stopping and isinstance(result, Failure):
            if not self.done.called:
                self.note(f"stopped ({result.getErrorMessage()})")
            result = None
        super().finish(result)

    def stop(self) -> Deferred:
        if not self.done.called and self._stopper is not None:
            self.stopping = True
            self._stopper()
        if self.done.called:
            return succeed(None)
        return self._waiter()

    def _waiter(self) -> Deferred:
        """A Deferred fired with None once ``done`` has a result (which passes on unchanged)."""
        waiter: Deferred = Deferred()

        def fire(result: Any) -> Any:
            waiter.callback(None)
            return result

        self.done.addBoth(fire)
        return waiter

    def close(self) -> Deferred:
        """End the exchange normally, as at the end of typed input: once connected (and,
        for IRC, signed on) close the connection. Unlike :meth:`stop`, a failure on the
        way (refused, no sign-on in time) still fails ``done``."""
        if self._closer is None:
            return self.stop()
        if not self.done.called:
            self._closer()
        if self.done.called:
            return succeed(None)
        return self._waiter()

    def send_line(self, text: str) -> Deferred:
        if not self.accepts_lines:
            return super().send_line(text)
        if self._sender is None or self.done.called:
            raise RuntimeError(f"{self.description}: not connected")
        return self._sender(text)


def _failed(reason: Any) -> bool:
    """Whether a connection that ended for ``reason`` (a Failure, or what a protocol
    passed instead) failed rather than closed cleanly."""
    if type(reason) is Failure and reason.type is ConnectionDone:
        return False
    value = getattr(reason, "value", reason)
    return value is not None and not isinstance(value, ConnectionDone)


def _peer_of(transport: Any) -> Any:
    """Where ``transport``'s connection came from ("an unknown peer" if it cannot say)."""
    try:
        return transport.getPeer()
    except Exception:  # no transport, or one that cannot say
        return "an unknown peer"


def listen_tcp(
    entry: Entry, reactor: Any, factory: Any, port: int, interface: str, endpoint: str | None
) -> ServerHandle:
    """Listen with ``factory`` on ``endpoint`` (a string) or ``interface:port``.

    The handle (and its ``done`` Deferred) is made only once listening worked, so a
    busy port leaves no Deferred behind that would look pending forever.
    """
    if not endpoint:
        listening_port = reactor.listenTCP(port, factory, interface=interface)
        handle = ServerHandle(entry, entry.title.lower(), factory)
        handle.listening(listening_port)
        return handle
    from inspector.endpoints import serverFromString

    outcome: list[Any] = []
    listening = serverFromString(reactor, endpoint).listen(factory)
    listening.addBoth(outcome.append)
    if outcome and isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    handle = ServerHandle(entry, entry.title.lower(), factory)
    if not outcome:  # an endpoint that listens later: record the port when it does
        listening.addCallback(handle.listening)
    else:
        handle.listening(outcome[0])
    return handle


def listen_udp(entry: Entry, reactor: Any, protocol: Any, port: int, interface: str) -> ServerHandle:
    """Bind the datagram ``protocol`` to ``interface:port``."""
    listening_port = reactor.listenUDP(port, protocol, interface=interface)
    handle = ServerHandle(entry, entry.title.lower())
    handle.listening(listening_port)
    return handle


def one_shot(entry: Entry, description: str, deferred: Deferred, show: Callable[[Any], str]) -> Handle:
    """A handle for a client whose whole life is one Deferred (QOTD, finger)."""
    handle = ClientHandle(entry, description)

    def got(result: Any) -> None:
        handle.output(show(result))
        handle.finish(result)

    def failed(reason: Failure) -> None:
        if not handle.stopping:  # a stop (cancel) is reported by finish()
            handle.note(f"failed: {reason.getErrorMessage()}")
        handle.finish(reason)

    handle.attach(deferred.cancel)
    deferred.addCallbacks(got, failed)
    return handle
