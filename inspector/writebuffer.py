"""Sending what a stream transport buffered, with its producer's flow control.

A TCP connection and a child process's stdin pipe buffer the bytes the kernel would not
take at once and send them when the descriptor turns writable. Draining the buffer is
the same for both: resume a paused push producer once it falls to ``low_water``, ask a
pull producer for more once it is empty, then stop watching for writability. Only what
a drained transport does next (finish a close, send a FIN) is each one's own.
"""

from __future__ import annotations

from typing import Any, Callable

from inspector import error

__all__ = ["WriteBuffer"]


class WriteBuffer:
    """Mixin: ``doWrite`` for a transport with a ``_buffer`` of unsent bytes.

    The transport provides ``_send`` (send bytes now, return how many went; OSError on
    failure), ``_stop_writing`` and the producer attributes Twisted's consumers have.
    """

    #: Buffered bytes above which a registered producer is paused.
    high_water = 64 * 1024
    #: Buffered bytes at or below which a paused producer is resumed.
    low_water = 16 * 1024

    _buffer: bytearray
    _send: Callable[[Any], int]
    producer: Any
    streamingProducer: bool
    producerPaused: bool
    disconnecting: bool

    def _stop_writing(self) -> None:
        raise NotImplementedError

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
            producer = self.producer
            if producer is not None and self.producerPaused and len(buf) <= self.low_water:
                self.producerPaused = False
                producer.resumeProducing()
            if buf:
                return None
        # Drained.
        producer = self.producer
        if producer is not None and not self.streamingProducer:
            producer.resumeProducing()  # a pull producer is asked for the next chunk
            if self._buffer or self.producer is not None:
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
