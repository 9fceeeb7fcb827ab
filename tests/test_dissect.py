"""Dissectors: the built-ins on known input, any split of a stream giving the same messages,
over-long input bounded, plug-ins through a real entry point, and ``open --decode``."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector import cli, dissect
from inspector.dissect.base import Message
from inspector.dissect.decode import Redecoder
from inspector.dissect.framed import Int32Dissector, NetstringDissector
from inspector.dissect.irc import IRCDissector
from inspector.dissect.lines import LineDissector
from inspector.dissect.raw import RawDissector

ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INSPECTOR_REACTOR": "selectors"}


def kinds(messages: list[Message]) -> list[tuple[str, str, str]]:
    return [(m.direction, m.kind, m.summary) for m in messages]


# -- each built-in on known input ----------------------------------------------------------


def test_lines_split_at_crlf_and_lf_per_direction() -> None:
    d = dissect.create("lines")
    assert d.feed("in", b"hello\r\nwor") == [Message("line", "hello", {"text": "hello", "data": b"hello"}, "in")]
    assert kinds(d.feed("out", b"sent\n")) == [("out", "line", "sent")]
    assert kinds(d.feed("in", b"ld\n\nbye\x1b[2J")) == [("in", "line", "world"), ("in", "line", "(empty line)")]
    # The unterminated tail is reported when the stream ends, escaped for a terminal.
    assert kinds(d.flush()) == [("in", "line", "bye\\x1b[2J (no line ending)")]


def test_irc_uses_the_protocols_parser() -> None:
    d = dissect.create("irc")
    got = d.feed("in", b"@time=1 :nick!u@h PRIVMSG #chan :hi there\r\n\r\n:srv 001 me :Welcome\nbad\x00\n")
    assert [m.kind for m in got] == ["PRIVMSG", "001", "error"]
    privmsg, welcome, bad = got
    assert privmsg.summary == ":nick!u@h PRIVMSG #chan :hi there"
    assert privmsg.fields["params"] == ["#chan", "hi there"] and privmsg.fields["nick"] == "nick"
    assert privmsg.fields["tags"] == {"time": "1"}
    assert welcome.fields["name"] == "RPL_WELCOME"
    assert "NUL" in bad.summary and bad.summary.endswith("bad\\x00")


def test_netstrings() -> None:
    d = dissect.create("netstrings")
    got = d.feed("out", b"5:hello,0:,3:ab")
    assert [(m.kind, m.fields["data"]) for m in got] == [("netstring", b"hello"), ("netstring", b"")]
    assert [m.fields["data"] for m in d.feed("out", b"c,")] == [b"abc"]
    # A missing comma loses the framing: one error, and that direction is then ignored.
    assert kinds(d.feed("out", b"2:abX3:xyz,")) == [("out", "error", "netstring of 2 bytes not followed by ',' but X")]
    assert d.feed("out", b"1:a,") == []
    assert kinds(d.feed("in", b"1:a,")) == [("in", "netstring", "1 bytes: a")]


def test_int32_is_big_endian_as_twisteds_int32stringreceiver() -> None:
    d = dissect.create("int32")
    assert [m.fields["data"] for m in d.feed("in", b"\0\0\0\2hi\0\0\0\0\0\0\1")] == [b"hi", b""]
    # 00 00 01 00 is 256 read big-endian (little-endian would be 65536).
    assert [m.fields["data"] for m in d.feed("in", b"\0" + b"\7" * 256 + b"\0\0\0\1!")] == [b"\7" * 256, b"!"]


def test_raw_gives_each_chunk_with_a_hex_summary() -> None:
    d = dissect.create("raw")
    (message,) = d.feed("out", b"\x00\x01AB")
    assert message.summary == "4 bytes: 00 01 41 42" and message.fields["data"] == b"\x00\x01AB"
    (big,) = d.feed("in", bytes(100))
    assert big.summary.endswith("… (+68)") and len(big.summary) < 120
    assert d.flush() == []


def test_the_registry_knows_the_builtins_and_names_what_exists() -> None:
    assert {"lines", "irc", "netstrings", "int32", "raw"} <= set(dissect.names())
    with pytest.raises(dissect.UnknownDissector, match="there are: .*irc.*lines"):
        dissect.get("nope")


def test_register_in_code() -> None:
    class Upper(LineDissector):
        def line_received(self, line: bytes) -> list[Message]:
            return [Message("upper", line.decode().upper())]

    dissect.register("test-upper", Upper)
    assert kinds(dissect.create("test-upper").feed("in", b"abc\n")) == [("in", "upper", "ABC")]
    with pytest.raises(ValueError, match="already registered"):
        dissect.register("lines", Upper)
    dissect.register("test-not-a-dissector", object)
    with pytest.raises(TypeError, match="'test-not-a-dissector' made a object, which has no feed"):
        dissect.create("test-not-a-dissector")


# -- any split of a stream gives the same messages -------------------------------------------

PIECES = {
    "lines": st.one_of(
        st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"") + st_choice_eol(b)),
        st.sampled_from([b"\r", b"\n", b"\r\n", b"x" * 20]),
    ),
    "irc": st.one_of(
        st.sampled_from([b"PING :x\r\n", b":n!u@h PRIVMSG #c :hi\n", b"@a=b NOTICE x :y\r\n", b"\r\n", b"\x00\n",
                         b"y" * 30, b"\n"]),
        st.binary(max_size=10),
    ),
    "netstrings": st.one_of(
        st.binary(max_size=15).map(lambda b: b"%d:%s," % (len(b), b)),
        st.sampled_from([b"99999999:", b"01:", b"2:abc", b":"]),
    ),
    "int32": st.one_of(
        st.binary(max_size=15).map(lambda b: struct.pack("!I", len(b)) + b),
        st.just(struct.pack("!I", 1000)),
    ),
}


def st_choice_eol(data: bytes) -> bytes:
    return b"\r\n" if len(data) % 2 else b"\n"


def make(name: str) -> dissect.Dissector:
    """Small limits, so random streams reach the over-long paths too."""
    return {
        "lines": lambda: LineDissector(max_length=8),
        "irc": lambda: IRCDissector(max_length=24),
        "netstrings": lambda: NetstringDissector(max_length=20),
        "int32": lambda: Int32Dissector(max_length=20),
    }[name]()


@st.composite
def split_streams(draw: st.DrawFn, name: str) -> tuple[dict[str, bytes], list[tuple[str, bytes]]]:
    """Two directions' streams, and the same bytes cut into chunks at random, interleaved."""
    streams = {d: b"".join(draw(st.lists(PIECES[name], max_size=12))) for d in ("in", "out")}
    chunks: list[tuple[str, bytes]] = []
    cursors = {"in": 0, "out": 0}
    while any(cursors[d] < len(streams[d]) for d in streams):
        direction = draw(st.sampled_from([d for d in streams if cursors[d] < len(streams[d])]))
        size = draw(st.integers(1, len(streams[direction]) - cursors[direction]))
        chunks.append((direction, streams[direction][cursors[direction] : cursors[direction] + size]))
        cursors[direction] += size
    return streams, chunks


def by_direction(messages: list[Message]) -> dict[str, list[Message]]:
    return {d: [m for m in messages if m.direction == d] for d in ("in", "out")}


@pytest.mark.parametrize("name", sorted(PIECES))
def test_any_split_gives_the_same_messages_as_one_feed(name: str) -> None:
    @settings(max_examples=200, deadline=None)
    @given(split_streams(name))
    def check(case: tuple[dict[str, bytes], list[tuple[str, bytes]]]) -> None:
        streams, chunks = case
        whole = make(name)
        expected = whole.feed("in", streams["in"]) + whole.feed("out", streams["out"]) + whole.flush()
        split = make(name)
        got: list[Message] = []
        for direction, chunk in chunks:
            got += split.feed(direction, chunk)  # type: ignore[arg-type]
        got += split.flush()
        assert by_direction(got) == by_direction(expected)

    check()


@dataclass
class Kept:
    """A chunk as the window's store keeps it: the newest one grows in place."""

    time: float
    direction: str
    data: bytearray


@pytest.mark.parametrize("name", sorted(PIECES))
def test_redecoding_a_growing_session_gives_the_same_messages_as_one_feed(name: str) -> None:
    """Decode as… on a live connection: the store's chunk list grows and its last chunk
    grows in place between updates; the messages are those of one feed, each once."""

    @settings(max_examples=100, deadline=None)
    @given(split_streams(name), st.lists(st.booleans(), min_size=40, max_size=40))
    def check(case: tuple[dict[str, bytes], list[tuple[str, bytes]]], merges: list[bool]) -> None:
        streams, pieces = case
        whole = dissect.create(name)
        expected = whole.feed("in", streams["in"]) + whole.feed("out", streams["out"]) + whole.flush()
        decoder = Redecoder(name)
        kept: list[Kept] = []
        got: list[Message] = []
        for number, (direction, piece) in enumerate(pieces):
            if kept and kept[-1].direction == direction and merges[number % len(merges)]:
                kept[-1].data += piece
            else:
                kept.append(Kept(float(number), direction, bytearray(piece)))
            got += [found.message for found in decoder.update(kept)]
        got += [found.message for found in decoder.finish()]
        assert by_direction(got) == by_direction(expected)

    check()


class Broken:
    """A plug-in-like dissector with a bug."""

    def feed(self, direction: str, data: bytes) -> list[Message]:
        raise ZeroDivisionError("oops")

    def flush(self) -> list[Message]:
        return []


def test_redecoding_with_a_dissector_that_raises_gives_one_error_message(caplog: pytest.LogCaptureFixture) -> None:
    dissect.register("test-broken", Broken, replace=True)
    decoder = Redecoder("test-broken")
    chunks = [Kept(1.0, "in", bytearray(b"a")), Kept(2.0, "out", bytearray(b"b"))]
    (found,) = decoder.update(chunks)
    assert (found.time, found.message.direction, found.message.kind) == (1.0, "in", "error")
    assert found.message.summary == "dissector 'test-broken' failed: ZeroDivisionError: oops"
    assert decoder.update(chunks + [Kept(3.0, "in", bytearray(b"c"))]) == [] and decoder.finish() == []
    assert [r.exc_info is not None for r in caplog.records if "test-broken" in r.getMessage()] == [True]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["in", "out"]), st.binary(min_size=1, max_size=20)), max_size=20))
def test_raw_keeps_every_chunk_so_any_split_joins_to_the_same_bytes(chunks: list[tuple[str, bytes]]) -> None:
    d = RawDissector()
    got: list[Message] = []
    for direction, chunk in chunks:
        got += d.feed(direction, chunk)  # type: ignore[arg-type]
    assert [(m.direction, m.fields["data"]) for m in got] == chunks


# -- over-long input is bounded, with a clear message ------------------------------------------


def test_an_endless_line_is_reported_once_and_not_buffered() -> None:
    d = dissect.create("lines")
    chunk = b"z" * 65536
    tracemalloc.start()
    try:
        messages: list[Message] = []
        for _ in range(256):  # 16 MiB without a newline
            messages += d.feed("in", chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, f"buffered {peak} bytes"
    assert kinds(messages) == [("in", "error", "line too long (over 16384 bytes), skipped: " + "z" * 40 + "…")]
    assert messages[0].fields["error"] == "line too long"
    # The line's end ends the skipping: what follows decodes again.
    assert kinds(d.feed("in", b"zz\r\nnext\n")) == [("in", "line", "next")]


def test_an_oversized_length_prefix_is_refused_at_once() -> None:
    d = dissect.create("int32")
    (error,) = d.feed("in", struct.pack("!I", 2**31) + b"data")
    assert error.kind == "error" and error.summary == "int32 length 2147483648 over the maximum of 99999 bytes"
    assert d.feed("in", b"x" * 100000) == [] and d.flush() == []
    n = dissect.create("netstrings")
    assert kinds(n.feed("in", b"1000000")) == [("in", "error", "netstring length over the maximum of 99999 bytes")]


# -- plug-ins through a real entry point ----------------------------------------------------------

PLUGIN = '''
from inspector.dissect import Message
from inspector.dissect.lines import LineDissector


class Shout(LineDissector):
    """Every line, upper-cased."""

    def line_received(self, line):
        return [Message("shout", line.decode().upper())]
'''


def install_plugins(site: Path) -> None:
    """A distribution with a working dissector and a broken one, as pip would leave them."""
    site.mkdir()
    (site / "shoutplug.py").write_text(PLUGIN)
    (site / "brokenplug.py").write_text("raise ImportError('brokenplug needs libfoo')\n")
    info = site / "shoutplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shoutplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[inspector.dissectors]\nshout = shoutplug:Shout\nbroken = brokenplug:Broken\nlines = shoutplug:Shout\n")
    (info / "RECORD").write_text("")


def test_a_plugin_is_found_through_its_entry_point_and_a_broken_one_is_logged_once(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_plugins(site)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(site)!r})
        from inspector import dissect
        print(dissect.names())
        print([m.summary for m in dissect.create("shout").feed("in", b"hello\\n")])
        print(dissect.names())
        print([m.summary for m in dissect.create("lines").feed("in", b"quiet\\n")])
        try:
            dissect.get("broken")
        except dissect.UnknownDissector as exc:
            print("unknown:", exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=ENV)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert "'shout'" in out[0] and "'broken'" not in out[0] and "'irc'" in out[0], out
    assert out[1] == "['HELLO']"
    assert out[3] == "['quiet']"  # a plug-in cannot take a built-in's name
    assert done.stderr.count("dissector plug-in 'lines' (shoutplug:Shout) is skipped") == 1, done.stderr
    assert out[4].startswith("unknown: no dissector named 'broken'")
    assert done.stderr.count("dissector plug-in 'broken'") == 1, done.stderr
    assert "brokenplug needs libfoo" in done.stderr


# -- inspector open FILE --decode CONN:NAME on a real IRC recording -------------------------------


@pytest.fixture(scope="module")
def irc_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``inspector --record`` of ``inspector serve irc`` with one client session."""
    from test_one_fold import record_irc_session

    path = tmp_path_factory.mktemp("rec") / "irc.jsonl"
    record_irc_session(path)
    return path


def test_open_decode_prints_the_recorded_session_as_irc_messages(
        irc_recording: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["open", str(irc_recording), "--decode", "1:irc"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split(None, 3) for line in lines]
    assert all(row[0].startswith("+") and row[1] in ("in", "out") for row in rows), lines
    sent = [(row[2], row[3]) for row in rows if row[1] == "in"]
    assert sent == [("NICK", "NICK watcher"), ("USER", "USER w 0 * :Watcher"), ("JOIN", "JOIN #inspector"),
                    ("PRIVMSG", "PRIVMSG #inspector :hello"), ("PING", "PING :x"), ("QUIT", "QUIT :bye")]
    answered = [row[2] for row in rows if row[1] == "out"]
    assert answered[0] == "001" and "366" in answered and answered[-2:] == ["PONG", "ERROR"], answered

    assert cli.main(["open", str(irc_recording), "--decode", "1:lines"]) == 0
    assert "out line       :irc.inspector.local 001 watcher :Welcome" in capsys.readouterr().out


def test_open_decode_with_an_unknown_name_lists_the_dissectors(
        irc_recording: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["open", str(irc_recording), "--decode", "1:sip"]) == 2
    err = capsys.readouterr().err
    assert "no dissector named 'sip'" in err and "int32, irc, lines, netstrings, raw" in err
    assert cli.main(["open", str(irc_recording), "--decode", "7:irc"]) == 2
    assert "no connection 7 (known: 1)" in capsys.readouterr().err


def test_open_decode_with_a_plugin_dissector(irc_recording: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_plugins(site)
    done = subprocess.run(
        [sys.executable, "-m", "inspector", "open", str(irc_recording), "--decode", "1:shout"],
        capture_output=True, text=True, timeout=60, env={**ENV, "PYTHONPATH": str(site)},
    )
    assert done.returncode == 0, done.stderr
    assert "in  shout      PRIVMSG #INSPECTOR :HELLO" in done.stdout


def test_open_decode_with_a_dissector_that_raises_prints_one_error_line(
        irc_recording: Path, capsys: pytest.CaptureFixture) -> None:
    dissect.register("test-broken", Broken, replace=True)
    assert cli.main(["open", str(irc_recording), "--decode", "1:test-broken"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].split(None, 3)[1:] == ["in", "error", "dissector 'test-broken' failed: ZeroDivisionError: oops"]
