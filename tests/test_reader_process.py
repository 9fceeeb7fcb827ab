"""Reading a big recording in a child process (:class:`ReaderProcess`) gives exactly what
the reader gives in this process: the same events, counts, line, header facts and
problems in the same words, whether the child reads everything, falls behind and hands
over, or dies half-way."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from inspector.trace import Trace
from inspector.trace.recording import ReaderProcess, RecordingReader

KINDS = {"conn.opened", "conn.state", "conn.in", "conn.closed", "loop.turn"}


def _events(count: int) -> list[dict[str, Any]]:
    """``count`` lines of a plausible recording: connections, their bytes, timers, turns."""
    lines: list[dict[str, Any]] = []
    seq = 0
    common = {"reactor": "r", "turn": 1}
    for n in range(count):
        seq += 1
        ts = 100.0 + seq / 1000
        conn = n // 5 + 1
        step = n % 5
        if step == 0:
            lines.append({"kind": "conn.opened", "seq": seq, "ts": ts, **common, "conn": conn, "role": "client",
                          "transport": "tcp", "protocol": "Echo", "local": "", "peer": "127.0.0.1:7"})
        elif step == 1:
            lines.append({"kind": "conn.state", "seq": seq, "ts": ts, **common, "conn": conn,
                          "previous": "connecting", "state": "connected"})
        elif step == 2:
            lines.append({"kind": "conn.in", "seq": seq, "ts": ts, **common, "conn": conn, "size": 5,
                          "data": "aGVsbG8=", "peer": ""})
        elif step == 3:
            lines.append({"kind": "timer.scheduled", "seq": seq, "ts": ts, **common, "conn": 0, "timer": n,
                          "name": "tick", "delay": 1.0, "due": ts + 1.0})
        else:
            lines.append({"kind": "conn.closed", "seq": seq, "ts": ts, **common, "conn": conn,
                          "reason_type": "ConnectionDone", "reason": "", "bytes_in": 5, "bytes_out": 0})
    return lines


def _write(path: Path, lines: list[Any], tail: bytes = b"") -> None:
    header = {"format": "inspector-trace", "version": 1, "reactor": ""}
    path.write_bytes("".join(json.dumps(line) + "\n" for line in [header, *lines]).encode() + tail)


def _read_here(path: Path) -> tuple[list[Any], int, int, list[str], dict[str, Any]]:
    trace = Trace()
    reader = RecordingReader(path, trace, add_to_trace=False, kinds=KINDS)
    events: list[Any] = []
    try:
        while not reader.done:
            events += reader.step(100)
    finally:
        reader.close()
    return events, reader.events, reader.line, trace.problems, trace.header


def _read_in_child(path: Path, how: str) -> tuple[tuple[list[Any], int, int, list[str], dict[str, Any]], bool]:
    import select

    trace = Trace()
    reader = ReaderProcess(path, trace, kinds=KINDS, lines=100)
    events: list[Any] = []
    if how == "some here first":
        for _ in range(3):  # as while the child starts: its first three slices are skipped
            events += reader._step_here()
    if how != "start here":
        # Once the child sends its first slice, the slices come from it (until then this
        # process reads the first ones itself, as "start here" does all along).
        select.select([reader._fd], [], [], 10.0)
    if how == "hand over":  # the child counts as too slow as soon as a slice is not there yet
        reader.PATIENCE = reader.WAIT_SHARE = 0.0
    elif how == "never hand over":
        reader.PATIENCE = 1e9
        reader.MIN_SHARE = 0.0
    elif how == "busy CPUs":  # never a CPU's worth: as on a machine busy with other work
        reader.PATIENCE = 1e9
        reader.SHARE_AFTER, reader.MIN_SHARE = 0.0, 1e9
    handed_over = False
    try:
        steps = 0
        while not reader.done:
            events += reader.step()
            steps += 1
            if how == "child dies" and steps == 3 and reader._child is not None:
                reader._child.kill()
            if how == "child stuck" and steps == 3 and reader._child is not None:
                os.kill(reader._child.pid, signal.SIGSTOP)  # alive, silent: never waited for long
            handed_over = handed_over or not reader.in_child
    finally:
        reader.close()
    return (events, reader.events, reader.line, trace.problems, trace.header), handed_over


DAMAGES = {
    "intact": ([], b""),
    "cut off": ([], b'{"kind":"loop.turn","seq":'),
    "damaged line": ([{"kind": "conn.state", "seq": 10_000, "ts": "soon"}], b""),
    "meta facts": ([{"meta": {"reactor": "SelectorsReactor", "bogus": [1]}}], b""),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("how", ["never hand over", "hand over", "busy CPUs", "child dies", "child stuck",
                                 "start here", "some here first"])
def test_the_child_reads_exactly_what_the_reader_reads(tmp_path: Path, damage: str, how: str) -> None:
    extra, tail = DAMAGES[damage]
    lines = _events(1500)
    lines[700:700] = extra  # damage or meta facts half-way, then more events after them
    path = tmp_path / "recording.jsonl"
    _write(path, lines, tail)
    expected = _read_here(path)
    got, handed_over = _read_in_child(path, how)
    assert got[1:] == expected[1:]
    assert got[0] == expected[0]
    if how in ("hand over", "busy CPUs", "never hand over"):  # (a child killed or stopped late has sent all)
        assert handed_over == (how != "never hand over")
    if damage == "meta facts":
        assert got[4]["reactor"] == "SelectorsReactor"
        assert any("bogus" in problem for problem in got[3])
    if damage in ("cut off", "damaged line"):
        assert len(got[3]) == 1 and "loaded the" in got[3][0]


def test_a_file_that_is_no_recording_is_refused_before_any_child_starts(tmp_path: Path) -> None:
    from inspector.trace.recording import RecordingError

    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n")
    with pytest.raises(RecordingError, match="not an Inspector trace recording"):
        ReaderProcess(junk, Trace())


@pytest.mark.parametrize("where", ["here", "in the child"])
def test_names_that_repeat_from_event_to_event_are_kept_once(tmp_path: Path, where: str) -> None:
    """A recording names its reactor, states and roles in every event: the loaded events
    share one string for each (a million events naming "SelectorsReactor-1" made a million
    copies of it in the window's memory, and the child sent it a million times)."""
    lines = _events(1000)
    for line in lines:
        line["reactor"] = "SelectorsReactor-1"
    path = tmp_path / "recording.jsonl"
    _write(path, lines)
    events = _read_here(path)[0] if where == "here" else _read_in_child(path, "never hand over")[0][0]
    assert len(events) == 800
    assert len({id(event.reactor) for event in events}) == 1
    states = [event for event in events if event.kind == "conn.state"]
    assert len({id(event.state) for event in states}) == 1
    assert len({id(event.peer) for event in events if event.kind == "conn.opened"}) == 1


def _digest(trace: Trace) -> dict[str, Any]:
    """What ``inspector open`` and the exports read of a loaded trace."""
    return {
        "totals": trace.totals(), "problems": list(trace.problems), "header": dict(trace.header),
        "connections": [(c.id, c.role, c.state, c.bytes_in, c.bytes_out, c.close_reason)
                        for c in trace.connections.values()],
        "dropped": trace.connections_dropped,
        "turns": [event.seq for event in trace.buffers["loop.turn"]],
        "timers": [event.seq for event in trace.buffers["timer.scheduled"]],
    }


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_loading_a_big_recording_reads_it_in_a_child_and_gives_the_same_trace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    """``load`` (``inspector open``, the window's exports) reads a big recording in a child
    process, as the window does: the trace is the one read here, problems and all."""
    import subprocess

    from inspector.trace import recording

    extra, tail = DAMAGES[damage]
    lines = _events(1500)
    lines[700:700] = extra
    path = tmp_path / "recording.jsonl"
    _write(path, lines, tail)
    monkeypatch.setattr(recording, "CHILD_PROCESS_BYTES", 1 << 40)
    expected = _digest(recording.load(path))
    started: list[Any] = []
    real_popen = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> Any:
        started.append(args)
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(recording, "CHILD_PROCESS_BYTES", 0)
    assert _digest(recording.load(path)) == expected
    assert len(started) == 1  # one child read it
    assert expected["timers"] and expected["totals"]["conn.opened"] == (140 if damage == "damaged line" else 300)
