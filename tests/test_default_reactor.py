"""``from inspector.reactors import reactor``, as a Twisted user writes
``from twisted.internet import reactor``: the process-wide default, made on first use."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    from inspector.reactors import reactor
    from inspector.reactors import default_reactor, install
    from inspector.error import ReactorAlreadyInstalledError
    from inspector.protocol import Factory, Protocol

    assert reactor is default_reactor()
    try:
        install("selectors")
    except ReactorAlreadyInstalledError:
        print("install refused")

    class Hello(Protocol):
        def connectionMade(self):
            self.transport.write(b"hello")
            self.transport.loseConnection()

    class Reader(Protocol):
        def dataReceived(self, data):
            print("got", data.decode())

        def connectionLost(self, reason):
            reactor.stop()

    factory = Factory.forProtocol(Hello)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    from inspector.protocol import ClientFactory
    client = ClientFactory.forProtocol(Reader)
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    reactor.callLater(10, reactor.stop)
    reactor.run()
    print(type(reactor).__name__)
""")


@pytest.mark.parametrize("chosen, kind", [(None, "SelectorsReactor"), ("asyncio", "AsyncioReactor")])
def test_the_module_attribute_is_the_default_reactor(chosen: str | None, kind: str) -> None:
    env = dict(os.environ)
    env.pop("INSPECTOR_REACTOR", None)
    if chosen:
        env["INSPECTOR_REACTOR"] = chosen
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["install refused", "got hello", kind]


def test_other_names_are_still_missing() -> None:
    import inspector.reactors

    with pytest.raises(AttributeError, match="reactorr"):
        inspector.reactors.reactorr
