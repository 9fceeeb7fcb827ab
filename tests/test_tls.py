"""TLS over real loopback sockets on every reactor: listenSSL, connectSSL and startTLS
against openssl s_client / s_server and the standard library's ssl sockets."""

from __future__ import annotations

import selectors
import shutil
import socket
import ssl
import subprocess
import time

import pytest
from tls_support import Certs, Echo, Recorder, in_thread, recording_factory, recv_all
from zope.interface import implementer
from zope.interface.verify import verifyObject

from inspector.defer import Deferred, DeferredList
from inspector.error import ConnectionDone
from inspector.interfaces import IHalfCloseableProtocol, IReactorSSL, ISSLTransport, ITLSTransport
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.ssl import Certificate, CertificateOptions, KeyPair, PrivateCertificate, optionsForClientTLS
from inspector.tls import TLSHandshakeError

from reactor_support import free_port

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


def echo_factory():
    f = Factory()
    f.protocol = Echo
    return f


def test_reactor_and_transports_provide_the_tls_interfaces(reactor, run, certs):
    assert verifyObject(IReactorSSL, reactor)
    server = recording_factory()
    port = reactor.listenSSL(0, server, certs.server_options())
    client = recording_factory(client=True)
    reactor.connectSSL("127.0.0.1", port.getHost().port, client, certs.client_options())

    def both():
        return DeferredList([server.next, client.next], fireOnOneErrback=True).addCallback(
            lambda res: DeferredList([res[0][1].made, res[1][1].made]))

    made = run(both)
    for _, transport in made:
        assert verifyObject(ISSLTransport, transport)
    port.stopListening()


def test_echo_round_trip_and_peer_certificate(reactor, run, certs):
    port = reactor.listenSSL(0, echo_factory(), certs.server_options())
    client = recording_factory(client=True)
    reactor.connectSSL("127.0.0.1", port.getHost().port, client, certs.client_options())

    async def go():
        proto = await client.next
        transport = await proto.made
        transport.write(b"hello over tls")
        data = await proto.wait_for(14)
        cert = transport.getPeerCertificate()
        transport.loseConnection()
        reason = await proto.lost
        return data, cert, reason

    data, cert, reason = run(go)
    assert data == b"hello over tls"
    assert isinstance(cert, Certificate)
    assert cert.dumpPEM() == Certificate.loadPEM(certs.cert_pem).dumpPEM()
    assert "trustme" in cert.getIssuer().organizationName
    assert reason.value.__class__.__name__ == "ConnectionDone"
    port.stopListening()


@needs_openssl
def test_openssl_s_client_talks_to_listenSSL(reactor, run, certs):
    class EchoThenClose(Protocol):
        def dataReceived(self, data):
            self.transport.write(data.upper())
            if b"\n" in data:
                self.transport.loseConnection()

    f = Factory()
    f.protocol = EchoThenClose
    port = reactor.listenSSL(0, f, certs.server_options())
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port.getHost().port}", "-servername", "localhost",
           "-CAfile", str(certs.ca_file), "-verify_return_error", "-verify_hostname", "localhost", "-quiet"]

    def s_client():
        return subprocess.run(cmd, input=b"shout this\n", capture_output=True, timeout=20)

    done = run(lambda: in_thread(reactor, s_client), timeout=30)
    assert b"SHOUT THIS\n" in done.stdout, done.stderr
    port.stopListening()


@needs_openssl
def test_connectSSL_talks_to_openssl_s_server(reactor, run, certs):
    number = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", str(number), "-cert", str(certs.cert_file), "-key", str(certs.key_file),
         "-rev", "-naccept", "1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        line = server.stdout.readline()
        while line and b"ACCEPT" not in line:
            line = server.stdout.readline()
        client = recording_factory(client=True)
        reactor.connectSSL("127.0.0.1", number, client, certs.client_options())

        async def go():
            proto = await client.next
            transport = await proto.made
            transport.write(b"stressed\n")
            data = await proto.wait_for(9)
            transport.loseConnection()
            await proto.lost
            return data, transport.negotiatedProtocol

        data, alpn = run(go)
        assert data.endswith(b"desserts\n")
        assert alpn is None
    finally:
        server.kill()
        server.wait()


def test_stdlib_client_and_close_notify(reactor, run, certs):
    """loseConnection sends close_notify: the stdlib peer sees a clean TLS end, not a ragged EOF."""

    class Greet(Protocol):
        def connectionMade(self):
            self.transport.write(b"greetings")
            self.transport.loseConnection()

    f = Factory()
    f.protocol = Greet
    port = reactor.listenSSL(0, f, certs.server_options())

    def peer():
        raw = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10)
        tls = certs.stdlib_client_context().wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
        with tls:
            return recv_all(tls)  # SSLEOFError instead of b"" on a close without close_notify

    assert run(lambda: in_thread(reactor, peer)) == b"greetings"
    port.stopListening()


def test_many_records_in_one_read_echo_back_intact_and_in_order(reactor, run, certs):
    """Records that arrive together are answered together (one send per read): a stdlib
    client streaming 1 MiB of numbered lines gets every byte back, in order."""
    port = reactor.listenSSL(0, echo_factory(), certs.server_options())
    payload = b"".join(b"%07d\n" % i for i in range(131072))

    def peer():
        raw = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10)
        with certs.stdlib_client_context().wrap_socket(raw, server_hostname="localhost") as tls:
            tls.setblocking(False)
            sel = selectors.DefaultSelector()
            sel.register(tls, selectors.EVENT_READ | selectors.EVENT_WRITE)
            sent, got = 0, bytearray()
            deadline = time.monotonic() + 10
            while len(got) < len(payload) and time.monotonic() < deadline:
                for _, events in sel.select(1.0):
                    if events & selectors.EVENT_WRITE and sent < len(payload):
                        try:
                            sent += tls.send(payload[sent:sent + 65536])
                        except ssl.SSLWantWriteError:
                            pass
                        if sent == len(payload):
                            sel.modify(tls, selectors.EVENT_READ)
                    while events & selectors.EVENT_READ:
                        try:
                            chunk = tls.recv(1 << 20)
                        except ssl.SSLWantReadError:
                            break
                        if not chunk:
                            return bytes(got)
                        got += chunk
            sel.close()
            return bytes(got)

    assert run(lambda: in_thread(reactor, peer)) == payload
    port.stopListening()


def test_connectSSL_to_stdlib_server_with_a_plain_context(reactor, run, certs):
    """A plain ssl.SSLContext is accepted as the context factory."""
    listener = socket.create_server(("127.0.0.1", 0))
    number = listener.getsockname()[1]

    def peer():
        conn, _ = listener.accept()
        with certs.stdlib_server_context().wrap_socket(conn, server_side=True) as tls:
            data = tls.recv(100)
            tls.sendall(data[::-1])
            return data

    client = recording_factory(client=True)

    async def go():
        served = in_thread(reactor, peer)
        reactor.connectSSL("127.0.0.1", number, client, certs.stdlib_client_context())
        proto = await client.next
        transport = await proto.made
        transport.write(b"abc")
        data = await proto.wait_for(3)
        transport.loseConnection()
        return data, await served

    try:
        assert run(go) == (b"cba", b"abc")
    finally:
        listener.close()


def test_startTLS_upgrades_mid_connection(reactor, run, certs):
    """Bytes written before startTLS go out as plaintext, then everything is encrypted."""
    listener = socket.create_server(("127.0.0.1", 0))
    number = listener.getsockname()[1]

    def peer():
        conn, _ = listener.accept()
        conn.settimeout(10)
        plain = b""
        while not plain.endswith(b"STARTTLS\r\n"):
            plain += conn.recv(100)
        conn.sendall(b"OK go ahead\r\n")
        with certs.stdlib_server_context().wrap_socket(conn, server_side=True) as tls:
            secret = tls.recv(100)
            tls.sendall(b"secret back: " + secret)
            return plain, secret

    class StartTLS(Recorder):
        def connectionMade(self):
            super().connectionMade()
            self.transport.write(b"STARTTLS\r\n")

        def dataReceived(self, data):
            if data.startswith(b"OK"):
                self.transport.startTLS(certs.client_options())
                self.transport.write(b"hidden")
                return
            super().dataReceived(data)

    client = recording_factory(StartTLS, client=True)

    async def go():
        served = in_thread(reactor, peer)
        reactor.connectTCP("127.0.0.1", number, client)
        proto = await client.next
        transport = await proto.made
        assert verifyObject(ITLSTransport, transport)
        data = await proto.wait_for(19)
        cert = transport.getPeerCertificate()
        transport.loseConnection()
        await proto.lost
        return data, await served, cert

    try:
        data, (plain, secret), cert = run(go)
    finally:
        listener.close()
    assert plain == b"STARTTLS\r\n"
    assert secret == b"hidden"
    assert data == b"secret back: hidden"
    assert cert is not None


def test_push_producer_paused_and_resumed_through_tls(reactor, run, certs):
    """A streaming producer on a TLS transport is paused while the peer does not read
    and resumed when it does; every byte arrives."""
    total = 4 * 1024 * 1024
    chunk = b"x" * 65536

    class Pump(Protocol):
        def connectionMade(self):
            self.sent = 0
            self.pauses = 0
            self.paused = False
            self.transport.registerProducer(self, True)

        def dataReceived(self, data):  # the client's "go": the handshake is done
            self.produce()

        def pauseProducing(self):
            self.pauses += 1
            self.paused = True
            if not self.factory.pump.called:
                self.factory.pump.callback(self)

        def resumeProducing(self):
            self.paused = False
            self.produce()

        def stopProducing(self):
            pass

        def produce(self):
            while not self.paused and self.sent < total:
                self.transport.write(chunk)
                self.sent += len(chunk)
            if self.sent >= total and not self.paused:
                self.transport.unregisterProducer()
                self.transport.loseConnection()

    f = Factory()
    f.pump = Deferred()

    def build(addr):
        p = Pump()
        p.factory = f
        return p

    f.buildProtocol = build
    port = reactor.listenSSL(0, f, certs.server_options())
    client = recording_factory(client=True)
    reactor.connectSSL("127.0.0.1", port.getHost().port, client, certs.client_options())

    async def go():
        proto = await client.next
        transport = await proto.made
        transport.pauseProducing()  # the client stops reading
        transport.write(b"go")
        pump = await f.pump  # fires when the server's transport pauses the producer
        buffered = pump.transport.getBufferSize()
        transport.resumeProducing()
        await proto.wait_for(total)
        reason = await proto.lost
        return pump.pauses, buffered, reason, pump.sent

    pauses, buffered, reason, sent = run(go, timeout=30)
    assert sent == total
    assert pauses >= 1
    assert buffered < 2 * 1024 * 1024
    assert reason.value.__class__.__name__ == "ConnectionDone"
    port.stopListening()


def test_handshake_failure_reaches_client_factory(reactor, run, certs):
    port = reactor.listenSSL(0, echo_factory(), certs.server_options())
    lost = Deferred()

    class Watch(ClientFactory):
        protocol = Recorder

        def clientConnectionLost(self, connector, reason):
            lost.callback(reason.value)

    reactor.connectSSL("127.0.0.1", port.getHost().port, Watch(), certs.client_options("wrong.example"))
    value = run(lambda: lost)
    assert isinstance(value, TLSHandshakeError)
    assert "host name mismatch" in str(value)
    port.stopListening()


def test_options_objects():
    """inspector.ssl: Twisted's option names build working contexts, and bad input is refused."""
    certs = Certs.__new__(Certs)
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("example.test")
    cert_pem, key_pem = leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes()
    private = PrivateCertificate.loadPEM(cert_pem + key_pem)
    assert private.getSubject().organizationName.startswith("trustme")
    server = CertificateOptions(privateKey=KeyPair.load(key_pem), certificate=Certificate.loadPEM(cert_pem))
    assert isinstance(server.getContext(), ssl.SSLContext)
    assert private.options().getContext().verify_mode == ssl.CERT_NONE
    assert private.options(Certificate.loadPEM(ca.cert_pem.bytes())).getContext().verify_mode == ssl.CERT_REQUIRED
    client = optionsForClientTLS("example.test")
    assert client.getContext().check_hostname and client.getContext().verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(TypeError):
        optionsForClientTLS(b"example.test")
    with pytest.raises(ValueError):
        Certificate.loadPEM(b"not a certificate")
    other_key = trustme.CA().issue_cert("x").private_key_pem.bytes()
    with pytest.raises(ValueError, match="do not load together"):
        CertificateOptions(privateKey=other_key, certificate=cert_pem).getContext()
    del certs


def test_ssl_and_tls_endpoint_strings(reactor, run, certs):
    """``ssl:PORT:privateKey=...:certKey=...`` serves TLS; ``tls:HOST:PORT`` verifies by default."""
    from inspector.endpoints import clientFromString, connectProtocol, serverFromString

    server = serverFromString(
        reactor, f"ssl:0:privateKey={certs.key_file}:certKey={certs.cert_file}:interface=127.0.0.1")
    proto = Recorder()

    async def go():
        port = await server.listen(echo_factory())
        number = port.getHost().port
        verified = clientFromString(reactor, f"tls:localhost:{number}:trustRoots={certs.ca_file}")
        client = await connectProtocol(verified, proto)
        client.transport.write(b"ping")
        data = await proto.wait_for(4)
        client.transport.loseConnection()
        # Without trustRoots the platform's authorities do not know the test CA.
        stranger = Recorder()
        await connectProtocol(clientFromString(reactor, f"tls:localhost:{number}"), stranger)
        reason = await stranger.lost
        port.stopListening()
        return data, reason.value

    data, refused = run(go)
    assert data == b"ping"
    assert isinstance(refused, TLSHandshakeError) and "unknown issuer" in str(refused)


def test_endpoint_strings_refuse_bad_input(reactor, certs, tmp_path):
    from inspector.endpoints import clientFromString, serverFromString

    with pytest.raises(ValueError, match="needs privateKey"):
        serverFromString(reactor, "ssl:0")
    with pytest.raises(ValueError, match="cannot read the private key"):
        serverFromString(reactor, f"ssl:0:privateKey={tmp_path / 'missing.pem'}")
    with pytest.raises(ValueError, match="do not load together"):
        other = Certs(tmp_path)
        serverFromString(reactor, f"ssl:0:privateKey={other.key_file}:certKey={certs.cert_file}")
    with pytest.raises(ValueError, match="needs both"):
        clientFromString(reactor, f"tls:localhost:443:certificate={certs.cert_file}")


@pytest.fixture
def tracing():
    from inspector import trace as trace_module

    tracer = trace_module.enable()
    yield tracer
    trace_module.disable()


def test_trace_shows_decrypted_bytes_handshake_and_failure_reason(reactor, run, certs, tracing):
    port = reactor.listenSSL(0, echo_factory(), certs.server_options())
    client = recording_factory(client=True)
    reactor.connectSSL("127.0.0.1", port.getHost().port, client, certs.client_options())
    wrong = recording_factory(client=True)

    async def go():
        proto = await client.next
        transport = await proto.made
        transport.write(b"visible plaintext")
        await proto.wait_for(17)
        transport.loseConnection()
        await proto.lost
        reactor.connectSSL("127.0.0.1", port.getHost().port, wrong, certs.client_options("nobody.example"))
        bad = await wrong.next
        await bad.lost

    run(go)
    port.stopListening()
    tracing.sync()
    rows = [c for c in tracing.trace.connections.values() if c.transport == "tls" and c.role == "client"]
    good, bad = sorted(rows, key=lambda c: c.opened)
    assert good.protocol == "Recorder"
    assert b"visible plaintext" in b"".join(chunk[3] for chunk in good.chunks)
    assert good.bytes_out == 17 and good.bytes_in == 17
    texts = [m.text for m in good.messages if m.message_kind == "tls"]
    assert any(t.startswith("handshake done: TLSv1.3") and "issuer" in t and "expires" in t for t in texts), texts
    assert good.reason_type == "ConnectionDone"
    assert bad.reason_type == "TLSHandshakeError" and "host name mismatch" in bad.reason
    wire = [c for c in tracing.trace.connections.values() if c.transport == "tcp" and c.role == "client"]
    assert all(b"visible plaintext" not in b"".join(ch[3] for ch in c.chunks) for c in wire)


def test_lose_write_connection_sends_close_notify_half_closes_and_reads_the_answer(reactor, run, certs):
    """loseWriteConnection: the stdlib server sees a clean end of the request (close_notify,
    not a ragged EOF), then a TCP FIN; its answer, sent after, still reaches the client,
    whose half-closeable protocol hears writeConnectionLost and finally ConnectionDone."""
    listener = socket.create_server(("127.0.0.1", 0))
    number = listener.getsockname()[1]

    def peer():
        conn, _ = listener.accept()
        conn.settimeout(10)
        tls = certs.stdlib_server_context().wrap_socket(conn, server_side=True, suppress_ragged_eofs=False)
        request = recv_all(tls)  # b"" comes only with close_notify
        tls.sendall(b"answer to " + request)
        raw = tls.unwrap()  # our close_notify; the client's was already read
        fin = raw.recv(10)  # b"" once the client shut its TCP write side
        raw.close()
        return request, fin

    @implementer(IHalfCloseableProtocol)
    class Asker(Recorder):
        write_lost = 0
        read_lost = 0

        def connectionMade(self):
            super().connectionMade()
            self.transport.write(b"the request")
            self.transport.loseWriteConnection()  # before the handshake ends: waits for it
            self.transport.write(b"dropped: written after the half-close")

        def writeConnectionLost(self):
            self.write_lost += 1

        def readConnectionLost(self):
            self.read_lost += 1

    client = recording_factory(Asker, client=True)

    async def go():
        served = in_thread(reactor, peer)
        reactor.connectSSL("127.0.0.1", number, client, certs.client_options())
        proto = await client.next
        reason = await proto.lost
        return bytes(proto.data), (proto.write_lost, proto.read_lost), reason, await served

    try:
        data, lost_calls, reason, (request, fin) = run(go)
    finally:
        listener.close()
    assert request == b"the request"
    assert fin == b""
    assert data == b"answer to the request"
    assert lost_calls == (1, 0)  # the end of reading comes as connectionLost
    assert reason.check(ConnectionDone)


def test_server_half_closes_after_the_handshake_and_still_hears_the_client(reactor, run, certs):
    """A TLS server that answers and half-closes (handshake done) still receives what the
    stdlib client sends after seeing the clean end; the client's close_notify ends it."""
    heard = Deferred()

    class AnswerThenListen(Recorder):
        def dataReceived(self, data):
            if not self.data:
                self.transport.write(b"the answer")
                self.transport.loseWriteConnection()
            super().dataReceived(data)

        def connectionLost(self, reason):
            super().connectionLost(reason)
            heard.callback((bytes(self.data), type(reason.value).__name__))

    port = reactor.listenSSL(0, recording_factory(AnswerThenListen), certs.server_options())

    def peer():
        raw = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10)
        tls = certs.stdlib_client_context().wrap_socket(raw, server_hostname="localhost",
                                                         suppress_ragged_eofs=False)
        tls.sendall(b"question")
        answer = recv_all(tls)  # b"" only after close_notify
        tls.sendall(b" and a last word")
        tls.unwrap().close()
        return answer

    async def go():
        answer = await in_thread(reactor, peer)
        return answer, await heard

    try:
        answer, (received, reason) = run(go)
    finally:
        port.stopListening()
    assert answer == b"the answer"
    assert received == b"question and a last word"
    assert reason == "ConnectionDone"
