"""ReconnectingClientFactory: back-off arithmetic, giving up, and real reconnection.

The arithmetic tests drive the factory with ``inspector.task.Clock`` so the schedule can
be read exactly; the loopback tests reconnect over real sockets on every
reactor.
"""

from __future__ import annotations

import random

import pytest

from inspector.error import NotConnectingError
from inspector.protocol import ReconnectingClientFactory
from inspector.task import Clock


def asked_delays(clock: Clock) -> list[float]:
    """Note every delay passed to ``clock.callLater`` (a spy: the calls still run on the clock)."""
    delays: list[float] = []
    schedule = clock.callLater

    def callLater(delay, fn, *args, **kw):
        delays.append(delay)
        return schedule(delay, fn, *args, **kw)

    clock.callLater = callLater
    return delays


class CountingConnector:
    """Counts connect() calls; stopConnecting() only works while 'connecting'."""

    def __init__(self) -> None:
        self.attempts = 0
        self.connecting = False
        self.stopped = 0

    def connect(self) -> None:
        self.attempts += 1
        self.connecting = True

    def stopConnecting(self) -> None:
        if not self.connecting:
            raise NotConnectingError("not connecting")
        self.connecting = False
        self.stopped += 1


def make_factory(**attrs) -> tuple[ReconnectingClientFactory, Clock]:
    factory = ReconnectingClientFactory()
    factory.clock = Clock()
    for name, value in attrs.items():
        setattr(factory, name, value)
    return factory, factory.clock


def test_delays_grow_by_factor_up_to_max_delay_without_jitter():
    factory, clock = make_factory(initialDelay=1.0, factor=2.0, jitter=0, maxDelay=10)
    delays = asked_delays(clock)
    connector = CountingConnector()
    for _ in range(6):
        connector.connecting = False
        factory.clientConnectionFailed(connector, None)
        clock.advance(100)
    assert delays == [2.0, 4.0, 8.0, 10, 10, 10]
    assert connector.attempts == 6


def test_jitter_scatters_delays_but_never_past_max_delay_or_below_zero():
    random.seed(1234)
    factory, clock = make_factory(initialDelay=1.0, factor=2.0, jitter=0.5, maxDelay=5)
    delays = asked_delays(clock)
    connector = CountingConnector()
    for _ in range(40):
        factory.clientConnectionLost(connector, None)
        clock.advance(100)
    assert len(set(delays)) > 10  # really scattered
    assert all(0.0 <= d <= 5 for d in delays)


def test_max_retries_abandons_after_that_many_attempts():
    factory, clock = make_factory(initialDelay=0.1, jitter=0, maxRetries=3)
    connector = CountingConnector()
    for _ in range(10):
        factory.clientConnectionFailed(connector, None)
        clock.advance(1e6)
    assert connector.attempts == 3
    assert clock.getDelayedCalls() == []


def test_reset_delay_starts_the_back_off_again():
    factory, clock = make_factory(initialDelay=1.0, factor=3.0, jitter=0)
    delays = asked_delays(clock)
    connector = CountingConnector()
    factory.clientConnectionFailed(connector, None)
    clock.advance(10)
    factory.clientConnectionFailed(connector, None)
    clock.advance(10)
    factory.resetDelay()
    factory.clientConnectionLost(connector, None)
    assert delays == [3.0, 9.0, 3.0]
    assert factory.retries == 1


def test_stop_trying_cancels_the_pending_retry_and_stops_the_attempt():
    factory, clock = make_factory(initialDelay=1.0, jitter=0)
    connector = CountingConnector()
    factory.clientConnectionFailed(connector, None)
    factory.stopTrying()
    clock.advance(1e6)
    assert connector.attempts == 0
    factory.clientConnectionLost(connector, None)  # later losses are not retried
    assert clock.getDelayedCalls() == []
    # While an attempt is in progress, stopTrying stops it too.
    factory.resetDelay()
    factory.clientConnectionFailed(connector, None)
    clock.advance(1e6)
    assert connector.connecting
    factory.stopTrying()
    assert connector.stopped == 1 and not connector.connecting


def test_retry_without_any_connector_is_a_clear_error():
    factory, _ = make_factory()
    with pytest.raises(ValueError, match="no connector"):
        factory.retry()


def test_a_subclass_initial_delay_is_where_back_off_starts():
    class Quick(ReconnectingClientFactory):
        initialDelay = 0.01
        factor = 2.0
        jitter = 0

    factory = Quick()
    factory.clock = Clock()
    delays = asked_delays(factory.clock)
    assert factory.delay == 0.01
    factory.clientConnectionFailed(CountingConnector(), None)
    assert delays == [0.02]


# ------------------------------------------------------------- over real sockets


def closed_port(reactor) -> int:
    """A loopback port number that nothing listens on any more."""
    from inspector.protocol import Factory, Protocol

    port = reactor.listenTCP(0, Factory.forProtocol(Protocol))
    number = port.getHost().port
    port.stopListening()
    return number


class Refused(ReconnectingClientFactory):
    """Counts refusals; reports when it has given up."""

    initialDelay = 0.005
    factor = 1.5
    jitter = 0

    def __init__(self) -> None:
        from inspector.defer import Deferred

        self.failures = []
        self.gave_up = Deferred()

    def clientConnectionFailed(self, connector, reason):
        self.failures.append(reason.type)
        ReconnectingClientFactory.clientConnectionFailed(self, connector, reason)
        if self._callID is None and not self.gave_up.called:
            self.gave_up.callback(len(self.failures))


def test_max_retries_over_real_refused_connections(reactor, run):
    from inspector.error import ConnectionRefusedError

    factory = Refused()
    factory.maxRetries = 4

    def scenario():
        reactor.connectTCP("127.0.0.1", closed_port(reactor), factory)
        return factory.gave_up

    # The first attempt plus four retries, each refused; then it stops.
    assert run(scenario) == 5
    assert factory.failures == [ConnectionRefusedError] * 5


def test_stop_trying_between_attempts_over_real_sockets(reactor, run):
    from inspector.defer import Deferred

    class GiveUpAfterTwo(Refused):
        def clientConnectionFailed(self, connector, reason):
            Refused.clientConnectionFailed(self, connector, reason)
            if len(self.failures) == 2:
                self.stopTrying()  # cancels the retry just scheduled

    factory = GiveUpAfterTwo()
    factory.initialDelay = 0.02

    def scenario():
        reactor.connectTCP("127.0.0.1", closed_port(reactor), factory)
        done = Deferred()
        # Long enough for several more attempts had the factory gone on trying.
        reactor.callLater(0.3, lambda: done.callback(len(factory.failures)))
        return done

    assert run(scenario) == 2
    assert not factory.continueTrying


def test_reconnecting_factory_provides_the_factory_interface():
    from zope.interface.verify import verifyObject

    from inspector.interfaces import IProtocolFactory

    verifyObject(IProtocolFactory, ReconnectingClientFactory())
