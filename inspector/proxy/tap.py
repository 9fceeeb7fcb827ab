"""What a proxy tells the trace: the link between a session's two legs.

This module holds the hook slot (``_tracer``, see :mod:`inspector.hooks`): with tracing
off, linking costs one ``is None`` check. The messages the chosen dissector finds on
each leg go to the trace through :class:`inspector.dissect.live.LiveDissector`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inspector.interfaces import ITCPTransport

__all__ = ["conn_id", "link", "tracing"]

#: The installed tracer (inspector.trace.hooks sets it), or None.
_tracer: Any = None


def tracing() -> bool:
    """True while a tracer is installed."""
    return _tracer is not None


def conn_id(leg: Any) -> int:
    """The trace's number for ``leg``'s connection (a protocol), 0 if unknown or tracing is off."""
    tracer = _tracer
    transport = getattr(leg, "transport", None)
    if tracer is None or transport is None:
        return 0
    return int(tracer.conn_id(transport))


def link(client: ITCPTransport, upstream: ITCPTransport, label: str) -> None:
    """Tell the trace that ``client`` and ``upstream`` are the two legs of one proxied session."""
    if _tracer is not None: _tracer.link(client, upstream, label)
