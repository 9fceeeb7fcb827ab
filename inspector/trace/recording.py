"""Recording a trace to JSON Lines and loading it back into a :class:`Trace`.

A recording is a header line, one line per event, and ``{"meta": {...}}`` lines with
facts learned later (missed events, the reactor, the end time). Loading only parses
JSON and checks each event against its declared fields: nothing in the file is ever
executed, imported or unpickled. A damaged file loads up to the damage and says where,
whatever the damage: wrong types, non-finite or huge numbers, deep nesting, binary
garbage, a cut-off last line. Only a file that is no recording at all (or cannot be
read: missing, not a regular file, over :data:`MAX_RECORDING_BYTES`) raises, and always
:class:`RecordingError`.

Recordings are written private (mode 0600), never over an existing file unless asked,
and with IRC ``PASS``/``OPER``/``AUTHENTICATE`` arguments masked unless asked
(:mod:`inspector.trace.redact`). A write that fails (disk full, a device that refuses)
stops the recording with one error; the program goes on.
"""

from __future__ import annotations

import base64
import io
import json
import json.encoder
import logging
import math
import os
import stat
import sys
import time
from typing import IO, Any, Callable, Collection

from inspector.files import FileRefused, MiB, open_regular_file
from inspector.trace import events as ev
from inspector.trace.events import EventFormatError, event_from_json
from inspector.trace.model import Trace, TraceConfig
from inspector.trace.redact import Redactor

__all__ = [
    "FORMAT", "VERSION", "MAX_RECORDING_BYTES", "MAX_LINE_BYTES", "RecordingError",
    "Recorder", "RecordingReader", "ReaderProcess", "record", "load", "EventEncoder", "recording_header",
]

log = logging.getLogger("inspector.trace")

FORMAT = "inspector-trace"
VERSION = 1

#: The largest recording :func:`load` reads (a bigger one is refused with this number).
MAX_RECORDING_BYTES = 1024 * MiB
#: The longest line read; one event is far smaller (its bytes are cut to the capture budget).
MAX_LINE_BYTES = 16 * MiB
#: Numbers in an event outside these bounds are damage: timestamps and durations are
#: seconds (1e12 s is 31,000 years), counts and ids fit a double exactly.
MAX_SECONDS = 1e12
MAX_INTEGER = 1 << 53
#: Bad header or meta fields reported one by one; past this they are only counted.
MAX_FIELD_PROBLEMS = 20
#: Wall-clock times (header ``start_time``/``end_time``) from 1970 up to the year 5000.
_MAX_WALL_TIME = 95_617_584_000.0


class RecordingError(ValueError):
    """The file is not an Inspector trace recording at all, or cannot be read.

    Missing, not a regular file, too large, or without a valid header; ``str()`` is one
    line naming the file and the reason.
    """


# -- writing -------------------------------------------------------------------------------


def _create(path: str, overwrite: bool) -> IO[str]:
    """Open ``path`` for writing a recording, private to the user (0600).

    An existing regular file is refused (:class:`FileExistsError`) unless ``overwrite``;
    a device or FIFO (``/dev/stdout``, a pipe to another program) is written as is.
    """
    cloexec = getattr(os, "O_CLOEXEC", 0)
    flags = os.O_WRONLY | os.O_CREAT | cloexec | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        if stat.S_ISREG(os.stat(path).st_mode):
            raise
        fd = os.open(path, os.O_WRONLY | cloexec)
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
            os.fchmod(fd, 0o600)  # an overwritten file keeps its old mode otherwise
        # A lone surrogate in some text becomes the JSON escape \udcXX: valid, and it
        # loads back as the same string.
        return io.open(fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n")
    except BaseException:
        os.close(fd)
        raise


def recording_header(trace: Trace, secrets: bool = False) -> dict[str, Any]:
    """The header line of a recording of ``trace`` (format, version, the trace's facts):
    what a file and a live trace stream (:mod:`inspector.trace.live`) both begin with."""
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    header.update({k: v for k, v in trace.header.items() if k not in header})
    header.setdefault("start_time", time.time())
    if not secrets:
        header["redacted"] = True
    return header


def _compact_dumps() -> Callable[[Any], str]:
    """``json.dumps(obj, separators=(",", ":"), ensure_ascii=False)``, made once: the C
    encoder when there is one (json.dumps builds a new encoder at every call, which
    costs as much as the encoding of a small event)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return lambda obj: json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

    def refuse(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    encode = make(None, refuse, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda obj: "".join(encode(obj, 0))


class EventEncoder:
    """Turns events (and header or meta objects) into recording lines, IRC secrets masked
    unless ``secrets``: the one encoder of the format, shared by files and live streams."""

    def __init__(self, secrets: bool = False) -> None:
        self._redactor = None if secrets else Redactor()
        self._dumps = _compact_dumps()

    def line(self, obj: dict[str, Any]) -> str:
        """One JSON object as one line (with its newline)."""
        return self._dumps(obj) + "\n"

    def events(self, events: list[ev.Event]) -> str:
        """The lines of ``events``, in order, as one string."""
        dumps = self._dumps
        redactor = self._redactor
        parts = []
        for event in events:
            obj = event.to_json() if redactor is None else redactor.to_json(event)
            parts.append(dumps(obj))
        if not parts:
            return ""
        parts.append("")
        return "\n".join(parts)


class Recorder:
    """Streams the events of ``trace`` to ``path`` as they arrive.

    Call :meth:`flush` now and then (:func:`record` has the tracer do it about five
    times a second) and :meth:`close` at the end. An event the recorder could not
    write in time (it fell behind the observer feed) is counted in a meta line.

    ``overwrite`` allows replacing an existing file (else :class:`FileExistsError`);
    ``secrets`` keeps IRC passwords instead of masking them. If writing fails, the
    recorder logs one error, calls ``on_error`` with it, and stops (``error`` says why).
    """

    def __init__(
        self, trace: Trace, path: str | os.PathLike[str], *, overwrite: bool = False,
        secrets: bool = False, on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.trace = trace
        self.path = os.fspath(path)
        self.written = 0
        #: Why recording stopped early (empty while it works).
        self.error = ""
        self._on_error = on_error
        self._encoder = EventEncoder(secrets)
        self._file: IO[str] | None = _create(self.path, overwrite)
        self._cursor: Any = trace.subscribe(from_start=True)
        self._missed = 0
        self._reactor = trace.header.get("reactor") or ""
        self._write(recording_header(trace, secrets))

    def _write(self, obj: dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(self._encoder.line(obj))

    def flush(self) -> int:
        """Write what arrived since the last flush; return how many events were written."""
        if self._file is None:
            return 0
        try:
            return self._flush()
        except OSError as exc:
            self._fail(exc)
            return 0

    def _flush(self) -> int:
        assert self._file is not None
        events = self._cursor.drain()
        self._file.write(self._encoder.events(events))
        if self._cursor.missed != self._missed:
            self._missed = self._cursor.missed
            self._write({"meta": {"missed": self._missed}})
        reactor = self.trace.header.get("reactor")
        if reactor and reactor != self._reactor:
            # Known once the loop ran: say so early, in case the file is cut short later.
            self._reactor = reactor
            self._write({"meta": {"reactor": reactor}})
        self._file.flush()
        self.written += len(events)
        return len(events)

    def close(self) -> None:
        """Flush, write the closing facts (reactor, end time, drops) and close the file."""
        if self._file is None:
            return
        try:
            self._flush()
            self._write(
                {
                    "meta": {
                        "end_time": time.time(),
                        "reactor": self.trace.header.get("reactor", ""),
                        "dropped": self.trace.dropped(),
                        "missed": self._missed,
                    }
                }
            )
            self._file.close()
        except OSError as exc:
            self._fail(exc)
            return
        self._file = None
        self._cursor = None

    def _fail(self, exc: OSError) -> None:
        """Writing failed: stop recording, let go of the trace, say so once."""
        file, self._file = self._file, None
        self._cursor = None  # no reader left: the trace need not keep events for us
        if file is not None:
            try:
                file.close()  # tries the buffered rest once more, then lets the descriptor go
            except OSError:
                pass
        reason = exc.strerror or str(exc) or type(exc).__name__
        self.error = (f"recording to {self.path} stopped: {reason}; "
                      f"{self.written} events were written before that")
        log.error("%s", self.error)
        if self._on_error is not None:
            self._on_error(self.error)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran or writing failed."""
        return self._file is None


def record(
    path: str | os.PathLike[str], tracer: Any, *, overwrite: bool = False, secrets: bool = False,
) -> Recorder:
    """Start recording ``tracer``'s trace to ``path``; the tracer flushes it periodically.

    Raises :class:`OSError` (:class:`FileExistsError` for an existing file without
    ``overwrite``) if the file cannot be made. A later write failure stops the
    recording with one logged error and leaves the tracer running.
    """
    recorder: Recorder

    def stop_flushing(message: str) -> None:
        tracer.remove_periodic(recorder.flush)

    recorder = Recorder(tracer.trace, path, overwrite=overwrite, secrets=secrets, on_error=stop_flushing)
    tracer.add_periodic(recorder.flush)
    return recorder


# -- reading -------------------------------------------------------------------------------


def load(path: str | os.PathLike[str], config: TraceConfig | None = None,
         max_bytes: int = MAX_RECORDING_BYTES) -> Trace:
    """Load a recording into a new :class:`Trace`.

    The trace's ``problems`` list says where loading stopped if the file is truncated
    or corrupt (each a one-line reason); everything before the damage is loaded. Raises
    :class:`RecordingError`, and nothing else, for a file that is not a recording or
    cannot be read.
    """
    trace = Trace(config)
    fill(trace, path, max_bytes)
    return trace


#: Recordings at least this big are read by a child process (:class:`ReaderProcess`:
#: the second CPU reads, parses and checks while this process folds what was read);
#: smaller ones, read in well under a second, are not worth starting it for.
CHILD_PROCESS_BYTES = 16 * MiB


def fill(trace: Trace, path: str | os.PathLike[str], max_bytes: int = MAX_RECORDING_BYTES) -> None:
    """Read the whole recording at ``path`` into ``trace``, as :func:`load` does.

    A big one (:data:`CHILD_PROCESS_BYTES`) is read by a child process while this one
    adds what it read to the trace: a million events load in about half the time, with
    the same events, problems and words (:class:`ReaderProcess` reads on here if the
    child cannot keep up). Raises :class:`RecordingError` as :func:`load` does.
    """
    size = os.stat(path).st_size if os.path.isfile(path) else 0
    if size < CHILD_PROCESS_BYTES:
        reader = RecordingReader(path, trace, max_bytes)
        try:
            while not reader.read():
                pass
        finally:
            reader.close()
        return
    child = ReaderProcess(path, trace, max_bytes)
    add = trace.add
    try:
        while not child.done:
            for event in child.step():
                add(event)
    finally:
        child.close()


class RecordingReader:
    """Reads a recording into ``trace`` a slice at a time: the public step-wise loader.

    The constructor opens the file and reads the header (into ``trace.header``), raising
    :class:`RecordingError` if it is not a recording. Then either :meth:`step` (returns
    the events of one slice, for a viewer that shows them as they load: the window) or
    :meth:`read` (returns True once finished: :func:`load`) adds events until a slice is
    done; ``done`` turns True at the end of the file or at the first damage, which is
    described in ``trace.problems``. ``position`` and ``size`` (bytes) give progress;
    :meth:`close` lets go of the file (also when loading is abandoned half-way)::

        reader = RecordingReader(path, Trace())
        try:
            while not reader.done:
                show(reader.step())
        finally:
            reader.close()
    """

    def __init__(self, path: str | os.PathLike[str], trace: Trace,
                 max_bytes: int = MAX_RECORDING_BYTES, *, add_to_trace: bool = True,
                 kinds: Collection[str] | None = None) -> None:
        self.path = os.fspath(path)
        self.trace = trace
        #: Without it the events are only returned by :meth:`step` (a viewer with its own
        #: store need not fold every event twice); the header, meta facts and problems
        #: still go to ``trace``.
        self.add_to_trace = add_to_trace
        #: The kinds of event :meth:`step` returns (None: all). Lines of other kinds are
        #: checked just as closely (damage stops the loading at the same line, in the same
        #: words) and counted, but no event is built for them: a viewer that ignores timer
        #: scheduling, a seventh of a busy recording, need not pay for its objects.
        self.kinds = None if kinds is None or add_to_trace else frozenset(kinds)
        self._makers = _FAST_MAKERS if self.kinds is None else {
            kind: (maker if kind in self.kinds else _FAST_CHECKERS[kind]) for kind, maker in _FAST_MAKERS.items()
        }
        #: How many events this reader loaded so far.
        self.events = 0
        self._last_seq = trace.feed.last_seq
        self.line = 0
        #: True once the whole file (or everything before the first damage) was read.
        self.done = False
        self._field_problems = 0
        self._added: list[ev.Event] | None = None
        # Whole lines read ahead (handed out from ``_next``), the partial line after
        # them, and how far into the file the lines handed out reach.
        self._lines: list[bytes] = []
        self._next = 0
        self._tail = b""
        self._ending: str | None = None  # what stops reading once the lines are handed out
        self._position = 0
        try:
            self._file: IO[bytes] | None = open_regular_file(self.path, "recording", max_bytes)
        except FileRefused as exc:
            raise RecordingError(str(exc)) from None
        try:
            #: The file's size in bytes (at least 1), for progress.
            self.size = max(1, os.fstat(self._file.fileno()).st_size)
            first = self._readline()
            if first is None:
                raise RecordingError(f"{self.path}: the first line is longer than "
                                     f"{MAX_LINE_BYTES // MiB} MiB: not an Inspector trace recording")
            header = _parse_header(first, self.path)
            self._position = len(first)
        except OSError as exc:
            self.close()
            raise RecordingError(f"cannot read recording {self.path}: {exc.strerror or exc}") from None
        except BaseException:
            self.close()
            raise
        self.line = 1
        trace.header.update(_clean_facts(header, self._field_problem, header=True))

    @property
    def position(self) -> int:
        """How many bytes of the file were read so far."""
        return self._position if self._file is not None else self.size

    def _readline(self) -> bytes | None:
        """The next line (b"" at the end), or None if it is longer than :data:`MAX_LINE_BYTES`."""
        assert self._file is not None
        raw = self._file.readline(MAX_LINE_BYTES + 1)
        return None if len(raw) > MAX_LINE_BYTES else raw

    def _field_problem(self, problem: str) -> None:
        self._field_problems += 1
        if self._field_problems <= MAX_FIELD_PROBLEMS:
            self.trace.problems.append(f"{self.path}, line {self.line or 1}: {problem}; ignored it")

    def _finish(self) -> None:
        self.done = True
        hidden = self._field_problems - MAX_FIELD_PROBLEMS
        if hidden > 0:
            self.trace.problems.append(f"{self.path}: {hidden} more bad header or meta fields ignored")

    def _stop(self, problem: str) -> None:
        loaded = sum(self.trace.totals().values()) if self.add_to_trace else self.events
        self.trace.problems.append(f"{self.path}, line {self.line}: {problem}; loaded the "
                                   f"{loaded} events before it and ignored the rest")
        self._finish()

    def step(self, max_lines: int = 10_000, max_bytes: int = 4 * MiB) -> list[ev.Event]:
        """Add up to ``max_lines`` lines (or about ``max_bytes``) to the trace; return the
        events they held, in order (``done`` says whether the file is finished)."""
        added: list[ev.Event] = []
        self._added = added
        try:
            self.read(max_lines, max_bytes)
        finally:
            self._added = None
        return added

    def read(self, max_lines: int = 10_000, max_bytes: int = 4 * MiB) -> bool:
        """Add up to ``max_lines`` lines (or about ``max_bytes``); True once finished."""
        if self.done or self._file is None:
            self.done = True
            return True
        lines, ending = self._take_lines(max_lines, max_bytes)
        # Parsed _BATCH_LINES at a time: the parsed batch is held whole for a moment,
        # and past a thousand lines a bigger batch is no faster.
        for start in range(0, len(lines), _BATCH_LINES):
            batch = lines[start:start + _BATCH_LINES]
            first = self.line + 1
            problem = self._load_lines(batch)
            if problem is not None:
                self._stop(problem)
                return True
            self.line = first + len(batch) - 1
        if ending is not None:
            self.line += 1
            if ending:
                self._stop(ending)
            else:
                self._finish()
            return True
        return False

    def _take_lines(self, max_lines: int, max_bytes: int) -> tuple[list[bytes], str | None]:
        """Up to ``max_lines`` complete lines (about ``max_bytes``, without their newlines)
        and how reading ends after them: None (more to come), "" (the end of the file) or
        the damage that stops it (a cut-off or overlong last line, a read error)."""
        assert self._file is not None
        lines: list[bytes] = []
        taken = 0
        ending: str | None = None
        while len(lines) < max_lines and (taken < max_bytes or not lines):
            pending = self._lines
            if self._next < len(pending):
                # Whole lines are handed out a batch at a time; the budget in bytes is
                # checked per batch of at most 256 lines (as the old line loop overshot
                # by at most one line, this overshoots by at most one batch).
                end = min(len(pending), self._next + max_lines - len(lines), self._next + 256)
                batch = pending[self._next:end]
                self._next = end
                lines += batch
                size = sum(map(len, batch)) + len(batch)
                taken += size
                self._position += size
                continue
            ending = self._fill()
            if ending is not None:
                break
        return lines, ending

    def _fill(self) -> str | None:
        """Read the next block into whole lines; returns like :meth:`_take_lines`' ending
        once no line is left to hand out."""
        assert self._file is not None
        if self._ending is not None:
            return self._ending
        tail = self._tail
        try:
            # A long partial line doubles the read, so a 16 MiB line costs no more than
            # twice its size in copies.
            data = self._file.read(max(_BLOCK_BYTES, len(tail)))
        except OSError as exc:
            return f"the file could not be read on ({exc.strerror or exc})"
        overlong = f"a line longer than {MAX_LINE_BYTES // MiB} MiB"
        if not data:
            if not tail:
                return ""
            if len(tail) > MAX_LINE_BYTES:
                return overlong
            return "the file ends in the middle of a line (truncated recording)"
        lines = (tail + data).split(b"\n") if tail else data.split(b"\n")
        self._tail = lines.pop()
        if len(tail) + len(data) >= MAX_LINE_BYTES:
            # With its newline a line may be MAX_LINE_BYTES long, not longer.
            for index, line in enumerate(lines):
                if len(line) >= MAX_LINE_BYTES:
                    del lines[index:]
                    self._ending = overlong
                    break
            if len(self._tail) > MAX_LINE_BYTES:
                self._ending = overlong
        self._lines, self._next = lines, 0
        if not lines and self._ending is not None:
            return self._ending
        return None

    def _load_lines(self, lines: list[bytes]) -> str | None:
        """Add the events and facts of ``lines`` (numbered from ``self.line + 1``) to the
        trace; return the damage that stops loading (``self.line`` then names its line).

        All lines are parsed with one ``json.loads`` (one call per line costs twice as
        much); only a batch that does not parse as one value per line, all objects, is
        read again line by line, so a damaged file stops at the same line with the same
        words as when every line was read alone.
        """
        base = self.line
        try:
            objs = _batch_loads(b"[" + b",".join(lines) + b"]")
        except (ValueError, RecursionError):
            objs = None
        if type(objs) is not list or len(objs) != len(lines):
            objs = []
        makers = self._makers
        add = self.trace.add if self.add_to_trace else None
        added = self._added
        last = self._last_seq
        done = quick = 0
        problem = None
        for obj in objs:
            try:
                # Not an object, no kind or an unknown one: the full checks word it.
                event = makers[obj["kind"]](obj)
            except (KeyError, TypeError, IndexError):
                event = None
            if event is not None and event.__class__ is int:
                # Checked, not built (a kind the reader's user does not want): its number.
                if event > last:
                    last = event
                    quick += 1
                    done += 1
                    continue
                event = None
            if event is None or event.seq <= last:
                # A meta line, something the quick checks do not vouch for, or events
                # out of order: the line, parsed alone, takes the full checks, which
                # word what is wrong as they always did.
                self.line = base + done + 1
                self._last_seq = last
                problem = self._load_slowly(lines[done] + b"\n")
                if problem is not None:
                    break
                last = self._last_seq
            else:
                if add is not None:
                    add(event)
                last = event.seq
                quick += 1
                if added is not None:
                    added.append(event)
            done += 1
        self._last_seq = last
        self.events += quick
        if problem is not None:
            return problem
        for raw in lines[done:]:
            done += 1
            self.line = base + done
            problem = self._load_slowly(raw + b"\n")
            if problem is not None:
                return problem
        return None

    def _load_slowly(self, line: bytes) -> str | None:
        """Load one line with every check, the damage worded as ever."""
        events: list[ev.Event] = []
        add = self.trace.add if self.add_to_trace else _keep_out
        problem = _load_line(self.trace, line, self.line, self._field_problem, events, self._last_seq, add)
        if events:
            self.events += 1
            self._last_seq = events[-1].seq
            if self._added is not None:
                self._added.append(events[-1])
        return problem

    def _resume(self, position: int, line: int, last_seq: int, events: int, field_problems: int) -> None:
        """Go on from ``position`` (the start of line ``line + 1``), as if this reader had
        read up to there itself: ``last_seq``, ``events`` and ``field_problems`` are what
        it would have counted (:class:`ReaderProcess` hands a child's reading over)."""
        if self._file is None:
            return
        self._file.seek(position)
        self._position, self.line, self._last_seq = position, line, last_seq
        self.events, self._field_problems = events, field_problems
        self._lines, self._next, self._tail, self._ending = [], 0, b"", None

    def close(self) -> None:
        """Close the file (reading stops)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class ReaderProcess:
    """A :class:`RecordingReader` (without ``add_to_trace``) run in a child process, so
    that reading, parsing and checking a big recording takes the second CPU while this
    process folds and shows what was read.

    It reads the header here (a file that is no recording is refused here, as by the
    reader), then the child runs the very same reader on the same file, slice after
    slice, and sends each slice's events as plain tuples (``marshal``: no code in the
    data) with the reader's state: line, count, position, problems, header facts. So
    every event, problem and word is the reader's own. When the child falls behind (the
    other CPU is busy), or anything goes wrong with it (it cannot start, dies, sends
    garbage), this process reads on by itself from the end of the last slice delivered:
    the result is the same, only the speed differs.
    """

    #: Waiting for the child longer than this share of the time since its first slice
    #: (and at least :attr:`PATIENCE` seconds): it is the slower one; read here instead.
    WAIT_SHARE = 0.2
    PATIENCE = 0.3
    #: Getting less than this share of a CPU while not waiting for the child (measured
    #: from :attr:`SHARE_AFTER` seconds after its first slice on): the CPUs are busy with
    #: other work, and the child's reading only competes with this process for them (its
    #: handing slices over costs a third more CPU than reading here): read here instead.
    MIN_SHARE = 0.75
    SHARE_AFTER = 1.0

    def __init__(self, path: str | os.PathLike[str], trace: Trace, max_bytes: int = MAX_RECORDING_BYTES, *,
                 kinds: Collection[str] | None = None, lines: int = 500, max_bytes_per_step: int = MiB) -> None:
        self.path = os.fspath(path)
        self.trace = trace
        self._max_bytes = max_bytes
        self._kinds = None if kinds is None else sorted(kinds)
        self._lines, self._step_bytes = lines, max_bytes_per_step
        # The header here: refusals raise as the reader's do, and the header's facts and
        # problems reach the trace before any event. Its reader goes on if the child fails.
        self._local = RecordingReader(path, trace, max_bytes, add_to_trace=False, kinds=kinds)
        self._reading_here = False
        self.size = self._local.size
        self.line = self._local.line
        self._position = self._local.position
        self.events = 0
        self.done = False
        self._last_seq = self._local._last_seq
        self._field_problems = self._local._field_problems
        self._fd = -1
        self._child: Any = None
        self._first_slice = 0.0  # when the child's first slice arrived (monotonic)
        self._first_cpu = 0.0  # and this process's CPU time then
        self._waited = 0.0
        try:
            self._start_child()
        except OSError as exc:
            log.info("reading %s here: no child process (%s)", self.path, exc)
            self._read_here()

    @property
    def position(self) -> int:
        """How many bytes of the file were read so far."""
        return self.size if self.done else self._position

    @property
    def in_child(self) -> bool:
        """Whether the child process still does the reading."""
        return not self._reading_here

    def _start_child(self) -> None:
        import subprocess
        import sys

        args = json.dumps([sys.path, self.path, self._max_bytes, self._kinds, self._lines, self._step_bytes])
        self._child = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CODE, args], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True, bufsize=0)
        self._fd = self._child.stdout.fileno()

    def step(self, max_lines: int = 0, max_bytes: int = 0) -> list[ev.Event]:
        """The events of the next slice (the slice's size was set when it was made)."""
        if self.done:
            return []
        if not self._reading_here:
            if not self._first_slice and not self._child_ready():
                # The child is still starting (a Python and its imports, half a second):
                # meanwhile this process reads the first slices itself. They end where
                # the child's do (the same reader, slices and file), and the child's
                # slices up to there are skipped.
                return self._step_here()
            events = self._from_child()
            if events is not None:
                return events
            self._read_here()
        return self._step_here()

    def _step_here(self) -> list[ev.Event]:
        local = self._local
        events = local.step(self._lines, self._step_bytes)
        self.line, self.events, self._position, self.done = local.line, local.events, local.position, local.done
        self._last_seq, self._field_problems = local._last_seq, local._field_problems
        if self.done:
            self._stop_child()
        return events

    def _child_ready(self) -> bool:
        import select

        try:
            return bool(select.select([self._fd], [], [], 0)[0])
        except (OSError, ValueError):
            return True  # reading it fails at once: this process reads on

    def _read_exact(self, count: int) -> bytes:
        parts: list[bytes] = []
        while count:
            part = os.read(self._fd, min(count, 4 * MiB))
            if not part:
                raise ValueError("the child process ended early")
            parts.append(part)
            count -= len(part)
        return b"".join(parts)

    def _from_child(self) -> list[ev.Event] | None:
        """The next slice from the child; None when this process should read on instead."""
        import marshal
        import select

        try:
            if self._first_slice and not select.select([self._fd], [], [], 0)[0]:
                # Not there yet: the child is behind. Wait for it, unless it is the
                # slower one by now (or stuck: this never waits for ever).
                began = time.monotonic()
                allowed = max(self.PATIENCE, self.WAIT_SHARE * (began - self._first_slice)) - self._waited
                ready = False
                while not ready and time.monotonic() - began <= allowed:
                    ready = bool(select.select([self._fd], [], [], 0.05)[0])
                self._waited += time.monotonic() - began
                if not ready:
                    log.info("reading %s here from line %d on: the child is slower", self.path, self.line)
                    return None
            while True:
                size = int.from_bytes(self._read_exact(8), "little")
                (start, rows, line, count, position, done, problems, header, last_seq, field_problems) = (
                    marshal.loads(self._read_exact(size)))
                if position > self._position or done:
                    break
                # A slice this process read itself while the child started.
            if start != self._position:
                raise ValueError(f"the child's slice starts at byte {start}, not {self._position}")
            types = ev.EVENT_TYPES
            events = [types[kind](*fields) for kind, fields in rows]
        except Exception as exc:  # noqa: BLE001 - whatever the child did, read on here
            log.info("reading %s here from line %d on: %s", self.path, self.line, exc)
            return None
        if not self._first_slice:
            self._first_slice = time.monotonic()
            self._first_cpu = time.process_time()
        self.line, self.events, self._position, self.done = line, count, position, done
        self._last_seq, self._field_problems = last_seq, field_problems
        if header is not None:
            self.trace.header.clear()
            self.trace.header.update(header)
        self.trace.problems.extend(problems)
        if done:
            self._stop_child()
        elif self._starved():
            log.info("reading %s here from line %d on: the CPUs are busy", self.path, self.line)
            self._read_here()
        return events

    def _starved(self) -> bool:
        """Whether this process got less than :attr:`MIN_SHARE` of a CPU (not counting
        its waits for the child) since the child's first slice."""
        running = time.monotonic() - self._first_slice - self._waited
        if running < self.SHARE_AFTER:
            return False
        return time.process_time() - self._first_cpu < self.MIN_SHARE * running

    def _read_here(self) -> None:
        """Read on in this process, from the end of the last slice the child delivered."""
        self._stop_child()
        self._reading_here = True
        self._local._resume(self._position, self.line, self._last_seq, self.events, self._field_problems)

    def _stop_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            if child.poll() is None:
                child.kill()
            child.stdout.close()
            child.wait()
        self._fd = -1

    def close(self) -> None:
        """Stop reading (the child too)."""
        self._stop_child()
        self._local.close()


def _child_main(args: str) -> None:
    """The child of :class:`ReaderProcess`: run the reader, send each slice to stdout."""
    import gc
    import marshal
    import sys

    # Nothing read here lives past its slice, and no cycles are made: the collector's
    # passes over each slice's thousands of new objects cost a third of the reading.
    gc.disable()
    _paths, path, max_bytes, kinds, lines, step_bytes = json.loads(args)
    out = sys.stdout.buffer
    trace = Trace()
    reader = RecordingReader(path, trace, max_bytes, add_to_trace=False, kinds=kinds)
    from operator import attrgetter

    # Every event class has the five common fields at least: a getter of all its fields
    # returns them as one tuple, in the order its constructor takes them.
    fields = {cls: attrgetter(*cls._field_types) for cls in ev.EVENT_TYPES.values()}
    seen = len(trace.problems)
    header = dict(trace.header)
    try:
        import fcntl

        fcntl.fcntl(out.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), MiB)
    except (ImportError, OSError):
        pass
    while True:
        start = reader.position
        events = reader.step(lines, step_bytes)
        rows = [(event.kind, fields[event.__class__](event)) for event in events]
        problems = trace.problems[seen:]
        seen = len(trace.problems)
        changed = trace.header != header
        if changed:
            header = dict(trace.header)
        payload = marshal.dumps((start, rows, reader.line, reader.events, reader.position, reader.done,
                                 problems, header if changed else None, reader._last_seq,
                                 reader._field_problems))
        out.write(len(payload).to_bytes(8, "little") + payload)
        out.flush()
        if reader.done:
            return


#: What the child of :class:`ReaderProcess` runs: the parent's import path, then the reader.
_CHILD_CODE = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1])[0]; "
    "from inspector.trace.recording import _child_main; _child_main(sys.argv[1])"
)


def _parse_header(first: bytes, name: str) -> dict[str, Any]:
    if not first:
        raise RecordingError(f"{name} is empty, not an Inspector trace recording")
    try:
        header = json.loads(first)
    except (ValueError, RecursionError):
        raise RecordingError(f"{name} does not start with a JSON header line: "
                             "not an Inspector trace recording") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RecordingError(f"{name} is not an Inspector trace recording (no '{FORMAT}' header)")
    version = header.get("version")
    if version != VERSION or isinstance(version, bool):
        raise RecordingError(f"{name} is format version {_short(version)}; this Inspector reads "
                             f"version {VERSION}")
    return header


def _short(value: Any, limit: int = 40) -> str:
    """A repr cut to ``limit`` characters, for one-line messages about bad values."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<a {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finite(value: Any, low: float, high: float) -> bool:
    return (type(value) is int or type(value) is float) and math.isfinite(value) and low <= value <= high


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_INTEGER


#: Header and meta fields with a known meaning: name -> (check, what it should be).
_FACTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "start_time": (lambda v: _finite(v, 0.0, _MAX_WALL_TIME), "a time (seconds since 1970)"),
    "end_time": (lambda v: _finite(v, 0.0, _MAX_WALL_TIME), "a time (seconds since 1970)"),
    "start_monotonic": (lambda v: _finite(v, -MAX_SECONDS, MAX_SECONDS), "a clock reading in seconds"),
    "reactor": (lambda v: isinstance(v, str), "a reactor name"),
    "host": (lambda v: isinstance(v, str), "a host name"),
    "missed": (_count, "a count of events"),
    "dropped": (lambda v: isinstance(v, dict) and all(isinstance(k, str) and _count(n) for k, n in v.items()),
                "an object of event counts"),
    "redacted": (lambda v: isinstance(v, bool), "true or false"),
}


def _clean_facts(facts: dict[str, Any], problem: Callable[[str], None], header: bool) -> dict[str, Any]:
    """The fields of a header or meta line that make sense; each one that does not is reported."""
    where = "header" if header else "meta"
    clean: dict[str, Any] = {}
    for key, value in facts.items():
        if not header and key in ("format", "version"):
            problem(f"a meta line sets {key!r}, which only the header may")
            continue
        known = _FACTS.get(key)
        if known is not None:
            ok = known[0](value)
            expected = known[1]
        else:
            ok = isinstance(value, (str, bool)) or _finite(value, -MAX_INTEGER, MAX_INTEGER) or value is None
            expected = "text, a number or true/false"
        if ok:
            clean[key] = value
        else:
            problem(f"{where} field {_short(key)} is {_short(value)}, not {expected}")
    return clean


#: Deeper nesting than any event has is damage, decided before parsing: where json.loads
#: gives up depends on how deep the caller's stack is, and the verdict must not.
MAX_NESTING = 64


def _too_deep(raw: bytes, limit: int = MAX_NESTING) -> bool:
    """Whether ``raw`` nests arrays or objects more than ``limit`` deep (outside strings)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _load_line(trace: Trace, raw: bytes, number: int,
               field_problem: Callable[[str], None] | None = None,
               added: list[ev.Event] | None = None, last_seq: int | None = None,
               add: Callable[[ev.Event], Any] | None = None) -> str | None:
    """Add one line's content to ``trace``; return a one-line description of the damage, if any.

    ``field_problem`` hears about a meta line's bad fields, which are skipped without
    stopping the load (the events around them are intact); ``added`` collects the event.
    The event must come after ``last_seq`` (default: the trace's newest) and goes to
    ``add`` (default: the trace's).
    """
    if not raw.endswith(b"\n"):
        return "the file ends in the middle of a line (truncated recording)"
    if not raw.strip():
        return None
    if _too_deep(raw):
        return "not valid JSON (nested too deeply)"
    try:
        obj = json.loads(raw)
    except RecursionError:
        return "not valid JSON (nested too deeply)"
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError included
        return f"not valid JSON ({_one_line(exc)})"
    return _load_object(trace, obj, field_problem, added, last_seq, add)


def _load_object(trace: Trace, obj: Any, field_problem: Callable[[str], None] | None = None,
                 added: list[ev.Event] | None = None, last_seq: int | None = None,
                 add: Callable[[ev.Event], Any] | None = None) -> str | None:
    """Add one parsed line (an event or a meta object) to ``trace``, checking every field;
    return a one-line description of the damage, if any."""
    if isinstance(obj, dict) and "meta" in obj and len(obj) == 1:
        meta = obj["meta"]
        if not isinstance(meta, dict):
            return "a meta line whose value is not an object"
        trace.header.update(_clean_facts(meta, field_problem or (lambda _: None), header=False))
        return None
    if isinstance(obj, dict):
        for name, value in obj.items():
            kind = type(value)
            if kind is float:
                if not -MAX_SECONDS <= value <= MAX_SECONDS:  # NaN fails too
                    return f"not a valid event (field {_short(name)} is {_short(value)}, out of range)"
            elif kind is int and not -MAX_INTEGER <= value <= MAX_INTEGER:
                return f"not a valid event (field {_short(name)} is a number out of range)"
    try:
        event = event_from_json(obj)
    except (EventFormatError, TypeError) as exc:
        return f"not a valid event ({_one_line(exc)})"
    last = trace.feed.last_seq if last_seq is None else last_seq
    if event.seq <= last:
        return f"event numbers go backwards ({event.seq} after {last})"
    (trace.add if add is None else add)(event)
    if added is not None:
        added.append(event)
    return None


def _fast_maker(cls: type[ev.Event], build: bool = True) -> Callable[[dict[str, Any]], Any]:
    """A function that builds a ``cls`` event from a parsed line when every field is
    there, of its exact type and in range, and returns None for anything else (the full
    checks of :func:`_load_object` then take the line and word what is wrong).

    It is generated from the event class's own field names and types (nothing from a
    file), so each kind's checks are straight-line code instead of a loop over fields:
    four times cheaper, and loading is mostly this. Without ``build`` it checks the same
    and returns the event's number (``seq``) instead of an event.
    """
    names = list(cls._field_types)
    body = ["def make(o):", f"    if len(o) != {len(names) + 1}:", "        return None", "    try:"]
    body += [f"        v{i} = o[{name!r}]" for i, name in enumerate(names)]
    body += ["    except KeyError:", "        return None"]
    for i, name in enumerate(names):
        typ = cls._field_types[name]
        if typ is int:
            body.append(f"    if type(v{i}) is not int or not {-MAX_INTEGER} <= v{i} <= {MAX_INTEGER}:")
        elif typ is float:  # NaN fails the comparison too
            body.append(f"    if type(v{i}) is not float or not {-MAX_SECONDS!r} <= v{i} <= {MAX_SECONDS!r}:")
        elif typ is bytes:
            body += [f"    if type(v{i}) is not str:", "        return None", "    try:",
                     f"        v{i} = b64decode(v{i}, validate=True)", "    except ValueError:"]
        else:
            body.append(f"    if type(v{i}) is not {typ.__name__}:")
        body.append("        return None")
        if typ is str and build:
            # Names, states and addresses repeat from event to event: one string object
            # each (a million events named their reactor a million times over), which
            # also lets the child process's marshal send a repeat as a reference.
            body.append(f"    v{i} = intern(v{i})")
    if build:
        body.append(f"    return cls({', '.join(f'v{i}' for i in range(len(names)))})")
    else:
        body.append(f"    return v{names.index('seq')}")
    namespace: dict[str, Any] = {"cls": cls, "b64decode": base64.b64decode, "intern": sys.intern}
    exec(compile("\n".join(body), f"<fast loader of {cls.kind}>", "exec"), namespace)
    return namespace["make"]


#: Event kind -> its quick builder (see :func:`_fast_maker`).
_FAST_MAKERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    kind: _fast_maker(cls) for kind, cls in ev.EVENT_TYPES.items()
}
#: Event kind -> its quick checker (the same checks; returns the number, builds nothing).
_FAST_CHECKERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    kind: _fast_maker(cls, build=False) for kind, cls in ev.EVENT_TYPES.items()
}

#: Bytes read from the file at a time (split into lines at once).
_BLOCK_BYTES = 256 * 1024
#: Lines parsed with one call at most.
_BATCH_LINES = 1000


def _optional_fast_json() -> Callable[[bytes], Any]:
    """``orjson.loads`` if that optional library is installed (it parses a batch in less
    than half the time), else ``json.loads``. Only whole batches go through it: a batch
    it refuses (NaN, lone surrogates, any damage) is read again line by line with
    :mod:`json`, and so is each line whose event fails the quick checks (orjson reads an
    integer past 64 bits as a float), so what loads and every error's words are the same."""
    try:
        import orjson
    except ImportError:
        return json.loads
    return orjson.loads


_batch_loads = _optional_fast_json()


def _keep_out(event: ev.Event) -> None:
    """Where a reader that does not add to its trace puts an event: nowhere."""


def _one_line(exc: BaseException) -> str:
    """An exception's message, on one line and not too long."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:199] + "…"
