"""TLS options with Twisted's names (as ``twisted.internet.ssl``), over the standard library.

What a user meets when serving or connecting over TLS: :func:`optionsForClientTLS`
(a client that checks the server's certificate and host name), :class:`CertificateOptions`
(a server's certificate and key, optional client verification), :class:`Certificate`,
:class:`PrivateCertificate` and :class:`KeyPair` loaded from PEM, and the trust roots
:func:`trustRootFromCertificates` and :func:`platformTrust`. Each option object makes a
standard :class:`ssl.SSLContext`; a plain ``ssl.SSLContext`` is accepted wherever one of
them is (``listenSSL``, ``connectSSL``, ``startTLS``). No third-party dependency.
"""

from __future__ import annotations

import os
import re
import ssl as _stdlib_ssl
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "Certificate",
    "CertificateOptions",
    "ClientTLSOptions",
    "DistinguishedName",
    "KeyPair",
    "PrivateCertificate",
    "TLSVersion",
    "context_for",
    "optionsForClientTLS",
    "platformTrust",
    "trustRootFromCertificates",
]

TLSVersion = _stdlib_ssl.TLSVersion

_CERT_RE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\s*", re.DOTALL)
_KEY_RE = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----\s*", re.DOTALL)

#: Short names of the distinguished-name fields, as ``DistinguishedName`` attributes.
_DN_FIELDS = {
    "commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
    "localityName": "L", "stateOrProvinceName": "ST", "countryName": "C", "emailAddress": "emailAddress",
}


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("ascii") if isinstance(data, str) else bytes(data)


def decode_der(der: bytes) -> dict[str, Any]:
    """The standard library's parsed form of a DER certificate (subject, issuer, notAfter
    ...), or {} if it cannot be parsed; what ``getpeercert()`` gives for a verified peer."""
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(_stdlib_ssl.DER_cert_to_PEM_cert(der))
        return _stdlib_ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined]
    except (OSError, ValueError, _stdlib_ssl.SSLError):
        return {}
    finally:
        os.unlink(path)


class DistinguishedName(dict):
    """A certificate's subject or issuer: ``name.commonName``, ``name.organizationName`` ...
    (Twisted's attribute names), or None for a field the certificate lacks."""

    @classmethod
    def from_decoded(cls, rdns: Iterable[Any]) -> DistinguishedName:
        """Build from the nested tuples of the standard library's parsed certificate."""
        name = cls()
        for rdn in rdns or ():
            for key, value in rdn:
                name[key] = value
        return name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return self.get(attr)

    def inspect(self) -> str:
        """The name as ``CN=host, O=org``, as a log line or the trace shows it."""
        short = {long: abbr for long, abbr in _DN_FIELDS.items()}
        return ", ".join(f"{short.get(k, k)}={v}" for k, v in self.items())


class Certificate:
    """An X.509 certificate (Twisted's ``Certificate``), held as PEM."""

    def __init__(self, pem: bytes | str) -> None:
        match = _CERT_RE.search(_as_bytes(pem))
        if match is None:
            raise ValueError("no PEM certificate (-----BEGIN CERTIFICATE-----) in the data")
        self._pem = match.group(0).strip() + b"\n"
        self._decoded: dict[str, Any] | None = None

    @classmethod
    def loadPEM(cls, data: bytes | str) -> Certificate:
        """Load the first certificate of PEM ``data``."""
        return cls(data)

    @classmethod
    def load(cls, data: bytes | str, format: str = "pem") -> Certificate:
        """Load PEM ``data`` (``format`` "pem") or DER bytes (``format`` "der")."""
        if format.lower() == "der":
            return cls.from_der(_as_bytes(data))
        return cls(data)

    @classmethod
    def from_der(cls, der: bytes) -> Certificate:
        """The certificate whose DER encoding is ``der`` (what a peer sent)."""
        return cls(_stdlib_ssl.DER_cert_to_PEM_cert(der).encode("ascii"))

    def dumpPEM(self) -> bytes:
        """The certificate as PEM bytes."""
        return self._pem

    def dump(self, format: str = "pem") -> bytes:
        """The certificate as PEM (default) or DER bytes."""
        if format.lower() == "der":
            return _stdlib_ssl.PEM_cert_to_DER_cert(self._pem.decode("ascii"))
        return self._pem

    @property
    def decoded(self) -> dict[str, Any]:
        """The parsed certificate (``subject``, ``issuer``, ``notBefore``, ``notAfter`` ...)."""
        if self._decoded is None:
            self._decoded = decode_der(self.dump("der"))
        return self._decoded

    def getSubject(self) -> DistinguishedName:
        """Whom the certificate names."""
        return DistinguishedName.from_decoded(self.decoded.get("subject", ()))

    def getIssuer(self) -> DistinguishedName:
        """Who signed the certificate."""
        return DistinguishedName.from_decoded(self.decoded.get("issuer", ()))

    def notAfter(self) -> str:
        """When the certificate expires, as the standard library prints it."""
        return str(self.decoded.get("notAfter", ""))

    def options(self, *authorities: Certificate) -> ClientTLSOptions:
        """Options for a client that trusts this certificate (or ``authorities``) as its root."""
        names = self.getSubject().commonName or ""
        return optionsForClientTLS(names, trustRoot=trustRootFromCertificates(list(authorities) or [self]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Certificate) and other._pem == self._pem

    def __hash__(self) -> int:
        return hash(self._pem)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} Subject={self.getSubject().inspect()} Issuer={self.getIssuer().inspect()}>"


class KeyPair:
    """A private key (Twisted's ``KeyPair``), held as PEM."""

    def __init__(self, pem: bytes | str) -> None:
        match = _KEY_RE.search(_as_bytes(pem))
        if match is None:
            raise ValueError("no PEM private key (-----BEGIN ... PRIVATE KEY-----) in the data")
        self._pem = match.group(0).strip() + b"\n"

    @classmethod
    def load(cls, data: bytes | str, format: str = "pem") -> KeyPair:
        """Load the first private key of PEM ``data``."""
        return cls(data)

    def dump(self, format: str = "pem") -> bytes:
        """The key as PEM bytes."""
        return self._pem

    def __repr__(self) -> str:
        return "<KeyPair>"


class PrivateCertificate(Certificate):
    """A certificate with its private key: what a server (or a client proving who it is) holds."""

    privateKey: KeyPair

    @classmethod
    def loadPEM(cls, data: bytes | str) -> PrivateCertificate:
        """Load a certificate and its private key from one PEM blob (``cert + key``)."""
        cert = cls(data)
        cert.privateKey = KeyPair(data)
        return cert

    @classmethod
    def fromCertificateAndKeyPair(cls, certificateInstance: Certificate, privateKey: KeyPair) -> PrivateCertificate:
        """Pair an existing certificate with its key."""
        cert = cls(certificateInstance.dumpPEM())
        cert.privateKey = privateKey
        return cert

    def dumpPEM(self) -> bytes:
        """The certificate and then the key, as PEM."""
        return self._pem + self.privateKey.dump()

    def options(self, *authorities: Certificate) -> CertificateOptions:  # type: ignore[override]
        """Server options presenting this certificate; with ``authorities``, clients must
        present a certificate signed by one of them."""
        if authorities:
            return CertificateOptions(privateKey=self.privateKey, certificate=self,
                                      trustRoot=trustRootFromCertificates(authorities))
        return CertificateOptions(privateKey=self.privateKey, certificate=self)


# ------------------------------------------------------------------------- trust roots


class _TrustRoot:
    """Certificates a context trusts: a list of roots, or the platform's store."""

    def __init__(self, certificates: Sequence[Certificate] | None) -> None:
        self.certificates = None if certificates is None else list(certificates)

    def apply(self, context: _stdlib_ssl.SSLContext) -> None:
        """Make ``context`` trust these roots."""
        if self.certificates is None:
            context.load_default_certs(_stdlib_ssl.Purpose.SERVER_AUTH)
            return
        if not self.certificates:
            raise ValueError("a trust root needs at least one certificate")
        context.load_verify_locations(cadata=b"".join(c.dumpPEM() for c in self.certificates).decode("ascii"))


def trustRootFromCertificates(certificates: Iterable[Certificate]) -> _TrustRoot:
    """A trust root made of ``certificates`` (Certificate or PrivateCertificate objects)."""
    certs = list(certificates)
    for cert in certs:
        if not isinstance(cert, Certificate):
            raise TypeError(f"trustRootFromCertificates takes Certificate objects, not {type(cert).__name__}")
    return _TrustRoot(certs)


def platformTrust() -> _TrustRoot:
    """The operating system's trusted certificate authorities (the default for clients)."""
    return _TrustRoot(None)


def _trust_root(value: Any) -> _TrustRoot | None:
    if value is None or isinstance(value, _TrustRoot):
        return value
    if isinstance(value, Certificate):
        return trustRootFromCertificates([value])
    raise TypeError(
        "trustRoot must come from trustRootFromCertificates/platformTrust or be a Certificate,"
        f" not {type(value).__name__}"
    )


def _load_chain(context: _stdlib_ssl.SSLContext, certificate: Certificate, key: KeyPair,
                extra: Sequence[Certificate] = ()) -> None:
    """Give ``context`` a certificate chain and key held in memory (the standard library
    only reads them from files, so they pass through a private temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="inspector-tls-") as tmp:
        cert_path = os.path.join(tmp, "cert.pem")
        key_path = os.path.join(tmp, "key.pem")
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.dump())
        with open(cert_path, "wb") as out:
            out.write(Certificate.dumpPEM(certificate) + b"".join(Certificate.dumpPEM(c) for c in extra))
        try:
            context.load_cert_chain(cert_path, key_path)
        except _stdlib_ssl.SSLError as exc:
            raise ValueError(f"the certificate and private key do not load together: {exc.reason or exc}") from None


def _as_key(value: Any) -> KeyPair:
    if isinstance(value, KeyPair):
        return value
    if isinstance(value, (bytes, str)):
        return KeyPair(value)
    raise TypeError(f"privateKey must be a KeyPair or PEM bytes, not {type(value).__name__}")


def _as_certificate(value: Any) -> Certificate:
    if isinstance(value, Certificate):
        return value
    if isinstance(value, (bytes, str)):
        return Certificate(value)
    raise TypeError(f"certificate must be a Certificate or PEM bytes, not {type(value).__name__}")


# ---------------------------------------------------------------------------- options


class CertificateOptions:
    """Twisted's ``CertificateOptions``: a certificate and key to present, and whether
    (and against what) to verify the peer. Used for servers, and for clients that do not
    check host names (prefer :func:`optionsForClientTLS` for those)."""

    #: Seconds a handshake may take, set by the ``ssl:`` endpoint's ``handshakeTimeout=``.
    #: Declared, not assigned: while unset the TLS factory uses its own default.
    handshakeTimeout: float

    def __init__(
        self,
        privateKey: Any = None,
        certificate: Any = None,
        verify: bool = False,
        caCerts: Sequence[Certificate] | None = None,
        verifyDepth: int = 9,
        requireCertificate: bool = True,
        extraCertChain: Sequence[Certificate] | None = None,
        acceptableProtocols: Sequence[bytes] | None = None,
        raiseMinimumTo: TLSVersion | None = None,
        lowerMaximumSecurityTo: TLSVersion | None = None,
        trustRoot: Any = None,
    ) -> None:
        if (privateKey is None) != (certificate is None):
            raise ValueError("privateKey and certificate go together: give both or neither")
        self.privateKey = None if privateKey is None else _as_key(privateKey)
        self.certificate = None if certificate is None else _as_certificate(certificate)
        if caCerts and trustRoot is not None:
            raise TypeError("give caCerts or trustRoot, not both")
        if caCerts:
            trustRoot = trustRootFromCertificates(caCerts)
            verify = True
        self.trustRoot = _trust_root(trustRoot)
        self.verify = bool(verify) or self.trustRoot is not None
        if self.verify and self.trustRoot is None:
            raise ValueError("verify=True needs caCerts or trustRoot: whom should the peer's certificate be signed by?")
        self.verifyDepth = verifyDepth
        self.requireCertificate = requireCertificate
        self.extraCertChain = list(extraCertChain or ())
        self.acceptableProtocols = list(acceptableProtocols or ())
        self.raiseMinimumTo = raiseMinimumTo
        self.lowerMaximumSecurityTo = lowerMaximumSecurityTo
        self._contexts: dict[bool, _stdlib_ssl.SSLContext] = {}

    def _tls_context(self, server_side: bool) -> _stdlib_ssl.SSLContext:
        """The context for one side, made once."""
        context = self._contexts.get(server_side)
        if context is None:
            context = self._contexts[server_side] = self._make(server_side)
        return context

    def _make(self, server_side: bool) -> _stdlib_ssl.SSLContext:
        context = _stdlib_ssl.SSLContext(
            _stdlib_ssl.PROTOCOL_TLS_SERVER if server_side else _stdlib_ssl.PROTOCOL_TLS_CLIENT
        )
        context.check_hostname = False
        if self.certificate is not None:
            assert self.privateKey is not None
            _load_chain(context, self.certificate, self.privateKey, self.extraCertChain)
        if self.verify:
            assert self.trustRoot is not None
            self.trustRoot.apply(context)
            context.verify_mode = (_stdlib_ssl.CERT_REQUIRED if self.requireCertificate or not server_side
                                   else _stdlib_ssl.CERT_OPTIONAL)
        else:
            context.verify_mode = _stdlib_ssl.CERT_NONE
        if self.acceptableProtocols:
            context.set_alpn_protocols(
                [p.decode("ascii") if isinstance(p, bytes) else p for p in self.acceptableProtocols]
            )
        if self.raiseMinimumTo is not None:
            context.minimum_version = self.raiseMinimumTo
        if self.lowerMaximumSecurityTo is not None:
            context.maximum_version = self.lowerMaximumSecurityTo
        return context

    def getContext(self) -> _stdlib_ssl.SSLContext:
        """The server-side ``ssl.SSLContext`` these options make."""
        return self._tls_context(True)

    def __repr__(self) -> str:
        who = self.certificate.getSubject().inspect() if self.certificate is not None else "no certificate"
        return f"<CertificateOptions {who} verify={self.verify}>"


class ClientTLSOptions:
    """What :func:`optionsForClientTLS` returns: a client context for one host name, which
    is sent as SNI and checked against the server's certificate."""

    def __init__(self, hostname: str, context: _stdlib_ssl.SSLContext) -> None:
        self.hostname = hostname
        self._context = context

    def _tls_context(self, server_side: bool) -> _stdlib_ssl.SSLContext:
        if server_side:
            raise ValueError("optionsForClientTLS options are for clients; a server needs CertificateOptions")
        return self._context

    def getContext(self) -> _stdlib_ssl.SSLContext:
        """The client ``ssl.SSLContext``."""
        return self._context

    def __repr__(self) -> str:
        return f"<ClientTLSOptions for {self.hostname!r}>"


def optionsForClientTLS(
    hostname: str,
    trustRoot: Any = None,
    clientCertificate: PrivateCertificate | None = None,
    acceptableProtocols: Sequence[bytes] | None = None,
    extraCertificateOptions: dict[str, Any] | None = None,
) -> ClientTLSOptions:
    """Options for a client of ``hostname``: the server's certificate must chain to
    ``trustRoot`` (the platform's authorities by default) and name ``hostname``.
    ``clientCertificate`` is presented if the server asks for one."""
    if isinstance(hostname, bytes):
        raise TypeError("optionsForClientTLS takes the host name as str (text), not bytes")
    if not isinstance(hostname, str) or not hostname:
        raise TypeError(f"hostname must be a non-empty str, got {hostname!r}")
    root = _trust_root(trustRoot) or platformTrust()
    context = _stdlib_ssl.SSLContext(_stdlib_ssl.PROTOCOL_TLS_CLIENT)  # verifies and checks host names
    root.apply(context)
    if clientCertificate is not None:
        if not isinstance(clientCertificate, PrivateCertificate):
            raise TypeError("clientCertificate must be a PrivateCertificate (certificate and key)")
        _load_chain(context, clientCertificate, clientCertificate.privateKey)
    if acceptableProtocols:
        context.set_alpn_protocols([p.decode("ascii") if isinstance(p, bytes) else p for p in acceptableProtocols])
    for name, value in (extraCertificateOptions or {}).items():
        if name == "raiseMinimumTo":
            context.minimum_version = value
        elif name == "lowerMaximumSecurityTo":
            context.maximum_version = value
        else:
            raise TypeError(f"unsupported extraCertificateOptions entry {name!r}")
    return ClientTLSOptions(hostname, context)


def context_for(contextFactory: Any, server_side: bool) -> tuple[_stdlib_ssl.SSLContext, str | None]:
    """The ``ssl.SSLContext`` for one side and the host name to check (clients), from any
    context factory: these options, a plain ``ssl.SSLContext``, or an object with
    ``getContext()`` returning one. TypeError for anything else."""
    if isinstance(contextFactory, _stdlib_ssl.SSLContext):
        return contextFactory, None
    make = getattr(contextFactory, "_tls_context", None)
    context = make(server_side) if make is not None else None
    if context is None:
        get = getattr(contextFactory, "getContext", None)
        if get is None:
            raise TypeError(f"contextFactory must be an ssl.SSLContext or have getContext(), got {contextFactory!r}")
        context = get()
    if not isinstance(context, _stdlib_ssl.SSLContext):
        raise TypeError(f"{contextFactory!r}.getContext() must return an ssl.SSLContext, got {type(context).__name__}")
    return context, getattr(contextFactory, "hostname", None)
