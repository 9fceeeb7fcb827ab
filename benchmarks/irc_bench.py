"""IRC parsing and client dispatch speed against Twisted's ``twisted.words`` IRC, side by side.

Run: ``python benchmarks/irc_bench.py``. Each case gives both implementations the same
input with an in-memory transport (no sockets: this measures the protocol code) and
prints microseconds per line and the ratio (ours / Twisted's; below 1.0 means faster).

Twisted's ``parsemsg`` ignores IRCv3 tags and returns tuples; ours also unescapes
tags, validates the command and builds a ``Message``. The client cases feed 64 KiB
chunks of server lines to ``dataReceived`` and count ``privmsg`` calls.
"""

from __future__ import annotations

import timeit

from twisted.words.protocols import irc as tirc

from inspector.protocols import irc as iirc


class NullTransport:
    disconnecting = False

    def write(self, data: bytes) -> None:
        pass

    def writeSequence(self, data: list[bytes]) -> None:
        pass

    def loseConnection(self) -> None:
        self.disconnecting = True


PRIVMSG = ":nick!user@host.example PRIVMSG #channel :hello there, this is message %d"
TAGGED = "@time=2024-01-01T00:00:00.000Z;msgid=abc\\s%d :nick!user@host PRIVMSG #channel :tagged %d"
NUMERIC = ":irc.example.net 353 me = #channel :alice @bob +carol dave eve mallory trent"


def ours_parse(lines: list[bytes]) -> int:
    parse = iirc.parse_message
    return sum(1 for line in lines if parse(line))


def twisted_parse(lines: list[bytes]) -> int:
    parse = tirc.parsemsg
    # Twisted's parser works on str; decoding is part of what a receiver must do.
    return sum(1 for line in lines if parse(line.decode("utf-8")))


class OurCounter(iirc.IRCClient):
    count = 0

    def privmsg(self, user: str, channel: str, message: str) -> None:
        self.count += 1


class TwistedCounter(tirc.IRCClient):
    count = 0

    def privmsg(self, user: str, channel: str, message: str) -> None:
        self.count += 1


def make_client(cls: type) -> object:
    client = cls()
    client.nickname = "me"
    client.makeConnection(NullTransport())
    return client


def feed(cls: type, chunks: list[bytes]) -> int:
    client = make_client(cls)
    for chunk in chunks:
        client.dataReceived(chunk)
    return client.count


def chunked(stream: bytes, size: int = 65536) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def main() -> None:
    count = 5000
    privmsg = [(PRIVMSG % i).encode() for i in range(count)]
    tagged = [(TAGGED % (i, i)).encode() for i in range(count)]
    numeric = [NUMERIC.encode()] * count
    stream = chunked(b"".join(line + b"\r\n" for line in privmsg))
    cases = [
        ("parse PRIVMSG", lambda: ours_parse(privmsg), lambda: twisted_parse(privmsg), count),
        ("parse tagged PRIVMSG", lambda: ours_parse(tagged), lambda: twisted_parse(tagged), count),
        ("parse 353 numeric", lambda: ours_parse(numeric), lambda: twisted_parse(numeric), count),
        ("client: PRIVMSG -> privmsg()", lambda: feed(OurCounter, stream), lambda: feed(TwistedCounter, stream), count),
    ]
    print(f"{'case':32} {'ours us/line':>13} {'Twisted us/line':>16} {'ratio':>6}")
    for name, ours, theirs, expected in cases:
        assert ours() == expected, name
        if "parse" in name:
            assert theirs() == expected, name
        ours_t = min(timeit.repeat(ours, number=3, repeat=5)) / 3 / expected * 1e6
        theirs_t = min(timeit.repeat(theirs, number=3, repeat=5)) / 3 / expected * 1e6
        print(f"{name:32} {ours_t:13.2f} {theirs_t:16.2f} {ours_t / theirs_t:6.2f}")


if __name__ == "__main__":
    main()
