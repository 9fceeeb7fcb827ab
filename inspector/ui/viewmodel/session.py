"""The session view's Qt-free parts: direction marks, the title line, message rows."""

from __future__ import annotations

from inspector.ui.viewmodel import format as fmt
from inspector.ui.viewmodel.store import Connection, Message

__all__ = ["DIRECTION_MARKS", "MESSAGE_HEADERS", "session_title", "message_texts"]

#: Every line of a session is marked with its direction, so it reads without colour.
DIRECTION_MARKS = {"in": "◀", "out": "▶"}
MESSAGE_HEADERS = ("Time", "Dir", "Kind", "Message", "Parameters")


def session_title(conn: Connection) -> str:
    """The line above a session: id, protocol, role, addresses, state, byte counts, why it closed."""
    reason = f" — {conn.close_reason}" if conn.close_reason else ""
    return (
        f"#{conn.id} {conn.protocol} {conn.role}  {conn.local} ⇄ {conn.peer}  [{conn.state}]  "
        f"◀ {fmt.size(conn.bytes_in)}  ▶ {fmt.size(conn.bytes_out)}{reason}"
    )


def message_texts(message: Message, origin: float) -> tuple[str, ...]:
    """The cells of a parsed message's row: seconds since ``origin``, direction mark,
    kind, text, parameters."""
    return (
        f"{message.time - origin:.3f}",
        DIRECTION_MARKS.get(message.direction, message.direction),
        message.kind,
        message.summary,
        "  ·  ".join(message.params),
    )
