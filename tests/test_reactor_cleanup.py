"""Shutdown is clean on every reactor: no descriptor, thread or Qt object outlives it.

Each test notes the process's open descriptors and threads, makes a reactor, runs a TCP
server with clients, a UDP port, a thread-pool call and a name lookup through it, closes
it, and compares. The reactor is made inside the test (not by the shared fixture) so that
its own descriptors (epoll set, waker, asyncio loop) are counted too.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Any

import pytest

from inspector import reactors
from inspector.defer import Deferred, inlineCallbacks
from inspector.protocol import ClientFactory, DatagramProtocol, Factory, Protocol
from inspector.threads import deferToThreadPool

from reactor_support import REACTOR_NAMES, run_reactor_until

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Hello(Protocol):
    """Says hello, waits for the echo, closes; ``factory.done`` fires when the connection is gone."""

    def connectionMade(self) -> None:
        self.transport.write(b"hello")

    def dataReceived(self, data: bytes) -> None:
        self.transport.loseConnection()

    def connectionLost(self, reason: Any) -> None:
        self.factory.done.callback(None)


class HelloFactory(ClientFactory):
    protocol = Hello

    def __init__(self) -> None:
        self.done: Deferred = Deferred()


class Bounce(DatagramProtocol):
    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.transport.write(datagram, addr)


def _open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _threads_settle(before: set[threading.Thread], seconds: float = 5.0) -> set[threading.Thread]:
    """The threads started since ``before`` that are still alive after up to ``seconds``."""
    end = time.monotonic() + seconds
    while True:
        extra = {t for t in threading.enumerate() if t not in before and t.is_alive()}
        if not extra or time.monotonic() > end:
            return extra
        time.sleep(0.01)


def _exercise(reactor: Any) -> Any:
    @inlineCallbacks
    def scenario() -> Any:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo))
        clients = []
        for _ in range(5):
            factory = HelloFactory()
            reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
            clients.append(factory.done)
        for done in clients:
            yield done
        udp = reactor.listenUDP(0, Bounce())
        answer = yield deferToThreadPool(reactor, reactor.getThreadPool(), lambda: 6 * 7)
        address = yield reactor.resolve("localhost")
        yield port.stopListening()
        yield udp.stopListening()
        return answer, address

    return run_reactor_until(reactor, scenario)


@pytest.mark.parametrize("name", REACTOR_NAMES)
def test_a_reactor_leaves_no_descriptor_or_thread_behind(name: str, request: pytest.FixtureRequest) -> None:
    """Descriptors and threads after close() are exactly those from before the reactor was made."""
    if name == "qt":
        request.getfixturevalue("qapp")
    gc.collect()
    fds_before = _open_descriptors()
    threads_before = set(threading.enumerate())

    reactor = reactors.create(name)
    try:
        answer, address = _exercise(reactor)
    finally:
        reactor.close()
    assert answer == 42
    assert address in ("127.0.0.1", "::1")
    gc.collect()

    assert _open_descriptors() - fds_before == set()
    assert _threads_settle(threads_before) == set()


def test_the_qt_reactor_leaves_no_qt_object_behind(qapp: Any) -> None:
    """The Qt reactor's notifiers and timer go away with it: the application's object tree is as before."""
    if "qt" not in REACTOR_NAMES:
        pytest.skip("the Qt reactor is not in this run")
    from PySide6.QtCore import QObject

    for use_epoll in (True, False):
        before = len(qapp.findChildren(QObject))
        reactor = reactors.create("qt", use_epoll=use_epoll)
        try:
            during: list[int] = []
            reactor.callWhenRunning(lambda: during.append(len(qapp.findChildren(QObject))))
            _exercise(reactor)
        finally:
            reactor.close()
        assert during and during[0] > before, "the reactor's Qt objects should live under the application"
        assert len(qapp.findChildren(QObject)) == before
