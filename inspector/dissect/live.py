"""Dissectors on live connections: the messages a dissector finds go to the trace.

A protocol (a raw entry, a proxy leg) makes one :class:`LiveDissector` per connection
and hands it every chunk it receives (``"in"``) and sends (``"out"``)::

    self.live = LiveDissector(self, "lines")    # in connectionMade (or __init__)
    self.live.feed("in", data)                  # in dataReceived; "out" after a write
    self.live.flush()                           # in connectionLost: the unfinished tail

Each message is reported through the trace's ``message`` hook with the protocol, so it
lands on that protocol's connection (``protocol.transport``) as a ``proto.message``
event, as a LineReceiver's lines do. With tracing off, ``feed`` costs one ``is None``
check and nothing is decoded (a tracer installed mid-stream sees the messages that
start after it: framing that began before it may read as an error).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from inspector.dissect.base import Direction, Dissector, Message
from inspector.dissect.registry import create

if TYPE_CHECKING:
    from inspector.hooks import TraceHooks

__all__ = ["LiveDissector"]

log = logging.getLogger("inspector.dissect")

#: Set by ``inspector.trace`` while tracing is on (``inspector.hooks.HOOKED_MODULES``).
_tracer: TraceHooks | None = None


class LiveDissector:
    """Feeds one connection's chunks to a dissector and reports its messages to the trace.

    ``protocol`` is the protocol whose ``transport`` is the connection the messages belong
    to; ``dissector`` is a registry name (``UnknownDissector`` if there is none) or a
    dissector object. A dissector that raises is logged with its traceback once, reported
    as one ``error`` message, and not fed again: it never breaks the protocol using it.
    """

    __slots__ = ("protocol", "dissector", "name", "failed")

    def __init__(self, protocol: object, dissector: str | Dissector = "raw") -> None:
        self.protocol = protocol
        self.name = dissector if isinstance(dissector, str) else type(dissector).__name__
        self.dissector: Dissector = create(dissector) if isinstance(dissector, str) else dissector
        self.failed = False

    def feed(self, direction: Direction, data: bytes) -> None:
        """Decode ``data``, which travelled in ``direction``; report the messages it completes."""
        if _tracer is None or self.failed:
            return
        try:
            found = _rows(self.dissector.feed(direction, data))
        except Exception as exc:
            found = self._failed(exc, direction)
        self._report(found)

    def flush(self) -> None:
        """The connection ended: report what the dissector still buffers (an unfinished message)."""
        if _tracer is None or self.failed:
            return
        try:
            found = _rows(self.dissector.flush())
        except Exception as exc:
            found = self._failed(exc, "in")
        self._report(found)

    def _failed(self, exc: Exception, direction: Direction) -> list[tuple[str, str, str]]:
        self.failed = True
        log.error("dissector %r failed and is switched off for this connection", self.name, exc_info=exc)
        return [("error", f"dissector {self.name!r} failed: {type(exc).__name__}: {exc}", direction)]

    def _report(self, found: list[tuple[str, str, str]]) -> None:
        protocol = self.protocol
        for kind, summary, direction in found:
            if _tracer is not None: _tracer.message(protocol, kind, summary, direction)


def _rows(messages: list[Message]) -> list[tuple[str, str, str]]:
    """Each message's kind, summary and direction as text (a plug-in returning something
    else fails here, inside the ``try``, not in the hook)."""
    return [(str(m.kind), str(m.summary), str(m.direction)) for m in messages]
