"""Opening recordings with progress, and the export commands of the File menu.

A recording is read in slices (bounded in lines and in bytes) between refreshes by the
public step-wise loader :class:`~inspector.trace.recording.RecordingReader`, so the
window stays responsive and a progress dialog (with Cancel) shows how far it got.
Each slice goes, through the same translation as the live view, into a new
:class:`~inspector.ui.viewmodel.store.Store`. The :class:`~inspector.trace.model.Trace`
the exports read is filled from the file only when an export first asks for it (folding
every event a second time for it cost a third of the loading). Files that are no
recording, not regular files (``/dev/zero``, a FIFO) or larger than the loader's limit
are refused before any reading, with the reason as the loader's ``error``.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from inspector.files import MiB
from inspector.trace import Trace, recording, transcript
from inspector.trace import export_perfetto as _export_perfetto
from inspector.trace.recording import ReaderProcess, RecordingError, RecordingReader
from inspector.ui.viewmodel.feed import HANDLERS
from inspector.ui.viewmodel.store import Store

log = logging.getLogger("inspector.ui")

#: Lines read per step (parsed as one batch); steps repeat until :data:`SLICE_SECONDS`
#: are spent.
LINES_PER_SLICE = 500
#: Seconds of loading per turn of the loop. The panels catch up ten times a second
#: while a recording loads and the progress dialog and Cancel answer between slices.
SLICE_SECONDS = 0.025
#: Bytes read per slice at most (a few long lines weigh as much as many short ones).
BYTES_PER_SLICE = 1 * MiB
#: Files smaller than this load without showing a progress dialog.
QUIET_BYTES = 256 * 1024
#: Files at least this big are read by a child process (:class:`ReaderProcess`: the
#: second CPU reads, parses and checks while this one folds and shows); smaller ones,
#: read in well under a second, not worth starting it for, are read here.
PROCESS_BYTES = recording.CHILD_PROCESS_BYTES


class RecordingLoader(QObject):
    """Loads one recording in slices; emits ``finished(self)`` when done, failed or cancelled."""

    finished = Signal(object)
    progressed = Signal(int)  # per mille of the file read

    def __init__(self, path: str, store: Store, parent: QWidget | None = None,
                 max_bytes: int | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.store = store
        self.trace = Trace()
        self.error = ""
        self.problems: list[str] = []
        self.events = 0
        self.cancelled = False
        self.done = False
        #: The largest file accepted (default: the loader's limit, 1 GiB).
        self.max_bytes = recording.MAX_RECORDING_BYTES if max_bytes is None else max_bytes
        self._reader: RecordingReader | ReaderProcess | None = None
        #: event class -> the store's (fold rule, show) for kinds apply() sends to the fold
        self._direct: dict[type, tuple[Any, Any]] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._step)
        self._dialog: QProgressDialog | None = None
        self._parent = parent
        #: Whether the loading froze the collector's view of the objects (gc.freeze).
        self._froze = False

    def start(self) -> None:
        """Open the file and read its header; the rest loads slice by slice.

        A file that cannot be a recording finishes at once with ``error`` set.
        """
        try:
            # Only the kinds the window shows are built into events; the others (timer
            # scheduling) are checked and counted.
            size = os.stat(self.path).st_size if os.path.isfile(self.path) else 0
            if size >= PROCESS_BYTES:
                self._reader = ReaderProcess(self.path, self.trace, self.max_bytes, kinds=HANDLERS,
                                             lines=LINES_PER_SLICE, max_bytes_per_step=BYTES_PER_SLICE)
            else:
                self._reader = RecordingReader(self.path, self.trace, self.max_bytes, add_to_trace=False,
                                               kinds=HANDLERS)
        except RecordingError as exc:
            self._finish(str(exc))
            return
        self.trace.attach_source(self._fill_trace)
        origin = self.trace.header.get("start_monotonic")
        if isinstance(origin, (int, float)) and math.isfinite(origin):
            self.store.set_origin(float(origin))
        if self._reader.size > QUIET_BYTES and self._parent is not None:
            self._dialog = QProgressDialog(f"Loading {os.path.basename(self.path)}…", "Cancel", 0, 1000, self._parent)
            self._dialog.setObjectName("recording.progress")
            self._dialog.setWindowTitle("Open recording")
            self._dialog.setMinimumDuration(0)
            self._dialog.canceled.connect(self.cancel)
            self.progressed.connect(self._dialog.setValue)
        self.store.loading = True
        self._timer.start()

    def cancel(self) -> None:
        """Stop loading; what was read so far is dropped."""
        if not self.done:
            self.cancelled = True
            self._finish("loading cancelled")

    def _fill_trace(self) -> None:
        """Read the whole file into :attr:`trace`, once, when something (an export) first
        reads it: the loading itself only fills the store. For a million events that
        first export waits a few seconds longer (a child process reads, as while loading);
        browsing never does."""
        trace = self.trace
        trace.attach_source(None)
        trace.problems.clear()  # the second reading finds the same ones again
        try:
            recording.fill(trace, self.path, self.max_bytes)
        except RecordingError as exc:
            trace.problems.append(str(exc))
            log.warning("%s", exc)

    def _step(self) -> None:
        reader = self._reader
        assert reader is not None
        deadline = time.perf_counter() + SLICE_SECONDS
        # The collector runs between slices, not inside them: a slice makes thousands of
        # short-lived objects and keeps many, and collecting every 700 of them while the
        # store grows cost a tenth of the loading.
        collecting = gc.isenabled()
        gc.disable()
        try:
            while True:
                self._show(reader.step(LINES_PER_SLICE, BYTES_PER_SLICE))
                # Counted by the reader: the kinds the window ignores are not returned.
                self.events = reader.events
                if reader.done or time.perf_counter() >= deadline:
                    break
        finally:
            if collecting:
                # What the store keeps lives as long as the window shows it: frozen, the
                # collector's full passes no longer walk the millions of objects a big
                # recording makes (they cost a twentieth of the loading); the loading's
                # end hands them back to it.
                gc.freeze()
                self._froze = True
                gc.enable()
        if reader.done:
            self.problems = list(self.trace.problems)
            self._finish("")
            return
        self.progressed.emit(min(1000, int(1000 * reader.position / reader.size)))

    def _show(self, events: list[Any]) -> None:
        store = self.store
        # The same translation as apply() (the live view's), with the store's fold rules
        # called straight for the kinds that go to the fold: a call and a lookup less an
        # event than going through apply and Store.fold_event.
        direct = self._direct
        if direct is None:
            direct = self._direct = {
                cls: route for cls, route in store._routes.items()
                if HANDLERS.get(getattr(cls, "kind", "")) is Store.fold_event
            }
        handlers = HANDLERS
        for event in events:
            route = direct.get(event.__class__)
            if route is not None:
                summary = route[0](event)
                if summary is not None:
                    route[1](event, summary)
            else:
                handler = handlers.get(event.kind)
                if handler is not None:
                    handler(store, event)
        # Close the store's one-second bins where the events cross them (a method call
        # per event cost more than the rest of the slice's bookkeeping).
        bin_end = store._bin_start + 1.0
        latest = store.now
        for event in events:
            ts = event.ts
            if ts >= bin_end:
                store.sample(ts)
                bin_end = store._bin_start + 1.0
            if ts > latest:
                latest = ts
        store.now = latest

    def _finish(self, error: str) -> None:
        self._timer.stop()
        if self._froze:
            self._froze = False
            gc.unfreeze()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.error = error
        self.done = True
        self.store.loading = False  # the tables list whatever they held back, at once
        dialog, self._dialog = self._dialog, None
        if dialog is not None:
            # Closing a progress dialog emits its "canceled": that is no cancel here (it
            # finished a successful load a second time, as cancelled).
            dialog.canceled.disconnect(self.cancel)
            dialog.close()
        self.finished.emit(self)


def export_perfetto(trace: Any, path: str) -> int:
    """Write ``trace`` as Chrome/Perfetto trace-event JSON; return the number of events."""
    if trace is None:
        raise ValueError("there is no trace to export (tracing is off)")
    return _export_perfetto(trace, path)


def export_transcript(trace: Any, conn_id: int, path: str) -> None:
    """Write connection ``conn_id``'s text transcript from ``trace`` to ``path``."""
    if trace is None:
        raise ValueError("there is no trace to export (tracing is off)")
    text = transcript(trace, conn_id)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
