"""Protocol and factory core classes, and the first examples users meet."""

from __future__ import annotations

import pytest
from zope.interface.verify import verifyObject

from inspector import error
from inspector.defer import Deferred
from inspector.interfaces import IDatagramProtocol, IProtocol, IProtocolFactory
from inspector.protocol import ClientFactory, DatagramProtocol, Factory, Protocol


def test_for_protocol_builds_instances_that_know_their_factory():
    class Greeter(Protocol):
        pass

    factory = Factory.forProtocol(Greeter)
    verifyObject(IProtocolFactory, factory)
    a, b = factory.buildProtocol(None), factory.buildProtocol(None)
    verifyObject(IProtocol, a)
    assert isinstance(a, Greeter) and a is not b
    assert a.factory is factory and b.factory is factory


def test_for_protocol_passes_constructor_arguments():
    class Configured(Factory):
        def __init__(self, greeting):
            self.greeting = greeting

    factory = Configured.forProtocol(Protocol, "hi")
    assert factory.greeting == "hi" and factory.protocol is Protocol


def test_factory_without_protocol_says_so():
    with pytest.raises(TypeError, match="protocol"):
        Factory().buildProtocol(None)


def test_start_and_stop_run_once_per_period_of_use():
    calls = []

    class Counting(Factory):
        def startFactory(self):
            calls.append("start")

        def stopFactory(self):
            calls.append("stop")

    f = Counting()
    f.doStart()
    f.doStart()
    f.doStop()
    assert calls == ["start"]
    f.doStop()
    f.doStop()  # one stop too many: ignored
    f.doStart()
    assert calls == ["start", "stop", "start"]


def test_datagram_protocol_start_stop_and_transport():
    events = []

    class D(DatagramProtocol):
        def startProtocol(self):
            events.append(("start", self.transport))

        def stopProtocol(self):
            events.append(("stop", self.transport))

    d = D()
    verifyObject(IDatagramProtocol, d)
    d.makeConnection("port")
    d.doStop()
    assert events == [("start", "port"), ("stop", None)]


class QOTD(Protocol):
    """Twisted's first example: send a quote and close."""

    def connectionMade(self):
        self.transport.write(self.factory.quote + b"\r\n")
        self.transport.loseConnection()


class QOTDFactory(Factory):
    protocol = QOTD

    def __init__(self, quote=None):
        self.quote = quote or b"An apple a day keeps the doctor away"


class Reader(Protocol):
    def connectionMade(self):
        self.data = b""

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.factory.done.callback((self.data, reason.check(error.ConnectionDone)))


class ReaderFactory(ClientFactory):
    protocol = Reader

    def __init__(self):
        self.done = Deferred()


def test_qotd_server_with_configurable_quote(reactor, run):
    async def scenario():
        port = reactor.listenTCP(0, QOTDFactory(b"configured quote"))
        f = ReaderFactory()
        reactor.connectTCP("127.0.0.1", port.getHost().port, f)
        data, clean = await f.done
        await port.stopListening()
        return data, clean

    data, clean = run(scenario)
    assert data == b"configured quote\r\n"
    assert clean is error.ConnectionDone


def test_logfile_factory_opens_in_start_and_closes_in_stop(reactor, run, tmp_path):
    class LoggingProtocol(Protocol):
        def dataReceived(self, data):
            self.factory.fp.write(data.decode() + "\n")
            self.factory.fp.flush()
            self.factory.received.callback(None)

    class LogfileFactory(Factory):
        protocol = LoggingProtocol

        def __init__(self, fileName):
            self.file = fileName
            self.received = Deferred()
            self.fp = None

        def startFactory(self):
            self.fp = open(self.file, "a")

        def stopFactory(self):
            self.fp.close()

    class Sender(Protocol):
        def connectionMade(self):
            self.transport.write(b"log this line")

    async def scenario():
        factory = LogfileFactory(tmp_path / "log.txt")
        port = reactor.listenTCP(0, factory)
        opened = factory.fp is not None and not factory.fp.closed
        reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Sender))
        await factory.received
        await port.stopListening()
        return opened, factory.fp.closed

    opened, closed = run(scenario)
    assert opened and closed
    assert (tmp_path / "log.txt").read_text() == "log this line\n"
