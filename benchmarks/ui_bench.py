"""How long the window's own frames take while the framework works in the same thread.

The window runs offscreen with tracing on, the demo running (echo clients, QOTD every
second, IRC bots) and an echo server under load: a separate process keeps 50
connections in 64-byte ping-pong as fast as the server answers. Each frame is the
window's refresh (drain the trace, apply the batch to the models) plus the paint Qt
then does; both are timed for every frame and compared with a 30 fps budget (33 ms).

    python benchmarks/ui_bench.py [--seconds 5] [--connections 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BUDGET_MS = 1000 / 30

LOAD = textwrap.dedent(
    """
    import selectors, socket, sys, time
    port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    payload = b"x" * 63 + b"\\n"
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, [0])
        s.send(payload)
        socks.append(s)
    trips = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, _ in sel.select(0.1):
            data = key.fileobj.recv(65536)
            if not data:
                sel.unregister(key.fileobj)
                continue
            key.data[0] += len(data)
            while key.data[0] >= len(payload):
                key.data[0] -= len(payload)
                trips += 1
                key.fileobj.send(payload)
    print(trips)
    """
)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_paints(app: Any, window: Any, on_paint: Any) -> Any:
    """Time each repaint of ``window`` (Qt's UpdateRequest on the top-level) and call
    ``on_paint(milliseconds)``; returns the installed event filter (keep a reference)."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    class PaintTimer(QObject):
        busy = False

        def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802
            if event.type() != QEvent.Type.UpdateRequest or self.busy or obj is not window:
                return False
            self.busy = True
            start = time.perf_counter()
            try:
                QApplication.sendEvent(obj, event)
            finally:
                self.busy = False
            on_paint((time.perf_counter() - start) * 1e3)
            return True

    painter = PaintTimer()
    app.installEventFilter(painter)
    return painter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds measured (after 2 s warm-up)")
    parser.add_argument("--connections", type=int, default=50, help="echo connections under load")
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QSettings, QTemporaryDir, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    scratch = QTemporaryDir()
    settings = QSettings(os.path.join(scratch.path(), "bench.ini"), QSettings.Format.IniFormat)
    from inspector import catalog, reactors
    from inspector.ui.app import build_window

    reactor = reactors.create("qt")
    window = build_window(reactor, settings)
    window.resize(1440, 900)
    window.show()
    window.show_dock(os.environ.get("UI_BENCH_DOCK", "Timing"))

    refresh_ms: list[float] = []
    paint_ms: list[float] = []
    frames: list[list[float]] = []  # [refresh, paint that followed it] per frame
    frame_gap_ms: list[float] = []
    measuring = {"on": False, "last": 0.0}
    original_refresh = window.refresh

    def timed_refresh() -> None:
        start = time.perf_counter()
        original_refresh()
        end = time.perf_counter()
        if measuring["on"]:
            refresh_ms.append((end - start) * 1e3)
            frames.append([(end - start) * 1e3, 0.0])
            if measuring["last"]:
                frame_gap_ms.append((start - measuring["last"]) * 1e3)
        measuring["last"] = start

    window.timer.timeout.disconnect()
    window.timer.timeout.connect(timed_refresh)

    def painted(took: float) -> None:
        if measuring["on"]:
            paint_ms.append(took)
            if frames:
                frames[-1][1] += took

    painter = time_paints(app, window, painted)  # noqa: F841 - kept alive while the loop runs

    reactor.startRunning()
    window.start_demo()
    server = catalog.find("echo", "server").start(reactor, port=0)
    port = server.address.port
    load = subprocess.Popen(
        [sys.executable, "-c", LOAD, str(port), str(args.connections), str(args.seconds + 2.5)],
        stdout=subprocess.PIPE,
        text=True,
    )

    def spin(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    spin(2.0)
    measuring["on"] = True
    started = time.monotonic()
    spin(args.seconds)
    measuring["on"] = False
    elapsed = time.monotonic() - started
    trips = int(load.communicate(timeout=30)[0].strip() or 0)

    store = window.store
    rows = [
        ("refresh (drain trace + models)", refresh_ms),
        ("paint (window repaint)", paint_ms),
        ("frame work (refresh + its paint)", [r + p for r, p in frames]),
        ("time between frames", frame_gap_ms),
    ]
    print(f"Inspector window under load: demo + {args.connections} echo connections, tracing on, offscreen, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"measured {elapsed:.1f} s: {len(refresh_ms)} refreshes, {len(paint_ms)} repaints, "
          f"{trips / (elapsed + 2.5):,.0f} echo round trips/s, {len(store.connections)} connections seen, "
          f"{len(store.deferreds)} Deferreds kept, {store.dropped:,} trace events the window fell too far "
          f"behind to see")
    print()
    print(
        f"| {'what (ms)':<32} | {'median':>7} | {'p95':>7} | {'p99':>7} | {'max':>7} | {'budget':>6} | {'within':>7} |"
    )
    print(f"|{'-' * 34}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 8}|{'-' * 9}|")
    for name, values in rows:
        if not values:
            print(f"| {name:<32} | {'n/a':>7} |")
            continue
        budget = BUDGET_MS
        within = sum(1 for v in values if v <= budget) / len(values) * 100
        print(
            f"| {name:<32} | {statistics.median(values):7.2f} | {percentile(values, 0.95):7.2f} | "
            f"{percentile(values, 0.99):7.2f} | {max(values):7.2f} | {budget:6.1f} | {within:6.1f}% |"
        )
    window.shutdown()
    server.stop()
    app.removeEventFilter(painter)
    window.deleteLater()
    app.processEvents()
    reactor.crash()
    reactor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
