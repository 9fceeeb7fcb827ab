"""What only the asyncio reactor promises: hosting on an asyncio loop, and interop with it.

The reactor contract itself runs on this reactor through the ``reactor`` fixture of the
reactor-generic suites.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from typing import Any

import pytest

from inspector import reactors
from inspector.defer import Deferred, inlineCallbacks
from inspector.protocol import Factory, Protocol
from inspector.reactors.asyncio import AsyncioReactor


class Echo(Protocol):
    """Sends back whatever arrives."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


@pytest.fixture
def loop() -> Any:
    """A fresh asyncio event loop, closed after the test."""
    made = asyncio.new_event_loop()
    yield made
    made.close()


def test_run_runs_the_asyncio_loop_it_is_given(loop: asyncio.AbstractEventLoop) -> None:
    """run() on a loop that is not running runs it until stop()."""
    reactor = AsyncioReactor(loop=loop)
    seen: list[Any] = []
    try:
        reactor.callWhenRunning(lambda: seen.append(asyncio.get_running_loop() is loop))
        reactor.callLater(0.01, reactor.stop)
        reactor.run()
        assert seen == [True]
        assert not reactor.running
        assert not loop.is_running()
    finally:
        reactor.close()
    assert not loop.is_closed(), "closing the reactor must not close a loop it was given"


def test_inside_a_running_loop_run_just_starts() -> None:
    """Under asyncio.run(), run() returns at once and the reactor's calls run on that loop."""
    events: list[Any] = []

    async def main() -> Any:
        reactor = AsyncioReactor()
        try:
            reactor.callWhenRunning(events.append, "started")
            reactor.run()
            events.append(("run returned", reactor.running))
            fired: Deferred = Deferred()
            reactor.callLater(0.01, fired.callback, "timer")
            events.append(await fired.asFuture(asyncio.get_running_loop()))
            stopped = asyncio.get_running_loop().create_future()
            reactor.addSystemEventTrigger("after", "shutdown", stopped.set_result, None)
            reactor.stop()
            await asyncio.wait_for(stopped, 5)
            return reactor.running
        finally:
            reactor.close()

    assert asyncio.run(main()) is False
    assert events == ["started", ("run returned", True), "timer"]


def test_a_proactor_loop_is_refused_with_a_clear_message() -> None:
    """Proactor loops have no add_reader; the reactor says so instead of failing later."""
    from asyncio.proactor_events import BaseProactorEventLoop

    # A genuine proactor loop object, left uninitialised: Linux has no proactor to give it.
    proactor_loop = object.__new__(BaseProactorEventLoop)
    proactor_loop._closed = True  # so its finalizer has nothing to close
    with pytest.raises(TypeError, match="(?i)proactor.*(SelectorEventLoop|selector)"):
        AsyncioReactor(loop=proactor_loop)


def test_stop_from_plain_asyncio_code_while_idle(loop: asyncio.AbstractEventLoop) -> None:
    """stop() called by a loop.call_later callback, with no reactor work pending, ends run()."""
    reactor = AsyncioReactor(loop=loop)
    events: list[str] = []
    watchdog = loop.call_later(5, loop.stop)
    try:
        reactor.addSystemEventTrigger("before", "shutdown", events.append, "shutdown")
        reactor.callWhenRunning(lambda: loop.call_later(0.03, reactor.stop))
        reactor.run()
        assert events == ["shutdown"]
    finally:
        watchdog.cancel()
        reactor.close()


def test_reset_earlier_from_plain_asyncio_code(loop: asyncio.AbstractEventLoop) -> None:
    """A DelayedCall moved earlier from outside the reactor fires at its new time."""
    reactor = AsyncioReactor(loop=loop)
    order: list[str] = []
    watchdog = loop.call_later(5, loop.stop)
    try:
        def finish() -> None:
            order.append("reset call")
            reactor.stop()

        far = reactor.callLater(3600, finish)
        near = reactor.callLater(0.05, order.append, "delayed call")

        def from_asyncio() -> None:
            far.reset(0.02)
            near.delay(3600)

        reactor.callWhenRunning(lambda: loop.call_later(0.01, from_asyncio))
        reactor.run()
        assert order == ["reset call"]
    finally:
        watchdog.cancel()
        reactor.close()


def test_call_from_thread_wakes_an_idle_asyncio_loop(loop: asyncio.AbstractEventLoop) -> None:
    """A call from another thread runs although the next timer is an hour away."""
    reactor = AsyncioReactor(loop=loop)
    got: list[str] = []
    watchdog = loop.call_later(5, loop.stop)
    try:
        reactor.callLater(3600, lambda: None)

        def deliver(name: str) -> None:
            got.append(name)
            reactor.stop()

        def worker() -> None:
            time.sleep(0.05)
            reactor.callFromThread(deliver, threading.current_thread().name)

        reactor.callWhenRunning(lambda: threading.Thread(target=worker, name="w1").start())
        reactor.run()
        assert got == ["w1"]
    finally:
        watchdog.cancel()
        reactor.close()


def test_asyncio_streams_talk_to_a_reactor_server_on_the_same_loop(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """asyncio's own stream client and the reactor's echo server share one loop and one thread."""
    reactor = AsyncioReactor(loop=loop)

    async def client(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        replies = []
        for i in range(20):
            writer.write(b"line %d\n" % i)
            replies.append(await reader.readline())
        writer.close()
        await writer.wait_closed()
        return b"".join(replies)

    @inlineCallbacks
    def scenario() -> Any:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo))
        future = asyncio.ensure_future(client(port.getHost().port), loop=loop)
        echoed = yield Deferred.fromFuture(future)
        yield port.stopListening()
        return echoed

    try:
        from reactor_support import run_reactor_until

        echoed = run_reactor_until(reactor, scenario)
    finally:
        reactor.close()
    assert echoed == b"".join(b"line %d\n" % i for i in range(20))


def test_async_code_awaits_a_deferred_and_a_deferred_waits_for_a_future(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """A Deferred becomes a future for asyncio code, and a future becomes a Deferred; errors cross too."""
    reactor = AsyncioReactor(loop=loop)

    async def uses_asyncio(d: Deferred) -> Any:
        await asyncio.sleep(0.01)
        value = await d.asFuture(loop)
        return value * 2

    @inlineCallbacks
    def scenario() -> Any:
        d: Deferred = Deferred()
        reactor.callLater(0.01, d.callback, 21)
        doubled = yield Deferred.fromFuture(asyncio.ensure_future(uses_asyncio(d), loop=loop))
        failing: Deferred = Deferred()
        reactor.callLater(0.01, failing.errback, ValueError("bad input"))
        try:
            yield Deferred.fromFuture(asyncio.ensure_future(uses_asyncio(failing), loop=loop))
        except ValueError as error:
            message = str(error)
        return doubled, message

    try:
        from reactor_support import run_reactor_until

        result = run_reactor_until(reactor, scenario)
    finally:
        reactor.close()
    assert result == (42, "bad input")


def test_closing_a_reactor_closes_the_loop_it_made() -> None:
    """A reactor made without a loop owns the one it made and closes it."""
    reactor = AsyncioReactor()
    reactor.callLater(0, reactor.stop)
    reactor.run()
    reactor.close()
    assert reactor.loop.is_closed()
    reactor.close()  # twice is fine


@pytest.mark.parametrize("name", ["selectors", "asyncio"])
@pytest.mark.parametrize("install", [True, False])
def test_run_takes_installSignalHandlers_as_every_reactor_does(name: str, install: bool) -> None:
    """run(installSignalHandlers=False) leaves Ctrl-C (SIGINT) to the application on the
    asyncio reactor as on the selectors one; by default the reactor handles it while it runs."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers belong to the main thread")
    before = signal.getsignal(signal.SIGINT)
    if before is not signal.default_int_handler:
        pytest.skip("something else already handles SIGINT, so no reactor installs its own")
    reactor = reactors.create(name)
    during: list[Any] = []
    try:
        reactor.callWhenRunning(lambda: during.append(signal.getsignal(signal.SIGINT)))
        reactor.callLater(0.01, reactor.stop)
        reactor.run(installSignalHandlers=install)
    finally:
        reactor.close()
    if install:
        assert during and during[0] is not before, "the reactor did not take SIGINT while running"
    else:
        assert during == [before], "installSignalHandlers=False still replaced the SIGINT handler"
    assert signal.getsignal(signal.SIGINT) is before
