"""Framing protocols: lines, netstrings and length-prefixed strings.

Each receiver turns a byte stream cut at arbitrary places into whole messages and
hands them to one method (``lineReceived``, ``stringReceived``). They keep a buffer and
an offset into it, so a chunk carrying many messages is split without re-copying the
rest of the chunk for every message.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sized
from typing import TYPE_CHECKING, Any

from inspector.protocol import Protocol

log = logging.getLogger("inspector.basic")
# Set by inspector.trace when tracing is on; every hook is `if _tracer is not None:`.
_tracer = None

__all__ = [
    "LineReceiver",
    "LineOnlyReceiver",
    "NetstringReceiver",
    "NetstringParseError",
    "IntNStringReceiver",
    "Int8StringReceiver",
    "Int16StringReceiver",
    "Int32StringReceiver",
    "StringTooLongError",
    "ConnectionLimit",
    "default_max_connections",
]


def default_max_connections(ceiling: int = 1024) -> int:
    """The default connection cap of a server: ``ceiling``, but below the descriptor limit.

    Each connection holds a descriptor, and the process needs some for itself (the
    listening sockets, the poller, the waker, log and trace files), so the cap stays a
    reserve below ``RLIMIT_NOFILE``'s soft limit: a quarter of it, between 16 and 64.
    Refusing over the cap is clean; running out of descriptors is not.
    """
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        return ceiling
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return ceiling
    reserve = min(64, max(16, soft // 4))
    return max(1, min(ceiling, soft - reserve))


class ConnectionLimit:
    """Counts a server's open connections and says whether one more may stay.

    ``admit()`` is called once per new connection (False: close it at once) and
    ``release()`` once per admitted connection that ends. Refusals are logged once per
    episode: a warning at the first, and a note with the count when a connection is
    admitted again, so a flood of refused connections cannot flood the log.

    A server that keeps its own table of open connections (QOTD's factory) gives it as
    ``table``: its size is then the count (``open``), the server adds and removes its
    connections itself, and it asks :meth:`admits` only when the table is full or
    ``refusing`` is set (below the maximum and not refusing, a connection is admitted).
    """

    def __init__(
        self, maximum: int | None = None, what: str = "server", logger: logging.Logger | None = None,
        table: Sized | None = None,
    ) -> None:
        if maximum is None:
            maximum = default_max_connections()
        if isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 1:
            raise ValueError(f"max_connections must be a whole number of at least 1, not {maximum!r}")
        self.maximum = maximum
        self.what = what
        self.log = logger or log
        self._table = table
        self._count = 0  # admitted and not yet released (without a table)
        #: Connections refused in the current episode (0: not refusing now).
        self.refusing = 0
        #: Connections refused since the start.
        self.refused_total = 0

    @property
    def open(self) -> int:
        """Connections admitted and not yet ended."""
        table = self._table
        return self._count if table is None else len(table)

    def admit(self) -> bool:
        """Count a new connection; False when the server is full and it must be closed."""
        table = self._table
        if table is not None:
            return self.admits(len(table))  # the server adds it to its table
        count = self._count
        if (count < self.maximum and not self.refusing) or self.admits(count):
            self._count = count + 1
            return True
        return False

    def admits(self, open_now: int) -> bool:
        """Whether a new connection may stay while ``open_now`` others are open (False:
        close it at once), logging the refusal episode; counts nothing itself."""
        if open_now >= self.maximum:
            if not self.refusing:
                self.log.warning(
                    "%s: %d connections open, the limit; closing new connections until one ends",
                    self.what, open_now,
                )
            self.refusing += 1
            self.refused_total += 1
            return False
        if self.refusing:
            self.log.warning(
                "%s: accepting connections again; %d were refused while full", self.what, self.refusing
            )
            self.refusing = 0
        return True

    def release(self) -> None:
        """An admitted connection ended (without a table; with one, the server removes it)."""
        if self._count > 0:
            self._count -= 1


class StringTooLongError(AssertionError):
    """A string was too long to send with this framing's length prefix."""


class NetstringParseError(ValueError):
    """The peer sent something that is not a valid netstring."""


def _disconnecting(transport: Any) -> bool:
    """True when the transport is closing, so no more input should be handled (False with none)."""
    return transport is not None and getattr(transport, "disconnecting", False)


class _PauseableMixin:
    """Lets a receiver be paused as a push producer: parsing stops until resumed."""

    paused = False
    transport: Any

    def pauseProducing(self) -> None:
        """Stop delivering messages and ask the transport to stop reading."""
        self.paused = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        """Deliver any buffered messages and let the transport read again."""
        self.paused = False
        self.transport.resumeProducing()
        self.dataReceived(b"")  # type: ignore[attr-defined]

    def stopProducing(self) -> None:
        """Stop for good."""
        self.paused = True
        self.transport.stopProducing()


class _LineMethods:
    """What both line receivers share: the hook to override, sending, and the length limit."""

    # Supplied by the receiver class and Protocol; declared for the type checker only.
    delimiter: bytes
    MAX_LENGTH: int
    transport: Any
    if TYPE_CHECKING:
        def logPrefix(self) -> str: ...

    def lineReceived(self, line: bytes) -> Any:
        """Override to handle one line, without its delimiter."""
        raise NotImplementedError(f"{type(self).__name__} must implement lineReceived")

    def sendLine(self, line: bytes) -> Any:
        """Write ``line`` followed by the delimiter."""
        try:
            framed = line + self.delimiter
        except TypeError:
            raise TypeError(f"sendLine needs bytes, not {type(line).__name__}") from None
        if _tracer is not None: _tracer.message(self, "line", line, "out")
        return self.transport.write(framed)

    def lineLengthExceeded(self, line: bytes) -> Any:
        """Called with the too-long line (or the buffered input) past ``MAX_LENGTH``; drops the connection."""
        log.warning(
            "%s: line longer than %d bytes; closing the connection",
            self.logPrefix(),
            self.MAX_LENGTH,
        )
        return self.transport.loseConnection()


class LineReceiver(_LineMethods, Protocol, _PauseableMixin):
    """Splits input into lines ending in ``delimiter``; can switch to raw mode and back.

    In line mode each complete line (without its delimiter) goes to ``lineReceived``;
    a line longer than ``MAX_LENGTH`` goes to ``lineLengthExceeded`` instead, which by
    default drops the connection. In raw mode (``setRawMode``) bytes go to
    ``rawDataReceived`` as they come. Switching modes inside a callback applies to the
    very next byte.
    """

    line_mode = 1
    delimiter = b"\r\n"
    MAX_LENGTH = 16384
    _buffer = b""
    _start = 0  # the unconsumed input is self._buffer[self._start:]
    _busyReceiving = False

    def clearLineBuffer(self) -> bytes:
        """Forget the buffered input and return it (e.g. to hand to another parser)."""
        rest = self._buffer[self._start :]
        self._buffer = b""
        self._start = 0
        return rest

    def dataReceived(self, data: bytes) -> Any:
        """Split ``data`` (plus what was buffered) into lines or raw data."""
        if self._busyReceiving:
            # Called again from inside lineReceived/rawDataReceived (setLineMode(extra)):
            # queue the bytes behind the ones the running loop still has to handle.
            self._buffer += data
            return None
        # Between calls self._start is 0: the whole buffer is unconsumed.
        buf = self._buffer + data if self._buffer else data
        self._buffer = buf
        self._busyReceiving = True
        transport = self.transport
        watch_closing = transport is not None and hasattr(transport, "disconnecting")
        try:
            start = 0
            while not self.paused and start < len(buf):
                if self.line_mode:
                    delimiter = self.delimiter
                    end = buf.find(delimiter, start)
                    if end < 0:
                        # Allow for a delimiter that has only partly arrived.
                        if len(buf) - start >= self.MAX_LENGTH + len(delimiter):
                            self._start = start
                            return self.lineLengthExceeded(self.clearLineBuffer())
                        break
                    if end - start > self.MAX_LENGTH:
                        self._start = start
                        return self.lineLengthExceeded(self.clearLineBuffer())
                    self._start = end + len(delimiter)
                    if _tracer is not None: _tracer.message(self, "line", buf[start:end])
                    why = self.lineReceived(buf[start:end])
                    if why:
                        return why
                    if watch_closing and transport.disconnecting:
                        return None
                else:
                    self._start = start
                    why = self.rawDataReceived(self.clearLineBuffer())
                    if why:
                        return why
                # The callback may have cleared, extended or replaced the buffer.
                buf = self._buffer
                start = self._start
            self._start = start
        finally:
            self._busyReceiving = False
            if self._start:
                self._buffer = self._buffer[self._start :]
                self._start = 0
        return None

    def setLineMode(self, extra: bytes = b"") -> Any:
        """Deliver lines again; ``extra`` bytes are parsed as if just received."""
        self.line_mode = 1
        if extra:
            return self.dataReceived(extra)
        return None

    def setRawMode(self) -> None:
        """Deliver bytes to ``rawDataReceived`` as they arrive, without splitting lines."""
        self.line_mode = 0

    def rawDataReceived(self, data: bytes) -> Any:
        """Override to handle bytes received in raw mode."""
        raise NotImplementedError(f"{type(self).__name__} is in raw mode but has no rawDataReceived")


class LineOnlyReceiver(_LineMethods, Protocol):
    """A lighter LineReceiver without raw mode: every byte belongs to some line."""

    delimiter = b"\r\n"
    MAX_LENGTH = 16384
    _buffer = b""

    def dataReceived(self, data: bytes) -> Any:
        """Split ``data`` (plus what was buffered) into lines."""
        lines = (self._buffer + data).split(self.delimiter)
        self._buffer = lines.pop()
        transport = self.transport
        check_closing = transport is not None and hasattr(transport, "disconnecting")
        max_length = self.MAX_LENGTH
        for line in lines:
            if check_closing and transport.disconnecting:
                return None
            if len(line) > max_length:
                self._buffer = b""
                return self.lineLengthExceeded(line)
            if _tracer is not None: _tracer.message(self, "line", line)
            self.lineReceived(line)
        if len(self._buffer) > max_length:
            line, self._buffer = self._buffer, b""
            return self.lineLengthExceeded(line)
        return None


class NetstringReceiver(Protocol):
    """Receives netstrings (``b"5:hello,"``) and hands each payload to ``stringReceived``.

    A malformed netstring, or one announcing more than ``MAX_LENGTH`` bytes, is a
    protocol error: it is logged, kept in ``parseError``, ``brokenPeer`` is set and the
    connection is dropped; later input is ignored.
    """

    MAX_LENGTH = 99999
    brokenPeer = 0
    parseError: NetstringParseError | None = None
    _buffer = b""
    _start = 0

    def stringReceived(self, string: bytes) -> None:
        """Override to handle one netstring's payload."""
        raise NotImplementedError(f"{type(self).__name__} must implement stringReceived")

    def sendString(self, string: bytes) -> None:
        """Write ``string`` as a netstring."""
        if not isinstance(string, (bytes, bytearray, memoryview)):
            raise TypeError(f"sendString needs bytes, not {type(string).__name__}")
        self.transport.write(b"%d:%s," % (len(string), string))

    def _max_digits(self) -> int:
        return len(str(self.MAX_LENGTH))

    def dataReceived(self, data: bytes) -> None:
        """Parse as many netstrings as ``data`` (plus what was buffered) completes."""
        if self.brokenPeer:
            return
        if self._start < len(self._buffer):
            buf = self._buffer[self._start :] + data
        else:
            buf = data
        start = 0
        try:
            while start < len(buf):
                colon = buf.find(b":", start, start + self._max_digits() + 1)
                if colon < 0:
                    self._check_length_prefix(buf[start:], complete=False)
                    break
                length = self._check_length_prefix(buf[start:colon], complete=True)
                end = colon + 1 + length
                if end >= len(buf):
                    break  # payload or comma still to come
                if buf[end : end + 1] != b",":
                    raise NetstringParseError(
                        f"netstring of length {length} is not followed by ',' "
                        f"(got {buf[end:end + 1]!r})"
                    )
                payload = buf[colon + 1 : end]
                start = end + 1
                self._buffer, self._start = buf, start
                self.stringReceived(payload)
                if self.brokenPeer or _disconnecting(self.transport):
                    return
        except NetstringParseError as error:
            self._buffer, self._start = b"", 0
            self._broken(error)
            return
        self._buffer, self._start = (buf[start:] if start < len(buf) else b""), 0

    def _check_length_prefix(self, prefix: bytes, complete: bool) -> int:
        """Validate the digits before ':' (all of them when ``complete``); return the length.

        An incomplete prefix is checked too, so garbage or an oversized length is
        rejected at once instead of after buffering up to MAX_LENGTH bytes.
        """
        digits = self._max_digits()
        if not complete and len(prefix) > digits:
            raise NetstringParseError(
                f"netstring length prefix {prefix[:digits + 1]!r}... has more than {digits} digits "
                f"(MAX_LENGTH is {self.MAX_LENGTH})"
            )
        if not prefix:
            if complete:
                raise NetstringParseError("netstring has an empty length before ':'")
            return 0
        if not prefix.isdigit():
            raise NetstringParseError(f"netstring length must be decimal digits, got {prefix[:20]!r}")
        if len(prefix) > 1 and prefix[:1] == b"0":
            raise NetstringParseError(f"netstring length {prefix!r} has a leading zero")
        length = int(prefix)
        if length > self.MAX_LENGTH:
            raise NetstringParseError(
                f"netstring length {length} is more than MAX_LENGTH {self.MAX_LENGTH}"
            )
        return length

    def _broken(self, error: NetstringParseError) -> None:
        self.brokenPeer = 1
        self.parseError = error
        log.warning("%s: bad netstring from peer: %s; closing the connection", self.logPrefix(), error)
        if self.transport is not None:
            self.transport.loseConnection()


class IntNStringReceiver(Protocol, _PauseableMixin):
    """Receives strings each prefixed by its length as a big-endian unsigned integer.

    Subclasses set ``structFormat`` and ``prefixLength``. A prefix announcing more than
    ``MAX_LENGTH`` bytes goes to ``lengthLimitExceeded``, which drops the connection.
    """

    structFormat = "!I"
    prefixLength = 4
    MAX_LENGTH = 99999
    _buffer = b""
    _start = 0
    _busyReceiving = False

    def stringReceived(self, string: bytes) -> None:
        """Override to handle one string."""
        raise NotImplementedError(f"{type(self).__name__} must implement stringReceived")

    def lengthLimitExceeded(self, length: int) -> Any:
        """Called when a prefix announces ``length`` > ``MAX_LENGTH``; drops the connection."""
        log.warning(
            "%s: peer announced a %d-byte string (MAX_LENGTH %d); closing the connection",
            self.logPrefix(),
            length,
            self.MAX_LENGTH,
        )
        return self.transport.loseConnection()

    def sendString(self, string: bytes) -> None:
        """Write ``string`` with its length prefix; StringTooLongError if it cannot fit."""
        if not isinstance(string, (bytes, bytearray, memoryview)):
            raise TypeError(f"sendString needs bytes, not {type(string).__name__}")
        if len(string) >= 2 ** (8 * self.prefixLength):
            raise StringTooLongError(
                f"{len(string)} bytes is too long for a {self.prefixLength}-byte length prefix"
            )
        self.transport.write(struct.pack(self.structFormat, len(string)) + bytes(string))

    def dataReceived(self, data: bytes) -> None:
        """Parse as many strings as ``data`` (plus what was buffered) completes."""
        if self._busyReceiving:
            self._buffer += data
            return
        if self._start < len(self._buffer):
            self._buffer = self._buffer[self._start :] + data
        else:
            self._buffer = data
        self._start = 0
        unpack = struct.Struct(self.structFormat).unpack_from
        prefix = self.prefixLength
        self._busyReceiving = True
        try:
            while not self.paused:
                buf = self._buffer
                start = self._start
                if len(buf) - start < prefix:
                    break
                (length,) = unpack(buf, start)
                if length > self.MAX_LENGTH:
                    self.clearLineBuffer()
                    self.lengthLimitExceeded(length)
                    return
                end = start + prefix + length
                if end > len(buf):
                    break
                self._start = end
                self.stringReceived(buf[start + prefix : end])
                if _disconnecting(self.transport):
                    return
        finally:
            self._busyReceiving = False
            if self._start:
                self._buffer = self._buffer[self._start :]
                self._start = 0

    def clearLineBuffer(self) -> bytes:
        """Forget the buffered input and return it."""
        rest = self._buffer[self._start :]
        self._buffer = b""
        self._start = 0
        return rest


class Int32StringReceiver(IntNStringReceiver):
    """Strings prefixed by a 4-byte big-endian length."""

    structFormat = "!I"
    prefixLength = 4


class Int16StringReceiver(IntNStringReceiver):
    """Strings prefixed by a 2-byte big-endian length."""

    structFormat = "!H"
    prefixLength = 2


class Int8StringReceiver(IntNStringReceiver):
    """Strings prefixed by a 1-byte length."""

    structFormat = "!B"
    prefixLength = 1
