"""Failure: an exception together with where it happened, passed down errback chains.

A Failure is cheap to make (it stores the exception and its traceback object, nothing
is formatted); the frames are turned into plain data only when someone asks for them
or calls ``cleanFailure()``, which also drops every reference to live frames so a
Failure kept for later does not keep whole call stacks alive.
"""

from __future__ import annotations

import linecache
import sys
import traceback as _traceback
from types import TracebackType
from typing import IO, Any, Generator, NoReturn, Optional, Union

__all__ = ["Failure", "NoCurrentExceptionError"]

# A frame as plain data: (function name, file name, line number, locals, globals);
# the last two stay empty (variables are never captured) but keep Twisted's shape.


class NoCurrentExceptionError(Exception):
    """``Failure()`` was called with no exception and outside an ``except`` block."""

    def __str__(self) -> str:
        return "Failure() needs an exception: none was given and none is being handled."


def _safe_str(value: object) -> str:
    """``str(value)``, or a description of why it could not be made."""
    try:
        return str(value)
    except BaseException as e:  # noqa: BLE001 - a broken __str__ must not hide the failure
        return f"<{type(value).__name__} instance: str() failed with {type(e).__name__}>"


def _frames_from_tb(tb: Optional[TracebackType]) -> list:
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_name, code.co_filename, tb.tb_lineno, (), ()))
        tb = tb.tb_next
    return frames


class Failure:
    """An exception and its traceback, as a value that can travel down errback chains.

    ``Failure()`` inside an ``except`` block captures the exception being handled;
    ``Failure(exc)`` wraps ``exc`` (with ``exc.__traceback__`` if it was raised).
    A Failure re-raised with ``raiseException()`` (or by ``trap``) and caught again by
    a Deferred is passed on as the same object, not wrapped again.
    """

    __slots__ = ("value", "type", "tb", "_frames", "captureVars", "__weakref__")

    # Python's own name for the traceback "pickled"; kept for Twisted-style code.
    pickled = 0

    def __init__(
        self,
        exc_value: Optional[Union[BaseException, "Failure"]] = None,
        exc_type: Optional[type] = None,
        exc_tb: Optional[TracebackType] = None,
        captureVars: bool = False,
    ) -> None:
        self.captureVars = captureVars
        if exc_value is None:
            exc = sys.exception()
            if exc is None:
                raise NoCurrentExceptionError()
            stamped = getattr(exc, "__failure__", None)
            if stamped is not None and stamped.value is exc:
                self._copy(stamped)
                return
            exc_value = exc
            if exc_tb is None:
                exc_tb = exc.__traceback__
        elif isinstance(exc_value, Failure):
            self._copy(exc_value)
            return
        elif not isinstance(exc_value, BaseException):
            raise TypeError(
                f"Failure needs an exception instance (or a Failure), got {exc_value!r}"
            )
        elif exc_tb is None:
            exc_tb = exc_value.__traceback__
        self.value = exc_value
        self.type = exc_type if exc_type is not None else type(exc_value)
        self.tb = exc_tb
        self._frames: Optional[list] = None

    def _copy(self, other: "Failure") -> None:
        self.value = other.value
        self.type = other.type
        self.tb = other.tb
        self._frames = other._frames

    @classmethod
    def _fromCurrent(cls) -> "Failure":
        """The Failure for the exception being handled: the original one if it was a
        Failure re-raised by ``raiseException``/``trap``, otherwise a new one."""
        exc = sys.exception()
        stamped = getattr(exc, "__failure__", None)
        if stamped is not None and stamped.value is exc:
            return stamped
        return cls(exc)

    # -- the traceback as data --------------------------------------------------

    @property
    def frames(self) -> list:
        """The traceback's frames, innermost last, as plain data tuples
        ``(function, filename, lineno, (), ())``."""
        frames = self._frames
        if frames is None:
            frames = self._frames = _frames_from_tb(self.tb)
        return frames

    @property
    def stack(self) -> list:
        """Frames above the point the exception was caught; not captured (always empty)."""
        return []

    @property
    def parents(self) -> list:
        """Qualified names of the exception type and all its bases."""
        return [f"{c.__module__}.{c.__qualname__}" for c in self.type.__mro__]

    def cleanFailure(self) -> None:
        """Keep the traceback as plain data and drop every reference to live frames."""
        if self._frames is None:
            self._frames = _frames_from_tb(self.tb)
        self.tb = None
        # The exception, and those it was raised from or during, would otherwise keep
        # their frames (and every local variable in them) alive.
        seen: set[int] = set()
        exc: Optional[BaseException] = self.value
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            if exc.__traceback__ is not None:
                exc.__traceback__ = None
            exc = exc.__cause__ or exc.__context__

    def getTracebackObject(self) -> Optional[TracebackType]:
        """The live traceback object, or None once the Failure has been cleaned."""
        return self.tb

    # -- inspecting ---------------------------------------------------------------

    def check(self, *errorTypes: Union[type, str]) -> Optional[Union[type, str]]:
        """Return the first of ``errorTypes`` this failure's exception is an instance of
        (a class, or a fully qualified class name), or None."""
        mytype = self.type
        for error in errorTypes:
            if isinstance(error, str):
                if error in self.parents:
                    return error
            elif isinstance(error, type) and issubclass(mytype, error):
                return error
        return None

    def trap(self, *errorTypes: Union[type, str]) -> Union[type, str]:
        """Return the matching type like ``check``; when none matches, re-raise this
        Failure so the next errback receives it unchanged."""
        error = self.check(*errorTypes)
        if error is None:
            self.raiseException()
        return error

    def getErrorMessage(self) -> str:
        """The exception's message as a string."""
        value = self.value
        if isinstance(value, Failure):
            return value.getErrorMessage()
        return _safe_str(value)

    # -- raising ------------------------------------------------------------------

    def _stamp(self) -> BaseException:
        """Mark the exception as ours, so catching it again finds this Failure."""
        value = self.value
        try:
            value.__failure__ = self  # type: ignore[attr-defined]
        except AttributeError:  # an exception type that refuses attributes
            pass
        return value

    def raiseException(self) -> NoReturn:
        """Raise the wrapped exception with its original traceback."""
        raise self._stamp().with_traceback(self.tb)

    def throwExceptionIntoGenerator(self, g: Generator[Any, Any, Any]) -> Any:
        """Throw the exception into generator (or coroutine) ``g`` at its current yield."""
        return g.throw(self._stamp().with_traceback(self.tb))

    # -- formatting ---------------------------------------------------------------

    def _exception_lines(self) -> list[str]:
        return _traceback.format_exception_only(self.type, self.value)

    def getTraceback(self, elideFrameworkCode: int = 0, detail: str = "default") -> str:
        """The traceback as text, formatted like Python's (``detail="brief"`` gives
        one ``file:line:function`` line per frame)."""
        frames = self.frames
        if detail == "brief":
            lines = [f"{filename}:{lineno}:{name}\n" for name, filename, lineno, _l, _g in frames]
            head = "Traceback: " if frames else "Traceback (failure with no frames): "
            return head + "".join(lines) + "".join(self._exception_lines())
        if not frames:
            return (
                f"Traceback (failure with no frames): {self.type}: "
                f"{self.getErrorMessage()}\n"
            )
        out = ["Traceback (most recent call last):\n"]
        for name, filename, lineno, _l, _g in frames:
            out.append(f'  File "{filename}", line {lineno}, in {name}\n')
            source = linecache.getline(filename, lineno).strip()
            if source:
                out.append(f"    {source}\n")
        out.extend(self._exception_lines())
        return "".join(out)

    def getBriefTraceback(self) -> str:
        """One line per frame, then the exception."""
        return self.getTraceback(detail="brief")

    def printTraceback(
        self, file: Optional[IO[str]] = None, elideFrameworkCode: bool = False, detail: str = "default"
    ) -> None:
        """Write the traceback text to ``file`` (standard error by default)."""
        (file or sys.stderr).write(self.getTraceback(elideFrameworkCode, detail))

    def printBriefTraceback(self, file: Optional[IO[str]] = None) -> None:
        """Write the brief traceback to ``file`` (standard error by default)."""
        (file or sys.stderr).write(self.getBriefTraceback())

    printDetailedTraceback = printTraceback

    def __repr__(self) -> str:
        t = self.type
        return f"<{type(self).__module__}.Failure {t.__module__}.{t.__qualname__}: {self.getErrorMessage()}>"

    def __str__(self) -> str:
        return f"[Failure instance: {self.getBriefTraceback()}]"

    # -- pickling: only the plain data travels --------------------------------------

    def __getstate__(self) -> dict:
        return {
            "value": self.value,
            "type": self.type,
            "frames": self.frames,
            "captureVars": self.captureVars,
        }

    def __setstate__(self, state: dict) -> None:
        self.value = state["value"]
        self.type = state["type"]
        self.tb = None
        self._frames = state["frames"]
        self.captureVars = state.get("captureVars", False)
