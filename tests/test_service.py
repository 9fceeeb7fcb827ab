"""Services: the tree, start/stop order, waiting for slow stops, and network services."""

from __future__ import annotations

import socket
from builtins import ConnectionRefusedError as ConnectionRefusedError_

import pytest
from zope.interface.verify import verifyObject

from inspector.defer import CancelledError, Deferred, inlineCallbacks
from inspector.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from inspector.error import ConnectionRefusedError
from inspector.interfaces import IService, IServiceCollection
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.service import (
    Application,
    ClientService,
    MultiService,
    Service,
    StreamServerEndpointService,
    TCPClient,
    TCPServer,
    backoffPolicy,
    run_application,
    start_application,
)
from inspector.threads import deferToThreadPool

from reactor_support import free_port


class Recorder(Service):
    """Records start/stop into a shared journal; can make its stop slow."""

    def __init__(self, name: str, journal: list[str], slow: bool = False) -> None:
        self.setName(name)
        self.journal = journal
        self.slow = slow
        self.pending: Deferred | None = None

    def privilegedStartService(self) -> None:
        self.journal.append(f"privileged {self.name}")

    def startService(self) -> None:
        super().startService()
        self.journal.append(f"start {self.name}")

    def stopService(self):
        super().stopService()
        self.journal.append(f"stop {self.name}")
        if self.slow:
            self.pending = Deferred()
            return self.pending
        return None


# ------------------------------------------------------------------- the tree


def test_services_and_collections_provide_their_interfaces():
    verifyObject(IService, Service())
    verifyObject(IServiceCollection, MultiService())
    app = Application("demo")
    assert IServiceCollection(app) is app
    assert IService(app) is app
    assert app.name == "demo"


def test_children_start_in_order_and_stop_in_reverse():
    journal: list[str] = []
    parent = MultiService()
    for name in "abc":
        Recorder(name, journal).setServiceParent(parent)
    parent.privilegedStartService()
    parent.startService()
    parent.stopService()
    assert journal == [
        "privileged a", "privileged b", "privileged c",
        "start a", "start b", "start c",
        "stop c", "stop b", "stop a",
    ]
    assert not any(s.running for s in parent)


def test_stop_waits_for_every_slow_child():
    journal: list[str] = []
    parent = MultiService()
    slow1 = Recorder("slow1", journal, slow=True)
    slow2 = Recorder("slow2", journal, slow=True)
    for service in (slow1, Recorder("quick", journal), slow2):
        service.setServiceParent(parent)
    parent.startService()
    stopped = parent.stopService()
    done: list[object] = []
    stopped.addCallback(done.append)
    assert done == []
    slow1.pending.callback(None)
    assert done == []
    slow2.pending.callback(None)
    assert len(done) == 1


def test_a_failing_child_stop_does_not_prevent_the_others():
    journal: list[str] = []

    class Failing(Recorder):
        def stopService(self):
            super().stopService()
            raise RuntimeError("disk on fire")

    parent = MultiService()
    Recorder("a", journal).setServiceParent(parent)
    Failing("b", journal).setServiceParent(parent)
    parent.startService()
    results: list = []
    parent.stopService().addCallback(results.append)
    assert journal[-2:] == ["stop b", "stop a"]
    (outcome,) = results
    (ok_b, failure_b), (ok_a, _) = outcome
    assert not ok_b and failure_b.check(RuntimeError) and ok_a
    failure_b.trap(RuntimeError)


def test_named_children_can_be_found_and_names_are_unique():
    journal: list[str] = []
    app = Application("demo")
    web = Recorder("web", journal)
    web.setServiceParent(app)
    assert app.getServiceNamed("web") is web
    with pytest.raises(RuntimeError, match="two services named 'web'"):
        Recorder("web", journal).setServiceParent(app)
    with pytest.raises(RuntimeError, match="already has a parent"):
        web.setName("other")
    with pytest.raises(KeyError):
        app.getServiceNamed("missing")


def test_adding_to_a_running_parent_starts_and_removing_stops():
    journal: list[str] = []
    parent = MultiService()
    parent.startService()
    late = Recorder("late", journal, slow=True)
    late.setServiceParent(parent)
    assert journal == ["privileged late", "start late"] and late.running
    result = late.disownServiceParent()
    assert isinstance(result, Deferred)
    assert journal[-1] == "stop late" and late.parent is None
    assert list(parent) == []
    late.pending.callback(None)


def test_moving_a_service_to_another_parent_leaves_the_first():
    journal: list[str] = []
    first, second = MultiService(), MultiService()
    service = Recorder("s", journal)
    service.setServiceParent(first)
    service.setServiceParent(second)
    assert list(first) == [] and list(second) == [service] and service.parent is second


# --------------------------------------------------------- with a running reactor


class Greeter(Protocol):
    def connectionMade(self) -> None:
        self.transport.write(b"hello\r\n")
        self.transport.loseConnection()


class Reader(Protocol):
    def __init__(self) -> None:
        self.received = b""
        self.done = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason) -> None:
        self.done.callback(self.received)


def test_stream_server_endpoint_service_listens_while_running(reactor, run):
    service = StreamServerEndpointService(TCP4ServerEndpoint(reactor, 0), Factory.forProtocol(Greeter))

    @inlineCallbacks
    def scenario():
        service.startService()
        assert service.running and service.port is not None
        number = service.port.getHost().port
        client = yield TCP4ClientEndpoint(reactor, "127.0.0.1", number).connect(Factory.forProtocol(Reader))
        greeting = yield client.done
        yield service.stopService()
        assert not service.running
        try:
            yield TCP4ClientEndpoint(reactor, "127.0.0.1", number).connect(Factory.forProtocol(Reader))
        except Exception as error:  # refused: nobody listens any more
            return greeting, type(error).__name__
        return greeting, "still listening"

    assert run(scenario) == (b"hello\r\n", "ConnectionRefusedError")


def test_stream_server_endpoint_service_logs_a_failure_to_listen(reactor, run, caplog):
    @inlineCallbacks
    def scenario():
        taken = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Greeter))
        number = taken.getHost().port
        service = StreamServerEndpointService(TCP4ServerEndpoint(reactor, number), Factory.forProtocol(Greeter))
        service.startService()
        yield service.stopService()
        yield taken.stopListening()
        return number

    number = run(scenario)
    assert f"127.0.0.1:{number}" in caplog.text and "could not listen" in caplog.text


def test_tcp_server_and_client_services_in_an_application(reactor, run):
    app = Application("greetings")
    server = TCPServer(0, Factory.forProtocol(Greeter), reactor=reactor)
    server.setServiceParent(app)
    received = Deferred()

    class Client(ClientFactory):
        protocol = Reader

        def buildProtocol(self, addr):
            p = super().buildProtocol(addr)
            p.done.chainDeferred(received)
            return p

    @inlineCallbacks
    def scenario():
        app.startService()
        TCPClient("127.0.0.1", server.getHost().port, Client(), reactor=reactor).setServiceParent(app)
        greeting = yield received
        yield app.stopService()
        return greeting

    assert run(scenario) == b"hello\r\n"


def test_start_application_starts_with_the_reactor_and_stops_before_shutdown(reactor, run):
    journal: list[str] = []
    app = Application("demo")
    slow = Recorder("slow", journal, slow=True)
    slow.setServiceParent(app)
    start_application(app, reactor)
    assert journal == ["privileged slow"]

    def finish_stop_later():
        # The shutdown waits for the slow stop; finish it a little later.
        reactor.callLater(0.05, lambda: (journal.append("stop finished"), slow.pending.callback(None)))

    reactor.addSystemEventTrigger("before", "shutdown", finish_stop_later)
    reactor.addSystemEventTrigger("after", "shutdown", journal.append, "after shutdown")
    run(lambda: journal.append("running"))
    assert journal[:3] == ["privileged slow", "start slow", "running"]
    assert journal.index("stop slow") < journal.index("stop finished") < journal.index("after shutdown")


# -------------------------------------------------------------------- ClientService


class Dropper(Protocol):
    """Greets with its visit number; drops the connection when told ``drop``."""

    def connectionMade(self):
        self.factory.visits += 1
        self.transport.write(b"visit %d\n" % self.factory.visits)

    def dataReceived(self, data):
        if b"drop" in data:
            self.transport.loseConnection()


class Line(Protocol):
    def __init__(self):
        self.received = b""
        self.greeted = Deferred()
        self.lost = Deferred()

    def dataReceived(self, data):
        self.received += data
        if not self.greeted.called and data.endswith(b"\n"):
            self.greeted.callback(self.received)

    def connectionLost(self, reason):
        self.lost.callback(None)


def quick_retry(failures: int) -> float:
    return 0.01 * failures


def test_client_service_reconnects_after_the_server_drops_it(reactor, run):
    server = Factory.forProtocol(Dropper)
    server.visits = 0

    @inlineCallbacks
    def scenario():
        port = reactor.listenTCP(0, server)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        service = ClientService(endpoint, Factory.forProtocol(Line), retryPolicy=quick_retry)
        service.startService()
        first = yield service.whenConnected()
        greeting1 = yield first.greeted
        same = yield service.whenConnected()
        assert same is first
        first.transport.write(b"drop")
        yield first.lost
        second = yield service.whenConnected()
        assert second is not first
        greeting2 = yield second.greeted
        yield service.stopService()
        assert second.lost.called, "stopService fires after the connection is closed"
        yield port.stopListening()
        return greeting1, greeting2

    assert run(scenario) == (b"visit 1\n", b"visit 2\n")


def test_client_service_fails_waiters_after_repeated_failures_and_keeps_trying(reactor, run):
    server = Factory.forProtocol(Dropper)
    server.visits = 0

    @inlineCallbacks
    def scenario():
        number = free_port()
        service = ClientService(
            TCP4ClientEndpoint(reactor, "127.0.0.1", number), Factory.forProtocol(Line), retryPolicy=quick_retry
        )
        service.startService()
        try:
            yield service.whenConnected(failAfterFailures=2)
        except ConnectionRefusedError:
            outcome = "refused twice"
        else:
            outcome = "connected"
        port = reactor.listenTCP(number, server)
        connected = yield service.whenConnected()
        greeting = yield connected.greeted
        yield service.stopService()
        yield port.stopListening()
        return outcome, greeting

    assert run(scenario) == ("refused twice", b"visit 1\n")


def test_client_service_prepare_connection_runs_before_waiters_see_it(reactor, run):
    server = Factory.forProtocol(Dropper)
    server.visits = 0
    prepared = []

    def prepare(protocol):
        d = Deferred()
        reactor.callLater(0.02, lambda: (prepared.append(protocol), d.callback(None)))
        return d

    @inlineCallbacks
    def scenario():
        port = reactor.listenTCP(0, server)
        service = ClientService(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port),
            Factory.forProtocol(Line),
            retryPolicy=quick_retry,
            prepareConnection=prepare,
        )
        service.startService()
        protocol = yield service.whenConnected()
        assert prepared == [protocol]
        yield service.stopService()
        yield port.stopListening()

    run(scenario)


def test_stopping_a_client_service_cancels_waiters(reactor, run):
    @inlineCallbacks
    def scenario():
        number = free_port()
        service = ClientService(
            TCP4ClientEndpoint(reactor, "127.0.0.1", number), Factory.forProtocol(Line), retryPolicy=lambda n: 10.0
        )
        service.startService()
        waiter = service.whenConnected()
        yield service.stopService()
        try:
            yield waiter
        except CancelledError:
            pass
        else:
            raise AssertionError("the waiter was not cancelled")
        try:
            yield service.whenConnected()
        except CancelledError:
            return "stopped"

    assert run(scenario) == "stopped"


def test_backoff_policy_grows_and_caps():
    policy = backoffPolicy(initialDelay=1.0, maxDelay=10.0, factor=2.0, jitter=lambda: 0.5)
    assert [policy(n) for n in (0, 1, 2, 3, 4, 10_000)] == [1.5, 2.5, 4.5, 8.5, 10.5, 10.5]


def test_run_application_serves_until_the_reactor_stops(reactor):
    """What headless ``inspector serve`` does: listen while running, close before exit."""
    app = Application("qotd")
    server = TCPServer(0, Factory.forProtocol(Greeter), reactor=reactor)
    server.setServiceParent(app)
    seen = []
    with pytest.raises(RuntimeError, match="not listening"):
        server.getHost()

    def client():
        seen.append(server.getHost().port)

        def exchange():
            with socket.create_connection(("127.0.0.1", seen[0]), timeout=5) as sock:
                return sock.makefile("rb").read()

        def got(greeting):
            seen.append(greeting)
            reactor.stop()

        deferToThreadPool(reactor, reactor.getThreadPool(), exchange).addBoth(got)

    reactor.callWhenRunning(client)
    reactor.callLater(10, reactor.stop)  # a safety net, should the exchange hang
    run_application(app, reactor)
    number, greeting = seen
    assert greeting == b"hello\r\n"
    assert not app.running and not server.running
    with pytest.raises(ConnectionRefusedError_):
        socket.create_connection(("127.0.0.1", number), timeout=5).close()


def test_stream_server_endpoint_service_can_raise_a_failure_to_listen(reactor, run):
    from inspector.error import CannotListenError

    @inlineCallbacks
    def scenario():
        taken = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Greeter))
        service = StreamServerEndpointService(
            TCP4ServerEndpoint(reactor, taken.getHost().port), Factory.forProtocol(Greeter)
        )
        service._raiseSynchronously = True
        try:
            service.privilegedStartService()
        except CannotListenError:
            outcome = "raised"
        else:
            outcome = "listening"
        yield taken.stopListening()
        return outcome

    assert run(scenario) == "raised"
