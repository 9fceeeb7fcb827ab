"""IRC line framing shared by the client and the server.

IRC needs three things a generic line receiver does not give: a bare LF ends a line as
well as CRLF, empty lines are skipped, and an over-long line is *reported and skipped*
(the server answers 417 and keeps the connection) instead of ending the connection.
Everything after the over-long line, in the same chunk or later, is still delivered.
"""

from __future__ import annotations

from inspector.failure import Failure
from inspector.protocol import Protocol, connectionDone
from inspector.protocols.irc.message import Message, ParseError, parse_message

# Set by inspector.trace when tracing is on; every hook is `if _tracer is not None:`.
_tracer = None


class IRCLineProtocol(Protocol):
    """Frames bytes into IRC lines, parses them, and hands each one to ``message_received``.

    ``MAX_LENGTH`` is the longest accepted line in bytes, CRLF included. Subclasses
    implement ``message_received`` (the one place every parsed message passes; the
    trace hooks it), ``bad_line_received`` and ``lineLengthExceeded``.
    """

    MAX_LENGTH = 512
    _buffer = b""
    _discarding = False

    def dataReceived(self, data: bytes) -> None:
        """Split ``data`` into lines; keep an unterminated tail for the next chunk."""
        if self._buffer:
            data = self._buffer + data
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        limit = self.MAX_LENGTH - 2
        for line in lines:
            if self._discarding:
                # This is the end of a line already reported as too long.
                self._discarding = False
                continue
            transport = self.transport
            if transport is None or getattr(transport, "disconnecting", False):
                return
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                continue
            if len(line) > limit:
                self.lineLengthExceeded(line)
            else:
                self.lineReceived(line)
        if len(self._buffer) > limit + 1:  # + 1: its CR may be there already
            if not self._discarding:
                self._discarding = True
                self.lineLengthExceeded(self._buffer)
            self._buffer = b""

    def lineReceived(self, line: bytes) -> None:
        """Parse one line (without its line ending) and dispatch it."""
        if _tracer is not None: _tracer.message(self, "irc", line)
        message = parse_message(line)
        if isinstance(message, ParseError):
            self.bad_line_received(line, message)
        else:
            self.message_received(message)

    def message_received(self, message: Message) -> None:
        """A well-formed message arrived. The trace wraps this method to tag parsed messages."""

    def bad_line_received(self, line: bytes, error: ParseError) -> None:
        """A line that is not an IRC message arrived; ``error.reason`` says why."""

    def lineLengthExceeded(self, line: bytes) -> None:
        """A line longer than ``MAX_LENGTH`` arrived (``line`` is what was buffered); it is dropped."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Forget any partial line; a peer that leaves mid-line loses only that line."""
        self._buffer = b""
        self._discarding = False
