"""Perfetto export: every connection's track is named from its full description, so two
clients of one server are two tracks a person can tell apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import inspector.trace as trace_module
from inspector.defer import Deferred
from inspector.protocols.echo import EchoClientFactory, EchoFactory
from inspector.trace import events as ev
from inspector.trace.model import Trace
from inspector.trace.perfetto import to_trace_events
from inspector.trace.recording import load


@pytest.fixture
def tracing() -> Any:
    tracer = trace_module.enable()
    yield tracer
    trace_module.disable()


def _track_names(trace: Trace) -> dict[int, str]:
    """Thread id -> track name of each connection's track in the export."""
    return {
        e["tid"]: e["args"]["name"]
        for e in to_trace_events(trace)["traceEvents"]
        if e["ph"] == "M" and e["name"] == "thread_name" and e["tid"] >= 1000
    }


def test_two_echo_clients_of_one_server_get_distinct_full_track_names(
        reactor: Any, run: Any, tracing: Any, tmp_path: Path) -> None:
    path = tmp_path / "two-clients.jsonl"
    recorder = trace_module.record(path, tracing)
    clients = [EchoClientFactory(reactor), EchoClientFactory(reactor)]
    addresses: dict[str, str] = {}

    async def scenario() -> None:
        port = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1")
        addresses["server"] = f"127.0.0.1:{port.getHost().port}"
        for index, factory in enumerate(clients):
            reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
            protocol = await factory.connected
            local = protocol.transport.getHost()
            addresses[f"client{index}"] = f"{local.host}:{local.port}"
            reply = await protocol.send_line(f"hello {index}")
            assert reply.line == f"hello {index}"
            protocol.transport.loseConnection()
            await factory.lost
        d: Deferred = Deferred()
        reactor.callLater(0.05, d.callback, None)  # the server sees both closes
        await d
        await port.stopListening()

    run(scenario)
    recorder.close()

    names = sorted(_track_names(load(path)).values())
    assert len(names) == 4, names  # two clients, two server-side connections
    assert len(set(names)) == 4, names
    server = addresses["server"]
    for index in range(2):
        client = addresses[f"client{index}"]
        # The client's own track: protocol, role (in its class name), id, both addresses.
        client_track = [n for n in names if n.startswith("EchoClient #")
                        and f"{client} -> {server}" in n]
        assert len(client_track) == 1, (client, names)
        # The server's side of the same connection.
        server_track = [n for n in names if n.startswith("Echo server #")
                        and f"{server} <- {client}" in n]
        assert len(server_track) == 1, (client, names)
    assert not any("?" in name for name in names), names


def test_a_client_that_never_connected_says_what_is_unknown() -> None:
    trace = Trace()
    trace.add(ev.ConnectionOpened(ts=1.0, conn=7, role="client", peer="127.0.0.1:9"))
    trace.add(ev.ConnectionClosed(ts=1.1, conn=7, reason_type="ConnectionRefusedError"))
    assert list(_track_names(trace).values()) == ["client #7 ? -> 127.0.0.1:9"]
