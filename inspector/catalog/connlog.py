"""How a catalogue server logs its connections without the log costing more than the server.

A person watching ``inspector serve`` wants to see clients arrive, but a line per
connect and per close cost a quarter of a QOTD server's speed under churn. So the
first ``first`` connections of an ``interval`` are logged one by one (open and
close), the rest are counted and summarised in one line per interval ("1,234
connections in the last 10 s, 3 open"); while connections keep coming, every interval
is only counted, and once one passes without any, the next are logged one by one
again. A close for a reason other than a clean end is always logged, and with ``-v``
(DEBUG enabled) every connection is logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

__all__ = ["ConnectionLog"]


class ConnectionLog:
    """Logs one server's connections on ``log``, summarising what comes in bursts.

    ``opened`` says whether that connection was logged, so the caller calls ``closed``
    (which logs the close) for every connection whose open was shown, and for one that
    ended in an error. While ``counting`` is True a summary is already due, and a caller
    on a hot path may just add 1 to ``counted`` instead of calling ``opened`` (no call, no
    clock read per connection). ``open_count`` says how many connections are open, for
    the summary line. Summaries need a reactor (``reactor``, set once the server listens) to come out at
    the end of a busy interval; without one, they are written when the next connection
    arrives after the interval or on ``flush``.
    """

    #: Connections logged one by one per interval before the rest are summarised.
    first = 10
    #: Seconds per summary line.
    interval = 10.0

    def __init__(
        self, label: str, log: logging.Logger, reactor: Any = None, open_count: Callable[[], int] = lambda: 0,
    ) -> None:
        self.label = label
        self.log = log
        self.reactor = reactor
        self.open_count = open_count
        #: True while a summary is scheduled: new connections are only counted.
        self.counting = False
        #: Connections opened in this interval and not logged one by one.
        self.counted = 0
        self._window_start: float | None = None  # when the current interval began
        self._shown = 0  # connections logged one by one in this interval
        self._announced = False  # the "summarised from now on" line was written
        self._timer: Any = None

    def _now(self) -> float:
        reactor = self.reactor
        return reactor.seconds() if reactor is not None else time.monotonic()

    def opened(self, addr: Any) -> bool:
        """A connection from ``addr`` opened: log it, or count it; True if it was logged."""
        if self.counting:  # the summary already scheduled: the churn path
            self.counted += 1
            return False
        now = self._now()
        start = self._window_start
        if start is None or now - start >= self.interval:
            if self.counted:
                self._summarise(now)
            self._window_start = now
            self._shown = 0
        if self._shown < self.first or self.log.isEnabledFor(logging.DEBUG):
            self._shown += 1
            self.log.info("%s: connection from %s", self.label, addr)
            return True
        self.counted += 1
        if not self._announced:
            self._announced = True
            self.log.info(
                "%s: more than %d connections in %g s; counting them in one line every %g s from now on"
                " (-v logs each)", self.label, self.first, self.interval, self.interval,
            )
        if self._timer is None and self.reactor is not None:
            assert self._window_start is not None
            delay = max(0.0, self._window_start + self.interval - now)
            self._timer = self.reactor.callLater(delay, self._tick)
            self.counting = True
        return False

    def closed(self, reason: Any, addr: Any) -> None:
        """Log that the connection from ``addr`` closed for ``reason`` (called for those
        whose open was logged, and those that ended in an error)."""
        why = reason.getErrorMessage() if hasattr(reason, "getErrorMessage") else reason
        self.log.info("%s: connection from %s closed: %s", self.label, addr, why)

    def _tick(self) -> None:
        self._timer = None
        now = self._now()
        busy = self.counted > 0
        self._summarise(now)
        if busy and self.reactor is not None:
            # Connections keep coming: the next interval is only counted (no call, no
            # clock read, no log line a connection), and summarised at its end.
            self._window_start = now
            self._shown = 0
            self._timer = self.reactor.callLater(self.interval, self._tick)
            return
        self.counting = False
        self._window_start = None  # the next connection starts a new interval

    def _summarise(self, now: float) -> None:
        counted, self.counted = self.counted, 0
        if not counted:
            return
        shown = self._shown
        start = self._window_start if self._window_start is not None else now
        self.log.info(
            "%s: %s connections in the last %.1f s (%d of them logged above), %d open",
            self.label, f"{counted + shown:,}", max(now - start, 0.0), shown, self.open_count(),
        )

    def flush(self) -> None:
        """Write the summary of the current interval now (the server is stopping)."""
        timer, self._timer = self._timer, None
        self.counting = False
        if timer is not None and timer.active():
            timer.cancel()
        self._summarise(self._now())
        self._window_start = None
