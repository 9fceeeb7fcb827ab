"""Recordings are read a batch of lines at a time (one ``json.loads`` per batch, quick
per-kind checks): what loads, and where and how a damaged file stops, must be exactly
what reading every line alone gives. The reference is the live-stream reader, which
still takes one line at a time through the full checks."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.trace import events as ev
from inspector.trace import recording
from inspector.trace.model import Trace
from inspector.trace.recording import EventEncoder, RecordingReader, load
from inspector.trace.stream import StreamReader

HEADER = {"format": "inspector-trace", "version": 1, "start_time": 1700000000.0, "host": "h"}


def _text(events: list[ev.Event]) -> bytes:
    return (EventEncoder(secrets=True).line(HEADER) + EventEncoder(secrets=True).events(events)).encode()


def _sample_events(count: int, seed: int = 1) -> list[ev.Event]:
    """A mix of every kind, numbered in order, with plausible values."""
    rng = random.Random(seed)
    kinds = list(ev.EVENT_TYPES.values())
    out = []
    for seq in range(1, count + 1):
        cls = rng.choice(kinds)
        values: dict[str, Any] = {"seq": seq, "ts": 100.0 + seq / 1000, "reactor": "R", "turn": seq // 7,
                                  "conn": rng.randrange(5)}
        for name, typ in cls._field_types.items():
            if name in values:
                continue
            values[name] = {int: rng.randrange(1000), float: rng.random(), str: rng.choice(["", "a", "é\n"]),
                            bytes: rng.randbytes(rng.randrange(6)), bool: True}[typ]
        out.append(cls(**values))
    return out


def _per_line(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The events and the stopping problem when every line is read alone (the stream
    reader's way), worded as a recording states it."""
    data = path.read_bytes()
    trace = Trace()
    reader = StreamReader(trace, str(path))
    events = reader.feed(data)
    problem = None
    if reader.done:
        problem = trace.problems[-1]
    elif data and not data.endswith(b"\n"):
        problem = f"{path}, line {reader.line + 1}: the file ends in the middle of a line (truncated recording)"
    if problem is not None:
        problem += f"; loaded the {len(events)} events before it and ignored the rest"
    return [e.to_json() for e in events], problem


def _batched(path: Path, max_lines: int) -> tuple[list[dict[str, Any]], str | None, Trace]:
    trace = Trace()
    reader = RecordingReader(path, trace)
    events: list[ev.Event] = []
    try:
        while not reader.done:
            events += reader.step(max_lines)
    finally:
        reader.close()
    stops = [p for p in trace.problems if not p.endswith("; ignored it")]
    return [e.to_json() for e in events], (stops[-1] if stops else None), trace


def _damage(data: bytes, how: str, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    body = range(1, max(2, len(lines) - 1))
    at = rng.choice(body)
    if how == "cut":
        return data[: rng.randrange(len(lines[0]) + 1, len(data))]
    if how == "byte":
        spot = rng.randrange(len(lines[0]) + 1, len(data))
        return data[:spot] + bytes([rng.choice(b'{}[],:"\\0xe \x00\xff')]) + data[spot + 1:]
    if how == "swap" and len(lines) > 3:
        lines[at], lines[at + 1] = lines[at + 1], lines[at]
    elif how == "blank":
        lines.insert(at, b"   ")
    elif how == "meta":
        lines.insert(at, b'{"meta":{"missed":3}}')
    elif how == "two-in-one":
        lines[at] = lines[at] + b"," + lines[at]
    elif how == "field":
        obj = json.loads(lines[at])
        name = rng.choice([k for k in obj if k != "kind"])
        obj[name] = rng.choice([1, True, 1e300, "x", None, [1], 2**60, 2**64, -0.0, float("nan")])
        lines[at] = json.dumps(obj).encode()
    elif how == "extra":
        obj = json.loads(lines[at])
        obj["surprise"] = 1
        lines[at] = json.dumps(obj).encode()
    return b"\n".join(lines)


def _batch_parsers() -> list[Any]:
    """The standard library's parser, and orjson's where that optional library is installed."""
    parsers: list[Any] = [json.loads]
    try:
        import orjson
    except ImportError:
        pass
    else:
        parsers.append(orjson.loads)
    return parsers


@pytest.fixture(params=_batch_parsers(), ids=lambda loads: loads.__module__)
def batch_parser(request: Any, monkeypatch: Any) -> Any:
    monkeypatch.setattr(recording, "_batch_loads", request.param)
    return request.param


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(1, 400), seed=st.integers(0, 10_000),
       how=st.sampled_from(["none", "cut", "byte", "swap", "blank", "meta", "two-in-one", "field", "extra"]),
       max_lines=st.sampled_from([1, 3, 64, 10_000]))
def test_batches_load_exactly_what_line_by_line_reading_loads(
    tmp_path: Path, batch_parser: Any, count: int, seed: int, how: str, max_lines: int
) -> None:
    rng = random.Random(seed)
    data = _text(_sample_events(count, seed))
    if how != "none":
        data = _damage(data, how, rng)
    path = tmp_path / f"r{seed}-{how}.jsonl"
    path.write_bytes(data)
    expected = _per_line(path)
    events, problem, _ = _batched(path, max_lines)
    assert (events, problem) == expected


def test_a_bad_line_in_the_middle_of_a_batch_loads_the_lines_before_it_and_names_it(tmp_path: Path) -> None:
    lines = _text(_sample_events(900)).split(b"\n")
    lines[500] = lines[500][:40] + b"\x00garbage"  # line 501 of the file: the 500th event
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(b"\n".join(lines))
    trace = load(path)
    assert len(trace.problems) == 1
    assert trace.problems[0].startswith(f"{path}, line 501: not valid JSON (")
    assert trace.problems[0].endswith("; loaded the 499 events before it and ignored the rest")
    assert sum(trace.totals().values()) == 499
    assert max(e.seq for e in trace.events()) == 499


def test_events_out_of_order_in_a_batch_stop_at_the_first_one_going_back(tmp_path: Path) -> None:
    events = _sample_events(300)
    events[200].seq = 150
    path = tmp_path / "backwards.jsonl"
    path.write_bytes(_text(events))
    trace = load(path)
    assert trace.problems == [f"{path}, line 202: event numbers go backwards (150 after 200); "
                              "loaded the 200 events before it and ignored the rest"]


@pytest.mark.parametrize("where", ["middle", "last"])
def test_an_overlong_line_stops_the_load_there(tmp_path: Path, monkeypatch: Any, where: str) -> None:
    monkeypatch.setattr(recording, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(recording, "_BLOCK_BYTES", 1000)  # lines cross block boundaries
    lines = _text(_sample_events(200)).split(b"\n")
    spot = 120 if where == "middle" else len(lines) - 1
    lines[spot] = b'{"kind":"' + b"x" * 5000
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"\n".join(lines))
    trace = load(path)
    assert trace.problems == [f"{path}, line {spot + 1}: a line longer than 0 MiB; "
                              f"loaded the {spot - 1} events before it and ignored the rest"]


def test_a_reader_that_leaves_its_trace_alone_returns_the_same_events(tmp_path: Path) -> None:
    lines = _text(_sample_events(700)).split(b"\n")
    lines.insert(300, b'{"meta":{"reactor":"SelectorsReactor","missed":"lots"}}')
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join(lines))
    folded = Trace()
    reader = RecordingReader(path, folded)
    kept = [e.to_json() for e in reader.step(10_000)]
    bare = Trace()
    lone = RecordingReader(path, bare, add_to_trace=False)
    got = [e.to_json() for e in lone.step(10_000)]
    assert got == kept and len(got) == 700 and lone.events == 700
    assert sum(bare.totals().values()) == 0 and not bare.connections
    assert bare.header == folded.header and bare.header["reactor"] == "SelectorsReactor"
    assert bare.problems == folded.problems == [
        f"{path}, line 301: meta field 'missed' is 'lots', not a count of events; ignored it"]
    assert reader.position == lone.position == path.stat().st_size


@pytest.mark.parametrize("field,value", [("ts", 2**64), ("seq", 2**64), ("conn", 2**63), ("ts", float("inf")),
                                         ("ts", 1), ("reactor", "\udc80"), ("turn", 10**30)])
def test_values_a_fast_parser_reads_differently_are_judged_as_when_read_alone(
    tmp_path: Path, batch_parser: Any, field: str, value: Any
) -> None:
    lines = _text(_sample_events(50)).split(b"\n")
    obj = json.loads(lines[20])
    obj[field] = value
    lines[20] = json.dumps(obj).encode()
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(lines))
    assert _batched(path, 10_000)[:2] == _per_line(path)


def test_a_step_with_a_tiny_byte_budget_still_moves_on(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(_text(_sample_events(40)))
    reader = RecordingReader(path, Trace())
    got = []
    for _ in range(100):
        if reader.done:
            break
        got += reader.step(max_lines=5, max_bytes=0)
    assert reader.done and len(got) == 40
