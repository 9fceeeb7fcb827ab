"""Hooks for connections, listening ports and protocol messages (a mixin of the Tracer).

The per-chunk hooks (:meth:`bytes_in`, :meth:`bytes_out`, :meth:`message`) run on the
hot path, so they only append a compact tuple to the tracer's capture list, stamped
with the current loop turn's start time (``seq`` orders events inside a turn); the
``_m_*`` decoders turn those into events when the trace is read.
"""

from __future__ import annotations

import time
from typing import Any

from inspector.trace import events as ev
from inspector.trace.util import address_text, call_quietly, reason_parts

_now = time.monotonic

# Capture codes: index into the tracer's decoder table.
EVENT, BYTES_IN, BYTES_OUT, MESSAGE, CLOSED, TURN = range(6)


class _Conn:
    """What the tracer tracks for one live connection."""

    __slots__ = ("id", "budget", "reactor", "state", "buffered_warned")

    def __init__(self, conn_id: int, budget: int, reactor: str) -> None:
        self.id = conn_id
        self.budget = budget
        self.reactor = reactor
        self.state = ""
        self.buffered_warned = False


class ConnectionHooks:
    """Connection, port and message hooks; expects the Tracer's capture machinery."""

    # Provided by Tracer.
    _raw: list[tuple]
    _conns: dict[int, _Conn]
    config: Any
    trace: Any
    turn: int
    reactor: str
    _ctx_transport: Any
    _turn_start: float
    _turn_open: bool

    def _emit(self, event: ev.Event) -> None:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    def _warn(self, category: str, message: str, subject: int = 0, details: str = "") -> None:  # pragma: no cover
        raise NotImplementedError

    def reactor_label(self, reactor: Any) -> str:  # pragma: no cover - Tracer defines it
        raise NotImplementedError

    # -- ids ----------------------------------------------------------------------

    def _adopt(self, transport: Any) -> _Conn:
        """Give ``transport`` a connection id (first sight, possibly opened before tracing)."""
        self._conn_ids += 1
        reactor = getattr(transport, "reactor", None)
        label = self.reactor_label(reactor) if reactor is not None else self.reactor
        conn = _Conn(self._conn_ids, self.config.capture_bytes, label)
        self._conns[id(transport)] = conn
        return conn

    def conn_id(self, transport: Any) -> int:
        """The connection id of ``transport``, or 0 if the tracer has not seen it."""
        conn = self._conns.get(id(transport))
        return conn.id if conn is not None else 0

    # -- hooks (called from tcp.py / udp.py) ------------------------------------------

    def connection_state(self, transport: Any, state: str) -> None:
        """``transport`` entered ``state`` (one of :data:`~inspector.trace.events.STATES`)."""
        conn = self._conns.get(id(transport)) or self._adopt(transport)
        if conn.state == state:
            return
        previous, conn.state = conn.state, state
        self._emit(ev.ConnectionState(ts=_now(), reactor=conn.reactor, turn=self.turn,
                                      conn=conn.id, previous=previous, state=state))

    def connection_connecting(self, attempt: Any, host: str, port: int) -> None:
        """A client connection attempt to ``host:port`` began (``attempt`` stands for it)."""
        conn = self._adopt(attempt)
        self._emit(ev.ConnectionOpened(0, _now(), conn.reactor, self.turn, conn.id, "client",
                                       "tcp", "", "", address_text((host, port))))
        self.connection_state(attempt, "connecting")

    def connection_handover(self, attempt: Any, transport: Any) -> None:
        """The attempt succeeded: ``transport`` carries on under the attempt's connection id."""
        conn = self._conns.pop(id(attempt), None)
        if conn is not None:
            self._conns[id(transport)] = conn

    def connection_opened(self, transport: Any, role: str, kind: str = "tcp") -> None:
        """``transport`` is connected (role ``client``/``server``) or a UDP port (``udp``)."""
        conn = self._conns.get(id(transport))
        if conn is None or conn.state in ("closed", "failed"):
            conn = self._adopt(transport)
        protocol = getattr(transport, "protocol", None)
        self._emit(ev.ConnectionOpened(
            ts=_now(), reactor=conn.reactor, turn=self.turn, conn=conn.id, role=role,
            transport=kind, protocol=type(protocol).__name__ if protocol is not None else "",
            local=address_text(call_quietly(transport, "getHost")),
            peer=address_text(call_quietly(transport, "getPeer")) if role != "udp" else "",
        ))
        self.connection_state(transport, "connected")

    def bytes_in(self, transport: Any, data: bytes, peer: Any = None) -> None:
        """``data`` arrived on ``transport``; its protocol's code runs next (hot path)."""
        self._ctx_transport = transport
        self._raw.append((BYTES_IN, transport, data, peer, self.turn, self._turn_start if self._turn_open else _now()))

    def bytes_out(self, transport: Any, data: Any, peer: Any = None) -> None:
        """The application wrote ``data`` to ``transport`` (hot path)."""
        if type(data) is not bytes:
            data = bytes(data)
        self._raw.append((BYTES_OUT, transport, data, peer, self.turn, self._turn_start if self._turn_open else _now()))

    def write_buffered(self, transport: Any, size: int) -> None:
        """``size`` bytes now wait unsent in ``transport``'s write buffer."""
        conn = self._conns.get(id(transport))
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

    def connection_closed(self, transport: Any, reason: Any = None) -> None:
        """``transport`` is gone; ``reason`` is the Failure or exception that ended it."""
        reason_type, message = reason_parts(reason)
        if self._ctx_transport is transport:
            self._ctx_transport = None
        self._raw.append((CLOSED, transport, reason_type, message, self.turn, _now()))

    def port_started(self, port: Any, kind: str = "tcp") -> None:
        """A listening port (TCP) or UDP port began."""
        self._port_ids += 1
        self._ports[id(port)] = self._port_ids
        factory = getattr(port, "factory", None) or getattr(port, "protocol", None)
        reactor = getattr(port, "reactor", None)
        self._emit(ev.PortStarted(
            ts=_now(), reactor=self.reactor_label(reactor) if reactor is not None else self.reactor,
            turn=self.turn, port=self._port_ids, transport=kind,
            address=address_text(call_quietly(port, "getHost")),
            factory=type(factory).__name__ if factory is not None else "",
        ))

    def port_stopped(self, port: Any) -> None:
        """A listening port stopped."""
        self._emit(ev.PortStopped(ts=_now(), reactor=self.reactor, turn=self.turn,
                                  port=self._ports.pop(id(port), 0),
                                  address=address_text(call_quietly(port, "getHost"))))

    def port_refused(self, address: Any, error: Any) -> None:
        """Listening on ``address`` (text, tuple or address object) failed with ``error``."""
        reason_type, message = reason_parts(error)
        self._emit(ev.PortRefused(
            ts=_now(), reactor=self.reactor, turn=self.turn,
            address=address if isinstance(address, str) else address_text(address),
            error=f"{reason_type}: {message}" if message else reason_type,
        ))

    def message(self, protocol: Any, kind: str, text: Any, direction: str = "in") -> None:
        """``protocol`` parsed (``in``) or produced (``out``) one message of ``kind``."""
        self._raw.append((MESSAGE, protocol, getattr(protocol, "transport", None), kind, text,
                          direction, self.turn, self._turn_start if self._turn_open else _now()))

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
        _, transport, data, peer, turn, ts = item
        conn = self._conns.get(id(transport)) or self._adopt(transport)
        self._store(ev.BytesIn(0, ts, conn.reactor, turn, conn.id, len(data),
                               self._cut(conn, data) if conn.budget else b"",
                               address_text(peer) if peer is not None else ""))

    def _m_bytes_out(self, item: tuple) -> None:
        _, transport, data, peer, turn, ts = item
        conn = self._conns.get(id(transport)) or self._adopt(transport)
        self._store(ev.BytesOut(0, ts, conn.reactor, turn, conn.id, len(data),
                                self._cut(conn, data) if conn.budget else b"",
                                address_text(peer) if peer is not None else ""))

    def _m_message(self, item: tuple) -> None:
        _, protocol, transport, kind, text, direction, turn, ts = item
        conn = self._conns.get(id(transport)) if transport is not None else None
        if not isinstance(text, str):
            text = text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else str(text)
        if text.endswith("\n"):
            text = text.rstrip("\r\n")
        self._store(ev.ProtocolMessage(0, ts, self.reactor, turn, conn.id if conn else 0,
                                       type(protocol).__name__, kind, direction, text))

    def _m_closed(self, item: tuple) -> None:
        _, transport, reason_type, message, turn, ts = item
        conn = self._conns.pop(id(transport), None)
        if conn is None:
            conn = self._adopt(transport)
            del self._conns[id(transport)]
        final = "closed" if reason_type in ("", "ConnectionDone") else "failed"
        if conn.state != final:
            self._store(ev.ConnectionState(0, ts, conn.reactor, turn, conn.id, conn.state, final))
            conn.state = final
        summary = self.trace._connections.get(conn.id)
        self._store(ev.ConnectionClosed(
            0, ts, conn.reactor, turn, conn.id, reason_type, message,
            summary.bytes_in if summary is not None else 0,
            summary.bytes_out if summary is not None else 0,
        ))
