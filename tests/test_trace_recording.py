"""Recording a trace to JSON Lines and loading it back, including damaged files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.trace import events as ev
from inspector.trace.model import Trace
from inspector.trace.recording import Recorder, RecordingError, load


def _sample_trace() -> Trace:
    """A trace with one event of every kind (fields set to distinctive values)."""
    trace = Trace()
    trace.header.update(reactor="SelectorsReactor", host="testhost")
    for number, cls in enumerate(ev.EVENT_TYPES.values(), start=1):
        values = {}
        for name, typ in cls._field_types.items():
            if name == "seq":
                continue
            values[name] = {int: number, float: number + 0.5, str: f"{name}-{number} é\n",
                            bytes: bytes(range(256)), bool: True}[typ]
        trace.add(cls(**values))
    return trace


def _record(trace: Trace, path: Path) -> Recorder:
    recorder = Recorder(trace, path)
    recorder.close()
    return recorder


def test_round_trip_gives_back_the_same_events(tmp_path: Path) -> None:
    trace = _sample_trace()
    path = tmp_path / "t.jsonl"
    recorder = _record(trace, path)
    assert recorder.written == len(ev.EVENT_TYPES)
    loaded = load(path)
    assert loaded.problems == []
    assert loaded.events() == trace.events()
    assert loaded.header["reactor"] == "SelectorsReactor"
    assert loaded.header["host"] == "testhost"
    assert loaded.header["version"] == 1
    assert "start_time" in loaded.header and "end_time" in loaded.header
    # The summaries are rebuilt the same way as live.
    assert loaded.connections.keys() == trace.connections.keys()
    assert [d.id for d in loaded.deferreds()] == [d.id for d in trace.deferreds()]


def test_recorder_streams_incrementally(tmp_path: Path) -> None:
    trace = Trace()
    path = tmp_path / "t.jsonl"
    recorder = Recorder(trace, path)
    trace.add(ev.LoopTurn(ts=1.0, duration=0.5))
    assert recorder.flush() == 1
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["format"] == "inspector-trace"
    assert json.loads(lines[1])["kind"] == "loop.turn"
    trace.add(ev.LoopTurn(ts=2.0))
    recorder.close()
    assert recorder.closed
    assert len(load(path).events()) == 2


def test_recorder_notes_events_it_fell_behind_on(tmp_path: Path) -> None:
    from inspector.trace.model import TraceConfig

    trace = Trace(TraceConfig(feed_size=3))
    path = tmp_path / "t.jsonl"
    recorder = Recorder(trace, path)
    for _ in range(10):
        trace.add(ev.LoopTurn())
    recorder.close()
    loaded = load(path)
    assert loaded.header["missed"] == 7
    assert len(loaded.events()) == 3


def test_truncated_file_loads_up_to_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    _record(_sample_trace(), path)
    text = path.read_bytes()
    lines = text.splitlines(keepends=True)
    cut = b"".join(lines[:6]) + lines[6][: len(lines[6]) // 2]
    path.write_bytes(cut)
    loaded = load(path)
    assert len(loaded.events()) == 5
    assert len(loaded.problems) == 1
    assert "line 7" in loaded.problems[0]
    assert "truncated" in loaded.problems[0]


@pytest.mark.parametrize(
    "bad_line, expected",
    [
        (b"{not json\n", "not valid JSON"),
        (b'{"kind": "no.such.kind", "seq": 99}\n', "unknown event kind"),
        (b'{"kind": "loop.turn", "seq": 99, "duration": "slow"}\n', "expected float"),
        (b'{"kind": "loop.turn", "seq": 99, "__class__": "os.system"}\n', "unknown field"),
        (b'{"kind": "conn.in", "seq": 99, "data": "!!!"}\n', "bad base64"),
        (b'[1, 2, 3]\n', "expected a JSON object"),
        (b'{"kind": "loop.turn", "seq": 1}\n', "go backwards"),
    ],
)
def test_corrupt_line_stops_loading_with_a_clear_message(
    tmp_path: Path, bad_line: bytes, expected: str
) -> None:
    path = tmp_path / "t.jsonl"
    _record(_sample_trace(), path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:4]) + bad_line + b"".join(lines[4:]))
    loaded = load(path)
    assert len(loaded.events()) == 3
    assert len(loaded.problems) == 1
    assert "line 5" in loaded.problems[0] and expected in loaded.problems[0]


def test_loading_never_executes_file_content(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "t.jsonl"
    payload = f"__import__('os').system('touch {marker}')"
    header = {"format": "inspector-trace", "version": 1}
    event = {"kind": "proto.message", "seq": 1, "text": payload, "protocol": payload}
    path.write_text(json.dumps(header) + "\n" + json.dumps(event) + "\n")
    loaded = load(path)
    assert loaded.events()[0].text == payload
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "empty"),
        (b"hello\n", "JSON header"),
        (b'{"format": "something-else"}\n', "not an Inspector trace"),
        (b'{"format": "inspector-trace", "version": 99}\n', "version 99"),
    ],
)
def test_file_that_is_not_a_recording_is_refused(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=expected):
        load(path)
