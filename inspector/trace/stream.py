"""Reading a live trace stream: the recording format, pushed a chunk at a time.

A process that serves its trace (:mod:`inspector.trace.live`) sends exactly what a
recording file holds: the header line, then event and ``{"meta": ...}`` lines. A
:class:`StreamReader` takes the bytes as they arrive and adds each complete line to a
:class:`~inspector.trace.model.Trace` with the same line loader as
:class:`~inspector.trace.recording.RecordingReader`, returning the events each chunk
held, so a viewer shows a live process and a file the same way.

The only line a stream may have that a file has not is the server's refusal, sent
instead of the header: ``{"refused": "REASON"}``; the reader then sets ``refused``.
"""

from __future__ import annotations

import json
from typing import Any

from inspector.trace import events as ev
from inspector.trace.model import Trace
from inspector.trace.recording import (
    MAX_LINE_BYTES,
    RecordingError,
    _clean_facts,
    _load_line,
    _parse_header,
)

__all__ = ["StreamReader", "refusal_line", "hello_line", "parse_hello", "MAX_HELLO_BYTES"]

#: The longest first line a server reads from a viewer (its hello with the token).
MAX_HELLO_BYTES = 4096


def hello_line(token: str | None) -> bytes:
    """The line a viewer sends first: ``{"token": TOKEN}`` (``null`` without one)."""
    return json.dumps({"token": token}).encode("utf-8") + b"\n"


def parse_hello(line: bytes) -> str | None:
    """The token of a viewer's hello line (None if it sent none); ValueError if the
    line is not a hello."""
    try:
        obj = json.loads(line)
    except ValueError:
        raise ValueError("the first line is not JSON (expected {\"token\": ...})") from None
    if not isinstance(obj, dict) or "token" not in obj:
        raise ValueError("the first line is not a hello (expected {\"token\": ...})")
    token = obj["token"]
    if token is not None and not isinstance(token, str):
        raise ValueError("the token must be text")
    return token


def refusal_line(reason: str) -> bytes:
    """The one line a server sends to a viewer it turns away, before closing."""
    return json.dumps({"refused": reason}).encode("utf-8") + b"\n"


class StreamReader:
    """Adds the lines of one live trace stream to ``trace`` as their bytes arrive.

    :meth:`feed` returns the events the complete lines held (in order). ``header`` is
    the stream's header once read; ``refused`` the server's reason if it turned the
    viewer away; ``done`` turns True at a refusal or at the first damage, which is
    described in ``trace.problems`` (the caller should then close the connection).
    ``missed`` is how many events the server could not send this viewer (it read too
    slowly), as the server last reported.
    """

    def __init__(self, trace: Trace, name: str = "trace stream") -> None:
        self.trace = trace
        self.name = name
        self.header: dict[str, Any] | None = None
        self.refused = ""
        self.done = False
        self.line = 0
        self._pending = bytearray()

    @property
    def missed(self) -> int:
        """Events the server dropped for this viewer so far (its latest ``missed`` meta)."""
        value = self.trace.header.get("missed", 0) if self.header is not None else 0
        return value if isinstance(value, int) else 0

    def feed(self, data: bytes) -> list[ev.Event]:
        """Take ``data`` (any slice of the stream); return the events of the lines it completed."""
        added: list[ev.Event] = []
        if self.done:
            return added
        pending = self._pending
        pending += data
        start = 0
        while not self.done:
            end = pending.find(b"\n", start)
            if end < 0:
                break
            raw = bytes(pending[start:end + 1])
            start = end + 1
            self._line(raw, added)
        del pending[:start]
        if not self.done and len(pending) > MAX_LINE_BYTES:
            self._stop(f"a line longer than {MAX_LINE_BYTES >> 20} MiB")
        return added

    def _line(self, raw: bytes, added: list[ev.Event]) -> None:
        self.line += 1
        if self.header is None:
            self._first(raw)
            return
        problem = _load_line(self.trace, raw, self.line, None, added)
        if problem is not None:
            self._stop(problem)

    def _first(self, raw: bytes) -> None:
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and set(obj) == {"refused"}:
            self.refused = " ".join(str(obj["refused"]).split())[:200] or "refused"
            self.done = True
            return
        try:
            header = _parse_header(raw, self.name)
        except RecordingError as exc:
            self.trace.problems.append(str(exc))
            self.done = True
            return
        self.header = header
        self.trace.header.update(_clean_facts(header, lambda _problem: None, header=True))

    def _stop(self, problem: str) -> None:
        self.trace.problems.append(f"{self.name}, line {self.line}: {problem}")
        self.done = True
