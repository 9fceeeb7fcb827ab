"""The Qt reactor's timers: on time to a fraction of a millisecond, never early, never spinning.

On Linux the reactor aims a timerfd at the earliest deadline (rounded up to
``timer_grain``); Qt's own timers count whole milliseconds, which made every call up to
1 ms late. Both paths are run: ``epoll`` (timerfd) and ``notifiers`` (the QTimer alone,
as on other platforms).
"""

from __future__ import annotations

import statistics
from typing import Any

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog

from inspector.reactors import timerfd
from inspector.reactors.qt import QtReactor


class CountingQtReactor(QtReactor):
    """Counts the reactor's timer wake-ups (the QTimer's and the timerfd's)."""

    wakeups = 0

    def _on_timer(self) -> None:
        self.wakeups += 1
        super()._on_timer()


@pytest.fixture(params=["epoll", "notifiers"])
def reactor(request: pytest.FixtureRequest, qapp: Any) -> Any:
    reactor = CountingQtReactor(use_epoll=request.param == "epoll")
    reactor.path = request.param
    yield reactor
    if reactor.running:
        reactor.crash()
    reactor.close()


def _run(reactor: Any, seconds: float = 10.0) -> None:
    """Run until the scenario stops the reactor; a plain Qt timer ends a hung run."""
    watchdog = QTimer()
    watchdog.setSingleShot(True)
    watchdog.timeout.connect(reactor.crash)
    watchdog.start(int(seconds * 1000))
    try:
        reactor.run()
    finally:
        assert watchdog.isActive(), "the scenario did not finish in time"
        watchdog.stop()


def test_calls_run_on_time_to_a_fraction_of_a_millisecond(reactor: Any) -> None:
    """40 chained 2.1 ms calls: none early; on the timerfd path the median is late by
    well under a millisecond (whole-ms Qt timers made each one 0.9 ms late)."""
    lateness: list[float] = []

    def fired(call: list) -> None:
        lateness.append(reactor.seconds() - call[0].getTime())
        if len(lateness) == 40:
            reactor.stop()
            return
        schedule()

    def schedule() -> None:
        box: list = []
        box.append(reactor.callLater(0.0021, fired, box))

    reactor.callWhenRunning(schedule)
    _run(reactor)
    assert len(lateness) == 40
    assert min(lateness) >= 0.0, "a call ran before its time"
    if reactor.path == "epoll" and timerfd.available():
        assert statistics.median(lateness) < 0.0006, sorted(lateness)


@pytest.mark.skipif(not timerfd.available(), reason="timerfd is Linux-only")
def test_the_epoll_path_aims_a_timerfd_and_the_other_path_does_not(qapp: Any) -> None:
    """The timerfd comes with the epoll path; use_epoll=False stays on Qt's timer alone."""
    with_epoll, without = QtReactor(use_epoll=True), QtReactor(use_epoll=False)
    try:
        assert with_epoll._deadline is not None
        assert without._deadline is None
    finally:
        with_epoll.close()
        without.close()


def test_a_cancelled_first_call_wakes_the_loop_at_most_once(reactor: Any) -> None:
    """The earliest call is cancelled: the loop wakes at most once for it (the timerfd is
    re-aimed lazily) and does not spin; the later call still runs, after its time."""
    ran: list[float] = []
    counted: list[int] = []

    def start() -> None:
        first = reactor.callLater(0.02, ran.append, "cancelled call ran")
        later = reactor.callLater(0.06, lambda: ran.append(reactor.seconds() - later.getTime()))
        first.cancel()
        # Plain Qt timers (not the reactor's): look at the count after both times passed.
        QTimer.singleShot(150, lambda: (counted.append(reactor.wakeups), reactor.stop()))

    reactor.callWhenRunning(start)
    _run(reactor)
    assert len(ran) == 1 and isinstance(ran[0], float) and ran[0] >= 0.0
    # One wake-up for the later call, one at most for the cancelled one; a timerfd left
    # readable would have woken the loop thousands of times.
    assert counted and counted[0] <= 2, counted


def test_idle_with_a_far_timer_the_loop_does_not_wake(reactor: Any) -> None:
    """After a burst of short calls, one call an hour away: no timer wake-up for 200 ms."""
    counted: list[int] = []

    def start() -> None:
        for i in range(50):
            reactor.callLater(0.001 + i * 0.0003, lambda: None)
        reactor.callLater(3600, lambda: None)
        reactor.callLater(0.05, settle)

    def settle() -> None:
        before = reactor.wakeups
        QTimer.singleShot(200, lambda: (counted.append(reactor.wakeups - before), reactor.stop()))

    reactor.callWhenRunning(start)
    _run(reactor)
    assert counted == [0]


def test_a_due_call_opening_a_nested_loop_lets_the_other_due_call_run_inside(reactor: Any) -> None:
    """Two calls due together; the first opens a modal dialog: the second runs under it
    (it closes the dialog), and each runs once."""
    order: list[str] = []

    def open_dialog() -> None:
        order.append("dialog")
        dialog = QDialog()
        state["dialog"] = dialog
        watchdog = QTimer()
        watchdog.setSingleShot(True)
        watchdog.timeout.connect(dialog.reject)
        watchdog.start(5000)
        result = dialog.exec()
        watchdog.stop()
        order.append("accepted" if result == QDialog.DialogCode.Accepted else "timed out")
        reactor.callLater(0.01, reactor.stop)

    def close_dialog() -> None:
        order.append("second")
        state["dialog"].accept()

    state: dict[str, Any] = {}

    def start() -> None:
        reactor.callLater(0.01, open_dialog)
        reactor.callLater(0.01, close_dialog)  # a hair later: due in the same pass, or under the dialog

    reactor.callWhenRunning(start)
    _run(reactor)
    assert order == ["dialog", "second", "accepted"]


def test_a_call_made_due_from_a_thread_runs_promptly(reactor: Any) -> None:
    """callFromThread scheduling a 1 ms call while the loop waits on a far timer: it runs."""
    import threading

    got: list[float] = []

    def from_thread() -> None:
        box: list = []
        box.append(reactor.callLater(0.001, lambda: (got.append(reactor.seconds() - box[0].getTime()),
                                                   reactor.stop())))

    def start() -> None:
        reactor.callLater(3600, lambda: None)
        threading.Thread(target=reactor.callFromThread, args=(from_thread,)).start()

    reactor.callWhenRunning(start)
    _run(reactor)
    assert len(got) == 1 and got[0] >= 0.0
