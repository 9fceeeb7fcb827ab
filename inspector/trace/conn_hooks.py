"""Hooks for connections, listening ports and protocol messages (a mixin of the Tracer).

The per-chunk hooks run on the hot path, so they capture as little as they can. TCP
transports capture their chunks at the call site (``inspector.hooks.CAPTURING_MODULES``):
the chunk's key (the transport's ``capture_keys()``, one per direction) and its bytes go
to the tracer's two capture lists by two C-level appends, no Python call. The Python
:meth:`bytes_in` and :meth:`bytes_out` (TLS layers, child processes) append the
connection's :class:`_Side` instead. Everything else is worked out when the records are
decoded or dropped: which side a key stands for (``Tracer._side_map``, once per key
in a batch), the bytes per side, the direction. The STAMP record written when the loop
turn began gives their ``(turn, start time, reactor)``; between turns the key append is a
Python one that stamps each chunk with the time it was written. Datagrams and protocol
messages (:meth:`datagram_in`, :meth:`datagram_out`, :meth:`message`) append a compact
tuple of plain values with their own stamp, keyed by the transport's ``id()``; which
connection an ``id()`` stands for is told by BIND records in the same lists (written
when a connection is first seen), and ended by its CLOSED record, so the decoders
resolve each record as of when it happened.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from inspector.states import ConnectionState, closed_state
from inspector.trace import events as ev
from inspector.trace.util import address_text, call_quietly, reason_parts

if TYPE_CHECKING:
    from inspector.failure import Failure
    from inspector.interfaces import ITCPTransport, IUDPTransport

_now = time.monotonic

# Capture codes: index into the tracer's decoder table.
# STAMP: the record is the stamp itself, (turn, time, reactor), of the TCP bytes records after it.
EVENT, BYTES_IN, BYTES_OUT, MESSAGE, CLOSED, TURN, BIND, STAMP = range(8)


class _Side:
    """One direction of one TCP connection: what its bytes records are decoded to (the
    capture keys of the connection map to its two sides)."""

    __slots__ = ("conn", "cid", "inbound", "tag")

    def __init__(self, conn: _Conn, inbound: bool) -> None:
        self.conn = conn
        self.cid = conn.id
        self.inbound = inbound
        #: What its bytes events say of it: ``(connection, inbound, reactor)``, read
        #: when a :class:`~inspector.trace.buffers.BytesRun` builds them.
        self.tag = (conn.id, inbound, conn.reactor)


class _Conn:
    """What the tracer tracks for one connection until its close is decoded."""

    __slots__ = ("id", "budget", "reactor", "state", "buffered_warned", "sides", "fresh", "keys",
                 "sock")

    def __init__(self, conn_id: int, budget: int, reactor: str) -> None:
        self.id = conn_id
        self.budget = budget
        self.reactor = reactor
        self.state = ""
        self.buffered_warned = False
        #: True until its summary exists and its capture budget is spent: while it is,
        #: decoding its bytes records takes the slow path (summary, payload chunks).
        self.fresh = True
        #: (in, out); emptied when the close is decoded, which ends the reference cycle.
        self.sides: tuple[_Side, ...] = (_Side(self, True), _Side(self, False))
        #: The call-site capture keys that stand for its sides (forgotten at its close).
        self.keys: list[Any] = []
        #: The socket it was first seen by, when only its capture keys named it.
        self.sock: Any = None


class ConnectionHooks:
    """Connection, port and message hooks; expects the Tracer's capture machinery."""

    # Provided by Tracer.
    _keys: list[Any]  # a record code, or the connection's _Side for TCP bytes
    _marks: list[int]
    _taken: int
    _key_append: Any
    _item_append: Any
    _raw_limit: int
    _conn_of: dict[int, int]
    _dec_of: dict[int, int]
    _conn_state: dict[int, _Conn]
    _fresh: set[_Side]
    _sides_in: dict[Any, _Side]
    _sides_out: dict[Any, _Side]
    _key_sides: dict[Any, _Side | None]  # record codes stand for None
    _socket_conns: dict[Any, _Conn]
    _stamp: tuple[int, float, str] | None
    _store: Any
    _conn_ids: int
    _ports: dict[int, int]
    _port_ids: int
    config: Any
    trace: Any
    turn: int
    reactor: str
    #: The transport id and connection of the close decoded last: messages a protocol
    #: reports from its connectionLost (a dissector's unfinished tail) come right after
    #: the close and still belong to that connection.
    _just_closed: tuple[int, int] = (0, 0)

    def _emit(self, event: ev.Event) -> None:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    def _raw_append(self, record: tuple) -> None:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    def _capture(self, record: tuple) -> None:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    def _trim(self) -> None:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    def _context_conn(self) -> int:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    def _set_context(self, conn: int) -> None:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    def _warn(self, category: str, message: str, subject: int = 0, details: str = "") -> None:  # pragma: no cover
        raise NotImplementedError

    def reactor_label(self, reactor: object) -> str:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    def _stamp_now(self) -> tuple[int, float, str]:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    # -- ids ----------------------------------------------------------------------

    def _new_conn(self, reactor: str) -> _Conn:
        """A new connection number and its state; its sides stand for themselves as
        capture keys (the Python bytes hooks append them)."""
        self._conn_ids += 1
        cid = self._conn_ids
        conn = self._conn_state[cid] = _Conn(cid, self.config.capture_bytes, reactor)
        self._fresh.update(conn.sides)
        key_sides = self._key_sides
        for side in conn.sides:
            key_sides[side] = side
        return conn

    def _forget_conn(self, conn: _Conn) -> None:
        """``conn``'s close is decoded: its capture keys stand for nothing any more."""
        self._fresh.difference_update(conn.sides)
        key_sides = self._key_sides
        for key in (*conn.sides, *conn.keys):
            key_sides.pop(key, None)
        if conn.sock is not None:
            self._socket_conns.pop(conn.sock, None)
        conn.keys = []
        conn.sides = ()

    def _bind_keys(self, transport: Any, conn: _Conn) -> None:
        """Let the call-site capture keys of ``transport`` (if it has any) stand for
        ``conn``'s sides, from now until ``conn``'s close is decoded."""
        keys_of = getattr(transport, "capture_keys", None)
        if keys_of is None or not conn.sides:
            return
        keys = keys_of()
        for key, side in zip(keys, conn.sides):
            self._key_sides[key] = side
        conn.keys.extend(keys)

    def _adopt(self, transport: Any) -> int:
        """Give ``transport`` a connection number (first sight, maybe opened before
        tracing: then its chunks' keys may have named it already, by its socket)."""
        conn = None
        if self._socket_conns:
            conn = self._socket_conns.pop(getattr(transport, "socket", None), None)
        if conn is None:
            reactor = getattr(transport, "reactor", None)
            conn = self._new_conn(self.reactor_label(reactor) if reactor is not None else self.reactor)
        else:
            conn.sock = None
        cid = conn.id
        self._conn_of[id(transport)] = cid
        self._bind_keys(transport, conn)
        self._raw_append((BIND, id(transport), cid))
        return cid

    def _unknown_key(self, key: Any) -> _Side:
        """The side a call-site capture key no hook has named stands for: a connection
        opened before tracing, numbered now by its socket (both keys are its methods)."""
        sock = getattr(key, "__self__", None)
        conn = self._socket_conns.get(sock) if sock is not None else None
        if conn is None:
            conn = self._new_conn(self.reactor)
            if sock is not None:
                conn.sock = sock
                self._socket_conns[sock] = conn
        side = conn.sides[0] if sock is not None and key == getattr(sock, "recv", None) else conn.sides[1]
        self._key_sides[key] = side
        conn.keys.append(key)
        return side

    def _sides_of(self, transport: Any) -> tuple[_Side, ...]:
        """The in and out sides of TCP ``transport``, first seen by a bytes hook."""
        cid = self._conn_of.get(id(transport)) or self._adopt(transport)
        sides = self._conn_state[cid].sides
        self._sides_in[transport], self._sides_out[transport] = sides
        return sides

    def let_go(self) -> None:
        """Hooks are off: drop the references the bytes hooks keep to open transports,
        so connections that close unseen are not kept alive (their numbers stay)."""
        self._sides_in.clear()
        self._sides_out.clear()

    def _m_bind(self, item: tuple) -> None:
        if self._just_closed[0] == item[1]:  # that id stands for a new connection now
            self._just_closed = (0, 0)
        if len(item) > 3:  # a handover: the attempt's id no longer stands for it
            self._dec_of.pop(item[3], None)
        self._dec_of[item[1]] = item[2]

    def _decoded_conn(self, key: int) -> _Conn:
        """The connection a capture record's transport id stood for when it was made."""
        cid = self._dec_of.get(key)
        if cid is None:  # a transport first seen by a hot hook: numbered now
            conn = self._new_conn(self.reactor)
            self._dec_of[key] = conn.id
            return conn
        return self._conn_state[cid]

    def conn_id(self, transport: object) -> int:
        """The connection number of ``transport``, or 0 if the tracer has not seen it."""
        return self._conn_of.get(id(transport), 0)

    # -- hooks (called from tcp.py / udp.py) ------------------------------------------

    def connection_state(self, transport: ITCPTransport, state: str) -> None:
        """``transport`` entered ``state`` (one of :data:`~inspector.trace.events.STATES`)."""
        self._enter_state(transport, state)

    def _enter_state(self, transport: object, state: str) -> None:
        """Record that ``transport`` (a connection, an attempt or a UDP port) entered ``state``."""
        conn = self._conn_state[self._conn_of.get(id(transport)) or self._adopt(transport)]
        if conn.state == state:
            return
        previous, conn.state = conn.state, state
        self._emit(ev.ConnectionState(0, _now(), conn.reactor, self.turn, conn.id, previous, state))

    def connection_connecting(self, attempt: Any, host: str, port: int, kind: str = "tcp") -> None:
        """A client connection attempt to ``host:port`` began (``attempt`` stands for it),
        shown as a connection of ``kind`` from the start."""
        cid = self._adopt(attempt)
        self._emit(ev.ConnectionOpened(0, _now(), self._conn_state[cid].reactor, self.turn, cid,
                                       "client", kind, "", "",
                                       address_text((host, port)) if port else host))  # port 0: a Unix name
        self.connection_state(attempt, ConnectionState.CONNECTING)

    def connection_handover(self, attempt: Any, transport: ITCPTransport) -> None:
        """The attempt succeeded: ``transport`` carries on under the attempt's number."""
        cid = self._conn_of.pop(id(attempt), None)
        if cid is not None:
            self._conn_of[id(transport)] = cid
            self._bind_keys(transport, self._conn_state[cid])
            self._raw_append((BIND, id(transport), cid, id(attempt)))

    def connection_opened(self, transport: ITCPTransport | IUDPTransport, role: str, kind: str = "tcp") -> None:
        """``transport`` is connected (role ``client``/``server``) or a UDP port (``udp``)."""
        cid = self._conn_of.get(id(transport)) or self._adopt(transport)
        conn = self._conn_state[cid]
        protocol: Any = getattr(transport, "protocol", None)
        while getattr(protocol, "wrappedProtocol", None) is not None:  # a policies wrapper:
            protocol = protocol.wrappedProtocol  # name the protocol the user wrote
        self._emit(ev.ConnectionOpened(
            0, _now(), conn.reactor, self.turn, cid, role, kind,
            type(protocol).__name__ if protocol is not None else "",
            address_text(call_quietly(transport, "getHost")),
            address_text(call_quietly(transport, "getPeer")) if role != "udp" else "",
        ))
        self._enter_state(transport, ConnectionState.CONNECTED)

    def bytes_in(self, transport: ITCPTransport, data: bytes) -> None:
        """``data`` arrived on ``transport`` (a TLS layer, a child process; TCP captures at
        the call site); its protocol's code runs next (hot path).

        No bound check here: a turn reads each ready descriptor once, so the records
        this adds per turn are bounded, and :meth:`turn_ended` trims. The body is the
        closure :meth:`_bytes_hooks` installs on each tracer.
        """
        raise NotImplementedError("installed per tracer by _bytes_hooks")

    def bytes_out(self, transport: ITCPTransport, data: bytes) -> None:
        """The application wrote ``data`` (bytes) to ``transport`` (hot path). The body
        is the closure :meth:`_bytes_hooks` installs on each tracer."""
        raise NotImplementedError("installed per tracer by _bytes_hooks")

    def _bytes_hooks(self) -> tuple[Any, Any]:
        """:meth:`bytes_in` and :meth:`bytes_out` as closures over the capture lists and
        side maps: the tracer installs them on itself, so the hot path reads those from
        cells instead of looking each up on the tracer per chunk. Like the call-site
        capture, they append the chunk's key (its side) and bytes; decoding does the rest."""
        tracer = self
        sides_in, sides_out = self._sides_in, self._sides_out
        keys = self._keys
        key_append, item_append = self._key_append, self._item_append
        sides_of, limit = self._sides_of, self._raw_limit

        def bytes_in(transport: ITCPTransport, data: bytes) -> None:
            try:
                side = sides_in[transport]
            except KeyError:
                side = sides_of(transport)[0]
            if tracer._stamp is None:
                tracer._stamp_outside_turn()
            key_append(side)
            item_append(data)

        def bytes_out(transport: ITCPTransport, data: bytes) -> None:
            try:
                side = sides_out[transport]
            except KeyError:
                side = sides_of(transport)[1]
            if tracer._stamp is None:
                tracer._stamp_outside_turn()
            key_append(side)
            item_append(data)
            if len(keys) > limit:  # one callback may write without end
                tracer._trim()

        bytes_in.__doc__ = ConnectionHooks.bytes_in.__doc__
        bytes_out.__doc__ = ConnectionHooks.bytes_out.__doc__
        return bytes_in, bytes_out

    def capture_full(self) -> None:
        """The call-site capture holds more than its bound: decode it for readers, or
        drop all but the newest records, counted."""
        if len(self._keys) > self._raw_limit:
            self._trim()

    def _stamp_outside_turn(self) -> None:
        """Stamp the next TCP bytes record, made outside any loop turn, with the time now."""
        keys = self._keys
        self._marks.append(self._taken + len(keys))
        keys.append(STAMP)  # a STAMP record is the stamp itself
        self._item_append(self._stamp_now())
        if len(keys) > self._raw_limit:
            self._trim()

    def _capture_key_outside(self, key: Any) -> None:
        """The call-site capture's key append between loop turns (a click in the window,
        code before ``reactor.run``): stamp the chunk with the time now, then append."""
        if self._stamp is None:
            self._stamp_outside_turn()
        self._key_append(key)

    def datagram_in(self, transport: IUDPTransport, data: bytes, peer: Any) -> None:
        """A datagram from ``peer`` arrived on UDP ``transport``."""
        key = id(transport)
        self._set_context(self._conn_of.get(key) or self._adopt(transport))
        self._capture((BYTES_IN, key, data, peer, self._stamp or self._stamp_now()))

    def datagram_out(self, transport: IUDPTransport, data: Any, peer: Any) -> None:
        """The application sent a datagram to ``peer`` on UDP ``transport``."""
        if type(data) is not bytes:
            data = bytes(data)
        self._capture((BYTES_OUT, id(transport), data, peer, self._stamp or self._stamp_now()))

    def write_buffered(self, transport: ITCPTransport, size: int) -> None:
        """``size`` bytes now wait unsent in ``transport``'s write buffer."""
        conn = self._conn_state.get(self._conn_of.get(id(transport), 0))
        if conn is None:
            return
        high = self.config.write_high_water
        if size > high:
            if not conn.buffered_warned:
                conn.buffered_warned = True
                self._warn(
                    "write-buffer",
                    f"connection {conn.id} has {size} bytes unsent: the peer reads slower "
                    f"than we write (high-water mark {high})",
                    subject=conn.id,
                )
        elif size <= high // 2:
            conn.buffered_warned = False

    def connection_closed(self, transport: object, reason: Failure | BaseException | None = None) -> None:
        """``transport`` is gone; ``reason`` is the Failure or exception that ended it."""
        reason_type, message = reason_parts(reason)
        key = id(transport)
        cid = self._conn_of.pop(key, None)
        if cid is None:
            cid = self._adopt(transport)
            del self._conn_of[key]
        if self._context_conn() == cid:
            self._set_context(0)
        self._sides_in.pop(transport, None)
        self._sides_out.pop(transport, None)
        self._raw_append((CLOSED, key, cid, reason_type, message, self.turn, _now()))

    def port_started(self, port: Any, kind: str = "tcp") -> None:
        """A listening port (TCP) or UDP port began."""
        self._port_ids += 1
        self._ports[id(port)] = self._port_ids
        factory = getattr(port, "factory", None) or getattr(port, "protocol", None)
        reactor = getattr(port, "reactor", None)
        self._emit(ev.PortStarted(
            0, _now(), self.reactor_label(reactor) if reactor is not None else self.reactor,
            self.turn, 0, self._port_ids, kind, address_text(call_quietly(port, "getHost")),
            type(factory).__name__ if factory is not None else "",
        ))

    def port_stopped(self, port: Any) -> None:
        """A listening port stopped."""
        self._emit(ev.PortStopped(0, _now(), self.reactor, self.turn, 0,
                                  self._ports.pop(id(port), 0),
                                  address_text(call_quietly(port, "getHost"))))

    def port_refused(self, address: Any, error: Any) -> None:
        """Listening on ``address`` (text, tuple or address object) failed with ``error``."""
        reason_type, message = reason_parts(error)
        self._emit(ev.PortRefused(
            0, _now(), self.reactor, self.turn, 0,
            address if isinstance(address, str) else address_text(address),
            f"{reason_type}: {message}" if message else reason_type,
        ))

    def link(self, a: ITCPTransport, b: ITCPTransport, label: str) -> None:
        """``a`` (a client's leg) and ``b`` (the upstream leg) belong to one relayed session."""
        first = self._conn_of.get(id(a)) or self._adopt(a)
        second = self._conn_of.get(id(b)) or self._adopt(b)
        self._emit(ev.ConnectionLinked(0, _now(), self._conn_state[first].reactor, self.turn, first,
                                       second, label))

    def message(self, protocol: object, kind: str, text: Any, direction: str = "in") -> None:
        """``protocol`` parsed (``in``) or produced (``out``) one message of ``kind``."""
        transport: Any = getattr(protocol, "transport", None)
        while getattr(transport, "wrappedProtocol", None) is not None:  # a policies wrapper
            transport = transport.transport  # stands in for the connection's real transport
        self._capture((MESSAGE, id(transport) if transport is not None else 0,
                          type(protocol).__name__, kind, text, direction,
                          self._stamp or self._stamp_now()))

    # -- decoders -----------------------------------------------------------------------

    def _cut(self, conn: _Conn, data: bytes) -> bytes:
        size = len(data)
        budget = conn.budget
        if budget >= size:
            conn.budget = budget - size
            return data
        conn.budget = 0
        return data[:budget]

    def _m_bytes_in(self, item: tuple) -> None:
        self._store(self._datagram_event(ev.BytesIn, item))

    def _m_bytes_out(self, item: tuple) -> None:
        self._store(self._datagram_event(ev.BytesOut, item))

    def _datagram_event(self, cls: type, item: tuple) -> ev.Event:
        """A datagram record ``(code, key, data, peer, stamp)`` as a ``cls`` event, its
        payload cut to the budget."""
        _, key, data, peer, (turn, ts, _reactor) = item
        conn = self._decoded_conn(key)
        return cls(0, ts, conn.reactor, turn, conn.id, len(data),
                   self._cut(conn, data) if conn.budget else b"",
                   address_text(peer) if peer is not None else "")

    def _m_message(self, item: tuple) -> None:
        _, key, protocol, kind, text, direction, (turn, ts, reactor) = item
        cid = self._dec_of.get(key, 0) if key else 0
        if not cid and key and self._just_closed[0] == key:
            cid = self._just_closed[1]
        if not isinstance(text, str):
            text = text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else str(text)
        if text.endswith("\n"):
            text = text.rstrip("\r\n")
        self._store(ev.ProtocolMessage(0, ts, reactor, turn, cid, protocol, kind, direction,
                                       text))

    def _m_closed(self, item: tuple) -> None:
        _, key, cid, reason_type, message, turn, ts = item
        decoded = self._dec_of.pop(key, None)
        self._just_closed = (key, cid)
        if decoded is not None and decoded != cid:  # first seen by a hot hook, before tracing
            stale = self._conn_state.pop(decoded, None)
            if stale is not None:
                self._forget_conn(stale)
        conn = self._conn_state.pop(cid)
        self._forget_conn(conn)  # its bytes all came before its close, and are counted
        final = closed_state(reason_type)
        if conn.state != final:
            self._store(ev.ConnectionState(0, ts, conn.reactor, turn, cid, conn.state, final))
            conn.state = final
        summary = self.trace._connections.get(cid)
        self._store(ev.ConnectionClosed(
            0, ts, conn.reactor, turn, cid, reason_type, message,
            summary.bytes_in if summary is not None else 0,
            summary.bytes_out if summary is not None else 0,
        ))
