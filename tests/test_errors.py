"""Twisted's error names: the hierarchy programs catch, and the errors connects really fail with."""

from __future__ import annotations

import errno
import inspect
import socket

import pytest

from inspector import error, tcp, udp, unix
from inspector.address import IPv4Address
from inspector.defer import inlineCallbacks
from inspector.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP4ServerEndpoint
from inspector.failure import Failure
from inspector.protocol import ClientFactory, DatagramProtocol, Factory, Protocol, connectionDone
from inspector.task import deferLater

# Every name the issue lists, plus the neighbours programs catch alongside them.
TWISTED_NAMES = [
    "BindError",
    "CannotListenError",
    "MulticastJoinError",
    "MessageLengthError",
    "DNSLookupError",
    "ConnectError",
    "ConnectBindError",
    "UnknownHostError",
    "NoRouteError",
    "ConnectionRefusedError",
    "TCPTimedOutError",
    "BadFileError",
    "ServiceNameUnknownError",
    "UserError",
    "TimeoutError",
    "SSLError",
    "ConnectionClosed",
    "ConnectionLost",
    "ConnectionAborted",
    "ConnectionDone",
    "AlreadyCalled",
    "AlreadyCancelled",
    "ProcessDone",
    "ProcessTerminated",
    "ProcessExitedAlready",
    "NotConnectingError",
    "NotListeningError",
    "ReactorNotRunning",
    "ReactorNotRestartable",
    "ReactorAlreadyRunning",
    "ReactorAlreadyInstalledError",
    "ConnectingCancelledError",
    "NoProtocol",
]


def bases(cls: type) -> list[str]:
    """The names along a class's MRO, up to (not including) object."""
    return [klass.__name__ for klass in inspect.getmro(cls) if klass is not object]


@pytest.mark.parametrize("name", TWISTED_NAMES)
def test_hierarchy_matches_twisted(name):
    twisted_error = pytest.importorskip(
        "twisted.internet.error", reason="Twisted is not installed (the bench extra brings it)"
    )
    ours = getattr(error, name)
    theirs = getattr(twisted_error, name)
    assert bases(ours) == bases(theirs)


def test_what_programs_catch():
    # The relations code written for Twisted relies on, without Twisted installed.
    assert issubclass(error.TimeoutError, error.UserError)
    assert issubclass(error.CannotListenError, error.BindError)
    assert issubclass(error.TCPTimedOutError, error.ConnectError)
    assert issubclass(error.UnknownHostError, error.ConnectError)
    assert not issubclass(error.DNSLookupError, error.ConnectError)
    assert issubclass(error.DNSLookupError, OSError)
    assert not issubclass(error.ConnectingCancelledError, error.ConnectError)
    assert error.ConnectingCancelledError(IPv4Address("TCP", "127.0.0.1", 1)).address.port == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda e: e.ConnectionRefusedError(111, "Connection refused"),
        lambda e: e.TimeoutError(),
        lambda e: e.UserError(string="stopped"),
        lambda e: e.ConnectBindError(98, "Address already in use"),
        lambda e: e.DNSLookupError("address 'x.invalid' not found"),
        lambda e: e.CannotListenError("127.0.0.1", 80, OSError(13, "Permission denied")),
        lambda e: e.ConnectionDone("bye"),
        lambda e: e.ConnectionLost(),
        lambda e: e.NotListeningError(),
        lambda e: e.ProcessTerminated(1, None, 256),
    ],
)
def test_messages_read_as_twisteds(make):
    twisted_error = pytest.importorskip("twisted.internet.error", reason="Twisted is not installed")
    assert str(make(error)) == str(make(twisted_error))


def test_get_connect_error_picks_the_class_twisted_does():
    assert type(error.getConnectError((errno.ECONNREFUSED, "refused"))) is error.ConnectionRefusedError
    assert type(error.getConnectError((errno.ETIMEDOUT, "timed out"))) is error.TCPTimedOutError
    assert type(error.getConnectError((errno.ENETUNREACH, "unreachable"))) is error.NoRouteError
    assert type(error.getConnectError(socket.gaierror(-2, "Name or service not known"))) is error.UnknownHostError
    assert type(error.getConnectError((errno.EPERM, "nope"))) is error.ConnectError


def test_connection_done_is_a_clean_close_failure():
    assert isinstance(connectionDone, Failure)
    assert connectionDone.check(error.ConnectionDone)
    assert Protocol().connectionLost() is None  # the default reason is connectionDone


# ------------------------------------------------------------- over loopback


class Failed(ClientFactory):
    """Records the reason its connection attempt failed."""

    def __init__(self, done):
        self.done = done

    def clientConnectionFailed(self, connector, reason):
        self.done.callback([reason])  # in a list: a Failure given to callback would errback


def test_a_refused_connect_fails_with_connection_refused_error(reactor, run):
    from inspector.defer import Deferred

    from reactor_support import free_port

    def scenario():
        done = Deferred()
        reactor.connectTCP("127.0.0.1", free_port(), Failed(done))
        return done

    [reason] = run(scenario)
    assert type(reason.value) is error.ConnectionRefusedError


def test_an_unresolvable_name_fails_with_dns_lookup_error(reactor, run):
    from inspector.defer import Deferred

    def scenario():
        done = Deferred()
        reactor.connectTCP("no-such-host.invalid", 80, Failed(done))
        return done

    [reason] = run(scenario)
    assert reason.check(error.DNSLookupError)
    assert "no-such-host.invalid" in str(reason.value)


def test_a_bind_failure_is_cannot_listen_error(reactor):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(error.BindError) as info:
            reactor.listenTCP(port, Factory.forProtocol(Protocol))
    assert isinstance(info.value, error.CannotListenError) and info.value.port == port


def test_a_bad_bind_address_for_a_connect_is_connect_bind_error(reactor, run):
    from inspector.defer import Deferred

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        used = taken.getsockname()

        def scenario():
            done = Deferred()
            reactor.connectTCP("127.0.0.1", used[1], Failed(done), bindAddress=used)
            return done

        [reason] = run(scenario)
    assert type(reason.value) is error.ConnectBindError


class Built(Factory):
    """Counts the protocols it builds."""

    protocol = Protocol

    def __init__(self):
        self.built = 0

    def buildProtocol(self, addr):
        self.built += 1
        return super().buildProtocol(addr)


def test_cancelling_a_connect_before_the_loop_turns(reactor, run):
    @inlineCallbacks
    def scenario():
        port = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Protocol))
        number = port.getHost().port
        factory = Built()
        d = TCP4ClientEndpoint(reactor, "127.0.0.1", number).connect(factory)
        d.cancel()
        try:
            yield d
        except error.ConnectingCancelledError as exc:
            outcome = exc
        yield deferLater(reactor, 0.05)  # a late connect would build by now
        yield port.stopListening()
        return outcome, number, factory.built

    outcome, number, built = run(scenario)
    assert outcome.address == IPv4Address("TCP", "127.0.0.1", number)
    assert built == 0


def test_cancelling_a_connect_in_flight(reactor, run):
    # A listener with a full backlog leaves our SYN unanswered: the connect is pending
    # in the kernel when it is cancelled.
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        number = full.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", number), timeout=5)
        try:

            @inlineCallbacks
            def scenario():
                factory = Built()
                d = TCP4ClientEndpoint(reactor, "127.0.0.1", number, timeout=30).connect(factory)
                yield deferLater(reactor, 0.05)
                pending = not d.called
                d.cancel()
                try:
                    yield d
                except error.ConnectingCancelledError as exc:
                    return pending, exc, factory.built

            pending, outcome, built = run(scenario)
        finally:
            filler.close()
    assert pending
    assert outcome.address == IPv4Address("TCP", "127.0.0.1", number)
    assert built == 0


def test_cancelling_a_hostname_connect(reactor, run):
    @inlineCallbacks
    def scenario():
        port = yield TCP4ServerEndpoint(reactor, 0).listen(Factory.forProtocol(Protocol))
        d = HostnameEndpoint(reactor, "localhost", port.getHost().port).connect(Built())
        d.cancel()
        try:
            yield d
        except error.ConnectingCancelledError as exc:
            outcome = exc
        yield port.stopListening()
        return outcome, port.getHost().port

    outcome, number = run(scenario)
    assert outcome.address.port == number



@pytest.mark.parametrize("make", [
    lambda path: tcp.Port(0, Factory()),
    lambda path: udp.Port(0, DatagramProtocol()),
    lambda path: unix.Port(str(path / "s.sock"), Factory()),
], ids=["tcp", "udp", "unix"])
def test_a_port_made_without_a_reactor_says_so_at_once(make, tmp_path) -> None:
    # Twisted's signature keeps reactor= optional; the transports cannot fetch the
    # process-wide reactor, so a port without one is refused with a clear error instead
    # of failing later in startListening() with "'NoneType' has no attribute 'addReader'".
    with pytest.raises(TypeError, match="needs the reactor"):
        make(tmp_path)
