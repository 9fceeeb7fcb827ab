"""Framing receivers: lines, raw mode, netstrings and length-prefixed strings.

The parsing tests feed bytes through ``inspector.testing.StringTransport``; hypothesis cuts the
stream at random places, so every split and merge of messages is tried. The loopback
tests at the end run the same receivers over real sockets on every reactor.
"""

from __future__ import annotations

import logging
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocols.basic import (
    Int8StringReceiver,
    Int16StringReceiver,
    Int32StringReceiver,
    LineOnlyReceiver,
    LineReceiver,
    NetstringParseError,
    NetstringReceiver,
    StringTooLongError,
)
from inspector.testing import StringTransport


def connect(protocol):
    protocol.makeConnection(StringTransport())
    return protocol


def feed(protocol, data: bytes, cuts: list[int]) -> None:
    """Deliver ``data`` to ``protocol`` cut at the given offsets."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in zip(points, points[1:]):
        protocol.dataReceived(data[a:b])


def line_bodies(delimiter: bytes = b"\r\n"):
    return st.binary(max_size=40).filter(lambda b: delimiter not in b and not b.endswith(delimiter[:1]))


cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=30)


# ------------------------------------------------------------------------ LineReceiver


class Lines(LineReceiver):
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)


@given(st.lists(line_bodies(), max_size=30), cuts)
def test_line_receiver_gets_every_line_however_the_stream_is_cut(lines, cut_at):
    p = connect(Lines())
    feed(p, b"".join(line + b"\r\n" for line in lines), cut_at)
    assert p.lines == lines


@given(st.lists(line_bodies(b"\n"), max_size=30), cuts)
def test_line_receiver_with_a_custom_delimiter(lines, cut_at):
    class NewlineLines(Lines):
        delimiter = b"\n"

    p = connect(NewlineLines())
    feed(p, b"".join(line + b"\n" for line in lines), cut_at)
    assert p.lines == lines


class Chunked(LineReceiver):
    """Lines, except ``RAW n`` announces n raw bytes that follow before lines resume."""

    def __init__(self) -> None:
        self.events: list[tuple[str, bytes]] = []
        self.remaining = 0
        self.raw = b""

    def lineReceived(self, line: bytes) -> None:
        if line.startswith(b"RAW "):
            self.remaining = int(line[4:])
            self.raw = b""
            if self.remaining:
                self.setRawMode()
            else:
                self.events.append(("raw", b""))
        else:
            self.events.append(("line", line))

    def rawDataReceived(self, data: bytes) -> None:
        take, rest = data[: self.remaining], data[self.remaining :]
        self.raw += take
        self.remaining -= len(take)
        if self.remaining == 0:
            self.events.append(("raw", self.raw))
            self.setLineMode(rest)


message = st.one_of(
    st.tuples(st.just("line"), line_bodies().filter(lambda b: not b.startswith(b"RAW "))),
    st.tuples(st.just("raw"), st.binary(max_size=60)),
)


def encode_chunked(events) -> bytes:
    out = b""
    for kind, body in events:
        out += body + b"\r\n" if kind == "line" else b"RAW %d\r\n" % len(body) + body
    return out


@given(st.lists(message, max_size=20), cuts)
def test_switching_modes_inside_callbacks_keeps_every_byte_in_place(events, cut_at):
    p = connect(Chunked())
    feed(p, encode_chunked(events), cut_at)
    assert p.events == events


@given(st.lists(st.integers(min_value=0, max_value=8), max_size=20), cuts)
def test_lines_up_to_max_length_pass_however_the_delimiter_is_cut(lengths, cut_at):
    class Short(Lines):
        MAX_LENGTH = 8

    lines = [b"x" * n for n in lengths]
    p = connect(Short())
    feed(p, b"".join(line + b"\r\n" for line in lines), cut_at)
    assert p.lines == lines
    assert not p.transport.disconnecting


def test_a_chunk_of_many_lines_is_delivered_in_order():
    p = connect(Lines())
    lines = [b"line %d" % i for i in range(200_000)]
    p.dataReceived(b"\r\n".join(lines) + b"\r\n")
    assert p.lines == lines


def test_a_line_longer_than_max_length_drops_the_connection_and_stops_parsing(caplog):
    class Short(Lines):
        MAX_LENGTH = 10

    p = connect(Short())
    with caplog.at_level(logging.WARNING, logger="inspector"):
        p.dataReceived(b"ok\r\n" + b"x" * 11 + b"\r\nlater\r\n")
    assert p.lines == [b"ok"]
    assert p.transport.disconnecting
    assert "longer than 10 bytes" in caplog.text


def test_an_unterminated_line_past_max_length_is_reported_before_its_delimiter():
    seen: list[bytes] = []

    class Short(Lines):
        MAX_LENGTH = 10

        def lineLengthExceeded(self, line: bytes) -> None:
            seen.append(line)

    p = connect(Short())
    p.dataReceived(b"12345678")
    assert seen == []
    p.dataReceived(b"901")  # 11 bytes: could still be 10 + the "\r" of a "\r\n"
    assert seen == []
    p.dataReceived(b"2")
    assert seen == [b"123456789012"]
    p.dataReceived(b"ok\r\n")  # the buffer was cleared: parsing starts afresh
    assert p.lines == [b"ok"]


def test_lines_after_the_transport_starts_disconnecting_are_not_delivered():
    class QuitOnBye(Lines):
        def lineReceived(self, line: bytes) -> None:
            super().lineReceived(line)
            if line == b"bye":
                self.transport.loseConnection()

    p = connect(QuitOnBye())
    p.dataReceived(b"hi\r\nbye\r\nignored\r\n")
    assert p.lines == [b"hi", b"bye"]


def test_clear_line_buffer_inside_line_received_returns_the_unparsed_rest():
    class Handover(Lines):
        rest = None

        def lineReceived(self, line: bytes) -> None:
            super().lineReceived(line)
            if line == b"STARTTLS":
                self.rest = self.clearLineBuffer()

    p = connect(Handover())
    p.dataReceived(b"a\r\nSTARTTLS\r\n\x16\x03binary\r\nb\r\n")
    assert p.lines == [b"a", b"STARTTLS"]
    assert p.rest == b"\x16\x03binary\r\nb\r\n"


def test_paused_receiver_holds_lines_until_resumed():
    class PauseAtTwo(Lines):
        def lineReceived(self, line: bytes) -> None:
            super().lineReceived(line)
            if line == b"2":
                self.pauseProducing()

    p = connect(PauseAtTwo())
    p.dataReceived(b"1\r\n2\r\n3\r\n4")
    assert p.lines == [b"1", b"2"] and p.transport.producerState == "paused"
    p.dataReceived(b"\r\n")
    assert p.lines == [b"1", b"2"]
    p.resumeProducing()
    assert p.lines == [b"1", b"2", b"3", b"4"] and p.transport.producerState == "producing"


def test_send_line_appends_the_delimiter_and_rejects_text():
    p = connect(Lines())
    p.sendLine(b"hello")
    assert p.transport.value() == b"hello\r\n"
    with pytest.raises(TypeError, match="bytes"):
        p.sendLine("hello")
    assert p.transport.value() == b"hello\r\n"


def test_raw_mode_without_raw_data_received_is_a_clear_error():
    class Forgetful(LineReceiver):
        def lineReceived(self, line: bytes) -> None:
            self.setRawMode()

    p = connect(Forgetful())
    with pytest.raises(NotImplementedError, match="rawDataReceived"):
        p.dataReceived(b"go\r\nraw")


def test_an_exception_in_line_received_leaves_the_receiver_consistent():
    class Picky(Lines):
        def lineReceived(self, line: bytes) -> None:
            if line == b"bad":
                raise ValueError("bad line")
            super().lineReceived(line)

    p = connect(Picky())
    with pytest.raises(ValueError, match="bad line"):
        p.dataReceived(b"a\r\nbad\r\nb\r\nc")
    # The line after the bad one is still buffered, and parsing is not stuck "busy".
    p.dataReceived(b"\r\n")
    assert p.lines == [b"a", b"b", b"c"]


# -------------------------------------------------------------------- LineOnlyReceiver


class OnlyLines(LineOnlyReceiver):
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)


@given(st.lists(line_bodies(), max_size=30), cuts)
def test_line_only_receiver_gets_every_line_however_the_stream_is_cut(lines, cut_at):
    p = connect(OnlyLines())
    feed(p, b"".join(line + b"\r\n" for line in lines), cut_at)
    assert p.lines == lines


def test_line_only_receiver_enforces_max_length():
    class Short(OnlyLines):
        MAX_LENGTH = 5

    p = connect(Short())
    p.dataReceived(b"abc\r\n123456")
    assert p.lines == [b"abc"]
    assert p.transport.disconnecting


# ----------------------------------------------------------------------- netstrings


class Strings(NetstringReceiver):
    def __init__(self) -> None:
        self.strings: list[bytes] = []

    def stringReceived(self, string: bytes) -> None:
        self.strings.append(string)


@given(st.lists(st.binary(max_size=80), max_size=20), cuts)
def test_netstrings_survive_any_split(strings, cut_at):
    sender = connect(Strings())
    for s in strings:
        sender.sendString(s)
    p = connect(Strings())
    feed(p, sender.transport.value(), cut_at)
    assert p.strings == strings
    assert not p.brokenPeer


def test_netstring_wire_format():
    p = connect(Strings())
    p.sendString(b"hello")
    p.sendString(b"")
    assert p.transport.value() == b"5:hello,0:,"


@pytest.mark.parametrize(
    "bad, complaint",
    [
        (b"abc:", "decimal digits"),
        (b"5:hello!", "not followed by ','"),
        (b"05:hello,", "leading zero"),
        (b":x,", "empty length"),
        (b"100000:", "MAX_LENGTH"),
        (b"99999999999999999999", "MAX_LENGTH"),
        (b"1234567", "more than 5 digits"),
        (b"-1:", "decimal digits"),
    ],
)
@given(cut_at=cuts)
@settings(max_examples=20)
def test_a_bad_netstring_is_reported_clearly_after_the_good_ones(bad, complaint, cut_at):
    p = connect(Strings())
    feed(p, b"2:ok," + bad + b"2:no,", cut_at)
    assert p.strings == [b"ok"]
    assert p.brokenPeer and p.transport.disconnecting
    assert isinstance(p.parseError, NetstringParseError)
    assert complaint in str(p.parseError)


def test_a_bad_netstring_is_logged(caplog):
    p = connect(Strings())
    with caplog.at_level(logging.WARNING, logger="inspector"):
        p.dataReceived(b"x:")
    assert "bad netstring" in caplog.text


def test_send_string_rejects_text():
    p = connect(Strings())
    with pytest.raises(TypeError, match="bytes"):
        p.sendString("text")


@given(st.binary(max_size=200), cuts)
def test_random_bytes_never_break_the_netstring_parser(garbage, cut_at):
    """Whatever arrives, the parser either delivers strings or reports a broken peer."""
    p = connect(Strings())
    feed(p, garbage, cut_at)
    whole = connect(Strings())
    whole.dataReceived(garbage)
    assert (p.strings, p.brokenPeer) == (whole.strings, whole.brokenPeer)
    if p.brokenPeer:
        assert p.transport.disconnecting


# ---------------------------------------------------------- length-prefixed strings


def int_receiver(base):
    class Collect(base):
        def __init__(self) -> None:
            self.strings: list[bytes] = []

        def stringReceived(self, string: bytes) -> None:
            self.strings.append(string)

    return Collect


@pytest.mark.parametrize("base", [Int8StringReceiver, Int16StringReceiver, Int32StringReceiver])
@given(strings=st.lists(st.binary(max_size=200), max_size=20), cut_at=cuts)
@settings(max_examples=50)
def test_length_prefixed_strings_survive_any_split(base, strings, cut_at):
    cls = int_receiver(base)
    sender = connect(cls())
    for s in strings:
        sender.sendString(s)
    p = connect(cls())
    feed(p, sender.transport.value(), cut_at)
    assert p.strings == strings


def test_int32_wire_format_is_big_endian():
    p = connect(int_receiver(Int32StringReceiver)())
    p.sendString(b"abc")
    assert p.transport.value() == b"\x00\x00\x00\x03abc"


def test_a_string_too_long_for_the_prefix_is_refused_before_writing():
    p = connect(int_receiver(Int8StringReceiver)())
    with pytest.raises(StringTooLongError):
        p.sendString(b"x" * 256)
    assert p.transport.value() == b""


def test_an_announced_length_over_max_length_drops_the_connection():
    seen: list[int] = []

    class Limited(int_receiver(Int32StringReceiver)):
        MAX_LENGTH = 100

        def lengthLimitExceeded(self, length: int) -> None:
            seen.append(length)
            super().lengthLimitExceeded(length)

    p = connect(Limited())
    p.dataReceived(struct.pack("!I", 2) + b"ok" + struct.pack("!I", 101) + b"x" * 101)
    assert p.strings == [b"ok"]
    assert seen == [101]
    assert p.transport.disconnecting


# ------------------------------------------------------------ over real sockets


def _record_until_closed(cls):
    """A server class that hands its parsed messages to ``factory.results`` when closed."""

    class Recorded(cls):
        def connectionLost(self, reason) -> None:
            messages = getattr(self, "events", None) or getattr(self, "lines", None)
            if messages is None:
                messages = self.strings
            self.factory.results.callback(messages)

    return Recorded


def _send_in_pieces(reactor, stream: bytes, pieces: list[int]):
    """A client protocol writing ``stream`` cut at ``pieces``, one piece per loop turn."""
    from inspector.protocol import Protocol

    points = sorted({p % (len(stream) + 1) for p in pieces} | {0, len(stream)})

    class Sender(Protocol):
        def connectionMade(self) -> None:
            self.transport.setTcpNoDelay(True)
            self.step(1)

        def step(self, i: int) -> None:
            if i < len(points):
                self.transport.write(stream[points[i - 1] : points[i]])
                reactor.callLater(0.001, self.step, i + 1)
            else:
                self.transport.loseConnection()

    return Sender


@pytest.mark.parametrize(
    "server", [Chunked, Strings, int_receiver(Int32StringReceiver)], ids=["lines-and-raw", "netstring", "int32"]
)
def test_receivers_parse_a_stream_cut_by_real_sockets(reactor, run, server):
    from inspector.defer import Deferred, maybeDeferred
    from inspector.protocol import ClientCreator, Factory

    if server is Chunked:
        expected = [("line", b"hello"), ("raw", b"\r\nraw\r\nbytes"), ("line", b""), ("raw", b""), ("line", b"end")]
        stream = encode_chunked(expected)
    else:
        expected = [b"one", b"", b"x" * 3000, b"two"]
        sender = connect(server())
        for s in expected:
            sender.sendString(s)
        stream = sender.transport.value()
    factory = Factory.forProtocol(_record_until_closed(server))
    factory.results = Deferred()

    def scenario():
        port = reactor.listenTCP(0, factory)
        client = ClientCreator(reactor, _send_in_pieces(reactor, stream, list(range(1, len(stream), 13))))
        client.connectTCP("127.0.0.1", port.getHost().port)

        def done(messages):
            return maybeDeferred(port.stopListening).addCallback(lambda _: messages)

        return factory.results.addCallback(done)

    assert run(scenario) == expected
