"""A live tracer's decoded batch goes to the bytes rings as one group of runs.

The tracer counts a batch's chunks per side once (:meth:`Tracer._credit`), so the bytes
rings take the batch's runs as one group with the number of events of their kind, not
run by run. These tests check that a ring fed so still holds exactly its newest events of
its own kind, with exact totals and drop counts, whatever the reads in between cut.
"""

from __future__ import annotations

import random
from typing import Any

from inspector.trace import events as ev
from inspector.trace.buffers import BytesRun, LazyRingBuffer
from inspector.trace.model import Trace, TraceConfig


class Side:
    """A connection side as the tracer's bytes runs hold it."""

    def __init__(self, conn: int, inbound: bool) -> None:
        self.inbound = inbound
        self.tag = (conn, inbound, "R")


SIDES = [Side(1, True), Side(1, False), Side(2, True), Side(2, False)]


def make_batch(trace: Trace, rng: random.Random, turn: int) -> list[BytesRun]:
    """A batch of a few runs of random sides (some runs all of one direction)."""
    runs = []
    for _ in range(rng.randint(1, 5)):
        count = rng.randint(1, 9)
        pool = rng.choice([SIDES, SIDES[:1], SIDES[1:2]])
        sides = [rng.choice(pool) for _ in range(count)]
        first = trace.next_seq()
        run = BytesRun(first, float(turn), turn, sides, list(range(1, count + 1)), None)
        for _ in range(count - 1):
            trace.next_seq()
        runs.append(run)
    return runs


def test_rings_fed_a_batch_at_a_time_keep_their_newest_events_exactly() -> None:
    rng = random.Random(7)
    trace = Trace(TraceConfig(buffer_sizes={"conn.in": 6, "conn.out": 5}))
    ins: list[Any] = []
    outs: list[Any] = []
    for turn in range(1, 200):
        runs = make_batch(trace, rng, turn)
        inbound = sum(side.inbound for run in runs for side in run.sides)
        chunks = sum(len(run) for run in runs)
        trace.add_runs(runs, inbound, chunks - inbound)
        for run in runs:
            for event in run.events():
                (ins if isinstance(event, ev.BytesIn) else outs).append(event)
        if rng.random() < 0.4:  # a read cuts the oldest group, sometimes inside a run
            assert list(trace.buffers["conn.in"]) == ins[-6:]
            assert list(trace.buffers["conn.out"]) == outs[-5:]
    assert list(trace.buffers["conn.in"]) == ins[-6:]
    assert list(trace.buffers["conn.out"]) == outs[-5:]
    assert trace.totals() == {"conn.in": len(ins), "conn.out": len(outs)}
    assert trace.dropped() == {"conn.in": len(ins) - 6, "conn.out": len(outs) - 5}


def test_a_ring_keeps_a_group_whose_events_it_needs_even_if_most_are_of_the_other_kind() -> None:
    ring = LazyRingBuffer(3, inbound=True)
    trace = Trace()
    runs = []
    for turn in range(1, 5):  # one chunk in, then many out, per run
        sides = [SIDES[0]] + [SIDES[1]] * 20
        first = trace.next_seq()
        for _ in range(20):
            trace.next_seq()
        runs.append(BytesRun(first, float(turn), turn, sides, [1] * 21, None))
    ring.add_runs(runs[:2], 2)
    ring.add_runs(runs[2:], 2)
    got = list(ring)
    assert [e.seq for e in got] == [runs[1].first, runs[2].first, runs[3].first]
    assert len(ring) == 3 and ring.total == 4 and ring.dropped == 1
    assert runs[0].inbound == 1  # counted when asked, for a run made without its count
