"""The Qt reactor's fast paths keep their promises: nested loops two deep, handler errors,
and a dispatch that stays cheap without giving up the re-entry guard.

The guard costs one store per handler outside nested loops; a nested loop records the
handler that opened it, so every handler further up the stack stays protected however
deep the dialogs go. Real loopback sockets and real (offscreen) dialogs throughout.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

pytest.importorskip("PySide6")

import test_reactor_qt
from PySide6.QtWidgets import QDialog
from test_reactor_qt import Pinger, Watchdog, connect, run_until  # the Qt suite's helpers

from inspector.defer import Deferred, inlineCallbacks
from inspector.protocol import Factory, Protocol
from inspector.reactors.qt import QtReactor

CHUNKS = 60

# The Qt suite's fixtures: a reactor on each readiness path, and (autouse) dialogs that
# do not quit the application.
qt_reactor = test_reactor_qt.qt_reactor
_dialogs_do_not_quit_the_application = test_reactor_qt._dialogs_do_not_quit_the_application


class Chunks(Protocol):
    """Sends numbered 4-byte chunks (the first at once, the rest on request); ``done``
    fires with everything echoed back once all have returned."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.received = b""
        self.expected = b"".join(b"%04d" % i for i in range(CHUNKS))
        self.done: Deferred = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(b"%04d" % 0)

    def keep_sending(self) -> None:
        for i in range(1, CHUNKS):
            self.reactor.callLater(0.002 * i, self.transport.write, b"%04d" % i)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if len(self.received) >= len(self.expected) and not self.done.called:
            self.done.callback(self.received)


def test_two_nested_dialogs_from_two_connections_reenter_neither(qt_reactor: Any) -> None:
    """Connection A's dataReceived opens a dialog; under it connection B's opens a second.
    While both are up their peers keep sending and a third client pings: A and B are never
    re-entered, the third client finishes inside the inner dialog, and A's and B's bytes
    all come back in order once the dialogs close."""
    reactor = qt_reactor
    report: dict[str, Any] = {"reentered": [], "dialogs": [], "inner_count": None}
    senders: list[Chunks] = []
    third = Pinger(100)

    def close_when(done: Deferred, dialog: QDialog) -> None:
        def close(result: Any) -> Any:
            reactor.callLater(0.01, dialog.accept)
            return result

        done.addCallback(close)

    class Asker(Protocol):
        """Echoes; the first two connections' first data each open a dialog."""

        depth = 0

        def dataReceived(self, data: bytes) -> None:
            if self.depth:
                report["reentered"].append(self)
            self.depth += 1
            try:
                self.transport.write(data)
                if len(report["dialogs"]) < 2 and self not in report["dialogs"]:
                    report["dialogs"].append(self)
                    dialog = QDialog()
                    watchdog = Watchdog(10, dialog.reject)
                    if len(report["dialogs"]) == 1:
                        # Outer dialog: B connects under it and opens the inner one; A's
                        # peer stays quiet until then, so A is first ready two loops deep.
                        close_when(senders[1].done, dialog)
                        reactor.callLater(0.01, connect, reactor, port, senders[1])
                    else:
                        # Inner dialog: A and B keep sending, the third client pings.
                        close_when(third.done, dialog)
                        senders[0].keep_sending()
                        senders[1].keep_sending()
                        reactor.callLater(0.01, connect, reactor, port, third)
                    dialog.exec()
                    watchdog.cancel()
                    if len(report["dialogs"]) == 2 and report["inner_count"] is None:
                        report["inner_count"] = third.count
            finally:
                self.depth -= 1

    port = None

    @inlineCallbacks
    def scenario() -> Any:
        nonlocal port
        port = reactor.listenTCP(0, Factory.forProtocol(Asker))
        senders.extend([Chunks(reactor), Chunks(reactor)])
        yield connect(reactor, port, senders[0])
        first = yield senders[0].done
        second = yield senders[1].done
        yield third.done
        yield port.stopListening()
        return first, second

    first, second = run_until(reactor, scenario, timeout=20)
    expected = b"".join(b"%04d" % i for i in range(CHUNKS))
    assert first == expected and second == expected
    assert len(report["dialogs"]) == 2
    assert report["reentered"] == []
    assert report["inner_count"] == 100


def test_a_handler_that_raises_under_a_nested_loop_leaves_the_guard_clean(
    qt_reactor: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A dialog's nested loop runs a handler that raises: that connection is dropped with
    the traceback logged, the dialog's opener is not re-entered, and afterwards the same
    server still echoes for a new client."""
    reactor = qt_reactor
    state: dict[str, Any] = {"opened": 0, "reentered": 0}
    bad_lost: Deferred = Deferred()

    class Opener(Protocol):
        depth = 0

        def dataReceived(self, data: bytes) -> None:
            if self.depth:
                state["reentered"] += 1
            self.depth += 1
            try:
                self.transport.write(data)
                if not state["opened"]:
                    state["opened"] = 1
                    dialog = QDialog()
                    watchdog = Watchdog(10, dialog.reject)
                    bad_lost.addCallback(lambda _: reactor.callLater(0.01, dialog.accept))
                    reactor.callLater(0.01, connect, reactor, bad_port, Pinger(1))
                    dialog.exec()
                    watchdog.cancel()
            finally:
                self.depth -= 1

    class Raiser(Protocol):
        def dataReceived(self, data: bytes) -> None:
            raise RuntimeError("boom in a nested loop")

        def connectionLost(self, reason: Any) -> None:
            state["lost"] = reason
            bad_lost.callback(None)

    bad_port = None

    @inlineCallbacks
    def scenario() -> Any:
        nonlocal bad_port
        port = reactor.listenTCP(0, Factory.forProtocol(Opener))
        bad_port = reactor.listenTCP(0, Factory.forProtocol(Raiser))
        opener = Pinger(20)
        yield connect(reactor, port, opener)
        yield bad_lost
        count = yield opener.done
        later = Pinger(20)
        yield connect(reactor, port, later)
        count_later = yield later.done
        yield port.stopListening()
        yield bad_port.stopListening()
        return count, count_later

    with caplog.at_level(logging.ERROR, logger="inspector"):
        assert run_until(reactor, scenario, timeout=20) == (20, 20)
    assert state["reentered"] == 0
    assert "boom in a nested loop" in str(state["lost"].value)
    assert any("boom in a nested loop" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    if reactor._watcher.__class__.__name__ == "_EpollWatcher":
        assert reactor._watcher.current is None and not reactor._watcher.busy and not reactor._watcher.parked


HEADLESS = textwrap.dedent(
    """
    import os, subprocess, sys, threading, time
    from PySide6.QtCore import QAbstractEventDispatcher
    from inspector.protocol import ClientFactory, Factory, Protocol
    from inspector.reactors.qt import QtReactor

    reactor = QtReactor()
    print(QAbstractEventDispatcher.instance().metaObject().className())
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('QT_NO_GLIB'))"],
                           capture_output=True, text=True, timeout=60)
    print("child sees", child.stdout.strip())
    results = []

    class Echo(Protocol):
        def dataReceived(self, data):
            self.transport.write(data)

    class Client(Protocol):
        def connectionMade(self):
            self.transport.write(b"ping" * 100)
            self.got = b""
        def dataReceived(self, data):
            self.got += data
            if len(self.got) == 400:
                results.append(self.got == b"ping" * 100)
                self.transport.loseConnection()
                asked = time.monotonic()
                reactor.callLater(0.05, lambda: results.append(time.monotonic() - asked >= 0.05))
                threading.Thread(target=reactor.callFromThread, args=(results.append, "thread")).start()

    port = reactor.listenTCP(0, Factory.forProtocol(Echo))
    reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Client))
    def check():
        if len(results) == 3:
            reactor.stop()
        else:
            reactor.callLater(0.01, check)
    reactor.callLater(0.01, check)
    reactor.callLater(30, reactor.stop)
    reactor.run()
    print(*sorted(map(str, results)))
    """
)


@pytest.mark.parametrize("user_setting, dispatcher, child_sees", [
    (None, "QEventDispatcherUNIX", "None"),
    ("", "QEventDispatcherGlib", ""),
])
def test_a_headless_qt_reactor_uses_qts_own_dispatcher_unless_told(
    user_setting: str | None, dispatcher: str, child_sees: str
) -> None:
    """A headless program whose reactor makes the application gets Qt's own dispatcher
    (cheaper turns) without leaking QT_NO_GLIB to its children, unless the user set the
    variable; either way sockets, timers and thread calls all work."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("QT_NO_GLIB", None)
    if user_setting is not None:
        env["QT_NO_GLIB"] = user_setting
    done = subprocess.run([sys.executable, "-c", HEADLESS], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == dispatcher
    assert lines[1].split(maxsplit=2)[2:] == ([child_sees] if child_sees else [])
    assert lines[2].split() == ["True", "True", "thread"]


class Rally(Protocol):
    """Sends every byte straight back: two of them over loopback are always ready."""

    count = 0

    def connectionMade(self) -> None:
        self.transport.write(b"r")

    def dataReceived(self, data: bytes) -> None:
        Rally.count += 1
        self.transport.write(data)


def test_qt_events_still_run_while_connections_are_always_ready(qt_reactor: Any) -> None:
    """Two endless loopback rallies keep the sockets ready all the time, yet a chain of
    200 plain Qt zero-timers (what a window's repaints and queued signals look like)
    completes, and the rallies keep going meanwhile: serving several batches per
    activation never starves Qt's own events."""
    from PySide6.QtCore import QTimer

    reactor = qt_reactor
    Rally.count = 0
    seen: dict[str, int] = {}

    def scenario() -> Deferred:
        port = reactor.listenTCP(0, Factory.forProtocol(Rally))
        for _ in range(2):
            connect(reactor, port, Rally())
        chain: Deferred = Deferred()
        left = [200]

        def hop() -> None:
            if left[0] == 200:
                seen["at_start"] = Rally.count
            left[0] -= 1
            if left[0]:
                QTimer.singleShot(0, hop)
            else:
                seen["at_end"] = Rally.count
                chain.callback(None)

        def started(_: Any) -> None:
            QTimer.singleShot(0, hop)

        # Start the chain once the rallies are under way.
        wait: Deferred = Deferred()
        reactor.callLater(0.05, wait.callback, None)
        wait.addCallback(started)
        chain.addCallback(lambda _: port.stopListening())
        return chain

    run_until(reactor, scenario, timeout=30)
    assert seen["at_start"] > 0
    assert seen["at_end"] - seen["at_start"] > 200  # the rallies ran between the hops


@pytest.mark.parametrize("crash_first", [True, False])
def test_close_from_inside_a_data_handler_while_others_are_ready(qapp: Any, crash_first: bool) -> None:
    """A dataReceived that closes the reactor (crashing it first, or closing it and then
    leaving Qt's loop itself) while other connections are ready: run() returns, nothing
    raises inside Qt's slot (pytest-qt would fail the test), and the application loop
    still works afterwards."""
    from PySide6.QtCore import QTimer

    reactor = QtReactor()
    watchdog = Watchdog(10, qapp.exit)
    closed: list[bool] = []

    class Closer(Protocol):
        def dataReceived(self, data: bytes) -> None:
            if not closed:
                closed.append(True)
                if crash_first:
                    reactor.crash()
                    reactor.close()
                else:
                    reactor.close()
                    qapp.exit(0)

    class Chatty(Protocol):
        def connectionMade(self) -> None:
            self.transport.write(b"x" * 64)

    try:
        port = reactor.listenTCP(0, Factory.forProtocol(Closer))
        for _ in range(8):
            connect(reactor, port, Chatty())
        reactor.run()
        assert not watchdog.fired
        assert closed == [True]
        assert not reactor.running or not crash_first
        ticks: list[int] = []
        QTimer.singleShot(0, lambda: (ticks.append(1), qapp.exit(0)))
        qapp.exec()
        assert ticks == [1]
    finally:
        watchdog.cancel()
        reactor.close()
