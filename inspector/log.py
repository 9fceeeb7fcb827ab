"""Twisted's old-style logging API (``twisted.python.log``), over the ``logging`` module.

``msg("a", "b")`` logs ``"a b"`` at INFO, ``err()`` logs the failure being handled
with its traceback (CRITICAL, as Twisted files ``isError`` events), and
``startLogging(sys.stdout)`` writes every record, Twisted-style
(``2026-01-02 03:04:05+0000 [-] text``), to a file. Records carry the legacy event
dict as ``record.log_event``; observers added with ``addObserver`` receive legacy
event dicts, built from any record, including plain ``logging`` ones.
"""

from __future__ import annotations

import datetime
import logging
import sys
import time
from typing import IO, Any, Callable

from inspector import logger as _logger
from inspector.failure import Failure
from inspector.logger import Logger, LoggingFile, LogLevel

__all__ = [
    "FileLogObserver",
    "addObserver",
    "deferr",
    "err",
    "msg",
    "removeObserver",
    "startLogging",
    "textFromEventDict",
]

_logger._INTERNAL_FILES.add(__file__)

#: The namespace (and ``logging`` logger name) Twisted gives old-style events.
NAMESPACE = "log_legacy"

EventDict = dict[str, Any]
Observer = Callable[[EventDict], None]


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception as exc:
        return f"<{type(value).__name__} instance with an unprintable str(): {exc!r}>"


def _safe_format(fmt: str, values: EventDict) -> str:
    """``fmt % values``, or a line saying why that failed; never raises."""
    try:
        return fmt % values
    except Exception as exc:
        try:
            return f"Invalid format string or unformattable object in log message: {fmt!r}, {values!r} ({exc})"
        except Exception:
            return f"UNFORMATTABLE OBJECT WRITTEN TO LOG with fmt {fmt!r}, MESSAGE LOST"


def _why(eventDict: EventDict) -> str:
    why = eventDict.get("why")
    return _safe_str(why) if why else "Unhandled Error"


def textFromEventDict(eventDict: EventDict) -> str | None:
    """The text an old-style event stands for, or None when it has none.

    The joined ``message`` parts; else, for an error, ``why`` and the traceback; else
    the ``format`` %-rendered with the event.
    """
    message = eventDict.get("message", ())
    if message:
        return " ".join(_safe_str(part) for part in message)
    if eventDict.get("isError") and "failure" in eventDict:
        try:
            tb = eventDict["failure"].getTraceback()
        except Exception as exc:
            tb = f"(unable to obtain traceback): {exc}"
        return f"{_why(eventDict)}\n{tb}"
    if "format" in eventDict:
        return _safe_format(eventDict["format"], eventDict)
    return None


def _record_text(eventDict: EventDict) -> str:
    """The record's message: the event's text without the traceback (``exc_info`` has it)."""
    if not eventDict.get("message") and eventDict.get("isError") and "failure" in eventDict:
        return _why(eventDict)
    return textFromEventDict(eventDict) or ""


def msg(*message: Any, **kw: Any) -> None:
    """Log ``message`` (its parts joined by spaces), or ``format % kw`` when only ``format`` is given.

    ``isError=1`` with ``failure=`` logs a failure; ``system=`` names where it came from.
    """
    event: EventDict = {"system": "-", **kw, "message": message, "time": time.time()}
    event.setdefault("isError", 0)
    level = LogLevel.critical if event["isError"] else LogLevel.info
    event.update(log_namespace=NAMESPACE, log_level=level, log_system=event["system"], log_time=event["time"])
    failure = event.get("failure") if event["isError"] else None
    _logger.deliver(NAMESPACE, _logger.toStdlibLevel(level), event, lambda: _record_text(event), failure)


def err(_stuff: Failure | BaseException | object = None, _why: str | None = None, **kw: Any) -> None:
    """Log a failure with its traceback.

    ``_stuff`` is a Failure, an exception, or None for the exception being handled;
    ``_why`` says what was being done when it happened.
    """
    if _stuff is None:
        _stuff = Failure()
    if isinstance(_stuff, Failure):
        msg(failure=_stuff, why=_why, isError=1, **kw)
    elif isinstance(_stuff, BaseException):
        msg(failure=Failure(_stuff), why=_why, isError=1, **kw)
    else:
        msg(repr(_stuff), why=_why, isError=1, **kw)


deferr = err


# ----------------------------------------------------------------------- observers


def _legacy_event(record: logging.LogRecord) -> EventDict:
    """The old-style event dict a record stands for (Twisted's keys, and ``log_record``)."""
    event = getattr(record, "log_event", None)
    if isinstance(event, dict):
        event = dict(event)
        if "message" not in event:  # a new-style Logger event
            event["message"] = ()
            event.setdefault("time", event.get("log_time", record.created))
            event.setdefault("system", event.get("log_system", "-"))
            if "format" not in event and event.get("log_format") is not None:
                event["format"] = "%(log_legacy)s"
                event["log_legacy"] = record.getMessage()
            if "log_failure" in event:
                event.setdefault("failure", event["log_failure"])
                event.setdefault("isError", 1)
                event.setdefault("why", record.getMessage())
            else:
                event.setdefault("isError", int(event.get("log_level") in (LogLevel.error, LogLevel.critical)))
    else:  # a plain ``logging`` record
        event = {
            "message": (record.getMessage(),),
            "time": record.created,
            "system": record.name,
            "isError": int(record.levelno >= logging.ERROR),
            "log_namespace": record.name,
        }
        if record.exc_info and record.exc_info[1] is not None:
            event.update(
                message=(),
                isError=1,
                why=record.getMessage(),
                failure=Failure(record.exc_info[1], record.exc_info[0], record.exc_info[2]),
            )
    event["log_record"] = record
    return event


class _ObserverHandler(logging.Handler):
    """Gives each record reaching the root logger to an old-style observer."""

    def __init__(self, observer: Observer) -> None:
        super().__init__(logging.NOTSET)
        self.observer = observer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.observer(_legacy_event(record))
        except Exception:
            self.handleError(record)


_handlers: dict[Observer, _ObserverHandler] = {}
_root_level_before: int | None = None


def addObserver(observer: Observer) -> None:
    """Call ``observer(eventDict)`` for every log record, of every level, from now on.

    Like Twisted's observers, it sees debug and info events too: while any observer
    is added the root logger's level is lowered to DEBUG (and restored afterwards).
    """
    global _root_level_before
    if observer in _handlers:
        return
    root = logging.getLogger()
    if not _handlers:
        _root_level_before = root.level
    root.setLevel(logging.DEBUG)
    handler = _handlers[observer] = _ObserverHandler(observer)
    root.addHandler(handler)


def removeObserver(observer: Observer) -> None:
    """Stop calling ``observer``; unknown observers are ignored."""
    global _root_level_before
    handler = _handlers.pop(observer, None)
    if handler is None:
        return
    root = logging.getLogger()
    root.removeHandler(handler)
    if not _handlers and _root_level_before is not None:
        if root.level == logging.DEBUG:
            root.setLevel(_root_level_before)
        _root_level_before = None


class FileLogObserver:
    """Writes events to a file as ``time [system] text`` lines, as Twisted's log files.

    Continuation lines (tracebacks) are indented with a tab. ``timeFormat`` (strftime)
    replaces the default ``2026-01-02 03:04:05+0000`` local time when set.
    """

    timeFormat: str | None = None

    def __init__(self, f: IO[str]) -> None:
        self.write = f.write
        self.flush = f.flush

    def formatTime(self, when: float) -> str:
        """``when`` as the local time at the start of each line."""
        moment = datetime.datetime.fromtimestamp(when)
        if self.timeFormat is not None:
            return moment.strftime(self.timeFormat)
        return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S%z")

    def emit(self, eventDict: EventDict) -> None:
        """Write one event (nothing for an event without text)."""
        text = textFromEventDict(eventDict)
        if text is None:
            return
        line = f"{self.formatTime(eventDict['time'])} [{_safe_str(eventDict.get('system', '-'))}] "
        self.write(line + text.replace("\n", "\n\t") + "\n")
        self.flush()

    def start(self) -> None:
        """Start receiving every log record."""
        addObserver(self.emit)

    def stop(self) -> None:
        """Stop receiving log records."""
        removeObserver(self.emit)


def startLogging(file: IO[str], setStdout: bool = True) -> FileLogObserver | None:
    """Write every log record to ``file`` from now on, Twisted-style, and log "Log opened.".

    With ``setStdout`` (the default) ``sys.stdout`` and ``sys.stderr`` are replaced so
    what is printed is logged: stdout lines at info (namespace ``stdout``), stderr lines
    at error (``stderr``). Returns the observer (``stop()`` ends it), or None when
    ``file`` is itself a redirected standard stream.
    """
    if isinstance(file, LoggingFile):
        return None
    observer = FileLogObserver(file)
    observer.start()
    if setStdout:
        encoding = getattr(sys.stdout, "encoding", None)
        sys.stdout = LoggingFile(Logger("stdout"), LogLevel.info, encoding)
        sys.stderr = LoggingFile(Logger("stderr"), LogLevel.error, encoding)
    msg("Log opened.")
    return observer
