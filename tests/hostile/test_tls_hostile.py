"""TLS against bad peers on every reactor: each failure closes the connection with a
reason that says why, within a bounded time, and leaves nothing watched behind."""

from __future__ import annotations

import os
import socket
import struct

import pytest
from tls_support import Certs, in_thread, recording_factory

from inspector.protocol import Factory, Protocol
from inspector.tls import TLSHandshakeError, TLSHandshakeTimeout, TLSMemoryBIOFactory


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


def tls_server(reactor, certs, timeout=5.0):
    server = recording_factory()
    port = reactor.listenTCP(0, TLSMemoryBIOFactory(certs.server_options(), False, server, handshakeTimeout=timeout))
    return server, port


def assert_nothing_left(reactor, port):
    port.stopListening()
    assert reactor.getReaders() == [] and reactor.getWriters() == []


def raw_peer(number, send, reset=False):
    """Connect, send ``send``, then read until the server closes (or reset at once)."""
    sock = socket.create_connection(("127.0.0.1", number), timeout=10)
    try:
        if send:
            sock.sendall(send)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return b""
        got = b""
        while True:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                return got
            if not chunk:
                return got
            got += chunk
    finally:
        sock.close()


def server_reason(reactor, run, certs, send, reset=False, timeout=5.0):
    server, port = tls_server(reactor, certs, timeout)

    async def go():
        peer = in_thread(reactor, raw_peer, port.getHost().port, send, reset)
        proto = await server.next
        reason = await proto.lost
        await peer
        return reason

    reason = run(go, timeout=15)
    assert_nothing_left(reactor, port)
    return reason.value


def test_plaintext_to_a_tls_port(reactor, run, certs):
    value = server_reason(reactor, run, certs, b"GET / HTTP/1.0\r\n\r\n")
    assert isinstance(value, TLSHandshakeError)
    assert "did not speak TLS" in str(value) and "GET /" in str(value)


def test_random_bytes_as_client_hello(reactor, run, certs):
    hello = b"\x16\x03\x01\x01\x00" + b"\x01\x00\x00\xfc" + os.urandom(252)
    value = server_reason(reactor, run, certs, hello)
    assert isinstance(value, TLSHandshakeError)
    assert str(value).startswith("TLS handshake failed:")


def test_peer_stops_mid_handshake(reactor, run, certs):
    """A client that connects and says nothing is dropped when the handshake times out."""
    server, port = tls_server(reactor, certs, timeout=0.3)
    sock = socket.create_connection(("127.0.0.1", port.getHost().port))
    try:
        async def go():
            proto = await server.next
            return await proto.lost

        value = run(go, timeout=10).value
        sock.settimeout(5)
        assert sock.recv(100) == b""  # the server closed its end
    finally:
        sock.close()
    assert isinstance(value, TLSHandshakeTimeout)
    assert "did not finish it within 0.3 s" in str(value)
    assert_nothing_left(reactor, port)


def test_reset_during_handshake(reactor, run, certs):
    value = server_reason(reactor, run, certs, b"\x16\x03\x01\x02\x00\x01", reset=True)
    assert isinstance(value, TLSHandshakeError)
    assert "lost during it" in str(value) or "closed the connection during it" in str(value)


def client_reason(reactor, run, certs, server_options, client_options):
    port = reactor.listenSSL(0, Factory.forProtocol(Protocol), server_options)
    client = recording_factory(client=True)
    reactor.connectSSL("127.0.0.1", port.getHost().port, client, client_options)

    async def go():
        proto = await client.next
        return await proto.lost

    value = run(go).value
    assert_nothing_left(reactor, port)
    return value


def test_wrong_host_name(reactor, run, certs):
    value = client_reason(reactor, run, certs, certs.server_options(), certs.client_options("other.example"))
    assert isinstance(value, TLSHandshakeError)
    assert "host name mismatch" in str(value) and "other.example" in str(value)


def test_expired_certificate(reactor, run, certs):
    value = client_reason(reactor, run, certs, certs.expired_server_options(), certs.client_options())
    assert isinstance(value, TLSHandshakeError)
    assert "expired" in str(value)


def test_unknown_issuer(reactor, run, certs, tmp_path):
    stranger = Certs(tmp_path)
    value = client_reason(reactor, run, certs, stranger.server_options(), certs.client_options())
    assert isinstance(value, TLSHandshakeError)
    assert "unknown issuer" in str(value)


def test_server_speaks_plaintext_to_our_client(reactor, run, certs):
    listener = socket.create_server(("127.0.0.1", 0))

    def banner():
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"220 plain SMTP here\r\n")
            conn.settimeout(5)
            try:
                conn.recv(4096)
            except OSError:
                pass

    client = recording_factory(client=True)

    async def go():
        served = in_thread(reactor, banner)
        reactor.connectSSL("127.0.0.1", listener.getsockname()[1], client, certs.client_options())
        proto = await client.next
        reason = await proto.lost
        await served
        return reason.value

    try:
        value = run(go, timeout=15)
    finally:
        listener.close()
    assert isinstance(value, TLSHandshakeError)
    assert "did not speak TLS" in str(value) and "220 plain" in str(value)
    assert reactor.getReaders() == [] and reactor.getWriters() == []
