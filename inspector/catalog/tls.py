"""TLS for the catalogue's entries: the server's certificate (the user's PEM files, or a
throwaway self-signed one for localhost), the client's verification, and listening.

A throwaway certificate needs the ``cryptography`` package (pulled in by the optional
``tls`` extra, ``pip install 'net-inspector[tls]'``); everything else is the standard library.
"""

from __future__ import annotations

import datetime
import ssl
from typing import TYPE_CHECKING, Any

from inspector.catalog.checks import check_pem_file
from inspector.catalog.handles import ServerHandle
from inspector.catalog.model import Param

if TYPE_CHECKING:
    from inspector.catalog.model import Entry
    from inspector.failure import Failure
    from inspector.interfaces import IProtocolFactory, ReactorLike

__all__ = [
    "CERTIFICATE", "PRIVATE_KEY", "CA_FILE", "INSECURE", "MissingTLSSupport",
    "client_context", "listen_ssl", "server_context", "throwaway_certificate", "verify_hint",
]

#: PEM files are small; a larger "certificate" is a wrong file.
MAX_PEM_BYTES = 1024 * 1024

CERTIFICATE = Param("certificate", "path", None,
                    "PEM certificate (chain) to serve; may hold the key too (default: a throwaway "
                    "self-signed one for localhost)", check_pem_file, optional=True)
PRIVATE_KEY = Param("private_key", "path", None,
                    "PEM private key of --certificate (default: read from the certificate file)",
                    check_pem_file, optional=True)
CA_FILE = Param("ca_file", "path", None,
                "PEM certificate(s) to trust for the server (default: the system's trust store)",
                check_pem_file, optional=True)
INSECURE = Param("insecure", "flag", False,
                 "do not verify the server's certificate or name (for a throwaway certificate)")


class MissingTLSSupport(RuntimeError):
    """A throwaway certificate was wanted but ``cryptography`` is not installed."""


def _read_pem(path: str, what: str) -> bytes:
    from inspector.files import read_regular_file

    return read_regular_file(path, what, MAX_PEM_BYTES)


def throwaway_certificate(hostname: str = "localhost") -> tuple[bytes, bytes]:
    """A new self-signed certificate for ``hostname``, 127.0.0.1 and ::1, valid for a
    day, and its key, both PEM; for a server started without ``--certificate``."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise MissingTLSSupport(
            "a TLS server needs a certificate: pass --certificate FILE (and --private-key FILE), "
            "or install 'cryptography' (pip install 'net-inspector[tls]') for a throwaway one"
        ) from None
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Inspector throwaway certificate")])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(certificate: str | None, private_key: str | None) -> tuple[Any, str]:
    """The server's TLS options and where its certificate came from (for the log).

    ``certificate`` and ``private_key`` are PEM files; the key may sit in the certificate
    file. Neither given: a throwaway self-signed certificate. A mismatch or a missing key
    raises ValueError naming the files.
    """
    from inspector.ssl import PrivateCertificate, context_for

    if private_key and not certificate:
        raise ValueError("--private-key needs --certificate (the certificate it belongs to)")
    if certificate:
        cert_pem = _read_pem(certificate, "certificate file")
        key_pem = _read_pem(private_key, "private key file") if private_key else b""
        source = f"certificate {certificate}"
    else:
        cert_pem, key_pem = throwaway_certificate()
        source = "a throwaway self-signed certificate for localhost (clients need --insecure)"
    if b"PRIVATE KEY-----" not in cert_pem + key_pem:
        raise ValueError(f"no private key in {certificate}: pass --private-key FILE")
    try:
        options = PrivateCertificate.loadPEM(cert_pem + b"\n" + key_pem).options()
        context_for(options, True)  # load the pair now: a key of another certificate fails here
        return options, source
    except (ValueError, ssl.SSLError) as exc:
        raise ValueError(f"cannot use {certificate} with {private_key or 'its key'}: {exc}") from None


def client_context(host: str, ca_file: str | None, insecure: bool) -> Any:
    """The client's TLS options: verify ``host`` against ``ca_file`` (or the system's
    trust store), or nothing at all when ``insecure``."""
    from inspector.ssl import Certificate, optionsForClientTLS, platformTrust, trustRootFromCertificates

    if insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_file:
        pem = _read_pem(ca_file, "CA file")
        roots = [Certificate.loadPEM(block + b"-----END CERTIFICATE-----")
                 for block in pem.split(b"-----END CERTIFICATE-----") if b"-----BEGIN CERTIFICATE-----" in block]
        return optionsForClientTLS(host, trustRoot=trustRootFromCertificates(roots))
    return optionsForClientTLS(host, trustRoot=platformTrust())


def listen_ssl(
    entry: Entry, reactor: ReactorLike, factory: IProtocolFactory, port: int, interface: str,
    certificate: str | None, private_key: str | None,
) -> ServerHandle:
    """Listen for TLS on ``interface:port`` with ``factory``; the handle says which certificate."""
    options, source = server_context(certificate, private_key)
    listening_port = reactor.listenSSL(port, factory, options, interface=interface)
    handle = ServerHandle(entry, entry.title.lower(), factory)
    handle.listening(listening_port)
    handle.note(f"serving {source}")
    return handle


def verify_hint(reason: Failure | BaseException, insecure: bool) -> str:
    """What to do when a verifying client's handshake failed ("" for other failures):
    the usual cause is a server's own or throwaway certificate."""
    from inspector.tls import TLSHandshakeError, TLSHandshakeTimeout

    value = getattr(reason, "value", reason)
    if insecure or not isinstance(value, TLSHandshakeError) or isinstance(value, TLSHandshakeTimeout):
        return ""
    if not any(word in str(value) for word in ("certificate", "issuer", "host name", "hostname")):
        return ""
    return ("the server's certificate was not accepted: pass --ca-file FILE (the certificate that "
            "signed it) or, for a throwaway certificate, --insecure")
