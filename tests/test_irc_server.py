"""Our IRC server driven by our IRCClient and by raw lines, over loopback, on every reactor."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from inspector.defer import Deferred, gatherResults
from inspector.protocols.irc import IRCServerFactory

from irc_support import (
    RawClient,
    RecordingClient,
    SilentClient,
    SingleClientFactory,
    close_all,
    connect,
    serve,
    signed_on,
    write_junk,
)


async def raw(reactor: Any, port: int) -> RawClient:
    client = connect(reactor, port, RawClient())
    await client.made
    return client


async def sync(client: RecordingClient) -> None:
    """Round-trip a PING, so everything the server sent before has arrived."""
    await client.ping_server()


async def sync_raw(client: RawClient, token: str = "sync") -> None:
    mark = len(client.log.events)
    client.send(f"PING {token}\r\n".encode())
    await client.log.wait_for("PONG", "irc.inspector.local", token, since=mark)


# ------------------------------------------------------------------ registration


def test_registration_sends_001_to_005_lusers_and_motd(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor, motd="first line\nsecond line")
        client = await signed_on(reactor, port, "alice")
        await client.numeric("376")
        codes = [e[1] for e in client.log.events if e[0] == "message"]
        assert codes[:5] == ["001", "002", "003", "004", "005"]
        assert "251" in codes and "255" in codes
        assert codes.index("375") < codes.index("372") < codes.index("376")
        assert (
            "motd",
            ["- irc.inspector.local Message of the day - ", "- first line", "- second line"],
        ) in client.log.events
        assert client.nickname == "alice"
        assert client.supported["CASEMAPPING"] == "ascii"
        assert client.supported["NICKLEN"] == "30"
        await close_all(client)
        await listening.stopListening()

    run(scenario)


def test_registration_without_motd_sends_422_and_supports_cap_and_password(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor, password="sesame")
        client = await signed_on(reactor, port, "bob", password="sesame", cap_negotiation=True)
        await client.numeric("422")
        assert ("motd", []) in client.log.events
        assert client.offered_capabilities == {}
        wrong = connect(reactor, port, RecordingClient("mallory", password="nope"))
        await wrong.lost
        codes = [e[1] for e in wrong.log.events if e[0] == "message"]
        assert codes == ["464", "ERROR"]
        assert "signedOn" not in wrong.log.kinds()
        await close_all(client)
        await listening.stopListening()

    run(scenario)


def test_nick_collision_gets_433_and_the_client_retries(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        first = await signed_on(reactor, port, "carol")
        second = await signed_on(reactor, port, "carol")
        assert second.nickname == "carol_"
        assert [e[2].params[1] for e in second.log.events if e[:2] == ("message", "433")] == ["carol"]
        await close_all(first, second)
        await listening.stopListening()

    run(scenario)


# ------------------------------------------------------------------ channels and messages


def test_join_is_broadcast_to_everyone_then_names(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        alice = await signed_on(reactor, port, "alice")
        alice.join("#room")
        await alice.log.wait_for("names", "#room")
        bob = await signed_on(reactor, port, "bob")
        mark = len(bob.log.events)
        bob.join("room")  # the client adds the "#"
        await bob.numeric("366")
        await alice.log.wait_for("userJoined", "bob", "#room")
        kinds = [e[0] if e[0] != "message" else e[1] for e in bob.log.events[mark:]]
        assert kinds.index("JOIN") < kinds.index("353") < kinds.index("366")
        assert ("joined", "#room") in bob.log.events
        assert ("names", "#room", ["@alice", "bob"]) in bob.log.events
        await close_all(alice, bob)
        await listening.stopListening()

    run(scenario)


def test_privmsg_notice_and_action_reach_everyone_but_the_sender(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        clients = [await signed_on(reactor, port, nick) for nick in ("ann", "ben", "cat")]
        for client in clients:
            client.join("#c")
            await client.log.wait_for("names", "#c")
        ann, ben, cat = clients
        ann.say("#c", "hello all")
        ann.notice("#c", "a notice")
        ann.describe("#c", "waves")
        ann.msg("ben", "just for ben")
        for peer in (ben, cat):
            await peer.log.wait_for("privmsg", "ann", "#c", "hello all")
            await peer.log.wait_for("noticed", "ann", "#c", "a notice")
            await peer.log.wait_for("action", "ann", "#c", "waves")
        await ben.log.wait_for("privmsg", "ann", "ben", "just for ben")
        await sync(ann)
        await sync(cat)
        assert not [e for e in ann.log.events if e[0] in ("privmsg", "noticed", "action")]
        assert ("privmsg", "ann", "ben", "just for ben") not in cat.log.events
        await close_all(*clients)
        await listening.stopListening()

    run(scenario)


def test_long_message_is_split_and_every_relayed_line_fits_512_bytes(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        ann = await signed_on(reactor, port, "ann")
        watcher = await raw(reactor, port)
        await watcher.register("watcher")
        text = " ".join(f"word{i}" for i in range(400))
        ann.msg("watcher", text)
        await sync(ann)
        await sync_raw(watcher)
        received = [e[2] for e in watcher.log.events if e[0] == "PRIVMSG"]
        assert " ".join(received) == text
        assert len(received) > 1
        assert watcher.log.events.count(("417", "watcher", "Input line was too long")) == 0
        await close_all(ann, watcher)
        await listening.stopListening()

    run(scenario)


def test_nick_change_topic_part_and_quit_reach_channel_members(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        op = await signed_on(reactor, port, "op")
        op.join("#t")
        await op.log.wait_for("names", "#t")
        user = await signed_on(reactor, port, "user")
        user.join("#t")
        await op.log.wait_for("userJoined", "user", "#t")
        op.topic("#t", "the topic")
        await user.log.wait_for("topicUpdated", "#t", "the topic")
        user.topic("#t", "not allowed")  # +t: only operators
        await user.numeric("482")
        user.setNick("renamed")
        await op.log.wait_for("userRenamed", "user", "renamed")
        await user.log.wait_for("nickChanged", "renamed")
        user.leave("#t", "bye")
        await op.log.wait_for("userLeft", "renamed", "#t")
        await user.log.wait_for("left", "#t")
        user.join("#t")
        await user.log.wait_for("topicUpdated", "#t", "the topic", "irc.inspector.local")
        user.quit("gone")
        await op.log.wait_for("userQuit", "renamed", "Quit: gone")
        reason = await user.lost
        errors = [e for e in user.log.events if e[:2] == ("message", "ERROR")]
        assert errors and "Quit: gone" in errors[0][2].params[0]
        assert reason is not None
        assert list(factory.users) == ["op"]
        await close_all(op)
        await listening.stopListening()

    run(scenario)


def test_who_names_mode_and_kick(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        op = await signed_on(reactor, port, "op")
        op.join("#m")
        await op.log.wait_for("names", "#m")
        other = await raw(reactor, port)
        await other.register("other")
        other.send(b"JOIN #m\r\nWHO #m\r\nMODE #m\r\n")
        await other.log.wait_for("315", "other", "#m")
        who = sorted(e[6] for e in other.log.events if e[0] == "352")
        assert who == ["op", "other"]
        await other.log.wait_for("324", "other", "#m", "+nt")
        op.mode("#m", True, "v", user="other")
        await other.log.wait_for("MODE", "#m", "+v", "other")
        op.names("#m")
        await op.log.wait_for("names", "#m", ["@op", "+other"])
        other.send(b"MODE #m -t\r\n")
        await other.log.wait_for("482", "other", "#m")
        op.mode("#m", False, "t")
        await other.log.wait_for("MODE", "#m", "-t")
        other.send(b"TOPIC #m :now anyone may\r\n")
        await op.log.wait_for("topicUpdated", "#m", "now anyone may", "other")
        op.kick("#m", "other", "out")
        await other.log.wait_for("KICK", "#m", "other", "out")
        await op.log.wait_for("userKicked", "other", "#m", "op")
        await sync_raw(other)
        assert set(factory.channels["#m"].members) == {factory.users["op"]}
        await close_all(op, other)
        await listening.stopListening()

    run(scenario)


# ------------------------------------------------------------------ error numerics


def test_error_numerics(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        busy = await signed_on(reactor, port, "busy")
        busy.join("#here")
        await busy.log.wait_for("names", "#here")
        client = await raw(reactor, port)
        client.send(b"JOIN #x\r\n")
        await client.log.wait_for("451", "*", "You have not registered")
        client.send(b"NICK\r\n")
        await client.log.wait_for("431")
        client.send(b"NICK 9lives\r\n")
        await client.log.wait_for("432", "*", "9lives")
        client.send(b"NICK busy\r\n")
        await client.log.wait_for("433", "*", "busy")
        await client.register("me")
        checks = [
            (b"PRIVMSG\r\n", ("411", "me")),
            (b"PRIVMSG busy\r\n", ("412", "me")),
            (b"PRIVMSG nobody :hi\r\n", ("401", "me", "nobody")),
            (b"PRIVMSG #nowhere :hi\r\n", ("403", "me", "#nowhere")),
            (b"PART #nowhere\r\n", ("403", "me", "#nowhere")),
            (b"PART #here\r\n", ("442", "me", "#here")),
            (b"FROBNICATE now\r\n", ("421", "me", "FROBNICATE")),
            (b"USER a b\r\n", ("462", "me")),
            (b"JOIN\r\n", ("461", "me", "JOIN")),
            (b"TOPIC\r\n", ("461", "me", "TOPIC")),
            (b"PRIVMSG #here :" + b"x" * 600 + b"\r\n", ("417", "me")),
            (b"PING\r\n", ("409", "me")),
            (b"PRIVMSG #here :outsider\r\n", ("404", "me", "#here")),  # +n: members only
            (b"KICK #here busy\r\n", ("442", "me", "#here")),
            (b"MODE nobody\r\n", ("401", "me", "nobody")),
            (b"MODE busy +i\r\n", ("502", "me")),
        ]
        for line, expected in checks:
            client.send(line)
            await client.log.wait_for(*expected)
        await sync_raw(client)
        # NOTICE never gets an error reply.
        mark = len(client.log.events)
        client.send(b"NOTICE nobody :hi\r\nNOTICE\r\n")
        await sync_raw(client, "after-notice")
        assert [e[0] for e in client.log.events[mark:]] == ["PONG"]
        await close_all(busy, client)
        await listening.stopListening()

    run(scenario)


# ------------------------------------------------------------------ limits


def test_connection_limit_refuses_with_error(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor, max_connections=2)
        a = await signed_on(reactor, port, "a")
        b = await raw(reactor, port)
        c = await raw(reactor, port)
        await c.lost
        assert c.log.events[0][0] == "ERROR" and "Too many connections" in c.log.events[0][1]
        await b.register("b")  # the admitted ones keep working
        await close_all(a, b)
        await listening.stopListening()

    run(scenario)


def test_channels_per_user_limit(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor, max_channels_per_user=2)
        client = await raw(reactor, port)
        await client.register("joiner")
        client.send(b"JOIN #a,#b,#c\r\n")
        await client.log.wait_for("405", "joiner", "#c")
        assert sorted(factory.users["joiner"].channels) == ["#a", "#b"]
        await close_all(client)
        await listening.stopListening()

    run(scenario)


def test_flood_limit_closes_the_flooder_only(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor, flood_burst=10, flood_rate=1.0)
        calm = await signed_on(reactor, port, "calm")
        flooder = await raw(reactor, port)
        flooder.send(b"".join(b"PING x%d\r\n" % i for i in range(200)))
        await flooder.lost
        errors = [e for e in flooder.log.events if e[0] == "ERROR"]
        assert errors and "Excess Flood" in errors[0][1]
        assert len([e for e in flooder.log.events if e[0] == "PONG"]) <= 10
        await sync(calm)
        await close_all(calm)
        await listening.stopListening()

    run(scenario)


def test_idle_clients_are_pinged_and_dead_ones_dropped(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor, ping_interval=0.3, ping_timeout=1.0)  # slack for a loaded machine
        alive = await raw(reactor, port)  # answers PING
        await alive.register("alive")
        dead = connect(reactor, port, SilentClient())
        await dead.made
        await dead.register("dead")
        await dead.lost
        assert dead.log.events[-2][0] == "ERROR" and "Ping timeout" in dead.log.events[-2][1]
        assert ("PING", "irc.inspector.local") in dead.log.events
        assert ("PING", "irc.inspector.local") in alive.log.events
        assert not alive.lost.called
        await sync_raw(alive)
        await close_all(alive)
        await listening.stopListening()

    run(scenario)


def test_unregistered_connections_time_out(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor, registration_timeout=0.3)
        lurker = await raw(reactor, port)
        lurker.send(b"NICK lurker\r\n")
        await lurker.lost
        assert "Registration timed out" in lurker.log.events[-2][1]
        assert factory.users == {}
        await listening.stopListening()

    run(scenario)


def test_factory_rejects_bad_limits() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        IRCServerFactory(max_connections=0)
    with pytest.raises(ValueError, match="ping_interval"):
        IRCServerFactory(ping_interval=-1)
    with pytest.raises(ValueError, match="max_line_length"):
        IRCServerFactory(max_line_length=10)


# ------------------------------------------------------------------ bad input


def test_binary_junk_gets_421_and_the_session_goes_on(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        client = await raw(reactor, port)
        await client.register("junk")
        client.send(b"\x00\xff\xfe garbage\r\n\x01\x02\x03\r\n:\r\n@@@\r\n\xc3\x28 x\r\n")
        for _ in range(5):
            await client.log.wait_for("421")
        await sync_raw(client)
        assert len([e for e in client.log.events if e[0] == "421"]) == 5
        client.send(b"JOIN #ok\r\n")
        await client.log.wait_for("366", "junk", "#ok")
        await close_all(client)
        await listening.stopListening()

    run(scenario)


def test_over_long_lines_get_417_and_later_lines_still_work(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        client = await raw(reactor, port)
        await client.register("longer")
        # An over-long line, a good line in the same chunk, then a long line in pieces.
        client.send(b"PRIVMSG longer :" + b"a" * 1000 + b"\r\nJOIN #after\r\n" + b"b" * 700)
        await client.log.wait_for("366", "longer", "#after")
        client.send(b"c" * 3000)
        client.send(b"d\r\nPING :done\r\n")
        await client.log.wait_for("PONG", "irc.inspector.local", "done")
        assert len([e for e in client.log.events if e[0] == "417"]) == 2
        await close_all(client)
        await listening.stopListening()

    run(scenario)


def test_disconnect_mid_line_and_unterminated_lines_lose_nothing_else(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        stayer = await signed_on(reactor, port, "stayer")
        stayer.join("#c")
        await stayer.log.wait_for("names", "#c")
        leaver = await raw(reactor, port)
        await leaver.register("leaver")
        leaver.send(b"JOIN #c\r\nPRIVMSG #c :half a li")
        await stayer.log.wait_for("userJoined", "leaver", "#c")
        leaver.transport.loseConnection()
        await leaver.lost
        await stayer.log.wait_for("userQuit", "leaver", "Connection closed")
        assert not [e for e in stayer.log.events if e[0] == "privmsg"]
        assert "leaver" not in factory.users
        await sync(stayer)
        await close_all(stayer)
        await listening.stopListening()

    run(scenario)


def test_thousands_of_connections_opened_and_dropped(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        keeper = await signed_on(reactor, port, "keeper")
        for batch in range(50):  # 2000 in all, 40 at a time: within the default listen backlog
            clients = [connect(reactor, port, RawClient()) for _ in range(40)]
            await gatherResults([c.made for c in clients])
            for index, client in enumerate(clients):
                if index % 3 == 0:
                    client.send(b"NICK half")  # dropped mid-line
                elif index % 3 == 1:
                    client.transport.abortConnection()
                    continue
                client.transport.loseConnection()
            await gatherResults([c.lost for c in clients])
        await sync(keeper)
        fresh = await signed_on(reactor, port, "fresh")
        fresh.msg("keeper", "still here")
        await keeper.log.wait_for("privmsg", "fresh", "keeper", "still here")
        await close_all(keeper, fresh)
        for _ in range(100):  # the server notices the last closes promptly
            if factory.connection_count == 0:
                break
            waited: Deferred = Deferred()
            reactor.callLater(0.02, waited.callback, None)
            await waited
        assert factory.connection_count == 0
        assert list(factory.users) == []
        await listening.stopListening()

    run(scenario, timeout=60)


def test_exception_in_a_handler_is_logged_and_the_server_goes_on(reactor: Any, run: Any, caplog: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)

        def explode(prefix: Any, params: Any) -> None:
            raise RuntimeError("boom")

        client = await raw(reactor, port)
        await client.register("victim")
        factory.users["victim"].irc_LIST = explode
        client.send(b"LIST\r\n")
        await sync_raw(client)
        await close_all(client)
        await listening.stopListening()

    with caplog.at_level(logging.ERROR, logger="inspector.irc.server"):
        run(scenario)
    assert any("boom" in (r.exc_text or "") or (r.exc_info and "boom" in str(r.exc_info[1])) for r in caplog.records)


def test_a_client_that_never_reads_is_dropped_and_the_sender_goes_on(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor, max_send_queue=64 * 1024, flood_burst=100_000)
        sleeper = await raw(reactor, port)
        await sleeper.register("sleeper")
        sleeper.transport.pauseProducing()  # stops reading: the server's send queue to it grows
        talker = await raw(reactor, port)
        await talker.register("talker")
        line = b"PRIVMSG sleeper :" + b"z" * 400 + b"\r\n"
        for _ in range(40):
            talker.send(line * 500)
            await sync_raw(talker)
            if "sleeper" not in factory.users:
                break
        assert "sleeper" not in factory.users  # dropped with "SendQ exceeded"
        assert factory.connection_count == 1
        await sync_raw(talker, "still-served")
        sleeper.transport.resumeProducing()
        await sleeper.lost
        await close_all(talker)
        await listening.stopListening()

    run(scenario, timeout=30)


def test_whois_ison_list_lusers_and_motd_commands(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        target = await signed_on(reactor, port, "target", realname="Tar Get")
        target.join("#seen")
        await target.log.wait_for("names", "#seen")
        asker = await raw(reactor, port)
        await asker.register("asker")
        mark = len(asker.log.events)
        asker.send(b"WHOIS target\r\nWHOIS ghost\r\nISON target ghost asker\r\nLIST\r\nLUSERS\r\nMOTD\r\n")
        await asker.log.wait_for("422", "asker", since=mark)
        assert ("311", "asker", "target", "target", "127.0.0.1", "*", "Tar Get") in asker.log.events
        assert ("319", "asker", "target", "@#seen") in asker.log.events
        assert ("401", "asker", "ghost", "No such nick/channel") in asker.log.events
        assert ("303", "asker", "target asker") in asker.log.events
        assert ("322", "asker", "#seen", "1", "") in asker.log.events
        assert ("251", "asker", "There are 2 users and 0 invisible on 1 servers") in asker.log.events
        await close_all(target, asker)
        await listening.stopListening()

    run(scenario)


def test_random_junk_split_anywhere_never_stops_the_server(reactor: Any, run: Any) -> None:
    """Random bytes (with line ends mixed in), written in random pieces, over a real connection."""
    rng = random.Random(20261122)

    async def scenario() -> None:
        factory, port, listening = serve(reactor, flood_burst=100_000)
        bystander = await signed_on(reactor, port, "bystander")
        for round_ in range(3):
            client = await raw(reactor, port)
            write_junk(client.send, rng, 5000, 700)
            client.send(b"\r\n")
            if not client.lost.called:
                mark = len(client.log.events)
                client.send(b"PING :after-junk\r\n")
                first = await _first(
                    client.log.wait_for("PONG", "irc.inspector.local", "after-junk", since=mark), client.lost
                )
                if first == "lost":  # the junk happened to say QUIT or similar: a clean close
                    assert client.log.events[-2][0] == "ERROR"
            answered = {event[0] for event in client.log.events}
            assert answered & {"421", "417", "451"}  # the junk was read and answered
            client.transport.loseConnection()
            await client.lost
        await sync(bystander)
        again = await signed_on(reactor, port, "again")
        await close_all(bystander, again)
        await listening.stopListening()

    run(scenario, timeout=30)


async def _first(event: Deferred, lost: Deferred) -> str:
    """Wait for ``event`` or for the connection to close, whichever comes first."""
    done: Deferred = Deferred()
    event.addCallback(lambda _: done.called or done.callback("event"))
    lost.addBoth(lambda result: (done.called or done.callback("lost")) and result)
    return await done


def test_server_and_client_over_ipv6_loopback(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory = IRCServerFactory(reactor)
        listening = reactor.listenTCP(0, factory, interface="::1")
        port = listening.getHost().port
        six = RecordingClient("six")
        reactor.connectTCP("::1", port, SingleClientFactory(six, reactor))
        welcome = (await six.numeric("001"))[2]
        assert welcome.params[-1].endswith("six!six@::1")  # a host with colons is fine in a prefix
        six.join("#v6")
        await six.log.wait_for("joined", "#v6")
        await close_all(six)
        await listening.stopListening()

    run(scenario)
