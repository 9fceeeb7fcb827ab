"""The catalogue: one description per launchable thing, validation, and start/stop.

Every entry is started on every reactor and talked to over loopback sockets, the way
the window's launcher and ``inspector serve``/``connect`` use it.
"""

from __future__ import annotations

import socket

import pytest

from inspector import catalog
from inspector.catalog import ParameterError
from inspector.defer import Deferred
from inspector.error import CannotListenError

from apps_support import in_thread, read_until_closed


def sleep(reactor, seconds: float) -> Deferred:
    d: Deferred = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


async def wait_for_output(reactor, handle, predicate, timeout: float = 5.0) -> list[str]:
    """Wait until some output line satisfies ``predicate``; return the transcript."""
    waited = 0.0
    while not any(predicate(line) for line in handle.transcript):
        if waited > timeout:
            raise AssertionError(f"no matching output; got {list(handle.transcript)}")
        await sleep(reactor, 0.02)
        waited += 0.02
    return list(handle.transcript)


# ------------------------------------------------------------------ the descriptions


def test_every_entry_is_complete_and_unique() -> None:
    entries = catalog.entries()
    keys = [entry.key for entry in entries]
    assert len(keys) == len(set(keys))
    assert {e.name for e in entries} >= {"echo", "qotd", "finger", "irc"}
    for entry in entries:
        assert entry.role in ("server", "client") and entry.transport in ("tcp", "udp", "tls", "unix", "pipes")
        assert entry.title and entry.description
        for param in entry.params:
            assert param.help and param.kind in ("int", "float", "str", "path", "flag")
        # The defaults themselves pass validation, so a launcher form starts valid.
        assert entry.validate({}) == {p.name: p.default for p in entry.params}


def test_only_line_clients_take_lines() -> None:
    takes = {e.key for e in catalog.entries() if e.accepts_lines}
    line_clients = {"echo client tcp", "irc client tcp", "echo client tls", "irc client tls"}
    raw = {"raw client tcp", "raw client udp", "raw server tcp"}  # talk raw: typed lines are sent
    assert takes == line_clients | {"process client pipes"} | raw


def test_text_values_are_converted() -> None:
    entry = catalog.find("echo", "client")
    assert entry.validate({"port": " 8007 ", "timeout": "2.5", "host": "::1", "reply_timeout": "3"}) == {
        "host": "::1", "port": 8007, "timeout": 2.5, "reply_timeout": 3.0,
    }


@pytest.mark.parametrize(
    ("name", "role", "values", "message"),
    [
        ("echo", "server", {"port": "70000"}, "port: must be between 0 and 65535"),
        ("echo", "client", {"port": "0"}, "port: must be between 1 and 65535"),
        ("echo", "client", {"port": "seven"}, "port: expected a whole number"),
        ("echo", "client", {"host": "no such host!"}, "host: 'no such host!' is neither"),
        ("echo", "client", {"colour": "red"}, "has no parameter 'colour'"),
        ("qotd", "server", {"quote_file": "/nonexistent/quotes"}, "quote_file: quote file not found"),
        ("finger", "client", {"query": "a\nb"}, "query: must be printable ASCII"),
        ("finger", "client", {"timeout": "0"}, "timeout: must be more than 0"),
        ("irc", "client", {"nick": "9lives"}, "nick: '9lives' is not a nickname"),
        ("irc", "client", {"channel": "nochannel"}, "channel: 'nochannel' is not a channel"),
        ("echo", "server", {"endpoint": "tcp:port=x"}, "endpoint: port must be a whole number"),
    ],
)
def test_bad_values_are_refused_by_name(name, role, values, message) -> None:
    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        catalog.find(name, role).validate(values)


def test_find_says_what_exists() -> None:
    with pytest.raises(KeyError, match="known: echo, finger, irc, proxy, qotd, raw"):
        catalog.find("gopher", "server")
    with pytest.raises(KeyError, match="runs over tcp, not udp"):
        catalog.find("finger", "server", "udp")
    assert catalog.names("client") == ["echo", "qotd", "finger", "irc", "process", "raw"]


# ------------------------------------------------------------ starting and stopping


def connect_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_echo_server_and_client_from_the_catalogue(reactor, run) -> None:
    async def scenario():
        server = catalog.find("echo", "server").start(reactor, port=0)
        port = server.address.port
        client = catalog.find("echo", "client").start(reactor, port=str(port))
        reply = await client.send_line("hello")  # sent once connected
        assert len(server.connections) == 1
        await client.stop()
        await server.stop()
        refused = await in_thread(reactor, connect_refused, port)
        return server, client, reply, refused

    server, client, reply, refused = run(scenario)
    assert reply.line == "hello"
    assert client.transcript[0] == f"-- connected to 127.0.0.1:{server.address.port}"
    assert client.transcript[1].startswith("hello (") and client.transcript[1].endswith(" ms)")
    assert not server.running and not client.running and refused
    assert server.description == f"echo server on 127.0.0.1:{server.address.port}/tcp"


def test_stopping_a_server_closes_its_connections(reactor, run) -> None:
    def hold_open(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"hi\n")
            return read_until_closed(sock)

    async def scenario():
        server = catalog.find("echo", "server").start(reactor, port=0)
        held = in_thread(reactor, hold_open, server.address.port)
        while not server.connections:
            await sleep(reactor, 0.01)
        await server.stop()
        return await held

    assert run(scenario) == b"hi\n"  # the echo, then the close


def test_qotd_and_finger_clients_report_their_answer(reactor, run) -> None:
    async def scenario():
        tcp = catalog.find("qotd", "server").start(reactor, port=0, quote="Know thyself.")
        udp = catalog.find("qotd", "server", "udp").start(reactor, port=0, quote="Nothing in excess.")
        fing = catalog.find("finger", "server").start(reactor, port=0)
        results = []
        for handle in (
            catalog.find("qotd", "client").start(reactor, port=tcp.address.port),
            catalog.find("qotd", "client", "udp").start(reactor, port=udp.address.port),
            catalog.find("finger", "client").start(reactor, port=fing.address.port, query="alice"),
        ):
            results.append((await handle.done, list(handle.transcript)))
        for server in (tcp, udp, fing):
            await server.stop()
        return results

    (quote, q_out), (udp_quote, u_out), (alice, f_out) = run(scenario)
    assert quote == "Know thyself." and q_out == ["Know thyself."]
    assert udp_quote == "Nothing in excess." and u_out == ["Nothing in excess."]
    assert alice.startswith("Login: alice") and f_out == [alice]


def test_echo_udp_server_from_the_catalogue(reactor, run) -> None:
    def ask(port: int) -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(b"ping", ("127.0.0.1", port))
            return sock.recvfrom(100)[0]

    async def scenario():
        server = catalog.find("echo", "server", "udp").start(reactor, port=0)
        answer = await in_thread(reactor, ask, server.address.port)
        await server.stop()
        return answer

    assert run(scenario) == b"ping"


def test_endpoint_parameter_and_busy_port(reactor, run) -> None:
    async def scenario():
        entry = catalog.find("finger", "server")
        first = entry.start(reactor, endpoint="tcp:0:interface=127.0.0.1")
        port = first.address.port
        try:
            entry.start(reactor, port=port)
        except CannotListenError as exc:
            error = exc
        else:
            error = None
        await first.stop()
        return port, error

    port, error = run(scenario)
    assert port > 0
    assert isinstance(error, CannotListenError) and str(port) in str(error)


def test_client_failure_reaches_done(reactor, run) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

        async def scenario():
            handle = catalog.find("qotd", "client").start(reactor, port=port)
            try:
                await handle.done
            except Exception as exc:
                return exc, list(handle.transcript)

        exc, transcript = run(scenario)
    from inspector.error import ConnectionRefusedError as Refused

    assert isinstance(exc, Refused)
    assert transcript[0].startswith("-- failed: Connection was refused")


def test_irc_server_and_two_clients_chat(reactor, run) -> None:
    async def scenario():
        server = catalog.find("irc", "server").start(reactor, port=0, motd="welcome")
        port = server.address.port
        entry = catalog.find("irc", "client")
        alice = entry.start(reactor, port=port, nick="alice", channel="#tea")
        bob = entry.start(reactor, port=port, nick="bob", channel="#tea")
        await wait_for_output(reactor, alice, lambda line: line == "bob joined #tea")
        await alice.send_line("hello bob")
        await alice.send_line("/me pours tea")
        with pytest.raises(ValueError, match="unknown command /dance"):
            alice.send_line("/dance")
        seen = await wait_for_output(reactor, bob, lambda line: "* alice pours tea" in line)
        await bob.stop()
        await alice.stop()
        await server.stop()
        return seen

    seen = run(scenario, timeout=20)
    assert "signed on as bob" in seen and "joined #tea" in seen
    assert "[#tea] <alice> hello bob" in seen


def test_a_failing_output_listener_is_logged_and_the_others_still_hear(reactor, run, caplog) -> None:
    heard: list[str] = []

    def broken(line: str) -> None:
        raise RuntimeError("listener bug")

    async def scenario():
        server = catalog.find("qotd", "server").start(reactor, port=0, quote="Still heard.")
        client = catalog.find("qotd", "client").start(reactor, port=server.address.port)
        client.on_output(broken)
        client.on_output(heard.append)
        quote = await client.done
        await server.stop()
        return quote

    assert run(scenario) == "Still heard."
    assert heard == ["Still heard."]
    failures = [r for r in caplog.records if r.levelname == "ERROR" and "output listener" in r.getMessage()]
    assert failures and "listener bug" in (failures[0].exc_text or "")


@pytest.mark.parametrize(("name", "transport"), [("echo", "tcp"), ("irc", "tcp"), ("qotd", "tcp"), ("qotd", "udp")])
def test_stopping_a_client_before_it_connects_ends_it_cleanly(reactor, run, name, transport) -> None:
    async def scenario():
        server = catalog.find(name, "server", transport).start(reactor, port=0)
        client = catalog.find(name, "client", transport).start(reactor, port=server.address.port)
        await client.stop()  # asked at once, before the connection is up
        result = await client.done
        await server.stop()
        return result, list(client.transcript)

    result, transcript = run(scenario)
    assert result is None
    assert transcript[-1].startswith("-- stopped")


def test_irc_client_entry_against_miniircd(reactor, run) -> None:
    """The launcher's IRC client on a third-party server (miniircd: no 005, 422 without a MOTD)."""
    from irc_support import start_miniircd, stop_peer

    port, process = start_miniircd()
    try:

        async def scenario():
            entry = catalog.find("irc", "client")
            bob = entry.start(reactor, port=port, nick="bob", channel="#cake")
            await wait_for_output(reactor, bob, lambda line: line == "joined #cake")
            alice = entry.start(reactor, port=port, nick="alice", channel="#cake")
            sent = alice.send_line("typed before joining")  # waits for the join
            await sent
            seen = await wait_for_output(reactor, bob, lambda line: "typed before joining" in line)
            await alice.stop()
            await wait_for_output(reactor, bob, lambda line: line.startswith("alice quit"))
            await bob.stop()
            return seen

        seen = run(scenario, timeout=20)
    finally:
        stop_peer(process)
    assert "signed on as bob" in seen
    assert "[#cake] <alice> typed before joining" in seen
