"""What only the Qt reactor promises: life inside Qt's loop, nested loops, both readiness paths.

The reactor contract itself (time, threads, triggers, TCP, UDP ...) is covered by the
reactor-generic suites, which run on the Qt reactor through the ``reactor`` fixture.
Here every test uses real loopback sockets and a real (offscreen) Qt application.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog

from inspector.defer import Deferred, inlineCallbacks
from inspector.protocol import ClientFactory, Factory, Protocol
from inspector.reactors.qt import QtReactor, modal

PING = b"p" * 64


class Echo(Protocol):
    """Sends back whatever arrives."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Pinger(Protocol):
    """Plays ``rounds`` 64-byte ping-pongs against an echo server; ``done`` fires after."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.count = 0
        self.pending = b""
        self.done: Deferred = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(PING)

    def dataReceived(self, data: bytes) -> None:
        self.pending += data
        while len(self.pending) >= len(PING):
            self.pending = self.pending[len(PING):]
            self.count += 1
            if self.count == self.rounds:
                self.transport.loseConnection()
                self.done.callback(self.count)
                return
            self.transport.write(PING)


class _OneProtocol(ClientFactory):
    """A client factory handing out one given protocol and telling when it is connected."""

    def __init__(self, protocol: Protocol) -> None:
        self.instance = protocol
        self.connected: Deferred = Deferred()
        made = protocol.connectionMade

        def connection_made() -> None:
            made()
            self.connected.callback(protocol)

        protocol.connectionMade = connection_made  # type: ignore[method-assign]

    def buildProtocol(self, addr: Any) -> Protocol:
        self.instance.factory = self
        return self.instance

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        self.connected.errback(reason)


def connect(reactor: Any, port: Any, protocol: Protocol) -> Deferred:
    """Connect ``protocol`` to ``port`` on loopback; fires with it once connected."""
    factory = _OneProtocol(protocol)
    reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
    return factory.connected


def run_until(reactor: Any, fn: Any, timeout: float = 10.0) -> Any:
    """Run ``reactor`` until ``fn()``'s Deferred fires; the shared fixture's runner."""
    from reactor_support import run_reactor_until

    return run_reactor_until(reactor, fn, timeout=timeout)


class Watchdog:
    """A plain Qt timer (not the reactor's) that leaves a hung loop so a test fails, not hangs."""

    def __init__(self, seconds: float, action: Any) -> None:
        self.fired = False
        self.timer = QTimer()
        self.timer.setSingleShot(True)

        def fire() -> None:
            self.fired = True
            action()

        self.timer.timeout.connect(fire)
        self.timer.start(int(seconds * 1000))

    def cancel(self) -> None:
        self.timer.stop()


@pytest.fixture(autouse=True)
def _dialogs_do_not_quit_the_application(qapp: Any) -> Any:
    """Tests have no main window: closing a test dialog must not quit the application."""
    before = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(before)


@pytest.fixture(params=["epoll", "notifiers"])
def qt_reactor(request: pytest.FixtureRequest, qapp: Any) -> Any:
    """A Qt reactor on each readiness path: one epoll notifier, or one notifier per fd."""
    reactor = QtReactor(use_epoll=request.param == "epoll")
    yield reactor
    if reactor.running:
        reactor.crash()
    reactor.close()


def test_both_readiness_paths_echo_over_many_connections(qt_reactor: Any) -> None:
    """Thirty-two clients finish their ping-pongs whichever readiness path is used."""
    reactor = qt_reactor

    @inlineCallbacks
    def scenario() -> Any:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo))
        pingers = [Pinger(50) for _ in range(32)]
        for pinger in pingers:
            yield connect(reactor, port, pinger)
        counts = []
        for pinger in pingers:
            counts.append((yield pinger.done))
        yield port.stopListening()
        return counts

    assert run_until(reactor, scenario) == [50] * 32


def test_one_precise_timer_and_on_linux_one_notifier_however_much_is_pending(qapp: Any) -> None:
    """500 pending calls and 40 open connections cost Qt one timer and (epoll path) two
    notifiers: the epoll set's and the timerfd's."""
    from PySide6.QtCore import QSocketNotifier

    def qt_objects() -> tuple[int, int]:
        return len(qapp.findChildren(QTimer)), len(qapp.findChildren(QSocketNotifier))

    for use_epoll in (True, False):
        timers_before, notifiers_before = qt_objects()
        reactor = QtReactor(use_epoll=use_epoll)
        try:
            @inlineCallbacks
            def scenario() -> Any:
                for i in range(500):
                    reactor.callLater(60 + i, lambda: None)
                port = reactor.listenTCP(0, Factory.forProtocol(Echo))
                pingers = [Pinger(1000) for _ in range(20)]
                for pinger in pingers:
                    yield connect(reactor, port, pinger)
                timers, notifiers = qt_objects()
                precise = [t for t in qapp.findChildren(QTimer) if t.timerType() == Qt.TimerType.PreciseTimer]
                for pinger in pingers:
                    pinger.transport.loseConnection()
                yield port.stopListening()
                return timers - timers_before, notifiers - notifiers_before, len(precise)

            timers, notifiers, precise = run_until(reactor, scenario)
        finally:
            reactor.close()
        assert timers == 1 and precise >= 1
        if use_epoll:
            assert notifiers == 2
        else:
            assert notifiers >= 41  # the port, 20 clients and 20 server ends (and the waker)


def test_descriptor_numbers_reused_by_new_connections_still_work(qt_reactor: Any) -> None:
    """Connections opened one after another reuse descriptor numbers; each one still echoes."""
    reactor = qt_reactor

    @inlineCallbacks
    def scenario() -> Any:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo))
        results = []
        for _ in range(20):
            pinger = Pinger(3)
            yield connect(reactor, port, pinger)
            results.append((yield pinger.done))
            # let both ends close, so the next connection gets the same numbers
            wait: Deferred = Deferred()
            reactor.callLater(0.01, wait.callback, None)
            yield wait
        yield port.stopListening()
        return results

    assert run_until(reactor, scenario) == [3] * 20


class _SocketReader:
    """A minimal selectable around one socket: records what it reads."""

    def __init__(self, sock: socket.socket, name: str, log: list) -> None:
        self.sock = sock
        self.name = name
        self.log = log

    def fileno(self) -> int:
        return self.sock.fileno()

    def doRead(self) -> None:
        data = self.sock.recv(100)
        self.log.append((self.name, data))

    def doWrite(self) -> None:
        return None

    def connectionLost(self, reason: Any) -> None:
        self.log.append((self.name, "lost"))

    def logPrefix(self) -> str:
        return self.name


def test_a_reused_descriptor_number_reaches_its_new_owner_only(qt_reactor: Any) -> None:
    """A socket closed without removeReader, its number reused: only the new owner hears of data."""
    reactor = qt_reactor
    log: list = []

    def scenario() -> Deferred:
        old, old_peer = socket.socketpair()
        old.setblocking(False)
        stale = _SocketReader(old, "old", log)
        reactor.addReader(stale)
        number = old.fileno()
        old.close()  # closed behind the reactor's back
        new, new_peer = socket.socketpair()
        if new.fileno() != number:
            new, new_peer = new_peer, new
        assert new.fileno() == number, "the test needs the number to be reused"
        new.setblocking(False)
        fresh = _SocketReader(new, "new", log)
        reactor.addReader(fresh)
        new_peer.send(b"hello")
        done: Deferred = Deferred()

        def check() -> None:
            readers = reactor.getReaders()
            reactor.removeReader(fresh)
            for s in (new, new_peer, old_peer):
                s.close()
            done.callback((stale in readers, fresh in readers))

        reactor.callLater(0.1, check)
        return done

    assert run_until(reactor, scenario) == (False, True)
    assert log == [("new", b"hello")]


def test_run_starts_the_application_loop_and_stop_leaves_it(qapp: Any) -> None:
    """With no Qt loop running, run() runs one; stop() from a callback ends it and run() returns."""
    reactor = QtReactor()
    seen: list[Any] = []
    watchdog = Watchdog(5, qapp.exit)
    try:
        reactor.callWhenRunning(lambda: seen.append(QCoreApplication.instance() is qapp))
        reactor.callLater(0.02, reactor.stop)
        reactor.run()
        assert not watchdog.fired
        assert seen == [True]
        assert not reactor.running
    finally:
        watchdog.cancel()
        reactor.close()


def test_run_creates_a_core_application_when_there_is_none() -> None:
    """A headless script can call run() without making a Qt application first."""
    script = textwrap.dedent(
        """
        from PySide6.QtCore import QCoreApplication
        from inspector.reactors.qt import QtReactor
        assert QCoreApplication.instance() is None
        reactor = QtReactor()
        reactor.callLater(0.01, lambda: print(type(QCoreApplication.instance()).__name__))
        reactor.callLater(0.02, reactor.stop)
        reactor.run()
        reactor.close()
        print("returned")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["QCoreApplication", "returned"]


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_an_idle_headless_script_stops_on_a_signal(signame: str) -> None:
    """``reactor.run()`` stops on SIGINT/SIGTERM as Twisted's does, also when the loop is
    idle inside Qt's C++ poll (where Python's own signal handler cannot run by itself)."""
    script = textwrap.dedent(
        """
        import sys
        from inspector.protocol import Factory, Protocol
        from inspector.reactors.qt import QtReactor
        reactor = QtReactor()
        port = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
        reactor.addSystemEventTrigger("before", "shutdown", lambda: print("shutdown triggers ran"))
        reactor.callWhenRunning(lambda: (print("ready"), sys.stdout.flush()))
        reactor.run()
        reactor.close()
        print("returned")
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # idle: blocked in Qt's poll with nothing due
        child.send_signal(getattr(__import__("signal"), signame))
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err[-2000:]
    assert out.split("\n")[:2] == ["shutdown triggers ran", "returned"], (out, err)


def test_close_from_inside_the_reactors_own_timer_is_safe(qapp: Any) -> None:
    """crash() and close() called by a timer callback: run() returns and nothing crashes."""
    reactor = QtReactor()
    watchdog = Watchdog(5, qapp.exit)
    try:
        def finish() -> None:
            reactor.crash()
            reactor.close()

        reactor.callLater(0.01, finish)
        reactor.run()
        assert not watchdog.fired
        assert not reactor.running
        # the application loop still works afterwards (and deletes what close() left it)
        ticks: list[int] = []
        QTimer.singleShot(0, lambda: (ticks.append(1), qapp.exit(0)))
        qapp.exec()
        assert ticks == [1]
    finally:
        watchdog.cancel()
        reactor.close()


def test_stop_from_a_qt_slot_while_idle(qapp: Any) -> None:
    """stop() called by a plain Qt timer, with no reactor work pending, still shuts down."""
    reactor = QtReactor()
    events: list[str] = []
    watchdog = Watchdog(5, qapp.exit)
    try:
        reactor.addSystemEventTrigger("before", "shutdown", events.append, "shutdown")
        reactor.callWhenRunning(lambda: QTimer.singleShot(30, reactor.stop))
        reactor.run()
        assert not watchdog.fired, "stop() from a Qt slot did not end run()"
        assert events == ["shutdown"]
    finally:
        watchdog.cancel()
        reactor.close()


def test_reset_and_delay_from_a_qt_slot_move_the_timer(qapp: Any) -> None:
    """A DelayedCall moved earlier by Qt code outside the reactor fires at its new time."""
    reactor = QtReactor()
    order: list[str] = []
    watchdog = Watchdog(5, qapp.exit)
    try:
        def finish() -> None:
            order.append("reset call")
            reactor.stop()

        far = reactor.callLater(3600, finish)
        other = reactor.callLater(0.05, order.append, "delayed call")

        def from_qt() -> None:
            far.reset(0.02)  # earlier: the reactor's one timer must be re-aimed
            other.delay(3600)  # later: must not fire first

        reactor.callWhenRunning(lambda: QTimer.singleShot(10, from_qt))
        reactor.run()
        assert not watchdog.fired, "reset() from a Qt slot was ignored"
        assert order == ["reset call"]
    finally:
        watchdog.cancel()
        reactor.close()


def test_about_to_quit_runs_the_shutdown_triggers_once(qapp: Any) -> None:
    """Quitting the application (say, the last window closed) shuts the reactor down once."""
    reactor = QtReactor()
    events: list[str] = []
    watchdog = Watchdog(5, qapp.exit)
    try:
        for phase in ("before", "during", "after"):
            reactor.addSystemEventTrigger(phase, "shutdown", events.append, phase)
        reactor.callWhenRunning(lambda: QTimer.singleShot(10, qapp.quit))
        reactor.run()
        assert not watchdog.fired
        assert events == ["before", "during", "after"]
        assert not reactor.running
        # a later quit of the application (another run) must not fire them again
        QTimer.singleShot(0, qapp.quit)
        qapp.exec()
        assert events == ["before", "during", "after"]
    finally:
        watchdog.cancel()
        reactor.close()


def test_quitting_the_application_waits_for_a_shutdown_trigger_deferred(qapp: Any) -> None:
    """A 'before shutdown' trigger returning a Deferred still finishes its work after the app quits."""
    reactor = QtReactor()
    events: list[str] = []
    watchdog = Watchdog(5, qapp.exit)
    try:
        def flush_state() -> Deferred:
            flushed: Deferred = Deferred()
            reactor.callLater(0.05, lambda: (events.append("flushed"), flushed.callback(None)))
            return flushed

        reactor.addSystemEventTrigger("before", "shutdown", flush_state)
        reactor.addSystemEventTrigger("after", "shutdown", events.append, "after")
        reactor.callWhenRunning(lambda: QTimer.singleShot(10, qapp.quit))
        reactor.run()
        assert not watchdog.fired
        assert events == ["flushed", "after"]
        assert not reactor.running
    finally:
        watchdog.cancel()
        reactor.close()


class _Finished(QObject):
    finished = Signal()


def test_inside_a_running_application_run_just_starts(qtbot: Any) -> None:
    """Under a loop someone else runs (pytest-qt here), run() returns at once and stop() leaves that loop alone."""
    reactor = QtReactor()
    events: list[Any] = []
    done = _Finished()
    try:
        reactor.addSystemEventTrigger("after", "startup", events.append, "started")
        reactor.addSystemEventTrigger("after", "shutdown", done.finished.emit)

        def start() -> None:
            reactor.run()
            events.append(("run returned", reactor.running))
            reactor.callLater(0.01, events.append, "timer")
            reactor.callLater(0.02, reactor.stop)

        with qtbot.waitSignal(done.finished, timeout=5000) as blocker:
            QTimer.singleShot(0, start)
        assert blocker.signal_triggered
        assert events == ["started", ("run returned", True), "timer"]
        assert not reactor.running
        # the host loop is still usable: a Qt timer still fires under qtbot
        ticks: list[int] = []
        QTimer.singleShot(0, lambda: ticks.append(1))
        qtbot.waitUntil(lambda: ticks == [1], timeout=2000)
    finally:
        reactor.close()


def test_call_from_thread_wakes_an_idle_qt_loop(qt_reactor: Any) -> None:
    """A call from another thread runs although no timer is due for ten seconds."""
    reactor = qt_reactor

    def scenario() -> Deferred:
        result: Deferred = Deferred()

        def worker() -> None:
            time.sleep(0.05)
            reactor.callFromThread(result.callback, threading.current_thread().name)

        threading.Thread(target=worker, name="worker-thread").start()
        return result

    assert run_until(reactor, scenario, timeout=10) == "worker-thread"


def _dialog_closed_by(reactor: Any, ready: Deferred) -> QDialog:
    """A dialog that accepts once ``ready`` fires (from reactor work inside its nested loop)."""
    dialog = QDialog()
    ready.addCallback(lambda _: reactor.callLater(0.01, dialog.accept))
    return dialog


def test_nested_loop_from_call_later_keeps_connections_and_timers_flowing(qt_reactor: Any) -> None:
    """A modal dialog opened by a timer: I/O and timers go on underneath; nothing runs twice."""
    reactor = qt_reactor
    opened: list[int] = []
    seen_inside: list[Any] = []

    @inlineCallbacks
    def scenario() -> Any:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo))
        pinger = Pinger(100)
        ticked: Deferred = Deferred()

        def open_dialog() -> None:
            opened.append(1)
            dialog = _dialog_closed_by(reactor, pinger.done)
            watchdog = Watchdog(5, dialog.reject)
            reactor.callLater(0.01, ticked.callback, "tick")
            connect(reactor, port, pinger)
            dialog.exec()
            watchdog.cancel()
            seen_inside.extend([pinger.count, ticked.called])

        reactor.callLater(0, open_dialog)
        yield pinger.done
        yield ticked
        # give the nested loop time to close and the outer callable to finish
        wait: Deferred = Deferred()
        reactor.callLater(0.05, wait.callback, None)
        yield wait
        yield port.stopListening()

    run_until(reactor, scenario)
    assert opened == [1]
    assert seen_inside == [100, True]


def test_nested_loop_from_a_thread_call_runs_it_once(qt_reactor: Any) -> None:
    """A callFromThread callable that opens a dialog runs once; later thread calls run under it."""
    reactor = qt_reactor
    opened: list[int] = []
    marks: list[int] = []
    seen_inside: list[int] = []

    def scenario() -> Deferred:
        finished: Deferred = Deferred()
        dialog_up = threading.Event()
        marks_in: Deferred = Deferred()

        def open_dialog() -> None:
            opened.append(1)
            dialog = _dialog_closed_by(reactor, marks_in)
            watchdog = Watchdog(5, dialog.reject)
            dialog_up.set()
            dialog.exec()
            watchdog.cancel()
            seen_inside.append(len(marks))
            reactor.callLater(0.05, finished.callback, None)

        def mark(i: int) -> None:
            marks.append(i)
            if len(marks) == 3:
                marks_in.callback(None)

        def worker() -> None:
            reactor.callFromThread(open_dialog)
            dialog_up.wait(5)
            for i in range(3):
                reactor.callFromThread(mark, i)

        threading.Thread(target=worker).start()
        return finished

    run_until(reactor, scenario)
    assert opened == [1]
    assert seen_inside == [3]
    assert marks == [0, 1, 2]


def test_nested_loop_from_data_received_never_reenters_that_connection(qt_reactor: Any) -> None:
    """dataReceived opens a dialog while its peer keeps sending: other connections flow,
    this protocol is not re-entered, and its bytes arrive in order after the dialog closes."""
    reactor = qt_reactor
    report: dict[str, Any] = {"reentered": 0, "dialogs": 0}

    class Asker(Protocol):
        """Echoes; the first connection's first data opens a dialog."""

        depth = 0

        def dataReceived(self, data: bytes) -> None:
            if self.depth:
                report["reentered"] += 1
            self.depth += 1
            try:
                self.transport.write(data)
                if not report["dialogs"]:
                    report["dialogs"] += 1
                    dialog = _dialog_closed_by(reactor, report["other"].done)
                    watchdog = Watchdog(5, dialog.reject)
                    report["sender"].keep_sending()
                    dialog.exec()
                    watchdog.cancel()
                    report["other_count_inside"] = report["other"].count
            finally:
                self.depth -= 1

    class Sender(Protocol):
        """Sends 100 numbered chunks, the first alone, the rest while the dialog is up."""

        def __init__(self) -> None:
            self.received = b""
            self.expected = b"".join(b"%04d" % i for i in range(100))
            self.done: Deferred = Deferred()

        def connectionMade(self) -> None:
            self.transport.write(b"%04d" % 0)

        def keep_sending(self) -> None:
            for i in range(1, 100):
                reactor.callLater(0.001 * i, self.transport.write, b"%04d" % i)

        def dataReceived(self, data: bytes) -> None:
            self.received += data
            if len(self.received) >= len(self.expected) and not self.done.called:
                self.done.callback(self.received)

    @inlineCallbacks
    def scenario() -> Any:
        factory = Factory.forProtocol(Asker)
        factory.protocol = Asker
        port = reactor.listenTCP(0, factory)
        report["other"] = Pinger(100)
        report["sender"] = Sender()
        yield connect(reactor, port, report["sender"])
        # the other client starts once the dialog is up (keep_sending has run)
        reactor.callLater(0.02, connect, reactor, port, report["other"])
        echoed = yield report["sender"].done
        yield report["other"].done
        yield port.stopListening()
        return echoed

    echoed = run_until(reactor, scenario)
    assert echoed == b"".join(b"%04d" % i for i in range(100)), echoed
    assert report["dialogs"] == 1
    assert report["reentered"] == 0
    assert report["other_count_inside"] == 100


def test_modal_fires_with_the_dialog_result_without_blocking(qt_reactor: Any) -> None:
    """modal(dialog) opens it without a nested loop and fires with the code it finished with."""
    reactor = qt_reactor
    returned_at_once: list[bool] = []

    def scenario() -> Deferred:
        dialog = QDialog()
        result = modal(dialog)
        returned_at_once.append(not result.called and dialog.isVisible())
        reactor.callLater(0.02, dialog.done, 7)
        return result

    assert run_until(reactor, scenario) == 7
    assert returned_at_once == [True]


def test_cancelling_modal_rejects_the_dialog(qt_reactor: Any) -> None:
    """Protocol code that stops waiting for an answer closes the question it asked."""
    reactor = qt_reactor

    def scenario() -> Deferred:
        dialog = QDialog()
        asked = modal(dialog)
        asked.addErrback(lambda failure: failure.type.__name__)
        reactor.callLater(0.02, asked.cancel)
        done: Deferred = Deferred()
        reactor.callLater(0.05, lambda: done.callback((asked.result, dialog.isVisible(), dialog.result())))
        return done

    assert run_until(reactor, scenario) == ("CancelledError", False, QDialog.DialogCode.Rejected)


def test_a_slow_callback_is_reported_while_qt_hosts_the_loop(
    qt_reactor: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A timer callback that holds Qt's loop for 120 ms is logged with its name and place."""
    reactor = qt_reactor

    def hog_the_loop() -> None:
        time.sleep(0.12)

    def scenario() -> Deferred:
        finished: Deferred = Deferred()
        reactor.callLater(0, hog_the_loop)
        reactor.callLater(0.2, finished.callback, None)
        return finished

    with caplog.at_level(logging.WARNING, logger="inspector"):
        run_until(reactor, scenario)
    reports = [r.getMessage() for r in caplog.records if "hog_the_loop" in r.getMessage()]
    assert reports, [r.getMessage() for r in caplog.records]
    assert "test_reactor_qt.py" in reports[0]


def test_the_reactor_never_calls_process_events(qt_reactor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pumping Qt's queue from inside the reactor would re-enter user code; it never happens."""
    reactor = qt_reactor
    pumped: list[int] = []
    original = QCoreApplication.processEvents

    def counting(*args: Any, **kwargs: Any) -> Any:
        pumped.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(QCoreApplication, "processEvents", staticmethod(counting))

    @inlineCallbacks
    def scenario() -> Any:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo))
        pinger = Pinger(20)
        yield connect(reactor, port, pinger)
        yield pinger.done
        yield port.stopListening()

    run_until(reactor, scenario)
    assert pumped == []


CANARY = textwrap.dedent(
    """
    import socket, sys
    from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
    from inspector.reactors.qt import QtReactor

    calls = int(sys.argv[1])
    use_epoll = sys.argv[2] == "epoll"
    app = QCoreApplication([])
    reactor = QtReactor(use_epoll=use_epoll)

    class Pinger(QObject):
        ping = Signal()

    class Reader:
        # A minimal selectable: one end of a socket pair, bouncing a byte back to itself.
        def __init__(self, sock, peer, left, then):
            self.sock, self.peer, self.left, self.then = sock, peer, left, then
        def fileno(self):
            return self.sock.fileno()
        def doRead(self):
            self.sock.recv(16)
            self.left -= 1
            if self.left:
                # Toggle the watch (setEnabled on the notifier path) as flow control does.
                reactor.removeReader(self)
                reactor.addReader(self)
                self.peer.send(b"x")
            else:
                reactor.removeReader(self)
                reactor.callLater(0, self.then)
        def connectionLost(self, reason):
            pass
        def logPrefix(self):
            return "canary"

    counts = {}

    def timers(then):
        left = [calls]
        def tick():
            left[0] -= 1
            if left[0]:
                reactor.callLater(0, tick)
            else:
                then()
        reactor.callLater(0, tick)

    def notifiers(then):
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        reader = Reader(b, a, calls, then)
        reactor.addReader(reader)
        a.send(b"x")

    pinger = Pinger()
    def signals(then):
        left = [calls]
        def on_ping():
            left[0] -= 1
            if left[0]:
                reactor.callLater(0, pinger.ping.emit)
            else:
                then()
        pinger.ping.connect(on_ping, Qt.QueuedConnection)
        pinger.ping.emit()

    def stage(name, work, then):
        def start():
            counts[name + "_before"] = sys.getrefcount(None)
            work(lambda: (counts.__setitem__(name + "_after", sys.getrefcount(None)), then()))
        return start

    finish = lambda: reactor.stop()
    reactor.callWhenRunning(stage("timers", timers, stage("notifiers", notifiers,
                            stage("signals", signals, finish))))
    reactor.run()
    reactor.close()
    for key in sorted(counts):
        print(key, counts[key])
    """
)


@pytest.mark.parametrize("path", ["epoll", "notifiers"])
def test_refcount_of_none_does_not_drift_through_the_qt_reactor(path: str) -> None:
    """30,000 timer, notifier and queued-signal callbacks through the reactor leave None's refcount alone."""
    done = subprocess.run(
        [sys.executable, "-c", CANARY, "30000", path],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )
    assert done.returncode == 0, f"the Qt reactor crashed the process:\n{done.stderr[-2000:]}"
    counts = dict((k, int(v)) for k, v in (line.split() for line in done.stdout.splitlines()))
    assert len(counts) == 6, done.stdout
    for kind in ("timers", "notifiers", "signals"):
        drift = counts[kind + "_after"] - counts[kind + "_before"]
        assert abs(drift) < 100, (kind, drift)
