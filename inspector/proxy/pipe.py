"""One direction of a proxied session: bytes from one leg to the other, through the faults.

A :class:`Pipe` takes what its source leg reads, holds it (if that direction is held),
delays it (latency, jitter), paces it (bandwidth), cuts it into pieces (slicing) and
writes it to its sink leg. It is the sink transport's push producer: when the sink's
write buffer fills, the pipe stops reading its source, and so does a full internal
queue, so a peer that does not read cannot grow the proxy's memory without bound.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from zope.interface import implementer

from inspector.interfaces import IPushProducer

if TYPE_CHECKING:
    from inspector.dissect.live import LiveDissector
    from inspector.interfaces import IDelayedCall, IReactorTime
    from inspector.proxy.faults import Direction, Faults

__all__ = ["HeldChunk", "Pipe", "MAX_QUEUED", "StreamTransport"]

log = logging.getLogger("inspector.proxy")

#: Bytes a pipe keeps (queued for later, held, or waiting for the upstream connection)
#: before it stops reading its source; reading resumes below half of it.
MAX_QUEUED = 256 * 1024

#: Seconds of lateness a bandwidth-limited pipe may make up with a burst.
CATCH_UP = 0.05

_chunk_ids = itertools.count(1)


class StreamTransport(Protocol):
    """What a pipe needs of a leg's transport: ``StreamTransport`` that is also a consumer
    (``IConsumer``) and a producer (``IPushProducer``), as every stream transport here is."""

    disconnected: bool

    def write(self, data: bytes) -> None: ...
    def registerProducer(self, producer: Any, streaming: bool) -> None: ...
    def unregisterProducer(self) -> None: ...
    def pauseProducing(self) -> None: ...
    def resumeProducing(self) -> None: ...
    def loseConnection(self) -> None: ...
    def loseWriteConnection(self) -> None: ...
    def abortConnection(self) -> None: ...
    def getPeer(self) -> Any: ...
    def getHost(self) -> Any: ...


@dataclass
class HeldChunk:
    """A chunk queued by a hold: inspect it, edit its ``data``, drop or release it."""

    id: int
    direction: str
    data: bytes
    held_at: float
    #: How many bytes arrived originally (``data`` may have been edited since).
    original_size: int = field(default=0)


@implementer(IPushProducer)
class Pipe:
    """Relays one direction (``up``: client to server, ``down``: server to client).

    ``source`` and ``sink`` are transports (the sink is None until the upstream leg is
    connected: what arrives before waits, bounded). ``on_wrote(n)`` is told of every
    write; the session uses it for byte counts and cuts, and ``on_eof()`` when the
    source's end has been forwarded.
    """

    def __init__(self, direction: Direction, reactor: IReactorTime, faults: Faults,
                 allowance: Callable[[], int | None], on_wrote: Callable[[int], None],
                 on_eof: Callable[[], None], on_held: Callable[[HeldChunk], None]) -> None:
        self.direction = direction
        self.reactor = reactor
        self.faults = faults
        self.source: StreamTransport | None = None
        self.sink: StreamTransport | None = None
        self.source_tap: LiveDissector | None = None
        self.sink_tap: LiveDissector | None = None
        self._allowance = allowance
        self._on_wrote = on_wrote
        self._on_eof = on_eof
        self._on_held = on_held
        #: Chunks waiting to be written: [due time, bytes].
        self._queue: deque[list[Any]] = deque()
        self._last_due = 0.0
        self._next_free = 0.0  # bandwidth: when the next byte may go
        self._timer: IDelayedCall | None = None
        self.held: list[HeldChunk] = []
        self.queued = 0  # bytes in _queue
        self.held_bytes = 0
        self.received = 0  # bytes read from the source
        self.relayed = 0  # bytes written to the sink
        self.eof = False  # the source ended (FIN, or gone)
        self.eof_sent = False
        self.closed = False
        self._sink_paused = False
        self._source_paused = False

    # -- input -------------------------------------------------------------------------------

    def push(self, data: bytes) -> None:
        """The source read ``data``."""
        self.received += len(data)
        if self.source_tap is not None:
            self.source_tap.feed("in", data)
        if self.closed:
            return
        if not self._queue and not self.held and self.sink is not None and not self._sink_paused \
                and not self.faults.shapes(self.direction):
            self._write(data)  # the hot path: no fault, nothing waiting
            return
        if self.faults.held(self.direction):
            chunk = HeldChunk(next(_chunk_ids), self.direction, data, self.reactor.seconds(), len(data))
            self.held.append(chunk)
            self.held_bytes += len(data)
            self._update_reading()
            self._on_held(chunk)
            return
        self.enqueue(data)

    def enqueue(self, data: bytes, delay: bool = True) -> None:
        """Queue ``data`` after what is already on its way (with the latency unless not ``delay``)."""
        if self.closed or not data:
            return
        now = self.reactor.seconds()
        due = now + (self.faults.delay(self.direction) if delay else 0.0)
        if due < self._last_due:
            due = self._last_due  # never overtake an earlier chunk
        self._last_due = due
        self._queue.append([due, data])
        self.queued += len(data)
        self.pump()
        self._update_reading()

    def source_ended(self) -> None:
        """The source sent its FIN (or is gone): forward it once everything before it went."""
        if self.eof:
            return
        self.eof = True
        if self.source_tap is not None:
            self.source_tap.flush()
        self.pump()

    # -- holding -----------------------------------------------------------------------------

    def find(self, chunk_id: int) -> HeldChunk:
        """The held chunk numbered ``chunk_id``; KeyError (one line) if there is none."""
        for chunk in self.held:
            if chunk.id == chunk_id:
                return chunk
        raise KeyError(f"no held chunk {chunk_id} going {self.direction}")

    def release(self, chunk_id: int | None = None) -> int:
        """Send on the held chunk ``chunk_id``, or all of them in order; return how many bytes."""
        chosen = list(self.held) if chunk_id is None else [self.find(chunk_id)]
        total = 0
        for chunk in chosen:
            self.held.remove(chunk)
            self.held_bytes -= chunk.original_size
            total += len(chunk.data)
            self.enqueue(chunk.data)
        self._update_reading()
        self.pump()
        return total

    def edit(self, chunk_id: int, data: bytes) -> None:
        """Replace the bytes of held chunk ``chunk_id`` (they go out as edited)."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"a held chunk's data must be bytes, not {type(data).__name__}")
        self.find(chunk_id).data = bytes(data)

    def drop(self, chunk_id: int | None = None) -> int:
        """Throw away held chunk ``chunk_id`` (or all); return how many bytes were dropped."""
        chosen = list(self.held) if chunk_id is None else [self.find(chunk_id)]
        total = 0
        for chunk in chosen:
            self.held.remove(chunk)
            self.held_bytes -= chunk.original_size
            total += len(chunk.data)
        self._update_reading()
        self.pump()  # an end that waited behind them may go now
        return total

    # -- output ------------------------------------------------------------------------------

    def attach_sink(self, sink: StreamTransport, tap: LiveDissector | None) -> None:
        """The leg to write to is connected: become its producer and send what waited."""
        self.sink = sink
        self.sink_tap = tap
        sink.registerProducer(self, True)
        self.pump()

    def _write(self, data: bytes) -> None:
        sink = self.sink
        assert sink is not None
        if self.sink_tap is not None:
            self.sink_tap.feed("out", data)
        self.relayed += len(data)
        sink.write(data)
        self._on_wrote(len(data))

    def pump(self) -> None:
        """Write what is due, as far as the faults and the sink allow; come back later for the rest."""
        if self._timer is not None or self.closed:
            return
        queue = self._queue
        faults = self.faults
        while queue:
            if self.sink is None or self._sink_paused or self.closed:
                return
            entry = queue[0]
            due, data = entry
            now = self.reactor.seconds()
            wait = due - now
            rate = faults.bandwidth(self.direction)
            if rate:
                wait = max(wait, self._next_free - now)
            if wait > 0.0005:
                self._timer = self.reactor.callLater(wait, self._wake)
                return
            size = len(data)
            if rate:
                size = min(size, max(1, rate // 50))  # about 50 writes a second
            if faults.slice_size:
                size = min(size, faults.slice_size)
            allowance = self._allowance()
            if allowance is not None:
                size = min(size, allowance)
            piece = data if size >= len(data) else data[:size]
            if piece:
                if size < len(data):
                    entry[1] = data[size:]
                else:
                    queue.popleft()
                self.queued -= size
                if rate:
                    # A timer that fired late may catch up a little (CATCH_UP seconds' worth),
                    # so the average rate holds on a busy machine.
                    self._next_free = max(self._next_free, now - CATCH_UP) + size / rate
                self._write(piece)
            else:  # nothing may go: a cut is due (the session ends the pipe)
                return
            if self.closed:
                return
            if faults.slice_size and queue:
                self._timer = self.reactor.callLater(faults.slice_interval, self._wake)
                self._update_reading()
                return
        self._update_reading()
        if self.eof and not self.eof_sent and not self.held and not queue:
            self.eof_sent = True
            self._on_eof()

    def _wake(self) -> None:
        self._timer = None
        self.pump()

    # -- flow control --------------------------------------------------------------------------

    def _update_reading(self) -> None:
        source = self.source
        if source is None or self.closed:
            return
        kept = self.queued + self.held_bytes
        if not self._source_paused:
            if self._sink_paused or kept > MAX_QUEUED:
                self._source_paused = True
                source.pauseProducing()
        elif not self._sink_paused and kept <= MAX_QUEUED // 2:
            self._source_paused = False
            source.resumeProducing()

    @property
    def reading(self) -> bool:
        """False while the pipe has stopped reading its source (flow control)."""
        return not self._source_paused

    def pauseProducing(self) -> None:
        """The sink's write buffer is full: stop reading the source."""
        self._sink_paused = True
        self._update_reading()

    def resumeProducing(self) -> None:
        """The sink drained: write what waited, read the source again."""
        self._sink_paused = False
        self.pump()
        self._update_reading()

    def stopProducing(self) -> None:
        """The sink is gone: nothing more can be written."""
        self.close()

    def close(self) -> None:
        """Stop for good: cancel timers, forget what waits."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._queue.clear()
        self.queued = 0

    @property
    def waiting(self) -> int:
        """Bytes inside the pipe now: queued (latency, bandwidth, no upstream yet) and held."""
        return self.queued + self.held_bytes
