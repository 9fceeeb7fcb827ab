"""The trace hooks: everything the framework lets a tracer observe, as one typed contract.

:class:`TraceHooks` lists every hook with its signature (like ``trio.abc.Instrument``);
:data:`HOOKED_MODULES` says which modules call which hooks. ``inspector.trace``
implements the contract (its ``Tracer`` declares ``TraceHooks`` as a base) and installs
it; the core owns it, and a test keeps the three in step: a hook called anywhere but
not declared here, declared but not called, or implemented with another signature fails.

How a hooked module calls a hook: it holds a module-level ``_tracer`` that is ``None``
unless tracing is on, and every call is one line of the shape::

    if _tracer is not None: _tracer.bytes_in(self, data)

so tracing off costs one ``is None`` check per hook (``benchmarks/trace_bench.py``
measures it against the same tree with those lines removed). Installing a tracer sets
``_tracer`` in every module of :data:`HOOKED_MODULES` (``inspector.trace.hooks``), so
a module listed here is imported when tracing starts: never list one that imports Qt;
such code reaches the hooks through ``reactors/base.py``.

The hottest hooks, TCP's :meth:`~TraceHooks.bytes_in` and :meth:`~TraceHooks.bytes_out`,
are captured at the call site instead of called (:data:`CAPTURING_MODULES`): a Python
call per chunk cost more than everything else tracing does. Such a module also holds the
names of :data:`CAPTURE_SEAM`, set with ``_tracer``, and captures a chunk as two C-level
appends, its key and then its bytes, still behind the one ``is None`` check::

    if _tracer is not None: _capture_key(self._recv) or _capture_data(data)

A chunk's key says which connection and direction it went through: a transport of a
capturing module has ``capture_keys()``, its ``(in, out)`` keys, objects made once per
connection (the socket's bound ``recv`` and ``send``). A write also keeps the capture
bounded, as one callback may write without end::

    if _tracer is not None: (_capture_key(self._send) or _capture_data(data)
                             or len(_captured) > _capture_limit and _tracer.capture_full())

Hooks run inside the framework's own code, often on the hot path: an implementation
must return quickly, never raise, and never call back into the object it is shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

if TYPE_CHECKING:
    from inspector.defer import Deferred
    from inspector.failure import Failure
    from inspector.interfaces import (
        IDelayedCall,
        IListeningPort,
        IReactorCore,
        ITCPTransport,
        IUDPTransport,
    )

__all__ = ["CAPTURE_SEAM", "CAPTURING_MODULES", "HOOKED_MODULES", "TraceHooks", "hook_names"]


class TraceHooks(Protocol):
    """What can be observed: one method per hook, called by the modules named in
    :data:`HOOKED_MODULES`. Connections, ports and attempts are told apart by
    identity: the same object is passed from its first hook to its last."""

    # -- the loop (reactors/base.py, reactors/selectors.py) ---------------------------

    def turn_started(self, reactor: IReactorCore, fds_ready: int = 0) -> None:
        """A loop turn's work begins after waiting; ``fds_ready`` descriptors are ready."""

    def turn_ended(self, reactor: IReactorCore) -> None:
        """The loop turn's work is done; the loop is about to wait again."""

    def dispatch_started(self, reactor: IReactorCore) -> None:
        """A host loop (Qt, asyncio) hands ready descriptors to the reactor."""

    def dispatch_ended(self, reactor: IReactorCore) -> None:
        """The descriptors handed over by the matching :meth:`dispatch_started` were handled."""

    def thread_calls_run(self, reactor: IReactorCore, count: int) -> None:
        """``count`` functions queued by ``callFromThread`` are about to run."""

    def slow_callback(self, what: object, duration: float) -> None:
        """``what`` (a callable or a selectable) held the loop for ``duration`` seconds."""

    # -- timers (reactors/base.py) ------------------------------------------------------

    def timer_scheduled(self, call: IDelayedCall) -> None:
        """``callLater`` made ``call``."""

    def timer_cancelled(self, call: IDelayedCall) -> None:
        """``call`` was cancelled."""

    def timer_started(self, reactor: IReactorCore, call: IDelayedCall, func: Callable[..., Any],
                      now: float) -> None:
        """``call``'s function ``func`` is about to run at reactor time ``now``."""

    def timer_finished(self, call: IDelayedCall) -> None:
        """The function of the matching :meth:`timer_started` returned or raised."""

    # -- connections and ports (tcp.py, udp.py, unix.py; multicast ports through udp.py) ------

    def connection_connecting(self, attempt: object, host: str, port: int, kind: str = "tcp") -> None:
        """A client connection attempt (``attempt``) to ``host:port`` began; ``kind`` is the
        connection's (``tcp``, ``unix``), as :meth:`connection_opened` will say."""

    def connection_handover(self, attempt: object, transport: ITCPTransport) -> None:
        """The attempt connected: ``transport`` carries on where ``attempt`` left off."""

    def connection_opened(self, transport: ITCPTransport | IUDPTransport, role: str,
                          kind: str = "tcp") -> None:
        """``transport`` is connected (role ``client``/``server``) or a UDP port (``udp``)."""

    def connection_state(self, transport: ITCPTransport, state: str) -> None:
        """``transport`` entered ``state`` (``half-closed``, ``closing`` ...)."""

    def connection_closed(self, transport: object, reason: Failure | BaseException | None = None) -> None:
        """``transport`` (a connection, an attempt or a UDP port) is gone, for ``reason``."""

    def bytes_in(self, transport: ITCPTransport, data: bytes) -> None:
        """``data`` arrived on ``transport``; its protocol's ``dataReceived`` runs next."""

    def bytes_out(self, transport: ITCPTransport, data: bytes) -> None:
        """The application wrote ``data`` to ``transport``."""

    def write_buffered(self, transport: ITCPTransport, size: int) -> None:
        """``size`` bytes now wait unsent in ``transport``'s write buffer."""

    def capture_full(self) -> None:
        """The call-site capture (:data:`CAPTURE_SEAM`) holds more than ``_capture_limit``
        records: make room (decode them for readers, or drop all but the newest, counted)."""

    def datagram_in(self, transport: IUDPTransport, data: bytes, peer: Any) -> None:
        """A datagram from ``peer`` (an address tuple) arrived on ``transport``."""

    def datagram_out(self, transport: IUDPTransport, data: Any, peer: Any) -> None:
        """The application sent ``data`` (bytes-like) to ``peer`` on ``transport``."""

    def port_started(self, port: IListeningPort, kind: str = "tcp") -> None:
        """A listening TCP port or a UDP port (``kind`` ``udp``) began."""

    def port_stopped(self, port: IListeningPort) -> None:
        """The port stopped."""

    def port_refused(self, address: str, error: BaseException) -> None:
        """Listening on ``address`` (``host:port``) failed with ``error``."""

    # -- proxies (proxy/tap.py) ------------------------------------------------------------

    def link(self, a: ITCPTransport, b: ITCPTransport, label: str) -> None:
        """``a`` and ``b`` are the two legs of one relayed session (``a`` the accepted client,
        ``b`` the connection made upstream); ``label`` names what links them ("proxy :8000")."""

    # -- protocol messages (protocols/basic.py, protocols/irc/) ----------------------------

    def message(self, protocol: object, kind: str, text: str | bytes, direction: str = "in") -> None:
        """``protocol`` parsed (``in``) or produced (``out``) one message of ``kind``
        (``line``, ``irc``)."""

    # -- Deferreds (defer.py) ------------------------------------------------------------

    def deferred_created(self, d: Deferred[Any]) -> None:
        """``d`` was just constructed (its creation site is the caller's frame)."""

    def callbacks_added(self, d: Deferred[Any], callback: Callable[..., Any] | None,
                        errback: Callable[..., Any] | None) -> None:
        """``callback`` and/or ``errback`` were added to ``d`` at one point of its chain."""

    def callback_started(self, d: Deferred[Any], fn: Callable[..., Any], current: object) -> None:
        """``fn`` is about to run on ``d`` with ``current`` (a value or a Failure)."""

    def callback_finished(self, d: Deferred[Any], result: object) -> None:
        """The callback of the matching :meth:`callback_started` returned ``result``."""

    def deferred_chained(self, d: Deferred[Any], other: Deferred[Any]) -> None:
        """A callback of ``d`` returned ``other``; ``d`` waits for it."""

    def deferred_resumed(self, d: Deferred[Any], inner: Deferred[Any]) -> None:
        """``inner``, which ``d`` waited on, has its result; ``d``'s chain goes on."""

    def deferred_paused(self, d: Deferred[Any]) -> None:
        """``d.pause()`` was called."""

    def deferred_unpaused(self, d: Deferred[Any]) -> None:
        """``d.unpause()`` was called."""

    def deferred_fired(self, d: Deferred[Any], result: object) -> None:
        """``d`` got its result (``callback`` or ``errback``)."""

    def deferred_cancelled(self, d: Deferred[Any]) -> None:
        """``d.cancel()`` was called."""

    def deferred_failure_held(self, d: Deferred[Any], holder: object) -> None:
        """``d``'s chain ended in a Failure, now kept by ``holder`` until handled or collected."""

    def deferred_unhandled(self, holder: object, failure: Failure) -> None:
        """The Failure kept by ``holder`` was garbage-collected unhandled (runs from the
        garbage collector: must never raise)."""


#: Which modules call which hooks. Each holds a module-level ``_tracer`` (see above).
HOOKED_MODULES: Mapping[str, frozenset[str]] = {
    "inspector.defer": frozenset({
        "deferred_created", "callbacks_added", "callback_started", "callback_finished",
        "deferred_chained", "deferred_resumed", "deferred_paused", "deferred_unpaused",
        "deferred_fired", "deferred_cancelled", "deferred_failure_held", "deferred_unhandled",
    }),
    "inspector.reactors.base": frozenset({
        "turn_ended", "dispatch_started", "dispatch_ended", "thread_calls_run", "slow_callback",
        "timer_scheduled", "timer_cancelled", "timer_started", "timer_finished",
    }),
    "inspector.reactors.selectors": frozenset({"turn_started"}),
    "inspector.tcp": frozenset({
        "connection_connecting", "connection_handover", "connection_opened", "connection_state",
        "connection_closed", "write_buffered", "capture_full",
        "port_started", "port_stopped", "port_refused",
    }),
    "inspector.tls": frozenset({
        "connection_opened", "connection_state", "connection_closed", "bytes_in", "bytes_out", "message",
    }),
    "inspector.udp": frozenset({
        "connection_opened", "connection_closed", "datagram_in", "datagram_out",
        "port_started", "port_stopped", "port_refused",
    }),
    "inspector.unix": frozenset({
        "connection_connecting", "connection_handover", "connection_closed", "port_started", "port_refused",
    }),
    # A child process is traced as a stream: stdin is "out", stdout and stderr are "in";
    # a message of kind "stderr" (or "fd N") follows each chunk not read from stdout.
    "inspector.process": frozenset({"connection_opened", "connection_closed", "bytes_in", "bytes_out", "message"}),
    "inspector.protocols.basic": frozenset({"message"}),
    # A proxy links its two legs (its dissector's messages go through dissect/live.py).
    "inspector.proxy.tap": frozenset({"link"}),
    # What a dissector finds on a live connection (raw entries, the proxy): dissect/live.py.
    "inspector.dissect.live": frozenset({"message"}),
    "inspector.protocols.irc.client": frozenset({"message"}),
    "inspector.protocols.irc.framing": frozenset({"message"}),
    "inspector.protocols.irc.server": frozenset({"message"}),
}

#: Modules that capture these hooks at the call site instead of calling them (above):
#: they hold the names of :data:`CAPTURE_SEAM` as well as ``_tracer``.
CAPTURING_MODULES: Mapping[str, frozenset[str]] = {
    "inspector.tcp": frozenset({"bytes_in", "bytes_out"}),
}

#: The module-level names of the call-site capture, ``None`` (0) while tracing is off:
#: append a chunk's key, append its bytes, the list of keys, and the bound on its length.
CAPTURE_SEAM = ("_capture_key", "_capture_data", "_captured", "_capture_limit")


def hook_names() -> list[str]:
    """The names of every hook in :class:`TraceHooks`, in declaration order."""
    return [name for name, value in vars(TraceHooks).items()
            if callable(value) and not name.startswith("_")]
