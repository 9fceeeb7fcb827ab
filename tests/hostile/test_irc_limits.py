"""The IRC server against hostile raw peers (issue 13, item 11), over loopback on every reactor.

Each peer is a plain byte pipe, not an IRC client: it sends exactly the bytes a test
gives and keeps every line the server sends as bytes, so line lengths and encodings
are checked as they were on the wire.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Callable

from inspector.defer import Deferred
from inspector.protocol import ClientFactory, Protocol
from inspector.protocols.irc import IRCServerFactory

SERVER = b"irc.inspector.local"


class RawPeer(Protocol):
    """Sends raw bytes; keeps each line the server sends (bytes, CRLF included); answers PING."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.buffer = b""
        self.made: Deferred = Deferred()
        self.lost: Deferred = Deferred()
        self._waiting: list[tuple[Callable[[bytes], bool], Deferred]] = []

    def connectionMade(self) -> None:
        self.made.callback(self)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            line += b"\r\n"
            self.lines.append(line)
            if line.startswith(b"PING "):
                self.transport.write(b"PONG " + line[5:])
            for item in list(self._waiting):
                if item[0](line):
                    self._waiting.remove(item)
                    item[1].callback(line)

    def connectionLost(self, reason: Any) -> None:
        if not self.lost.called:
            self.lost.callback(None)

    def send(self, data: bytes) -> None:
        self.transport.write(data)

    def wait_for(self, match: Callable[[bytes], bool], since: int = 0) -> Deferred:
        """Fire with the first line (from index ``since``) for which ``match`` is true."""
        for line in self.lines[since:]:
            if match(line):
                d: Deferred = Deferred()
                d.callback(line)
                return d
        d = Deferred()
        self._waiting.append((match, d))
        return d

    async def sync(self, token: bytes = b"sync") -> list[bytes]:
        """PING the server and wait for its PONG; return the lines that came before it."""
        mark = len(self.lines)
        self.send(b"PING " + token + b"\r\n")
        await self.wait_for(lambda line: line.startswith(b":" + SERVER + b" PONG") and token in line, mark)
        return self.lines[mark:-1]

    async def register(self, nick: bytes, user: bytes = b"u") -> None:
        mark = len(self.lines)
        self.send(b"NICK " + nick + b"\r\nUSER " + user + b" 0 * :real\r\n")
        await self.wait_for(lambda line: b" 376 " in line or b" 422 " in line, mark)


class _OneFactory(ClientFactory):
    def __init__(self, peer: RawPeer) -> None:
        self.peer = peer

    def buildProtocol(self, addr: Any) -> RawPeer:
        return self.peer


def serve(reactor: Any, **options: Any) -> tuple[IRCServerFactory, int, Any]:
    factory = IRCServerFactory(reactor, **options)
    listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return factory, listening.getHost().port, listening


async def peer(reactor: Any, port: int, nick: bytes | None = None, user: bytes = b"u") -> RawPeer:
    made = RawPeer()
    reactor.connectTCP("127.0.0.1", port, _OneFactory(made))
    await made.made
    if nick is not None:
        await made.register(nick, user)
    return made


async def close_all(*peers: RawPeer) -> None:
    for each in peers:
        if each.transport is not None and not each.lost.called:
            each.transport.loseConnection()
    for each in peers:
        await each.lost


def params_of(line: bytes) -> tuple[bytes, list[bytes]]:
    """(command, params) of one raw line, bytes kept as they are."""
    body = line[:-2]
    if body.startswith(b":"):
        body = body.split(b" ", 1)[1]
    head, sep, trailing = body.partition(b" :")
    words = head.split(b" ")
    return words[0], words[1:] + ([trailing] if sep else [])


# ----------------------------------------------------------------- 512 bytes, never blank


def test_echoed_long_arguments_are_cut_to_512_bytes_and_the_text_is_kept(reactor: Any, run: Any) -> None:
    """A 490-byte PRIVMSG target or NICK is echoed in 401/432: the line is cut to 512
    bytes by shortening the echo, and the reply's text is still there (it was blanked,
    and the line 515+ bytes long)."""

    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        me = await peer(reactor, port, b"me")
        target = b"#" + b"x" * 489
        me.send(b"PRIVMSG " + target + b" :hello\r\n")
        me.send(b"PRIVMSG " + b"n" * 490 + b" :hello\r\n")
        me.send(b"NICK " + b"N" * 500 + b"\r\n")
        me.send(b"JOIN " + b"#" * 500 + b"\r\n")
        replies = await me.sync()
        assert [params_of(line)[0] for line in replies] == [b"403", b"401", b"432", b"403"]
        for line in replies:
            assert len(line) <= 512, f"{len(line)}-byte line: {line[:40]!r}...{line[-40:]!r}"
            command, params = params_of(line)
            assert params[-1] in (b"No such channel", b"No such nick/channel", b"Erroneous nickname")
            assert params[1] and (target.startswith(params[1]) or set(params[1]) <= set(b"nN#"))
        await close_all(me)
        await listening.stopListening()

    run(scenario)


def test_a_long_privmsg_relayed_with_a_long_prefix_is_cut_not_blanked(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        nick = b"n" * 30
        talker = await peer(reactor, port, nick, user=b"u" * 10)
        listener = await peer(reactor, port, b"listener")
        channel = b"#" + b"c" * 49
        talker.send(b"JOIN " + channel + b"\r\n")
        listener.send(b"JOIN " + channel + b"\r\n")
        await talker.wait_for(lambda line: line.startswith(b":listener!") and b" JOIN " in line)
        head = b"PRIVMSG " + channel + b" :"
        text = "é".encode() * ((510 - len(head)) // 2)  # the longest line the server accepts
        mark = len(listener.lines)
        talker.send(head + text + b"\r\n")
        line = await listener.wait_for(lambda line: b" PRIVMSG " in line, mark)
        assert line.startswith(b":" + nick + b"!" + b"u" * 10 + b"@127.0.0.1 PRIVMSG ")
        assert 511 <= len(line) <= 512  # cut to the limit (a 2-byte character may not fit)
        relayed = params_of(line)[1][-1]
        assert len(relayed) > 350 and text.startswith(relayed)
        relayed.decode("utf-8")  # cut between characters, not inside one
        await close_all(talker, listener)
        await listening.stopListening()

    run(scenario)


# ------------------------------------------------------------------------------- MODES


def test_one_mode_line_gets_at_most_modes_replies_and_005_says_how_many(reactor: Any, run: Any) -> None:
    """A 503-byte ``MODE #c +ooo...o nick nick ...`` (490 modes) got 490 replies."""

    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        op = await peer(reactor, port, b"op")
        op.send(b"JOIN #c\r\n")
        await op.wait_for(lambda line: b" 366 " in line)
        line = b"MODE #c +" + b"o" * 490 + b" g h\r\n"
        assert len(line) <= 512
        op.send(line)
        replies = await op.sync()
        tokens = [word for line in op.lines if b" 005 " in line for word in params_of(line)[1]]
        modes = [int(token.split(b"=")[1]) for token in tokens if token.startswith(b"MODES=")]
        assert 1 <= len(replies) <= max(modes, default=0) <= 20, (
            f"{len(replies)} replies to one MODE line; 005: {tokens}"
        )
        # The modes it does handle still work.
        other = await peer(reactor, port, b"other")
        other.send(b"JOIN #c\r\n")
        await op.wait_for(lambda line: line.startswith(b":other!") and b" JOIN " in line)
        op.send(b"MODE #c +v-t+m other\r\n")
        changed = await other.wait_for(lambda line: b" MODE #c " in line)
        assert params_of(changed)[1] == [b"#c", b"+v-t+m", b"other"]
        await close_all(op, other)
        await listening.stopListening()

    run(scenario)


# ----------------------------------------------------------------------- bytes as sent


def test_text_that_is_not_utf8_is_relayed_byte_for_byte(reactor: Any, run: Any) -> None:
    """Latin-1 text reached others re-encoded as UTF-8 (caf\\xe9 -> caf\\xc3\\xa9)."""

    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        talker = await peer(reactor, port, b"talker")
        listener = await peer(reactor, port, b"listener")
        channel = "#café".encode()  # a UTF-8 name, in lines whose text is not UTF-8
        for each in (talker, listener):
            each.send(b"JOIN " + channel + b"\r\n")
        await talker.wait_for(lambda line: line.startswith(b":listener!") and b" JOIN " in line)
        mark = len(listener.lines)
        talker.send(b"PRIVMSG " + channel + b" :caf\xe9 cr\xe8me \xff\xfe\x80\r\n")
        talker.send(b"NOTICE listener :\xe0 bient\xf4t\r\n")
        talker.send(b"TOPIC " + channel + b" :caf\xe9 cr\xe8me\r\n")
        talker.send(b"PART " + channel + b" :au revoir \xe0 tous\r\n")
        await listener.wait_for(lambda line: b" PART " in line, mark)
        seen = [params_of(line) for line in listener.lines[mark:]]
        assert (b"PRIVMSG", [channel, b"caf\xe9 cr\xe8me \xff\xfe\x80"]) in seen
        assert (b"NOTICE", [b"listener", b"\xe0 bient\xf4t"]) in seen
        assert (b"TOPIC", [channel, b"caf\xe9 cr\xe8me"]) in seen
        assert (b"PART", [channel, b"au revoir \xe0 tous"]) in seen
        mark = len(listener.lines)
        listener.send(b"TOPIC " + channel + b"\r\n")  # the stored topic, as it was set
        line = await listener.wait_for(lambda line: b" 332 " in line, mark)
        assert params_of(line)[1][-1] == b"caf\xe9 cr\xe8me"
        await close_all(talker, listener)
        await listening.stopListening()

    run(scenario)


def test_a_quit_reason_that_is_not_utf8_reaches_channel_members_as_sent(reactor: Any, run: Any) -> None:
    async def scenario() -> None:
        factory, port, listening = serve(reactor)
        leaver = await peer(reactor, port, b"leaver")
        stayer = await peer(reactor, port, b"stayer")
        for each in (leaver, stayer):
            each.send(b"JOIN #c\r\n")
        await leaver.wait_for(lambda line: line.startswith(b":stayer!") and b" JOIN " in line)
        leaver.send(b"QUIT :d\xe9j\xe0 vu\r\n")
        line = await stayer.wait_for(lambda line: b" QUIT " in line)
        assert params_of(line) == (b"QUIT", [b"Quit: d\xe9j\xe0 vu"])
        await close_all(leaver, stayer)
        await listening.stopListening()

    run(scenario)


# ------------------------------------------------------------------------------- SendQ


def test_a_member_that_never_reads_is_dropped_with_sendq_exceeded(reactor: Any, run: Any, caplog: Any) -> None:
    """Its channel peers see ``QUIT :SendQ exceeded`` and the log says so (it said only
    "lost in a non-clean fashion")."""
    sleeper = socket.socket()
    sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    async def scenario() -> None:
        factory, port, listening = serve(reactor, max_send_queue=64 * 1024, flood_burst=100_000)
        watcher = await peer(reactor, port, b"watcher")
        watcher.send(b"JOIN #c\r\n")
        await watcher.wait_for(lambda line: b" 366 " in line)
        # A plain socket that registers, joins, and never reads a byte.
        sleeper.connect(("127.0.0.1", port))
        sleeper.sendall(b"NICK sleeper\r\nUSER s 0 * :s\r\nJOIN #c\r\n")
        await watcher.wait_for(lambda line: line.startswith(b":sleeper!") and b" JOIN " in line)
        talker = await peer(reactor, port, b"talker")
        talker.send(b"JOIN #c\r\n")
        await talker.wait_for(lambda line: b" 366 " in line)
        chunk = (b"PRIVMSG #c :" + b"z" * 400 + b"\r\n") * 200
        quit_seen = watcher.wait_for(lambda line: line.startswith(b":sleeper!") and b" QUIT " in line)
        for _ in range(100):
            if quit_seen.called:
                break
            talker.send(chunk)
            await talker.sync()
        line = await quit_seen
        assert params_of(line) == (b"QUIT", [b"SendQ exceeded"])
        assert "sleeper" not in factory.users
        await close_all(watcher, talker)
        await listening.stopListening()

    try:
        with caplog.at_level(logging.INFO):
            run(scenario, timeout=60)
    finally:
        sleeper.close()
    said = [record.getMessage() for record in caplog.records if "SendQ exceeded" in record.getMessage()]
    assert said and "sleeper" in said[0], [record.getMessage() for record in caplog.records][-10:]
