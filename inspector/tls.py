"""TLS as a layer between a TCP connection and the user's protocol, on every reactor.

:class:`TLSMemoryBIOProtocol` (Twisted's name) is the TCP connection's protocol and the
user protocol's transport: ciphertext from the socket goes into a standard
``ssl.SSLObject`` through memory BIOs, plaintext comes out to ``dataReceived``, and
``write`` goes the other way. No reactor knows about TLS; ``listenSSL`` and
``connectSSL`` wrap the user's factory in :class:`TLSMemoryBIOFactory`, and
``startTLS`` (:func:`start_tls`) slips the layer under a running connection.

Traced as its own connection of kind ``tls`` carrying the decrypted bytes (the TCP
connection under it shows the ciphertext on the wire), with the handshake as ``tls``
messages and a failed handshake's reason spelled out (:func:`explain`).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from zope.interface import alsoProvides, implementer

from inspector import error
from inspector.failure import Failure
from inspector.helpers import describe_callable, written_bytes
from inspector.interfaces import (
    IConsumer,
    IHalfCloseableProtocol,
    IProtocol,
    IProtocolFactory,
    IPushProducer,
    ISSLTransport,
    ITCPTransport,
)
from inspector.ssl import Certificate, context_for, decode_der
from inspector.states import ConnectionState

log = logging.getLogger("inspector.tls")
# A TraceHooks (the contract in inspector/hooks.py) while tracing is on, else None.
_tracer = None

__all__ = [
    "TLSError",
    "TLSHandshakeError",
    "TLSHandshakeTimeout",
    "TLSMemoryBIOFactory",
    "TLSMemoryBIOProtocol",
    "explain",
    "start_tls",
]

#: Seconds a handshake may take before the connection is closed.
DEFAULT_HANDSHAKE_TIMEOUT = 30.0

#: OpenSSL reasons meaning the bytes were not TLS records at all.
_NOT_TLS = {
    "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL",
    "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE", "UNSUPPORTED_PROTOCOL",
    "RECORD_LENGTH_MISMATCH", "WRONG_SSL_VERSION", "BAD_PACKET_LENGTH", "LENGTH_MISMATCH",
    "UNEXPECTED_MESSAGE", "BAD_RECORD_TYPE", "WRONG_VERSION", "DECRYPTION_FAILED_OR_BAD_RECORD_MAC",
}


class TLSError(error.ConnectionLost):
    """A TLS connection failed; the message says why in plain words."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "TLS failed"


class TLSHandshakeError(TLSError):
    """The TLS handshake failed (certificate rejected, peer not speaking TLS, closed ...)."""


class TLSHandshakeTimeout(TLSHandshakeError):
    """The peer did not finish the TLS handshake in time."""


def explain(exc: ssl.SSLError, client: bool, first_bytes: bytes = b"") -> TLSError:
    """A :class:`TLSHandshakeError` whose message says why the handshake failed: host
    name mismatch, unknown issuer, expired, the peer spoke plaintext, an alert ..."""
    peer = "server" if client else "client"
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = (exc.verify_message or exc.reason or str(exc)).rstrip(".")
        lowered = message.lower()
        if "hostname mismatch" in lowered or "ip address mismatch" in lowered:
            why = f"host name mismatch: {message}"
        elif "expired" in lowered:
            why = f"the {peer}'s certificate has expired"
        elif "not yet valid" in lowered:
            why = f"the {peer}'s certificate is not yet valid"
        elif "issuer" in lowered or "self-signed" in lowered or "self signed" in lowered:
            why = f"unknown issuer: the {peer}'s certificate is not signed by a trusted authority ({message})"
        else:
            why = f"the {peer}'s certificate was rejected: {message}"
        return TLSHandshakeError(f"TLS handshake failed: {why}")
    reason = exc.reason or ""
    if reason in _NOT_TLS:
        sample = f" (it sent {first_bytes[:24]!r})" if first_bytes else ""
        return TLSHandshakeError(f"TLS handshake failed: the {peer} did not speak TLS{sample}; "
                                 f"plaintext or garbage where a TLS record was expected [{reason}]")
    if "ALERT" in reason:
        alert = reason.split("ALERT_", 1)[-1].replace("_", " ").lower()
        return TLSHandshakeError(f"TLS handshake failed: the {peer} refused it with alert '{alert}'")
    if reason == "NO_PROTOCOLS_AVAILABLE" or "VERSION" in reason:
        return TLSHandshakeError(f"TLS handshake failed: no TLS version both sides accept [{reason}]")
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return TLSHandshakeError("TLS handshake failed: the client presented no certificate but one is required")
    return TLSHandshakeError(f"TLS handshake failed: {exc.reason or type(exc).__name__}: {exc}")


class TLS:
    """What the trace names the TLS layer's own messages by (the handshake)."""

    def __init__(self, transport: TLSMemoryBIOProtocol) -> None:
        self.transport = transport


class _Unpatched:
    """The TCP connection's own methods, for a connection whose ``write`` (and friends)
    ``startTLS`` has redirected into the TLS layer: the layer writes ciphertext here."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        attr = getattr(type(self._conn), name, None)
        if callable(attr) and not isinstance(attr, type):
            return attr.__get__(self._conn)
        return getattr(self._conn, name)


@implementer(IProtocol, ISSLTransport, IConsumer, IPushProducer)
class TLSMemoryBIOProtocol:
    """The TLS layer: the TCP connection's protocol and the user protocol's transport.

    The user protocol's ``connectionMade`` runs at once (as in Twisted); what it writes
    before the handshake ends waits and then goes out encrypted. ``loseConnection`` sends
    close_notify once everything is written; ``loseWriteConnection`` sends it too but
    half-closes the TCP connection and keeps reading; a failed handshake closes the
    connection with a :class:`TLSHandshakeError` that says why.
    """

    #: Plaintext asked of the TLS object per read.
    read_size = 65536

    def __init__(self, factory: TLSMemoryBIOFactory | None, wrappedProtocol: IProtocol, *, client: bool | None = None,
                 context: ssl.SSLContext | None = None, hostname: str | None = None,
                 handshake_timeout: float | None = None) -> None:
        self.factory = factory
        self.protocol = wrappedProtocol  # the user's protocol (the trace names the row by it)
        if factory is None:
            if client is None or context is None:
                raise TypeError("a TLS layer without a factory needs client= and context=")
        else:
            client = factory.isClient if client is None else client
            context = factory._context if context is None else context
        self.client = client
        self._context = context
        self._hostname = factory.hostname if hostname is None and factory is not None else hostname
        if handshake_timeout is None:
            handshake_timeout = factory.handshakeTimeout if factory is not None else DEFAULT_HANDSHAKE_TIMEOUT
        self.handshakeTimeout = handshake_timeout
        self.transport: Any = None
        self.reactor: Any = None
        self.connected = False
        self.disconnecting = False
        self.disconnected = False
        self.handshakeDone = False
        self._tls: ssl.SSLObject | None = None
        self._pending: list[bytes] = []  # written before the handshake ended
        self._first_bytes = b""  # the peer's first bytes, to quote when they are not TLS
        self._reason: BaseException | None = None  # why we are failing the connection
        self._timeout_call: Any = None
        self._fail_call: Any = None
        self._read_call: Any = None
        self._producer: Any = None  # registered before the handshake ended
        self._streaming = False
        self._paused = False  # the user paused reading
        self._shut = False  # close_notify sent
        self._write_closed = False  # loseWriteConnection asked: write() drops, reading goes on
        self._half_closed = False  # close_notify sent and the TCP write side asked to shut
        self._delivering = False  # in _read_plain: writes are sent together at its end

    # ------------------------------------------------------------ protocol side

    def makeConnection(self, transport: ITCPTransport) -> None:
        """The TCP connection is up: start the handshake, then the user's ``connectionMade``."""
        self._attach(transport)
        if self._reason is not None:
            return
        _call_wrapped(self.protocol.makeConnection, self)

    def connectionMade(self) -> None:
        """Nothing: :meth:`makeConnection` does the TLS setup itself (it must start the handshake
        before the user's ``connectionMade``), so ``IProtocol``'s hook has nothing left to do."""

    def _attach(self, transport: Any) -> None:
        self.transport = transport
        self.reactor = getattr(transport, "reactor", None)
        self.connected = True
        hostname = self._hostname if self.client else None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        try:
            self._tls = self._context.wrap_bio(self._incoming, self._outgoing,
                                               server_side=not self.client, server_hostname=hostname)
        except (ValueError, ssl.SSLError) as exc:
            self._fail(TLSError(f"cannot start TLS: {exc}"))
            return
        if _tracer is not None: _tracer.connection_opened(self, "client" if self.client else "server", "tls")
        if _tracer is not None: _tracer.message(TLS(self), "tls", self._start_text(hostname), "out")
        if self.handshakeTimeout and self.reactor is not None:
            self._timeout_call = self.reactor.callLater(self.handshakeTimeout, self._handshake_timed_out)
        self._handshake()

    def _start_text(self, hostname: str | None) -> str:
        return f"handshake started as {'client' if self.client else 'server'}" + (
            f", SNI {hostname}" if hostname else ""
        )

    def dataReceived(self, data: bytes) -> None:
        """Ciphertext from the socket: continue the handshake, hand plaintext up."""
        if self._reason is not None or self._tls is None:
            return
        self._incoming.write(data)
        if not self.handshakeDone:
            if not self._first_bytes:
                self._first_bytes = data[:32]
            self._handshake()
            if not self.handshakeDone:
                return
        self._read_plain()

    def _handshake(self) -> None:
        tls = self._tls
        assert tls is not None
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except ssl.SSLError as exc:
            self._flush()  # the alert telling the peer why
            self._fail(explain(exc, self.client, self._first_bytes))
            return
        self._flush()
        self.handshakeDone = True
        call, self._timeout_call = self._timeout_call, None
        if call is not None and call.active():
            call.cancel()
        if _tracer is not None: _tracer.message(TLS(self), "tls", self.describe_session(), "in")
        pending, self._pending = self._pending, []
        if pending:
            tls.write(b"".join(pending))
            self._flush()
        producer, self._producer = self._producer, None
        if producer is not None:
            self.transport.registerProducer(producer, self._streaming)
            if self._streaming and not getattr(self.transport, "producerPaused", False):
                producer.resumeProducing()
        if self._paused and self.transport is not None:
            self.transport.pauseProducing()  # paused during the handshake: now stop reading
        if self.disconnecting:
            self._shutdown()
        elif self._write_closed:
            self._half_close()

    def _read_plain(self) -> None:
        tls = self._tls
        assert tls is not None
        deliver = self.protocol.dataReceived
        size = self.read_size
        # What the protocol writes back while we deliver one read's records is encrypted at
        # once but sent in one piece at the end: one send per read, not one per record.
        self._delivering = True
        try:
            while self._reason is None and not self._paused and not self._shut:
                try:
                    data = tls.read(size)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    self._peer_closed()
                    break
                except ssl.SSLError as exc:
                    self._fail(TLSError(f"TLS error: {exc.reason or exc}"))
                    break
                if not data:
                    break
                if _tracer is not None: _tracer.bytes_in(self, data)
                deliver(data)
        finally:
            self._delivering = False
            if not self._shut and not self.disconnected:
                self._flush()  # the replies, session tickets, key updates

    def _peer_closed(self) -> None:
        """The peer sent close_notify: answer with ours and close (ConnectionDone)."""
        self.disconnecting = True
        self._shutdown()

    def _flush(self) -> None:
        out = self._outgoing.read()
        if out:
            self.transport.write(out)

    def _fail(self, reason: BaseException) -> None:
        """End the connection with ``reason`` (it reaches the trace, the user's
        ``connectionLost`` and the client factory), in a turn of its own."""
        if self._reason is not None:
            return
        self._reason = reason
        call, self._timeout_call = self._timeout_call, None
        if call is not None and call.active():
            call.cancel()
        transport = self.transport
        if transport is None:
            return
        transport.pauseProducing()
        if self.reactor is not None:
            self._fail_call = self.reactor.callLater(0, transport.connectionLost, Failure(reason))
        else:  # pragma: no cover - a transport without a reactor
            transport.abortConnection()

    def _handshake_timed_out(self) -> None:
        self._timeout_call = None
        if not self.handshakeDone:
            self._fail(TLSHandshakeTimeout(
                f"TLS handshake failed: the {'server' if self.client else 'client'} did not finish it "
                f"within {self.handshakeTimeout:g} s"))

    def connectionLost(self, reason: Failure) -> None:
        """The TCP connection ended: tell the user's protocol, saying why TLS did."""
        if self.disconnected:
            return
        self.disconnected = True
        self.connected = False
        for name in ("_timeout_call", "_fail_call", "_read_call"):
            call = getattr(self, name)
            setattr(self, name, None)
            if call is not None and call.active():
                call.cancel()
        if self._reason is not None and not isinstance(reason.value, TLSError):
            reason = Failure(self._reason)
        elif not self.handshakeDone and not isinstance(reason.value, TLSError) and self._tls is not None:
            if reason.check(error.ConnectionDone):
                peer = "server" if self.client else "client"
                odd = self._first_bytes and self._first_bytes[:1] != b"\x16"
                reason = Failure(TLSHandshakeError(
                    f"TLS handshake failed: the {peer} closed the connection during it"
                    + (" (after sending bytes that are not TLS)" if odd else "")))
            elif not reason.check(error.ConnectionAborted):
                reason = Failure(TLSHandshakeError(
                    f"TLS handshake failed: the connection was lost during it: {reason.value}"))
        producer, self._producer = self._producer, None
        if producer is not None:
            _call_wrapped(producer.stopProducing)
        if _tracer is not None: _tracer.connection_closed(self, reason)
        _call_wrapped(self.protocol.connectionLost, reason)

    # ------------------------------------------------------------ transport side

    def write(self, data: bytes) -> None:
        """Encrypt and send ``data`` (held until the handshake is done)."""
        if type(data) is not bytes:
            data = written_bytes(data)
        if not data or self._shut or self._write_closed or self._reason is not None or self.disconnected:
            return
        if _tracer is not None: _tracer.bytes_out(self, data)
        if not self.handshakeDone:
            self._pending.append(data)
            return
        self._tls.write(data)  # type: ignore[union-attr]
        if not self._delivering:
            self._flush()

    def writeSequence(self, iovec: Any) -> None:
        """Write each bytes object of ``iovec`` in order."""
        self.write(b"".join(c if type(c) is bytes else written_bytes(c) for c in iovec))

    def loseConnection(self) -> None:
        """Send close_notify after everything written, then close the TCP connection."""
        if self.disconnecting or self.disconnected:
            return
        self.disconnecting = True
        if _tracer is not None: _tracer.connection_state(self, "closing")
        if self._reason is not None or self._tls is None:
            return
        if not self.handshakeDone:
            return  # the handshake's end sends what waits, then closes
        self._shutdown()

    def _shutdown(self) -> None:
        if self._shut:
            return
        lower = self.transport
        if getattr(lower, "producer", None) is not None and not getattr(lower, "streamingProducer", True):
            return  # a pull producer still has data: unregisterProducer closes
        self._shut = True
        try:
            self._tls.unwrap()  # type: ignore[union-attr]
        except ssl.SSLWantReadError:
            pass  # our close_notify is written; we do not wait for the peer's
        except (ssl.SSLError, ValueError):
            pass
        self._flush()
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        """Close at once, sending nothing more."""
        self.disconnecting = True
        if self.transport is not None:
            self.transport.abortConnection()

    def loseWriteConnection(self) -> None:
        """Half-close: once everything written is sent, send close_notify and shut the TCP
        write side, but keep reading until the peer closes (TLS 1.3 lets it answer).

        Twisted's TLS wrapper passes this call straight to the TCP transport, skipping
        close_notify, so a TLS peer sees a truncated stream; here the peer sees a clean
        end of data. Later writes are dropped, as on a half-closed TCP connection.
        """
        if self._write_closed or self.disconnecting or self.disconnected or self._reason is not None:
            return
        self._write_closed = True
        if self._tls is None or not self.handshakeDone:
            return  # the handshake's end sends what waits, then half-closes
        self._half_close()

    def _half_close(self) -> None:
        if self._half_closed or self._shut:
            return
        lower = self.transport
        if getattr(lower, "producer", None) is not None and not getattr(lower, "streamingProducer", True):
            return  # a pull producer still has data: unregisterProducer half-closes
        self._half_closed = True
        try:
            self._tls.unwrap()  # type: ignore[union-attr]
        except ssl.SSLWantReadError:
            pass  # close_notify is written; the peer's comes later, through _read_plain
        except (ssl.SSLError, ValueError):
            pass
        self._flush()
        if _tracer is not None: _tracer.connection_state(self, ConnectionState.HALF_CLOSED)
        lower.loseWriteConnection()
        if IHalfCloseableProtocol.providedBy(self.protocol):
            _call_wrapped(self.protocol.writeConnectionLost)

    def getPeer(self) -> Any:
        """The remote address."""
        return self.transport.getPeer()

    def getHost(self) -> Any:
        """The local address."""
        return self.transport.getHost()

    def getHandle(self) -> Any:
        """The TCP connection's socket."""
        return self.transport.getHandle()

    def getTcpNoDelay(self) -> bool:
        """Whether Nagle's algorithm is off on the TCP connection."""
        return bool(self.transport.getTcpNoDelay())

    def setTcpNoDelay(self, enabled: bool) -> None:
        """Turn Nagle's algorithm off (True) or on."""
        self.transport.setTcpNoDelay(enabled)

    def getTcpKeepAlive(self) -> bool:
        """Whether SO_KEEPALIVE is on."""
        return bool(self.transport.getTcpKeepAlive())

    def setTcpKeepAlive(self, enabled: bool) -> None:
        """Turn SO_KEEPALIVE on or off."""
        self.transport.setTcpKeepAlive(enabled)

    def getBufferSize(self) -> int:
        """Encrypted bytes waiting to be sent, plus plaintext waiting for the handshake."""
        return self.transport.getBufferSize() + sum(map(len, self._pending))

    def getPeerCertificate(self) -> Certificate | None:
        """The certificate the peer presented, or None (before the handshake, or none sent)."""
        if self._tls is None or not self.handshakeDone:
            return None
        der = self._tls.getpeercert(binary_form=True)
        return Certificate.from_der(der) if der else None

    @property
    def negotiatedProtocol(self) -> bytes | None:
        """The ALPN protocol agreed on, or None."""
        if self._tls is None or not self.handshakeDone:
            return None
        chosen = self._tls.selected_alpn_protocol()
        return chosen.encode("ascii") if chosen else None

    def describe_session(self) -> str:
        """One line on the finished handshake: version, cipher, ALPN and the peer's
        certificate (subject, issuer, expiry), as the trace shows it."""
        tls = self._tls
        if tls is None or not self.handshakeDone:
            return "handshake not done"
        cipher = tls.cipher()
        parts = [f"handshake done: {tls.version()} {cipher[0] if cipher else '?'}"]
        alpn = tls.selected_alpn_protocol()
        parts.append(f"ALPN {alpn}" if alpn else "no ALPN")
        der = tls.getpeercert(binary_form=True)
        if der:
            cert: dict[str, Any] = tls.getpeercert() or decode_der(der)  # the stdlib's nested tuples
            subject = ", ".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn)
            issuer = ", ".join(f"{k}={v}" for rdn in cert.get("issuer", ()) for k, v in rdn)
            names = ", ".join(v for k, v in cert.get("subjectAltName", ()))
            parts.append(f"peer certificate subject '{subject}'"
                         + (f" (names {names})" if names else "")
                         + f", issuer '{issuer}', expires {cert.get('notAfter', '?')}")
        else:
            parts.append("no peer certificate")
        return "; ".join(parts)

    # ------------------------------------------ consumer (the user's producer writes)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Register a producer; it feeds the TCP connection once the handshake is done."""
        if self._producer is not None:
            raise RuntimeError(f"{self!r} already has a producer; unregister it first")
        if self.disconnected:
            producer.stopProducing()
            return
        if self.handshakeDone:
            self.transport.registerProducer(producer, streaming)
        else:  # nothing can be sent yet: a push producer waits for the handshake
            self._producer, self._streaming = producer, bool(streaming)
            if streaming:
                producer.pauseProducing()

    def unregisterProducer(self) -> None:
        """Forget the producer; a close that waited for it goes ahead."""
        if self._producer is not None:
            self._producer = None
            return
        if self.transport is None:
            return
        self.transport.unregisterProducer()
        if self.disconnecting and self.handshakeDone and not self._shut and self._reason is None:
            self._shutdown()
        elif self._write_closed and self.handshakeDone and self._reason is None:
            self._half_close()

    # ------------------------------------------- producer (the peer feeds the user)

    def pauseProducing(self) -> None:
        """Stop delivering data until ``resumeProducing``. During the handshake the
        connection keeps reading (TLS records are not the user's data): a protocol that
        pauses itself as its own producer must not stall the handshake it waits for."""
        self._paused = True
        if self.handshakeDone:
            self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        """Deliver data again, starting with what TLS already decrypted."""
        self._paused = False
        self.transport.resumeProducing()
        if self.handshakeDone and self._read_call is None and self.reactor is not None:
            self._read_call = self.reactor.callLater(0, self._resume_reading)

    def _resume_reading(self) -> None:
        self._read_call = None
        if self._tls is not None and not self._paused and not self.disconnected:
            self._read_plain()

    def stopProducing(self) -> None:
        """Stop for good: close the connection."""
        self.loseConnection()

    def logPrefix(self) -> str:
        inner = getattr(self.protocol, "logPrefix", None)
        return f"{inner() if inner is not None else type(self.protocol).__name__} (TLS)"

    def __repr__(self) -> str:
        state = "open" if self.handshakeDone else "handshaking"
        return f"<TLS {'client' if self.client else 'server'} {state} for {type(self.protocol).__name__}>"


def _call_wrapped(func: Any, *args: Any) -> None:
    """Call user code; log its exception with the traceback instead of raising."""
    try:
        func(*args)
    except Exception:
        log.exception("Error in %s", describe_callable(func))


@implementer(IProtocolFactory)
class TLSMemoryBIOFactory:
    """Wraps a factory so each connection it builds speaks TLS (Twisted's name).

    The context is made once, here, so a bad certificate or key fails at ``listenSSL`` /
    ``connectSSL`` rather than on the first connection.
    """

    def __init__(self, contextFactory: Any, isClient: bool, wrappedFactory: Any,
                 hostname: str | None = None, handshakeTimeout: float | None = None) -> None:
        if not hasattr(wrappedFactory, "buildProtocol"):
            raise TypeError(f"factory must have buildProtocol(), got {wrappedFactory!r}")
        self.contextFactory = contextFactory
        self.isClient = bool(isClient)
        self.wrappedFactory = wrappedFactory
        self._context, named = context_for(contextFactory, server_side=not self.isClient)
        if self.isClient and self._context.check_hostname and not (named or hostname):
            raise ValueError(
                "this client context checks host names: give the host name (optionsForClientTLS(hostname))"
            )
        self.hostname = named or hostname
        if handshakeTimeout is None:  # the options may carry one (the ssl: endpoint's handshakeTimeout=)
            handshakeTimeout = getattr(contextFactory, "handshakeTimeout", DEFAULT_HANDSHAKE_TIMEOUT)
        #: Seconds a handshake may take (0: no limit).
        self.handshakeTimeout = handshakeTimeout

    def doStart(self) -> None:
        self.wrappedFactory.doStart()

    def doStop(self) -> None:
        self.wrappedFactory.doStop()

    def buildProtocol(self, addr: Any) -> TLSMemoryBIOProtocol | None:
        """Build the user's protocol and the TLS layer under it."""
        protocol = self.wrappedFactory.buildProtocol(addr)
        if protocol is None:
            return None
        return TLSMemoryBIOProtocol(self, protocol)

    def startedConnecting(self, connector: Any) -> None:
        started = getattr(self.wrappedFactory, "startedConnecting", None)
        if started is not None:
            started(connector)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        failed = getattr(self.wrappedFactory, "clientConnectionFailed", None)
        if failed is not None:
            failed(connector, reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        lost = getattr(self.wrappedFactory, "clientConnectionLost", None)
        if lost is not None:
            lost(connector, reason)

    def logPrefix(self) -> str:
        inner = getattr(self.wrappedFactory, "logPrefix", None)
        return f"{inner() if inner is not None else type(self.wrappedFactory).__name__} (TLS)"

    def __repr__(self) -> str:
        return f"<TLS {'client' if self.isClient else 'server'} factory for {self.wrappedFactory!r}>"


#: Methods of a TCP connection that ``startTLS`` sends through the TLS layer.
_REDIRECTED = ("write", "writeSequence", "loseConnection", "registerProducer", "unregisterProducer",
               "pauseProducing", "resumeProducing", "getPeerCertificate", "getBufferSize")


def start_tls(conn: Any, contextFactory: Any, normal: bool = True,
              handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT) -> TLSMemoryBIOProtocol:
    """Make TCP connection ``conn`` speak TLS from now on (STARTTLS). Bytes written before
    stay plaintext and go first. ``normal`` keeps the connection's role (a client
    connection is the TLS client); False swaps it. The user's protocol keeps ``conn`` as
    its transport: ``write`` and the rest now go through the layer."""
    already = isinstance(getattr(conn, "protocol", None), TLSMemoryBIOProtocol) or "write" in vars(conn)
    if already:
        raise RuntimeError("TLS is already started on this connection")
    is_client = (getattr(conn, "connector", None) is not None) == bool(normal)
    context, hostname = context_for(contextFactory, server_side=not is_client)
    if is_client and hostname is None and context.check_hostname:
        hostname = conn.getPeer().host
    layer = TLSMemoryBIOProtocol(None, conn.protocol, client=is_client, context=context,
                                 hostname=hostname, handshake_timeout=handshake_timeout)
    lower = _Unpatched(conn)
    conn.protocol = layer
    for name in _REDIRECTED:
        setattr(conn, name, getattr(layer, name))
    alsoProvides(conn, ISSLTransport)
    layer._attach(lower)
    return layer
