"""What the window says about proxied sessions, without Qt: the two-leg header, held
chunks as text, and typed bytes (text with escapes, or hex) for edits and injections.

The window finds a connection's :class:`~inspector.proxy.ProxySession` among the proxies
its launcher runs; the header reads both legs' states from the store, so it says what
the connections table says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from inspector.catalog.raw import typed_bytes
from inspector.trace.session import escape_bytes
from inspector.ui.viewmodel import format as fmt

if TYPE_CHECKING:
    from inspector.proxy import HeldChunk, Proxy, ProxySession
    from inspector.ui.viewmodel.store import Store

__all__ = ["DIRECTION_NAMES", "proxies_of", "find_session", "legs_header", "leg_legend", "chunk_texts",
           "held_summary", "chunk_text", "parse_chunk"]

#: How the window names the two directions (the proxy's "up" and "down").
DIRECTION_NAMES = {"up": "client → server", "down": "server → client"}

#: Characters of a held chunk shown in its row (the editor shows all of it).
PREVIEW = 60


def proxies_of(handles: Iterable[Any]) -> list[Proxy]:
    """The proxies among running services' handles (a Proxy entry's handle keeps one)."""
    return [handle.proxy for handle in handles if getattr(handle, "proxy", None) is not None]


def find_session(proxies: Iterable[Proxy], conn_id: int) -> ProxySession | None:
    """The session of ``proxies`` one of whose legs is connection ``conn_id``, if any."""
    from inspector.proxy import session_for_connection

    return session_for_connection(list(proxies), conn_id)


def _leg_state(store: Store, conn_id: int, fallback: str) -> str:
    conn = store.connections.get(conn_id) if conn_id else None
    return str(conn.state) if conn is not None else fallback


def legs_header(session: ProxySession, store: Store) -> str:
    """"client 127.0.0.1:5123 (connected) ⇄ proxy 127.0.0.1:8000 ⇄ upstream 127.0.0.1:7000 (connected)"
    with each leg's state as the connections table shows it, and the session's end if it ended."""
    client_id, upstream_id = session.conn_ids()
    waiting = "not connected" if session.state == "ended" else "connecting"
    client = _leg_state(store, client_id, session.state)
    upstream = _leg_state(store, upstream_id, session.state if upstream_id else waiting)
    label = session.proxy.label or "proxy"
    ended = f" — {session.ended_how}" if session.ended_how else ""
    return (f"client {session.client_address} ({client}) ⇄ proxy {label} ⇄ "
            f"upstream {session.upstream_address} ({upstream}){ended}")


def leg_legend(session: ProxySession, conn_id: int) -> str:
    """Which mark means which direction on the leg shown (``conn_id``), and which leg it is."""
    client_id, upstream_id = session.conn_ids()
    if conn_id == upstream_id:
        return (f"Upstream leg #{conn_id} (what the server saw): ▶ client → server, ◀ server → client"
                + (f" · client leg #{client_id}" if client_id else ""))
    return (f"Client leg #{conn_id} (what the client saw): ◀ client → server, ▶ server → client"
            + (f" · upstream leg #{upstream_id}" if upstream_id else ""))


def chunk_text(data: bytes) -> str:
    """A held chunk as editable text: printable ASCII as is, \\r \\n \\t and \\xHH for the rest
    (so :func:`parse_chunk` gives the same bytes back)."""
    return escape_bytes(data)


def parse_chunk(text: str, hex_mode: bool = False) -> bytes:
    """The bytes typed as ``text``: escapes (\\r \\n \\t \\0 \\xHH \\\\) or, in ``hex_mode``, hex
    pairs. ValueError (one line) when malformed."""
    return typed_bytes(text, hex_mode=hex_mode)


def chunk_texts(chunk: HeldChunk, now: float) -> tuple[str, ...]:
    """A held chunk's row: id, direction, size (and what it was before an edit), age, preview."""
    size = fmt.size(len(chunk.data))
    if len(chunk.data) != chunk.original_size:
        size += f" (was {fmt.size(chunk.original_size)})"
    text = chunk_text(chunk.data)
    preview = text if len(text) <= PREVIEW else text[:PREVIEW - 1] + "…"
    return (str(chunk.id), DIRECTION_NAMES[chunk.direction], size, f"{max(now - chunk.held_at, 0.0):.1f} s", preview)


def held_summary(session: ProxySession | None) -> str:
    """"2 held client → server (12 B), none server → client", or why nothing can be held."""
    if session is None:
        return "No proxied session selected: select either leg of one in Connections."
    parts = []
    for direction in ("up", "down"):
        held = session.held(direction)
        on = " (held)" if session.faults.held(direction) else ""
        if held:
            parts.append(f"{len(held)} held {DIRECTION_NAMES[direction]}{on}, "
                         f"{fmt.size(sum(len(c.data) for c in held))}")
        else:
            parts.append(f"none held {DIRECTION_NAMES[direction]}{on}")
    return f"Session {session.id}: " + "; ".join(parts)
