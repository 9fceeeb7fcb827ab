"""Quote of the Day (RFC 865): quoters, fortune files, TCP and UDP servers and clients.

Servers are read by plain ``socket`` code and our clients talk to plain-socket
servers, over loopback on every reactor; the parsers also get hypothesis input.
"""

from __future__ import annotations

import random
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from inspector import data
from inspector.error import ConnectionRefusedError, TimeoutError
from inspector.interfaces import IConnectionTable, IQuoter
from inspector.protocols.oneshot import CollectingClientFactory, ReplyTooLong
from inspector.protocols.qotd import (
    QOTDUDP,
    FortuneQuoter,
    QOTDError,
    QOTDFactory,
    QuoteFileError,
    StaticQuoter,
    decode_quote,
    encode_quote,
    get_quote,
    get_quote_udp,
    parse_fortunes,
)
from inspector.testing import StringTransport

from apps_support import ThreadedServer, feed, hammer, in_thread, read_until_closed

# ------------------------------------------------------------------------- quoters


def test_quoters_provide_iquoter(tmp_path) -> None:
    path = tmp_path / "q"
    path.write_text("one\n%\ntwo\n")
    assert verifyObject(IQuoter, StaticQuoter("hi"))
    assert verifyObject(IQuoter, FortuneQuoter(path))


def test_the_factory_lends_its_connection_table_by_contract() -> None:
    """The command that runs a QOTD server reads the factory's own table of open
    connections (no wrapper per connection's end); that is declared, and checked."""
    factory = QOTDFactory(StaticQuoter("hi"))
    assert verifyObject(IConnectionTable, factory)
    assert factory.connections == {} and factory.closes_watcher is None and factory.watch_every_close is False


def test_fortune_quoter_picks_every_quote_of_every_file(tmp_path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text("Alpha\nstill alpha\n%\nBeta\n")
    second.write_text("%\nGamma\n%\n")
    quoter = FortuneQuoter([first, second], rng=random.Random(7))
    seen = {quoter.getQuote() for _ in range(200)}
    assert seen == {"Alpha\nstill alpha", "Beta", "Gamma"}


def test_shipped_quotes_file_loads() -> None:
    with data.path_of(data.QUOTES) as path:
        quoter = FortuneQuoter(path)
    assert len(quoter.quotes) >= 20
    assert all(0 < len(encode_quote(q)) < 512 for q in quoter.quotes)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "quote file not found"),
        (b"", "holds no quotes"),
        (b"%\n%\n   \n%\n", "holds no quotes"),
        (b"caf\xe9\n", "is not UTF-8"),
    ],
)
def test_bad_quote_files_fail_clearly(tmp_path, content, reason) -> None:
    path = tmp_path / "quotes"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(QuoteFileError, match=reason):
        FortuneQuoter(path)


def test_static_quoter_refuses_an_empty_quote() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        StaticQuoter("  ")


quote_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="%"), min_size=1
).filter(lambda t: t.strip())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(quote_text, min_size=1, max_size=3), min_size=1, max_size=6))
def test_fortune_format_round_trip(quotes) -> None:
    texts = ["\n".join(line.rstrip() for line in lines).strip("\n") for lines in quotes]
    texts = [t for t in texts if t.strip()]
    document = "\n%\n".join(texts) + "\n"
    assert parse_fortunes(document) == texts


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_parse_fortunes_never_fails_and_never_yields_blank_quotes(text) -> None:
    assert all(quote.strip() for quote in parse_fortunes(text))


def test_quote_encoding() -> None:
    assert encode_quote("one\ntwo") == b"one\r\ntwo\r\n"
    assert decode_quote(b"one\r\ntwo\r\n") == "one\ntwo"
    cut = encode_quote("\u00e9" * 400, limit=512)
    assert len(cut) <= 512 and cut.endswith(b"\r\n")
    cut.decode("utf-8")  # never cut inside a character


# ------------------------------------------------------------------ the client parser


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0), max_size=10))
def test_collecting_client_gets_the_same_bytes_whatever_the_cuts(data, cuts) -> None:
    from inspector.error import ConnectionDone
    from inspector.failure import Failure

    factory = CollectingClientFactory(limit=1000)
    protocol = factory.buildProtocol(None)
    protocol.makeConnection(StringTransport())
    feed(protocol, data, cuts)
    protocol.connectionLost(Failure(ConnectionDone()))
    results: list = []
    factory.deferred.addBoth(results.append)
    if len(data) > 1000:
        assert results[0].check(ReplyTooLong)
    else:
        assert results == [data]


# --------------------------------------------------------------- over loopback sockets


def listen_tcp(reactor, quote: str = "Carpe diem.", backlog: int = 50):
    return reactor.listenTCP(0, QOTDFactory(StaticQuoter(quote)), backlog=backlog, interface="127.0.0.1")


def plain_tcp_read(port: int, send: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if send:
            sock.sendall(send)
        return read_until_closed(sock)


def plain_udp_ask(port: int, datagram: bytes = b"") -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(datagram, ("127.0.0.1", port))
        return sock.recvfrom(65536)[0]


def test_plain_socket_reads_the_tcp_quote_and_the_close(reactor, run) -> None:
    async def scenario():
        port = listen_tcp(reactor, "Carpe diem.\nSeize the day.").getHost().port
        return await in_thread(reactor, plain_tcp_read, port)

    assert run(scenario) == b"Carpe diem.\r\nSeize the day.\r\n"


def test_plain_socket_gets_a_udp_quote_for_any_datagram(reactor, run) -> None:
    async def scenario():
        port = reactor.listenUDP(0, QOTDUDP(StaticQuoter("UDP wisdom")), interface="127.0.0.1")
        port = port.getHost().port
        empty = await in_thread(reactor, plain_udp_ask, port, b"")
        junk = await in_thread(reactor, plain_udp_ask, port, b"\x00\xff" * 100)
        return empty, junk

    assert run(scenario) == (b"UDP wisdom\r\n", b"UDP wisdom\r\n")


def test_our_clients_against_our_servers(reactor, run, tmp_path) -> None:
    path = tmp_path / "quotes"
    path.write_text("First.\n%\nSecond,\nin two lines.\n")
    quoter = FortuneQuoter(path)

    async def scenario():
        tcp = reactor.listenTCP(0, QOTDFactory(quoter), interface="127.0.0.1").getHost().port
        udp = reactor.listenUDP(0, QOTDUDP(quoter), interface="127.0.0.1").getHost().port
        return (
            await get_quote(reactor, "127.0.0.1", tcp),
            await get_quote_udp(reactor, "127.0.0.1", udp),
        )

    for quote in run(scenario):
        assert quote in ("First.", "Second,\nin two lines.")


def test_our_clients_against_plain_socket_servers(reactor, run) -> None:
    def tcp_handle(conn: socket.socket) -> None:
        conn.sendall(b"From socketserver,\r\nwith love.\r\n")

    def udp_handle(packet) -> None:
        sock, _data, addr = packet
        sock.sendto(b"A datagram of wisdom.\r\n", addr)

    with ThreadedServer(tcp_handle) as tcp, ThreadedServer(udp_handle, udp=True) as udp:

        async def scenario():
            return (
                await get_quote(reactor, "127.0.0.1", tcp.port),
                await get_quote_udp(reactor, "localhost", udp.port),
            )

        assert run(scenario) == ("From socketserver,\nwith love.", "A datagram of wisdom.")


def test_udp_client_times_out_when_nobody_answers(reactor, run) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # receives, never answers
        port = silent.getsockname()[1]
        with pytest.raises(TimeoutError, match="no quote"):
            run(lambda: get_quote_udp(reactor, "127.0.0.1", port, timeout=0.3))


def test_tcp_client_errors(reactor, run) -> None:
    def silent_close(conn: socket.socket) -> None:
        pass  # close without a quote

    with ThreadedServer(silent_close) as server:
        with pytest.raises(QOTDError, match="without sending a quote"):
            run(lambda: get_quote(reactor, "127.0.0.1", server.port))


def test_tcp_client_refuses_an_endless_answer(reactor, run) -> None:
    def endless(conn: socket.socket) -> None:
        try:
            while True:
                conn.sendall(b"na" * 4096)
        except OSError:
            pass

    with ThreadedServer(endless) as server:
        with pytest.raises(ReplyTooLong):
            run(lambda: get_quote(reactor, "127.0.0.1", server.port))


def test_tcp_client_connection_refused(reactor, run) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            run(lambda: get_quote(reactor, "127.0.0.1", port))


def read_or_reset(port: int, send: bytes) -> bytes:
    try:
        return plain_tcp_read(port, send)
    except ConnectionResetError:
        # The server closed with our junk unread, so the kernel answered with a reset;
        # the quote may have been overtaken by it. Either way the client was closed.
        return b"reset"


def test_junk_and_connection_storms_leave_the_server_serving(reactor, run) -> None:
    async def scenario():
        port = listen_tcp(reactor, backlog=1024).getHost().port
        junk = await in_thread(reactor, read_or_reset, port, b"\x00\xff" * 5000 + b"no line end")
        await in_thread(reactor, hammer, port, 2000, b"\xff\xfe\xfd")
        after = await in_thread(reactor, plain_tcp_read, port)
        return junk, after

    junk, after = run(scenario, timeout=120)
    assert junk in (b"Carpe diem.\r\n", b"reset")
    assert after == b"Carpe diem.\r\n"


def test_udp_client_hears_that_nothing_listens(reactor, run) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing is bound now: the kernel answers with "port unreachable".
    with pytest.raises(ConnectionRefusedError):
        run(lambda: get_quote_udp(reactor, "127.0.0.1", port, timeout=5))
