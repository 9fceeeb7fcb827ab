"""Finger (RFC 1288): query parsing, the user database, the server and the client.

The parser tests feed bytes through a StringTransport (hypothesis cuts them at
random points); every behaviour a user sees is also checked over loopback sockets on
every reactor, against plain-socket peers as well as our own.
"""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.error import ConnectionRefusedError, TimeoutError
from inspector.protocols.finger import (
    MAX_QUERY,
    NO_USERS,
    FingerFactory,
    Query,
    QueryError,
    UserDatabase,
    UserFileError,
    answer,
    finger,
    parse_query,
)
from inspector.testing import StringTransport

from apps_support import ThreadedServer, feed, hammer, in_thread, read_until_closed

USERS = {
    "alice": "Alice Liddell\nPlan: follow the white rabbit",
    "bob": "Bob\nLikes: bridges",
}


# ------------------------------------------------------------------------ the query


def test_empty_query_and_slash_w_list_users() -> None:
    assert parse_query(b"") == Query("", False)
    assert parse_query(b"/W") == Query("", True)
    assert parse_query(b"/W alice") == Query("alice", True)
    assert parse_query(b"  bob ") == Query("bob", False)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"alice@elsewhere", "forwarding service denied"),
        (b"\x00\x01\xff", "malformed query"),
        ("caf\u00e9".encode(), "malformed query"),
        (b"two words", "is not a user name"),
        (b"x" * (MAX_QUERY + 1), "query too long"),
    ],
)
def test_bad_queries_are_refused_with_a_clear_reason(line: bytes, reason: str) -> None:
    with pytest.raises(QueryError, match=reason):
        parse_query(line)


def test_answers() -> None:
    db = UserDatabase(USERS)
    listing = answer(db, Query())
    assert listing.splitlines()[1:] == ["alice            Alice Liddell", "bob              Bob"]
    verbose = answer(db, Query("", True))
    assert "    Plan: follow the white rabbit" in verbose.splitlines()
    assert answer(db, Query("bob")) == "Login: bob\nBob\nLikes: bridges"
    assert answer(db, Query("carol")) == "finger: carol: no such user."
    assert answer(UserDatabase({}), Query()) == NO_USERS


# --------------------------------------------------------------------- the database


def test_user_file(tmp_path) -> None:
    path = tmp_path / "users"
    path.write_text("# who is here\nalice: Alice Liddell\n\nalice: Plan: tea\nbob:  Bob\n")
    db = UserDatabase.from_file(path)
    assert db.names() == ["alice", "bob"]
    assert db.lookup("alice") == "Alice Liddell\nPlan: tea"
    assert db.lookup("nobody") is None


def test_user_file_errors_name_the_file_and_line(tmp_path) -> None:
    with pytest.raises(UserFileError, match="user file not found"):
        UserDatabase.from_file(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.write_text("alice: ok\nthis line has no colon\n")
    with pytest.raises(UserFileError, match=r"bad:2: expected 'user: info'"):
        UserDatabase.from_file(bad)
    with pytest.raises(ValueError, match="bad user name"):
        UserDatabase({"has space": "x"})


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_any_user_file_loads_or_fails_with_a_user_file_error(tmp_path_factory, text) -> None:
    path = tmp_path_factory.mktemp("users") / "users"
    path.write_text(text, encoding="utf-8")
    try:
        db = UserDatabase.from_file(path)
    except UserFileError as exc:
        assert str(path) in str(exc)
    else:
        for name in db.names():  # every user loaded is answerable
            assert answer(db, parse_query(name.encode())).startswith(f"Login: {name}")


# ------------------------------------------------------- the server, bytes at random cuts


def server_reply(data: bytes, cuts: list[int]) -> StringTransport:
    protocol = FingerFactory(USERS).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    feed(protocol, data, cuts)
    return transport


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700), st.lists(st.integers(min_value=0), max_size=12))
def test_server_reply_does_not_depend_on_how_bytes_are_cut(data: bytes, cuts: list[int]) -> None:
    whole = server_reply(data, [])
    split = server_reply(data, cuts)
    assert split.value() == whole.value()
    assert split.disconnecting == whole.disconnecting
    # Exactly one reply, then a close -- or still waiting for the end of the line.
    if whole.disconnecting:
        assert whole.value().endswith(b"\r\n")
    else:
        assert whole.value() == b"" and b"\n" not in data and len(data) <= MAX_QUERY + 1


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["", "/W", "alice", "/W bob", "nobody"]), st.lists(st.integers(0), max_size=6))
def test_valid_queries_answer_the_same_with_crlf_or_lf(query: str, cuts: list[int]) -> None:
    crlf = server_reply(query.encode() + b"\r\n", cuts)
    lf = server_reply(query.encode() + b"\n", cuts)
    assert crlf.value() == lf.value()
    assert crlf.value().decode().replace("\r\n", "\n").rstrip("\n") == answer(
        UserDatabase(USERS), parse_query(query.encode())
    )


# --------------------------------------------------------------- over loopback sockets


def plain_finger(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return read_until_closed(sock)


def listen_finger(reactor, users=USERS, timeout: float = 30, backlog: int = 50):
    factory = FingerFactory(users, reactor, timeout)
    return reactor.listenTCP(0, factory, backlog=backlog, interface="127.0.0.1")


def test_plain_socket_client_gets_answers(reactor, run) -> None:
    async def scenario():
        port = listen_finger(reactor).getHost().port
        listing = await in_thread(reactor, plain_finger, port, b"\r\n")
        one = await in_thread(reactor, plain_finger, port, b"/W alice\r\n")
        unknown = await in_thread(reactor, plain_finger, port, b"carol\n")
        return listing, one, unknown

    listing, one, unknown = run(scenario)
    assert listing.startswith(b"Login") and b"alice" in listing and b"bob" in listing
    assert one == b"Login: alice\r\nAlice Liddell\r\nPlan: follow the white rabbit\r\n"
    assert unknown == b"finger: carol: no such user.\r\n"


def test_our_client_against_our_server(reactor, run) -> None:
    async def scenario():
        port = listen_finger(reactor).getHost().port
        return (
            await finger(reactor, "127.0.0.1", port, ""),
            await finger(reactor, "127.0.0.1", port, "bob"),
        )

    listing, bob = run(scenario)
    assert "alice" in listing and "bob" in listing
    assert bob == "Login: bob\nBob\nLikes: bridges"


def test_our_client_against_a_plain_socket_server(reactor, run) -> None:
    queries = []

    def handle(conn: socket.socket) -> None:
        request = b""
        while not request.endswith(b"\r\n"):
            request += conn.recv(100)
        queries.append(request)
        conn.sendall(b"Login: zed\r\nZed, from a socketserver\r\n")

    with ThreadedServer(handle) as server:
        answer_text = run(lambda: finger(reactor, "127.0.0.1", server.port, "/W zed"))
    assert queries == [b"/W zed\r\n"]
    assert answer_text == "Login: zed\nZed, from a socketserver"


def test_client_rejects_a_query_that_is_not_one_ascii_line(reactor) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        finger(reactor, "127.0.0.1", 79, "alice\r\nbob")


def test_client_reports_refused_connection(reactor, run) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(ConnectionRefusedError):
            run(lambda: finger(reactor, "127.0.0.1", port, ""))


def test_client_times_out_on_a_silent_server(reactor, run) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)  # accepts (in the kernel) but never answers
        port = sock.getsockname()[1]
        with pytest.raises(TimeoutError):
            run(lambda: finger(reactor, "127.0.0.1", port, "", timeout=0.5))


@pytest.mark.parametrize(
    ("request_bytes", "reply"),
    [
        (b"\x00\xff\xfe junk\r\n", b"finger: malformed query (only printable ASCII is accepted)\r\n"),
        (b"a" * 5000, f"finger: query too long (limit {MAX_QUERY} bytes)\r\n".encode()),
        (b"a" * (MAX_QUERY + 10) + b"\r\n", f"finger: query too long (limit {MAX_QUERY} bytes)\r\n".encode()),
        (b"root@other.host\r\n", b"finger: forwarding service denied\r\n"),
    ],
)
def test_bad_input_gets_a_clear_reply_and_a_close(reactor, run, request_bytes, reply) -> None:
    async def scenario():
        port = listen_finger(reactor).getHost().port
        bad = await in_thread(reactor, plain_finger, port, request_bytes)
        good = await in_thread(reactor, plain_finger, port, b"bob\r\n")
        return bad, good

    bad, good = run(scenario)
    assert bad == reply
    assert good.startswith(b"Login: bob")


def test_unterminated_query_times_out_with_a_reply(reactor, run) -> None:
    def silent_client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"alic")  # never finishes the line
            return read_until_closed(sock)

    async def scenario():
        port = listen_finger(reactor, timeout=0.3).getHost().port
        return await in_thread(reactor, silent_client, port)

    assert run(scenario) == b"finger: timed out waiting for a query\r\n"


def test_many_connections_dropped_midline_leave_the_server_serving(reactor, run) -> None:
    async def scenario():
        # A deep backlog: the storm comes faster than any server accepts.
        port = listen_finger(reactor, backlog=1024).getHost().port
        await in_thread(reactor, hammer, port, 2000, b"ali")
        return await in_thread(reactor, plain_finger, port, b"alice\r\n")

    assert run(scenario, timeout=120).startswith(b"Login: alice")
