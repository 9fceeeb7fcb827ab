"""Canary for the PySide6 hazard in DESIGN.md: Qt calling back into Python must not leak
or over-release references to ``None``.

PySide6 6.12.0 on CPython 3.11 drops a reference to ``None`` on each such callback and
the process dies with ``Fatal Python error: none_dealloc``. The work runs in a child
process so that a crash fails this test instead of killing the whole run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

CALLS = 30_000

CHILD = textwrap.dedent(
    """
    import os, sys
    from PySide6.QtCore import QCoreApplication, QObject, QTimer, Qt, Signal

    app = QCoreApplication([])
    calls = int(sys.argv[1])

    class Pinger(QObject):
        ping = Signal()

    def drain(step):
        # Run ``calls`` callbacks, each scheduling the next through ``step``.
        left = [calls]
        def tick():
            left[0] -= 1
            if left[0] > 0:
                step(tick)
            else:
                app.quit()
        step(tick)
        app.exec()

    before = sys.getrefcount(None)
    drain(lambda f: QTimer.singleShot(0, f))
    after_timers = sys.getrefcount(None)

    pinger = Pinger()
    pending = []
    def queued(f):
        pending.append(f)
        pinger.ping.emit()
    def on_ping():
        pending.pop()()
    pinger.ping.connect(on_ping, Qt.QueuedConnection)
    drain(queued)
    after_signals = sys.getrefcount(None)
    print(before, after_timers, after_signals)
    """
)


def _run_child(extra: str = "") -> list[int]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", CHILD + extra, str(CALLS)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, f"Qt callbacks crashed the process:\n{done.stderr[-2000:]}"
    return [int(x) for x in done.stdout.split()]


def test_qt_callbacks_do_not_drift_the_refcount_of_none() -> None:
    before, after_timers, after_signals = _run_child()
    # A few references may come and go with caches; the bug costs one per callback.
    assert abs(after_timers - before) < 100, (before, after_timers)
    assert abs(after_signals - before) < 100, (before, after_signals)
