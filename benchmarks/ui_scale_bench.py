"""The window at scale: frame times with 10,000 connections, under churn, and a 1M-event recording.

Three scenarios, each run offscreen with tracing on and bounded by ``--seconds``:

* ``open``: a helper process opens ``--connections`` (10,000) loopback connections to an
  echo server in the window's process and holds them; once all are listed, the filter is
  typed a key at a time and the table is sorted by every column (both orders) while the
  frames are timed. Both processes raise RLIMIT_NOFILE to the hard limit first.
* ``churn``: a helper process opens and closes ``--rate`` (2,000) connections a second
  against an echo server in the window's process; frames are timed throughout.
* ``recording``: a recording of ``--events`` (1,000,000) events, written by the real
  tracer while a real workload runs (an echo server and clients connecting, writing and
  closing, with their Deferreds), is opened in the window: wall time until browsable, peak
  RSS, whether the progress dialog showed, and then the Deferreds panel and one session
  are browsed. The file is cached in ``--cache`` (regenerated with ``--regenerate``).
  Then ``inspector open FILE`` reads the same file, timed next to a load in one process.

A frame is the window's refresh (drain the trace, apply the batch to the models), the
repaint Qt then does, and any user input handled since the previous frame (a keystroke in
the filter, a click on a header); each is compared with a 30 fps budget (33 ms).

    python benchmarks/ui_scale_bench.py open|churn|recording|all [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import textwrap
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ui_bench import percentile, time_paints  # noqa: E402  (beside this file: one way to time frames)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BUDGET_MS = 1000 / 30


def raise_fd_limit() -> int:
    """Raise this process's descriptor limit to its hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


HOLD = textwrap.dedent(
    """
    import resource, socket, sys, time
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    socks = []
    while len(socks) < count:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
        except OSError as exc:  # the window's backlog was full for too long: try again
            print("retrying after", exc, file=sys.stderr)
            s.close()
            time.sleep(0.1)
            continue
        socks.append(s)
        if len(socks) % 200 == 0:
            time.sleep(0.005)  # let the window's accept keep up (backlog)
    print("held", len(socks), flush=True)
    sys.stdin.readline()
    """
)

CHURN = textwrap.dedent(
    """
    import errno, selectors, socket, sys, time
    port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    sel = selectors.DefaultSelector()
    started = done = failed = 0
    begin = time.monotonic()
    end = begin + seconds
    while True:
        now = time.monotonic()
        if now >= end and not sel.get_map():
            break
        # Open what is due by now (paced), at most 256 in flight.
        due = int((min(now, end) - begin) * rate)
        while started < due and len(sel.get_map()) < 256:
            s = socket.socket()
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                started += 1
                continue
            sel.register(s, selectors.EVENT_WRITE, "connecting")
            started += 1
        for key, _ in sel.select(0.002):
            s = key.fileobj
            try:
                if key.data == "connecting":
                    s.send(b"ping\\n")
                    sel.modify(s, selectors.EVENT_READ, "reading")
                    continue
                if s.recv(64):
                    done += 1
                else:
                    failed += 1
            except OSError:
                failed += 1
            sel.unregister(s)
            s.close()
        if now > end + 10:
            break
    print(done, failed, flush=True)
    """
)


#: Writes a recording with the real tracer: an echo server and clients that connect,
#: write a line, read the echo and close, each through a Deferred, until N events.
MAKE_RECORDING = textwrap.dedent(
    """
    import sys
    from inspector import catalog, reactors, trace
    from inspector.protocol import ClientCreator, Protocol
    from inspector.trace.recording import record

    path, wanted = sys.argv[1], int(sys.argv[2])
    tracer = trace.enable()
    recorder = record(path, tracer, overwrite=True)
    reactor = reactors.create("selectors")
    server = catalog.find("echo", "server").start(reactor, port=0)
    port = server.address.port

    class Client(Protocol):
        def connectionMade(self):
            self.transport.write(b"hello from the scale benchmark\\n")
        def dataReceived(self, data):
            self.transport.loseConnection()

    def one(_=None):
        d = ClientCreator(reactor, Client).connectTCP("127.0.0.1", port)
        d.addCallback(lambda proto: proto)
        d.addErrback(lambda f: None)

    def batch():
        recorder.flush()
        if recorder.written >= wanted:
            reactor.stop()
            return
        for _ in range(20):
            one()
        reactor.callLater(0.002, batch)

    reactor.callWhenRunning(batch)
    reactor.run()
    recorder.close()
    print(recorder.written)
    """
)


def table(title: str, rows: list[tuple[str, list[float]]]) -> None:
    """Print a frame-time table: frames, p50, p95, max and share within the 33 ms budget
    (for the time between frames: within 50 ms, i.e. at most half a frame late)."""
    print(title)
    print(f"| {'what (ms)':<36} | {'frames':>6} | {'p50':>7} | {'p95':>7} | {'max':>7} | {'within 33 ms':>12} |")
    print(f"|{'-' * 38}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 14}|")
    for name, values in rows:
        if not values:
            print(f"| {name:<36} | {0:>6} | {'n/a':>7} | {'n/a':>7} | {'n/a':>7} | {'n/a':>12} |")
            continue
        budget = 50.0 if name.startswith("time between") else BUDGET_MS
        within = sum(1 for v in values if v <= budget) / len(values) * 100
        print(f"| {name:<36} | {len(values):>6} | {statistics.median(values):7.2f} | "
              f"{percentile(values, 0.95):7.2f} | {max(values):7.2f} | {within:11.1f}% |")
    print()


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Harness:
    """An offscreen window on the Qt reactor, with every frame's work timed."""

    def __init__(self, trace: bool = True) -> None:
        from PySide6.QtCore import QSettings, QTemporaryDir
        from PySide6.QtWidgets import QApplication

        self.app = QApplication.instance() or QApplication([])
        self.scratch = QTemporaryDir()
        settings = QSettings(os.path.join(self.scratch.path(), "bench.ini"), QSettings.Format.IniFormat)
        from inspector import reactors
        from inspector.ui.app import build_window

        self.reactor = reactors.create("qt")
        self.window = build_window(self.reactor, settings, trace=trace)
        self.window.resize(1440, 900)
        self.window.show()
        self.window.show_dock("Connections")
        self.frames: list[float] = []
        self.refresh_ms: list[float] = []
        self.paint_ms: list[float] = []
        self.input_ms: list[float] = []
        self.inputs: dict[str, list[float]] = {}
        #: Milliseconds from one refresh to the next (33 when the loop keeps up; a long
        #: gap is the loop held by something else: accepting, loading a slice).
        self.gaps: list[float] = []
        self._last_frame = 0.0
        self.measuring = False
        self._input_pending = 0.0
        original = self.window.refresh
        window = self.window
        harness = self

        def timed_refresh() -> None:
            start = time.perf_counter()
            original()
            took = (time.perf_counter() - start) * 1e3
            if harness.measuring and harness._last_frame:
                harness.gaps.append((start - harness._last_frame) * 1e3)
            harness._last_frame = start
            if harness.measuring:
                harness.refresh_ms.append(took)
                harness.frames.append(took + harness._input_pending)
                harness._input_pending = 0.0

        window.timer.timeout.disconnect()
        window.timer.timeout.connect(timed_refresh)

        def painted(took: float) -> None:
            if harness.measuring:
                harness.paint_ms.append(took)
                if harness.frames:
                    harness.frames[-1] += took

        self.painter = time_paints(self.app, window, painted)
        self.reactor.startRunning()

    def user(self, action: Callable[[], None], what: str = "input") -> None:
        """Do what a user would (a keystroke, a click) and count its time in the next frame."""
        start = time.perf_counter()
        action()
        took = (time.perf_counter() - start) * 1e3
        if self.measuring:
            self.input_ms.append(took)
            self.inputs.setdefault(what, []).append(took)
            self._input_pending += took

    def spin(self, seconds: float) -> None:
        """Run the loop for ``seconds``."""
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def spin_until(self, done: Callable[[], bool], seconds: float) -> bool:
        """Run the loop until ``done()`` or ``seconds`` passed; return ``done()``."""
        end = time.monotonic() + seconds
        while not done() and time.monotonic() < end:
            self.spin(0.05)
        return done()

    def rows(self) -> list[tuple[str, list[float]]]:
        return [
            ("frame (refresh + paint + input)", self.frames),
            ("refresh (drain trace + models)", self.refresh_ms),
            ("paint (window repaint)", self.paint_ms),
            ("input (keystroke / header click)", self.input_ms),
            ("time between frames (*: within 50)", self.gaps),
        ] + [(f"  {what}", values) for what, values in self.inputs.items()]

    def close(self) -> None:
        self.window.shutdown()
        self.app.removeEventFilter(self.painter)
        self.window.deleteLater()
        self.app.processEvents()
        self.reactor.crash()
        self.reactor.close()


def scenario_open(args: argparse.Namespace) -> None:
    """10,000 open connections listed, filtered and sorted."""
    limit = raise_fd_limit()
    from PySide6.QtCore import Qt

    from inspector import catalog
    from inspector.ui.viewmodel.connections import COLUMNS

    h = Harness()
    window = h.window
    # The echo server holds 1,024 clients by default: ask for all of them.
    server = catalog.find("echo", "server").start(h.reactor, port=0, max_connections=args.connections + 100)
    port = server.address.port
    started = time.monotonic()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(port), str(args.connections), "0"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    store = window.store
    listed = h.spin_until(lambda: window.connections.model.items.rowCount() >= args.connections
                          and store.open_count() >= args.connections, max(30.0, args.seconds))
    took_to_list = time.monotonic() - started
    if store.open_count() < args.connections:
        from collections import Counter

        reasons = Counter(c.close_reason for c in store.connections.values() if not c.is_open)
        print(f"listed {window.connections.model.items.rowCount():,} rows, {store.open_count():,} open; "
              f"closed because: {reasons.most_common(3)}")
    panel = window.connections
    h.measuring = True
    end = time.monotonic() + args.seconds
    # Idle frames first (one second), then the filter typed, then every sort.
    h.spin(1.0)
    # A peer's address, typed a key at a time: all rows match at first, one at the end.
    some = store.connections[store.order[len(store.order) // 2]]
    text = some.peer if some.peer else f"127.0.0.1:{port}"
    for i in range(1, len(text) + 1):
        h.user(lambda i=i: panel.text_edit.setText(text[:i]), "keystroke in the filter")
        h.spin(args.key_gap)
    shown_filtered = panel.proxy.rowCount()
    for i in range(len(text) - 1, -1, -1):
        h.user(lambda i=i: panel.text_edit.setText(text[:i]), "keystroke in the filter")
        h.spin(args.key_gap)
    header = panel.table.horizontalHeader()
    columns = panel.model.items.columnCount()
    while time.monotonic() < end:
        for column in range(columns):
            for order in (Qt.SortOrder.DescendingOrder, Qt.SortOrder.AscendingOrder):
                h.user(lambda c=column, o=order: header.setSortIndicator(c, o), f"sort by {COLUMNS[column]}")
                h.spin(args.click_gap)
            if time.monotonic() >= end:
                break
    h.measuring = False
    try:
        holder.stdin.write("\n")  # type: ignore[union-attr]
        holder.stdin.flush()  # type: ignore[union-attr]
    except BrokenPipeError:
        print("the helper process holding the connections ended early:", holder.stdout.read())  # type: ignore
    holder.wait(timeout=60)
    print(f"open: {args.connections:,} connections held by a helper process (RLIMIT_NOFILE raised to {limit:,} "
          f"in both), all listed: {listed} after {took_to_list:.1f} s; filter '{text}' showed "
          f"{shown_filtered:,} rows; load average {os.getloadavg()[0]:.1f}")
    table(f"{args.connections:,} open connections: filter typed ({len(text)} keys and back, one each "
          f"{args.key_gap} s), sorted by each of {columns} columns both ways (a click each {args.click_gap} s)",
          h.rows())
    server.stop()
    h.close()


def store_seen(window: object) -> int:
    """Connections the window's store has taken in so far (listed or let go of)."""
    store = window.store  # type: ignore[attr-defined]
    return len(store.connections) + getattr(store, "closed_dropped", 0)


def scenario_churn(args: argparse.Namespace) -> None:
    """A live load of ``--rate`` connections opened and closed a second."""
    raise_fd_limit()
    from inspector import catalog

    h = Harness()
    window = h.window
    server = catalog.find("echo", "server").start(h.reactor, port=0)
    port = server.address.port
    load = subprocess.Popen([sys.executable, "-c", CHURN, str(port), str(args.rate), str(args.seconds + 1.0)],
                            stdout=subprocess.PIPE, text=True)
    h.spin(1.0)
    h.measuring = True
    started = time.monotonic()
    cpu_started = time.process_time()
    accepted_before = store_seen(window)
    h.spin(args.seconds)
    h.measuring = False
    elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu_started
    seen = store_seen(window) - accepted_before
    h.spin_until(lambda: load.poll() is not None, 30)
    done, failed = (int(n) for n in (load.communicate(timeout=30)[0].split() or ["0", "0"]))
    store = window.store
    listed = window.connections.proxy.rowCount()
    print(f"churn: {done / (args.seconds + 1.0):,.0f} connections opened, echoed and closed per second "
          f"(asked {args.rate:,}; {failed:,} failed), {listed:,} rows listed ({store.open_count():,} open, "
          f"{getattr(store, 'closed_dropped', 0):,} older closed let go of, "
          f"keep {getattr(store, 'closed_limit', None) or 'all'}), "
          f"{store.dropped:,} trace events missed, measured {elapsed:.1f} s, load average {os.getloadavg()[0]:.1f}")
    refresh_share = sum(h.refresh_ms) / 1e3 / elapsed
    print(f"window process: {cpu / elapsed:.0%} of a CPU while measured, {cpu / max(seen, 1) * 1e6:,.0f} us CPU "
          f"per connection the window listed ({seen:,}); refresh {refresh_share:.0%} of the time; "
          f"peak RSS {peak_rss_mib():,.0f} MiB")
    table(f"live churn of {args.rate:,} connections/s", h.rows())
    server.stop()
    h.close()


def make_recording(path: str, events: int) -> None:
    """Write a recording of at least ``events`` events with the real tracer and workload."""
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", MAKE_RECORDING, path + ".part", str(events)],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"could not make the recording: {out.stderr.strip()[-400:]}")
    os.replace(path + ".part", path)
    print(f"recording: wrote {int(out.stdout.split()[-1]):,} events to {path} in "
          f"{time.monotonic() - started:.1f} s")


def scenario_recording(args: argparse.Namespace) -> None:
    """Open a 1,000,000-event recording: time to browsable, peak RSS, then browse it."""
    path = os.path.join(args.cache, f"scale-{args.events}.jsonl")
    if args.regenerate or not os.path.exists(path):
        os.makedirs(args.cache, exist_ok=True)
        make_recording(path, args.events)
    size = os.path.getsize(path)
    split, restore = _cpu_split()
    h = Harness(trace=False)
    window = h.window
    rss_before = peak_rss_mib()
    seen_progress = {"shown": False}
    started = time.monotonic()
    cpu_started = time.process_time()
    children_started = resource.getrusage(resource.RUSAGE_CHILDREN)
    loader = window.open_recording(path)

    browsable = {"after": -1.0}

    def loaded() -> bool:
        dialog = loader._dialog
        if dialog is not None and dialog.isVisible():
            seen_progress["shown"] = True
        if browsable["after"] < 0 and window.store is loader.store and window.connections.proxy.rowCount():
            browsable["after"] = time.monotonic() - started
        return loader.done

    h.measuring = True
    ok = h.spin_until(loaded, args.seconds + 60)
    h.measuring = False
    took = time.monotonic() - started
    cpu = time.process_time() - cpu_started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (children.ru_utime + children.ru_stime
                 - children_started.ru_utime - children_started.ru_stime)
    store = window.store
    deferreds = window.deferreds
    d_rows = deferreds.model.rowCount() if hasattr(deferreds, "model") else -1
    # Browse: select a connection in the middle; the session panel shows its bytes.
    ids = list(store.order)
    chosen = ids[len(ids) // 2] if ids else None
    session_bytes = -1
    if chosen is not None:
        window.connections.select_connection(chosen)
        h.spin(0.2)
        conn = store.connections[chosen]
        session_bytes = conn.bytes_in + conn.bytes_out
    # Browse: sort by bytes in, newest first, then by id again (as header clicks do); the
    # first sort by a column also writes that column into the rows not shown yet.
    from PySide6.QtCore import Qt

    sorts = []
    for column, order in ((6, Qt.SortOrder.DescendingOrder), (0, Qt.SortOrder.AscendingOrder)):
        sort_started = time.perf_counter()
        window.connections.table.sortByColumn(column, order)
        h.app.processEvents()
        sorts.append(f"{(time.perf_counter() - sort_started) * 1e3:.0f} ms")
    print(f"recording: {size / 2**20:,.0f} MiB, {loader.events:,} events loaded (error: {loader.error or 'none'}) "
          f"in {took:.1f} s, {cpu:.1f} s of CPU ({1e6 * cpu / max(1, loader.events):.1f} us an event) "
          f"(first rows listed and selectable after {browsable['after']:.1f} s; "
          f"shown at the end: {ok and not window.live}); progress dialog shown: {seen_progress['shown']}; "
          f"peak RSS {peak_rss_mib():,.0f} MiB (window alone {rss_before:,.0f} MiB); "
          f"{len(store.connections):,} connections, {len(store.deferreds):,} Deferreds kept "
          f"({d_rows:,} rows in the Deferreds panel); connection #{chosen} selected, "
          f"{session_bytes} bytes in its session; sorted by bytes in, then by id, in {' and '.join(sorts)}; "
          f"load average {os.getloadavg()[0]:.1f}")
    restore()
    parts = ", ".join(f"{what} {seconds:.1f} s" for what, seconds in split.items())
    painting = sum(h.paint_ms) / 1e3
    print(f"recording: CPU split: {parts}, the rest (painting, the progress dialog, the loop) "
          f"{cpu - sum(split.values()):.1f} s, of which the window's {len(h.paint_ms)} repaints "
          f"took {painting:.1f} s (wall clock); the reader's child process {child_cpu:.1f} s "
          f"(on the other CPU)")
    table("frames while the recording loads", h.rows())
    h.close()
    time_open_command(path)


def time_open_command(path: str) -> None:
    """``inspector open FILE`` on the same recording, as a user runs it (its summary to
    /dev/null), next to the same command reading every event in its one process."""
    runs = []
    for label, code in (
        ("inspector open FILE", "import sys; from inspector.cli import main; sys.exit(main(['open', sys.argv[1]]))"),
        ("the same reading in one process", "import sys; from inspector.cli import main; "
         "from inspector.trace import recording; recording.CHILD_PROCESS_BYTES = 1 << 62; "
         "sys.exit(main(['open', sys.argv[1]]))"),
    ):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", code, path], stdout=subprocess.DEVNULL, timeout=600, check=False)
        took = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        runs.append(f"{label} {took:.1f} s ({cpu:.1f} s of CPU, both processes)")
    print(f"recording: {'; '.join(runs)}; load average {os.getloadavg()[0]:.1f}")


def _cpu_split() -> tuple[dict[str, float], Callable[[], None]]:
    """Count the CPU seconds of reading, folding into the store and the panels' refreshes
    (each wrapped at its class); return the counts and how to unwrap them."""
    from inspector.trace.recording import ReaderProcess, RecordingReader
    from inspector.ui.main_window import MainWindow
    from inspector.ui.recordings import RecordingLoader

    split = {"reading": 0.0, "store fold": 0.0, "panels (refresh)": 0.0}
    wrapped = [(RecordingReader, "step", "reading"), (ReaderProcess, "step", "reading"),
               (RecordingLoader, "_show", "store fold"),
               (MainWindow, "refresh", "panels (refresh)")]
    originals = [(cls, name, getattr(cls, name)) for cls, name, _what in wrapped]
    inside: dict[str, int] = dict.fromkeys(split, 0)  # a reader's step inside another's counts once
    for (cls, name, what), (_cls, _name, original) in zip(wrapped, originals):
        def timed(*args: Any, _original: Any = original, _what: str = what) -> Any:
            if inside[_what]:
                return _original(*args)
            inside[_what] += 1
            started = time.process_time()
            try:
                return _original(*args)
            finally:
                inside[_what] -= 1
                split[_what] += time.process_time() - started
        setattr(cls, name, timed)

    def restore() -> None:
        for cls, name, original in originals:
            setattr(cls, name, original)
    return split, restore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=("open", "churn", "recording", "all"))
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds measured per scenario")
    parser.add_argument("--connections", type=int, default=10_000, help="open connections (open)")
    parser.add_argument("--rate", type=int, default=2_000, help="connections opened and closed a second (churn)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the recording (recording)")
    parser.add_argument("--cache", default="/tmp/inspector-ui-scale", help="where the recording is kept")
    parser.add_argument("--key-gap", type=float, default=0.15, help="seconds between keystrokes (open)")
    parser.add_argument("--click-gap", type=float, default=0.5, help="seconds between header clicks (open)")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of each scenario")
    parser.add_argument("--regenerate", action="store_true", help="write the recording again")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} at start")
    for name, run in (("open", scenario_open), ("churn", scenario_churn), ("recording", scenario_recording)):
        if args.scenario in (name, "all"):
            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.runcall(run, args)
                pstats.Stats(profiler).sort_stats(os.environ.get("UI_SCALE_SORT", "tottime")).print_stats(30)
            else:
                run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
