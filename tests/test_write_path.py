"""The stream write path: queued writes kept by reference and sent with one sendmsg.

Over real loopback TCP and Unix sockets on every reactor, a peer that reads slowly gets
every byte in order across many queued pieces (big and small, partly sent ones too),
``writeSequence`` of thousands of small pieces arrives whole, and a ``sendmsg`` the
kernel only partly takes leaves exactly the unsent tail queued.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from inspector.defer import Deferred
from inspector.protocol import Factory, Protocol
from inspector.writebuffer import IOV_MAX

from apps_support import in_thread


def pattern(index: int, size: int) -> bytes:
    """``size`` bytes that say where they belong: a misplaced or lost piece shows."""
    stamp = f"<{index}:{size}>".encode()
    return (stamp * (size // len(stamp) + 1))[:size]


def slow_read_all(family: str, address: Any, chunk: int = 4096) -> bytes:
    """Connect, then read ``chunk`` bytes at a time (far less than the server queues)
    until the server closes."""
    if family == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(address)
    else:
        sock = socket.create_connection(address)
    sock.settimeout(30)
    parts = []
    with sock:
        while True:
            data = sock.recv(chunk)
            if not data:
                return b"".join(parts)
            parts.append(data)


def listen(reactor: Any, family: str, factory: Factory, tmp_path: Any) -> tuple[Any, Any]:
    """A listening port and the address a plain socket connects to."""
    if family == "unix":
        path = str(tmp_path / "w.sock")
        return reactor.listenUNIX(path, factory), path
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return port, ("127.0.0.1", port.getHost().port)


class Writer(Protocol):
    """Writes ``plan`` (a list of ("write" | "seq", payload)) at once, then closes after
    the drain; records how the queue looked when it was longest."""

    plan: list[tuple[str, Any]] = []
    done: Deferred
    most_pieces = 0
    front_was_a_view = False
    partial_sendmsgs = 0  # sendmsg calls the kernel cut short

    def connectionMade(self) -> None:
        transport = self.transport
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)  # many partial sends
        sendmsg = transport._sendmsg

        def counting_sendmsg(buffers: Any) -> int:
            buffers = list(buffers)
            sent = sendmsg(buffers)
            if sent < sum(len(b) for b in buffers):
                Writer.partial_sendmsgs += 1
            return sent

        transport._sendmsg = counting_sendmsg
        for how, payload in self.plan:
            if how == "write":
                transport.write(payload)
            else:
                transport.writeSequence(payload)
            chunks = transport._chunks
            Writer.most_pieces = max(Writer.most_pieces, len(chunks))
            if chunks and isinstance(chunks[0], memoryview):
                Writer.front_was_a_view = True
        transport.loseConnection()

    def connectionLost(self, reason: Any) -> None:
        if not self.done.called:
            self.done.callback(None)


def serve_plan(reactor: Any, family: str, tmp_path: Any, plan: list[tuple[str, Any]]) -> Deferred:
    Writer.plan = plan
    Writer.most_pieces = 0
    Writer.front_was_a_view = False
    Writer.partial_sendmsgs = 0
    Writer.done = Deferred()
    port, address = listen(reactor, family, Factory.forProtocol(Writer), tmp_path)

    async def scenario() -> bytes:
        got = await in_thread(reactor, slow_read_all, family, address)
        await Writer.done
        await port.stopListening()
        return got

    return Deferred.fromCoroutine(scenario())


def expected(plan: list[tuple[str, Any]]) -> bytes:
    return b"".join(p if how == "write" else b"".join(p) for how, p in plan)


@pytest.mark.parametrize("family", ["tcp", "unix"])
def test_a_slow_reader_gets_every_byte_in_order_across_many_queued_pieces(reactor, run, tmp_path, family) -> None:
    # Big writes (queued by reference, the first partly sent), small ones (coalesced),
    # and big again: far more than the socket takes at once.
    plan: list[tuple[str, Any]] = []
    for i in range(40):
        plan.append(("write", pattern(i, 65536 + i)))
        for j in range(30):
            plan.append(("write", pattern(i * 100 + j, 1 + (i * 7 + j) % 300)))
    got = run(serve_plan, reactor, family, tmp_path, plan, timeout=60)
    assert got == expected(plan)
    assert Writer.most_pieces > 40  # many pieces really waited in the queue
    assert Writer.front_was_a_view  # and the first one was partly sent, its tail not copied


@pytest.mark.parametrize("family", ["tcp", "unix"])
def test_write_sequence_of_thousands_of_small_pieces_arrives_whole(reactor, run, tmp_path, family) -> None:
    pieces = [pattern(i, 1 + i % 97) for i in range(5 * IOV_MAX)]  # more than one sendmsg takes
    plan = [("seq", pieces), ("write", b"-between-"), ("seq", [bytearray(b"mutable"), memoryview(b"view"), b""]),
            ("seq", pieces[::-1])]
    got = run(serve_plan, reactor, family, tmp_path, plan, timeout=60)
    assert got == expected([(how, [bytes(p) for p in x] if how == "seq" else x) for how, x in plan])


@pytest.mark.parametrize("family", ["tcp", "unix"])
def test_a_partial_sendmsg_queues_exactly_the_unsent_tail(reactor, run, tmp_path, family) -> None:
    # Nothing is buffered when the first writeSequence runs, so its few big pieces go to
    # one sendmsg that the 16 KiB send buffer cuts short inside some piece; the next ones
    # queue behind (by reference) and leave by sendmsg too.
    pieces = [pattern(i, 7000 + i) for i in range(12)]
    plan = [("seq", pieces), ("seq", pieces[:5]), ("write", pattern(999, 100_000)), ("seq", pieces[5:])]
    got = run(serve_plan, reactor, family, tmp_path, plan, timeout=60)
    assert got == expected(plan)
    assert Writer.front_was_a_view
    assert Writer.partial_sendmsgs > 0


def test_a_write_after_the_buffer_drains_goes_straight_out_again(reactor, run) -> None:
    # After a queue has drained, the next write is sent at once (nothing left queued).
    state: dict[str, Any] = {}

    class Probe(Protocol):
        def connectionMade(self) -> None:
            self.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            self.transport.write(b"x" * (4 << 20))  # more than the kernel takes at once
            state["queued"] = self.transport.getBufferSize()

        def dataReceived(self, data: bytes) -> None:
            # The client sends after reading everything: the queue has drained by now.
            state["before"] = self.transport.getBufferSize()
            self.transport.write(b"after")
            state["after"] = self.transport.getBufferSize()
            self.transport.loseConnection()

    port = reactor.listenTCP(0, Factory.forProtocol(Probe), interface="127.0.0.1")

    def client(address: Any) -> bytes:
        with socket.create_connection(address, timeout=30) as sock:
            want, got = 4 << 20, 0
            while got < want:
                got += len(sock.recv(1 << 20))
            sock.sendall(b"go")
            rest = b""
            while True:
                data = sock.recv(100)
                if not data:
                    return rest
                rest += data

    async def scenario() -> bytes:
        try:
            return await in_thread(reactor, client, ("127.0.0.1", port.getHost().port))
        finally:
            await port.stopListening()

    assert run(scenario, timeout=60) == b"after"
    assert state["queued"] > 0
    assert state["before"] == 0 and state["after"] == 0
