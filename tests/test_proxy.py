"""The proxy relays plain-socket peers over loopback on every reactor: bytes both ways,
flow control against a peer that never reads, half-close, resets, an unreachable
upstream, the legs linked in the trace, the catalogue entry and the command's checks."""

from __future__ import annotations

import logging
import socket
import struct
import threading
from typing import Any

import pytest
from proxy_support import echo, recv_all, start_proxy

from inspector import catalog
from inspector.defer import Deferred
from inspector.proxy import MAX_QUEUED, Faults, Proxy, client_endpoint_string, server_endpoint_string

from apps_support import ThreadedServer, in_thread


def _rst(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_plain_client_and_server_exchange_bytes_through_the_proxy(reactor, run) -> None:
    payload = bytes(range(256)) * 4096 + b"tail without newline"

    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sender = threading.Thread(target=lambda: (sock.sendall(payload), sock.shutdown(socket.SHUT_WR)))
            sender.start()
            got = recv_all(sock)
            sender.join(10)
            return got

    with ThreadedServer(echo) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port)
            got = await in_thread(reactor, client, port)
            session = proxy.sessions[0]
            await session.closed
            await proxy.stop()
            return got, session

        got, session = run(scenario, timeout=60)
    assert got == payload
    assert session.bytes_up == session.bytes_down == len(payload)
    assert session.state == "ended" and session.ended_how == "closed by the client"


class _NeverReads:
    """An upstream server that accepts and never reads until told to."""

    def __init__(self) -> None:
        self.accepted = threading.Event()
        self.release = threading.Event()
        self.received = 0

    def __call__(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.accepted.set()
        self.release.wait(30)
        conn.settimeout(10)
        while True:
            data = conn.recv(1 << 20)
            if not data:
                break
            self.received += len(data)


def test_a_server_that_never_reads_pauses_the_client_side_and_memory_stays_bounded(reactor, run) -> None:
    peer = _NeverReads()
    limit = 64 * 1024 * 1024

    def flood(port: int) -> tuple[int, socket.socket]:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        peer.accepted.wait(10)
        sock.setblocking(False)
        chunk = b"x" * 65536
        sent = 0
        stalled = threading.Event()
        while sent < limit:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                # Nowhere to put a byte for a whole second: the proxy stopped reading us.
                if stalled.wait(0) or not _writable(sock, 1.0):
                    break
        return sent, sock

    def finish(sock: socket.socket, sent: int) -> int:
        peer.release.set()
        sock.setblocking(True)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(20)
        recv_all(sock)  # the server closes after EOF: the proxy forwards it
        sock.close()
        return sent

    with ThreadedServer(peer) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port)
            sent, sock = await in_thread(reactor, flood, port)
            session = proxy.sessions[0]
            upstream = session.upstream.transport
            measured = (upstream.getBufferSize(), session.up.waiting, session.up.reading,
                        upstream.high_water + upstream.max_read_size)
            await in_thread(reactor, finish, sock, sent)
            await session.closed
            await proxy.stop()
            return sent, measured, session

        sent, (buffered, waiting, reading, bound), session = run(scenario, timeout=90)
    assert sent < limit, "the proxy kept reading from a client whose server never reads"
    assert not reading, "the client leg was not paused"
    assert buffered <= bound, f"{buffered} bytes buffered toward a server that does not read (bound {bound})"
    assert waiting <= MAX_QUEUED
    assert peer.received == sent == session.bytes_up  # nothing lost once it reads


def test_a_client_that_never_reads_pauses_the_server_side(reactor, run) -> None:
    limit = 64 * 1024 * 1024
    flooded = threading.Event()
    sent_by_server: list[int] = []

    def server_side(conn: socket.socket) -> None:
        conn.setblocking(False)
        chunk = b"y" * 65536
        sent = 0
        while sent < limit:
            try:
                sent += conn.send(chunk)
            except BlockingIOError:
                if not _writable(conn, 1.0):
                    break  # a whole second with nowhere to put a byte: the proxy stopped reading
        sent_by_server.append(sent)
        flooded.set()
        conn.setblocking(True)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(20)
        recv_all(conn)

    def client(port: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        flooded.wait(30)
        return sock

    def drain(sock: socket.socket) -> int:
        sock.settimeout(20)
        got = len(recv_all(sock, limit + 1))
        sock.close()
        return got

    with ThreadedServer(server_side) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port)
            sock = await in_thread(reactor, client, port)
            session = proxy.sessions[0]
            to_client = session.client.transport
            measured = (to_client.getBufferSize(), session.down.waiting, session.down.reading,
                        to_client.high_water + to_client.max_read_size)
            received = await in_thread(reactor, drain, sock)
            await session.closed
            await proxy.stop()
            return received, measured

        received, (buffered, waiting, reading, bound) = run(scenario, timeout=90)
    assert sent_by_server[0] < limit, "the proxy kept reading from a server whose client never reads"
    assert not reading and buffered <= bound and waiting <= MAX_QUEUED
    assert received == sent_by_server[0]


def _writable(sock: socket.socket, timeout: float) -> bool:
    import select

    return bool(select.select([], [sock], [], timeout)[1])


def test_a_half_close_is_forwarded_and_the_reply_still_comes_back(reactor, run) -> None:
    def server_side(conn: socket.socket) -> None:
        request = recv_all(conn)  # until the client's FIN, forwarded by the proxy
        conn.sendall(b"got " + str(len(request)).encode() + b" bytes after your FIN")

    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"q" * 100_000)
            sock.shutdown(socket.SHUT_WR)
            return recv_all(sock)

    with ThreadedServer(server_side) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port)
            got = await in_thread(reactor, client, port)
            await proxy.sessions[0].closed
            await proxy.stop()
            return got

        assert run(scenario, timeout=30) == b"got 100000 bytes after your FIN"


def test_a_reset_from_the_server_reaches_the_client_as_a_reset(reactor, run) -> None:
    def server_side(conn: socket.socket) -> None:
        conn.recv(100)
        _rst(conn)

    def client(port: int) -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"hello")
            try:
                data = recv_all(sock)
            except ConnectionResetError:
                return "reset"
            return f"closed cleanly after {data!r}"

    with ThreadedServer(server_side) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port)
            outcome = await in_thread(reactor, client, port)
            session = proxy.sessions[0]
            await session.closed
            await proxy.stop()
            return outcome, session.ended_how

        outcome, how = run(scenario, timeout=30)
    assert outcome == "reset"
    assert how.startswith("server reset")


def test_a_reset_from_the_client_reaches_the_server_as_a_reset(reactor, run) -> None:
    seen: list[str] = []
    done = threading.Event()

    def server_side(conn: socket.socket) -> None:
        try:
            conn.sendall(b"hello")
            recv_all(conn)
            seen.append("clean")
        except ConnectionResetError:
            seen.append("reset")
        finally:
            done.set()

    def client(port: int) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.recv(5)  # the upstream leg exists
        _rst(sock)
        done.wait(10)

    with ThreadedServer(server_side) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port)
            await in_thread(reactor, client, port)
            await proxy.sessions[0].closed
            await proxy.stop()

        run(scenario, timeout=30)
    assert seen == ["reset"]


@pytest.mark.parametrize("upstream", ["refused", "tcp:host=no-such-host.invalid:port=7"])
def test_an_unreachable_upstream_closes_the_client_and_logs_why(reactor, run, caplog, upstream) -> None:
    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"anyone there?")
            return recv_all(sock)

    if upstream == "refused":
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            target: int | str = probe.getsockname()[1]
    else:
        target = upstream

    async def scenario() -> Any:
        proxy, port = start_proxy(reactor, target)
        got = await in_thread(reactor, client, port)
        session = proxy.sessions[0]
        await session.closed
        await proxy.stop()
        return got, session

    with caplog.at_level(logging.WARNING, logger="inspector.proxy"):
        got, session = run(scenario, timeout=30)
    assert got == b""
    assert session.ended_how.startswith("upstream unreachable")
    warning = [r.getMessage() for r in caplog.records if "cannot reach upstream" in r.getMessage()]
    assert warning, caplog.text
    assert ("refused" in warning[0].lower()) if upstream == "refused" else ("no-such-host" in warning[0])


def test_client_bytes_sent_before_the_upstream_answers_are_queued_not_lost(reactor, run) -> None:
    """The client writes at once; the upstream connection is still being made."""
    payload = b"early bird " * 10_000

    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            return recv_all(sock)

    with ThreadedServer(echo) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port, latency_up=0.0)
            connect = proxy.client_endpoint

            def slow_endpoint() -> Any:  # the upstream connects 0.2 s late
                endpoint = connect()

                class Late:
                    def connect(self, factory: Any) -> Deferred:
                        d: Deferred = Deferred()
                        reactor.callLater(0.2, lambda: endpoint.connect(factory).chainDeferred(d))
                        return d

                return Late()

            proxy._client_endpoint = slow_endpoint  # type: ignore[method-assign]
            got = await in_thread(reactor, client, port)
            await proxy.stop()
            return got

        assert run(scenario, timeout=30) == payload


def test_the_two_legs_are_linked_in_the_trace_and_in_inspector_open(reactor, run, tmp_path) -> None:
    from inspector import trace
    from inspector.commands.open import print_summary
    from inspector.trace.recording import load, record

    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"one\r\ntwo\r\n")
            sock.shutdown(socket.SHUT_WR)
            return recv_all(sock)

    path = tmp_path / "proxy.jsonl"
    tracer = trace.enable()
    recorder = record(str(path), tracer)
    try:
        with ThreadedServer(echo) as server:
            async def scenario() -> Any:
                proxy, port = start_proxy(reactor, server.port, dissector="lines")
                got = await in_thread(reactor, client, port)
                session = proxy.sessions[0]
                await session.closed
                await proxy.stop()
                return got, session

            got, session = run(scenario, timeout=30)
        tracer.sync()
        live = tracer.trace
        client_id, upstream_id = session.conn_ids()
    finally:
        recorder.close()
        trace.disable()
    assert got == b"one\r\ntwo\r\n"
    assert client_id and upstream_id and client_id != upstream_id
    loaded = load(str(path))
    for t in (live, loaded):
        a, b = t.connections[client_id], t.connections[upstream_id]
        assert (a.linked, a.link_role, b.linked, b.link_role) == (upstream_id, "client", client_id, "upstream")
        assert a.link_label.startswith("proxy ")
        # The chosen dissector's messages are on each leg: from the client "in" on its leg,
        # written "out" on the upstream one, and the echoes the other way.
        assert sorted((m.direction, m.text) for m in a.messages) == \
            [("in", "one"), ("in", "two"), ("out", "one"), ("out", "two")]
        assert sorted((m.direction, m.text) for m in b.messages) == \
            [("in", "one"), ("in", "two"), ("out", "one"), ("out", "two")]
    import io

    out = io.StringIO()
    print_summary(loaded, out)
    text = out.getvalue()
    assert f"#{client_id} server" in text and f"proxied to #{upstream_id}" in text
    assert f"proxied from #{client_id}" in text


def test_the_catalogue_entry_starts_a_proxy_whose_faults_change_live(reactor, run) -> None:
    entry = catalog.find("proxy", "server")

    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"ping")
            sock.shutdown(socket.SHUT_WR)
            return recv_all(sock)

    with ThreadedServer(echo) as server:
        async def scenario() -> Any:
            handle = entry.start(reactor, port=0, upstream_port=server.port, latency_up="0.05", hold="")
            proxy = handle.proxy
            proxy.faults.latency_down = 0.01
            got = await in_thread(reactor, client, handle.address.port)
            await handle.stop()
            return got, proxy.faults.as_dict(), handle.done.called

        got, faults, done = run(scenario, timeout=30)
    assert got == b"ping"
    assert faults["latency_up"] == 0.05 and faults["latency_down"] == 0.01
    assert done


def test_bad_settings_are_refused_with_one_line_and_change_nothing() -> None:
    faults = Faults(latency_up=0.1)
    with pytest.raises(ValueError, match="latency_up must be at least 0"):
        faults.latency_up = -1
    with pytest.raises(ValueError, match="bandwidth_up must be a number"):
        faults.update(latency_down=0.5, bandwidth_up="fast")
    assert faults.latency_up == 0.1 and faults.latency_down == 0.0
    with pytest.raises(AttributeError, match="no setting"):
        faults.latenzy = 1
    with pytest.raises(ValueError, match="not HOST:PORT"):
        client_endpoint_string("localhost")
    assert client_endpoint_string("[::1]:7000") == "tcp:host=[::1]:port=7000"
    assert server_endpoint_string("8000") == "tcp:8000:interface=127.0.0.1"
    with pytest.raises(ValueError):
        Proxy(None, "tcp:host=127.0.0.1")  # no port
    entry = catalog.find("proxy", "server")
    with pytest.raises(catalog.ParameterError, match="hold"):
        entry.validate({"upstream_port": "7000", "hold": "sideways"})
    with pytest.raises(catalog.ParameterError, match="dissector"):
        entry.validate({"upstream_port": "7000", "dissector": "nope"})


def test_fault_flags_combine_both_directions_with_per_direction_overrides() -> None:
    from inspector.cli import build_parser
    from inspector.commands.proxy import faults_from_args

    args = build_parser().parse_args([
        "proxy", "--headless", "--listen", "0", "--to", "127.0.0.1:7000", "--latency", "0.2",
        "--latency-down", "0.5", "--jitter", "0.01", "--bandwidth", "1000", "--bandwidth-up", "500",
        "--slice", "3", "--cut-after", "10", "--cut-after-seconds", "2", "--reset", "--hold", "down",
    ])
    assert faults_from_args(args).as_dict() == {
        "latency_up": 0.2, "latency_down": 0.5, "jitter": 0.01, "bandwidth_up": 500, "bandwidth_down": 1000,
        "slice_size": 3, "slice_interval": 0.002, "cut_after_bytes": 10, "cut_after_seconds": 2.0,
        "reset": True, "hold_up": False, "hold_down": True,
    }


def test_stopping_does_not_wait_on_a_peer_that_never_reads(reactor, run) -> None:
    flooded = threading.Event()

    def server_side(conn: socket.socket) -> None:
        conn.setblocking(False)
        chunk = b"w" * 65536
        try:
            while _writable(conn, 1.0):  # until a whole second with nowhere to put a byte
                try:
                    conn.send(chunk)
                except BlockingIOError:
                    pass
        except OSError:
            pass
        flooded.set()

    def client(port: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        flooded.wait(30)  # the client reads nothing
        return sock

    with ThreadedServer(server_side) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port)
            sock = await in_thread(reactor, client, port)
            session = proxy.sessions[0]
            stuck = session.client.transport.getBufferSize()
            start = reactor.seconds()
            await proxy.stop(grace=0.3)
            took = reactor.seconds() - start
            sock.close()
            return stuck, took, session

        stuck, took, session = run(scenario, timeout=30)
    assert stuck > 0, "nothing waited for the client: the test shows nothing"
    assert took < 5
    assert session.state == "ended" and session.closed.called


def test_a_listener_that_raises_is_logged_and_the_relay_goes_on(reactor, run, caplog) -> None:
    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"still relayed")
            sock.shutdown(socket.SHUT_WR)
            return recv_all(sock)

    def broken(what: str, session: Any) -> None:
        raise RuntimeError(f"listener broke on {what}")

    with ThreadedServer(echo) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port)
            proxy.on_event(broken)
            proxy.faults.on_change(lambda name: 1 / 0)
            proxy.faults.latency_up = 0.01
            got = await in_thread(reactor, client, port)
            await proxy.sessions[0].closed
            await proxy.stop()
            return got

        with caplog.at_level(logging.ERROR, logger="inspector.proxy"):
            got = run(scenario, timeout=30)
    assert got == b"still relayed"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("listener broke on opened" in r.exc_text for r in errors if r.exc_text)
    assert any("ZeroDivisionError" in r.exc_text for r in errors if r.exc_text)
