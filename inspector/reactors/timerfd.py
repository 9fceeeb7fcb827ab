"""A Linux timerfd aimed at absolute ``time.monotonic()`` deadlines, to the microsecond.

A host loop's own timer may be coarser than the reactor's deadlines: Qt's takes whole
milliseconds, so a call aimed with it runs up to 1 ms late. A timerfd expires on the
kernel's monotonic clock (the one ``time.monotonic()`` reads), so a reactor can aim it
at a DelayedCall's own time and watch its descriptor with the rest. Python 3.11 has no
``os.timerfd_*`` (added in 3.13), so this calls libc through ctypes; :func:`available`
says whether it can.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import sys
import time

__all__ = ["TimerFD", "available"]

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _TimeSpec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("it_interval", _TimeSpec), ("it_value", _TimeSpec)]


def _load() -> tuple[object, object] | None:
    """libc's timerfd_create and timerfd_settime, or None where they (or a matching clock) are missing."""
    if not sys.platform.startswith("linux"):
        return None
    if time.get_clock_info("monotonic").implementation != "clock_gettime(CLOCK_MONOTONIC)":
        return None  # deadlines would be on another clock than the timerfd's
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        create = libc.timerfd_create
        settime = libc.timerfd_settime
    except (OSError, AttributeError):
        return None
    create.argtypes = [ctypes.c_int, ctypes.c_int]
    create.restype = ctypes.c_int
    settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_ITimerSpec), ctypes.c_void_p]
    settime.restype = ctypes.c_int
    return create, settime


_calls = _load()


def available() -> bool:
    """Whether :class:`TimerFD` works here (Linux, with time.monotonic on CLOCK_MONOTONIC)."""
    return _calls is not None


class TimerFD:
    """One non-blocking timerfd on CLOCK_MONOTONIC: :meth:`aim` it at a deadline, watch
    :meth:`fileno` for reading; it stays readable from expiry until :meth:`clear`,
    :meth:`aim` or :meth:`disarm`."""

    __slots__ = ("_fd", "_spec", "_settime", "_ref")

    def __init__(self) -> None:
        if _calls is None:
            raise OSError("timerfd is not available on this platform")
        create, settime = _calls
        fd = create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)  # type: ignore[operator]
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        self._fd = fd
        self._spec = _ITimerSpec()
        self._settime = settime
        self._ref = ctypes.byref(self._spec)

    def fileno(self) -> int:
        return self._fd

    def aim(self, deadline: float) -> None:
        """Expire at ``deadline`` (a ``time.monotonic()`` value), never before it.

        Rounded up to the next whole microsecond plus one, so that ``monotonic()`` read
        after the expiry is past ``deadline`` despite float rounding. A deadline already
        past expires at once.
        """
        usec = math.ceil(deadline * 1e6) + 1
        if usec < 1:
            usec = 1  # all zeros would disarm it
        value = self._spec.it_value
        value.tv_sec, rest = divmod(usec, 1_000_000)
        value.tv_nsec = rest * 1000
        self._set(_TFD_TIMER_ABSTIME)

    def disarm(self) -> None:
        """Never expire (until aimed again)."""
        value = self._spec.it_value
        value.tv_sec = value.tv_nsec = 0
        self._set(0)

    def clear(self) -> None:
        """Consume an expiry (the descriptor is no longer readable); nothing if none."""
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            pass

    def _set(self, flags: int) -> None:
        if self._settime(self._fd, flags, self._ref, None) < 0:  # type: ignore[operator]
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))

    def close(self) -> None:
        """Close the descriptor (which also takes it out of any epoll set); safe twice."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
