"""The trace over real loopback sessions, on every reactor: each event kind, context
links, warnings, bounds, and a live recording loaded back."""

from __future__ import annotations

import gc
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_trace_export import validate_trace_events

import inspector.trace as trace_module
from inspector import error
from inspector.defer import Deferred
from inspector.protocol import ClientFactory, DatagramProtocol, Factory, Protocol
from inspector.protocols.basic import LineReceiver
from inspector.trace import events as ev
from inspector.trace.hooks import hooked_modules
from inspector.trace.model import TraceConfig
from inspector.trace.perfetto import to_trace_events
from inspector.trace.recording import load
from inspector.trace.session import raw_bytes, transcript


def trace_config(**kwargs: Any) -> Any:
    return pytest.mark.parametrize("tracing", [TraceConfig(**kwargs)], indirect=True)


def sleep(reactor: Any, seconds: float) -> Deferred:
    d: Deferred = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


class DelayedEcho(Protocol):
    """Echoes each chunk from a Deferred fired by a timer, so the chain is traced."""

    def dataReceived(self, data: bytes) -> None:
        d: Deferred = Deferred()
        d.addCallback(self.echo)
        self.factory.reactor.callLater(0, d.callback, data)

    def echo(self, data: bytes) -> int:
        self.transport.write(data)
        return len(data)


class OneLine(LineReceiver):
    """Sends one line, waits for it to come back, then closes."""

    def connectionMade(self) -> None:
        self.sendLine(b"hello trace")

    def lineReceived(self, line: bytes) -> None:
        self.factory.got.callback(line)
        self.transport.loseConnection()

    def connectionLost(self, reason: Any) -> None:
        self.factory.lost.callback(type(reason.value).__name__)


def _of(events: list, cls: type) -> list:
    return [e for e in events if isinstance(e, cls)]


def test_echo_session_gives_every_connection_event(reactor: Any, run: Any, tracing: Any) -> None:
    server = Factory.forProtocol(DelayedEcho)
    server.reactor = reactor
    client = ClientFactory.forProtocol(OneLine)

    async def scenario() -> int:
        client.got, client.lost = Deferred(), Deferred()
        port = reactor.listenTCP(0, server, interface="127.0.0.1")
        reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        line = await client.got
        assert line == b"hello trace"
        await client.lost
        await sleep(reactor, 0.05)  # the server side sees the close too
        await port.stopListening()
        return port.getHost().port

    number = run(scenario)
    trace = tracing.trace
    events = trace.events()
    label = type(reactor).__name__
    assert all(e.reactor.startswith(label) for e in events if e.reactor)
    assert trace.header["reactor"] == label

    started = _of(events, ev.PortStarted)
    assert [p.address for p in started] == [f"127.0.0.1:{number}"]
    assert started[0].factory == "Factory"
    assert [p.address for p in _of(events, ev.PortStopped)] == [f"127.0.0.1:{number}"]

    opened = {e.role: e for e in _of(events, ev.ConnectionOpened) if e.local}
    srv, cli = opened["server"], opened["client"]
    assert srv.protocol == "DelayedEcho" and cli.protocol == "OneLine"
    assert srv.local == cli.peer == f"127.0.0.1:{number}"
    assert srv.peer == cli.local

    def states(conn: int) -> list[str]:
        return [e.state for e in _of(events, ev.ConnectionState) if e.conn == conn]

    assert states(cli.conn) == ["connecting", "connected", "closing", "closed"]
    assert states(srv.conn) == ["connected", "closed"]
    closed = {e.conn: e for e in _of(events, ev.ConnectionClosed)}
    assert closed[cli.conn].reason_type == "ConnectionDone"
    assert closed[srv.conn].reason_type == "ConnectionDone"
    assert (closed[srv.conn].bytes_in, closed[srv.conn].bytes_out) == (13, 13)

    assert raw_bytes(trace, srv.conn) == (b"hello trace\r\n", b"hello trace\r\n")
    assert raw_bytes(trace, cli.conn) == (b"hello trace\r\n", b"hello trace\r\n")
    messages = [(m.direction, m.message_kind, m.text) for m in _of(events, ev.ProtocolMessage)
                if m.conn == cli.conn]
    assert messages == [("out", "line", "hello trace"), ("in", "line", "hello trace")]
    text = transcript(trace, cli.conn)
    assert ">> hello trace\\r\\n" in text and "<= [line] hello trace" in text

    # Correlation: the bytes arrived in a loop turn; the Deferred created while the
    # server's dataReceived ran is linked to the server connection and that turn; its
    # callback ran later from the timer it scheduled, and wrote the echo.
    turns = {t.turn: t for t in _of(events, ev.LoopTurn)}
    arrived = next(e for e in _of(events, ev.BytesIn) if e.conn == srv.conn)
    assert arrived.turn in turns and turns[arrived.turn].fds_ready >= 1
    created = [d for d in _of(events, ev.DeferredCreated) if d.conn == srv.conn]
    assert len(created) == 1
    did = created[0].deferred
    assert created[0].turn == arrived.turn
    assert created[0].site.startswith(__file__) and created[0].function == "dataReceived"
    added = [a for a in _of(events, ev.CallbackAdded) if a.deferred == did]
    assert [(a.name, a.callback_kind) for a in added] == [("DelayedEcho.echo", "callback")]
    ran = [r for r in _of(events, ev.CallbackRan) if r.deferred == did]
    assert [(r.name, r.input_kind, r.output_type, r.output_repr) for r in ran] == [
        ("DelayedEcho.echo", "value", "int", "13")]
    assert ran[0].duration >= 0 and ran[0].turn in turns
    fired = [f for f in _of(events, ev.TimerFired) if f.name == "Deferred.callback"]
    assert fired and fired[0].lateness >= 0 and turns[fired[0].turn].timers_run >= 1
    assert [f.result_type for f in _of(events, ev.DeferredFired) if f.deferred == did] == ["bytes"]
    echoed = [e for e in _of(events, ev.BytesOut) if e.conn == srv.conn]
    assert echoed[0].turn == ran[0].turn
    summary = trace.deferred(did)
    assert summary is not None and summary.state == "succeeded" and summary.conn == srv.conn
    assert [c.name for c in summary.callbacks if c.ran] == ["DelayedEcho.echo"]

    # The real session exports to valid trace-event JSON, the Deferred drawn as a flow.
    exported = validate_trace_events(to_trace_events(trace))
    flows = [e for e in exported if e["ph"] == "s" and e["name"] == f"Deferred {did}"]
    assert len(flows) == 1


def test_refused_connect_and_port_in_use(reactor: Any, run: Any, tracing: Any) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    busy = holder.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    failed: Deferred = Deferred()

    class Client(ClientFactory):
        protocol = Protocol

        def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
            failed.callback(type(reason.value).__name__)

    async def scenario() -> None:
        with pytest.raises(error.CannotListenError):
            reactor.listenTCP(busy, Factory.forProtocol(Protocol), interface="127.0.0.1")
        reactor.connectTCP("127.0.0.1", free, Client())
        assert await failed == "ConnectionRefusedError"

    try:
        run(scenario)
    finally:
        holder.close()
    events = tracing.trace.events()
    refused = _of(events, ev.PortRefused)
    assert [r.address for r in refused] == [f"127.0.0.1:{busy}"]
    assert "in use" in refused[0].error.lower()
    attempt = next(e for e in _of(events, ev.ConnectionOpened) if e.peer == f"127.0.0.1:{free}")
    states = [e.state for e in _of(events, ev.ConnectionState) if e.conn == attempt.conn]
    assert states == ["connecting", "failed"]
    closed_ev = next(e for e in _of(events, ev.ConnectionClosed) if e.conn == attempt.conn)
    assert closed_ev.reason_type == "ConnectionRefusedError"
    assert tracing.trace.connections[attempt.conn].state == "failed"


def test_deferred_chain_pause_cancel_and_failure(reactor: Any, run: Any, tracing: Any) -> None:
    ids: dict[str, int] = {}

    async def scenario() -> None:
        inner: Deferred = Deferred()
        outer: Deferred = Deferred()
        outer.addCallback(lambda _: inner)
        outer.addCallback(lambda value: value * 2)
        outer.callback(None)
        reactor.callLater(0.01, inner.callback, 21)
        assert await outer == 42
        paused: Deferred = Deferred()
        paused.pause()
        paused.callback("x")
        paused.unpause()
        cancelled: Deferred = Deferred()
        cancelled.addErrback(lambda f: f.trap(Exception) and None)
        cancelled.cancel()
        failing: Deferred = Deferred()
        failing.addCallback(lambda _: 1 / 0)
        failing.addErrback(lambda f: "recovered")
        failing.callback(None)
        assert await failing == "recovered"
        for name, d in (("inner", inner), ("outer", outer), ("paused", paused),
                        ("cancelled", cancelled), ("failing", failing)):
            ids[name] = tracing._did(d)

    run(scenario)
    trace = tracing.trace
    events = trace.events()
    chained = _of(events, ev.DeferredChained)
    assert [(c.deferred, c.waiting_on) for c in chained] == [(ids["outer"], ids["inner"])]
    assert [p.deferred for p in _of(events, ev.DeferredPaused)] == [ids["paused"]]
    assert [p.deferred for p in _of(events, ev.DeferredUnpaused)] == [ids["paused"]]
    assert [c.deferred for c in _of(events, ev.DeferredCancelled)] == [ids["cancelled"]]
    failed = {f.deferred: f for f in _of(events, ev.DeferredFailed)}
    assert failed[ids["cancelled"]].error_type == "CancelledError"
    assert trace.deferred(ids["cancelled"]).state == "cancelled"
    runs = [(r.name.rsplit(".", 1)[-1], r.input_kind, r.output_type)
            for r in _of(events, ev.CallbackRan) if r.deferred == ids["failing"]]
    assert runs == [("<lambda>", "value", "Failure"), ("<lambda>", "failure", "str")]
    outer = trace.deferred(ids["outer"])
    assert outer.state == "succeeded" and outer.waiting_on == 0
    assert [c.output_type for c in outer.callbacks][:2] == ["Deferred", "int"]
    assert trace.chain(ids["outer"])[0].id == ids["outer"]


def test_unhandled_failure_at_gc_warns_with_its_chain(reactor: Any, run: Any,
                                                      tracing: Any) -> None:
    lost: list[int] = []

    def scenario() -> None:
        d: Deferred = Deferred()
        d.addCallback(lambda _: None)
        d.errback(ValueError("nobody handles this"))
        lost.append(tracing._did(d))
        del d
        gc.collect()

    run(scenario)
    did = lost[0]
    trace = tracing.trace
    unhandled = _of(trace.events(), ev.DeferredUnhandled)
    assert [(u.deferred, u.error_type, u.message) for u in unhandled] == [
        (did, "ValueError", "nobody handles this")]
    assert "ValueError" in unhandled[0].traceback
    warning = next(w for w in trace.warnings if w.category == "unhandled")
    assert warning.subject == did and "nobody handles this" in warning.message
    assert __file__ in warning.details and "scenario" in warning.details


@trace_config(late_timer=0.02, pending_deferred=0.0)
def test_slow_callback_late_timer_and_pending_warnings(reactor: Any, run: Any,
                                                       tracing: Any) -> None:
    reactor.slow_callback_threshold = 0.05
    forgotten: list[Deferred] = []

    def hog() -> None:
        time.sleep(0.12)

    async def scenario() -> None:
        forgotten.append(Deferred())  # never fired
        reactor.callLater(0, hog)
        reactor.callLater(0.01, lambda: None)  # due while hog holds the loop
        await sleep(reactor, 0.5)  # the periodic check runs meanwhile

    run(scenario)
    trace = tracing.trace
    slow = [s for s in _of(trace.events(), ev.SlowCallback) if s.name.endswith("hog")]
    assert slow and slow[0].duration >= 0.1 and __file__ in slow[0].location
    categories = {w.category for w in trace.warnings}
    assert {"slow", "late-timer", "pending"} <= categories
    late = next(w for w in trace.warnings if w.category == "late-timer")
    assert "late" in late.message
    pending = [w for w in trace.warnings if w.category == "pending"]
    assert any(__file__ in w.details and "waits for callback" in w.message for w in pending)


@trace_config(write_high_water=64 * 1024)
def test_write_buffer_warning_when_peer_does_not_read(reactor: Any, run: Any,
                                                      tracing: Any) -> None:
    chunk = b"x" * 65536
    written = []

    class Flood(Protocol):
        def connectionMade(self) -> None:
            self.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            # Write until our own buffer passes the mark (the kernel's fills first).
            while self.transport.getBufferSize() <= 256 * 1024 and len(written) < 1024:
                self.transport.write(chunk)
                written.append(len(chunk))
            self.factory.flooded.callback(self.transport.getBufferSize())

    class Sleeper(Protocol):
        def connectionMade(self) -> None:
            self.transport.pauseProducing()  # never reads

    async def scenario() -> int:
        server = Factory.forProtocol(Flood)
        server.flooded = Deferred()
        port = reactor.listenTCP(0, server, interface="127.0.0.1")
        connector = reactor.connectTCP("127.0.0.1", port.getHost().port,
                                       ClientFactory.forProtocol(Sleeper))
        buffered = await server.flooded
        connector.disconnect()
        await port.stopListening()
        return buffered

    buffered = run(scenario)
    assert buffered > 64 * 1024
    warnings = [w for w in tracing.trace.warnings if w.category == "write-buffer"]
    assert len(warnings) == 1 and "peer reads slower" in warnings[0].message
    server_conn = next(e.conn for e in _of(tracing.trace.events(), ev.ConnectionOpened)
                       if e.role == "server")
    assert warnings[0].subject == server_conn
    # Byte counts stay exact even though capture stops at the budget.
    assert tracing.trace.connections[server_conn].bytes_out == sum(written)
    assert tracing.trace.connections[server_conn].captured == tracing.config.capture_bytes


def test_thread_calls_are_counted_in_their_turn(reactor: Any, run: Any, tracing: Any) -> None:
    async def scenario() -> None:
        done: Deferred = Deferred()
        threading.Thread(target=reactor.callFromThread, args=(done.callback, "t")).start()
        assert await done == "t"

    run(scenario)
    assert sum(t.thread_calls for t in _of(tracing.trace.events(), ev.LoopTurn)) >= 1


def test_udp_datagrams_are_traced_with_their_peer(reactor: Any, run: Any, tracing: Any) -> None:
    class Echo(DatagramProtocol):
        def datagramReceived(self, data: bytes, addr: Any) -> None:
            self.transport.write(data, addr)

    class Ping(DatagramProtocol):
        def __init__(self) -> None:
            self.got: Deferred = Deferred()

        def datagramReceived(self, data: bytes, addr: Any) -> None:
            self.got.callback(data)

    async def scenario() -> tuple[int, int]:
        server = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
        ping = Ping()
        client = reactor.listenUDP(0, ping, interface="127.0.0.1")
        client.write(b"ping", ("127.0.0.1", server.getHost().port))
        assert await ping.got == b"ping"
        await server.stopListening()
        await client.stopListening()
        return server.getHost().port, client.getHost().port

    server_port, client_port = run(scenario)
    events = tracing.trace.events()
    udp = {e.local: e for e in _of(events, ev.ConnectionOpened) if e.role == "udp"}
    server = udp[f"127.0.0.1:{server_port}"]
    assert server.transport == "udp" and server.protocol == "Echo"
    received = [e for e in _of(events, ev.BytesIn) if e.conn == server.conn]
    assert [(e.data, e.peer) for e in received] == [(b"ping", f"127.0.0.1:{client_port}")]
    sent = [e for e in _of(events, ev.BytesOut) if e.conn == server.conn]
    assert [(e.data, e.peer) for e in sent] == [(b"ping", f"127.0.0.1:{client_port}")]
    assert {p.transport for p in _of(events, ev.PortStarted)} == {"udp"}
    assert len(_of(events, ev.PortStopped)) == 2


async def _ping_pong(reactor: Any, rounds: int, payload: bytes) -> None:
    """One client sends ``payload`` to an echo server ``rounds`` times, waiting for each echo."""

    class Pinger(Protocol):
        def connectionMade(self) -> None:
            self.left = rounds
            self.transport.write(payload)

        def dataReceived(self, data: bytes) -> None:
            self.left -= 1
            if self.left:
                self.transport.write(payload)
            else:
                self.factory.done.callback(None)

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    client = ClientFactory.forProtocol(Pinger)
    client.done = Deferred()
    connector = reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    await client.done
    connector.disconnect()
    await port.stopListening()


@trace_config(raw_size=200, capture_bytes=1000)
def test_bounds_hold_and_counts_stay_exact(reactor: Any, run: Any, tracing: Any) -> None:
    rounds = 300
    run(_ping_pong, reactor, rounds, b"0123456789")
    trace = tracing.trace
    assert trace.dropped().get("conn.in", 0) > 0  # nobody read while it ran
    client_conn = next(e.conn for e in _of(trace.events(), ev.ConnectionOpened)
                       if e.role == "client" and e.local)
    summary = trace.connections[client_conn]
    assert summary.bytes_out == summary.bytes_in == 10 * rounds
    assert summary.captured <= 1000
    assert trace.totals()["conn.in"] >= 2 * rounds
    seen = trace.subscribe(from_start=True).drain()
    assert len(seen) <= trace.config.feed_size
    assert [e.seq for e in seen] == sorted(e.seq for e in seen)


@trace_config(raw_size=200)
def test_a_subscribed_reader_loses_nothing(reactor: Any, run: Any, tracing: Any) -> None:
    cursor = tracing.trace.subscribe()  # e.g. the window or a recorder
    got: list = []

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    class Chatter(Protocol):
        def connectionMade(self) -> None:
            self.left = 200
            self.transport.write(b"ping")

        def dataReceived(self, data: bytes) -> None:
            self.left -= 1
            if self.left:
                self.transport.write(b"ping")
            else:
                self.factory.done.callback(None)

    async def scenario() -> None:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        client = ClientFactory.forProtocol(Chatter)
        client.done = Deferred()
        connector = reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        await client.done
        got.extend(cursor.drain())
        connector.disconnect()
        await port.stopListening()

    run(scenario)
    got.extend(cursor.drain())
    assert tracing.trace.dropped() == {}
    assert cursor.missed == 0
    assert sum(1 for e in got if isinstance(e, ev.BytesIn)) == 400


def test_live_recording_loads_back_the_same_trace(reactor: Any, run: Any, tracing: Any,
                                                  tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    recorder = trace_module.record(path, tracing)
    server = Factory.forProtocol(DelayedEcho)
    server.reactor = reactor
    client = ClientFactory.forProtocol(OneLine)

    async def scenario() -> None:
        client.got, client.lost = Deferred(), Deferred()
        port = reactor.listenTCP(0, server, interface="127.0.0.1")
        reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        await client.got
        await client.lost
        await port.stopListening()

    run(scenario)
    recorder.flush()
    # Cut short (no closing line, as after a crash): the reactor is known all the same.
    assert load(path).header["reactor"] == type(reactor).__name__
    recorder.close()
    loaded = load(path)
    assert loaded.problems == []
    assert loaded.events() == tracing.trace.events()
    assert loaded.header["reactor"] == type(reactor).__name__
    assert {c: (s.bytes_in, s.bytes_out, s.state) for c, s in loaded.connections.items()} == {
        c: (s.bytes_in, s.bytes_out, s.state) for c, s in tracing.trace.connections.items()}


def test_observer_drains_live_events_in_batches(reactor: Any, run: Any, tracing: Any) -> None:
    cursor = tracing.trace.subscribe()
    batches: list[int] = []

    def poll() -> None:
        batches.append(len(cursor.drain()))

    async def scenario() -> None:
        for _ in range(5):
            reactor.callLater(0, lambda: Deferred().callback(None))
            await sleep(reactor, 0.02)
            poll()

    run(scenario)
    assert len(batches) == 5 and all(n > 0 for n in batches)


def test_disable_switches_every_hook_off(reactor: Any, run: Any) -> None:
    tracer = trace_module.enable()
    modules = hooked_modules()
    names = {m.__name__ for m in modules}
    assert {"inspector.defer", "inspector.reactors.base", "inspector.reactors.selectors",
            "inspector.tcp", "inspector.udp", "inspector.protocols.basic"} <= names
    assert all(m._tracer is tracer for m in modules)
    assert trace_module.disable() is tracer
    assert all(m._tracer is None for m in modules)
    before = sum(tracer.trace.totals().values())

    def scenario() -> Deferred:
        d: Deferred = Deferred()
        reactor.callLater(0, d.callback, None)
        return d

    run(scenario)
    assert sum(tracer.trace.totals().values()) == before


def test_switching_tracing_off_keeps_no_connection_alive(reactor: Any, run: Any) -> None:
    import weakref

    tracer = trace_module.enable()
    alive: list[Any] = []

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    class Once(Protocol):
        def connectionMade(self) -> None:
            alive.append(weakref.ref(self.transport))
            self.transport.write(b"ping")

        def dataReceived(self, data: bytes) -> None:
            self.factory.done.callback(None)

    async def scenario() -> None:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        client = ClientFactory.forProtocol(Once)
        client.done = Deferred()
        connector = reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        await client.done
        trace_module.disable()  # while the connection is open: its close goes unseen
        connector.disconnect()
        await sleep(reactor, 0.05)
        await port.stopListening()

    run(scenario)
    gc.collect()
    assert alive and alive[0]() is None
    assert tracer.trace.connections  # what was traced stays readable


async def _connect_many(reactor: Any, server: Factory, client_protocol: type[Protocol],
                        total: int) -> None:
    """Connect ``total`` clients speaking ``client_protocol`` to ``server`` on loopback and
    wait until every one has lost its connection."""
    lost: list[Any] = []
    done: Deferred = Deferred()

    class Counted(client_protocol):  # type: ignore[misc, valid-type]
        def connectionLost(self, reason: Any) -> None:
            super().connectionLost(reason)
            lost.append(reason)
            if len(lost) == total:
                done.callback(None)

    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    client = ClientFactory.forProtocol(Counted)
    for _ in range(total):
        reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    await done
    await sleep(reactor, 0.05)
    await port.stopListening()


@trace_config(closed_connections=20)
def test_many_short_connections_leave_bounded_state(reactor: Any, run: Any,
                                                    tracing: Any) -> None:
    total = 60

    class Hello(Protocol):
        def connectionMade(self) -> None:
            self.transport.write(b"hi")
            self.transport.loseConnection()

    run(_connect_many, reactor, Factory.forProtocol(Hello), Protocol, total)
    trace = tracing.trace
    assert len(trace.connections) == 20
    assert trace.connections_dropped == 2 * total - 20
    assert all(s.state == "closed" and s.bytes_in + s.bytes_out == 2
               for s in trace.connections.values())
    assert tracing._conn_of == {} and tracing._dec_of == {} and tracing._conn_state == {}
    assert tracing._sides_in == {} and tracing._sides_out == {}


@trace_config(raw_size=40)
def test_unread_bytes_of_connections_that_close_stay_exact(reactor: Any, run: Any,
                                                           tracing: Any) -> None:
    # Nobody reads and the capture holds 40 records, so records are dropped many times
    # while connections open, talk and close: each connection's counts stay exact,
    # whether its bytes were dropped before or after its close was seen.
    total = 30

    class Sizes(Protocol):
        def connectionMade(self) -> None:
            self.factory.served += 1
            size = self.factory.served
            for _ in range(3):  # three chunks of its own size, then close
                self.transport.write(b"s" * size)
            self.transport.loseConnection()

    class Acker(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(b"ack")

    server = Factory.forProtocol(Sizes)
    server.served = 0
    run(_connect_many, reactor, server, Acker, total)
    trace = tracing.trace
    assert trace.dropped().get("conn.out", 0) > 0
    servers = [s for s in trace.connections.values() if s.role == "server"]
    clients = [s for s in trace.connections.values() if s.role == "client"]
    assert sorted(s.bytes_out for s in servers) == [3 * n for n in range(1, total + 1)]
    assert sorted(s.bytes_in for s in clients) == [3 * n for n in range(1, total + 1)]
    assert trace.totals()["conn.in"] >= total  # every chunk counted, kept or dropped
    assert tracing._conn_state == {} and tracing._sides_in == {}


def test_succeed_and_fail_count_as_fired(reactor: Any, run: Any, tracing: Any) -> None:
    from inspector.defer import fail, succeed

    made: list[int] = []

    def scenario() -> None:
        made.append(tracing._did(succeed(7)))
        failed = fail(KeyError("k"))
        failed.addErrback(lambda f: None)
        made.append(tracing._did(failed))

    run(scenario)
    trace = tracing.trace
    assert trace.deferred(made[0]).state == "succeeded"
    assert trace.deferred(made[0]).result_repr == "7"
    assert trace.deferred(made[1]).state == "recovered"  # its errback handled the KeyError (the window says so too)
    assert made[0] not in trace.pending and made[1] not in trace.pending


@trace_config(raw_size=67, capture_bytes=100)
def test_a_late_reader_gets_bytes_stamped_with_the_turn_they_happened_in(
        reactor: Any, run: Any, tracing: Any) -> None:
    # Nobody reads while this runs, so the capture is reduced to counts many times
    # over; the bytes events that remain for a late reader still carry their own
    # loop turn and its start time, and the counts stay exact. (An odd capture size,
    # so reductions cut through the middle of a turn's records.)
    rounds = 150
    started = time.monotonic()
    run(_ping_pong, reactor, rounds, b"abcdefgh")
    trace = tracing.trace
    assert trace.dropped().get("conn.out", 0) > 0  # reduced while nobody read
    turns = trace.events(ev.LoopTurn.kind)  # each recorded as its turn ends
    chunks = trace.events(ev.BytesIn.kind, ev.BytesOut.kind)
    assert chunks and turns
    for chunk in chunks:
        assert started <= chunk.ts <= time.monotonic()
        for turn in turns:
            if turn.turn == chunk.turn:  # the turn it ran in ended after it
                assert turn.seq > chunk.seq and turn.ts == chunk.ts
            elif turn.seq < chunk.seq:  # turns that ended before it came before it
                assert turn.turn < chunk.turn
    client_conn = next(e.conn for e in trace.events(ev.ConnectionOpened.kind)
                       if e.role == "client" and e.local)
    summary = trace.connections[client_conn]
    assert summary.bytes_in == summary.bytes_out == 8 * rounds
    assert trace.totals()["conn.in"] >= 2 * rounds
