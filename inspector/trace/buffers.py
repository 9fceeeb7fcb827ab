"""Bounded storage: ring buffers that count what they drop, and observer cursors.

Memory stays bounded however long a trace runs: each ring keeps its newest ``size``
items and reports how many older ones it let go, so nothing is lost silently.

The live tracer stores TCP bytes events, the bulk of a trace, as :class:`BytesRun`
entries: one per run of consecutive bytes records in a loop turn, holding each
chunk's connection side, size and kept payload in lists, so storing a turn's bytes
costs no Python code per chunk. The feed and the two bytes rings share the run.
Readers never see one: :class:`LazyRingBuffer` and :class:`EventBatch` (what
:meth:`Cursor.drain` returns) give each chunk as its own
:class:`~inspector.trace.events.BytesIn` or ``BytesOut`` event, with its own ``seq``,
built when first read and shared by every reader.
"""

from __future__ import annotations

import weakref
from bisect import bisect_right
from collections import deque
from itertools import count, repeat
from operator import attrgetter
from typing import Any, Callable, Generic, Iterable, Iterator, Sequence, TypeVar, overload

from inspector.trace import events as ev

T = TypeVar("T")

_new = object.__new__
_BytesIn, _BytesOut = ev.BytesIn, ev.BytesOut
_inbound_of = attrgetter("inbound")
_tag_of = attrgetter("tag")


class BytesRun:
    """TCP bytes events numbered ``first`` to ``last``, of one loop turn, held compactly.

    ``sides[i]`` is the connection side the i-th chunk went through (an object with
    ``inbound`` and ``tag``, ``(connection, inbound, reactor)``), ``sizes[i]`` the
    chunk's size and ``data[i]`` the payload kept of it (``data`` is None when none was, the
    usual case once a connection's capture budget is spent). ``ts`` and ``turn`` are the
    loop turn's. The events are built once, on the first read, and kept for other readers.

    A live tracer makes its runs with :meth:`keyed`: the chunks' capture keys and the
    map from key to side, so ``sides`` is made only when something reads it (a reader
    that reads no bytes events never pays a lookup per chunk for it).
    """

    __slots__ = ("first", "last", "ts", "turn", "_sides", "sizes", "data", "_inbound", "_built",
                 "_keys", "_side_of")

    def __init__(self, first: int, ts: float, turn: int, sides: list[Any] | None, sizes: Sequence[int],
                 data: list[bytes] | None, inbound: int | None = None) -> None:
        self.first = first
        self.last = first + len(sizes) - 1
        self.ts = ts
        self.turn = turn
        self._sides = sides
        self.sizes = sizes
        self.data = data
        self._inbound = inbound
        self._built: list[Any] | None = None
        self._keys: list[Any] | None = None
        self._side_of: dict[Any, Any] | None = None

    @classmethod
    def keyed(cls, first: int, ts: float, turn: int, keys: list[Any], side_of: dict[Any, Any],
              sizes: Sequence[int]) -> BytesRun:
        """The run of chunks captured under ``keys`` (``side_of`` maps each key to its
        side, and may be shared by many runs), no payload kept; ``sides`` is made when
        first read. Made without ``__init__``: a live tracer makes one every loop turn."""
        run = _new(cls)
        run.first = first
        run.last = first + len(keys) - 1
        run.ts = ts
        run.turn = turn
        run._sides = run.data = run._inbound = run._built = None
        run.sizes = sizes
        run._keys = keys
        run._side_of = side_of
        return run

    @property
    def sides(self) -> list[Any]:
        """The side of each chunk (made from the capture keys on first read)."""
        sides = self._sides
        if sides is None:
            assert self._keys is not None and self._side_of is not None
            sides = self._sides = list(map(self._side_of.__getitem__, self._keys))
            self._keys = self._side_of = None  # the sockets they name may go
        return sides

    @property
    def inbound(self) -> int:
        """How many of its chunks arrived (the rest were written); counted when first
        asked, as the live tracer counts a whole batch's at once (see
        :meth:`LazyRingBuffer.add_runs`)."""
        inbound = self._inbound
        if inbound is None:
            inbound = self._inbound = sum(map(_inbound_of, self.sides))
        return inbound

    def __len__(self) -> int:
        return self.last - self.first + 1

    def part(self, start: int, stop: int | None = None) -> BytesRun:
        """The run of this run's chunks ``start`` to ``stop`` (positions, not seqs)."""
        data = self.data[start:stop] if self.data is not None else None
        keys = self._keys
        if keys is not None and self._side_of is not None:
            part = BytesRun.keyed(self.first + start, self.ts, self.turn, keys[start:stop],
                                  self._side_of, self.sizes[start:stop])
        else:
            part = BytesRun(self.first + start, self.ts, self.turn, self.sides[start:stop],
                            self.sizes[start:stop], data)
        if self._built is not None:
            part._built = self._built[start:stop]
        return part

    def events(self, keep: bool = True) -> list[Any]:
        """Its events, in order (built now if not yet, and kept for other readers if
        ``keep``: a lone reader's events die young, which spares the collector)."""
        built = self._built
        if built is None:
            built = []
            if keep:
                self._built = built
            append = built.append
            new, bytes_in, bytes_out = _new, _BytesIn, _BytesOut
            ts, turn = self.ts, self.turn
            data: Iterable[bytes] = self.data if self.data is not None else repeat(b"")
            tags = map(_tag_of, self.sides)
            for seq, (conn, inbound, reactor), size, payload in zip(
                    count(self.first), tags, self.sizes, data):
                event: Any = new(bytes_in if inbound else bytes_out)
                event.seq = seq
                event.ts = ts
                event.reactor = reactor
                event.turn = turn
                event.conn = conn
                event.size = size
                event.data = payload
                event.peer = ""
                append(event)
        return built

    def __repr__(self) -> str:
        return f"<BytesRun {self.first}-{self.last}>"


def events_of(items: Iterable[Any], keep: bool = True) -> list[Any]:
    """The events ``items`` (events and :class:`BytesRun` entries) stand for, in order;
    ``keep`` as in :meth:`BytesRun.events`."""
    built: list[Any] = []
    append, extend, run_type = built.append, built.extend, BytesRun
    for item in items:
        if item.__class__ is run_type:
            extend(item.events(keep))
        else:
            append(item)
    return built


def event_count(item: Any) -> int:
    """How many events an entry stands for: a run's chunks, else one."""
    return item.last - item.first + 1 if item.__class__ is BytesRun else 1


def seq_of(item: Any) -> int:
    """The ``seq`` of an event, or the first of a :class:`BytesRun`."""
    return item.first if item.__class__ is BytesRun else item.seq


def last_seq_of(item: Any) -> int:
    """The ``seq`` of an event, or the last of a :class:`BytesRun`."""
    return item.last if item.__class__ is BytesRun else item.seq


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
    """The newest ``size`` TCP bytes events of one direction.

    Events added one by one (datagrams, a loaded recording's events) go to a plain
    bounded deque, as in :class:`RingBuffer`, appended to in C. A live tracer's
    :class:`BytesRun` entries, shared with the feed and the other direction's ring,
    go to a second deque in groups (a decoded batch's runs, with how many events of
    this ring's kind they hold, which the tracer counts per batch, not per run), bounded
    by those events. Reads merge the two by ``seq`` and give the newest ``size``
    events, only of this kind.
    """

    __slots__ = ("_runs", "_held", "_size", "_limit", "_inbound")

    def __init__(self, size: int, inbound: bool) -> None:
        super().__init__(size)
        #: Groups of runs, oldest first: (events of this ring's kind, the runs).
        self._runs: deque[tuple[int, list[BytesRun]]] = deque()
        self._size = size
        self._limit = size + _slack(size)
        self._held = 0  # events of this ring's kind in ``_runs``
        self._inbound = inbound

    def add_run(self, run: BytesRun) -> None:
        """Keep this ring's events of ``run`` (the run is shared, not copied)."""
        self.add_runs([run], self._mine(run))

    def add_runs(self, runs: list[BytesRun], mine: int) -> None:
        """Keep this ring's events of ``runs``, ``mine`` events in all (the runs are
        shared, not copied; the list is kept as it is)."""
        if mine:
            self._runs.append((mine, runs))
            self._held += mine
            self.total += mine
            if self._held > self._limit:
                self._trim()

    def _mine(self, run: BytesRun) -> int:
        return run.inbound if self._inbound else len(run) - run.inbound

    def _trim(self) -> None:
        """Let go of whole groups while the rest still hold ``size`` events; the last
        cut, inside a group, waits for a read (:meth:`_exact`), so adding stays cheap."""
        runs = self._runs
        size = self._size
        while runs:
            mine = runs[0][0]
            if self._held - mine < size:
                break
            runs.popleft()
            self._held -= mine

    def _exact(self) -> None:
        """Drop the oldest events of the oldest group past ``size`` (before a read):
        its oldest runs, then the oldest chunks of the run where the cut falls."""
        self._trim()
        excess = self._held - self._size
        if excess <= 0:
            return
        held, group = self._runs[0]
        kept = list(group)
        kept.reverse()  # popped from the end, oldest first
        while excess:
            run = kept[-1]
            mine = self._mine(run)
            if mine > excess:
                break
            kept.pop()
            excess -= mine
            held -= mine
        if excess:
            run = kept.pop()
            inbound = self._inbound
            position = 0
            for position, side in enumerate(run.sides):
                if side.inbound == inbound:
                    excess -= 1
                    held -= 1
                    if not excess:
                        break
            kept.append(run.part(position + 1))
        kept.reverse()
        self._runs[0] = (held, kept)
        self._held = self._size

    @property
    def size(self) -> int:
        """How many events the buffer can hold."""
        return self._size

    @property
    def dropped(self) -> int:
        """How many events were pushed out to make room for newer ones."""
        return self.total - len(self)

    def __len__(self) -> int:
        return min(len(self._items) + self._held, self._size)

    def __iter__(self) -> Iterator[Any]:
        self._exact()
        kind = _BytesIn if self._inbound else _BytesOut
        from_runs = [event for _mine, runs in self._runs for run in runs
                     for event in run.events(False) if event.__class__ is kind]
        if not self._items:
            return iter(from_runs)
        if not from_runs:
            return iter(self._items)
        merged = sorted([*self._items, *from_runs], key=_seq_of_event)
        return iter(merged[-self._size:])

    def __getitem__(self, index: int) -> Any:
        return list(self)[index]

    def clear(self) -> None:
        """Forget the kept events (the counts of what was seen stay)."""
        self.total -= len(self)
        self._items.clear()
        self._runs.clear()
        self._held = 0


def _slack(size: int) -> int:
    """Events a run-holding buffer may hold past its size between reads, so that it
    trims once per many runs; every read first cuts it back to exactly ``size``."""
    return max(64, size // 8)


def _seq_of_event(event: Any) -> int:
    return event.seq


class EventBatch(Sequence[Any]):
    """Events drained from the feed, built from their :class:`BytesRun` entries when
    first read.

    It behaves as a read-only list of events (length, indexing, slicing, iteration,
    equality with a list); the events are made once, on the first read that needs them,
    and a run's events are shared with every other reader of that run.
    """

    __slots__ = ("_raw", "_events", "_count", "_share")

    def __init__(self, raw: list[Any], count: int | None = None, share: bool = True) -> None:
        self._raw = raw
        self._events: list[Any] | None = None
        self._count = sum(map(event_count, raw)) if count is None else count
        self._share = share

    def events(self) -> list[Any]:
        """The events as a plain list (built now if not yet; shared with other readers
        of the same runs when the batch was drained with ``share``)."""
        built = self._events
        if built is None:
            built = self._events = events_of(self._raw, self._share)
        return built

    def entries(self) -> list[Any]:
        """The batch as stored: events and :class:`BytesRun` entries (for readers that
        can use a run's lists without building its events)."""
        return self._raw

    @property
    def shared(self) -> bool:
        """True when another reader may read the same runs: built events are then kept
        in them (pass it as ``keep`` to :meth:`BytesRun.events`)."""
        return self._share

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

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
        return last_seq_of(self._raw[-1]) if self._raw else 0


class Feed:
    """Events in ``seq`` order for observers; each reader keeps its own cursor.

    The feed holds at most ``size`` events (a :class:`BytesRun` counts as its chunks).
    A reader that falls further behind than that is told how many it missed when it
    next drains.
    """

    __slots__ = ("_entries", "_firsts", "_head", "_held", "_size", "_limit", "cursors")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"the observer feed needs room for at least one event, not {size}")
        self._size = size
        self._limit = size + _slack(size)
        # Entries from ``_head`` on are live; ``_firsts`` holds each one's first seq.
        self._entries: list[Any] = []
        self._firsts: list[int] = []
        self._head = 0
        self._held = 0
        #: The cursors reading this feed (while they live).
        self.cursors: weakref.WeakSet[Cursor] = weakref.WeakSet()

    def append(self, event: Any) -> None:
        """Add one event (numbered)."""
        self._entries.append(event)
        self._firsts.append(event.seq)
        self._held += 1
        if self._held > self._limit:
            self._trim()

    def add_run(self, run: BytesRun) -> None:
        """Add the events of ``run`` (numbered after every event already in the feed)."""
        self._entries.append(run)
        self._firsts.append(run.first)
        self._held += run.last - run.first + 1
        if self._held > self._limit:
            self._trim()

    def add_entries(self, entries: list[Any], firsts: list[int], count: int) -> None:
        """Add events and :class:`BytesRun` entries in order (``firsts`` their first
        seqs, ``count`` the events they stand for), numbered after every event already
        in the feed: a live tracer's decoded batch, added at once."""
        self._entries.extend(entries)
        self._firsts.extend(firsts)
        self._held += count
        if self._held > self._limit:
            self._trim()

    def _trim(self) -> None:
        """Let go of whole entries while the rest still hold ``size`` events; the last
        cut, inside a run, waits for a read (:meth:`_exact`), so adding stays cheap."""
        entries = self._entries
        head = self._head
        held, size = self._held, self._size
        run_type = BytesRun
        while head < len(entries):
            entry = entries[head]
            count = entry.last - entry.first + 1 if entry.__class__ is run_type else 1
            if held - count < size:
                break
            entries[head] = None
            head += 1
            held -= count
        self._held = held
        if head > 1024 and head * 2 > len(entries):
            del entries[:head]
            del self._firsts[:head]
            head = 0
        self._head = head

    def _exact(self) -> None:
        """Drop the oldest chunks of the oldest run past ``size`` (before a read)."""
        self._trim()
        excess = self._held - self._size
        if excess > 0:
            head = self._head
            part = self._entries[head] = self._entries[head].part(excess)
            self._firsts[head] = part.first
            self._held = self._size

    def __len__(self) -> int:
        return min(self._held, self._size)

    def since(self, seq: int, limit: int | None = None) -> tuple[list[Any], int]:
        """Return the events with ``seq`` greater than ``seq`` (at most ``limit`` of the
        oldest of them), and how many newer-than-``seq`` events were already dropped."""
        found, _count, missed = self.entries_since(seq, limit)
        return events_of(found), missed

    def entries_since(self, seq: int, limit: int | None = None) -> tuple[list[Any], int, int]:
        """:meth:`since` as stored: the entries (events and :class:`BytesRun` parts,
        nothing built), how many events they hold, and how many were missed."""
        self._exact()
        entries, firsts, head = self._entries, self._firsts, self._head
        if head >= len(entries):
            return [], 0, 0
        last = last_seq_of(entries[-1])
        if seq >= last:
            return [], 0, 0
        first = firsts[head]
        # Numbers are consecutive in a live trace; a recording whose recorder fell
        # behind has gaps, and then nobody can say how many were missed.
        consecutive = last - first + 1 == self._held
        missed = first - 1 - seq if consecutive and seq + 1 < first else 0
        index = bisect_right(firsts, seq, head) - 1  # the last entry starting at or before seq
        found: list[Any] = []
        if index >= head and last_seq_of(entries[index]) > seq:  # seq + 1 is inside that run
            run = entries[index]
            found.append(run.part(seq + 1 - run.first))
        found.extend(entries[max(index + 1, head):])
        count = last - max(seq, first - 1) if consecutive else sum(map(event_count, found))
        if limit is not None and count > limit:
            found, count = _cut(found, limit), limit
        return found, count, missed

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the newest event, or 0."""
        entries = self._entries
        return last_seq_of(entries[-1]) if self._head < len(entries) else 0


def _cut(entries: list[Any], limit: int) -> list[Any]:
    """The oldest ``limit`` events of ``entries``, a run cut where the limit falls."""
    kept: list[Any] = []
    for entry in entries:
        size = event_count(entry)
        if size >= limit:
            kept.append(entry if size == limit else entry.part(0, limit))
            break
        kept.append(entry)
        limit -= size
    return kept


class Cursor:
    """One observer's read position in a :class:`Feed`: ``drain()`` returns what is new."""

    __slots__ = ("_feed", "_sync", "position", "missed", "__weakref__")

    def __init__(self, feed: Feed, position: int = 0, sync: Callable[..., int] | None = None) -> None:
        self._feed = feed
        self._sync = sync
        feed.cursors.add(self)
        self.position = position
        #: Total events this observer missed because it fell too far behind.
        self.missed = 0

    def drain(self, limit: int | None = None) -> EventBatch:
        """Return the events that arrived since the last drain (at most ``limit``), as a
        list-like :class:`EventBatch` whose bytes events are built when read.

        With ``limit``, only about as many captured records are decoded as it returns
        (``sync(limit)``, repeated while the feed holds fewer than ``limit`` new events
        and records wait), so one drain's time is bounded however much was captured."""
        feed = self._feed
        sync = self._sync
        if sync is not None:
            if limit is None:
                sync()
            else:
                while sync(limit) and feed.last_seq - self.position < limit:
                    pass
        found, count, missed = feed.entries_since(self.position, limit)
        self.missed += missed
        # Built events are kept in their runs only if another reader may want them.
        batch = EventBatch(found, count, len(feed.cursors) > 1)
        if found:
            self.position = batch.last_seq
        return batch
