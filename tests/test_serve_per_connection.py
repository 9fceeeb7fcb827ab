"""What ``inspector serve`` spends and keeps per connection, beyond the protocol itself.

The server handle tracks every connection (to close them on stop() and to log them):
that tracking must not leave a closure, cell or wrapper per connection for the cyclic
garbage collector, must not show in the protocol's name, and must still name the peer
of a connection that ends in an error, logged or not.
"""

from __future__ import annotations

import collections
import gc
import logging
import socket
import struct
from typing import Any

from inspector import catalog
from inspector.protocol import Factory, Protocol
from inspector.protocols.qotd import QOTD

from apps_support import in_thread


def quotes(port: int, count: int, reset_last: bool = False) -> list[str]:
    """``count`` QOTD clients one after another; return the local address of each."""
    seen = []
    for i in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            seen.append("%s:%d" % sock.getsockname())
            while sock.recv(4096):
                pass
            if reset_last and i == count - 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return seen


def start_qotd(reactor: Any) -> Any:
    return catalog.find("qotd", "server", "tcp").start(reactor, port=0, quote="An apple a day")


def left_for_the_collector(reactor: Any, run: Any, count: int) -> collections.Counter:
    """Serve ``count`` QOTD connections with the collector off; count by type name what
    they left that only the cyclic garbage collector would have freed."""
    async def scenario() -> collections.Counter:
        handle = start_qotd(reactor)
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            await in_thread(reactor, quotes, handle.address.port, count)
            await handle.all_closed()
            gc.collect()
            found = collections.Counter(type(o).__name__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
        await handle.stop()
        return found

    return run(scenario, timeout=60)


def test_tracking_leaves_no_closure_or_cell_per_connection_to_the_collector(reactor, run) -> None:
    found = left_for_the_collector(reactor, run, 50)
    # Each connection used to leave its connectionLost closure, its cells and a bound
    # method behind, freed only when the collector ran.
    assert found["function"] < 5, found
    assert found["cell"] < 5, found
    assert found["method"] < 5, found


def test_a_served_protocol_keeps_its_class_name_and_kind(reactor, run) -> None:
    async def scenario() -> list[Any]:
        handle = start_qotd(reactor)
        built: list[Any] = []
        factory = handle.port.factory
        build = factory.buildProtocol

        def spy(addr: Any) -> Any:
            protocol = build(addr)
            built.append(protocol)
            return protocol

        factory.buildProtocol = spy
        await in_thread(reactor, quotes, handle.address.port, 2)
        await handle.all_closed()
        await handle.stop()
        return built

    built = run(scenario, timeout=60)
    assert len(built) == 2
    for protocol in built:
        assert isinstance(protocol, QOTD)
        assert type(protocol).__name__ == "QOTD" and type(protocol).__module__ == QOTD.__module__
        assert "QOTD object" in repr(protocol)


def test_a_reset_among_the_counted_connections_is_logged_with_its_peer(reactor, run, caplog) -> None:
    caplog.set_level(logging.INFO, logger="inspector.catalog")

    async def scenario() -> list[str]:
        handle = start_qotd(reactor)
        handle.connection_log.interval = 600.0
        seen = await in_thread(reactor, quotes, handle.address.port, 15, True)
        await handle.all_closed()
        await handle.stop()
        return seen

    seen = run(scenario, timeout=60)
    closes = [r.getMessage() for r in caplog.records if " closed: " in r.getMessage()]
    assert len(closes) == 11, closes  # the ten logged ones, and the reset one
    assert f"connection from {seen[-1]} closed" in closes[-1], (seen[-1], closes[-1])


class _Slotted(Protocol):
    """A protocol built by a factory's own buildProtocol, not from ``factory.protocol``."""

    def connectionMade(self) -> None:
        self.transport.write(b"hi\r\n")
        self.transport.loseConnection()


def test_protocols_a_factory_builds_its_own_way_are_tracked_and_closed_on_stop(reactor, run) -> None:
    from inspector.catalog.handles import listen_tcp

    class Own(Factory):
        def buildProtocol(self, addr: Any) -> Any:
            protocol = _Slotted()
            protocol.factory = self
            return protocol

    entry = catalog.find("qotd", "server", "tcp")

    async def scenario() -> tuple[int, int]:
        handle = listen_tcp(entry, reactor, Own(), 0, "127.0.0.1", None)
        await in_thread(reactor, quotes, handle.address.port, 3)
        await handle.all_closed()
        opened = len(handle.connections)
        await handle.stop()
        return opened, len(handle.connections)

    assert run(scenario, timeout=60) == (0, 0)


def test_a_closed_qotd_connection_is_freed_at_once_not_by_the_collector(reactor, run) -> None:
    found = left_for_the_collector(reactor, run, 30)
    # The protocol and its transport referred to each other until the collector ran.
    assert found["QOTD"] == 0, found


def test_a_new_quoter_given_to_a_running_factory_is_served(reactor, run) -> None:
    from inspector.protocols.qotd import QOTDFactory, StaticQuoter

    def read(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            got = b""
            while chunk := sock.recv(4096):
                got += chunk
            return got

    async def scenario() -> tuple[bytes, bytes]:
        factory = QOTDFactory(StaticQuoter("Carpe diem."))
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        first = await in_thread(reactor, read, port.getHost().port)
        factory.quoter = StaticQuoter("Festina lente.")
        second = await in_thread(reactor, read, port.getHost().port)
        await port.stopListening()
        return first, second

    assert run(scenario, timeout=60) == (b"Carpe diem.\r\n", b"Festina lente.\r\n")
