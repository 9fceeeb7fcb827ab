"""Running and stopping, system event triggers, callWhenRunning, and the interface contract.

The contract: every reactor provides every reactor interface, and the transports it makes
(TCP, TLS, Unix, multicast, process) provide theirs on a live instance. It is checked here,
in one place, so a reactor or transport missing one fails this file.
"""

from __future__ import annotations

import logging

import pytest
from tls_support import Certs, recording_factory
from zope.interface.verify import verifyObject

from inspector.defer import Deferred
from inspector.error import ReactorNotRestartable, ReactorNotRunning
from inspector.interfaces import (
    IListeningPort,
    IMulticastTransport,
    IProcessTransport,
    IReactorCore,
    IReactorFDSet,
    IReactorMulticast,
    IReactorPluggableResolver,
    IReactorProcess,
    IReactorSSL,
    IReactorTCP,
    IReactorThreads,
    IReactorTime,
    IReactorUDP,
    IReactorUNIX,
    ISSLTransport,
    ITLSTransport,
    ITransport,
    IUDPTransport,
)
from inspector.protocol import DatagramProtocol, ProcessProtocol

REACTOR_INTERFACES = (
    IReactorCore, IReactorTime, IReactorThreads, IReactorFDSet, IReactorPluggableResolver,
    IReactorTCP, IReactorUDP, IReactorSSL, IReactorUNIX, IReactorMulticast, IReactorProcess,
)


@pytest.mark.parametrize("iface", REACTOR_INTERFACES, ids=lambda iface: iface.__name__)
def test_reactor_provides_its_interfaces(reactor, iface):
    assert iface.providedBy(reactor), f"{type(reactor).__name__} does not declare {iface.__name__}"
    verifyObject(iface, reactor)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("contract-certs"))


def _both_ends(run, server, client):
    """The server's and the client's connected transports, once both are made."""

    async def made():
        server_proto = await server.next
        client_proto = await client.next
        return await server_proto.made, await client_proto.made

    return run(made)


def test_tcp_transports_can_start_tls(reactor, run):
    server = recording_factory()
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    client = recording_factory(client=True)
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    for transport in _both_ends(run, server, client):
        verifyObject(ITLSTransport, transport)
        transport.loseConnection()
    port.stopListening()


def test_tls_transports_provide_issltransport(reactor, run, certs):
    server = recording_factory()
    port = reactor.listenSSL(0, server, certs.server_options())
    verifyObject(IListeningPort, port)
    client = recording_factory(client=True)
    reactor.connectSSL("127.0.0.1", port.getHost().port, client, certs.client_options())
    for transport in _both_ends(run, server, client):
        verifyObject(ISSLTransport, transport)
        transport.abortConnection()
    port.stopListening()


def test_unix_transports_provide_itransport(reactor, run, tmp_path):
    server = recording_factory()
    path = str(tmp_path / "contract.sock")
    port = reactor.listenUNIX(path, server)
    verifyObject(IListeningPort, port)
    client = recording_factory(client=True)
    reactor.connectUNIX(path, client)
    for transport in _both_ends(run, server, client):
        verifyObject(ITransport, transport)
        transport.loseConnection()
    port.stopListening()


def test_multicast_ports_provide_imulticasttransport(reactor):
    port = reactor.listenMulticast(0, DatagramProtocol(), interface="127.0.0.1")
    try:
        verifyObject(IMulticastTransport, port)
        verifyObject(IUDPTransport, port)
        verifyObject(IListeningPort, port)
    finally:
        port.stopListening()


def test_process_transports_provide_iprocesstransport(reactor, run):
    from inspector.defer import Deferred as Waiter

    class Ends(ProcessProtocol):
        def __init__(self):
            self.ended = Waiter()

        def processEnded(self, reason):
            self.ended.callback(None)

    def go():
        proto = Ends()
        transport = reactor.spawnProcess(proto, "/bin/true", ["/bin/true"])
        verifyObject(IProcessTransport, transport)
        return proto.ended

    run(go)


def test_call_when_running_before_and_during_run(reactor, run):
    seen = []
    reactor.callWhenRunning(seen.append, "queued before run")

    def scenario():
        assert reactor.running
        reactor.callWhenRunning(seen.append, "called at once")
        return list(seen)

    assert run(scenario) == ["queued before run", "called at once"]
    assert not reactor.running


def test_stop_when_not_running_raises(reactor):
    with pytest.raises(ReactorNotRunning):
        reactor.stop()


def test_reactor_runs_once(reactor, run):
    run(lambda: None)
    with pytest.raises(ReactorNotRestartable):
        reactor.run()


def test_stop_twice_raises(reactor, run):
    def scenario():
        d = Deferred()

        def stop_twice():
            reactor.stop()
            with pytest.raises(ReactorNotRunning):
                reactor.stop()
            d.callback("ok")

        reactor.callLater(0, stop_twice)
        return d

    assert run(scenario) == "ok"


def test_shutdown_triggers_run_in_phase_order(reactor, run):
    order = []
    reactor.addSystemEventTrigger("after", "shutdown", order.append, "after")
    reactor.addSystemEventTrigger("during", "shutdown", order.append, "during")
    reactor.addSystemEventTrigger("before", "shutdown", order.append, "before")
    reactor.addSystemEventTrigger("before", "startup", order.append, "startup")
    run(lambda: None)
    assert order == ["startup", "before", "during", "after"]


def test_before_shutdown_deferred_delays_shutdown(reactor, run):
    events = []

    def slow_cleanup():
        d = Deferred()
        events.append("cleanup started")

        def finish():
            events.append("cleanup done")
            d.callback(None)

        reactor.callLater(0.05, finish)
        return d

    reactor.addSystemEventTrigger("before", "shutdown", slow_cleanup)
    reactor.addSystemEventTrigger("during", "shutdown", events.append, "during")
    run(lambda: None)
    assert events == ["cleanup started", "cleanup done", "during"]


def test_removed_trigger_does_not_run_and_unknown_id_raises(reactor, run):
    ran = []
    trigger = reactor.addSystemEventTrigger("before", "shutdown", ran.append, "x")
    reactor.removeSystemEventTrigger(trigger)
    with pytest.raises(ValueError):
        reactor.removeSystemEventTrigger(trigger)
    with pytest.raises(ValueError):
        reactor.removeSystemEventTrigger("nonsense")
    with pytest.raises(KeyError):
        reactor.addSystemEventTrigger("sometime", "shutdown", print)
    run(lambda: None)
    assert ran == []


def test_custom_event_fires_its_triggers(reactor, run):
    seen = []
    reactor.addSystemEventTrigger("during", "flush", seen.append, "flushed")

    def scenario():
        reactor.fireSystemEvent("flush")
        reactor.fireSystemEvent("no-such-event")  # nothing registered: no error
        return list(seen)

    assert run(scenario) == ["flushed"]


def test_exception_in_trigger_is_logged_and_shutdown_completes(reactor, run, caplog):
    def broken():
        raise ValueError("trigger broke")

    after = []
    reactor.addSystemEventTrigger("before", "shutdown", broken)
    reactor.addSystemEventTrigger("after", "shutdown", after.append, "done")
    with caplog.at_level(logging.ERROR, logger="inspector"):
        run(lambda: None)
    assert after == ["done"]
    assert any(r.exc_info and "trigger broke" in str(r.exc_info[1]) for r in caplog.records)


def test_crash_leaves_without_shutdown_triggers(reactor):
    ran = []
    reactor.addSystemEventTrigger("before", "shutdown", ran.append, "shutdown")
    reactor.callWhenRunning(reactor.crash)
    reactor.run()
    assert not reactor.running
    assert ran == []


def test_close_is_idempotent(reactor):
    reactor.close()
    reactor.close()


def test_sigint_stops_the_reactor_cleanly_and_handlers_are_restored(reactor):
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    before = signal.getsignal(signal.SIGINT)
    order = []
    reactor.addSystemEventTrigger("before", "shutdown", order.append, "shutdown trigger ran")

    def interrupt():
        order.append("sending SIGINT")
        os.kill(os.getpid(), signal.SIGINT)

    def heartbeat():  # keeps Python code running under every host loop
        if reactor.running:
            reactor.callLater(0.02, heartbeat)

    reactor.callWhenRunning(heartbeat)
    reactor.callLater(0.05, interrupt)
    guard = reactor.callLater(10, reactor.crash)
    reactor.run()
    assert guard.active(), "SIGINT did not stop the reactor"
    guard.cancel()
    assert order == ["sending SIGINT", "shutdown trigger ran"]
    assert signal.getsignal(signal.SIGINT) is before
