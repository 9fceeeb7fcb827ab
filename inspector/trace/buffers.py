"""Bounded storage: ring buffers that count what they drop, and observer cursors.

Memory stays bounded however long a trace runs: each ring keeps its newest ``size``
items and reports how many older ones it let go, so nothing is lost silently.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


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


class Feed:
    """Events in ``seq`` order for observers; each reader keeps its own cursor.

    The feed holds at most ``size`` events. A reader that falls further behind than
    that is told how many it missed when it next drains.
    """

    __slots__ = ("_events", "append")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"the observer feed needs room for at least one event, not {size}")
        self._events: deque[Any] = deque(maxlen=size)
        self.append = self._events.append

    def since(self, seq: int, limit: int | None = None) -> tuple[list[Any], int]:
        """Return the events with ``seq`` greater than ``seq`` (at most ``limit`` of the
        oldest of them), and how many newer-than-``seq`` events were already dropped."""
        events = self._events
        if not events:
            return [], 0
        first = events[0].seq
        if seq >= events[-1].seq:
            return [], 0
        if events[-1].seq - first + 1 != len(events):
            # Numbers with gaps (a recording whose recorder fell behind): scan.
            found = [event for event in events if event.seq > seq]
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
        return self._events[-1].seq if self._events else 0


class Cursor:
    """One observer's read position in a :class:`Feed`: ``drain()`` returns what is new."""

    __slots__ = ("_feed", "_sync", "position", "missed", "__weakref__")

    def __init__(self, feed: Feed, position: int = 0, sync: Callable[[], None] | None = None) -> None:
        self._feed = feed
        self._sync = sync
        self.position = position
        #: Total events this observer missed because it fell too far behind.
        self.missed = 0

    def drain(self, limit: int | None = None) -> list[Any]:
        """Return the events that arrived since the last drain (at most ``limit``)."""
        if self._sync is not None:
            self._sync()
        events, missed = self._feed.since(self.position, limit)
        self.missed += missed
        if events:
            self.position = events[-1].seq
        return events
