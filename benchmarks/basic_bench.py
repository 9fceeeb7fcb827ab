"""Parsing speed of our framing receivers against Twisted's, side by side.

Run: ``python benchmarks/basic_bench.py``. Each case feeds the same bytes, cut into the
same chunks, to both implementations with an in-memory transport and prints
microseconds per chunk and the ratio (ours / Twisted's; below 1.0 means we are faster).
"""

from __future__ import annotations

import struct
import timeit

from twisted.protocols import basic as tbasic

from inspector.protocols import basic as ibasic


class NullTransport:
    disconnecting = False

    def write(self, data: bytes) -> None:
        pass

    def loseConnection(self) -> None:
        self.disconnecting = True


def line_counter(base):
    class Count(base):
        count = 0

        def lineReceived(self, line: bytes) -> None:
            self.count += 1

    return Count


def string_counter(base):
    class Count(base):
        count = 0

        def stringReceived(self, string: bytes) -> None:
            self.count += 1

    return Count


def chunks(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


LINES = b"".join(b"PRIVMSG #chan :message number %d\r\n" % i for i in range(2000))
INT32 = b"".join(struct.pack("!I", 30) + b"x" * 30 for _ in range(2000))

CASES = [
    # name, ours, Twisted's, stream, chunk size, expected messages
    (
        "LineReceiver, 64 KiB chunks",
        line_counter(ibasic.LineReceiver),
        line_counter(tbasic.LineReceiver),
        LINES,
        65536,
        2000,
    ),
    (
        "LineReceiver, 100 B chunks",
        line_counter(ibasic.LineReceiver),
        line_counter(tbasic.LineReceiver),
        LINES,
        100,
        2000,
    ),
    (
        "LineOnlyReceiver, 64 KiB chunks",
        line_counter(ibasic.LineOnlyReceiver),
        line_counter(tbasic.LineOnlyReceiver),
        LINES,
        65536,
        2000,
    ),
    (
        "Int32StringReceiver, 64 KiB chunks",
        string_counter(ibasic.Int32StringReceiver),
        string_counter(tbasic.Int32StringReceiver),
        INT32,
        65536,
        2000,
    ),
    (
        "Int32StringReceiver, 100 B chunks",
        string_counter(ibasic.Int32StringReceiver),
        string_counter(tbasic.Int32StringReceiver),
        INT32,
        100,
        2000,
    ),
]


def time_case(cls, pieces: list[bytes], expected: int) -> float:
    """Best-of-5 seconds to parse the whole stream once."""

    def once() -> None:
        p = cls()
        p.makeConnection(NullTransport())
        for piece in pieces:
            p.dataReceived(piece)
        assert p.count == expected, (cls, p.count)

    number = 5
    return min(timeit.repeat(once, number=number, repeat=5)) / number


def main() -> None:
    print(f"{'case':38} {'ours ms':>9} {'twisted ms':>11} {'ratio':>7}")
    for name, ours, theirs, stream, size, expected in CASES:
        pieces = chunks(stream, size)
        a = time_case(ours, pieces, expected)
        b = time_case(theirs, pieces, expected)
        print(f"{name:38} {a * 1e3:9.3f} {b * 1e3:11.3f} {a / b:7.2f}")


if __name__ == "__main__":
    main()
