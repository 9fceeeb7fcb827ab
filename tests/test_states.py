"""The connection-state vocabulary and lifecycle table (inspector/states.py), checked
against what the TCP transport really does on every reactor: each scenario's states, as
the trace reports them, are exactly the table's legal path, and every move the transport
makes is one the table lists. An illegal move is a clear error; recordings written with
plain strings still load and fold to the same states."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from zope.interface import implementer

import inspector.tcp as tcp
import inspector.trace as trace_module
from inspector.defer import Deferred
from inspector.interfaces import IHalfCloseableProtocol
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.states import (
    FINAL_STATES,
    TRANSITIONS,
    ConnectionState,
    IllegalTransitionError,
    check_transition,
    closed_state,
)
from inspector.trace import events as ev
from inspector.trace.model import Trace, TraceConfig
from inspector.trace.recording import RecordingReader, load
from inspector.ui.viewmodel.feed import apply
from inspector.ui.viewmodel.store import Store

from reactor_support import free_port

S = ConnectionState


# -- a traced reactor whose transport moves are watched --------------------------------


@pytest.fixture
def moves(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Tracing on, and every (current, new) move tcp.py asks of the table, recorded
    before the table judges it (so a move the table lacks is seen even if the error it
    raises is swallowed by the reactor)."""
    seen: list[tuple[str, str, str]] = []
    real = tcp.check_transition

    def spy(current: S, new: S, what: str = "connection") -> S:
        seen.append((what, current, new))
        return real(current, new, what)

    monkeypatch.setattr(tcp, "check_transition", spy)
    tracer = trace_module.enable(TraceConfig())
    yield tracer, seen
    trace_module.disable()


class Recorder(Protocol):
    """Fires ``made`` with the transport and ``lost`` with the reason's type name."""

    def __init__(self) -> None:
        self.made: Deferred = Deferred()
        self.lost: Deferred = Deferred()

    def connectionMade(self) -> None:
        self.made.callback(self.transport)

    def connectionLost(self, reason: Any) -> None:
        self.lost.callback(type(reason.value).__name__)


@implementer(IHalfCloseableProtocol)
class HalfCloser(Recorder):
    """Answers the peer's EOF by ending its own side too."""

    def readConnectionLost(self) -> None:
        self.transport.loseWriteConnection()

    def writeConnectionLost(self) -> None:
        pass


class Built(Factory):
    """Builds ``protocol`` and remembers each instance (server side)."""

    def __init__(self, protocol: type = Recorder) -> None:
        self.protocol = protocol
        self.built: list[Any] = []
        self.first: Deferred = Deferred()

    def buildProtocol(self, addr: Any) -> Any:
        p = self.protocol()
        p.factory = self
        self.built.append(p)
        if len(self.built) == 1:
            self.first.callback(p)
        return p


class Client(ClientFactory):
    """Builds one ``protocol``; ``failed`` fires with a failed attempt's reason type."""

    def __init__(self, protocol: type = Recorder) -> None:
        self.protocol = protocol
        self.built: Deferred = Deferred()
        self.failed: Deferred = Deferred()

    def buildProtocol(self, addr: Any) -> Any:
        p = self.protocol()
        p.factory = self
        self.built.callback(p)
        return p

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        self.failed.callback(type(reason.value).__name__)


def sleep(reactor: Any, seconds: float) -> Deferred:
    d: Deferred = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


async def pair(reactor: Any, server_protocol: type = Recorder, client_protocol: type = Recorder) -> tuple:
    """A listening port, and a connected (server protocol, client protocol)."""
    server = Built(server_protocol)
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    client = Client(client_protocol)
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    c = await client.built
    s = await server.first
    await c.made
    await s.made
    return port, s, c


def paths(tracer: Any) -> dict[str, list[str]]:
    """role -> the states the trace reported for that role's (only) connection, in order,
    after checking each event's ``previous`` is the state before it."""
    events = tracer.trace.events()
    roles = {e.conn: e.role for e in events if isinstance(e, ev.ConnectionOpened)}
    out: dict[str, list[str]] = {}
    for e in events:
        if isinstance(e, ev.ConnectionState):
            path = out.setdefault(roles.get(e.conn, "?"), [])
            assert e.previous == (path[-1] if path else ""), f"{e.previous!r} then {e.state!r} after {path}"
            path.append(e.state)
    return out


def assert_legal(path: list[str], start: S) -> None:
    """``path`` starts at ``start``, makes only the table's moves, and ends finally."""
    assert path[0] == start
    for current, new in zip(path, path[1:]):
        assert new in TRANSITIONS[S(current)], f"{current} -> {new} is not in the table ({path})"
    assert path[-1] in FINAL_STATES


def assert_moves_legal(seen: list[tuple[str, str, str]]) -> None:
    assert seen, "the transport asked the table nothing"
    for what, current, new in seen:
        assert new in TRANSITIONS[current], f"{what}: {current} -> {new} is not in the table"


# -- every scenario, on every reactor ---------------------------------------------------


def test_a_clean_close_goes_connecting_connected_closing_closed(reactor: Any, run: Any, moves: Any) -> None:
    tracer, seen = moves

    async def scenario() -> tuple:
        port, s, c = await pair(reactor)
        c.transport.loseConnection()
        flags_closing = (c.transport.connected, c.transport.disconnecting, c.transport.disconnected)
        reasons = (await c.lost, await s.lost)
        await port.stopListening()
        final = (c.transport.state, c.transport.connected, c.transport.disconnecting, c.transport.disconnected)
        return reasons, flags_closing, final

    reasons, flags_closing, final = run(scenario)
    assert reasons == ("ConnectionDone", "ConnectionDone")
    assert flags_closing == (True, True, False)  # Twisted's flags follow the state
    assert final == (S.CLOSED, False, True, True)
    got = paths(tracer)
    assert got == {"client": ["connecting", "connected", "closing", "closed"], "server": ["connected", "closed"]}
    assert_legal(got["client"], S.CONNECTING)
    assert_legal(got["server"], S.CONNECTED)
    assert_moves_legal(seen)


def test_a_half_close_goes_through_half_closed_on_both_sides(reactor: Any, run: Any, moves: Any) -> None:
    tracer, seen = moves

    async def scenario() -> tuple:
        port, s, c = await pair(reactor, HalfCloser, HalfCloser)
        c.transport.loseWriteConnection()
        reasons = (await c.lost, await s.lost)
        await port.stopListening()
        return reasons, c.transport.state, s.transport.state

    reasons, client_state, server_state = run(scenario)
    assert reasons == ("ConnectionDone", "ConnectionDone")
    assert (client_state, server_state) == (S.CLOSED, S.CLOSED)
    got = paths(tracer)
    assert got == {"client": ["connecting", "connected", "half-closed", "closed"],
                   "server": ["connected", "half-closed", "closed"]}
    assert_legal(got["client"], S.CONNECTING)
    assert_legal(got["server"], S.CONNECTED)
    assert_moves_legal(seen)


def test_an_abort_goes_closing_then_failed(reactor: Any, run: Any, moves: Any) -> None:
    tracer, seen = moves

    async def scenario() -> tuple:
        port, s, c = await pair(reactor)
        c.transport.abortConnection()
        reasons = (await c.lost, await s.lost)
        await port.stopListening()
        return reasons, c.transport.state

    reasons, client_state = run(scenario)
    assert reasons == ("ConnectionAborted", "ConnectionDone")
    assert client_state == S.FAILED
    got = paths(tracer)
    assert got == {"client": ["connecting", "connected", "closing", "failed"], "server": ["connected", "closed"]}
    assert_legal(got["client"], S.CONNECTING)
    assert_moves_legal(seen)


def test_a_reset_by_the_peer_goes_connected_failed(reactor: Any, run: Any, moves: Any) -> None:
    tracer, seen = moves

    async def scenario() -> tuple:
        server = Built()
        port = reactor.listenTCP(0, server, interface="127.0.0.1")
        raw = socket.create_connection(("127.0.0.1", port.getHost().port))
        s = await server.first
        await s.made
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.close()  # linger 0: RST instead of FIN
        reason = await s.lost
        await port.stopListening()
        return reason, s.transport.state

    reason, server_state = run(scenario)
    assert reason == "ConnectionLost"
    assert server_state == S.FAILED
    assert paths(tracer) == {"server": ["connected", "failed"]}
    assert_moves_legal(seen)


def test_a_refused_connect_goes_connecting_failed(reactor: Any, run: Any, moves: Any) -> None:
    tracer, seen = moves
    client = Client()

    async def scenario() -> tuple:
        connector = reactor.connectTCP("127.0.0.1", free_port(), client)
        attempt = connector.transport
        reason = await client.failed
        await sleep(reactor, 0)
        return reason, attempt.state, attempt.done

    reason, attempt_state, done = run(scenario)
    assert reason == "ConnectionRefusedError"
    assert (attempt_state, done) == (S.FAILED, True)
    got = paths(tracer)
    assert got == {"client": ["connecting", "failed"]}
    assert_legal(got["client"], S.CONNECTING)
    assert seen == [("TCP connection attempt", S.CONNECTING, S.FAILED)]


def test_a_connect_that_the_factory_refuses_fails_after_connecting(reactor: Any, run: Any, moves: Any) -> None:
    tracer, seen = moves

    class Refuses(Client):
        def buildProtocol(self, addr: Any) -> Any:
            return None

    client = Refuses()

    async def scenario() -> str:
        port = reactor.listenTCP(0, Built(), interface="127.0.0.1")
        reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        reason = await client.failed
        await port.stopListening()
        return reason

    assert run(scenario) == "ConnectError"
    assert paths(tracer)["client"] == ["connecting", "failed"]
    assert ("TCP connection attempt", S.CONNECTING, S.CONNECTED) in seen
    assert ("TCP connection attempt", S.CONNECTED, S.FAILED) in seen
    assert_moves_legal(seen)


# -- the table itself ---------------------------------------------------------------------


def test_every_state_is_in_the_table_and_only_final_states_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(ConnectionState)
    assert {state for state, nexts in TRANSITIONS.items() if not nexts} == FINAL_STATES
    assert all(nexts <= set(ConnectionState) for nexts in TRANSITIONS.values())


def test_an_illegal_transition_is_a_clear_error() -> None:
    with pytest.raises(IllegalTransitionError) as caught:
        check_transition(S.CLOSED, S.CONNECTED, "TCP connection")
    message = str(caught.value)
    assert "TCP connection cannot go from 'closed' to 'connected'" in message
    assert "it has ended" in message
    with pytest.raises(IllegalTransitionError, match="may go to: closed, closing, failed, half-closed"):
        check_transition(S.CONNECTED, S.CONNECTING)
    assert check_transition(S.CLOSING, S.FAILED) is S.FAILED


def test_a_transport_refuses_an_illegal_move_and_keeps_its_state(reactor: Any, run: Any) -> None:
    async def scenario() -> Any:
        port, s, c = await pair(reactor)
        c.transport.loseConnection()
        await c.lost
        await s.lost
        await port.stopListening()
        return c.transport

    transport = run(scenario)
    with pytest.raises(IllegalTransitionError, match="from 'closed' to 'half-closed'"):
        transport._move(S.HALF_CLOSED)
    assert (transport.state, transport.connected, transport.disconnected) == (S.CLOSED, False, True)


def test_the_states_are_their_strings() -> None:
    assert [str(state) for state in ConnectionState] == [
        "connecting", "connected", "half-closed", "closing", "closed", "failed"]
    assert ev.STATES == tuple(ConnectionState)
    assert json.dumps({"state": S.HALF_CLOSED}) == '{"state": "half-closed"}'
    assert (closed_state(""), closed_state("ConnectionDone"), closed_state("ConnectionLost")) == (
        S.CLOSED, S.CLOSED, S.FAILED)


# -- recordings written with plain strings ------------------------------------------------


OLD_RECORDING = [
    {"format": "inspector-trace", "version": 1},
    {"kind": "conn.opened", "seq": 1, "ts": 0.1, "reactor": "SelectorsReactor", "turn": 1, "conn": 1,
     "role": "client", "transport": "tcp", "protocol": "Echo", "local": "127.0.0.1:5000",
     "peer": "127.0.0.1:7"},
    {"kind": "conn.state", "seq": 2, "ts": 0.1, "reactor": "SelectorsReactor", "turn": 1, "conn": 1,
     "previous": "", "state": "connecting"},
    {"kind": "conn.state", "seq": 3, "ts": 0.2, "reactor": "SelectorsReactor", "turn": 2, "conn": 1,
     "previous": "connecting", "state": "connected"},
    {"kind": "conn.state", "seq": 4, "ts": 0.3, "reactor": "SelectorsReactor", "turn": 3, "conn": 1,
     "previous": "connected", "state": "half-closed"},
    {"kind": "conn.opened", "seq": 5, "ts": 0.3, "reactor": "SelectorsReactor", "turn": 3, "conn": 2,
     "role": "server", "transport": "tcp", "protocol": "Echo", "local": "127.0.0.1:7",
     "peer": "127.0.0.1:5001"},
    {"kind": "conn.state", "seq": 6, "ts": 0.3, "reactor": "SelectorsReactor", "turn": 3, "conn": 2,
     "previous": "", "state": "connected"},
    {"kind": "conn.closed", "seq": 7, "ts": 0.4, "reactor": "SelectorsReactor", "turn": 4, "conn": 2,
     "reason_type": "ConnectionLost", "reason": "reset by peer", "bytes_in": 3, "bytes_out": 0},
    {"kind": "conn.opened", "seq": 8, "ts": 0.5, "reactor": "SelectorsReactor", "turn": 5, "conn": 3,
     "role": "udp", "transport": "udp", "protocol": "Echo", "local": "127.0.0.1:9", "peer": ""},
    {"kind": "conn.opened", "seq": 9, "ts": 0.6, "reactor": "SelectorsReactor", "turn": 6, "conn": 4,
     "role": "client", "transport": "tcp", "protocol": "", "local": "", "peer": "127.0.0.1:8"},
    {"kind": "conn.state", "seq": 10, "ts": 0.6, "reactor": "SelectorsReactor", "turn": 6, "conn": 4,
     "previous": "", "state": "draining"},  # a state a newer version might write
]


def test_an_old_recording_with_string_states_loads_and_folds_to_the_members(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in OLD_RECORDING))
    connections = load(path).connections
    states = {cid: c.state for cid, c in connections.items()}
    assert states == {1: "half-closed", 2: "failed", 3: "connected", 4: "draining"}
    assert states[1] is S.HALF_CLOSED and states[2] is S.FAILED and states[3] is S.CONNECTED
    assert states[4] == "draining"  # unknown to this version: kept as its text
    assert connections[2].close_reason == "ConnectionLost: reset by peer"

    store = Store(clock=0.0)  # the window reads the same file to the same states
    reader = RecordingReader(path, Trace())
    try:
        while not reader.done:
            apply(store, reader.step(max_lines=3))
    finally:
        reader.close()
    assert {c.id: c.state for c in store.connections.values()} == states
    assert [c.is_open for c in store.connections.values()] == [True, False, True, True]
