"""Catalogue plug-ins found through real ``.dist-info`` entry points on ``sys.path``:
their entries reach ``inspector serve`` / ``inspector connect`` with their parameters and
validation, and a broken plug-in is reported once and skipped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

GREET_MODULE = '''
"""A user's protocol, written against inspector.catalog's public API only."""
from inspector.catalog import Entry, Param, check_port, listen_tcp, one_shot
from inspector.defer import Deferred
from inspector.protocol import ClientFactory, Factory, Protocol


def check_greeting(value):
    if not value.strip():
        raise ValueError("a greeting cannot be blank")


class Greeter(Protocol):
    def connectionMade(self):
        self.transport.write(self.factory.greeting.encode() + b"\\n")
        self.transport.loseConnection()


def start_server(entry, reactor, port, interface, greeting):
    factory = Factory.forProtocol(Greeter)
    factory.greeting = greeting
    return listen_tcp(entry, reactor, factory, port, interface, None)


class Listener(Protocol):
    def __init__(self, done):
        self.done, self.data = done, b""

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason=None):
        self.done.callback(self.data.decode().strip())


def start_client(entry, reactor, host, port):
    done = Deferred()

    class Once(ClientFactory):
        def buildProtocol(self, addr):
            return Listener(done)

        def clientConnectionFailed(self, connector, reason):
            done.errback(reason)

    reactor.connectTCP(host, port, Once())
    return one_shot(entry, f"greet client to {host}:{port}", done, str)


def entries():
    port = Param("port", "int", 7777, "port of the greeter", check_port)
    return [
        Entry("greet", "server", "tcp", "Greet server", "Says a greeting and hangs up.",
              (port, Param("interface", "str", "127.0.0.1", "address to listen on"),
               Param("greeting", "str", "hello", "what to say", check_greeting)), start_server),
        Entry("greet", "client", "tcp", "Greet client", "Hears one greeting.",
              (Param("host", "str", "127.0.0.1", "greeter host"), port), start_client),
    ]
'''


def distribution(root: Path, name: str, points: str, modules: dict[str, str]) -> None:
    """Install ``name`` the way pip leaves it: its modules plus a ``.dist-info`` directory."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[inspector.catalog]\n{points}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


def environment(root: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(root), "QT_QPA_PLATFORM": "offscreen"}
    if "," in env.get("INSPECTOR_REACTOR", ""):
        del env["INSPECTOR_REACTOR"]  # the suite takes a list; the command one name
    return env


def inspector(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inspector", *args], capture_output=True, text=True,
                          timeout=60, env=environment(root))


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def test_plugin_entry_has_help_validation_and_runs(tmp_path: Path) -> None:
    distribution(tmp_path, "greetplug", "greet = greet_catalog:entries", {"greet_catalog": GREET_MODULE})
    shown = inspector(tmp_path, "serve", "greet", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "Greet server: Says a greeting" in shown.stdout and "--greeting STR" in shown.stdout
    assert "what to say (default: hello)" in shown.stdout
    assert "--port INT" in inspector(tmp_path, "connect", "greet", "--help").stdout
    bad = inspector(tmp_path, "serve", "greet", "--greeting", " ")
    assert bad.returncode == 2 and "a greeting cannot be blank" in bad.stderr

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "inspector", "serve", "greet", "--port", str(port), "--greeting", "hi there"],
        stderr=subprocess.PIPE, text=True, env=environment(tmp_path))
    try:
        deadline = time.monotonic() + 30
        while True:
            heard = inspector(tmp_path, "connect", "greet", "--port", str(port))
            if heard.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert heard.returncode == 0, heard.stderr
    assert heard.stdout == "hi there\n"
    assert server.returncode == 0, err


def test_broken_plugins_are_reported_once_and_skipped(tmp_path: Path) -> None:
    distribution(tmp_path, "greetplug", "greet = greet_catalog:entries", {"greet_catalog": GREET_MODULE})
    distribution(tmp_path, "brokenplug", "broken = broken_catalog:entries",
                 {"broken_catalog": "raise RuntimeError('plug-in bug at import')\n"})
    distribution(tmp_path, "junkplug", "junk = junk_catalog:entries",
                 {"junk_catalog": "def entries():\n    return [42]\n"})
    shown = inspector(tmp_path, "serve", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "greet" in shown.stdout and "echo" in shown.stdout  # the others still load
    assert shown.stderr.count("brokenplug") == 1, shown.stderr
    assert "RuntimeError: plug-in bug at import" in shown.stderr
    assert shown.stderr.count("junkplug") == 1 and "returned a int, not an inspector.catalog.Entry" in shown.stderr
    # The built-ins still run with broken plug-ins around.
    echo = inspector(tmp_path, "connect", "echo", "--help")
    assert echo.returncode == 0 and "--reply-timeout" in echo.stdout
