"""The log's view-model: the logging handler that feeds the store, the log's cell
texts and its filter rules (minimum level, text, time range). No Qt.

Records logged on the "inspector" logger (from any thread) are queued by
:class:`WindowLogHandler` and moved into the store on the next window refresh, so
errors show in the window, never only on stderr.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import time
import traceback
from collections import deque

from inspector.ui.viewmodel.store import LogEntry, Store

__all__ = ["LEVELS", "HEADERS", "WindowLogHandler", "row_texts", "short_location", "LogFilterRules"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
HEADERS = ("Time", "Level", "Source", "Message", "Location")


class WindowLogHandler(logging.Handler):
    """Queues log records for the window; thread-safe, never blocks the logger."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.pending: deque[logging.LogRecord] = deque(maxlen=10_000)

    def emit(self, record: logging.LogRecord) -> None:
        self.pending.append(record)

    def drain_into(self, store: Store) -> None:
        """Move queued records into ``store``'s log."""
        offset = time.monotonic() - time.time()
        while self.pending:
            record = self.pending.popleft()
            # A Failure's traceback survives only as text once cleaned: a record may carry
            # it as ``extra={"details": text}``.
            details = str(getattr(record, "details", "") or "")
            if record.exc_info and record.exc_info[1] is not None:
                details = "".join(traceback.format_exception(*record.exc_info))
            try:
                message = record.getMessage()
            except Exception as exc:  # a bad format string must not lose the record
                message = f"{record.msg!r} (unformattable: {exc})"
            store.add_log(
                record.created + offset,
                record.levelname,
                record.name,
                message,
                f"{record.pathname}:{record.lineno}",
                details,
            )


_LINE = re.compile(r"^(.*?)(:\d+)?$", re.S)


@functools.lru_cache(maxsize=1024)
def short_location(location: str) -> str:
    """``location`` (``path:line``) with the path as Python imports it: relative to the
    folder it is imported from (``inspector/catalog/connlog.py:57``,
    ``asyncio/events.py:80``) or to the working directory; unchanged otherwise.

    The column is narrow, and an absolute path shows only its uninformative start; the
    whole location stays in the entry (its tooltip, its details, the text filter)."""
    match = _LINE.match(location)
    path, line = (match.group(1), match.group(2) or "") if match else (location, "")
    if not os.path.isabs(path):
        return location
    best = ""
    for root in _import_roots():
        if os.path.dirname(root) == root:  # the file system's root shortens nothing
            continue
        prefix = root.rstrip(os.sep) + os.sep
        if path.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return path[len(best):] + line if best else location


def _import_roots() -> list[str]:
    """The folders Python imports from: ``sys.path``, the working directory, and the
    folder above each imported top-level package (an editable install's package is found
    by a finder, not through ``sys.path``)."""
    roots = [os.path.abspath(entry or os.curdir) for entry in sys.path]
    roots.append(os.path.abspath(os.curdir))
    for name, module in list(sys.modules.items()):
        if "." not in name:
            for folder in getattr(module, "__path__", None) or ():
                if isinstance(folder, str):
                    roots.append(os.path.dirname(os.path.abspath(folder)))
    return roots


def row_texts(entry: LogEntry, origin: float) -> tuple[str, ...]:
    """The cells of ``entry``'s row: seconds since ``origin``, level, source, the
    message's first line, location (its path shortened, :func:`short_location`)."""
    return (
        f"{entry.time - origin:.3f}",
        entry.level,
        entry.source,
        entry.message.splitlines()[0] if entry.message else "",
        short_location(entry.location),
    )


class LogFilterRules:
    """Which entries to list: at or above a level, matching a text, within the time range."""

    def __init__(self) -> None:
        self.minimum = 0
        self.text = ""

    def set(self, level: str | None = None, text: str | None = None) -> None:
        """Change the minimum level and/or the text to match."""
        if level is not None:
            self.minimum = LEVELS.index(level) if level in LEVELS else 0
        if text is not None:
            self.text = text.lower()

    def accepts(self, entry: LogEntry, store: Store) -> bool:
        """True when ``entry`` should be listed."""
        level = LEVELS.index(entry.level) if entry.level in LEVELS else 2
        if level < self.minimum:
            return False
        if not store.in_range(entry.time, entry.time):
            return False
        if self.text:
            return self.text in f"{entry.source} {entry.message} {entry.location}".lower()
        return True
