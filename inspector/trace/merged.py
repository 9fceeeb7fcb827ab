"""One recording of several live processes: what ``inspector attach --record`` writes.

Events arrive per session (one connection to one process instance, see
:mod:`inspector.trace.viewer`); each session numbers its events and ids from 1. The
recording stays one ordinary recording that ``inspector open`` reads:

* events are renumbered (``seq``) in the order they arrived;
* session ``k`` (0 for the first process attached, then 1, 2 ... for every other process
  or restart; a dropped connection to a process still running keeps its ``k``, and the
  events its new snapshot repeats are not written again) has its ids moved to ``k * 1,000,000,000 + id``
  (:func:`~inspector.trace.viewer.namespaced`), so its connections and Deferreds never
  merge with another's; the first process's ids are unchanged;
* a meta line ``{"meta": {"process.K": "ENDPOINT: PROGRAM (pid N) on HOST"}}`` names
  session ``k`` when it starts, and ``{"meta": {"missed": N}}`` counts the events the
  processes dropped because we read too slowly.
"""

from __future__ import annotations

import os
import time
from typing import IO, Any

from inspector.trace import events as ev
from inspector.trace.recording import FORMAT, VERSION, EventEncoder, _create
from inspector.trace.viewer import copied_event, namespaced, process_instance

__all__ = ["MergedRecording"]


class MergedRecording:
    """Writes the events of any number of attached processes to ``path`` as they come.

    ``overwrite`` allows replacing an existing file (else :class:`FileExistsError`);
    other :class:`OSError` if it cannot be made. A write that fails later stops the
    recording (``error`` says why) and is reported once by the caller.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.path = os.fspath(path)
        self.written = 0
        self.error = ""
        self._encoder = EventEncoder(secrets=True)  # the processes already masked what they send
        self._file: IO[str] | None = _create(self.path, overwrite)
        self._sessions: dict[tuple[Any, ...], int] = {}  # (id(attachment), *instance) -> k
        self._last_seq: dict[int, int] = {}  # k -> the newest of its process's seq written
        self._missed: dict[int, int] = {}  # k -> events that session's process dropped for us
        self._seq = 0
        self._reported_missed = 0
        self._have_clock = False
        self._write_line({"format": FORMAT, "version": VERSION, "start_time": time.time(),
                          "live": True, "redacted": True})

    def _write_line(self, obj: dict[str, Any]) -> None:
        if self._file is None:
            return
        try:
            self._file.write(self._encoder.line(obj))
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass
        self.error = f"recording to {self.path} stopped: {exc.strerror or exc}"

    def session_index(self, attachment: Any) -> int:
        """The index ``k`` of ``attachment``'s current session, named in a meta line the
        first time it is seen."""
        key = (id(attachment), *process_instance(attachment.header, attachment.session))
        index = self._sessions.get(key)
        if index is None:
            index = self._sessions[key] = len(self._sessions)
            header = attachment.header
            pid = header.get("pid")
            name = f"{attachment.label}: {header.get('process') or 'a process'}"
            name += f" (pid {pid})" if pid else ""
            name += f" on {header['host']}" if header.get("host") else ""
            meta: dict[str, Any] = {f"process.{index}": name}
            if header.get("reactor"):
                meta["reactor"] = header["reactor"]
            if not self._have_clock and "start_monotonic" in header:
                self._have_clock = True  # the first process's facts stand for the recording's
                meta["start_monotonic"] = header["start_monotonic"]
                if header.get("host"):
                    meta["host"] = header["host"]
            if header.get("redacted") is not True:
                meta["redacted"] = False
            self._write_line({"meta": meta})
        return index

    def add(self, attachment: Any, events: list[ev.Event]) -> None:
        """Write ``events`` of ``attachment``'s current session."""
        if self._file is None:
            return
        index = self.session_index(attachment)
        last = self._last_seq.get(index, 0)
        events = [copied_event(event) for event in events  # the session's trace keeps the originals
                  if not event.seq or event.seq > last]  # a snapshot after a reconnection repeats
        if events:
            self._last_seq[index] = max(last, max(event.seq for event in events))
        for event in events:
            self._seq += 1
            event.seq = self._seq
            namespaced(event, index)
        missed = attachment.missed
        if missed != self._missed.get(index, 0):
            self._missed[index] = missed
        total = sum(self._missed.values())
        try:
            assert self._file is not None
            self._file.write(self._encoder.events(events))
            if total != self._reported_missed:
                self._reported_missed = total
                self._file.write(self._encoder.line({"meta": {"missed": total}}))
            self._file.flush()
        except OSError as exc:
            self._fail(exc)
            return
        self.written += len(events)

    def close(self) -> None:
        """Write the end time and close the file."""
        self._write_line({"meta": {"end_time": time.time()}})
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                self._fail(exc)
            self._file = None

    @property
    def closed(self) -> bool:
        """True once closed or failed."""
        return self._file is None
