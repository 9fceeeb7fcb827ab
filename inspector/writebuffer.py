"""Sending what a stream transport buffered, with its producer's flow control.

A TCP connection and a child process's stdin pipe buffer the bytes the kernel would not
take at once and send them when the descriptor turns writable. Draining the buffer is
the same for both: resume a paused push producer once it falls to ``low_water``, ask a
pull producer for more once it is empty, then stop watching for writability. Only what
a drained transport does next (finish a close, send a FIN) is each one's own.

A pipe keeps its unsent bytes in one bytearray (:class:`WriteBuffer`); a socket keeps
the written bytes objects themselves, by reference, and sends many of them with one
``sendmsg`` (:class:`ChunkedWriteBuffer`), so a large write the kernel only half took
is never copied and queued small writes do not cost a system call each.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any, Callable, Union

from inspector import error

__all__ = ["FlowControl", "WriteBuffer", "ChunkedWriteBuffer"]

#: Most buffers one sendmsg() takes (Linux's IOV_MAX).
IOV_MAX = 1024
#: A queued write shorter than this is copied onto the last small piece instead of
#: queued by reference: thousands of tiny writes make a few iovec entries, not thousands.
COALESCE_BELOW = 2048
#: The most bytes a coalescing piece grows to before a new one starts.
COALESCE_LIMIT = 65536

Chunk = Union[bytes, bytearray, memoryview]


class FlowControl:
    """Mixin: what a stream transport does as its write buffer drains.

    The transport provides ``_stop_writing``, ``_has_buffered`` and the producer
    attributes Twisted's consumers have.
    """

    #: Buffered bytes above which a registered producer is paused.
    high_water = 64 * 1024
    #: Buffered bytes at or below which a paused producer is resumed.
    low_water = 16 * 1024

    producer: Any
    streamingProducer: bool
    producerPaused: bool
    disconnecting: bool

    def _stop_writing(self) -> None:
        raise NotImplementedError

    def _has_buffered(self) -> bool:
        raise NotImplementedError

    def _resume_if_low(self, remaining: int) -> None:
        """Some bytes went: resume a paused push producer once ``remaining`` is low."""
        producer = self.producer
        if producer is not None and self.producerPaused and remaining <= self.low_water:
            self.producerPaused = False
            producer.resumeProducing()

    def _drained(self) -> BaseException | None:
        """Nothing is buffered: ask a pull producer for more, or stop watching for
        writability and let :meth:`_write_drained` finish what waited."""
        producer = self.producer
        if producer is not None and not self.streamingProducer:
            producer.resumeProducing()  # a pull producer is asked for the next chunk
            if self._has_buffered() or self.producer is not None:
                return None  # stay watched: asked again when writable
        self._stop_writing()
        return self._write_drained()

    def _write_drained(self) -> BaseException | None:
        """Everything is sent: a pending close ends the transport now.

        A streaming producer does not hold the close back (as in Twisted); a pull
        producer does, until it unregisters.
        """
        if self.disconnecting:
            return error.ConnectionDone()
        return None


class WriteBuffer(FlowControl):
    """Mixin: ``doWrite`` for a transport with a bytearray ``_buffer`` of unsent bytes.

    The transport provides ``_send`` (send bytes now, return how many went; OSError on
    failure).
    """

    _buffer: bytearray
    _send: Callable[[Any], int]

    def _has_buffered(self) -> bool:
        return bool(self._buffer)

    def doWrite(self) -> BaseException | None:
        """Send buffered bytes; once drained (and no pull producer wants to write), stop
        watching for writability and let :meth:`_write_drained` finish what waited."""
        buf = self._buffer
        if buf:
            try:
                sent = self._send(buf)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                return error.ConnectionLost(exc)
            del buf[:sent]
            self._resume_if_low(len(buf))
            if buf:
                return None
        return self._drained()


class ChunkedWriteBuffer(FlowControl):
    """Mixin: a socket's write queue of the written pieces themselves, sent with sendmsg.

    ``_chunks`` holds bytes objects by reference (the unsent tail of a partly sent one as
    a memoryview, never a copy), small writes coalesced into bytearrays; ``_buffered`` is
    their total length. The transport provides ``_send`` (one buffer) and ``_sendmsg``
    (many buffers at once; None where the platform has no sendmsg).
    """

    _chunks: deque[Chunk]
    _buffered: int
    _send: Callable[[Any], int]
    _sendmsg: Callable[[Any], int] | None

    def _has_buffered(self) -> bool:
        return self._buffered > 0

    def _queue(self, data: bytes) -> None:
        """Append ``data`` (non-empty bytes) to the queue."""
        chunks = self._chunks
        size = len(data)
        self._buffered += size
        if size < COALESCE_BELOW:
            if chunks:
                last = chunks[-1]
                if type(last) is bytearray and len(last) < COALESCE_LIMIT:
                    last += data
                    return
            chunks.append(bytearray(data))
            return
        chunks.append(data)

    def _queue_from(self, pieces: list[bytes], sent: int) -> None:
        """Queue what of ``pieces`` (already counted out of nothing buffered) is left after
        ``sent`` bytes of them went."""
        for piece in pieces:
            size = len(piece)
            if sent >= size:
                sent -= size
                continue
            if sent:
                self._chunks.append(memoryview(piece)[sent:])
                self._buffered += size - sent
                sent = 0
            else:
                self._queue(piece)

    def _consume(self, sent: int) -> None:
        """Drop the first ``sent`` bytes from the queue."""
        self._buffered -= sent
        chunks = self._chunks
        while sent:
            first = chunks[0]
            size = len(first)
            if sent < size:
                chunks[0] = memoryview(first)[sent:]
                return
            chunks.popleft()
            sent -= size

    def _clear(self) -> None:
        """Forget everything buffered (an abort, or the connection is gone)."""
        self._chunks.clear()
        self._buffered = 0

    def doWrite(self) -> BaseException | None:
        """Send as much of the queue as the kernel takes, in one system call; once drained
        (and no pull producer wants to write), stop watching for writability and let
        :meth:`_write_drained` finish what waited."""
        if self._buffered:
            chunks = self._chunks
            sendmsg = self._sendmsg
            try:
                if len(chunks) == 1 or sendmsg is None:
                    sent = self._send(chunks[0])
                elif len(chunks) <= IOV_MAX:
                    sent = sendmsg(chunks)
                else:
                    sent = sendmsg(list(islice(chunks, IOV_MAX)))
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                return error.ConnectionLost(exc)
            self._consume(sent)
            self._resume_if_low(self._buffered)
            if self._buffered:
                return None
        return self._drained()
