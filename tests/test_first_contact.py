"""The examples a newcomer meets first work as written, over real loopback sockets.

Each example is written the way the introductory documentation teaches it (Python 3,
bytes): a QOTD server, an Echo server that turns people away past a limit, a
ClientCreator greeter, a chatty EchoClientFactory, a ReconnectingClientFactory, a
LogfileFactory and a LineReceiver answering from a dict. Peers are either our own
clients or plain blocking sockets driven from the reactor's thread pool.
"""

from __future__ import annotations

import socket

from inspector.defer import Deferred, DeferredList, inlineCallbacks
from inspector.error import ConnectionDone, ConnectionRefusedError
from inspector.protocol import (
    ClientCreator,
    ClientFactory,
    Factory,
    Protocol,
    ReconnectingClientFactory,
)
from inspector.protocols.basic import LineReceiver
from inspector.threads import deferToThreadPool

from reactor_support import free_port


def blocking_exchange(port: int, send: bytes = b"", shut_write: bool = False) -> bytes:
    """Connect with a plain socket, send ``send``, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if send:
            sock.sendall(send)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def in_thread(reactor, f, *args):
    return deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)


class Reader(Protocol):
    """A client that keeps what it reads; ``done`` fires with it when the server closes."""

    def __init__(self) -> None:
        self.received = b""
        self.done: Deferred = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason) -> None:
        self.done.callback(self.received)


# ------------------------------------------------------------------------------- QOTD


class QOTD(Protocol):
    def connectionMade(self):
        # self.factory was set by the factory's default buildProtocol
        self.transport.write(self.factory.quote + b"\r\n")
        self.transport.loseConnection()


class QOTDFactory(Factory):
    protocol = QOTD

    def __init__(self, quote=None):
        self.quote = quote or b"An apple a day keeps the doctor away"


def test_qotd_server_with_a_configurable_quote(reactor, run):
    @inlineCallbacks
    def scenario():
        default = reactor.listenTCP(0, QOTDFactory())
        custom = reactor.listenTCP(0, QOTDFactory(b"configurable quote"))
        got = yield DeferredList(
            [
                in_thread(reactor, blocking_exchange, default.getHost().port),
                in_thread(reactor, blocking_exchange, custom.getHost().port),
            ],
            fireOnOneErrback=True,
        )
        yield default.stopListening()
        yield custom.stopListening()
        return [result for _, result in got]

    assert run(scenario) == [b"An apple a day keeps the doctor away\r\n", b"configurable quote\r\n"]


# ------------------------------------------------------------------------------- Echo


class Echo(Protocol):
    def __init__(self, factory):
        self.factory = factory

    def connectionMade(self):
        self.factory.numProtocols = self.factory.numProtocols + 1
        if self.factory.numProtocols > self.factory.limit:
            self.transport.write(b"Too many connections, try later")
            self.transport.loseConnection()
            return
        self.transport.write(
            b"Welcome! There are currently %d open connections.\n" % (self.factory.numProtocols,)
        )

    def connectionLost(self, reason):
        self.factory.numProtocols = self.factory.numProtocols - 1

    def dataReceived(self, data):
        self.transport.write(data)


class EchoFactory(Factory):
    numProtocols = 0

    def __init__(self, limit=100):
        self.limit = limit

    def buildProtocol(self, addr):
        return Echo(self)


class Greeted(Protocol):
    """Fires ``greeted`` with the server's first bytes, ``done`` when closed."""

    def __init__(self) -> None:
        self.greeted: Deferred = Deferred()
        self.done: Deferred = Deferred()
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        first = not self.received
        self.received += data
        if first:
            self.greeted.callback(self.received)

    def connectionLost(self, reason) -> None:
        self.done.callback(reason.type)


def crowd(reactor, port: int, count: int):
    """Open ``count`` client connections; a Deferred of the connected protocols once all are greeted."""
    clients = [Greeted() for _ in range(count)]
    for client in clients:
        ClientCreator(reactor, lambda c=client: c).connectTCP("127.0.0.1", port)
    return DeferredList([c.greeted for c in clients], fireOnOneErrback=True).addCallback(lambda _: clients)


def check_refusal(reactor, run, limit: int) -> None:
    factory = EchoFactory(limit)

    @inlineCallbacks
    def scenario():
        port = reactor.listenTCP(0, factory)
        number = port.getHost().port
        clients = yield crowd(reactor, number, limit)
        welcomes = sorted(c.received for c in clients)
        assert welcomes == sorted(
            b"Welcome! There are currently %d open connections.\n" % n for n in range(1, limit + 1)
        )
        # One too many: turned away and closed, while the others stay connected.
        refused = yield in_thread(reactor, blocking_exchange, number)
        assert refused == b"Too many connections, try later"
        assert not any(c.done.called for c in clients)
        # Echo still works for the admitted ones.
        clients[0].transport.write(b"ping")
        # When one leaves, a newcomer is welcome again.
        clients[-1].transport.loseConnection()
        yield clients[-1].done
        again = yield crowd(reactor, number, 1)
        assert again[0].received == b"Welcome! There are currently %d open connections.\n" % limit
        for c in clients[:-1] + again:
            c.transport.loseConnection()
        yield DeferredList([c.done for c in clients + again])
        yield port.stopListening()
        return clients[0].received

    echoed = run(scenario, timeout=30)
    assert echoed.endswith(b"ping")
    assert factory.numProtocols == 0


def test_echo_server_turns_away_a_connection_past_a_small_limit(reactor, run):
    check_refusal(reactor, run, limit=3)


def test_echo_server_turns_away_the_101st_connection(reactor, run):
    check_refusal(reactor, run, limit=100)


# ---------------------------------------------------------------- ClientCreator greeter


class Greeter(Protocol):
    def sendMessage(self, msg):
        self.transport.write(b"MESSAGE %s\n" % msg)


class Journal(LineReceiver):
    """A server that keeps every line of a connection and reports them when it closes."""

    delimiter = b"\n"

    def connectionMade(self):
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line)

    def connectionLost(self, reason):
        self.factory.sessions.callback(self.lines)


def test_client_creator_greeter_sends_later_and_closes(reactor, run):
    server_factory = Factory.forProtocol(Journal)
    server_factory.sessions = Deferred()

    @inlineCallbacks
    def scenario():
        port = reactor.listenTCP(0, server_factory)

        def gotProtocol(p):
            p.sendMessage(b"Hello")
            reactor.callLater(0.05, p.sendMessage, b"This is sent in a second")
            reactor.callLater(0.1, p.transport.loseConnection)
            return p

        c = ClientCreator(reactor, Greeter)
        greeter = yield c.connectTCP("localhost", port.getHost().port).addCallback(gotProtocol)
        assert isinstance(greeter, Greeter) and greeter.transport is not None
        lines = yield server_factory.sessions
        yield port.stopListening()
        return lines

    assert run(scenario) == [b"MESSAGE Hello", b"MESSAGE This is sent in a second"]


def test_client_creator_reports_a_refused_connection(reactor, run):
    @inlineCallbacks
    def scenario():
        port = reactor.listenTCP(0, Factory.forProtocol(Protocol))
        number = port.getHost().port
        yield port.stopListening()
        try:
            yield ClientCreator(reactor, Greeter).connectTCP("127.0.0.1", number)
        except ConnectionRefusedError:
            return "refused"
        return "connected"

    assert run(scenario) == "refused"


def test_client_creator_passes_arguments_and_can_be_cancelled(reactor, run):
    from inspector.defer import CancelledError

    class Named(Protocol):
        def __init__(self, name, *, punctuation):
            self.name = name + punctuation

        def connectionMade(self):
            self.transport.write(self.name)
            self.transport.loseConnection()

    server_factory = Factory.forProtocol(Journal)
    server_factory.sessions = Deferred()

    @inlineCallbacks
    def scenario():
        port = reactor.listenTCP(0, server_factory)
        number = port.getHost().port
        cancelled = ClientCreator(reactor, Named, b"never", punctuation=b"?\n").connectTCP("127.0.0.1", number)
        cancelled.cancel()
        try:
            yield cancelled
        except CancelledError:
            outcome = "cancelled"
        else:
            outcome = "connected"
        named = yield ClientCreator(reactor, Named, b"named", punctuation=b"!\n").connectTCP("127.0.0.1", number)
        lines = yield server_factory.sessions
        yield port.stopListening()
        return outcome, named.name, lines

    assert run(scenario) == ("cancelled", b"named!\n", [b"named!"])


# --------------------------------------------------------------- EchoClientFactory


class EchoClient(Protocol):
    def connectionMade(self):
        self.transport.write(b"hello, world!")

    def dataReceived(self, data):
        self.factory.log.append(("received", data))
        self.transport.loseConnection()


class EchoClientFactory(ClientFactory):
    def __init__(self):
        self.log = []
        self.finished = Deferred()

    def startedConnecting(self, connector):
        self.log.append(("Started to connect.",))

    def buildProtocol(self, addr):
        self.log.append(("Connected.",))
        p = EchoClient()
        p.factory = self
        return p

    def clientConnectionLost(self, connector, reason):
        self.log.append(("Lost connection.", reason.type))
        self.finished.callback(None)

    def clientConnectionFailed(self, connector, reason):
        self.log.append(("Connection failed.", reason.type))
        self.finished.callback(None)


class EchoServer(Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


def test_echo_client_factory_tells_its_story(reactor, run):
    @inlineCallbacks
    def scenario():
        port = reactor.listenTCP(0, Factory.forProtocol(EchoServer))
        number = port.getHost().port
        happy = EchoClientFactory()
        reactor.connectTCP("127.0.0.1", number, happy)
        yield happy.finished
        yield port.stopListening()
        sad = EchoClientFactory()
        reactor.connectTCP("127.0.0.1", number, sad)
        yield sad.finished
        return happy.log, sad.log

    happy, sad = run(scenario)
    assert happy == [
        ("Started to connect.",),
        ("Connected.",),
        ("received", b"hello, world!"),
        ("Lost connection.", ConnectionDone),
    ]
    assert sad == [("Started to connect.",), ("Connection failed.", ConnectionRefusedError)]


# -------------------------------------------------------- ReconnectingClientFactory


class Kicker(Protocol):
    """Says its connection number and hangs up; counts how often it is visited."""

    def connectionMade(self):
        self.factory.visits += 1
        self.transport.write(b"visit %d\n" % self.factory.visits)
        self.transport.loseConnection()


class Returning(Protocol):
    def dataReceived(self, data):
        self.factory.heard.append(data)


class ReturningFactory(ReconnectingClientFactory):
    initialDelay = 0.01
    factor = 2.0
    maxDelay = 0.2

    def __init__(self, wanted):
        self.wanted = wanted
        self.heard = []
        self.delays_at_build = []
        self.done = Deferred()

    def buildProtocol(self, addr):
        self.delays_at_build.append((self.retries, self.delay))
        self.resetDelay()
        p = Returning()
        p.factory = self
        return p

    def clientConnectionLost(self, connector, reason):
        if len(self.heard) >= self.wanted:
            self.stopTrying()
            self.done.callback(self.heard)
            return
        ReconnectingClientFactory.clientConnectionLost(self, connector, reason)


def test_reconnecting_client_comes_back_after_being_dropped(reactor, run):
    server = Factory.forProtocol(Kicker)
    server.visits = 0

    @inlineCallbacks
    def scenario():
        port = reactor.listenTCP(0, server)
        client = ReturningFactory(wanted=3)
        reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        heard = yield client.done
        yield port.stopListening()
        return client, heard

    client, heard = run(scenario)
    assert heard == [b"visit 1\n", b"visit 2\n", b"visit 3\n"]
    # Each success reset the back-off: every reconnection came after one short retry.
    assert client.delays_at_build[0] == (0, 0.01)
    assert all(retries == 1 and delay <= 0.05 for retries, delay in client.delays_at_build[1:])
    assert client.retries == 0 and client.delay == client.initialDelay


def test_reconnecting_client_keeps_trying_until_the_server_appears(reactor, run):
    server = Factory.forProtocol(Kicker)
    server.visits = 0

    @inlineCallbacks
    def scenario():
        number = free_port()
        client = ReturningFactory(wanted=1)
        reactor.connectTCP("127.0.0.1", number, client)
        ports = []
        reactor.callLater(0.15, lambda: ports.append(reactor.listenTCP(number, server)))
        heard = yield client.done
        yield ports[0].stopListening()
        return client, heard

    client, heard = run(scenario)
    assert heard == [b"visit 1\n"]
    retries_before_success, _ = client.delays_at_build[0]
    assert retries_before_success >= 2  # it was refused and retried before the server came


# --------------------------------------------------------------------- LogfileFactory


class LoggingProtocol(LineReceiver):
    def lineReceived(self, line):
        self.factory.fp.write(line + b"\n")
        self.factory.fp.flush()
        self.sendLine(b"logged")


class LogfileFactory(Factory):
    protocol = LoggingProtocol

    def __init__(self, fileName):
        self.file = fileName
        self.fp = None
        self.events = []

    def startFactory(self):
        self.events.append("start")
        self.fp = open(self.file, "ab")

    def stopFactory(self):
        self.events.append("stop")
        self.fp.close()


def test_logfile_factory_opens_on_first_port_and_closes_after_the_last(reactor, run, tmp_path):
    path = tmp_path / "lines.log"
    factory = LogfileFactory(str(path))

    @inlineCallbacks
    def scenario():
        first = reactor.listenTCP(0, factory)
        second = reactor.listenTCP(0, factory)
        assert factory.events == ["start"]
        a = yield in_thread(reactor, blocking_exchange, first.getHost().port, b"one\r\ntwo\r\n", True)
        b = yield in_thread(reactor, blocking_exchange, second.getHost().port, b"three\r\n", True)
        yield first.stopListening()
        assert factory.events == ["start"] and not factory.fp.closed
        yield second.stopListening()
        return a, b

    a, b = run(scenario)
    assert (a, b) == (b"logged\r\nlogged\r\n", b"logged\r\n")
    assert factory.events == ["start", "stop"] and factory.fp.closed
    assert path.read_bytes() == b"one\ntwo\nthree\n"


# ------------------------------------------------------------ answering from a dict


class Answer(LineReceiver):
    answers = {b"How are you?": b"Fine", None: b"I don't know what you mean"}

    def lineReceived(self, line):
        if line in self.answers:
            self.sendLine(self.answers[line])
        else:
            self.sendLine(self.answers[None])


def test_line_receiver_answers_from_a_dict(reactor, run):
    @inlineCallbacks
    def scenario():
        port = reactor.listenTCP(0, Factory.forProtocol(Answer))
        reply = yield in_thread(
            reactor, blocking_exchange, port.getHost().port, b"How are you?\r\nWhat?\r\nHow are", True
        )
        yield port.stopListening()
        return reply

    assert run(scenario) == b"Fine\r\nI don't know what you mean\r\n"
