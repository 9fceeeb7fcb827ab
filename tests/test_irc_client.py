"""IRCClient against a scripted server (and our own server) over loopback, on every reactor."""

from __future__ import annotations

import logging
import random
from typing import Any

from inspector.defer import Deferred
from inspector.protocols.irc import IRCClient

from irc_support import (
    LogBotFactory,
    RecordingClient,
    SingleClientFactory,
    close_all,
    connect,
    scripted,
    serve,
    write_junk,
)

SERVER = "irc.test"


async def registered(
    reactor: Any, client: RecordingClient, nick: str | None = None
) -> tuple[RecordingClient, Any, Any]:
    """Connect ``client`` to a scripted server and complete registration with 001."""
    client, server, port = await scripted(reactor, client)
    await server.log.wait_for("USER")
    server.send(f":{SERVER} 001 {nick or client.nickname} :Welcome")
    await client.log.wait_for("signedOn")
    return client, server, port


async def close(client: Any, port: Any) -> None:
    client.transport.loseConnection()
    await client.lost
    await port.stopListening()


# ------------------------------------------------------------------ registration


def test_registration_with_cap_pass_nick_user(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await scripted(
            reactor,
            RecordingClient(
                "want", password="secret", cap_negotiation=True, requested_capabilities=("multi-prefix", "nope")
            ),
        )
        await server.log.wait_for("USER")
        assert server.log.events[:4] == [
            ("CAP", "LS", "302"),
            ("PASS", "secret"),
            ("NICK", "want"),
            ("USER", "want", "0", "*", "want"),
        ]
        # A multi-line LS reply ("*" before the last line), then ACK.
        server.send(f":{SERVER} CAP * LS * :multi-prefix", f":{SERVER} CAP * LS :sasl=PLAIN away-notify")
        await server.log.wait_for("CAP", "REQ", "multi-prefix")
        server.send(f":{SERVER} CAP * ACK :multi-prefix")
        await server.log.wait_for("CAP", "END")
        assert client.offered_capabilities == {"multi-prefix": None, "sasl": "PLAIN", "away-notify": None}
        assert client.enabled_capabilities == {"multi-prefix"}
        server.send(f":{SERVER} 001 given :Welcome")
        await client.log.wait_for("signedOn", "given")
        assert client.nickname == "given"  # taken from 001, not from what we asked for
        await close(client, port)

    run(scenario)


def test_plain_registration_and_server_without_cap(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await scripted(reactor, RecordingClient("plain", cap_negotiation=True))
        await server.log.wait_for("USER")
        # A server that knows no CAP answers 421 (the quirk of jaraco's irc.server) and registers anyway.
        server.send(f":{SERVER} 421 CAP :Unknown command", f":{SERVER} 001 plain :hi")
        await client.log.wait_for("signedOn", "plain")
        await server.sync()
        assert ("CAP", "END") not in server.log.events
        await close(client, port)

    run(scenario)


def test_ping_is_answered_with_the_same_token_during_registration(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await scripted(reactor, RecordingClient("pinged"))
        await server.log.wait_for("USER")
        server.send("PING :12345 with space")
        await server.log.wait_for("PONG", "12345 with space")
        assert "signedOn" not in client.log.kinds()
        server.send(f":{SERVER} 001 pinged :Welcome", f":{SERVER} PING {SERVER}")
        await server.log.wait_for("PONG", SERVER)
        await close(client, port)

    run(scenario)


def test_nick_in_use_retries_with_altered_nick(reactor: Any, run: Any) -> None:
    class Picky(RecordingClient):
        def alterCollidedNick(self, nickname: str) -> str:
            return nickname + "^"

    async def scenario() -> None:
        client, server, port = await scripted(reactor, Picky("taken"))
        await server.log.wait_for("USER")
        server.send(f":{SERVER} 433 * taken :Nickname is already in use")
        await server.log.wait_for("NICK", "taken^")
        # jaraco's server puts "NICK" where the target should be: the retry still works.
        server.send(f":{SERVER} 433 NICK :taken^")
        await server.log.wait_for("NICK", "taken^^")
        server.send(f":{SERVER} 001 taken^^ :Welcome")
        await client.log.wait_for("signedOn", "taken^^")
        # After registration a 433 answers our own setNick; no automatic retry.
        client.setNick("other")
        await server.log.wait_for("NICK", "other")
        server.send(f":{SERVER} 433 taken^^ other :Nickname is already in use")
        await server.sync()
        assert [e for e in server.log.events if e[0] == "NICK"][-1] == ("NICK", "other")
        assert client.nickname == "taken^^"
        await close(client, port)

    run(scenario)


def test_002_to_005_motd_and_422(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await registered(reactor, RecordingClient("info"))
        server.send(
            f":{SERVER} 002 info :Your host is {SERVER}",
            f":{SERVER} 003 info :created today",
            f":{SERVER} 004 info {SERVER} v1 io ntk",
            f":{SERVER} 005 info CHANTYPES=# NICKLEN=9 PREFIX=(ov)@+ EXCEPTS :are supported",
            f":{SERVER} 005 info -EXCEPTS NETWORK=Test :are supported",
            f":{SERVER} 375 info :- motd -",
            f":{SERVER} 372 info :- line one",
            f":{SERVER} 376 info :End",
            f":{SERVER} 422 info :MOTD File is missing",
        )
        await client.log.wait_for("motd", [])
        assert client.supported == {"CHANTYPES": "#", "NICKLEN": "9", "PREFIX": "(ov)@+", "NETWORK": "Test"}
        assert ("motd", ["- motd -", "- line one"]) in client.log.events
        await close(client, port)

    run(scenario)


# ------------------------------------------------------------------ messages


def test_notice_never_gets_an_automatic_reply(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await registered(reactor, RecordingClient("quiet", versionName="inspector"))
        mark = len(server.log.events)
        server.send(
            ":n!u@h NOTICE quiet :\x01VERSION\x01",
            ":n!u@h NOTICE quiet :\x01PING 1\x01",
            ":n!u@h NOTICE quiet :plain notice",
        )
        await client.log.wait_for("noticed", "n", "quiet", "plain notice")
        await server.sync()
        assert server.log.events[mark:] == [("PONG", "sync")]
        # The same CTCP queries in a PRIVMSG are answered, by NOTICE.
        server.send(":n!u@h PRIVMSG quiet :\x01VERSION\x01", ":n!u@h PRIVMSG quiet :\x01PING 77\x01")
        await server.log.wait_for("NOTICE", "n", "\x01PING 77\x01")
        assert ("NOTICE", "n", "\x01VERSION inspector::\x01") in server.log.events
        await close(client, port)

    run(scenario)


def test_ctcp_action_with_and_without_final_delimiter(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await registered(reactor, RecordingClient("me"))
        server.send(":a!u@h PRIVMSG #c :\x01ACTION dances\x01", ":b!u@h PRIVMSG #c :\x01ACTION forgot the end")
        await client.log.wait_for("action", "b", "#c", "forgot the end")
        assert ("action", "a", "#c", "dances") in client.log.events
        client.describe("#c", "waves")
        await server.log.wait_for("PRIVMSG", "#c", "\x01ACTION waves\x01")
        await close(client, port)

    run(scenario)


def test_msg_splits_long_and_multiline_text_to_fit_512_bytes(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await registered(reactor, RecordingClient("talker"))
        text = "☃ " * 700 + "\nsecond line"
        client.msg("#channel", text)
        client.notice("friend", "x" * 2000)
        await server.sync()
        said = [e[2] for e in server.log.events if e[0] == "PRIVMSG"]
        assert len(said) > 2 and said[-1] == "second line"
        assert " ".join(said[:-1]) == "☃ " * 700
        # Each line leaves room for the prefix the server adds when relaying it.
        room = 512 - len(":talker!talker@ PRIVMSG #channel :\r\n") - 63
        assert all(len(piece.encode()) <= room for piece in said)
        noticed = [e[2] for e in server.log.events if e[0] == "NOTICE"]
        assert "".join(noticed) == "x" * 2000 and len(noticed) > 4
        await close(client, port)

    run(scenario)


def test_line_rate_queues_lines_and_sends_them_in_order(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await registered(reactor, RecordingClient("slow", lineRate=0.02))
        for i in range(6):
            client.say("#c", f"line {i}")
        assert list(client._queue)[-5:] == [f"PRIVMSG #c :line {i}".encode() for i in range(1, 6)]  # waiting
        await server.log.wait_for("PRIVMSG", "#c", "line 5")
        said = [e[2] for e in server.log.events if e[0] == "PRIVMSG"]
        assert said == [f"line {i}" for i in range(6)]
        await close(client, port)

    run(scenario)


def test_channel_and_user_events(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await registered(reactor, RecordingClient("me"))
        client.join("#room")
        await server.log.wait_for("JOIN", "#room")
        server.send(
            ":me!u@h JOIN #room",
            f":{SERVER} 332 me #room :old topic",
            f":{SERVER} 353 me = #room :me @op",
            f":{SERVER} 353 me = #room :+voiced",
            f":{SERVER} 366 me #room :End of /NAMES list.",
            ":ann!u@h JOIN :#room",
            ":ann!u@h NICK :anne",
            ":op!u@h TOPIC #room :new topic",
            ":op!u@h MODE #room +o-v anne voiced",
            ":anne!u@h PART #room :bye",
            ":voiced!u@h QUIT :Quit: gone",
            ":op!u@h KICK #room me :behave",
            ":me!u@h NICK renamed",
        )
        await client.log.wait_for("nickChanged", "renamed")
        events = [e for e in client.log.events if e[0] not in ("message", "connected", "signedOn")]
        assert events == [
            ("joined", "#room"),
            ("topicUpdated", "#room", "old topic", SERVER),
            ("names", "#room", ["me", "@op", "+voiced"]),
            ("userJoined", "ann", "#room"),
            ("userRenamed", "ann", "anne"),
            ("topicUpdated", "#room", "new topic", "op"),
            ("mode", "#room", True, "o", ("anne",)),
            ("mode", "#room", False, "v", ("voiced",)),
            ("userLeft", "anne", "#room"),
            ("userQuit", "voiced", "Quit: gone"),
            ("kickedFrom", "#room", "op", "behave"),
            ("nickChanged", "renamed"),
        ]
        assert client.nickname == "renamed"
        client.leave("#room", "done")
        client.quit("bye")
        await server.log.wait_for("QUIT", "bye")
        assert ("PART", "#room", "done") in server.log.events
        await close(client, port)

    run(scenario)


def test_irc_hooks_for_numerics_and_unknown_commands(reactor: Any, run: Any) -> None:
    class Hooked(RecordingClient):
        def irc_RPL_WHOISUSER(self, prefix: str, params: list[str]) -> None:
            self.log.record("whois", params[1], params[-1])

        def irc_WALLOPS(self, prefix: str, params: list[str]) -> None:
            self.log.record("wallops", prefix, params[-1])

    async def scenario() -> None:
        client, server, port = await registered(reactor, Hooked("hooked"))
        client.whois("someone")
        await server.log.wait_for("WHOIS", "someone")
        server.send(
            f":{SERVER} 311 hooked someone user host * :Real Name",
            ":oper WALLOPS :attention",
            f":{SERVER} 999 hooked :odd numeric",
            "@time=2024-01-01T00:00:00Z :x!y@z FROB a b :c d",
        )
        await client.log.wait_for("unknown", "FROB")
        assert ("whois", "someone", "Real Name") in client.log.events
        assert ("wallops", "oper", "attention") in client.log.events
        assert ("unknown", "999", ["hooked", "odd numeric"]) in client.log.events
        await close(client, port)

    run(scenario)


def test_bad_and_over_long_server_lines_are_survived(reactor: Any, run: Any, caplog: Any) -> None:
    class Fragile(RecordingClient):
        def privmsg(self, user: str, channel: str, message: str) -> None:
            super().privmsg(user, channel, message)
            if message == "boom":
                raise RuntimeError("user code failed")

    async def scenario() -> None:
        client, server, port = await registered(reactor, Fragile("tough"))
        server.send(
            b"\x00\xff junk",
            b":s 12 x",
            ":a!u@h PRIVMSG #c :boom",
            ":a!u@h PRIVMSG #c :" + "long " * 300,  # over 512 bytes: miniircd relays such lines
            ":a!u@h PRIVMSG #c :after",
        )
        await client.log.wait_for("privmsg", "a", "#c", "after")
        assert ("privmsg", "a", "#c", "long " * 300) in client.log.events
        await server.sync()
        await close(client, port)

    with caplog.at_level(logging.WARNING, logger="inspector.irc"):
        run(scenario)
    assert any("user code failed" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert any("malformed" in r.getMessage() for r in caplog.records)


def test_ping_server_round_trip_matches_tokens(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await registered(reactor, RecordingClient("pinger"))
        first = client.ping_server("one")
        second = client.ping_server("two")
        await server.log.wait_for("PING", "two")
        server.send(f":{SERVER} PONG {SERVER} :two")
        assert await second >= 0 and not first.called
        # A PONG that drops the token (jaraco's irc.server) answers the oldest ping.
        server.send(f":{SERVER} PONG :{SERVER}")
        assert await first >= 0
        await close(client, port)

    run(scenario)


def test_sending_a_line_with_newline_is_refused(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await registered(reactor, RecordingClient("safe"))
        for bad in (lambda: client.sendLine("PRIVMSG #c :a\r\nQUIT"), lambda: client.join("#a b")):
            try:
                bad()
            except ValueError:
                pass
            else:
                raise AssertionError("an unsendable line was accepted")
        await server.sync()
        assert "QUIT" not in server.commands() and "JOIN" not in server.commands()
        await close(client, port)

    run(scenario)


# ------------------------------------------------------------------ with our server


def test_twisted_style_log_bot_against_our_server(reactor: Any, run: Any, tmp_path: Any) -> None:
    async def scenario() -> None:
        server_factory, port, listening = serve(reactor)
        squatter = connect(reactor, port, RecordingClient("logbot"))  # forces the ^ retry
        await squatter.log.wait_for("signedOn")
        squatter.join("#logs")
        await squatter.log.wait_for("names", "#logs")
        bots = LogBotFactory("#logs", str(tmp_path / "bot.log"), reactor)
        reactor.connectTCP("127.0.0.1", port, bots)
        await bots.joined
        squatter.say("#logs", "hello everyone")
        squatter.say("#logs", "logbot^: what are you?")
        squatter.describe("#logs", "waves")
        squatter.msg("logbot^", "psst")
        await squatter.log.wait_for("privmsg", "logbot^", "logbot", "Whispering is rude; talk in the channel.")
        await squatter.log.wait_for("privmsg", "logbot^", "#logs", "logbot: I log this channel")
        squatter.setNick("squatter")
        await squatter.log.wait_for("nickChanged", "squatter")
        squatter.quit("done")
        await squatter.lost
        for conn in list(server_factory.users.values()):
            conn.transport.loseConnection()
        await bots.done
        await listening.stopListening()

    run(scenario)
    lines = (tmp_path / "bot.log").read_text().splitlines()
    assert lines == [
        "[connected]",
        "[joined #logs]",
        "<logbot> hello everyone",
        "<logbot> logbot^: what are you?",
        "<logbot^> logbot: I log this channel",
        "* logbot waves",
        "<logbot> psst",
        "logbot is now squatter",
        "[disconnected]",
    ]


def test_client_survives_callback_errors_against_our_server(reactor: Any, run: Any) -> None:
    class Grumpy(IRCClient):
        nickname = "grumpy"

        def signedOn(self) -> None:
            self.factory.ready.callback(self)
            raise ValueError("signedOn failed")

    async def scenario() -> None:
        _, port, listening = serve(reactor)
        grumpy = Grumpy()
        factory = SingleClientFactory(grumpy, reactor)
        factory.ready = Deferred()
        reactor.connectTCP("127.0.0.1", port, factory)
        await factory.ready
        rtt = await grumpy.ping_server()
        assert rtt >= 0
        grumpy.transport.loseConnection()
        await listening.stopListening()

    run(scenario)


def test_random_junk_from_the_server_never_breaks_the_client(reactor: Any, run: Any) -> None:
    """Random bytes with line ends mixed in, written in random pieces, then a real PING."""
    rng = random.Random(1122)

    async def scenario() -> None:
        client, server, port = await registered(reactor, RecordingClient("sturdy"))
        write_junk(server.transport.write, rng, 20000, 900)
        server.send(b"", b":a!u@h PRIVMSG sturdy :still listening")
        await client.log.wait_for("privmsg", "a", "sturdy", "still listening")
        await server.sync("after-junk")
        assert not client.lost.called
        await close(client, port)

    run(scenario)


def test_ctcp_ping_between_two_clients_through_our_server(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        _, port, listening = serve(reactor)
        asker = connect(reactor, port, RecordingClient("asker"))
        answerer = connect(reactor, port, RecordingClient("answerer", versionName="inspector-test"))
        await asker.log.wait_for("signedOn")
        await answerer.log.wait_for("signedOn")
        asker.ping("answerer", "t1")
        event = await asker.log.wait_for("pong", "answerer")
        assert event[2] >= 0
        await asker.ping_server()  # the PING reply's message event is recorded too
        mark = len(asker.log.events)
        asker.ctcpMakeQuery("answerer", [("VERSION", None)])
        reply = await asker.log.wait_for("message", "NOTICE", since=mark)
        assert reply[2].params == ["asker", "\x01VERSION inspector-test::\x01"]
        # The CTCP reply came as a NOTICE and was not answered: the answerer saw no NOTICE at all.
        await asker.ping_server()
        await answerer.ping_server()
        assert not [e for e in answerer.log.events if e[:2] == ("message", "NOTICE")]
        await close_all(asker, answerer)
        await listening.stopListening()

    run(scenario)


def test_heartbeat_pings_the_server_once_registered(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await scripted(reactor, RecordingClient("beating", heartbeatInterval=0.05))
        await server.log.wait_for("USER")
        assert "PING" not in server.commands()  # not before registration
        server.send(f":{SERVER} 001 beating :Welcome")
        for _ in range(3):
            await server.log.wait_for("PING", since=len(server.log.events))
        client.transport.loseConnection()
        await client.lost
        assert client._heartbeat is None  # stopped with the connection
        await port.stopListening()

    run(scenario)


def test_erroneous_nick_falls_back_before_registration(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        client, server, port = await scripted(reactor, RecordingClient("b@d", erroneousNickFallback="fallback"))
        await server.log.wait_for("USER")
        server.send(f":{SERVER} 432 * b@d :Erroneous nickname")
        await server.log.wait_for("NICK", "fallback")
        server.send(f":{SERVER} 001 fallback :Welcome")
        await client.log.wait_for("signedOn", "fallback")
        await close(client, port)

    run(scenario)
