"""Export one connection's session: raw bytes per direction, or a readable transcript."""

from __future__ import annotations

import os
from typing import Iterator, NamedTuple

from inspector.helpers import terminal_text
from inspector.trace.model import ConnectionSummary, Trace


class UnknownConnection(KeyError):
    """The trace holds no connection with that id (never seen, or already forgotten)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown connection"


def _summary(trace: Trace, conn: int) -> ConnectionSummary:
    summary = trace.connections.get(conn)
    if summary is None:
        raise UnknownConnection(
            f"the trace holds no connection {conn} (known: "
            f"{', '.join(map(str, trace.connections)) or 'none'})"
        )
    return summary


def raw_bytes(trace: Trace, conn: int) -> tuple[bytes, bytes]:
    """The captured bytes received and sent on connection ``conn``, in order."""
    summary = _summary(trace, conn)
    received = b"".join(data for _, _, direction, data in summary.chunks if direction == "in")
    sent = b"".join(data for _, _, direction, data in summary.chunks if direction == "out")
    return received, sent


class RecordedChunk(NamedTuple):
    """One recorded piece of a connection's stream: when, which direction, the bytes."""

    time: float
    direction: str
    data: bytes


def recorded_chunks(summary: ConnectionSummary) -> list[RecordedChunk]:
    """A connection's captured chunks in order, in the shape ``dissect.decode.Redecoder``
    (and the window's "Decode as…") reads."""
    return [RecordedChunk(ts, direction, data) for _, ts, direction, data in summary.chunks]


def write_raw(trace: Trace, conn: int, directory: str | os.PathLike[str]) -> tuple[str, str]:
    """Write ``conn-N.in.bin`` and ``conn-N.out.bin`` into ``directory``; return their paths.

    The directory is created when missing, as ``--out dump/`` reads as "put them there".
    """
    received, sent = raw_bytes(trace, conn)
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(os.fspath(directory), f"conn-{conn}")
    paths = (base + ".in.bin", base + ".out.bin")
    for path, data in zip(paths, (received, sent)):
        with open(path, "wb") as handle:
            handle.write(data)
    return paths


def printable(text: str) -> str:
    """``text`` safe for a terminal, on one line: control characters (escape sequences,
    line breaks, bidi controls) become ``\\xNN``/``\\uNNNN``.

    Recordings hold what peers sent, so their text is escaped wherever it is printed.
    """
    return terminal_text(text, one_line=True)


def escape_bytes(data: bytes) -> str:
    """Printable ASCII stays; anything else becomes ``\\xNN`` (newline shown as ``\\n``)."""
    parts = []
    for byte in data:
        if byte == 0x0A:
            parts.append("\\n")
        elif byte == 0x0D:
            parts.append("\\r")
        elif byte == 0x09:
            parts.append("\\t")
        elif 0x20 <= byte < 0x7F and byte != 0x5C:
            parts.append(chr(byte))
        else:
            parts.append(f"\\x{byte:02x}")
    return "".join(parts)


def _transcript_lines(trace: Trace, summary: ConnectionSummary) -> Iterator[str]:
    yield printable(
        f"# connection {summary.id}: {summary.role} {summary.protocol} "
        f"local {summary.local or '?'} peer {summary.peer or '?'} ({summary.transport})"
    )
    yield printable(
        f"# {summary.bytes_in} bytes in, {summary.bytes_out} bytes out, state {summary.state}"
        + (f", closed: {summary.reason_type} {summary.reason}".rstrip() if summary.closed else "")
    )
    if summary.truncated:
        yield (
            f"# only the first {summary.captured} of "
            f"{summary.bytes_in + summary.bytes_out} bytes were captured"
        )
    if summary.messages_dropped:
        yield f"# {summary.messages_dropped} older protocol messages were dropped"
    items: list[tuple[int, float, str]] = []
    for seq, ts, direction, data in summary.chunks:
        arrow = "<<" if direction == "in" else ">>"
        items.append((seq, ts, f"{arrow} {escape_bytes(data)}"))
    for message in summary.messages:
        arrow = "<=" if message.direction == "in" else "=>"
        items.append((message.seq, message.ts, printable(f"{arrow} [{message.message_kind}] {message.text}")))
    items.sort()
    for _, ts, text in items:
        yield f"{ts - summary.opened:+10.6f} {text}"


def transcript(trace: Trace, conn: int) -> str:
    """A text transcript: ``<<`` bytes in, ``>>`` bytes out, ``<=``/``=>`` parsed messages.

    Each line starts with seconds since the connection opened; non-printable bytes are
    escaped so the transcript is plain ASCII-safe text.
    """
    summary = _summary(trace, conn)
    return "\n".join(_transcript_lines(trace, summary)) + "\n"
