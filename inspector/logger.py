"""Twisted's new-style ``Logger``, feeding the standard ``logging`` module.

``log = Logger()`` at module or class level, then ``log.info("{n} users", n=3)``:
the format is PEP 3101 text rendered from the event's keys (``{log_source}``,
``{log_namespace}`` and the other ``log_*`` keys included). Each event becomes one
``logging`` record on the logger named by the namespace, with the rendered text as
its message, the event dict as ``record.log_event`` and a failure's traceback as
``exc_info``; so handlers, ``caplog`` and the window's Log see Twisted-style events
without a second logging system.
"""

from __future__ import annotations

import enum
import functools
import logging
import string
import sys
import threading
import time
from types import TracebackType
from typing import Any, Callable, Iterator, Mapping

from inspector.failure import Failure

__all__ = [
    "InvalidLogLevelError",
    "LogLevel",
    "Logger",
    "LoggingFile",
    "eventAsText",
    "formatEvent",
    "formatEventAsClassicLogText",
    "formatTime",
    "toStdlibLevel",
]

#: Source files whose frames are skipped when a record names the line that logged.
_INTERNAL_FILES = {__file__}


@functools.total_ordering
class LogLevel(enum.Enum):
    """Twisted's log levels, ordered from ``debug`` to ``critical``."""

    debug = 1
    info = 2
    warn = 3
    error = 4
    critical = 5

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, LogLevel):
            return NotImplemented
        return self.value < other.value

    def __repr__(self) -> str:
        return f"<LogLevel={self.name}>"

    __str__ = __repr__

    @classmethod
    def lookupByName(cls, name: str) -> "LogLevel":
        """The level called ``name``; ValueError if there is none (as ``constantly``)."""
        try:
            return cls[name]
        except KeyError:
            raise ValueError(name) from None

    @classmethod
    def levelWithName(cls, name: str) -> "LogLevel":
        """The level called ``name``; InvalidLogLevelError if there is none."""
        try:
            return cls.lookupByName(name)
        except ValueError:
            raise InvalidLogLevelError(name) from None

    @classmethod
    def iterconstants(cls) -> Iterator["LogLevel"]:
        """Every level, from ``debug`` to ``critical``."""
        return iter(cls)


class InvalidLogLevelError(Exception):
    """Something that is not a LogLevel was used as one."""

    def __init__(self, level: object) -> None:
        super().__init__(str(level))
        self.level = level


_TO_STDLIB = {
    LogLevel.debug: logging.DEBUG,
    LogLevel.info: logging.INFO,
    LogLevel.warn: logging.WARNING,
    LogLevel.error: logging.ERROR,
    LogLevel.critical: logging.CRITICAL,
}


def toStdlibLevel(level: LogLevel) -> int:
    """The ``logging`` level number a LogLevel is recorded at."""
    return _TO_STDLIB[level]


# ----------------------------------------------------------------------- formatting


def _lookup(getter: Callable[[str], Any], name: str) -> Any:
    """``getter(name)``, then called when the name ends in ``()`` (Twisted's call syntax)."""
    if name.endswith("()"):
        return getter(name[:-2])()
    return getter(name)


class _EventFormatter(string.Formatter):
    """PEP 3101 over an event's keys, where ``{key()}`` and ``{key.attr()}`` call."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        first, rest = _string_split(field_name)
        if isinstance(first, int):
            raise KeyError(field_name)  # events have no positional arguments
        value = _lookup(kwargs.__getitem__, first)
        for is_attribute, key in rest:
            if is_attribute:
                value = _lookup(functools.partial(getattr, value), key)
            else:
                value = value[key]
        return value, first


def _string_split(field_name: str) -> tuple[Any, Iterator[tuple[bool, Any]]]:
    import _string  # type: ignore[import-not-found]  # the parser str.format itself uses; typeshed has no stub

    return _string.formatter_field_name_split(field_name)


_formatter = _EventFormatter()


def _unformattable(event: Mapping[str, Any], exc: BaseException) -> str:
    """Text saying an event could not be formatted, and why (never raises)."""
    try:
        return f"Unable to format event {dict(event)!r}: {exc}"
    except BaseException:
        pairs = []
        for key, value in event.items():
            try:
                pairs.append(f"{key!r} = {value!r}")
            except BaseException:
                pairs.append(f"{key!r} = <unrepresentable {type(value).__name__}>")
        return f"MESSAGE LOST: unformattable object logged: {type(exc).__name__}\nRecoverable data: {', '.join(pairs)}"


def formatEvent(event: Mapping[str, Any]) -> str:
    """The event's ``log_format`` rendered with its keys; never raises.

    An event without a format gives ``""``; one whose format cannot be rendered
    gives a line saying so, with the event and the error, as Twisted's does.
    """
    try:
        fmt = event.get("log_format")
        if fmt is None:
            return ""
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8")
        if not isinstance(fmt, str):
            raise TypeError(f"Log format must be str, not {fmt!r}")
        return _formatter.vformat(fmt, (), event)
    except BaseException as exc:
        return _unformattable(event, exc)


def _failure_text(failure: Any) -> str:
    try:
        return str(failure.getTraceback())
    except BaseException as exc:
        return f"(UNABLE TO OBTAIN TRACEBACK FROM EVENT):{exc}"


def formatTime(when: float | None, timeFormat: str | None = "%Y-%m-%dT%H:%M:%S%z", default: str = "-") -> str:
    """``when`` (a POSIX time) as local time in ``timeFormat``; ``default`` if either is None."""
    if when is None or timeFormat is None:
        return default
    import datetime

    return datetime.datetime.fromtimestamp(when).astimezone().strftime(timeFormat)


def _system(event: Mapping[str, Any]) -> str:
    system = event.get("log_system")
    if system is not None:
        try:
            return str(system)
        except Exception:
            return "UNFORMATTABLE"
    level = event.get("log_level")
    level_name = level.name if isinstance(level, LogLevel) else "-"
    return f"{event.get('log_namespace', '-')}#{level_name}"


def eventAsText(
    event: Mapping[str, Any],
    includeTraceback: bool = True,
    includeTimestamp: bool = True,
    includeSystem: bool = True,
    formatTime: Callable[[float | None], str] = formatTime,
) -> str:
    """The event as ``time [namespace#level] text`` plus its failure's traceback.

    Empty when the event has neither text nor a failure.
    """
    text = formatEvent(event)
    if includeTraceback and "log_failure" in event:
        text = "\n".join((text, _failure_text(event["log_failure"])))
    if not text:
        return text
    stamp = f"{formatTime(event.get('log_time'))} " if includeTimestamp else ""
    system = f"[{_system(event)}] " if includeSystem else ""
    return f"{stamp}{system}{text}"


def formatEventAsClassicLogText(
    event: Mapping[str, Any], formatTime: Callable[[float | None], str] = formatTime
) -> str | None:
    """One log-file line (continuation lines tab-indented), or None when there is no text."""
    text = eventAsText(event, formatTime=formatTime)
    if not text:
        return None
    return text.replace("\n", "\n\t") + "\n"


# ----------------------------------------------------------------------- delivery


def _caller() -> tuple[str, int, str]:
    """File, line and function of the nearest frame outside the logging modules."""
    frame: Any = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename in _INTERNAL_FILES:
        frame = frame.f_back
    if frame is None:
        return "(unknown file)", 0, "(unknown function)"
    return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name


def _exc_info(failure: Any) -> tuple[Any, Any, TracebackType | None] | None:
    value = getattr(failure, "value", None)
    if not isinstance(value, BaseException):
        return None
    tb = getattr(failure, "tb", None) or value.__traceback__
    return (type(value), value, tb)


def deliver(
    name: str,
    pylevel: int,
    event: dict[str, Any],
    message: str | Callable[[], str],
    failure: Failure | None,
) -> None:
    """Hand one event to the ``logging`` logger ``name`` as one record.

    ``message`` may be a callable so the text is built only when a handler will see it.
    The record points at the user's line that logged. A failure whose traceback object
    was dropped (``cleanFailure``) keeps its captured frames as the record's ``exc_text``.
    """
    logger = logging.getLogger(name)
    if not logger.isEnabledFor(pylevel):
        return
    text = message() if callable(message) else message
    filename, lineno, function = _caller()
    exc_info = _exc_info(failure) if failure is not None else None
    record = logger.makeRecord(
        logger.name, pylevel, filename, lineno, text, (), exc_info, function, {"log_event": event}
    )
    if exc_info is not None and exc_info[2] is None:
        record.exc_text = _failure_text(failure).rstrip("\n")
    logger.handle(record)


class _FailuresHandled:
    """``with log.failuresHandled(...) as op``: log an exception and carry on."""

    succeeded = False
    failure: Failure | None = None

    def __init__(self, fail: Callable[[Failure], None]) -> None:
        self._fail = fail

    @property
    def failed(self) -> bool:
        return self.failure is not None

    def __enter__(self) -> "_FailuresHandled":
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> bool:
        if exc_type is None:
            self.succeeded = True
        else:
            self.failure = Failure(exc_value, exc_type, tb)
            self._fail(self.failure)
        return True


class _FailureHandler:
    """A reusable ``with`` block that logs any exception and swallows it."""

    def __init__(self, fail: Callable[[Failure], None]) -> None:
        self._fail = fail

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> bool:
        if exc_type is not None:
            self._fail(Failure(exc_value, exc_type, tb))
        return True


class Logger:
    """Emits structured events under a namespace, as Twisted's ``Logger`` does.

    ``namespace`` defaults to the name of the module that creates the logger. Used
    as a class attribute, each access gives a logger whose namespace is
    ``module.Class`` and whose ``source`` is the instance (or the class).
    """

    def __init__(self, namespace: str | None = None, source: object | None = None) -> None:
        if namespace is None:
            try:
                namespace = sys._getframe(1).f_globals["__name__"]
            except (KeyError, ValueError):
                namespace = "<unknown>"
        self.namespace: str = namespace
        self.source = source

    def __get__(self, instance: object, owner: type | None = None) -> "Logger":
        if owner is None:
            owner = type(instance)
        return type(self)(f"{owner.__module__}.{owner.__name__}", owner if instance is None else instance)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.namespace!r}>"

    def _emit(self, level: LogLevel, fmt: str | None, kwargs: dict[str, Any]) -> None:
        if not isinstance(level, LogLevel):
            self._emit(
                LogLevel.critical,
                "Got invalid log level {invalidLevel!r} in {logger}.emit().",
                {"log_failure": Failure(InvalidLogLevelError(level)), "invalidLevel": level, "logger": self},
            )
            return
        event = kwargs
        event.update(
            log_logger=self,
            log_level=level,
            log_namespace=self.namespace,
            log_source=self.source,
            log_format=fmt,
            log_time=time.time(),
        )
        deliver(self.namespace, _TO_STDLIB[level], event, lambda: formatEvent(event), event.get("log_failure"))

    def emit(self, level: LogLevel, format: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        """Log an event at ``level``; ``format`` is rendered from the event's keys."""
        self._emit(level, format, kwargs)

    def failure(
        self,
        format: str,  # noqa: A002
        failure: Failure | None = None,
        level: LogLevel = LogLevel.critical,
        **kwargs: Any,
    ) -> None:
        """Log an unexpected failure with its traceback (the one being handled if None).

        Critical by default: nothing says what the failure broke.
        """
        if failure is None:
            failure = Failure()
        kwargs["log_failure"] = failure
        self._emit(level, format, kwargs)

    def debug(self, format: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        """Log an event for developers diagnosing a problem."""
        self._emit(LogLevel.debug, format, kwargs)

    def info(self, format: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        """Log routine information (a connection came in, a service started)."""
        self._emit(LogLevel.info, format, kwargs)

    def warn(self, format: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        """Log something that needs attention but is not a failure of the system."""
        self._emit(LogLevel.warn, format, kwargs)

    def error(self, format: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        """Log a failure of the system (lost a needed peer, ran out of a resource)."""
        self._emit(LogLevel.error, format, kwargs)

    def critical(self, format: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        """Log a failure that must be dealt with at once."""
        self._emit(LogLevel.critical, format, kwargs)

    def failuresHandled(
        self, format: str, level: LogLevel = LogLevel.critical, **kwargs: Any  # noqa: A002
    ) -> _FailuresHandled:
        """A ``with`` block whose exception is logged (as ``failure``) and not raised.

        The object it gives says whether the block ``succeeded`` or ``failed``.
        """
        return _FailuresHandled(lambda f: self.failure(format, f, level, **kwargs))

    def failureHandler(self, staticMessage: str, level: LogLevel = LogLevel.critical) -> _FailureHandler:
        """A reusable ``with`` block for hot code: log any exception with a fixed message."""
        return _FailureHandler(lambda f: self.failure(staticMessage, f, level))



class LoggingFile:
    """A write-only file whose every complete line becomes a log event.

    ``sys.stdout`` and ``sys.stderr`` are replaced by these when ``startLogging``
    redirects standard output, so ``print`` goes to the log (``{log_io}`` holds the line).
    """

    softspace = 0

    def __init__(self, logger: Logger, level: LogLevel = LogLevel.info, encoding: str | None = None) -> None:
        self.log = logger
        self.level = level
        self._encoding = encoding or sys.getdefaultencoding()
        self._buffer = ""
        self._closed = False
        self._local = threading.local()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def encoding(self) -> str:
        return self._encoding

    @property
    def mode(self) -> str:
        return "w"

    @property
    def newlines(self) -> None:
        return None

    @property
    def name(self) -> str:
        return f"<{type(self).__name__} {self.log.namespace}#{self.level.name}>"

    def close(self) -> None:
        """Refuse further writes."""
        self._closed = True

    def flush(self) -> None:
        """Nothing to do: lines are logged as they complete."""

    def fileno(self) -> int:
        """No descriptor behind this file: io.UnsupportedOperation."""
        import io

        raise io.UnsupportedOperation("LoggingFile has no file descriptor.")

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def write(self, message: str | bytes) -> int:
        """Log each complete line of ``message``; keep a partial line for the next write."""
        if self._closed:
            raise ValueError("I/O operation on closed file")
        text = message.decode(self._encoding) if isinstance(message, bytes) else message
        lines = (self._buffer + text).split("\n")
        self._buffer = lines.pop()
        if getattr(self._local, "writing", False):
            # A handler printed while this file was logging: emitting again would recurse.
            fallback = sys.__stderr__
            if fallback is not None:
                fallback.write("".join(line + "\n" for line in lines))
            return len(text)
        self._local.writing = True
        try:
            for line in lines:
                self.log.emit(self.level, "{log_io}", log_io=line)
        finally:
            self._local.writing = False
        return len(text)

    def writelines(self, lines: Any) -> None:
        """Write each of ``lines`` in turn."""
        for line in lines:
            self.write(line)

    def _unsupported(self, *args: object) -> None:
        raise OSError("unsupported operation")

    read = readline = readlines = seek = tell = truncate = next = _unsupported
