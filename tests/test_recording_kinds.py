"""A reader asked for some kinds of event only (the window ignores timer scheduling):
it returns those, counts every event, and stops at damage in a line of any other kind
at the same line and in the same words as a reader that builds everything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.trace import Trace
from inspector.trace.recording import RecordingReader

HEADER = {"format": "inspector-trace", "version": 1}


def _scheduled(number: int, **changes: object) -> dict[str, object]:
    seq = number
    line: dict[str, object] = {"kind": "timer.scheduled", "seq": seq, "ts": 10.0 + seq, "reactor": "r", "turn": 1,
                               "conn": 0, "timer": seq, "name": "tick", "delay": 1.0, "due": 11.0 + seq}
    line.update(changes)
    return line


def _turn(seq: int) -> dict[str, object]:
    return {"kind": "loop.turn", "seq": seq, "ts": 10.0 + seq, "reactor": "r", "turn": seq, "conn": 0,
            "duration": 0.001, "fds_ready": 1, "timers_run": 0, "thread_calls": 0}


def _write(path: Path, lines: list[object]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in [HEADER, *lines]))


def _read(path: Path, kinds: set[str] | None) -> tuple[list[str], int, list[str]]:
    """(kinds of the events returned, events counted, problems) of reading ``path``."""
    trace = Trace()
    reader = RecordingReader(path, trace, add_to_trace=False, kinds=kinds)
    returned: list[str] = []
    try:
        while not reader.done:
            returned += [event.kind for event in reader.step(3)]
    finally:
        reader.close()
    return returned, reader.events, trace.problems


def test_only_the_kinds_asked_for_are_returned_and_every_event_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    _write(path, [_scheduled(1), _turn(2), _scheduled(3), _turn(4), {"meta": {"missed": 0}}, _scheduled(5)])
    returned, counted, problems = _read(path, {"loop.turn"})
    assert returned == ["loop.turn", "loop.turn"]
    assert counted == 5
    assert problems == []
    everything, counted_all, _ = _read(path, None)
    assert everything == ["timer.scheduled", "loop.turn", "timer.scheduled", "loop.turn", "timer.scheduled"]
    assert counted_all == 5


@pytest.mark.parametrize("damage", [
    {"delay": "soon"},                # a field of the wrong type
    {"due": 1e300},                   # out of range
    {"timer": True},                  # a bool is no id
    {"seq": 2},                       # numbers go backwards
    {"extra": 1},                     # a field no event has
])
def test_damage_in_a_kind_not_asked_for_stops_loading_in_the_same_words(tmp_path: Path, damage: dict) -> None:
    path = tmp_path / "damaged.jsonl"
    _write(path, [_scheduled(1), _turn(2), _turn(3), _scheduled(4, **damage), _turn(5)])
    returned, counted, problems = _read(path, {"loop.turn"})
    everything, counted_all, problems_all = _read(path, None)
    assert problems == problems_all
    assert len(problems) == 1 and "line 5" in problems[0]
    assert counted == counted_all == 3
    assert returned == ["loop.turn", "loop.turn"]
    # A kind that was asked for keeps being returned, damage or not, up to the damage.
    assert everything == ["timer.scheduled", "loop.turn", "loop.turn"]
