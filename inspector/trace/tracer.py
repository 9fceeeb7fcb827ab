"""The Tracer: receives hook calls from the framework and turns them into trace events.

Core modules hold a module-level ``_tracer`` that is ``None`` unless tracing is on, and
call it as ``if _tracer is not None: _tracer.method(...)``. The methods below are that
hook API. The tracer keeps the context the hooks establish (the current loop turn,
connection and timer) so that, for example, a Deferred created while ``dataReceived``
runs is linked to that connection.
"""

from __future__ import annotations

import reprlib
import socket
import sys
import time
from typing import Any, Callable

from inspector.trace import events as ev
from inspector.trace.model import Trace, TraceConfig

_now = time.monotonic

#: Frames in these files are skipped when looking for where a Deferred was created.
_SKIP_FILES: set[str] = {__file__}


def skip_frames_in(filename: str) -> None:
    """Treat code in ``filename`` as framework plumbing when finding creation sites."""
    _SKIP_FILES.add(filename)


class _Conn:
    """What the tracer tracks for one live connection (kept small: it is on the hot path)."""

    __slots__ = ("id", "budget", "reactor", "state", "buffered_warned", "started")

    def __init__(self, conn_id: int, budget: int, reactor: str) -> None:
        self.id = conn_id
        self.budget = budget
        self.reactor = reactor
        self.state = ""
        self.buffered_warned = False
        self.started = 0.0


_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 4
_short.maxlevel = 2


def safe_repr(value: Any, limit: int = 80) -> str:
    """A bounded repr that never raises (a broken ``__repr__`` is reported, not raised)."""
    try:
        text = _short.repr(value)
    except Exception as exc:  # noqa: BLE001 - user code; report, never propagate
        text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def callable_name(fn: Any) -> str:
    """A readable name for a callable: ``module.qualname`` or its repr."""
    target = getattr(fn, "__func__", fn)
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if name is None:
        func = getattr(fn, "func", None)  # functools.partial
        return f"partial({callable_name(func)})" if func is not None else safe_repr(fn, 60)
    return name


def callable_location(fn: Any) -> str:
    """``file:line`` where ``fn`` is defined, or ``""`` when it has no Python code."""
    target = getattr(fn, "__func__", fn)
    target = getattr(target, "func", target)
    code = getattr(target, "__code__", None)
    if code is None:
        return ""
    return f"{code.co_filename}:{code.co_firstlineno}"


def _is_failure(value: Any) -> bool:
    # Duck-typed so the tracer does not depend on inspector.failure being importable.
    return hasattr(value, "getErrorMessage") and hasattr(value, "value")


def _reason_parts(reason: Any) -> tuple[str, str]:
    """(exception type name, message) of a Failure, an exception or None."""
    if reason is None:
        return "", ""
    value = getattr(reason, "value", reason) if _is_failure(reason) else reason
    if isinstance(value, BaseException):
        return type(value).__name__, str(value)
    return type(value).__name__, safe_repr(value)


def _address(addr: Any) -> str:
    """Render an IPv4Address/IPv6Address, a (host, port) tuple or None as text."""
    if addr is None:
        return ""
    host = getattr(addr, "host", None)
    port = getattr(addr, "port", None)
    if host is None and isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
    if host is None:
        return str(addr)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _call(obj: Any, method: str) -> Any:
    fn = getattr(obj, method, None)
    if fn is None:
        return None
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a half-built transport may not know yet
        return None


class Tracer:
    """Turns hook calls into events in a :class:`Trace`, and raises warnings."""

    def __init__(self, config: TraceConfig | None = None, trace: Trace | None = None) -> None:
        self.trace = trace if trace is not None else Trace(config)
        self.config = self.trace.config
        self.trace.header.update(
            version=1,
            start_time=time.time(),
            start_monotonic=_now(),
            host=socket.gethostname(),
            reactor="",
        )
        add = self.trace.add
        self._add = add
        self._conns: dict[int, _Conn] = {}
        self._conn_ids = 0
        self._ports: dict[int, int] = {}
        self._port_ids = 0
        self._deferreds: dict[int, int] = {}
        self._deferred_ids = 0
        self._timers: dict[int, tuple[int, float]] = {}
        self._timer_ids = 0
        self._reactors: dict[int, str] = {}
        # Context the hooks set.
        self.reactor = ""
        self.turn = 0
        self.conn = 0
        self.timer = 0
        self._turn_open = False
        self._turn_start = 0.0
        self._turn_fds = 0
        self._turn_timers = 0
        self._turn_threads = 0
        self._callbacks: list[tuple[int, str, float, str, Any, int]] = []
        self._timer_stack: list[tuple[int, str, float, float, int, int]] = []
        self._periodic: list[Callable[[], None]] = []
        self._next_periodic = 0.0
        self._pending_warned: set[int] = set()

    # -- bookkeeping ----------------------------------------------------------------

    def reactor_label(self, reactor: Any) -> str:
        """A short stable name for ``reactor``: ``SelectorsReactor-1``."""
        key = id(reactor)
        label = self._reactors.get(key)
        if label is None:
            label = f"{type(reactor).__name__}-{len(self._reactors) + 1}"
            self._reactors[key] = label
            if not self.trace.header.get("reactor"):
                self.trace.header["reactor"] = type(reactor).__name__
        return label

    def add_periodic(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` from the loop about five times a second (recorders flush here)."""
        self._periodic.append(fn)

    def remove_periodic(self, fn: Callable[[], None]) -> None:
        """Stop calling ``fn``."""
        if fn in self._periodic:
            self._periodic.remove(fn)

    def _warn(self, category: str, message: str, subject: int = 0, details: str = "") -> None:
        self._add(
            ev.TraceWarning(
                ts=_now(),
                reactor=self.reactor,
                turn=self.turn,
                conn=self.conn,
                category=category,
                message=message,
                subject=subject,
                details=details,
            )
        )

    def _slow(self, name: str, location: str, duration: float) -> None:
        self._add(
            ev.SlowCallback(
                ts=_now() - duration,
                reactor=self.reactor,
                turn=self.turn,
                conn=self.conn,
                name=name,
                location=location,
                duration=duration,
            )
        )
        self._warn(
            "slow",
            f"{name} held the loop for {duration * 1000:.1f} ms",
            details=location,
        )

    # -- the loop -------------------------------------------------------------------

    def turn_started(self, reactor: Any, fds_ready: int = 0) -> None:
        """Work of a loop turn begins (after waiting); ``fds_ready`` descriptors are ready."""
        if self._turn_open:
            self._turn_fds += fds_ready
            return
        self._turn_open = True
        self._turn_start = _now()
        self._turn_fds = fds_ready
        self._turn_timers = 0
        self._turn_threads = 0
        self.turn += 1
        label = self._reactors.get(id(reactor))
        self.reactor = label if label is not None else self.reactor_label(reactor)

    def turn_ended(self, reactor: Any) -> None:
        """The loop turn's work is done (the loop is about to wait again)."""
        if not self._turn_open:
            return
        self._turn_open = False
        end = _now()
        self.conn = 0
        self.timer = 0
        self._add(
            ev.LoopTurn(
                ts=self._turn_start,
                reactor=self.reactor,
                turn=self.turn,
                duration=end - self._turn_start,
                fds_ready=self._turn_fds,
                timers_run=self._turn_timers,
                thread_calls=self._turn_threads,
            )
        )
        if end >= self._next_periodic:
            self._next_periodic = end + 0.2
            self.periodic(end)

    def periodic(self, now: float | None = None) -> None:
        """Check for long-pending Deferreds and run the registered periodic functions."""
        now = _now() if now is None else now
        self._check_pending(now)
        for fn in list(self._periodic):
            try:
                fn()
            except Exception:  # noqa: BLE001 - a broken sink must not stop the loop
                import logging

                logging.getLogger("inspector.trace").exception("trace periodic task failed")

    def thread_calls_run(self, reactor: Any, count: int) -> None:
        """``count`` functions queued by ``callFromThread`` ran this turn."""
        self._turn_threads += count

    def timer_scheduled(self, call: Any, now: float | None = None) -> None:
        """``callLater`` made ``call`` (a DelayedCall with ``time`` and ``func``)."""
        self._timer_ids += 1
        timer_id = self._timer_ids
        due = float(getattr(call, "time", 0.0))
        self._timers[id(call)] = (timer_id, due)
        if len(self._timers) > 100_000:
            del self._timers[next(iter(self._timers))]
        now = _now() if now is None else now
        self._add(
            ev.TimerScheduled(
                ts=_now(),
                reactor=self.reactor,
                turn=self.turn,
                conn=self.conn,
                timer=timer_id,
                name=callable_name(getattr(call, "func", None)),
                delay=max(0.0, due - now),
                due=due,
            )
        )

    def timer_started(self, call: Any, now: float) -> None:
        """``call``'s function is about to run at reactor time ``now``."""
        entry = self._timers.pop(id(call), None)
        timer_id = entry[0] if entry is not None else 0
        due = float(getattr(call, "time", now))
        self._timer_stack.append((timer_id, due, now, _now(), self.conn, self.timer))
        self.timer = timer_id
        self.conn = 0
        self._turn_timers += 1

    def timer_finished(self, call: Any) -> None:
        """``call``'s function returned (or raised)."""
        if not self._timer_stack:
            return
        timer_id, due, now, start, self.conn, self.timer = self._timer_stack.pop()
        duration = _now() - start
        lateness = max(0.0, now - due)
        func = getattr(call, "func", None)
        name = callable_name(func)
        self._add(
            ev.TimerFired(
                ts=start,
                reactor=self.reactor,
                turn=self.turn,
                conn=self.conn,
                timer=timer_id,
                name=name,
                lateness=lateness,
                duration=duration,
            )
        )
        if lateness > self.config.late_timer:
            self._warn(
                "late-timer",
                f"timer {name} ran {lateness * 1000:.1f} ms late",
                subject=timer_id,
                details=callable_location(func),
            )
        if duration > self.config.slow_callback:
            self._slow(name, callable_location(func), duration)

    def timer_cancelled(self, call: Any) -> None:
        """``call`` was cancelled; forget it."""
        self._timers.pop(id(call), None)

    # -- connections ------------------------------------------------------------------

    def _adopt(self, transport: Any) -> _Conn:
        self._conn_ids += 1
        reactor = getattr(transport, "reactor", None)
        label = self.reactor_label(reactor) if reactor is not None else self.reactor
        conn = _Conn(self._conn_ids, self.config.capture_bytes, label)
        self._conns[id(transport)] = conn
        return conn

    def connection_state(self, transport: Any, state: str) -> None:
        """``transport`` entered ``state`` (one of :data:`~inspector.trace.events.STATES`)."""
        conn = self._conns.get(id(transport))
        if conn is None:
            conn = self._adopt(transport)
        if conn.state == state:
            return
        previous, conn.state = conn.state, state
        self._add(
            ev.ConnectionState(
                ts=_now(),
                reactor=conn.reactor,
                turn=self.turn,
                conn=conn.id,
                previous=previous,
                state=state,
            )
        )

    def connection_opened(self, transport: Any, role: str, kind: str = "tcp") -> None:
        """``transport`` is connected (role ``client``/``server``) or a UDP port (``udp``)."""
        conn = self._conns.get(id(transport))
        if conn is None or conn.state in ("closed", "failed"):
            conn = self._adopt(transport)
        protocol = getattr(transport, "protocol", None)
        self._add(
            ev.ConnectionOpened(
                ts=_now(),
                reactor=conn.reactor,
                turn=self.turn,
                conn=conn.id,
                role=role,
                transport=kind,
                protocol=type(protocol).__name__ if protocol is not None else "",
                local=_address(_call(transport, "getHost")),
                peer=_address(_call(transport, "getPeer")) if role != "udp" else "",
            )
        )
        self.connection_state(transport, "connected")

    def bytes_in(self, transport: Any, data: bytes, peer: Any = None) -> None:
        """``data`` arrived on ``transport``; its protocol's code runs next."""
        conn = self._conns.get(id(transport))
        if conn is None:
            conn = self._adopt(transport)
        size = len(data)
        budget = conn.budget
        if budget >= size:
            conn.budget = budget - size
        elif budget > 0:
            data = data[:budget]
            conn.budget = 0
        else:
            data = b""
        self.conn = conn.id
        conn.started = now = _now()
        self._add(
            ev.BytesIn(
                ts=now,
                reactor=conn.reactor,
                turn=self.turn,
                conn=conn.id,
                size=size,
                data=data,
                peer=_address(peer) if peer is not None else "",
            )
        )

    def bytes_out(self, transport: Any, data: bytes, peer: Any = None) -> None:
        """The application wrote ``data`` to ``transport``."""
        conn = self._conns.get(id(transport))
        if conn is None:
            conn = self._adopt(transport)
        size = len(data)
        budget = conn.budget
        if budget >= size:
            conn.budget = budget - size
        elif budget > 0:
            data = data[:budget]
            conn.budget = 0
        else:
            data = b""
        self._add(
            ev.BytesOut(
                ts=_now(),
                reactor=conn.reactor,
                turn=self.turn,
                conn=conn.id,
                size=size,
                data=bytes(data),
                peer=_address(peer) if peer is not None else "",
            )
        )

    def data_handled(self, transport: Any) -> None:
        """The protocol's ``dataReceived`` for the last :meth:`bytes_in` returned."""
        conn = self._conns.get(id(transport))
        self.conn = 0
        if conn is None or not conn.started:
            return
        duration = _now() - conn.started
        conn.started = 0.0
        if duration > self.config.slow_callback:
            protocol = getattr(transport, "protocol", None)
            handler = getattr(protocol, "dataReceived", None)
            self.conn = conn.id
            self._slow(callable_name(handler), callable_location(handler), duration)
            self.conn = 0

    def write_buffered(self, transport: Any, size: int) -> None:
        """``size`` bytes now wait unsent in ``transport``'s write buffer."""
        conn = self._conns.get(id(transport))
        if conn is None:
            conn = self._adopt(transport)
        high = self.config.write_high_water
        if size > high and not conn.buffered_warned:
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
        conn = self._conns.pop(id(transport), None)
        if conn is None:
            conn = self._adopt(transport)
            del self._conns[id(transport)]
        reason_type, message = _reason_parts(reason)
        final = "closed" if reason_type in ("", "ConnectionDone") else "failed"
        if conn.state != final:
            self._add(
                ev.ConnectionState(
                    ts=_now(),
                    reactor=conn.reactor,
                    turn=self.turn,
                    conn=conn.id,
                    previous=conn.state,
                    state=final,
                )
            )
        summary = self.trace.connections.get(conn.id)
        self._add(
            ev.ConnectionClosed(
                ts=_now(),
                reactor=conn.reactor,
                turn=self.turn,
                conn=conn.id,
                reason_type=reason_type,
                reason=message,
                bytes_in=summary.bytes_in if summary is not None else 0,
                bytes_out=summary.bytes_out if summary is not None else 0,
            )
        )
        if self.conn == conn.id:
            self.conn = 0

    def port_started(self, port: Any, kind: str = "tcp") -> None:
        """A listening port (TCP) or UDP port began."""
        self._port_ids += 1
        self._ports[id(port)] = self._port_ids
        factory = getattr(port, "factory", None) or getattr(port, "protocol", None)
        reactor = getattr(port, "reactor", None)
        self._add(
            ev.PortStarted(
                ts=_now(),
                reactor=self.reactor_label(reactor) if reactor is not None else self.reactor,
                turn=self.turn,
                port=self._port_ids,
                transport=kind,
                address=_address(_call(port, "getHost")),
                factory=type(factory).__name__ if factory is not None else "",
            )
        )

    def port_stopped(self, port: Any) -> None:
        """A listening port stopped."""
        port_id = self._ports.pop(id(port), 0)
        self._add(
            ev.PortStopped(
                ts=_now(),
                reactor=self.reactor,
                turn=self.turn,
                port=port_id,
                address=_address(_call(port, "getHost")),
            )
        )

    def port_refused(self, address: Any, error: Any) -> None:
        """Listening on ``address`` (text, tuple or address object) failed with ``error``."""
        reason_type, message = _reason_parts(error)
        self._add(
            ev.PortRefused(
                ts=_now(),
                reactor=self.reactor,
                turn=self.turn,
                address=address if isinstance(address, str) else _address(address),
                error=f"{reason_type}: {message}" if message else reason_type,
            )
        )

    def message(self, protocol: Any, kind: str, text: Any, direction: str = "in") -> None:
        """``protocol`` parsed (``in``) or produced (``out``) one message of ``kind``."""
        transport = getattr(protocol, "transport", None)
        conn = self._conns.get(id(transport)) if transport is not None else None
        if not isinstance(text, str):
            text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        self._add(
            ev.ProtocolMessage(
                ts=_now(),
                reactor=self.reactor,
                turn=self.turn,
                conn=conn.id if conn is not None else self.conn,
                protocol=type(protocol).__name__,
                message_kind=kind,
                direction=direction,
                text=text,
            )
        )

    # -- Deferreds -------------------------------------------------------------------

    def _did(self, d: Any) -> int:
        did = self._deferreds.get(id(d))
        if did is None:
            did = self._register_deferred(d, "", "(created before tracing)")
        return did

    def _register_deferred(self, d: Any, site: str, function: str) -> int:
        self._deferred_ids += 1
        did = self._deferred_ids
        deferreds = self._deferreds
        deferreds[id(d)] = did
        if len(deferreds) > self.config.pending_deferreds + self.config.finished_deferreds:
            del deferreds[next(iter(deferreds))]
        self._add(
            ev.DeferredCreated(
                ts=_now(),
                reactor=self.reactor,
                turn=self.turn,
                conn=self.conn,
                deferred=did,
                site=site,
                function=function,
                timer=self.timer,
            )
        )
        return did

    def deferred_created(self, d: Any) -> None:
        """``d`` was just constructed; its creation site is the first caller outside plumbing."""
        frame = sys._getframe(1)
        skip = _SKIP_FILES
        while frame is not None and frame.f_code.co_filename in skip:
            frame = frame.f_back
        if frame is None:
            site, function = "", ""
        else:
            code = frame.f_code
            site, function = f"{code.co_filename}:{frame.f_lineno}", code.co_name
        self._register_deferred(d, site, function)

    def callback_added(self, d: Any, fn: Any, kind: str = "callback") -> None:
        """``fn`` was added to ``d`` as a ``callback``, ``errback`` or ``both``."""
        self._add(
            ev.CallbackAdded(
                ts=_now(),
                reactor=self.reactor,
                turn=self.turn,
                conn=self.conn,
                deferred=self._did(d),
                name=callable_name(fn),
                callback_kind=kind,
            )
        )

    def callback_started(self, d: Any, fn: Any, current: Any) -> None:
        """``fn`` is about to run on ``d`` with ``current`` (a value or a Failure)."""
        self._callbacks.append(
            (self._did(d), "failure" if _is_failure(current) else "value", _now(), fn)
        )

    def callback_finished(self, d: Any, result: Any) -> None:
        """The callback from the matching :meth:`callback_started` returned ``result``."""
        if not self._callbacks:
            return
        did, input_kind, start, fn = self._callbacks.pop()
        duration = _now() - start
        name = callable_name(fn)
        self._add(
            ev.CallbackRan(
                ts=start,
                reactor=self.reactor,
                turn=self.turn,
                conn=self.conn,
                deferred=did,
                name=name,
                duration=duration,
                input_kind=input_kind,
                output_type=type(result).__name__,
                output_repr=_describe(result, self.config.repr_limit),
            )
        )
        if duration > self.config.slow_callback:
            self._slow(name, callable_location(fn), duration)

    def deferred_chained(self, d: Any, other: Any) -> None:
        """A callback of ``d`` returned ``other``; ``d`` waits for it."""
        self._add(
            ev.DeferredChained(
                ts=_now(),
                reactor=self.reactor,
                turn=self.turn,
                conn=self.conn,
                deferred=self._did(d),
                waiting_on=self._did(other),
            )
        )

    def deferred_paused(self, d: Any) -> None:
        """``d.pause()`` was called."""
        self._add(ev.DeferredPaused(ts=_now(), reactor=self.reactor, turn=self.turn,
                                    conn=self.conn, deferred=self._did(d)))

    def deferred_unpaused(self, d: Any) -> None:
        """``d.unpause()`` was called."""
        self._add(ev.DeferredUnpaused(ts=_now(), reactor=self.reactor, turn=self.turn,
                                      conn=self.conn, deferred=self._did(d)))

    def deferred_fired(self, d: Any, result: Any) -> None:
        """``d`` got its first result (``callback`` or ``errback``)."""
        did = self._did(d)
        if _is_failure(result):
            error_type, message = _reason_parts(result)
            self._add(ev.DeferredFailed(ts=_now(), reactor=self.reactor, turn=self.turn,
                                        conn=self.conn, deferred=did, error_type=error_type,
                                        message=message))
        else:
            self._add(ev.DeferredFired(ts=_now(), reactor=self.reactor, turn=self.turn,
                                       conn=self.conn, deferred=did,
                                       result_type=type(result).__name__,
                                       result_repr=_describe(result, self.config.repr_limit)))

    def deferred_cancelled(self, d: Any) -> None:
        """``d.cancel()`` was called."""
        self._add(ev.DeferredCancelled(ts=_now(), reactor=self.reactor, turn=self.turn,
                                       conn=self.conn, deferred=self._did(d)))

    def deferred_unhandled(self, d: Any, failure: Any) -> None:
        """``d`` was garbage-collected holding ``failure`` that nobody handled."""
        did = self._deferreds.get(id(d), 0)
        error_type, message = _reason_parts(failure)
        text = ""
        get_tb = getattr(failure, "getTraceback", None)
        if get_tb is not None:
            try:
                text = get_tb()
            except Exception:  # noqa: BLE001 - report what we can
                text = ""
        self._add(ev.DeferredUnhandled(ts=_now(), reactor=self.reactor, turn=self.turn,
                                       conn=self.conn, deferred=did, error_type=error_type,
                                       message=message, traceback=text))
        chain = self.trace.chain(did) if did else []
        details = "\n".join(_chain_line(s) for s in chain)
        self._warn("unhandled", f"Unhandled error in Deferred {did}: {error_type}: {message}",
                   subject=did, details=details)

    # -- warnings that need time -------------------------------------------------------

    def _check_pending(self, now: float) -> None:
        limit = now - self.config.pending_deferred
        warned = self._pending_warned
        for summary in self.trace.pending.values():
            if summary.created > limit:
                break  # pending is in creation order
            if summary.id in warned:
                continue
            warned.add(summary.id)
            waits = f"waits on Deferred {summary.waiting_on}" if summary.waiting_on else (
                "waits for callback() or errback()")
            self._warn(
                "pending",
                f"Deferred {summary.id} pending for {now - summary.created:.0f} s; {waits}",
                subject=summary.id,
                details=f"created at {summary.site} in {summary.function}",
            )
        if len(warned) > 2 * self.config.pending_deferreds:
            warned.intersection_update(self.trace.pending)


def _describe(result: Any, limit: int) -> str:
    if _is_failure(result):
        error_type, message = _reason_parts(result)
        return f"{error_type}: {message}"[:limit]
    return safe_repr(result, limit)


def _chain_line(summary: Any) -> str:
    callbacks = ", ".join(c.name for c in summary.callbacks) or "no callbacks"
    return f"Deferred {summary.id} created at {summary.site} in {summary.function}: {callbacks}"
