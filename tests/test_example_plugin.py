"""``examples/greeting_plugin`` installed with pip, used as a person would from the README.

The distribution is built and installed by pip into a temporary ``--target`` directory
(its real ``.dist-info`` entry points, nothing monkeypatched), which is put on the
``PYTHONPATH`` of the ``inspector`` subprocesses: ``serve greeting`` and ``connect
greeting`` talk over loopback on every reactor, ``--record`` then ``open --decode
CONN:greeting`` prints the decoded messages, ``--help`` lists the parameters, and the
window's launcher offers it.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from apps_support import in_thread
from reactor_support import REACTOR_NAMES, free_port

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "examples" / "greeting_plugin"


def pip_install(source: Path, target: Path, isolated: bool) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--disable-pip-version-check",
               "--target", str(target), str(source)]
    if not isolated:
        command.insert(5, "--no-build-isolation")
    return subprocess.run(command, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory pip installed the example distribution into.

    A copy of the source is built, so pip's build files never land in the checkout.
    Without build isolation first (the installed setuptools); when that setuptools
    cannot build a wheel by itself (no ``wheel`` package), with isolation, which takes
    setuptools and wheel from the configured indexes.
    """
    root = tmp_path_factory.mktemp("greeting")
    source = root / "greeting_plugin"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    target = root / "site"
    attempts = []
    for isolated in (False, True):
        result = pip_install(source, target, isolated)
        if result.returncode == 0:
            return target
        attempts.append(result.stderr.strip().splitlines()[-1:] or ["(no output)"])
        shutil.rmtree(target, ignore_errors=True)
    pytest.skip(f"pip cannot build examples/greeting_plugin here: {attempts}")


def environment(site: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(site), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("INSPECTOR_REACTOR", None)  # each command names its reactor
    return env


def inspector(site: Path, *args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inspector", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env=environment(site), cwd=cwd)


def wait_for_line(process: subprocess.Popen[bytes], text: str, deadline: float = 30) -> str:
    """Read the process's standard error until it holds ``text``; what was read so far.

    Read with ``os.read`` on the descriptor, never a buffered reader, so that readiness
    and what is buffered cannot disagree.
    """
    assert process.stderr is not None
    fd = process.stderr.fileno()
    seen = b""
    end = time.monotonic() + deadline
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while text.encode() not in seen:
            left = end - time.monotonic()
            if left <= 0 or not selector.select(left):
                process.kill()
                pytest.fail(f"no {text!r} within {deadline}s:\n{seen.decode(errors='replace')}")
            chunk = os.read(fd, 65536)
            if not chunk:
                process.wait(10)
                pytest.fail(f"exited with {process.returncode} before {text!r}:\n{seen.decode(errors='replace')}")
            seen += chunk
    return seen.decode(errors="replace")


@pytest.fixture
def server(site: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``start(*args)`` runs an inspector server command until it logs that it is running."""
    running: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "inspector", *args], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=environment(site))
        running.append(process)
        wait_for_line(process, "running; press Ctrl-C to stop")
        return process

    yield start
    for process in running:
        if process.poll() is None:
            process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_connect_and_serve_help_list_the_plugins_parameters(site: Path) -> None:
    shown = inspector(site, "connect", "greeting", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "Greeting client: Says HELLO with a name" in shown.stdout
    for option in ("--host STR", "--port INT", "--name STR", "--timeout FLOAT"):
        assert option in shown.stdout
    assert "the first name to be greeted (default: world)" in shown.stdout
    served = inspector(site, "serve", "greeting", "--help")
    assert served.returncode == 0 and "--greeting STR" in served.stdout
    assert "greeting" in inspector(site, "serve", "--help").stdout  # listed with the built-ins
    bad = inspector(site, "serve", "greeting", "--greeting", "  ")
    assert bad.returncode == 2 and "greeting: cannot be blank" in bad.stderr


@pytest.mark.parametrize("reactor_name", REACTOR_NAMES)
def test_serve_and_connect_talk_and_the_recording_decodes(site: Path, server: Any, tmp_path: Path,
                                                         reactor_name: str) -> None:
    port = free_port()
    server("serve", "greeting", "--port", str(port), "--greeting", "Hi", "--reactor", reactor_name)
    talked = inspector(site, "connect", "greeting", "--port", str(port), "--name", "alice", "--reactor",
                       reactor_name, "--record", "rec.jsonl", stdin="bob\ncarol\n", cwd=tmp_path)
    assert talked.returncode == 0, talked.stderr
    assert talked.stdout == "Hi, alice!\nHi, bob!\nHi, carol!\n"

    decoded = inspector(site, "open", "rec.jsonl", "--decode", "1:greeting", cwd=tmp_path)
    assert decoded.returncode == 0, decoded.stderr
    messages = [line.split(maxsplit=1)[1] for line in decoded.stdout.splitlines()]
    said = [m for m in messages if m.startswith("out")]
    heard = [m for m in messages if m.startswith("in")]
    assert said == ["out HELLO      HELLO alice", "out HELLO      HELLO bob", "out HELLO      HELLO carol",
                    "out BYE        BYE"]
    assert heard == ["in  GREETING   GREETING Hi, alice!", "in  GREETING   GREETING Hi, bob!",
                     "in  GREETING   GREETING Hi, carol!", "in  BYE        BYE"]


def test_a_refused_connection_fails_the_client_with_a_reason(site: Path) -> None:
    refused = inspector(site, "connect", "greeting", "--port", str(free_port()))
    assert refused.returncode == 1
    assert "could not connect" in refused.stderr and refused.stdout == ""


def test_a_server_that_never_answers_fails_the_client_after_its_timeout(site: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections complete in the backlog, unanswered
        port = silent.getsockname()[1]
        started = time.monotonic()
        waited = inspector(site, "connect", "greeting", "--port", str(port), "--timeout", "0.5")
        took = time.monotonic() - started
    assert waited.returncode == 1
    assert f"no greeting from 127.0.0.1:{port} within 0.5 s (--timeout)" in waited.stderr, waited.stderr
    assert took < 30


def test_the_plugins_make_service_runs_under_inspector_run(site: Path, server: Any) -> None:
    port = free_port()
    server("run", "greeting.service", "--headless", "--", "--port", str(port), "--greeting", "Hey")
    talked = inspector(site, "connect", "greeting", "--port", str(port))
    assert talked.returncode == 0, talked.stderr
    assert talked.stdout == "Hey, world!\n"


def test_the_dissector_reports_a_broken_message_and_gives_the_same_result_in_pieces(site: Path) -> None:
    script = """
import sys
from inspector import dissect
stream = b"11:HELLO alice,19:GREETING Hi, alice!,3:hi!,3:BYE,5:HELLO"
for size in (1, 3, len(stream)):
    d = dissect.create("greeting")
    found = []
    for start in range(0, len(stream), size):
        found += d.feed("out", stream[start:start + size])
    found += d.flush()
    print(size, [(m.kind, m.summary) for m in found])
"""
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env=environment(site))
    assert ran.returncode == 0, ran.stderr
    results = [line.split(" ", 1)[1] for line in ran.stdout.splitlines()]
    assert len(results) == 3 and len(set(results)) == 1  # the same however the stream was cut
    assert "('HELLO', 'HELLO alice')" in results[0] and "('GREETING', 'GREETING Hi, alice!')" in results[0]
    assert "('error', \"not a greeting message: no verb at the start of 'hi!'\")" in results[0]
    assert "('BYE', 'BYE')" in results[0] and "('incomplete'," in results[0]


LAUNCHER = """
import sys
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from inspector import reactors
app = QApplication([])
reactor = reactors.install("qt")
from inspector.ui.panels.launcher import LauncherPanel
settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
panel = LauncherPanel(reactor, settings)
panel.show()
print([panel.entry_box.itemText(i) for i in range(panel.entry_box.count())])
panel.entry_box.setCurrentIndex(panel.entry_box.findText("Greeting server (TCP)"))
print(panel.description.text())
print(sorted(panel.fields))
port = panel.fields["port"]
port.selectAll()
QTest.keyClicks(port, "0")
QTest.keyClicks(panel.fields["greeting"], "!")
QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
print([service.handle.description for service in panel.running()], repr(panel.error.text()))
"""


def test_the_launcher_offers_and_starts_the_plugins_entries(site: Path, tmp_path: Path) -> None:
    ran = subprocess.run([sys.executable, "-c", LAUNCHER, str(tmp_path / "settings.ini")], capture_output=True,
                         text=True, timeout=60, env=environment(site))
    assert ran.returncode == 0, ran.stderr
    items, description, fields, started = ran.stdout.splitlines()[-4:]
    assert "'Greeting server (TCP)'" in items and "'Greeting client (TCP)'" in items
    assert "Echo server (TCP)" in items  # the built-ins are still there
    assert "Answers HELLO name with a greeting" in description
    assert fields == "['greeting', 'interface', 'port']"
    assert started.startswith("['greeting server on 127.0.0.1:") and started.endswith("/tcp'] ''"), started


@pytest.fixture
def greeting_source(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The example's package imported from its source (no .dist-info: no plug-in is registered)."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    import greeting.protocol

    yield greeting.protocol
    for name in [name for name in sys.modules if name == "greeting" or name.startswith("greeting.")]:
        del sys.modules[name]


def test_the_greeting_server_answers_a_plain_socket_peer(reactor: Any, run: Any, greeting_source: Any) -> None:
    def netstring(payload: bytes) -> bytes:
        return str(len(payload)).encode() + b":" + payload + b","

    def talk(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for payload in (b"HELLO alice", b"HELLO ", b"SHOUT hi", b"\xff", b"BYE"):
                sock.sendall(netstring(payload))
            received = b""
            while chunk := sock.recv(4096):  # the server hangs up after BYE
                received += chunk
            return received

    def scenario() -> Any:
        port = reactor.listenTCP(0, greeting_source.GreetingFactory("Good day"), interface="127.0.0.1")

        def finished(result: Any) -> Any:
            port.stopListening()
            return result

        return in_thread(reactor, talk, port.getHost().port).addBoth(finished)

    assert run(scenario) == b"".join(netstring(p) for p in (
        b"GREETING Good day, alice!", b"ERROR HELLO needs a name", b"ERROR unknown verb SHOUT",
        b"ERROR bad message: not UTF-8", b"BYE"))
