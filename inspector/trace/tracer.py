"""The Tracer: receives hook calls from the framework and turns them into trace events.

Core modules hold a module-level ``_tracer`` that is ``None`` unless tracing is on, and
call it as ``if _tracer is not None: _tracer.method(...)``; the hooks they call are the
contract :class:`inspector.hooks.TraceHooks`, which :class:`Tracer` (here and in its two
mixins) implements.

Capture is split in two so tracing stays cheap on the hot path. Records go into two
parallel lists: ``_keys`` says what each is and ``_items`` holds it. A TCP bytes
record is just a key for the connection and direction (a TCP transport's capture key,
appended at its call site without a Python call, or a :class:`_Side`) and the bytes,
with no tuple built: that keeps the garbage collector, which counts every new tuple,
out of the hot path, and the turn it happened in is told by the STAMP record before it.
Every other record is a compact tuple under its code, or a ready event, and ``_marks``
notes where each of those sits. Decoding into events, summaries and warnings happens in
:meth:`sync`, which every read of the trace calls first; the TCP bytes records between
two tuple records (a loop turn's) have their keys mapped to sides in C and become one
:class:`~inspector.trace.buffers.BytesRun` in the feed and the bytes rings, whose events
are made only when a reader reads them (:mod:`inspector.trace.buffers`); the run's bytes
are added to its connections' summaries. When nobody reads for long, all but the newest
few hot records are dropped instead, so memory stays bounded, their bytes and chunks
counted per side first, so counts stay exact.

The tracer keeps the context the hooks establish (the current loop turn, connection
and timer) so that a Deferred created while ``dataReceived`` runs is linked to that
connection, and one created by a timer to that timer. The connection is worked out
when asked (:meth:`Tracer._context_conn`): the newest bytes-in record captured since the
turn, timer or close that last set the context names it.
"""

from __future__ import annotations

import logging
import socket
import time
from bisect import bisect_left
from collections import Counter, OrderedDict
from itertools import count
from typing import TYPE_CHECKING, Any, Callable

from inspector.hooks import TraceHooks
from inspector.trace import events as ev
from inspector.trace.buffers import BytesRun
from inspector.trace.conn_hooks import (
    BIND,
    BYTES_IN,
    BYTES_OUT,
    CLOSED,
    EVENT,
    MESSAGE,
    STAMP,
    TURN,
    ConnectionHooks,
    _Conn,
    _Side,
)
from inspector.trace.deferred_hooks import DeferredHooks, skip_frames_in
from inspector.trace.model import Trace, TraceConfig
from inspector.trace.util import callable_location, callable_name

if TYPE_CHECKING:
    from inspector.interfaces import IDelayedCall, IReactorCore

__all__ = ["Tracer", "skip_frames_in"]

_now = time.monotonic
#: The timer events a drop counts instead of keeping while ``Tracer.hot_timers`` is set.
_TIMER_EVENTS = (ev.TimerScheduled, ev.TimerFired)
log = logging.getLogger("inspector.trace")


def _sum_sizes(keys: list[Any], sizes: list[int], counts: Counter[Any], empty: int) -> dict[Any, int]:
    """The bytes each key carried: ``keys[i]`` carried ``sizes[i]``, ``counts`` counts the
    keys and ``empty`` of the sizes are 0 (tuple records' places). Chunks all of one size
    (a protocol's fixed-size messages) are counted in C."""
    size = next(filter(None, sizes), 0)
    if size and sizes.count(size) + empty == len(sizes):
        return {key: count * size for key, count in counts.items()}
    totals: dict[Any, int] = {}
    get = totals.get
    for key, size in zip(keys, sizes):
        totals[key] = get(key, 0) + size
    return totals


class Tracer(ConnectionHooks, DeferredHooks, TraceHooks):
    """Turns hook calls into events in a :class:`Trace`, and raises warnings.

    It implements the whole hook contract, :class:`inspector.hooks.TraceHooks` (the
    connection and Deferred hooks come from its two mixins; a test checks every hook
    is implemented here with the contract's signature).
    """

    def __init__(self, config: TraceConfig | None = None, trace: Trace | None = None) -> None:
        self.trace = trace if trace is not None else Trace(config)
        self.config = self.trace.config
        self.trace.header.update(version=1, start_time=time.time(), start_monotonic=_now(),
                                 host=socket.gethostname(), reactor="")
        self.trace.attach_source(self.decode)
        self._store = self.trace.add
        self._keys: list[Any] = []  # a record code, or the connection's _Side for TCP bytes
        self._items: list[Any] = []  # the record tuple, or the bytes
        self._key_append = self._keys.append
        self._item_append = self._items.append
        self._marks: list[int] = []  # record numbers of the tuple records, ascending
        self._taken = 0  # record number of the oldest record still captured
        self._dec_stamp: tuple[int, float, str] = (0, 0.0, "")  # as of the record decoded
        self._raw_limit = limit = self.config.raw_size
        #: Records a drop leaves for a late reader: few, as every drop reads them.
        self._keep = max(limit // 16, min(limit // 2, 64))
        self._syncing = False
        #: Ids of the connections whose bytes a drop counted without their events, kept
        #: while a reader that must correct its counts sets it (the live trace server).
        self.uncounted: set[int] | None = None
        #: True while a reader with a CPU budget reads (the live trace server): a drop then
        #: counts timer events as it counts loop turns, instead of keeping them (a process
        #: firing timers by the thousand would otherwise push the connection events that
        #: reader must send out of the trace's feed before it could send them).
        self.hot_timers = False
        #: True while :func:`inspector.trace.hooks.install` has this tracer in the hooks.
        self.installed = False
        decoders: dict[int, Callable[[tuple], None]] = {
            EVENT: self._m_event, BYTES_IN: self._m_bytes_in, BYTES_OUT: self._m_bytes_out,
            MESSAGE: self._m_message, CLOSED: self._m_closed, TURN: self._m_turn,
            BIND: self._m_bind, STAMP: self._m_stamp,
        }
        self._decoders = [decoders[code] for code in range(len(decoders))]
        # Ids.
        self._conn_of: dict[int, int] = {}  # id(transport) -> connection number, at the hook
        self._dec_of: dict[int, int] = {}  # the same, as of the record being decoded
        self._conn_state: dict[int, _Conn] = {}  # connection number -> state
        self._sides_in: dict[Any, _Side] = {}  # transport -> its sides, for the Python hooks
        self._sides_out: dict[Any, _Side] = {}
        #: Capture key -> the side it stands for, from when a hook names its connection
        #: until its close is decoded (a _Side stands for itself).
        self._key_sides: dict[Any, _Side | None] = dict.fromkeys(range(len(decoders)))
        #: Connections first named by their capture keys' socket (opened before tracing).
        self._socket_conns: dict[Any, _Conn] = {}
        #: The namespaces holding the call-site capture seam (inspector.hooks.CAPTURE_SEAM).
        self._seams: list[dict[str, Any]] = []
        self._outside_key = self._capture_key_outside
        self._conn_ids = 0
        self._fresh: set[_Side] = set()  # the sides of connections still fresh
        self._ports: dict[int, int] = {}
        self._port_ids = 0
        self._deferreds: OrderedDict[int, int] = OrderedDict()
        self._deferred_ids = 0
        self._timers: OrderedDict[int, int] = OrderedDict()
        self._timer_ids = 0
        self._reactors: dict[int, str] = {}
        self._reactor_key = 0
        # Context the hooks set.
        self.reactor = ""
        self.turn = 0
        self.timer = 0
        # The connection whose data is being handled: the newest bytes-in record from
        # record number _ctx_mark on names it, else _ctx_conn (see _context_conn).
        self._ctx_conn = 0
        self._ctx_mark = 0
        self._stamp: tuple[int, float, str] | None = None  # (turn, start, reactor) in a turn
        self._turn_fds = 0
        self._turn_timers = 0
        self._turn_threads = 0
        self._dispatch_depth = 0
        self._dispatch_owns_turn = False
        self._callbacks: list[tuple[int, str, float, Any]] = []
        self._timer_stack: list[tuple[int, float, float, float, Any, int, int]] = []
        # Deferred bookkeeping done at the hook (see deferred_hooks).
        self._pending_since: OrderedDict[int, tuple[float, str, str]] = OrderedDict()
        self._waiting_on: OrderedDict[int, int] = OrderedDict()
        self._held: OrderedDict[int, int] = OrderedDict()
        self._unfired: OrderedDict[int, Any] = OrderedDict()  # id -> weakref, until fired
        self._unfired_refs: dict[Any, int] = {}  # the same weakrefs -> id
        self._abandoned: list[int] = []  # collected unfired, not yet reported
        # Periodic work.
        self._periodic: list[Callable[[], None]] = []
        self._next_periodic = 0.0
        # The hot bytes hooks, as closures (the methods stay the contract's spelling).
        self.bytes_in, self.bytes_out = self._bytes_hooks()  # type: ignore[method-assign]

    # -- capture and decoding ----------------------------------------------------------

    def _raw_append(self, record: tuple) -> None:
        """Capture a tuple record (its first item is its code) without a bound check."""
        keys = self._keys
        self._marks.append(self._taken + len(keys))
        keys.append(record[0])
        self._item_append(record)

    def _capture(self, record: tuple) -> None:
        """Capture a tuple record and keep the capture lists bounded."""
        keys = self._keys
        self._marks.append(self._taken + len(keys))
        keys.append(record[0])
        self._item_append(record)
        if len(keys) > self._raw_limit:
            self._trim()

    def _emit(self, event: ev.Event) -> None:
        self._capture((EVENT, event))

    def _m_event(self, item: tuple) -> None:
        self._store(item[1])

    def _m_stamp(self, item: tuple) -> None:
        self._dec_stamp = item  # a STAMP record is the stamp itself

    # -- the call-site capture seam ------------------------------------------------

    def capture_seam(self) -> dict[str, Any]:
        """The values of ``inspector.hooks.CAPTURE_SEAM`` for a capturing module now."""
        return {"_capture_key": self._key_append if self._stamp is not None else self._outside_key,
                "_capture_data": self._item_append, "_captured": self._keys,
                "_capture_limit": self._raw_limit}

    def attach_seams(self, namespaces: list[dict[str, Any]]) -> None:
        """Set the capture seam in ``namespaces`` (the capturing modules', at install),
        and keep them to switch the key append at loop turns' starts and ends."""
        self._seams = namespaces
        seam = self.capture_seam()
        for namespace in namespaces:
            namespace.update(seam)

    # -- the connection context -------------------------------------------------------

    def _context_conn(self) -> int:
        """The connection whose data is being handled: the one of the newest bytes-in
        record since the context was last set, else the one it was set to."""
        keys = self._keys
        end = len(keys)
        index = end - 1
        start = self._ctx_mark - self._taken
        if index >= start:
            key_sides = self._key_sides
            while index >= start:
                key = keys[index]
                if key.__class__ is not int:
                    side = key_sides.get(key) or self._unknown_key(key)
                    if side.inbound:
                        self._ctx_conn = side.cid
                        break
                index -= 1
            self._ctx_mark = self._taken + end
        return self._ctx_conn

    def _set_context(self, conn: int) -> None:
        """From now on, until a bytes-in record says otherwise, ``conn`` is handled."""
        self._ctx_conn = conn
        self._ctx_mark = self._taken + len(self._keys)

    def _take(self, count: int) -> tuple[list[int], list[Any], list[int]]:
        """Remove and return the oldest ``count`` records, with the positions of the
        tuple records among them."""
        if self._ctx_mark < self._taken + count:
            self._context_conn()  # the context's record may be among them
        keys, items, marks = self._keys, self._items, self._marks
        batch_keys, batch_items = keys[:count], items[:count]
        del keys[:count]
        del items[:count]
        taken = self._taken
        self._taken = end = taken + count
        cut = bisect_left(marks, end)
        positions = [mark - taken for mark in marks[:cut]]
        del marks[:cut]
        return batch_keys, batch_items, positions

    @property
    def waiting(self) -> int:
        """How many captured records are not decoded (nor dropped) yet."""
        return len(self._keys)

    def sync(self, limit: int | None = None) -> None:
        """Decode everything captured so far into the trace (readers call this first);
        with ``limit``, only the oldest ``limit`` records, so a reader with a time budget
        (the window) pays for about what it reads: the rest wait, in order, and nothing
        is dropped (a recorder reading too loses nothing)."""
        self.decode(limit)

    def decode(self, limit: int | None = None) -> int:
        """:meth:`sync`, returning how many records still wait (the trace's source)."""
        if self._syncing:
            return len(self._keys)
        self._syncing = True
        try:
            if self._abandoned:
                self._report_abandoned()
            keys = self._keys
            decoders = self._decoders
            if limit is None:
                while keys:
                    self._decode_batch(*self._take(len(keys)), decoders)
            elif keys and limit > 0:
                self._decode_batch(*self._take(min(limit, len(keys))), decoders)
        finally:
            self._syncing = False
        return len(self._keys)

    def sync_newest(self, count: int) -> None:
        """Decode only the newest ``count`` captured records; drop the older ones as a trim
        does when nobody reads (counted exactly, connection and Deferred events kept): a
        sync whose time is bounded, for a reader with a CPU budget (the live trace server)."""
        if self._syncing:
            return
        excess = len(self._keys) - count
        if excess > 0:
            self._syncing = True
            try:
                self._reduce(*self._take(excess))
            finally:
                self._syncing = False
        self.sync()

    def _decode_batch(self, keys: list[Any], items: list[Any], positions: list[int],
                      decoders: list[Callable[[tuple], None]]) -> None:
        """Decode records in order (``positions`` are those of the tuple records).

        The TCP bytes records, most of them, come in runs between tuple records, and a
        run shares its loop turn's stamp. Their keys are counted first, in C, once per
        stretch between CLOSED records (a close's summary says its bytes, so they are
        added before it), and only the distinct keys are mapped to sides
        (:meth:`_side_map`); each run becomes one
        :class:`~inspector.trace.buffers.BytesRun` holding its keys and that map, with no
        Python code per record once the connections' capture budgets are spent: its
        sides are made when a reader reads them, its events too. The runs and the loop
        turns' events (made here, as :meth:`Trace.add` would store them) go to the feed
        together, before any other record's event and at the end; the runs go to the
        bytes rings once, at the end, with their chunks counted per key
        (:meth:`_credit`, which also adds their bytes to their connections' summaries)."""
        trace = self.trace
        sizes = list(map(len, items))
        for position in positions:  # a tuple record's place counts no bytes
            sizes[position] = 0
        closes = [position for position in positions if keys[position] == CLOSED]
        if closes:
            bounds = [0, *closes, len(keys)]
            counts = [Counter(keys[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]
        else:
            counts = [Counter(keys)]
        side_of = self._side_map(counts)
        fresh = self._fresh
        fresh_keys = {key for key, side in side_of.items() if side in fresh} if fresh else None
        fresh_run = self._fresh_run
        keyed_run = BytesRun.keyed
        new = object.__new__
        loop_turn = ev.LoopTurn
        turns = trace.buffers[loop_turn.kind]
        keep_turn = turns._items.append
        add_entries = trace.feed.add_entries
        entries: list[Any] = []  # runs and loop turns not yet in the feed, in order
        firsts: list[int] = []  # their first seqs
        runs: list[BytesRun] = []
        held = 0  # the events of ``entries``
        turn_count = 0
        credited = 0
        stretch = 0  # the stretch (between closes) being decoded
        inbound = 0  # chunks that arrived among those credited
        done = False
        seq = next(trace._seq) - 1  # numbers are taken here and handed back at the end
        try:
            start = 0
            for position in positions:
                if position > start:
                    run_keys = keys[start:position]
                    if fresh_keys and not fresh_keys.isdisjoint(run_keys):
                        run = fresh_run([side_of[key] for key in run_keys], items, start,
                                        sizes[start:position], seq)
                    else:
                        turn, ts, _reactor = self._dec_stamp
                        run = keyed_run(seq + 1, ts, turn, run_keys, side_of, sizes[start:position])
                    entries.append(run)
                    firsts.append(seq + 1)
                    runs.append(run)
                    held += position - start
                    seq = run.last
                key = keys[position]
                if key == TURN:
                    seq += 1
                    _, (turn, ts, reactor), duration, fds, timers, threads = items[position]
                    # Made without __init__ (a nested call for each loop turn).
                    event = new(loop_turn)
                    event.seq, event.ts, event.reactor, event.turn, event.conn = seq, ts, reactor, turn, 0
                    event.duration, event.fds_ready, event.timers_run = duration, fds, timers
                    event.thread_calls = threads
                    keep_turn(event)
                    turn_count += 1
                    entries.append(event)
                    firsts.append(seq)
                    held += 1
                elif key == STAMP:
                    self._dec_stamp = items[position]
                else:
                    if entries:
                        add_entries(entries, firsts, held)
                        entries, firsts, held = [], [], 0
                    if key == CLOSED:  # its summary says its bytes: count them first
                        inbound += self._credit(counts[stretch], keys[credited:position],
                                                sizes[credited:position], side_of)
                        credited = position
                        stretch += 1
                    trace._seq = count(seq + 1)
                    decoders[key](items[position])
                    seq = next(trace._seq) - 1
                start = position + 1
            if start < len(keys):
                run_keys = keys[start:]
                if fresh_keys and not fresh_keys.isdisjoint(run_keys):
                    run = fresh_run([side_of[key] for key in run_keys], items, start, sizes[start:], seq)
                else:
                    turn, ts, _reactor = self._dec_stamp
                    run = keyed_run(seq + 1, ts, turn, run_keys, side_of, sizes[start:])
                entries.append(run)
                firsts.append(seq + 1)
                runs.append(run)
                held += len(run_keys)
                seq = run.last
            done = True
        finally:
            trace._seq = count(seq + 1)
            if entries:
                add_entries(entries, firsts, held)
            turns.total += turn_count
            if not credited:
                inbound += self._credit(counts[0], keys, sizes, side_of)
            else:  # the last stretch (or, cut short, all that is left)
                rest = counts[stretch] if stretch == len(counts) - 1 else Counter(keys[credited:])
                inbound += self._credit(rest, keys[credited:], sizes[credited:], side_of)
            if runs:
                chunks = len(keys) - len(positions)
                if not done:  # cut short: count the runs that were made
                    inbound = sum(run.inbound for run in runs)
                    chunks = sum(map(len, runs))
                trace.add_runs(runs, inbound, chunks - inbound)

    def _side_map(self, counts: list[Counter[Any]]) -> dict[Any, _Side | None]:
        """Each key counted in ``counts`` -> the side it stands for (None for a tuple
        record's code); a key no hook named is numbered now, in the order of its first
        record."""
        key_sides = self._key_sides
        side_of: dict[Any, _Side | None] = {}
        for counted in counts:
            for key in counted:
                if key not in side_of:
                    side_of[key] = key_sides[key] if key in key_sides else self._unknown_key(key)
        return side_of

    def _credit(self, counts: Counter[Any], keys: list[Any], sizes: list[int],
                side_of: dict[Any, _Side | None]) -> int:
        """Add the bytes of the TCP bytes records among ``keys``/``sizes`` (``counts``
        counts the keys; tuple records' places hold their code and 0) to their
        connections' summaries, once per key; return how many of the records were bytes
        that arrived."""
        inbound = 0
        empty = 0
        for key, chunks in counts.items():
            if side_of[key] is None:
                empty += chunks
        if empty == len(keys):
            return 0
        summaries = self.trace._connections
        for key, size in _sum_sizes(keys, sizes, counts, empty).items():
            side = side_of[key]
            if side is None:
                continue
            summary = summaries.get(side.cid)
            if summary is None:
                self._add_bytes(side, size)  # makes the summary
            elif side.inbound:
                summary.bytes_in += size
            else:
                summary.bytes_out += size
            if side.inbound:
                inbound += counts[key]
        return inbound

    def _fresh_run(self, sides: list[Any], items: list[Any], start: int, sizes: list[int],
                   seq: int) -> BytesRun:
        """The :class:`BytesRun` numbered after ``seq`` of the TCP bytes records ``sides``
        (``sides[i]`` carried ``items[start + i]``, of ``sizes[i]`` bytes, all under the
        stamp decoded last) when a connection among them is still ``fresh`` (its summary
        or its captured payload still to be made): each chunk is looked at, the rare
        cases by :meth:`_first_bytes`."""
        turn, ts, _reactor = self._dec_stamp
        data: list[bytes] = []
        keep = data.append
        fresh = self._fresh
        summaries = self.trace._connections
        slow_path = self._first_bytes
        for number, side, chunk in zip(count(seq + 1), sides, items[start:start + len(sides)]):
            if side not in fresh:
                keep(b"")
                continue
            conn = side.conn
            budget = conn.budget
            size = len(chunk)
            summary = summaries.get(conn.id) if budget >= size else None
            if summary is None:  # its first chunk, or its last within the budget
                keep(slow_path(side, chunk, number, ts))
                continue
            conn.budget = budget - size
            summary.captured += size
            summary.chunks.append((number, ts, "in" if side.inbound else "out", chunk))
            keep(chunk)
        return BytesRun(seq + 1, ts, turn, sides, sizes, data)

    def _first_bytes(self, side: _Side, data: bytes, seq: int, ts: float) -> bytes:
        """Decode a bytes record of a connection still ``fresh``: make its summary if it
        has none, and keep the payload its capture budget allows as a chunk; return the
        payload kept."""
        conn = side.conn
        summary = self.trace._connections.get(conn.id)
        if summary is None:
            summary = self.trace._connection(ev.BytesIn(0, ts, conn.reactor, 0, conn.id))
        budget = conn.budget
        if not budget:
            conn.fresh = False
            self._fresh.difference_update(conn.sides)
            return b""
        size = len(data)
        if budget >= size:
            conn.budget = budget - size
            kept = data
        else:
            conn.budget = 0
            kept = data[:budget]
        summary.captured += len(kept)
        summary.chunks.append((seq, ts, "in" if side.inbound else "out", kept))
        return kept

    def _add_bytes(self, side: _Side, size: int) -> None:
        """Add ``size`` bytes carried by ``side`` to its connection's summary (made if
        the connection has none yet)."""
        conn = side.conn
        summary = self.trace._connections.get(conn.id)
        if summary is None:
            summary = self.trace._connection(ev.BytesIn(0, _now(), conn.reactor, 0, conn.id))
        if side.inbound:
            summary.bytes_in += size
        else:
            summary.bytes_out += size

    def _trim(self) -> None:
        """The capture lists are full: decode them if anyone reads the trace, else drop
        all but the newest few records, counted exactly (those wait for a late reader)."""
        if self._syncing:
            return
        if self.trace.has_readers():
            self.sync()
            return
        self._syncing = True
        try:
            self._reduce(*self._take(len(self._keys) - self._keep))
        finally:
            self._syncing = False

    def _reduce(self, keys: list[Any], items: list[Any], marks: list[int]) -> None:
        """Fold dropped records into exact counts: bytes and chunks per connection and
        direction, and how many loop-turn and message events (and timer events, while
        ``hot_timers``) they held; decode the other records (connection, port and
        Deferred events, BIND and CLOSED) in order.

        TCP bytes records are counted per key first (in C), then each key's counts go to
        the side it stands for, so a connection whose close is among them has its bytes
        counted before its close; no side is looked up per record."""
        decoders = self._decoders
        trace = self.trace
        if len(marks) < len(keys):
            sizes = list(map(len, items))
            for mark in marks:  # a tuple record's place counts no bytes
                sizes[mark] = 0
            per_key = Counter(keys)
            key_bytes = _sum_sizes(keys, sizes, per_key, len(marks))
            key_sides = self._key_sides
            per_side: dict[_Side, list[int]] = {}  # side -> [bytes, chunks]
            for key, chunks in per_key.items():
                side = key_sides[key] if key in key_sides else self._unknown_key(key)
                if side is None:  # a tuple record's code
                    continue
                counts = per_side.get(side)
                if counts is None:
                    per_side[side] = [key_bytes[key], chunks]
                else:  # a side named by two keys (a Python hook's and the call site's)
                    counts[0] += key_bytes[key]
                    counts[1] += chunks
            now = _now()
            for side, (total, chunks) in per_side.items():
                direction = "in" if side.inbound else "out"
                trace.count_bytes(side.cid, direction, total, now)
                trace.count_dropped("conn." + direction, chunks)
            if self.uncounted is not None:
                self.uncounted.update(side.cid for side in per_side)
        turns = messages = 0
        hot_timers = self.hot_timers
        timers = {ev.TimerScheduled.kind: 0, ev.TimerFired.kind: 0}
        for mark in marks:
            code = keys[mark]
            if code == TURN:
                turns += 1
            elif code == MESSAGE:
                messages += 1
            elif code == EVENT and hot_timers and items[mark][1].__class__ in _TIMER_EVENTS:
                timers[items[mark][1].kind] += 1
            elif code == STAMP:
                self._dec_stamp = items[mark]
            elif code == BYTES_IN or code == BYTES_OUT:  # a datagram
                _, key, data, _peer, _stamp = items[mark]
                inbound = code == BYTES_IN
                cid = self._decoded_conn(key).id
                trace.count_bytes(cid, "in" if inbound else "out", len(data), _now())
                if self.uncounted is not None:
                    self.uncounted.add(cid)
                trace.count_dropped("conn.in" if inbound else "conn.out")
            else:
                decoders[code](items[mark])
        trace.count_dropped("loop.turn", turns)
        trace.count_dropped("proto.message", messages)
        for kind, dropped in timers.items():
            trace.count_dropped(kind, dropped)

    def _stamp_now(self) -> tuple[int, float, str]:
        """The (turn, time) stamp for a hot event outside any loop turn."""
        return (self.turn, _now(), self.reactor)

    # -- bookkeeping ---------------------------------------------------------------------

    def reactor_label(self, reactor: object) -> str:
        """A short stable name for ``reactor``: ``SelectorsReactor-1``."""
        key = id(reactor)
        label = self._reactors.get(key)
        if label is None:
            label = f"{type(reactor).__name__}-{len(self._reactors) + 1}"
            self._reactors[key] = label
            if not self.trace.header.get("reactor"):
                self.trace.header["reactor"] = type(reactor).__name__
        return label

    def _enter_reactor(self, reactor: Any) -> None:
        self._reactor_key = id(reactor)
        self.reactor = self.reactor_label(reactor)

    def add_periodic(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` from the loop about five times a second (recorders flush here)."""
        self._periodic.append(fn)

    def remove_periodic(self, fn: Callable[[], None]) -> None:
        """Stop calling ``fn``."""
        if fn in self._periodic:
            self._periodic.remove(fn)

    def _warn(self, category: str, message: str, subject: int = 0, details: str = "") -> None:
        self._emit(ev.TraceWarning(0, _now(), self.reactor, self.turn, self._context_conn(),
                                   category, message, subject, details))

    def _slow(self, name: str, location: str, duration: float) -> None:
        self._emit(ev.SlowCallback(0, _now() - duration, self.reactor, self.turn,
                                   self._context_conn(), name, location, duration))
        self._warn("slow", f"{name} held the loop for {duration * 1000:.1f} ms",
                   details=location)

    # -- the loop (hooks in reactors/base.py and reactors/selectors.py) -----------------

    def turn_started(self, reactor: IReactorCore, fds_ready: int = 0) -> None:
        """A loop turn's work begins (after waiting); ``fds_ready`` descriptors are ready."""
        if self._stamp is not None:
            self._turn_fds += fds_ready
            return
        if id(reactor) != self._reactor_key:
            self._enter_reactor(reactor)
        self.turn = turn = self.turn + 1
        self._stamp = stamp = (turn, _now(), self.reactor)
        # The STAMP record (the stamp itself), and the context reset, written out: this
        # runs every loop turn.
        keys = self._keys
        end = self._taken + len(keys)
        self._marks.append(end)
        keys.append(STAMP)
        self._item_append(stamp)
        for namespace in self._seams:
            namespace["_capture_key"] = self._key_append
        self._turn_fds = fds_ready
        self._ctx_conn = 0
        self._ctx_mark = end + 1

    def turn_ended(self, reactor: IReactorCore) -> None:
        """The loop turn's work is done (the loop is about to wait again)."""
        stamp = self._stamp
        if stamp is None:
            return
        self._stamp = None
        for namespace in self._seams:
            namespace["_capture_key"] = self._outside_key
        end = _now()
        timers = self._turn_timers
        threads = self._turn_threads
        if timers or threads:
            self._turn_timers = self._turn_threads = 0
        # The TURN record, and the context reset, written out (see turn_started).
        keys = self._keys
        self._marks.append(self._taken + len(keys))
        keys.append(TURN)
        self._item_append((TURN, stamp, end - stamp[1], self._turn_fds, timers, threads))
        if len(keys) > self._raw_limit:
            self._trim()
        # Work between turns (a click in the window) belongs to no connection.
        self._ctx_conn = 0
        self._ctx_mark = self._taken + len(keys)
        if end >= self._next_periodic:
            self._next_periodic = end + 0.2
            self.periodic(end)

    def _m_turn(self, item: tuple) -> None:
        _, (turn, start, reactor), duration, fds, timers, threads = item
        self._store(ev.LoopTurn(0, start, reactor, turn, 0, duration, fds, timers, threads))

    def dispatch_started(self, reactor: IReactorCore) -> None:
        """A host loop (Qt, asyncio) hands one ready descriptor to the reactor.

        Outside a turn this opens one, closed by the matching :meth:`dispatch_ended`,
        so foreign-loop reactors have turns too.
        """
        self._dispatch_depth += 1
        if self._stamp is not None:
            self._turn_fds += 1
        elif self._dispatch_depth == 1:
            self.turn_started(reactor, 1)
            self._dispatch_owns_turn = True

    def dispatch_ended(self, reactor: IReactorCore) -> None:
        """The descriptor handed over by :meth:`dispatch_started` was handled."""
        self._dispatch_depth -= 1
        if self._dispatch_depth <= 0:
            self._dispatch_depth = 0
            if self._dispatch_owns_turn:
                self._dispatch_owns_turn = False
                self.turn_ended(reactor)

    def thread_calls_run(self, reactor: IReactorCore, count: int) -> None:
        """``count`` functions queued by ``callFromThread`` are about to run."""
        if not count:
            return
        if self._stamp is None:
            self.turn_started(reactor)
        self._turn_threads += count
        self._set_context(0)

    def slow_callback(self, what: Any, duration: float) -> None:
        """The reactor saw ``what`` (a callable or a selectable) hold the loop ``duration`` s."""
        protocol = getattr(what, "protocol", None)
        if protocol is not None:
            what = getattr(protocol, "dataReceived", what)
        self._slow(callable_name(what), callable_location(what), duration)

    def periodic(self, now: float | None = None) -> None:
        """Check for long-pending Deferreds and run the registered periodic functions."""
        now = _now() if now is None else now
        if self._abandoned:
            self._report_abandoned()
        self._check_pending(now)
        for fn in list(self._periodic):
            try:
                fn()
            except Exception:  # noqa: BLE001 - a broken sink must not stop the loop
                log.exception("trace periodic task %r failed", fn)

    # -- timers (hooks in reactors/base.py) ---------------------------------------------

    def timer_scheduled(self, call: Any) -> None:
        """``callLater`` made ``call`` (a DelayedCall with ``time`` and ``func``)."""
        self._timer_ids += 1
        timer_id = self._timer_ids
        self._timers[id(call)] = timer_id
        if len(self._timers) > 100_000:
            self._timers.popitem(last=False)
        now = _now()
        due = float(getattr(call, "time", now))
        self._emit(ev.TimerScheduled(0, now, self.reactor, self.turn, self._context_conn(),
                                     timer_id, callable_name(getattr(call, "func", None)),
                                     max(0.0, due - now), due))

    def timer_cancelled(self, call: Any) -> None:
        """``call`` was cancelled; forget it."""
        self._timers.pop(id(call), None)

    def timer_started(self, reactor: IReactorCore, call: IDelayedCall, func: Callable[..., Any], now: float) -> None:
        """``call``'s function ``func`` is about to run at reactor time ``now``."""
        if self._stamp is None:
            self.turn_started(reactor)
        timer_id = self._timers.pop(id(call), 0)
        due = float(getattr(call, "time", now))
        self._timer_stack.append((timer_id, due, now, _now(), func, self._context_conn(), self.timer))
        self.timer = timer_id
        self._set_context(0)
        self._turn_timers += 1

    def timer_finished(self, call: Any) -> None:
        """The function of the matching :meth:`timer_started` returned (or raised)."""
        if not self._timer_stack:
            return
        timer_id, due, now, start, func, conn, self.timer = self._timer_stack.pop()
        self._set_context(conn)
        duration = _now() - start
        lateness = max(0.0, now - due)
        name = callable_name(func)
        self._emit(ev.TimerFired(0, start, self.reactor, self.turn, self._context_conn(),
                                 timer_id, name, lateness, duration))
        if lateness > self.config.late_timer:
            self._warn("late-timer", f"timer {name} ran {lateness * 1000:.1f} ms late",
                       subject=timer_id, details=callable_location(func))
