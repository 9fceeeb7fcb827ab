"""Shared by the TLS tests: trustme certificates, recording protocols, real TLS peers."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from typing import Any, Callable

import trustme

from inspector.defer import Deferred
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.ssl import Certificate, PrivateCertificate, optionsForClientTLS


class Certs:
    """A throwaway CA, a leaf for ``localhost`` and 127.0.0.1, and the files openssl needs."""

    def __init__(self, tmp: Any) -> None:
        self.ca = trustme.CA()
        self.leaf = self.ca.issue_cert("localhost", "127.0.0.1")
        self.ca_pem = self.ca.cert_pem.bytes()
        self.cert_pem = self.leaf.cert_chain_pems[0].bytes()
        self.key_pem = self.leaf.private_key_pem.bytes()
        self.ca_file = tmp / "ca.pem"
        self.cert_file = tmp / "cert.pem"
        self.key_file = tmp / "key.pem"
        self.ca_file.write_bytes(self.ca_pem)
        self.cert_file.write_bytes(self.cert_pem)
        self.key_file.write_bytes(self.key_pem)

    def server_options(self) -> Any:
        return PrivateCertificate.loadPEM(self.cert_pem + self.key_pem).options()

    def client_options(self, hostname: str = "localhost") -> Any:
        return optionsForClientTLS(hostname, trustRoot=Certificate.loadPEM(self.ca_pem))

    def expired_server_options(self) -> Any:
        past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
        leaf = self.ca.issue_cert("localhost", not_before=past - datetime.timedelta(days=30), not_after=past)
        return PrivateCertificate.loadPEM(leaf.cert_chain_pems[0].bytes() + leaf.private_key_pem.bytes()).options()

    def stdlib_client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=self.ca_pem.decode())
        return ctx

    def stdlib_server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


class Reason:
    """A Failure carried as a plain result."""

    def __init__(self, failure: Any) -> None:
        self.failure = failure
        self.value = failure.value

    def check(self, *types: Any) -> Any:
        return self.failure.check(*types)


class Recorder(Protocol):
    """Collects bytes; ``made``/``lost`` fire with the transport and the reason."""

    def __init__(self) -> None:
        self.made: Deferred[Any] = Deferred()
        self.lost: Deferred[Any] = Deferred()
        self.data = bytearray()
        self.waiters: list[tuple[int, Deferred[Any]]] = []

    def connectionMade(self) -> None:
        self.made.callback(self.transport)

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        for want, d in list(self.waiters):
            if len(self.data) >= want:
                self.waiters.remove((want, d))
                d.callback(bytes(self.data))

    def wait_for(self, nbytes: int) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        if len(self.data) >= nbytes:
            d.callback(bytes(self.data))
        else:
            self.waiters.append((nbytes, d))
        return d

    def connectionLost(self, reason: Any) -> None:
        if not self.lost.called:
            self.lost.callback(Reason(reason))


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


def recording_factory(cls: type = Recorder, client: bool = False) -> Any:
    """A factory that keeps every protocol it builds in ``.built`` and fires ``.next``."""
    factory = ClientFactory() if client else Factory()
    factory.built = []
    factory.next = Deferred()
    factory.failed = Deferred()

    def build(addr: Any) -> Any:
        proto = cls()
        proto.factory = factory
        factory.built.append(proto)
        if not factory.next.called:
            factory.next.callback(proto)
        return proto

    factory.buildProtocol = build
    if client:
        def failed(connector: Any, reason: Any) -> None:
            if not factory.failed.called:
                factory.failed.callback(Reason(reason))

        factory.clientConnectionFailed = failed
    return factory


def in_thread(reactor: Any, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
    """Run blocking ``fn`` (a plain-socket peer) in a thread; its result as a Deferred."""
    d: Deferred[Any] = Deferred()

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the reactor thread
            from inspector.failure import Failure

            failure = Failure(exc)
            reactor.callFromThread(d.errback, failure)
        else:
            reactor.callFromThread(d.callback, result)

    threading.Thread(target=work, daemon=True).start()
    return d


def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
