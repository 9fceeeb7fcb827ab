"""TLS beyond the transport: ClientCreator over TLS and Unix sockets, the echo and IRC
catalogue entries over TLS (in process, as subprocesses, against openssl and miniircd)."""

from __future__ import annotations

import select
import shutil
import socket
import subprocess

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


# ------------------------------------------------------------------ the catalogue over TLS


def output_line(handle, predicate):
    """A Deferred firing with the first output line (or transcript note) matching ``predicate``."""
    from inspector.defer import Deferred

    found: Deferred = Deferred()
    for line in list(handle.transcript):
        if predicate(line):
            found.callback(line)
            return found

    def listen(line):
        if predicate(line) and not found.called:
            found.callback(line)

    handle.on_output(listen)
    return found


def test_echo_over_tls_entries_with_a_throwaway_certificate(reactor, run):
    from inspector import catalog

    server = catalog.find("echo", "server", "tls").start(reactor, port=0)
    port = server.port.getHost().port
    assert server.description.endswith(f":{port}/tls")
    assert any("throwaway" in line for line in server.transcript)

    async def go():
        client = catalog.find("echo", "client", "tls").start(reactor, port=port, insecure="yes")
        reply = await client.send_line("secret hello")
        await client.stop()
        await server.stop()
        return reply

    reply = run(go)
    assert reply.line == "secret hello"


def test_verifying_client_refuses_a_throwaway_certificate_and_says_why(reactor, run):
    from inspector import catalog

    server = catalog.find("echo", "server", "tls").start(reactor, port=0)
    port = server.port.getHost().port

    async def go():
        client = catalog.find("echo", "client", "tls").start(reactor, port=port)
        try:
            await client.send_line("hello")
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            # The client's run ended with the same failure: look at it, as the launcher
            # and `inspector connect` do, so it is not reported as unhandled at exit.
            ended = await client.done.addErrback(lambda failure: failure.getErrorMessage())
            assert ended == str(exc)
            return str(exc)
        finally:
            await server.stop()
        return "echoed"

    message = run(go)
    assert "self-signed" in message or "unknown issuer" in message, message


def test_given_certificate_and_key_and_a_client_that_trusts_the_ca(reactor, run, certs):
    from inspector import catalog

    server = catalog.find("echo", "server", "tls").start(
        reactor, port=0, certificate=str(certs.cert_file), private_key=str(certs.key_file))
    port = server.port.getHost().port

    async def go():
        client = catalog.find("echo", "client", "tls").start(
            reactor, host="localhost", port=port, ca_file=str(certs.ca_file))
        reply = await client.send_line("verified")
        await client.stop()
        await server.stop()
        return reply

    assert run(go).line == "verified"


def test_bad_certificate_files_are_clear_errors(tmp_path, certs):
    from inspector import catalog
    from inspector.catalog import ParameterError

    entry = catalog.find("echo", "server", "tls")
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("hello\n")
    with pytest.raises(ParameterError, match="certificate: .*not a PEM file"):
        entry.validate({"certificate": str(not_pem)})
    with pytest.raises(ParameterError, match="certificate: .*not found"):
        entry.validate({"certificate": str(tmp_path / "missing.pem")})
    with pytest.raises(ParameterError, match="insecure: expected yes or no"):
        catalog.find("echo", "client", "tls").validate({"insecure": "maybe"})
    from inspector.catalog.tls import server_context

    with pytest.raises(ValueError, match="no private key"):
        server_context(str(certs.cert_file), None)
    with pytest.raises(ValueError, match="needs --certificate"):
        server_context(None, str(certs.key_file))
    other = tmp_path / "other-key.pem"
    other.write_bytes(__import__("trustme").CA().issue_cert("x").private_key_pem.bytes())
    with pytest.raises(ValueError, match="cannot use"):
        server_context(str(certs.cert_file), str(other))


def test_without_cryptography_the_server_says_what_to_install_or_pass(monkeypatch):
    import sys

    from inspector.catalog.tls import MissingTLSSupport, throwaway_certificate

    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(MissingTLSSupport, match=r"--certificate FILE.*pip install 'net-inspector\[tls\]'"):
        throwaway_certificate()


def test_irc_over_tls_entries_server_and_client(reactor, run):
    from inspector import catalog

    server = catalog.find("irc", "server", "tls").start(reactor, port=0)
    port = server.port.getHost().port
    assert catalog.find("irc", "server", "tls").defaults()["port"] == 6697

    async def go():
        client = catalog.find("irc", "client", "tls").start(
            reactor, port=port, nick="tlsbob", channel="#secure", insecure=True)
        await output_line(client, lambda line: line == "joined #secure")
        await client.send_line("over tls")
        await client.stop()
        await server.stop()
        return list(client.transcript)

    transcript = run(go, timeout=15)
    assert any("signed on as tlsbob" in line for line in transcript)


def test_irc_client_over_tls_against_miniircd(reactor, run, certs, tmp_path):
    import os

    from inspector import catalog

    from irc_support import free_port, script, start_peer, stop_peer

    pem = tmp_path / "miniircd.pem"
    pem.write_bytes(certs.cert_pem + certs.key_pem)
    port = free_port()
    args = [script("miniircd"), "--listen", "127.0.0.1", "--ports", str(port), "--ssl-pem-file", str(pem)]
    if os.geteuid() == 0:
        args += ["--setuid", "root"]
    process = start_peer(args, port)
    try:
        async def go():
            client = catalog.find("irc", "client", "tls").start(
                reactor, host="localhost", port=port, nick="tlsalice", channel="#vault",
                ca_file=str(certs.ca_file))
            await output_line(client, lambda line: line == "joined #vault")
            await client.stop()
            return list(client.transcript)

        transcript = run(go, timeout=20)
    finally:
        stop_peer(process)
    assert any("signed on as tlsalice" in line for line in transcript), transcript


# ------------------------------------------------------------------ the commands, as a user runs them


@pytest.fixture
def serving():
    """Start ``inspector serve ARGS`` processes; each is killed after the test."""
    from test_commands import Serving

    started: list = []

    def start(*args: str):
        started.append(Serving(*args))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


def test_serve_echo_tls_then_connect_echo_tls_insecure(serving):
    from test_commands import inspector

    server = serving("echo", "--tls", "--port", "0")
    port = server.port()
    server.wait_for("throwaway self-signed certificate")
    done = inspector("connect", "echo", "--tls", "--insecure", "--port", str(port), stdin=b"hello tls\n")
    assert done.returncode == 0, done.stderr.decode()
    assert b"hello tls (" in done.stdout
    refused = inspector("connect", "echo", "--tls", "--port", str(port), stdin=b"hello\n")
    assert refused.returncode != 0
    assert b"self-signed" in refused.stderr, refused.stderr.decode()
    assert b"pass --ca-file FILE" in refused.stderr and b"--insecure" in refused.stderr
    assert server.stop() == 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_openssl_s_client_gets_its_echo_from_serve_echo_tls(serving, certs):
    server = serving("echo", "--tls", "--port", "0", "--certificate", str(certs.cert_file),
                     "--private-key", str(certs.key_file))
    port = server.port()
    client = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         "-CAfile", str(certs.ca_file), "-verify_return_error", "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        client.stdin.write(b"through openssl\n")
        client.stdin.flush()
        ready, _, _ = select.select([client.stdout], [], [], 10)
        assert ready, "no echo from the server within 10 s"
        echoed = client.stdout.readline()
    finally:
        client.kill()
        client.wait(5)
        for pipe in (client.stdin, client.stdout, client.stderr):
            pipe.close()
    assert echoed == b"through openssl\n"
    assert server.stop() == 0


def test_irc_client_over_tls_refusing_a_throwaway_certificate_says_what_to_pass(reactor, run):
    from inspector import catalog

    server = catalog.find("irc", "server", "tls").start(reactor, port=0)

    async def go():
        client = catalog.find("irc", "client", "tls").start(reactor, port=server.port.getHost().port)
        try:
            await client.done
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome = str(exc)
        else:
            outcome = "ended cleanly"
        await server.stop()
        return outcome, list(client.transcript)

    outcome, transcript = run(go, timeout=15)
    assert "before sign-on" in outcome and "self-signed" in outcome, outcome
    assert any("pass --ca-file FILE" in line and "--insecure" in line for line in transcript), transcript


def test_help_names_the_tls_choice_and_its_own_default_port():
    from test_commands import inspector

    irc = inspector("connect", "irc", "--help")
    text = " ".join(irc.stdout.decode().split())
    assert "--tls over TLS (the same as --transport tls)" in text
    assert "(default: 6667; over tls: 6697)" in text
    assert "--insecure do not verify the server's certificate" in text
    serve = " ".join(inspector("serve", "irc", "--help").stdout.decode().split())
    assert "--certificate PATH PEM certificate" in serve and "--private-key PATH" in serve
