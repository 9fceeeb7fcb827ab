"""TLS beyond the transport: ClientCreator over TLS and Unix sockets, the echo and IRC
catalogue entries over TLS (in process, as subprocesses, against openssl and miniircd)."""

from __future__ import annotations

import socket

import pytest
from tls_support import Certs, Echo, Recorder

from inspector.error import ConnectionRefusedError as InspectorRefused
from inspector.protocol import ClientCreator, Factory


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


def echo_factory():
    f = Factory()
    f.protocol = Echo
    return f


def test_client_creator_connectSSL_fires_with_the_protocol_and_speaks_tls(reactor, run, certs):
    port = reactor.listenSSL(0, echo_factory(), certs.server_options())

    async def go():
        proto = await ClientCreator(reactor, Recorder).connectSSL(
            "127.0.0.1", port.getHost().port, certs.client_options(), timeout=5)
        proto.transport.write(b"ping over tls")
        data = await proto.wait_for(13)
        peer = proto.transport.getPeerCertificate()
        proto.transport.loseConnection()
        await proto.lost
        return data, peer

    data, peer = run(go)
    assert data == b"ping over tls"
    assert peer.dumpPEM() == certs.cert_pem.strip() + b"\n"
    port.stopListening()


def test_client_creator_connectSSL_refused_fails_its_deferred(reactor, run, certs):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed_port = probe.getsockname()[1]
    probe.close()

    async def go():
        try:
            await ClientCreator(reactor, Recorder).connectSSL("127.0.0.1", closed_port, certs.client_options())
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc
        return None

    exc = run(go)
    assert isinstance(exc, (InspectorRefused, ConnectionRefusedError)), exc


def test_client_creator_connectUNIX_fires_with_the_protocol(reactor, run, tmp_path):
    path = str(tmp_path / "echo.sock")
    port = reactor.listenUNIX(path, echo_factory())

    async def go():
        proto = await ClientCreator(reactor, Recorder).connectUNIX(path, timeout=5)
        proto.transport.write(b"over unix")
        data = await proto.wait_for(9)
        proto.transport.loseConnection()
        await proto.lost
        return data

    assert run(go) == b"over unix"
    port.stopListening()


def test_client_creator_connectUNIX_to_a_missing_socket_fails(reactor, run, tmp_path):
    async def go():
        try:
            await ClientCreator(reactor, Recorder).connectUNIX(str(tmp_path / "nobody.sock"))
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc
        return None

    exc = run(go)
    from inspector.error import ConnectError

    assert isinstance(exc, ConnectError), exc


def test_client_creator_connectUNIX_cancel_drops_the_attempt(reactor, run, tmp_path):
    from inspector.defer import CancelledError

    path = str(tmp_path / "echo.sock")
    port = reactor.listenUNIX(path, echo_factory())

    async def go():
        d = ClientCreator(reactor, Recorder).connectUNIX(path)
        d.cancel()
        try:
            await d
        except CancelledError:
            return "cancelled"
        return "connected"

    assert run(go) == "cancelled"
    port.stopListening()


def test_a_protocol_that_is_its_own_producer_still_completes_the_handshake(reactor, run, certs):
    """The echo server registers itself as its transport's push producer in
    connectionMade (before the handshake); the TLS layer pausing it must not stop the
    connection reading the handshake."""
    from inspector.protocols.echo import EchoFactory

    port = reactor.listenSSL(0, EchoFactory(), certs.server_options())

    async def go():
        proto = await ClientCreator(reactor, Recorder).connectSSL(
            "127.0.0.1", port.getHost().port, certs.client_options(), timeout=5)
        proto.transport.write(b"self-producing echo")
        data = await proto.wait_for(19)
        proto.transport.loseConnection()
        await proto.lost
        return data

    assert run(go) == b"self-producing echo"
    port.stopListening()
