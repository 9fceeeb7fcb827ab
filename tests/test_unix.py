"""Unix domain stream sockets over real sockets in tmp_path, on every reactor: stdlib
AF_UNIX peers, socat, the abstract namespace, stale files with wantPID, file modes."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import uuid

import pytest
from test_tcp import Echo, Recorder, RecordingFactory
from zope.interface import classImplements
from zope.interface.verify import verifyObject

from inspector import error
from inspector.address import UNIXAddress
from inspector.interfaces import (
    IConnector,
    IConsumer,
    IHalfCloseableProtocol,
    IListeningPort,
    IPushProducer,
    IReactorUNIX,
    ITCPTransport,
)
from inspector.protocol import Factory, Protocol
from inspector.task import deferLater
from inspector.threads import deferToThreadPool


def in_thread(reactor, fn, *args):
    """Run a blocking stdlib peer in the reactor's pool; a Deferred of its result."""
    return deferToThreadPool(reactor, reactor.getThreadPool(), fn, *args)


def blocking_echo_client(path, payload):
    """Connect with a plain AF_UNIX socket, send ``payload``, half-close, read all back."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while chunk := s.recv(65536):
            got += chunk
        return bytes(got)


class EchoFactory(Factory):
    protocol = Echo


class HalfCloseEcho(Protocol):
    """Echo, then close our side when the peer half-closes (needs IHalfCloseableProtocol)."""

    def dataReceived(self, data):
        self.transport.write(data)

    def readConnectionLost(self):
        self.transport.loseConnection()

    def writeConnectionLost(self):
        pass


classImplements(HalfCloseEcho, IHalfCloseableProtocol)


def test_every_reactor_provides_ireactor_unix(reactor):
    assert verifyObject(IReactorUNIX, reactor)


def test_echo_round_trip_with_a_plain_af_unix_client(reactor, run, tmp_path):
    path = str(tmp_path / "echo.sock")

    async def scenario():
        port = reactor.listenUNIX(path, Factory.forProtocol(HalfCloseEcho))
        verifyObject(IListeningPort, port)
        payload = os.urandom(300_000)  # more than one socket buffer: exercises buffering
        got = await in_thread(reactor, blocking_echo_client, path, payload)
        host = port.getHost()
        await port.stopListening()
        return payload, got, host

    payload, got, host = run(scenario)
    assert got == payload
    assert host == UNIXAddress(path)
    assert not os.path.exists(path), "stopListening removes the socket file"


def test_client_against_a_plain_af_unix_server(reactor, run, tmp_path):
    path = str(tmp_path / "plain.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def plain_echo_once():
        conn, _ = server.accept()
        with conn:
            conn.settimeout(10)
            while data := conn.recv(65536):
                conn.sendall(data)

    async def scenario():
        served = in_thread(reactor, plain_echo_once)
        factory = RecordingFactory(Recorder)
        connector = reactor.connectUNIX(path, factory)
        verifyObject(IConnector, connector)
        client = await factory.next_built
        transport = await client.made
        verifyObject(ITCPTransport, transport)
        verifyObject(IConsumer, transport)
        verifyObject(IPushProducer, transport)
        transport.write(b"hello over unix\n")
        await client.wait_for(16)
        peer, host, dest = transport.getPeer(), transport.getHost(), connector.getDestination()
        transport.loseConnection()
        reason = await client.lost
        await served
        return bytes(client.data), peer, host, dest, reason

    try:
        data, peer, host, dest, reason = run(scenario)
    finally:
        server.close()
    assert data == b"hello over unix\n"
    assert peer == dest == UNIXAddress(path)
    assert host == UNIXAddress(None)  # the client's own socket has no name
    assert reason.check(error.ConnectionDone)


def test_server_side_addresses(reactor, run, tmp_path):
    path = str(tmp_path / "addr.sock")

    async def scenario():
        factory = RecordingFactory(Recorder)
        port = reactor.listenUNIX(path, factory)
        reactor.connectUNIX(path, RecordingFactory(Recorder))
        server = await factory.next_built
        transport = await server.made
        result = transport.getHost(), transport.getPeer(), str(transport.getHost())
        transport.loseConnection()
        await server.lost
        await port.stopListening()
        return result

    host, peer, text = run(scenario)
    assert host == UNIXAddress(path)
    assert peer == UNIXAddress(None)
    assert text == f"unix:{path}"


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed (.ci/run installs it)")
def test_echo_against_socat(reactor, run, tmp_path):
    path = str(tmp_path / "socat.sock")
    payload = b"".join(b"line %d from socat\n" % i for i in range(2000))

    def run_socat():
        return subprocess.run(["socat", "-t", "5", "-", f"UNIX-CONNECT:{path}"], check=False, input=payload,
                              capture_output=True, timeout=20)

    async def scenario():
        port = reactor.listenUNIX(path, Factory.forProtocol(HalfCloseEcho))
        done = await in_thread(reactor, run_socat)
        await port.stopListening()
        return done

    done = run(scenario, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == payload


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed (.ci/run installs it)")
def test_client_against_a_socat_server(reactor, run, tmp_path):
    path = str(tmp_path / "socat-server.sock")
    # socat serves one connection on the socket, echoing through `cat`.
    proc = subprocess.Popen(["socat", f"UNIX-LISTEN:{path}", "EXEC:cat"], stderr=subprocess.PIPE)

    def wait_for_file():
        import time

        deadline = time.monotonic() + 10
        while not os.path.exists(path):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError("socat did not create its socket")
            time.sleep(0.01)

    async def scenario():
        await in_thread(reactor, wait_for_file)
        factory = RecordingFactory(Recorder)
        reactor.connectUNIX(path, factory)
        client = await factory.next_built
        transport = await client.made
        transport.write(b"ping through socat\n")
        await client.wait_for(19)
        transport.loseConnection()
        await client.lost
        return bytes(client.data)

    try:
        assert run(scenario, timeout=20) == b"ping through socat\n"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the abstract namespace is Linux's")
def test_abstract_namespace(reactor, run):
    name = f"\0inspector-test-{uuid.uuid4().hex}"

    async def scenario():
        port = reactor.listenUNIX(name, Factory.forProtocol(HalfCloseEcho))
        got = await in_thread(reactor, blocking_echo_client, name, b"abstract hello")
        factory = RecordingFactory(Recorder)
        reactor.connectUNIX(name, factory)
        client = await factory.next_built
        transport = await client.made
        transport.write(b"from our client")
        await client.wait_for(15)
        transport.loseConnection()
        await client.lost
        host = port.getHost()
        await port.stopListening()
        return got, bytes(client.data), host

    got, ours, host = run(scenario)
    assert got == b"abstract hello"
    assert ours == b"from our client"
    assert host == UNIXAddress(name)
    assert str(host).startswith("unix:@inspector-test-")


def test_mode_is_applied_to_the_socket_file(reactor, run, tmp_path):
    path = str(tmp_path / "mode.sock")
    port = reactor.listenUNIX(path, EchoFactory(), mode=0o600)
    try:
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o600
    finally:
        port.stopListening()
    path2 = str(tmp_path / "mode2.sock")
    port = reactor.listenUNIX(path2, EchoFactory(), mode=0o660)
    try:
        assert stat.S_IMODE(os.stat(path2).st_mode) == 0o660
    finally:
        port.stopListening()


def _dead_pid():
    """The PID of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_socket_file_is_replaced_with_want_pid(reactor, run, tmp_path):
    path = str(tmp_path / "stale.sock")
    # A socket file and a lock left behind by a process that is gone.
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(path)
    leftover.close()
    os.symlink(str(_dead_pid()), path + ".lock")

    # Without wantPID the stale file is in the way, and the error says where.
    with pytest.raises(error.CannotListenError) as caught:
        reactor.listenUNIX(path, EchoFactory())
    assert path in str(caught.value)

    async def scenario():
        port = reactor.listenUNIX(path, Factory.forProtocol(HalfCloseEcho), wantPID=True)
        lock_owner = os.readlink(path + ".lock")
        got = await in_thread(reactor, blocking_echo_client, path, b"fresh")
        await port.stopListening()
        return lock_owner, got

    owner, got = run(scenario)
    assert owner == str(os.getpid())
    assert got == b"fresh"
    assert not os.path.lexists(path) and not os.path.lexists(path + ".lock")


def test_live_owner_refuses_with_want_pid(reactor, run, tmp_path):
    path = str(tmp_path / "live.sock")
    first = reactor.listenUNIX(path, EchoFactory(), wantPID=True)
    try:
        with pytest.raises(error.CannotListenError) as caught:
            reactor.listenUNIX(path, EchoFactory(), wantPID=True)
        assert "lock" in str(caught.value) and path in str(caught.value)
        assert os.path.exists(path), "the refused listen leaves the live socket alone"
        # A lock held by another live process refuses just the same.
        first.stopListening()
        os.symlink(str(os.getppid()), path + ".lock")
        with pytest.raises(error.CannotListenError):
            reactor.listenUNIX(path, EchoFactory(), wantPID=True)
    finally:
        first.stopListening()


def test_connecting_to_a_missing_path_fails_clearly(reactor, run, tmp_path):
    path = str(tmp_path / "nobody-here.sock")

    async def scenario():
        factory = RecordingFactory(Recorder)
        reactor.connectUNIX(path, factory)
        return await factory.failed, factory.events

    reason, events = run(scenario)
    assert reason.check(error.BadFileError)
    assert isinstance(reason.value, error.ConnectError)
    assert path in str(reason.value)
    assert events == ["startedConnecting", "clientConnectionFailed"]


def test_connecting_to_a_stale_socket_file_is_refused(reactor, run, tmp_path):
    path = str(tmp_path / "dead.sock")
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(path)
    leftover.close()

    async def scenario():
        factory = RecordingFactory(Recorder)
        reactor.connectUNIX(path, factory)
        return await factory.failed

    reason = run(scenario)
    assert reason.check(error.ConnectionRefusedError)
    assert path in str(reason.value)


def test_check_pid_needs_the_lock_file(reactor, run, tmp_path):
    path = str(tmp_path / "pid.sock")

    async def scenario():
        plain = reactor.listenUNIX(path, EchoFactory())
        factory = RecordingFactory(Recorder)
        reactor.connectUNIX(path, factory, checkPID=True)
        refused = await factory.failed
        await plain.stopListening()
        locked = reactor.listenUNIX(path, EchoFactory(), wantPID=True)
        factory2 = RecordingFactory(Recorder)
        reactor.connectUNIX(path, factory2, checkPID=True)
        client = await factory2.next_built
        await client.made
        client.transport.loseConnection()
        await client.lost
        await locked.stopListening()
        return refused

    refused = run(scenario)
    assert refused.check(error.BadFileError)
    assert ".lock" in str(refused.value)


def test_half_close_both_ways(reactor, run, tmp_path):
    path = str(tmp_path / "half.sock")

    class HalfRecorder(Recorder):
        def readConnectionLost(self):
            self.transport.write(b"bye")
            self.transport.loseConnection()

        def writeConnectionLost(self):
            pass

    classImplements(HalfRecorder, IHalfCloseableProtocol)

    async def scenario():
        sfactory = RecordingFactory(HalfRecorder)
        port = reactor.listenUNIX(path, sfactory)
        cfactory = RecordingFactory(HalfRecorder)
        reactor.connectUNIX(path, cfactory)
        client = await cfactory.next_built
        await client.made
        server = await sfactory.next_built
        await server.made
        client.transport.write(b"request")
        client.transport.loseWriteConnection()
        reason = await server.lost
        await client.lost
        await port.stopListening()
        return bytes(server.data), bytes(client.data), reason

    sdata, cdata, reason = run(scenario)
    assert sdata == b"request"
    assert cdata == b"bye"
    assert reason.check(error.ConnectionDone)


def test_peer_that_never_reads_pauses_a_push_producer(reactor, run, tmp_path):
    """Flow control as on TCP: a producer is paused while the Unix peer does not read."""
    path = str(tmp_path / "flow.sock")
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    class Firehose:
        def __init__(self, transport):
            self.transport = transport
            self.paused = False
            self.pauses = 0

        def pauseProducing(self):
            self.paused = True
            self.pauses += 1

        def resumeProducing(self):
            self.paused = False

        def stopProducing(self):
            self.paused = True

    async def scenario():
        factory = RecordingFactory(Recorder)
        port = reactor.listenUNIX(path, factory)
        raw.connect(path)
        server = await factory.next_built
        transport = await server.made
        hose = Firehose(transport)
        transport.registerProducer(hose, True)
        written = 0
        while not hose.paused and written < 50_000_000:
            transport.write(b"x" * 65536)
            written += 65536
        buffered = transport.getBufferSize()
        raw.close()
        await server.lost
        await port.stopListening()
        return hose.pauses, written, buffered, transport.high_water

    try:
        pauses, written, buffered, high = run(scenario)
    finally:
        raw.close()
    assert pauses == 1
    assert written < 50_000_000
    assert high < buffered <= high + 65536


def test_exception_in_data_received_is_logged_and_the_loop_goes_on(reactor, run, tmp_path, caplog):
    path = str(tmp_path / "boom.sock")

    class Boom(Protocol):
        def dataReceived(self, data):
            raise RuntimeError("boom in user code")

    async def scenario():
        port = reactor.listenUNIX(path, Factory.forProtocol(Boom))
        await in_thread(reactor, blocking_echo_client, path, b"trigger")
        # The port still accepts and serves after the error.
        again = reactor.listenUNIX(str(tmp_path / "after.sock"), Factory.forProtocol(HalfCloseEcho))
        got = await in_thread(reactor, blocking_echo_client, str(tmp_path / "after.sock"), b"still alive")
        await port.stopListening()
        await again.stopListening()
        return got

    with caplog.at_level(logging.ERROR):
        assert run(scenario) == b"still alive"
    assert any("boom in user code" in (r.exc_text or "") or (r.exc_info and "boom" in str(r.exc_info[1]))
               for r in caplog.records)


def test_bad_arguments_are_refused_clearly(reactor, tmp_path):
    with pytest.raises(TypeError):
        reactor.listenUNIX(1234, EchoFactory())
    with pytest.raises(ValueError):
        reactor.listenUNIX("", EchoFactory())
    with pytest.raises(ValueError):
        reactor.listenUNIX("a\0b", EchoFactory())
    with pytest.raises(ValueError):
        reactor.listenUNIX(str(tmp_path / "m.sock"), EchoFactory(), mode="0666")
    with pytest.raises(TypeError):
        reactor.connectUNIX(None, RecordingFactory())
    with pytest.raises(error.CannotListenError) as caught:
        reactor.listenUNIX(str(tmp_path / ("x" * 200)), EchoFactory())  # longer than sun_path
    assert "unix:" in str(caught.value)
    with pytest.raises(error.CannotListenError):
        reactor.listenUNIX(str(tmp_path / "no-such-dir" / "s.sock"), EchoFactory())


def test_path_objects_are_accepted_and_stop_removes_the_file(reactor, run, tmp_path):
    path = tmp_path / "pathlike.sock"

    async def scenario():
        port = reactor.listenUNIX(path, Factory.forProtocol(HalfCloseEcho))
        existed = path.exists()
        got = await in_thread(reactor, blocking_echo_client, str(path), b"pathlib")
        await port.stopListening()
        return existed, got

    existed, got = run(scenario)
    assert existed and got == b"pathlib"
    assert not path.exists()


def test_connect_timeout_while_the_listener_queue_is_full(reactor, run, tmp_path):
    path = str(tmp_path / "full.sock")
    full = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    full.bind(path)
    full.listen(0)
    fillers = []
    try:
        for _ in range(8):  # fill the backlog (never accepted)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(path)
            except BlockingIOError:
                s.close()
                break
            fillers.append(s)

        async def scenario():
            factory = RecordingFactory(Recorder)
            reactor.connectUNIX(path, factory, timeout=0.3)
            started = reactor.seconds()
            reason = await factory.failed
            return reason, reactor.seconds() - started

        reason, took = run(scenario)
    finally:
        for s in fillers:
            s.close()
        full.close()
    assert reason.check(error.TimeoutError)
    assert 0.25 <= took < 3


def test_traced_like_tcp(reactor, run, tmp_path):
    """The trace sees the port and both ends with their Unix names, the bytes, and a
    failed connect with its reason, as it does for TCP."""
    from inspector import trace as trace_module
    from inspector.trace import events as ev

    path = str(tmp_path / "traced.sock")
    missing = str(tmp_path / "missing.sock")
    tracer = trace_module.enable()
    try:
        async def scenario():
            port = reactor.listenUNIX(path, Factory.forProtocol(HalfCloseEcho))
            got = await in_thread(reactor, blocking_echo_client, path, b"traced bytes")
            factory = RecordingFactory(Recorder)
            reactor.connectUNIX(missing, factory)
            await factory.failed
            await deferLater(reactor, 0.02, lambda: None)
            await port.stopListening()
            return got

        assert run(scenario) == b"traced bytes"
        tracer.sync()
        events = tracer.trace.events()
    finally:
        trace_module.disable()
    opened = [e for e in events if isinstance(e, ev.ConnectionOpened)]
    server = next(e for e in opened if e.role == "server")
    assert server.local == f"unix:{path}" and server.peer == "unix:(unnamed)"
    attempt = next(e for e in opened if e.role == "client")
    assert attempt.peer == f"unix:{missing}"
    assert attempt.transport == "unix"  # a failed Unix connect is not listed as TCP
    closed = next(e for e in events if isinstance(e, ev.ConnectionClosed) and e.conn == attempt.conn)
    assert closed.reason_type == "BadFileError"
    assert [e.address for e in events if isinstance(e, ev.PortStarted)] == [f"unix:{path}"]
    assert any(isinstance(e, ev.PortStopped) for e in events)
    assert sum(e.size for e in events if isinstance(e, ev.BytesIn) and e.conn == server.conn) == 12


def test_traced_unix_connections_are_named_unix_not_tcp(reactor, run, tmp_path):
    """The trace's connection-opened events say a Unix connection's transport is
    ``unix`` (both ends, and the client's attempt while connecting), so the window
    does not list it as TCP."""
    from inspector import trace as trace_module
    from inspector.trace import events as ev

    path = str(tmp_path / "kind.sock")
    tracer = trace_module.enable()
    try:
        async def scenario():
            port = reactor.listenUNIX(path, Factory.forProtocol(HalfCloseEcho))
            factory = RecordingFactory(Recorder)
            reactor.connectUNIX(path, factory)
            client = await factory.next_built
            transport = await client.made
            transport.loseConnection()
            await client.lost
            await deferLater(reactor, 0.02, lambda: None)
            await port.stopListening()

        run(scenario)
        tracer.sync()
        events = tracer.trace.events()
    finally:
        trace_module.disable()
    # Both ends once connected (the client's attempt has its own event, with no protocol yet).
    connected = [e for e in events if isinstance(e, ev.ConnectionOpened) and e.protocol]
    assert sorted(e.role for e in connected) == ["client", "server"]
    assert [e.transport for e in connected] == ["unix", "unix"]
    # The attempt too, from its "connecting" event on (it said "tcp" before).
    attempts = [e for e in events if isinstance(e, ev.ConnectionOpened) and not e.protocol]
    assert [(e.role, e.transport) for e in attempts] == [("client", "unix")]


def test_out_of_descriptors_a_unix_port_backs_off_like_tcp(reactor, run, tmp_path, caplog):
    """While accept fails with EMFILE a Unix port warns once, retries with TCP's growing
    pause, serves the waiting client once accepts work, and says once that it recovered."""
    import errno

    path = str(tmp_path / "limit.sock")
    port = reactor.listenUNIX(path, EchoFactory())
    port.accept_calm = 0.1  # the episode ends 0.1 s after accepts work again
    real_accept = port._accept
    failures = [3]  # accept attempts that fail before descriptors are "free" again

    def exhausted_accept():
        if failures[0]:
            failures[0] -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return real_accept()

    port._accept = exhausted_accept

    async def scenario():
        got = await in_thread(reactor, blocking_echo_client, path, b"after the limit")
        await deferLater(reactor, 0.3, lambda: None)  # past the calm period
        await port.stopListening()
        return got

    with caplog.at_level(logging.INFO, logger="inspector.unix"):
        assert run(scenario, timeout=10) == b"after the limit"
    messages = [r.getMessage() for r in caplog.records if r.name == "inspector.unix"]
    assert failures == [0]
    assert messages[0] == (f"too many open files: not accepting on unix:{path} for now "
                           "(retrying every 0.05-1 s until it works)"), messages
    assert messages[1].startswith(f"accepting on unix:{path} again after "), messages
    assert messages[1].endswith("(3 accept attempts failed: too many open files)"), messages
    assert len(messages) == 2, messages


def test_endpoint_strings(reactor, run, tmp_path):
    from inspector.endpoints import (
        UNIXClientEndpoint,
        UNIXServerEndpoint,
        clientFromString,
        serverFromString,
    )

    path = str(tmp_path / "endpoint.sock")

    async def scenario():
        server = serverFromString(reactor, f"unix:{path}:mode=600:lockfile=1")
        assert isinstance(server, UNIXServerEndpoint)
        port = await server.listen(Factory.forProtocol(Echo))
        mode = stat.S_IMODE(os.stat(path).st_mode)
        locked = os.path.lexists(path + ".lock")
        client = clientFromString(reactor, f"unix:path={path}:timeout=5:lockfile=1")
        assert isinstance(client, UNIXClientEndpoint)
        protocol = await client.connect(Factory.forProtocol(Recorder))
        protocol.transport.write(b"via endpoints")
        await protocol.wait_for(13)
        protocol.transport.loseConnection()
        await protocol.lost
        try:
            await clientFromString(reactor, f"unix:{tmp_path / 'none.sock'}").connect(Factory.forProtocol(Recorder))
        except error.BadFileError as exc:
            missing = exc
        await port.stopListening()
        return mode, locked, bytes(protocol.data), missing

    mode, locked, data, missing = run(scenario)
    assert (mode, locked, data) == (0o600, True, b"via endpoints")
    assert "none.sock" in str(missing)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the abstract namespace is Linux's")
def test_endpoint_strings_for_the_abstract_namespace(reactor, run):
    from inspector.endpoints import clientFromString, serverFromString

    name = f"inspector-endpoint-{uuid.uuid4().hex}"

    async def scenario():
        port = await serverFromString(reactor, f"unix:@{name}").listen(Factory.forProtocol(Echo))
        protocol = await clientFromString(reactor, f"unix:@{name}").connect(Factory.forProtocol(Recorder))
        protocol.transport.write(b"abstract")
        await protocol.wait_for(8)
        protocol.transport.loseConnection()
        await protocol.lost
        await port.stopListening()
        return port.getHost()

    assert run(scenario) == UNIXAddress("\0" + name)


def test_bad_endpoint_strings_say_what_is_wrong():
    from inspector.endpoints import clientFromString, serverFromString

    for text, words in [
        ("unix:", "needs a socket path"),
        ("unix:/tmp/x:mode=9z", "octal"),
        ("unix:/tmp/x:lockfile=yes", "0 or 1"),
        ("unix:/tmp/x:colour=red", "unknown option"),
    ]:
        with pytest.raises(ValueError, match=words):
            serverFromString(None, text)
    with pytest.raises(ValueError, match="needs a socket path"):
        clientFromString(None, "unix:timeout=3")
    with pytest.raises(ValueError, match="timeout"):
        clientFromString(None, "unix:/tmp/x:timeout=-1")
