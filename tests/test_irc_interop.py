"""Interoperation with real third-party IRC peers over loopback, on every reactor.

* our IRCClient against miniircd (subprocess) and against jaraco's ``irc.server``;
* our server driven by jaraco's ``irc.client`` and by ``pydle``, each in a thread
  with its own loop and a deadline.

Each test names the peer quirk it covers.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Iterator

import pytest

from inspector.protocols.irc import serialize
from inspector.threads import deferToThreadPool

from irc_support import (
    LogBotFactory,
    RecordingClient,
    close_all,
    connect,
    serve,
    start_miniircd,
    start_peer,
    stop_peer,
)
from reactor_support import free_port

PEER_DEADLINE = 8.0  # seconds a peer thread may run before it gives up


@pytest.fixture
def miniircd() -> Iterator[int]:
    """A miniircd on a free loopback port; killed after the test."""
    port, process = start_miniircd()
    try:
        yield port
    finally:
        stop_peer(process)


@pytest.fixture
def jaraco_server() -> Iterator[int]:
    """jaraco's ``irc.server`` on a free loopback port; killed after the test."""
    port = free_port()
    process = start_peer([sys.executable, "-m", "irc.server", "-a", "127.0.0.1", "-p", str(port)], port)
    try:
        yield port
    finally:
        stop_peer(process)


# ------------------------------------------------------------------ our client, their server


def test_client_against_miniircd(reactor: Any, run: Any, miniircd: int) -> None:
    """Quirks covered: miniircd sends no 005 (and 422 without a MOTD file); it supports CAP LS."""

    async def scenario() -> None:
        alice = connect(reactor, miniircd, RecordingClient("alice", cap_negotiation=True))
        await alice.log.wait_for("signedOn", "alice")
        await alice.log.wait_for("motd")
        assert alice.supported == {}  # no 005 at all, and nothing broke
        twin = connect(reactor, miniircd, RecordingClient("alice"))
        await twin.log.wait_for("signedOn", "alice_")  # 433 * alice, then the retry
        alice.join("#interop")
        await alice.log.wait_for("joined", "#interop")
        twin.join("#interop")
        await alice.log.wait_for("userJoined", "alice_", "#interop")
        await twin.log.wait_for("names", "#interop")
        twin.say("#interop", "hello from the twin")
        twin.describe("#interop", "waves")
        twin.notice("#interop", "a notice")
        await alice.log.wait_for("privmsg", "alice_", "#interop", "hello from the twin")
        await alice.log.wait_for("action", "alice_", "#interop", "waves")
        await alice.log.wait_for("noticed", "alice_", "#interop", "a notice")
        twin.topic("#interop", "set by twin")
        await alice.log.wait_for("topicUpdated", "#interop", "set by twin", "alice_")
        rtt = await alice.ping_server("token-123")
        assert rtt >= 0
        twin.setNick("twin")
        await alice.log.wait_for("userRenamed", "alice_", "twin")
        twin.quit("bye now")
        await alice.log.wait_for("userQuit", "twin", "bye now")
        await twin.lost
        await close_all(alice)

    run(scenario)


def test_client_accepts_over_long_lines_miniircd_relays(reactor: Any, run: Any, miniircd: int) -> None:
    """Quirk covered: miniircd relays lines longer than 512 bytes unchanged; our client takes them."""

    async def scenario() -> None:
        reader = connect(reactor, miniircd, RecordingClient("reader"))
        writer = connect(reactor, miniircd, RecordingClient("writer"))
        await reader.log.wait_for("signedOn")
        await writer.log.wait_for("signedOn")
        text = "long " * 150  # 750 bytes: sent raw, bypassing msg()'s splitting
        writer.sendLine(f"PRIVMSG reader :{text}")
        await reader.log.wait_for("privmsg", "writer", "reader", text)
        relayed = await reader.log.wait_for("message", "PRIVMSG")
        assert len(serialize(relayed[2], max_length=None)) + 2 > 512  # it really came over the limit, unsplit
        writer.msg("reader", "split " * 150)  # our own msg() splits to fit
        writer.msg("reader", "end")
        await reader.log.wait_for("privmsg", "writer", "reader", "end")
        pieces = [e[3] for e in reader.log.events if e[0] == "privmsg"][1:-1]
        assert len(pieces) > 1
        assert " ".join(pieces).split() == ["split"] * 150
        await close_all(reader, writer)

    run(scenario)


def test_log_bot_against_miniircd(reactor: Any, run: Any, miniircd: int, tmp_path: Any) -> None:
    """The Twisted-docs style log bot on a real server; miniircd's 433 makes it pick "logbot^"."""

    async def scenario() -> None:
        squatter = connect(reactor, miniircd, RecordingClient("logbot"))
        await squatter.log.wait_for("signedOn", "logbot")
        squatter.join("#logs")
        await squatter.log.wait_for("joined", "#logs")
        bots = LogBotFactory("#logs", str(tmp_path / "bot.log"), reactor)
        reactor.connectTCP("127.0.0.1", miniircd, bots)
        await bots.joined
        await squatter.log.wait_for("userJoined", "logbot^", "#logs")
        squatter.say("#logs", "hi there")
        squatter.say("#logs", "logbot^: who are you")
        await squatter.log.wait_for("privmsg", "logbot^", "#logs", "logbot: I log this channel")
        squatter.msg("logbot^", "secret")
        await squatter.log.wait_for("privmsg", "logbot^", "logbot", "Whispering is rude; talk in the channel.")
        await close_all(squatter)
        bots.bot.transport.loseConnection()
        await bots.done

    run(scenario)
    lines = (tmp_path / "bot.log").read_text().splitlines()
    assert lines[:5] == [
        "[connected]",
        "[joined #logs]",
        "<logbot> hi there",
        "<logbot> logbot^: who are you",
        "<logbot^> logbot: I log this channel",
    ]
    assert lines[5:] == ["<logbot> secret", "[disconnected]"]


def test_client_against_jaraco_server(reactor: Any, run: Any, jaraco_server: int) -> None:
    """Quirks covered: jaraco's irc.server sends only 001 and 376 (no 002-005, no 375),
    answers CAP with 421, puts "NICK" where 433's target belongs, sends a TOPIC line
    before JOIN, and its PONG drops our token."""

    async def scenario() -> None:
        one = connect(reactor, jaraco_server, RecordingClient("one", cap_negotiation=True))
        await one.log.wait_for("signedOn", "one")
        await one.log.wait_for("motd", [])  # 376 alone: an empty MOTD
        two = connect(reactor, jaraco_server, RecordingClient("one"))
        await two.log.wait_for("signedOn", "one_")
        rtt = await one.ping_server("lost-token")  # PONG :localhost still completes it
        assert rtt >= 0
        one.join("#j")
        await one.log.wait_for("joined", "#j")
        await one.log.wait_for("names", "#j", ["one"])
        two.join("#j")
        await one.log.wait_for("userJoined", "one_", "#j")
        two.say("#j", "hello one")
        await one.log.wait_for("privmsg", "one_", "#j", "hello one")
        one.msg("one_", "private hello")
        await two.log.wait_for("privmsg", "one", "one_", "private hello")
        assert ("topicUpdated", "#j", "No topic", "Unknown") in two.log.events
        await close_all(one, two)

    run(scenario)


# ------------------------------------------------------------------ their client, our server


def _jaraco_session(port: int) -> dict[str, Any]:
    """Drive our server with jaraco's irc.client: register, join, talk, quit (bounded)."""
    import irc.client

    seen: dict[str, Any] = {"welcome": None, "joined": False, "names": [], "pubmsg": [], "errors": []}
    loop = irc.client.Reactor()
    conn = loop.server().connect("127.0.0.1", port, "jaraco")

    def on_welcome(c: Any, event: Any) -> None:
        seen["welcome"] = event.target
        seen["isupport"] = dict(c.features.__dict__) if hasattr(c, "features") else {}
        c.join("#mixed")

    def on_join(c: Any, event: Any) -> None:
        if event.source.nick == "jaraco":
            seen["joined"] = True
            c.privmsg("#mixed", "hello from jaraco")

    def on_namreply(c: Any, event: Any) -> None:
        seen["names"].extend(event.arguments[-1].split())

    def on_pubmsg(c: Any, event: Any) -> None:
        seen["pubmsg"].append((event.source.nick, event.arguments[0]))
        if event.arguments[0] == "goodbye":
            c.quit("jaraco leaves")

    def on_error(c: Any, event: Any) -> None:
        seen["errors"].append(event.type)

    conn.add_global_handler("welcome", on_welcome)
    conn.add_global_handler("join", on_join)
    conn.add_global_handler("namreply", on_namreply)
    conn.add_global_handler("pubmsg", on_pubmsg)
    for code in ("nosuchnick", "unknowncommand", "notregistered", "needmoreparams"):
        conn.add_global_handler(code, on_error)
    deadline = time.monotonic() + PEER_DEADLINE
    while conn.is_connected() and time.monotonic() < deadline:
        loop.process_once(0.05)
    seen["timed_out"] = conn.is_connected()
    conn.close()
    return seen


def test_our_server_driven_by_jaraco_client(reactor: Any, run: Any) -> None:
    """jaraco's client parses our 005 (its FeatureSet) and our NAMES; it closes after QUIT's ERROR."""

    async def scenario() -> dict[str, Any]:
        factory, port, listening = serve(reactor, motd="welcome")
        ours = connect(reactor, port, RecordingClient("ours"))
        await ours.log.wait_for("signedOn")
        ours.join("#mixed")
        await ours.log.wait_for("names", "#mixed")
        peer = deferToThreadPool(reactor, reactor.getThreadPool(), _jaraco_session, port)
        await ours.log.wait_for("userJoined", "jaraco", "#mixed")
        await ours.log.wait_for("privmsg", "jaraco", "#mixed", "hello from jaraco")
        ours.say("#mixed", "goodbye")
        seen = await peer
        await ours.log.wait_for("userQuit", "jaraco", "Quit: jaraco leaves")
        await close_all(ours)
        await listening.stopListening()
        return seen

    seen = run(scenario, timeout=20)
    assert seen["welcome"] == "jaraco"
    assert seen["joined"] and sorted(seen["names"]) == ["@ours", "jaraco"]
    assert seen["pubmsg"] == [("ours", "goodbye")]
    assert seen["errors"] == [] and not seen["timed_out"]


def _pydle_session(port: int) -> dict[str, Any]:
    """Drive our server with pydle on its own asyncio loop in this thread (bounded)."""
    import pydle

    seen: dict[str, Any] = {"connected": False, "messages": [], "private": [], "users": []}

    class Peer(pydle.Client):
        async def on_connect(self) -> None:
            await super().on_connect()
            seen["connected"] = True
            await self.join("#py")

        async def on_join(self, channel: str, user: str) -> None:
            await super().on_join(channel, user)
            if user == self.nickname:
                await self.message(channel, "hello from pydle")

        async def on_channel_message(self, target: str, by: str, message: str) -> None:
            if by == self.nickname:
                return  # pydle echoes its own messages itself when echo-message is off
            seen["messages"].append((by, target, message))
            seen["users"] = sorted(self.channels[target]["users"])  # from our 353 replies
            if message == "goodbye":
                await self.quit("pydle leaves")

        async def on_private_message(self, target: str, by: str, message: str) -> None:
            seen["private"].append((by, message))

        async def on_disconnect(self, expected: bool) -> None:
            seen["disconnected"] = expected
            done.set()

    async def main() -> None:
        client = Peer("pydler", realname="pydle peer")
        await client.connect("127.0.0.1", port, tls=False)
        try:
            await asyncio.wait_for(done.wait(), PEER_DEADLINE)
        except asyncio.TimeoutError:
            seen["timed_out"] = True
        finally:
            if client.connected:
                await client.disconnect(expected=True)

    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        done = asyncio.Event()
        loop.run_until_complete(main())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return seen


def test_our_server_driven_by_pydle(reactor: Any, run: Any) -> None:
    """pydle negotiates CAP (we offer none), reads our 005 and NAMES replies, and leaves with QUIT.

    Quirks covered: pydle echoes its own channel messages locally (no echo-message
    capability here), and reports the ERROR that answers its QUIT as a server error.
    """

    async def scenario() -> dict[str, Any]:
        factory, port, listening = serve(reactor)
        ours = connect(reactor, port, RecordingClient("ours"))
        await ours.log.wait_for("signedOn")
        ours.join("#py")
        await ours.log.wait_for("names", "#py")
        peer = deferToThreadPool(reactor, reactor.getThreadPool(), _pydle_session, port)
        await ours.log.wait_for("privmsg", "pydler", "#py", "hello from pydle")
        ours.msg("pydler", "direct")
        ours.say("#py", "goodbye")
        seen = await peer
        await ours.log.wait_for("userQuit", "pydler", "Quit: pydle leaves")
        await close_all(ours)
        await listening.stopListening()
        return seen

    seen = run(scenario, timeout=20)
    assert seen["connected"] and not seen.get("timed_out")
    assert seen["users"] == ["ours", "pydler"]
    assert seen["messages"] == [("ours", "#py", "goodbye")]
    assert seen["private"] == [("ours", "direct")]
