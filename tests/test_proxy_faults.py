"""Each fault of the proxy, measured over loopback with plain-socket peers on every
reactor: latency (at least the setting), bandwidth (within 20%), slicing (the server
reads pieces of at most N bytes), cuts after N bytes or S seconds (a reset seen as a
reset), holding then releasing, editing and dropping a held chunk, and injecting."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from proxy_support import echo, recv_all, recv_exactly, start_proxy

from inspector.defer import Deferred

from apps_support import ThreadedServer, in_thread


def _ping_pong(port: int, count: int) -> list[float]:
    times = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(count):
            message = f"ping {i}\n".encode()
            start = time.monotonic()
            sock.sendall(message)
            assert recv_exactly(sock, len(message)) == message
            times.append(time.monotonic() - start)
    return times


def test_latency_delays_each_direction_by_at_least_its_setting(reactor, run) -> None:
    with ThreadedServer(echo) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port, latency_up=0.08, latency_down=0.04)
            times = await in_thread(reactor, _ping_pong, port, 4)
            await proxy.stop()
            return times

        times = run(scenario, timeout=30)
    assert min(times) >= 0.12, times
    assert max(times) < 0.12 + 2.0, times  # the machine may be busy, but not that busy


def test_jitter_varies_the_latency_but_keeps_the_order(reactor, run) -> None:
    lines = [f"line {i}\n".encode() for i in range(30)]

    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for line in lines:
                sock.sendall(line)
            sock.shutdown(socket.SHUT_WR)
            return recv_all(sock)

    with ThreadedServer(echo) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port, latency_up=0.03, jitter=0.02)
            got = await in_thread(reactor, client, port)
            await proxy.stop()
            return got

        assert run(scenario, timeout=30) == b"".join(lines)


@pytest.mark.parametrize("direction", ["up", "down"])
def test_bandwidth_is_within_twenty_percent_of_the_limit(reactor, run, direction) -> None:
    rate = 200_000
    size = 300_000
    arrivals: list[tuple[float, int]] = []

    def measure(sock: socket.socket) -> None:
        got = 0
        while got < size:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += len(chunk)
            arrivals.append((time.monotonic(), len(chunk)))

    def server_side(conn: socket.socket) -> None:
        if direction == "up":
            measure(conn)
            conn.sendall(b"done")
        else:
            conn.recv(10)
            conn.sendall(b"d" * size)

    def client(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            if direction == "up":
                sock.sendall(b"u" * size)
                sock.settimeout(20)
                assert sock.recv(4) == b"done"
            else:
                sock.sendall(b"go")
                sock.settimeout(20)
                measure(sock)

    with ThreadedServer(server_side) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port, **{f"bandwidth_{direction}": rate})
            await in_thread(reactor, client, port)
            await proxy.stop()

        run(scenario, timeout=30)
    assert sum(n for _, n in arrivals) == size
    # Measured from the first arrival: what came after it, over the time it took.
    elapsed = arrivals[-1][0] - arrivals[0][0]
    measured = (size - arrivals[0][1]) / elapsed
    assert 0.8 * rate <= measured <= 1.2 * rate, f"{measured:.0f} B/s for a limit of {rate}"


def test_slicing_makes_the_server_read_pieces_of_at_most_n_bytes(reactor, run) -> None:
    sizes: list[int] = []
    payload = b"0123456789abcdef" * 13  # 208 bytes sent in one write

    def server_side(conn: socket.socket) -> None:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            sizes.append(len(chunk))

    def client(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            recv_all(sock)

    with ThreadedServer(server_side) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port, slice_size=7, slice_interval=0.01)
            await in_thread(reactor, client, port)
            await proxy.sessions[0].closed
            await proxy.stop()

        run(scenario, timeout=30)
    assert sum(sizes) == len(payload)
    assert max(sizes) <= 7, sizes
    assert len(sizes) >= len(payload) // 7


@pytest.mark.parametrize("with_reset", [False, True])
def test_cut_after_n_bytes_delivers_exactly_n_then_ends_with_a_fin_or_a_reset(reactor, run, with_reset) -> None:
    server_got: list[bytes] = []
    server_done = threading.Event()

    def server_side(conn: socket.socket) -> None:
        try:
            server_got.append(recv_all(conn))
        except ConnectionResetError:
            server_got.append(b"<reset>")
        finally:
            server_done.set()

    def client(port: int) -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            try:
                sock.sendall(b"z" * 5000)
                data = recv_all(sock)
            except (ConnectionResetError, BrokenPipeError):
                return "reset"
            server_done.wait(10)
            return f"closed after {len(data)} bytes"

    with ThreadedServer(server_side) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port, cut_after_bytes=1000, reset=with_reset)
            outcome = await in_thread(reactor, client, port)
            session = proxy.sessions[0]
            await session.closed
            await proxy.stop()
            return outcome, session

        outcome, session = run(scenario, timeout=30)
    assert session.bytes_up == 1000
    assert session.ended_how == "cut after 1000 bytes"
    if with_reset:
        assert outcome == "reset"
    else:
        assert outcome == "closed after 0 bytes"
        assert server_got == [b"z" * 1000]


def test_cut_after_seconds_ends_an_idle_session_on_time(reactor, run) -> None:
    def client(port: int) -> tuple[bytes, float]:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            start = time.monotonic()
            return recv_all(sock), time.monotonic() - start

    with ThreadedServer(echo) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port, cut_after_seconds=0.3)
            got = await in_thread(reactor, client, port)
            session = proxy.sessions[0]
            await session.closed
            await proxy.stop()
            return got, session.ended_how

        (data, waited), how = run(scenario, timeout=30)
    assert data == b"" and 0.25 <= waited < 5
    assert how == "cut after 0.3 s"


class _Recorder:
    """An upstream that records what arrives and signals each arrival."""

    def __init__(self) -> None:
        self.data = b""
        self.arrived = threading.Condition()

    def __call__(self, conn: socket.socket) -> None:
        conn.sendall(b"welcome\n")
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            with self.arrived:
                self.data += chunk
                self.arrived.notify_all()

    def wait_for(self, data: bytes, timeout: float = 10) -> bytes:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.data) >= len(data), timeout)
            return self.data


def _when(proxy: Any, what: str, condition: Any = lambda session: True) -> Deferred:
    """A Deferred fired with the session the first time ``proxy`` reports ``what`` and
    ``condition(session)`` holds."""
    fired: Deferred = Deferred()

    def listener(kind: str, session: Any) -> None:
        if kind == what and not fired.called and condition(session):
            proxy.remove_listener(listener)
            fired.callback(session)

    proxy.on_event(listener)
    return fired


def test_hold_queues_chunks_visibly_then_edit_drop_and_release_them(reactor, run) -> None:
    server = _Recorder()
    client_sock: dict[str, socket.socket] = {}

    def client_connects(port: int) -> bytes:
        sock = client_sock["sock"] = socket.create_connection(("127.0.0.1", port), timeout=10)
        return recv_exactly(sock, 8)  # the welcome line: the upstream leg is connected

    def client_sends(data: bytes) -> None:
        client_sock["sock"].sendall(data)

    def client_finishes() -> bytes:
        sock = client_sock["sock"]
        sock.shutdown(socket.SHUT_WR)
        rest = recv_all(sock)
        sock.close()
        return rest

    with ThreadedServer(server) as upstream:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, upstream.port, hold_up=True)
            await in_thread(reactor, client_connects, port)
            session = proxy.sessions[0]
            for n, data in enumerate([b"first\n", b"second\n", b"third\n"], 1):
                held = _when(proxy, "held", lambda s, n=n: len(s.held("up")) == n)
                await in_thread(reactor, client_sends, data)
                await held
            chunks = session.held("up")
            seen = [(c.direction, c.data) for c in chunks], session.up.waiting
            first, second, third = chunks
            session.edit("up", first.id, b"FIRST (edited)\n")
            session.drop("up", second.id)
            assert session.release("up", first.id) == len(b"FIRST (edited)\n")
            arrived = await in_thread(reactor, server.wait_for, b"FIRST (edited)\n")
            with pytest.raises(KeyError, match="no held chunk"):
                session.drop("up", second.id)
            proxy.faults.hold_up = False  # lifting the hold releases the rest
            after = await in_thread(reactor, server.wait_for, b"FIRST (edited)\nthird\n")
            rest = await in_thread(reactor, client_finishes)
            await session.closed
            await proxy.stop()
            return seen, arrived, after, rest

        (chunks, waiting), arrived, after, rest = run(scenario, timeout=30)
    assert chunks == [("up", b"first\n"), ("up", b"second\n"), ("up", b"third\n")]
    assert waiting == len(b"first\nsecond\nthird\n")
    assert arrived == b"FIRST (edited)\n"
    assert after == b"FIRST (edited)\nthird\n"
    assert rest == b""


def test_nothing_held_reaches_the_server_until_released(reactor, run) -> None:
    server = _Recorder()

    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            welcome = recv_exactly(sock, 8)
            sock.sendall(b"secret\n")
            return welcome

    with ThreadedServer(server) as upstream:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, upstream.port, hold_up=True)
            held = _when(proxy, "held")
            await in_thread(reactor, client, port)
            session = await held
            # The client is gone (FIN): the FIN waits behind the held chunk too.
            closed_early = await in_thread(reactor, server.wait_for, b"secret\n", 0.3)
            session.release("up")
            released = await in_thread(reactor, server.wait_for, b"secret\n")
            await session.closed
            await proxy.stop()
            return closed_early, released

        closed_early, released = run(scenario, timeout=30)
    assert closed_early == b""
    assert released == b"secret\n"


def test_inject_sends_bytes_into_either_direction(reactor, run) -> None:
    server = _Recorder()

    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            return recv_exactly(sock, len(b"welcome\n") + len(b"injected toward the client\r\n"))

    with ThreadedServer(server) as upstream:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, upstream.port, latency_up=5.0)  # injection skips it
            connected = _when(proxy, "connected")
            got = in_thread(reactor, client, port)
            session = await connected
            session.inject("down", b"injected toward the client\r\n")
            session.inject("up", b"injected toward the server\r\n")
            with pytest.raises(ValueError, match="direction must be"):
                session.inject("sideways", b"x")
            at_server = await in_thread(reactor, server.wait_for, b"injected toward the server\r\n")
            at_client = await got
            await proxy.stop()
            return at_client, at_server

        at_client, at_server = run(scenario, timeout=30)
    # The welcome and the injected line race (injected as soon as the upstream connected).
    assert sorted(at_client.splitlines(keepends=True)) == [b"injected toward the client\r\n", b"welcome\n"]
    assert at_server == b"injected toward the server\r\n"


def test_latency_changed_live_applies_to_the_next_chunk(reactor, run) -> None:
    with ThreadedServer(echo) as server:
        async def scenario() -> Any:
            proxy, port = start_proxy(reactor, server.port)
            quick = await in_thread(reactor, _ping_pong, port, 2)
            proxy.faults.latency_down = 0.15
            slow = await in_thread(reactor, _ping_pong, port, 2)
            await proxy.stop()
            return quick, slow

        quick, slow = run(scenario, timeout=30)
    assert min(slow) >= 0.15 > max(quick), (quick, slow)
