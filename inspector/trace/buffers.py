"""Bounded storage: ring buffers that count what they drop, and observer cursors.

Memory stays bounded however long a trace runs: each ring keeps its newest ``size``
items and reports how many older ones it let go, so nothing is lost silently.

The live tracer stores TCP bytes events, the bulk of a trace, as plain tuples
(see :func:`event_of`) in the feed and the bytes rings: one tuple costs a fraction of
an event object and the garbage collector stops looking at it. Readers never see one:
:class:`LazyRingBuffer` and :class:`EventBatch` (what :meth:`Cursor.drain` returns)
turn each into its :class:`~inspector.trace.events.BytesIn` or ``BytesOut`` event when
it is read, so a reader that drains but looks at few events pays for few.
"""

from __future__ import annotations

import weakref
from collections import deque
from itertools import islice
from typing import Any, Callable, Generic, Iterable, Iterator, Sequence, TypeVar, overload

from inspector.trace import events as ev

T = TypeVar("T")

def event_of(item: Any) -> Any:
    """The event ``item`` stands for: itself, or the event a bytes record holds.

    A bytes record is the tuple ``(seq, ts, reactor, turn, conn, size, data, inbound)``:
    the fields of :class:`~inspector.trace.events.BytesIn` (``inbound`` true) or
    ``BytesOut`` in order, ``peer`` being empty for TCP.
    """
    if item.__class__ is tuple:
        # Every field is set here, so the dataclass __init__ (a third of the cost) is skipped.
        event: Any = _new(_BytesIn if item[7] else _BytesOut)
        event.seq, event.ts, event.reactor, event.turn, event.conn, event.size, event.data, _ = item
        event.peer = ""
        return event
    return item


_new = object.__new__
_BytesIn, _BytesOut = ev.BytesIn, ev.BytesOut


def seq_of(item: Any) -> int:
    """The ``seq`` of an event or of a bytes record, without building the event."""
    return item[0] if item.__class__ is tuple else item.seq


class RingBuffer(Generic[T]):
    """The newest ``size`` items appended, plus exact ``total`` and ``dropped`` counts."""

    __slots__ = ("_items", "total", "append")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a ring buffer needs room for at least one item, not {size}")
        self._items: deque[T] = deque(maxlen=size)
        self.total = 0
        self.append = self._append

    def _append(self, item: T) -> None:
        self._items.append(item)
        self.total += 1

    @property
    def size(self) -> int:
        """How many items the buffer can hold."""
        return self._items.maxlen or 0

    @property
    def dropped(self) -> int:
        """How many items were pushed out to make room for newer ones."""
        return self.total - len(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __getitem__(self, index: int) -> T:
        return self._items[index]

    def clear(self) -> None:
        """Forget the kept items (the counts of what was seen stay)."""
        self.total -= len(self._items)
        self._items.clear()


class LazyRingBuffer(RingBuffer[Any]):
    """A ring of events some of which are held as bytes records; reads give events."""

    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        return map(event_of, self._items)

    def __getitem__(self, index: int) -> Any:
        return event_of(self._items[index])


class EventBatch(Sequence[Any]):
    """Events drained from the feed, built from their bytes records when first read.

    It behaves as a read-only list of events (length, indexing, slicing, iteration,
    equality with a list); the events are made once, on the first read that needs them.
    """

    __slots__ = ("_raw", "_events", "_feed")

    def __init__(self, raw: list[Any], feed: Feed | None = None) -> None:
        self._raw = raw
        self._events: list[Any] | None = None
        self._feed = feed

    def events(self) -> list[Any]:
        """The events as a plain list (built now if not yet)."""
        built = self._events
        if built is None:
            raw = self._raw
            built = self._events = [event_of(item) for item in raw]
            self._raw = built
            feed, self._feed = self._feed, None
            if feed is not None and len(feed.cursors) > 1:
                feed.share(raw, built)  # the other readers take these, not build their own
        return built

    def __len__(self) -> int:
        return len(self._raw)

    def __bool__(self) -> bool:
        return bool(self._raw)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self.events()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.events())

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self.events())

    def __contains__(self, item: object) -> bool:
        return item in self.events()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventBatch):
            other = other.events()
        if isinstance(other, (list, tuple)):
            return self.events() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a batch compares by value, like a list

    def __add__(self, other: Iterable[Any]) -> list[Any]:
        return self.events() + list(other)

    def __radd__(self, other: Iterable[Any]) -> list[Any]:
        return list(other) + self.events()

    def __repr__(self) -> str:
        return repr(self.events())

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the newest event in the batch, or 0 (nothing is built)."""
        return seq_of(self._raw[-1]) if self._raw else 0


class Feed:
    """Events in ``seq`` order for observers; each reader keeps its own cursor.

    The feed holds at most ``size`` events. A reader that falls further behind than
    that is told how many it missed when it next drains.
    """

    __slots__ = ("_events", "append", "cursors")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"the observer feed needs room for at least one event, not {size}")
        self._events: deque[Any] = deque(maxlen=size)
        self.append = self._events.append
        #: The cursors reading this feed (while they live).
        self.cursors: weakref.WeakSet[Cursor] = weakref.WeakSet()

    def share(self, records: list[Any], built: list[Any]) -> None:
        """A reader built ``built`` from ``records`` (as drained): put the events made
        from bytes records in their place, so readers after it need not build them."""
        events = self._events
        if not events:
            return
        first = seq_of(events[0])
        size = len(events)
        if seq_of(events[-1]) - first + 1 != size:
            return  # numbers with gaps: positions are not known
        for record, event in zip(records, built):
            if record is not event:
                index = record[0] - first
                if 0 <= index < size and events[index] is record:
                    events[index] = event

    def since(self, seq: int, limit: int | None = None) -> tuple[list[Any], int]:
        """Return the events with ``seq`` greater than ``seq`` (at most ``limit`` of the
        oldest of them), and how many newer-than-``seq`` events were already dropped."""
        found, missed = self.records_since(seq, limit)
        return [event_of(item) for item in found], missed

    def records_since(self, seq: int, limit: int | None = None) -> tuple[list[Any], int]:
        """:meth:`since`, with TCP bytes events left as their bytes records (see
        :func:`event_of`), so nothing is built for them yet."""
        events = self._events
        if not events:
            return [], 0
        first = seq_of(events[0])
        last = seq_of(events[-1])
        if seq >= last:
            return [], 0
        if last - first + 1 != len(events):
            # Numbers with gaps (a recording whose recorder fell behind): scan.
            found = [event for event in events if seq_of(event) > seq]
            return (found if limit is None else found[:limit]), 0
        start = seq + 1 - first
        missed = 0
        if start < 0:
            missed = -start
            start = 0
        # Sequence numbers are consecutive inside the feed, so the offset is exact.
        stop = None if limit is None else start + limit
        if start == 0 and stop is None:
            return list(events), missed
        if start > len(events) // 2:
            # Nearer the end: walk from the right instead of skipping from the left.
            count = len(events) - start
            tail = list(islice(reversed(events), count))
            tail.reverse()
            return (tail if stop is None else tail[: stop - start]), missed
        return list(islice(events, start, stop)), missed

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the newest event, or 0."""
        return seq_of(self._events[-1]) if self._events else 0


class Cursor:
    """One observer's read position in a :class:`Feed`: ``drain()`` returns what is new."""

    __slots__ = ("_feed", "_sync", "position", "missed", "__weakref__")

    def __init__(self, feed: Feed, position: int = 0, sync: Callable[[], None] | None = None) -> None:
        self._feed = feed
        self._sync = sync
        feed.cursors.add(self)
        self.position = position
        #: Total events this observer missed because it fell too far behind.
        self.missed = 0

    def drain(self, limit: int | None = None) -> EventBatch:
        """Return the events that arrived since the last drain (at most ``limit``), as a
        list-like :class:`EventBatch` whose bytes events are built when read."""
        if self._sync is not None:
            self._sync()
        found, missed = self._feed.records_since(self.position, limit)
        self.missed += missed
        batch = EventBatch(found, self._feed)
        if found:
            self.position = batch.last_seq
        return batch
