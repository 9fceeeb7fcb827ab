"""The proxy: each accepted client gets its own upstream connection, relayed both ways.

:class:`Proxy` is the listening side's protocol factory. For every client it makes a
:class:`ProxySession`: the client leg (the accepted connection), the upstream leg (a
connection made with a client endpoint) and two :class:`~inspector.proxy.pipe.Pipe`\\ s,
``up`` (client to server) and ``down`` (server to client), which apply the proxy's
:class:`~inspector.proxy.faults.Faults`. A half-close is forwarded; a reset on one leg
resets the other; an upstream that cannot be reached closes the client, with the
reason logged. Each session ends with one log line saying who, how much and how.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from zope.interface import implementer

from inspector.defer import Deferred, DeferredList, succeed
from inspector.dissect.live import LiveDissector
from inspector.error import ConnectionDone
from inspector.failure import Failure
from inspector.interfaces import IHalfCloseableProtocol
from inspector.protocol import Factory, Protocol, connectionDone
from inspector.proxy import tap
from inspector.proxy.faults import Direction, Faults, check_direction
from inspector.proxy.pipe import HeldChunk, Pipe

if TYPE_CHECKING:
    from inspector.interfaces import IDelayedCall, IListeningPort, ReactorLike
    from inspector.proxy.pipe import StreamTransport

__all__ = ["Proxy", "ProxySession", "ClientLeg", "UpstreamLeg", "reset", "session_for_connection", "KEEP_ENDED"]

log = logging.getLogger("inspector.proxy")

#: Ended sessions a proxy keeps for inspection (the oldest are forgotten).
KEEP_ENDED = 100
#: Seconds :meth:`Proxy.stop` lets a session's legs drain before resetting them.
STOP_GRACE = 2.0


def _address(addr: Any) -> str:
    host = getattr(addr, "host", None)
    port = getattr(addr, "port", None)
    if host is None:
        return str(addr)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _size(n: int) -> str:
    if n < 10_000:
        return f"{n} B"
    if n < 10_000_000:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1048576:.1f} MiB"


def reset(transport: StreamTransport | None) -> None:
    """Close ``transport`` with a TCP reset (RST) rather than a FIN, dropping what is unsent."""
    if transport is None or getattr(transport, "disconnected", False):
        return
    try:
        handle = transport.getHandle()  # type: ignore[attr-defined]
        handle.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (AttributeError, OSError):
        pass  # not a socket (a test double): a plain abort
    transport.abortConnection()


def _no_delay(transport: Any) -> None:
    """Nagle off: the relay must not hold back small writes (slices, pings) the peers sent at once."""
    try:
        transport.setTcpNoDelay(True)
    except (AttributeError, OSError):
        pass  # not a TCP socket


@implementer(IHalfCloseableProtocol)
class _Leg(Protocol):
    """One side of a session; passes what it reads to its pipe and its end to the session."""

    side = ""

    def __init__(self, session: ProxySession) -> None:
        self.session = session
        name = session.proxy.dissector
        self.tap: LiveDissector | None = LiveDissector(self, name) if name else None
        self.pipe: Pipe  # the pipe this leg is the source of

    def dataReceived(self, data: bytes) -> None:
        self.pipe.push(data)

    def readConnectionLost(self) -> None:
        self.pipe.source_ended()

    def writeConnectionLost(self) -> None:
        pass  # our FIN went out after the other leg's; the transport closes once both went

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.tap is not None:
            self.tap.flush()
        self.session._leg_lost(self, reason)


class ClientLeg(_Leg):
    """The accepted connection from the client."""

    side = "client"

    def __init__(self, session: ProxySession) -> None:
        super().__init__(session)
        self.pipe = session.up

    def connectionMade(self) -> None:
        _no_delay(self.transport)
        self.session._client_made(self)


class UpstreamLeg(_Leg):
    """The connection the proxy made to the server for one client."""

    side = "upstream"

    def __init__(self, session: ProxySession) -> None:
        super().__init__(session)
        self.pipe = session.down

    def connectionMade(self) -> None:
        _no_delay(self.transport)
        self.session._upstream_made(self)


class ProxySession:
    """One client relayed to the server: two legs, two pipes, and how it ended.

    ``state`` is ``connecting`` (client accepted, upstream not yet connected), ``open``,
    or ``ended``; ``ended_how`` says why ("client closed", "server reset", "cut after
    100 bytes", "upstream unreachable: ..."). Directions are ``up`` (client to server)
    and ``down`` (server to client).
    """

    def __init__(self, proxy: Proxy, number: int, client_address: str) -> None:
        self.proxy = proxy
        self.id = number
        self.reactor = proxy.reactor
        self.faults = proxy.faults
        self.client_address = client_address
        self.upstream_address = proxy.upstream_label
        self.started = self.reactor.seconds()
        self.ended: float | None = None
        self.state = "connecting"
        self.ended_how = ""
        self.client: ClientLeg | None = None
        self.upstream: UpstreamLeg | None = None
        self.up = Pipe("up", self.reactor, self.faults, self._allowance, self._wrote,
                       lambda: self._forward_end("up"), self._held)
        self.down = Pipe("down", self.reactor, self.faults, self._allowance, self._wrote,
                         lambda: self._forward_end("down"), self._held)
        self.relayed = 0  # both directions, as written
        self.closed: Deferred = Deferred()
        self._lost: set[str] = set()
        self._cut_timer: IDelayedCall | None = None
        self._connecting: Deferred | None = None
        self._trace_ids = (0, 0)
        self._first_end = ""  # "client" or "server": who sent the first FIN
        self._schedule_cut()

    def __repr__(self) -> str:
        return f"<ProxySession {self.id} {self.client_address} -> {self.upstream_address} {self.state}>"

    # -- the public API ------------------------------------------------------------------------

    def pipe(self, direction: str) -> Pipe:
        """The pipe carrying ``direction`` (``up`` or ``down``)."""
        return self.up if check_direction(direction) == "up" else self.down

    def held(self, direction: str) -> list[HeldChunk]:
        """The chunks held going ``direction``, oldest first (a copy of the list)."""
        return list(self.pipe(direction).held)

    def release(self, direction: str, chunk_id: int | None = None) -> int:
        """Send the held chunk ``chunk_id`` (or all held ones, in order); return the bytes sent.

        The hold stays on: what arrives next is held again (lift it with ``faults.hold_up =
        False``, which releases everything)."""
        count = self.pipe(direction).release(chunk_id)
        self.proxy._notify("released", self)
        return count

    def edit(self, direction: str, chunk_id: int, data: bytes) -> None:
        """Replace the bytes of held chunk ``chunk_id`` before it is released."""
        self.pipe(direction).edit(chunk_id, data)
        self.proxy._notify("edited", self)

    def drop(self, direction: str, chunk_id: int | None = None) -> int:
        """Discard held chunk ``chunk_id`` (or all held ones); return the bytes dropped."""
        count = self.pipe(direction).drop(chunk_id)
        self.proxy._notify("dropped", self)
        return count

    def inject(self, direction: str, data: bytes) -> None:
        """Send ``data`` going ``direction`` as if a peer had written it: not held, no added
        latency, after what is already on its way (bandwidth and slicing still apply)."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"inject takes bytes, not {type(data).__name__}")
        pipe = self.pipe(direction)
        if self.state == "ended" or pipe.eof_sent:
            raise RuntimeError(f"session {self.id} can no longer send {direction}: it has ended")
        pipe.enqueue(bytes(data), delay=False)
        self.proxy._notify("injected", self)

    def close(self, reset_legs: bool = False) -> Deferred:
        """End the session: both legs closed (with a reset if ``reset_legs``); fires when both are."""
        self._end("closed by the proxy", reset_legs or self.faults.reset)
        return self._waiter()

    def conn_ids(self) -> tuple[int, int]:
        """The trace's connection numbers of the (client, upstream) legs; 0 where unknown
        (tracing off, or the upstream not connected). Kept after the session ends."""
        if tap.tracing():
            now = (tap.conn_id(self.client), tap.conn_id(self.upstream))
            self._trace_ids = (now[0] or self._trace_ids[0], now[1] or self._trace_ids[1])
        return self._trace_ids

    @property
    def bytes_up(self) -> int:
        """Bytes written to the server (after faults, with injections)."""
        return self.up.relayed

    @property
    def bytes_down(self) -> int:
        """Bytes written to the client."""
        return self.down.relayed

    def summary(self) -> str:
        """One line: who, how much each way, for how long, and how it ended (or its state)."""
        end = self.ended if self.ended is not None else self.reactor.seconds()
        how = self.ended_how or self.state
        return (f"session {self.id}: {self.client_address} -> {self.upstream_address}: "
                f"{_size(self.bytes_up)} up, {_size(self.bytes_down)} down, "
                f"{end - self.started:.3f} s, {how}")

    # -- the legs ------------------------------------------------------------------------------

    def _client_made(self, leg: ClientLeg) -> None:
        self.client = leg
        self.up.source = leg.transport
        self.up.source_tap = leg.tap
        self.conn_ids()
        if self.state == "ended":
            reset(leg.transport) if self.faults.reset else leg.transport.loseConnection()
            return
        self._connect()

    def _connect(self) -> None:
        proxy = self.proxy
        try:
            endpoint = proxy._client_endpoint()
            self._connecting = endpoint.connect(_UpstreamFactory(self))
        except Exception as exc:  # noqa: BLE001 - any failure to start is reported the same way
            self._upstream_failed(Failure(exc))
            return
        self._connecting.addErrback(self._upstream_failed)

    def _upstream_failed(self, reason: Failure) -> None:
        self._connecting = None
        if self.state == "ended":
            return
        message = reason.getErrorMessage()
        log.warning("session %d: cannot reach upstream %s: %s; closing the client %s",
                    self.id, self.upstream_address, message, self.client_address)
        self._end(f"upstream unreachable: {message}", self.faults.reset)

    def _upstream_made(self, leg: UpstreamLeg) -> None:
        self._connecting = None
        self.upstream = leg
        if self.state == "ended":
            reset(leg.transport) if self.faults.reset else leg.transport.loseConnection()
            return
        self.state = "open"
        if leg.transport is not None:
            self.upstream_address = _address(leg.transport.getPeer())
        client = self.client
        assert client is not None and client.transport is not None and leg.transport is not None
        self.down.source = leg.transport
        self.down.source_tap = leg.tap
        self.up.attach_sink(leg.transport, leg.tap)
        self.down.attach_sink(client.transport, client.tap)
        label = self.proxy.label or _address(client.transport.getHost())
        tap.link(client.transport, leg.transport, f"proxy {label}")
        self.conn_ids()  # remembered: the trace forgets a connection's number once it closes
        self.proxy._notify("connected", self)
        if self.down.eof:
            self.down.pump()

    def _held(self, chunk: HeldChunk) -> None:
        self.proxy._notify("held", self)

    def _forward_end(self, direction: Direction) -> None:
        """Everything before a FIN going ``direction`` went out: forward the FIN (or reset)."""
        pipe = self.up if direction == "up" else self.down
        who = "client" if direction == "up" else "server"
        self._first_end = self._first_end or who
        if self.faults.reset:
            self._end(f"closed by the {who} (forwarded as a reset)", True)
            return
        sink = pipe.sink
        if sink is not None and not getattr(sink, "disconnected", False):
            sink.unregisterProducer()
            if ("client" if direction == "up" else "upstream") in self._lost:
                sink.loseConnection()  # its source is gone for good: nothing can answer it
            else:
                sink.loseWriteConnection()

    def _leg_lost(self, leg: _Leg, reason: Failure) -> None:
        """A leg's connection is gone. Unclean (a reset, an error): reset the other leg.
        Clean (both of its directions ended): what it sent still goes on; nothing more
        can reach it; once both legs are gone the session has ended."""
        side = leg.side
        self._lost.add(side)
        if self.state != "ended":
            if reason.check(ConnectionDone) is None:
                who = "client" if side == "client" else "server"
                self._end(f"{who} reset ({reason.getErrorMessage()})", True)
            else:
                (self.up if side == "client" else self.down).source_ended()
                (self.down if side == "client" else self.up).close()  # toward the lost leg
                if self._lost >= {"client", "upstream"}:
                    self._end(f"closed by the {self._first_end or side}", False)
        if self._lost >= self._expected_legs():
            self._finished()

    def _expected_legs(self) -> set[str]:
        legs = {"client"} if self.client is not None else set()
        if self.upstream is not None:
            legs.add("upstream")
        return legs

    # -- ending -----------------------------------------------------------------------------

    def _allowance(self) -> int | None:
        limit = self.faults.cut_after_bytes
        if limit is None:
            return None
        return max(0, limit - self.relayed)

    def _wrote(self, n: int) -> None:
        self.relayed += n
        limit = self.faults.cut_after_bytes
        if limit is not None and self.relayed >= limit:
            self._end(f"cut after {limit} bytes", self.faults.reset)

    def _schedule_cut(self) -> None:
        if self._cut_timer is not None and self._cut_timer.active():
            self._cut_timer.cancel()
        self._cut_timer = None
        seconds = self.faults.cut_after_seconds
        if seconds is None or self.state == "ended":
            return
        left = self.started + seconds - self.reactor.seconds()
        self._cut_timer = self.reactor.callLater(max(0.0, left), self._cut_by_time, seconds)

    def _cut_by_time(self, seconds: float) -> None:
        self._cut_timer = None
        self._end(f"cut after {seconds:g} s", self.faults.reset)

    def _faults_changed(self, name: str) -> None:
        if self.state == "ended":
            return
        if name == "cut_after_seconds":
            self._schedule_cut()
        elif name in ("hold_up", "hold_down"):
            direction = name[len("hold_"):]
            if not self.faults.held(direction):  # type: ignore[arg-type]
                if self.pipe(direction).held:
                    self.release(direction)
        elif name == "cut_after_bytes":
            allowance = self._allowance()
            if allowance == 0:
                self._end(f"cut after {self.faults.cut_after_bytes} bytes", self.faults.reset)
            else:
                self.up.pump()
                self.down.pump()
        else:
            self.up.pump()
            self.down.pump()

    def _end(self, how: str, with_reset: bool) -> None:
        """End the session once: close (or reset) both legs, stop the pipes."""
        if self.state == "ended":
            return
        self.conn_ids()
        self.state = "ended"
        self.ended_how = how
        self.ended = self.reactor.seconds()
        if self._cut_timer is not None and self._cut_timer.active():
            self._cut_timer.cancel()
        self._cut_timer = None
        for pipe in (self.up, self.down):
            pipe.close()
        if self._connecting is not None:
            connecting, self._connecting = self._connecting, None
            connecting.addErrback(lambda _: None)
            connecting.cancel()
        for leg in (self.client, self.upstream):
            transport = leg.transport if leg is not None else None
            if transport is None or getattr(transport, "disconnected", False):
                continue
            if getattr(transport, "producer", None) is not None:
                transport.unregisterProducer()
            if with_reset:
                reset(transport)
            else:
                transport.loseConnection()
        log.info("%s", self.summary())
        self.proxy._notify("ended", self)
        if self._lost >= self._expected_legs():
            self._finished()

    def _finished(self) -> None:
        if self.state != "ended":
            self._end("closed", False)
            return
        if not self.closed.called:
            self.proxy._session_gone(self)
            self.closed.callback(self)

    def _waiter(self) -> Deferred:
        if self.closed.called:
            return succeed(self)
        waiter: Deferred = Deferred()

        def fire(result: Any) -> Any:
            waiter.callback(result)
            return result

        self.closed.addBoth(fire)
        return waiter


class _UpstreamFactory(Factory):
    """Builds the upstream leg of one session."""

    def __init__(self, session: ProxySession) -> None:
        self.session = session

    def buildProtocol(self, addr: Any) -> UpstreamLeg:
        return UpstreamLeg(self.session)


class Proxy(Factory):
    """Relays every client it accepts to ``upstream`` (a client endpoint string, e.g.
    ``tcp:host=127.0.0.1:port=7000``), applying ``faults`` (changeable live).

    Give it to any listening port (``reactor.listenTCP(0, proxy)``) or call :meth:`listen`.
    ``dissector`` names the dissector whose messages go into the trace for each leg
    (None: none). ``sessions`` lists the live sessions and the last :data:`KEEP_ENDED`
    ended ones; :meth:`on_event` reports changes (``opened``, ``connected``, ``held``,
    ``released``, ``edited``, ``dropped``, ``injected``, ``ended``) for a window to show.
    """

    def __init__(self, reactor: ReactorLike, upstream: str, faults: Faults | None = None,
                 dissector: str | None = None, label: str = "") -> None:
        from inspector.proxy.addresses import client_endpoint_string, upstream_label

        self.reactor = reactor
        self.upstream = client_endpoint_string(upstream)
        self.upstream_label = upstream_label(self.upstream)
        self.faults = faults if faults is not None else Faults()
        if dissector:
            from inspector import dissect

            dissect.get(dissector)  # UnknownDissector (a clear one-line error) now, not per session
        self.dissector = dissector or None
        self.label = label
        self.port: IListeningPort | None = None
        self.live: dict[int, ProxySession] = {}
        self.ended: deque[ProxySession] = deque(maxlen=KEEP_ENDED)
        self._numbers = 0
        self._listeners: list[Callable[[str, ProxySession], Any]] = []
        self.faults.on_change(self._faults_changed)
        self.client_endpoint()  # a bad --to fails now with ValueError

    def __repr__(self) -> str:
        return f"<Proxy {self.label or '?'} -> {self.upstream} ({self.faults.describe()})>"

    # -- starting and stopping ---------------------------------------------------------------

    def listen(self, description: str) -> Deferred:
        """Listen on ``description`` (``tcp:PORT[:interface=ADDR]`` or a plain port); fires
        with the listening port."""
        from inspector.endpoints import serverFromString
        from inspector.proxy.addresses import server_endpoint_string

        listening = serverFromString(self.reactor, server_endpoint_string(description)).listen(self)

        def listening_on(port: IListeningPort) -> IListeningPort:
            self.port = port
            self.label = self.label or _address(port.getHost())
            log.info("proxy listening on %s, relaying to %s (faults: %s)",
                     _address(port.getHost()), self.upstream, self.faults.describe())
            return port

        return listening.addCallback(listening_on)

    def stop(self, grace: float = STOP_GRACE) -> Deferred:
        """Stop listening and close every session; fires when all are closed.

        A leg whose peer does not read what is left for it is reset after ``grace``
        seconds, so stopping never waits on a stalled peer."""
        waits = []
        if self.port is not None:
            port, self.port = self.port, None
            waits.append(_as_deferred(port.stopListening()))
        sessions = list(self.live.values())
        for session in sessions:
            waits.append(session.close())
        done = DeferredList(waits, consumeErrors=True)
        if sessions:
            def overdue() -> None:
                for session in sessions:
                    if not session.closed.called:
                        log.warning("session %d: a peer does not take what is left; resetting it", session.id)
                        for leg in (session.client, session.upstream):
                            if leg is not None:
                                reset(leg.transport)

            timer = self.reactor.callLater(grace, overdue)

            def finished(result: Any) -> Any:
                if timer.active():
                    timer.cancel()
                return result

            done.addBoth(finished)
        return done.addCallback(lambda _: None)

    # -- sessions ----------------------------------------------------------------------------

    def buildProtocol(self, addr: Any) -> ClientLeg:
        self._numbers += 1
        session = ProxySession(self, self._numbers, _address(addr))
        self.live[session.id] = session
        self._notify("opened", session)
        return ClientLeg(session)

    @property
    def sessions(self) -> list[ProxySession]:
        """The ended sessions kept, then the live ones, oldest first."""
        return [*self.ended, *self.live.values()]

    def session(self, number: int) -> ProxySession:
        """The session numbered ``number``; KeyError if it is not kept."""
        found = self.live.get(number)
        if found is None:
            for session in self.ended:
                if session.id == number:
                    return session
            raise KeyError(f"no proxy session {number}")
        return found

    def client_endpoint(self) -> Any:
        """A new client endpoint for the upstream (ValueError for a bad description)."""
        from inspector.endpoints import clientFromString

        return clientFromString(self.reactor, self.upstream)

    _client_endpoint = client_endpoint

    def on_event(self, callback: Callable[[str, ProxySession], Any]) -> None:
        """Call ``callback(what, session)`` on each change (errors are logged, never raised)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str, ProxySession], Any]) -> None:
        """Stop calling ``callback``."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _notify(self, what: str, session: ProxySession) -> None:
        for callback in list(self._listeners):
            try:
                callback(what, session)
            except Exception:
                log.exception("proxy listener %r failed", callback)

    def _session_gone(self, session: ProxySession) -> None:
        if self.live.pop(session.id, None) is not None:
            self.ended.append(session)

    def _faults_changed(self, name: str) -> None:
        for session in list(self.live.values()):
            session._faults_changed(name)


def _as_deferred(result: Any) -> Deferred:
    return result if isinstance(result, Deferred) else succeed(result)


def session_for_connection(proxies: list[Proxy], conn_id: int) -> ProxySession | None:
    """The session (of any of ``proxies``) one of whose legs is trace connection ``conn_id``."""
    if not conn_id:
        return None
    for proxy in proxies:
        for session in proxy.sessions:
            if conn_id in session.conn_ids():
                return session
    return None

