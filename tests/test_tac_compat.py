"""Twisted ``.tac`` files under ``inspector run``: the finger tutorial's shapes with imports changed.

``examples/finger_components.tac`` uses what the tutorial's later steps use:
``service.IServiceCollection(application)``, ``strports.service``, ``internet.TCPServer``,
``MultiService``, ``setServiceParent`` and ``components.registerAdapter`` with
``IFingerService``-style interfaces. It runs as a user runs it (a subprocess, on every
reactor) and is talked to over loopback. The services added for ``.tac`` files
(``TimerService``, ``UDPServer``) are tested on every reactor in process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from inspector.application import internet, service, strports
from inspector.defer import Deferred, maybeDeferred
from inspector.protocol import DatagramProtocol, Factory, Protocol

from apps_support import in_thread
from reactor_support import REACTOR_NAMES, free_port

ROOT = Path(__file__).resolve().parent.parent
FINGER_TAC = ROOT / "examples" / "finger_components.tac"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX signals")


def environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **extra}
    env.pop("INSPECTOR_REACTOR", None)  # each test names its reactor with --reactor
    return env


def start(*args: str, cwd: Path = ROOT, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "inspector", *args], cwd=cwd, env=environment(**extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def exchange(port: int, process: subprocess.Popen[str], data: bytes, deadline: float = 30) -> bytes:
    """Send ``data`` once the program listens on ``port``; everything it answers until it hangs up."""
    end = time.monotonic() + deadline
    while True:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"exited with {process.returncode} before listening:\n{out}\n{err}")
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except OSError:
            if time.monotonic() > end:
                process.kill()
                pytest.fail(f"nothing listened on port {port} within {deadline}s")
            time.sleep(0.05)
    with sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    return received


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"did not stop on SIGINT:\n{err}")
    return process.returncode, err


@pytest.mark.parametrize("reactor_name", REACTOR_NAMES)
def test_the_tutorial_shaped_finger_tac_serves_over_loopback(reactor_name: str) -> None:
    finger, setter = free_port(), free_port()
    process = start("run", str(FINGER_TAC), "--headless", "--reactor", reactor_name,
                    FINGER_PORT=str(finger), SETTER_PORT=str(setter))
    try:
        # strports.service + the adapter registered from IFingerService to IFingerFactory
        assert exchange(finger, process, b"moshez\r\n") == b"Happy and well\r\n"
        assert exchange(finger, process, b"nobody\r\n") == b"No such user\r\n"
        # internet.TCPServer + the second adapter, sharing the one service's users
        assert exchange(setter, process, b"moshez\r\nat lunch\r\n") == b"ok\r\n"
        assert exchange(finger, process, b"moshez\r\n") == b"at lunch\r\n"
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "finger_components.tac running" in err


def test_a_strports_service_on_a_busy_port_names_the_port_and_exits_1(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        (tmp_path / "busy.tac").write_text(textwrap.dedent(f"""
            from inspector import protocol
            from inspector.application import service, strports

            application = service.Application("busy")
            strports.service("tcp:{port}:interface=127.0.0.1", protocol.Factory()).setServiceParent(
                service.IServiceCollection(application))
        """))
        result = subprocess.run([sys.executable, "-m", "inspector", "run", "busy.tac", "--headless"], cwd=tmp_path,
                                env=environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on port {port}" in result.stderr, result.stderr


def test_a_bad_strports_description_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "typo.tac").write_text(textwrap.dedent("""
        from inspector import protocol
        from inspector.application import service, strports

        application = service.Application("typo")
        strports.service("tcp:eighty", protocol.Factory()).setServiceParent(application)
    """))
    result = subprocess.run([sys.executable, "-m", "inspector", "run", "typo.tac", "--headless"], cwd=tmp_path,
                            env=environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("inspector run: error: typo.tac: ValueError while importing:"), result.stderr
    assert "eighty" in last


def test_the_application_modules_are_the_frameworks_own_classes() -> None:
    """A .tac mixing ``inspector.service`` and ``inspector.application`` gets one set of classes."""
    import inspector.service as core

    assert service.Application is core.Application and service.MultiService is core.MultiService
    assert internet.TCPServer is core.TCPServer and internet.ClientService is core.ClientService
    application = service.Application("finger", uid=1, gid=1)
    assert service.IServiceCollection(application) is application
    assert (application.uid, application.gid) == (1, 1)


# ------------------------------------------------------------- services added for .tac files


def test_timer_service_calls_at_start_and_every_step_until_stopped(reactor: Any, run: Any) -> None:
    calls: list[str] = []
    enough: Deferred = Deferred()

    def tick(word: str) -> None:
        calls.append(word)
        if len(calls) == 3:
            enough.callback(None)

    timer = internet.TimerService(0.01, tick, "tick")
    timer.clock = reactor

    def scenario() -> Deferred:
        timer.startService()
        assert calls == ["tick"]  # the first call is at start, as in Twisted
        return enough.addCallback(lambda _: timer.stopService())

    run(scenario)
    assert calls == ["tick"] * 3 and not timer.running


def test_timer_service_logs_a_failing_call_and_stops_ticking(reactor: Any, run: Any,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("the user's bug")

    timer = internet.TimerService(0.01, broken)
    timer.clock = reactor

    def scenario() -> Deferred:
        timer.startService()
        settled: Deferred = Deferred()
        reactor.callLater(0.1, settled.callback, None)
        return settled.addCallback(lambda _: timer.stopService())

    with caplog.at_level("ERROR", logger="inspector.service"):
        run(scenario)
    assert calls == [1]
    assert "the user's bug" in caplog.text and "RuntimeError" in caplog.text


class Echo(DatagramProtocol):
    def datagramReceived(self, data: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.transport.write(b"echo " + data, addr)


class Asker(DatagramProtocol):
    def __init__(self, answer: Deferred) -> None:
        self.answer = answer

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        if not self.answer.called:
            self.answer.callback(data)


def test_udp_server_answers_datagrams_while_running(reactor: Any, run: Any) -> None:
    server = internet.UDPServer(0, Echo(), reactor=reactor)
    answer: Deferred = Deferred()

    def scenario() -> Deferred:
        server.privilegedStartService()
        server.startService()
        port = server.getHost().port
        asking = reactor.listenUDP(0, Asker(answer))
        asking.write(b"hello", ("127.0.0.1", port))

        def finish(data: bytes) -> Deferred:
            asking.stopListening()
            return maybeDeferred(server.stopService).addCallback(lambda _: data)

        return answer.addCallback(finish)

    assert run(scenario) == b"echo hello"
    assert not server.running
    with pytest.raises(RuntimeError, match="not listening"):
        server.getHost()


def test_strports_service_listens_while_running_and_stops(reactor: Any, run: Any) -> None:

    class Hello(Protocol):
        def connectionMade(self) -> None:
            assert self.transport is not None
            self.transport.write(b"hello\r\n")
            self.transport.loseConnection()

    listening = strports.service("tcp:0:interface=127.0.0.1", Factory.forProtocol(Hello), reactor=reactor)
    parent = service.MultiService()
    listening.setServiceParent(parent)

    def read(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            data = b""
            while chunk := sock.recv(100):
                data += chunk
            return data

    def scenario() -> Deferred:
        parent.privilegedStartService()
        parent.startService()
        port = listening.port.getHost().port
        return in_thread(reactor, read, port).addCallback(
            lambda data: parent.stopService().addCallback(lambda _: (data, port)))

    data, port = run(scenario)
    assert data == b"hello\r\n"
    with socket.socket() as probe:  # stopped: the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_a_tac_bot_kept_connected_by_client_service_reaches_a_plain_socket_server(tmp_path: Path) -> None:
    """finger17's IRC bot shape: ``internet.ClientService(endpoints.clientFromString(reactor, ...), f)``."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)
        port = listener.getsockname()[1]
        (tmp_path / "bot.tac").write_text(textwrap.dedent(f"""
            from inspector import endpoints, protocol
            from inspector.application import internet, service
            from inspector.protocols import basic
            from inspector.reactors import default_reactor

            reactor = default_reactor()

            class Bot(basic.LineReceiver):
                def connectionMade(self):
                    self.sendLine(b"hello from " + self.factory.nickname)

                def lineReceived(self, line):
                    self.sendLine(b"you said " + line)

            f = protocol.ClientFactory()
            f.protocol = Bot
            f.nickname = b"fingerbot"
            application = service.Application("bot")
            internet.ClientService(endpoints.clientFromString(reactor, "tcp:127.0.0.1:{port}"), f).setServiceParent(
                service.IServiceCollection(application))
        """))
        process = start("run", "bot.tac", "--headless", cwd=tmp_path)
        try:
            conn, _ = listener.accept()
            with conn, conn.makefile("rwb") as peer:
                assert peer.readline() == b"hello from fingerbot\r\n"
                peer.write(b"ping\r\n")
                peer.flush()
                assert peer.readline() == b"you said ping\r\n"
        finally:
            code, err = stop(process)
    assert code == 0, err


def test_registering_an_adapter_twice_in_a_tac_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "twice.tac").write_text(textwrap.dedent("""
        from zope.interface import Interface
        from inspector import components
        from inspector.application import service

        class IUsers(Interface):
            pass

        class IFingerFactory(Interface):
            pass

        class FromUsers:
            def __init__(self, users):
                self.users = users

        components.registerAdapter(FromUsers, IUsers, IFingerFactory)
        components.registerAdapter(FromUsers, IUsers, IFingerFactory)
        application = service.Application("twice")
    """))
    result = subprocess.run([sys.executable, "-m", "inspector", "run", "twice.tac", "--headless"], cwd=tmp_path,
                            env=environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("inspector run: error: twice.tac: AdapterRegistrationError while importing: "), last
    assert "from IUsers to IFingerFactory was already registered" in last
    assert 'twice.tac", line 17' in result.stderr  # the user's own line, in the trimmed traceback
