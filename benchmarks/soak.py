"""Soak: the echo and IRC servers as users run them, under a bounded hostile load.

Run ``python benchmarks/soak.py [--seconds 60]`` (``--seconds 10`` is a smoke run).

Both servers run as real subprocesses (``python -m inspector serve echo|irc`` on free
loopback ports). The load comes from this process on plain non-blocking sockets and
``selectors`` -- not the inspector framework -- so the peer is independent of the code
under test:

* echo: ``--echo-connections`` workers connect, send random payloads (1 B .. 256 KiB,
  log-uniform, a fifth of them in many writes of 1..512 bytes), check every echoed byte
  in order, and cut about a third of their connections at a random point (close, or a
  reset with SO_LINGER 0) before reconnecting. A byte that comes back wrong is
  corrupted; a byte sent on a connection we did not cut and never echoed is lost; only
  the bytes still unechoed at a deliberate cut are excused.
* IRC: ``--irc-normal`` members in #soak talk (sequenced lines) and check they get every
  other member's lines and every flood line, in order and intact; ``--irc-nonreaders``
  members (SO_RCVBUF 4 KiB) join #soak..#soak4 and never read, while ``--irc-flooders``
  members send ~480-byte lines to all four channels as fast as the server's flood limit
  allows (10 lines/s each). The server must drop each never-reader (the others see its
  QUIT and reason; it rejoins under a new nick) and keep answering PING promptly. A
  drop takes a while: before the server's 1 MiB SendQ even starts to fill, the kernel
  takes up to ``net.ipv4.tcp_wmem``'s maximum (4 MiB by default: loopback autotunes the
  server's send buffer whatever the reader's receive buffer is); the header estimates it.

Every ``--interval`` seconds a row shows what was done and each server's RSS (VmRSS)
and CPU. The exit status is 1 if any byte was lost or corrupted, a reading IRC member
missed or got a damaged line, a server died, or no never-reader was dropped in a run
three times longer than a drop should take.
"""

from __future__ import annotations

import argparse
import errno
import heapq
import itertools
import math
import os
import platform
import random
import re
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import deque
from typing import Callable

HOST = "127.0.0.1"
MAX_PAYLOAD = 256 * 1024
POOL_SIZE = 4 * 1024 * 1024
SMALL_WRITE_MAX = 512
CUT_PROBABILITY = 0.3
STALL_SECONDS = 15.0
DRAIN_SECONDS = 10.0
IRC_CHANNELS = ("#soak", "#soak2", "#soak3", "#soak4")
IRC_FLOOD_RATE = 9.0  # lines/s per flooder, under the server's 10/s token bucket
IRC_TALK_PERIOD = 0.5
IRC_PING_PERIOD = 1.0
IRC_SENDQ = 1 << 20  # the server's default max_send_queue
NONREADER_RCVBUF = 4096
NICK_PREFIX = {"normal": "t", "flooder": "f", "nonreader": "q"}  # talker, flooder, quiet
TCP_ESTABLISHED = 1
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Where an allowance for RSS comes from (see rss_margin()): Python's and malloc's free
# lists keep freed memory and fragment, so a few MiB come and go with no leak at all.
ALLOCATOR_SLACK = 4 << 20
# The echo server may hold, per connection, a write buffer up to its high-water mark
# (64 KiB) plus the one read that crossed it.
ECHO_PER_CONNECTION = 128 << 10


def machine() -> str:
    """CPU model and core count, as the other benchmarks print them."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def kernel_send_buffer_max() -> int:
    """How far Linux may grow a TCP send buffer (net.ipv4.tcp_wmem's maximum), bytes."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 << 20


# ---------------------------------------------------------------------- the loop


class Loop:
    """A minimal selectors loop with timers: the soak's own, independent of inspector."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``delay`` seconds."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), fn))

    def run(self, until: Callable[[], bool]) -> None:
        """Dispatch readiness and timers until ``until()`` is true."""
        timers = self._timers
        select = self.selector.select
        while not until():
            now = time.monotonic()
            while timers and timers[0][0] <= now:
                heapq.heappop(timers)[2]()
                if until():
                    return
            timeout = min(timers[0][0] - now, 0.2) if timers else 0.2
            for key, mask in select(max(timeout, 0.0)):
                key.data(mask)


# ---------------------------------------------------------------------- echo load


class EchoStats:
    """Counters over every echo worker."""

    def __init__(self) -> None:
        self.connections = 0
        self.connect_errors = 0
        self.sent = 0
        self.verified = 0
        self.excused = 0
        self.lost = 0
        self.corrupted = 0
        self.cuts_close = 0
        self.cuts_reset = 0
        self.clean_closes = 0
        self.server_closes = 0
        self.stalls = 0
        self.lost_at_end = 0


class EchoWorker:
    """One connection at a time: send random payloads, verify the echo, cut or close, repeat."""

    def __init__(self, soak: "Soak", rng: random.Random) -> None:
        self.soak = soak
        self.rng = rng
        self.stats = soak.echo
        self.sock: socket.socket | None = None
        self.connecting = False
        self.done = False
        self.payloads: deque[list] = deque()  # [pool offset, bytes left, small writes?]
        self.expected: deque[list[int]] = deque()  # [pool offset, length] sent, not yet echoed
        self.expected_bytes = 0
        self.session_sent = 0
        self.cut_at: int | None = None
        self.cut_reset = False
        self.last_progress = time.monotonic()
        self.interest = 0

    def start(self) -> None:
        """Open a new connection (non-blocking)."""
        if self.soak.draining:
            self.done = True
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        err = sock.connect_ex((HOST, self.soak.echo_port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.stats.connect_errors += 1
            self.soak.loop.call_later(0.05, self.start)
            return
        self.sock = sock
        self.connecting = True
        self.interest = selectors.EVENT_WRITE
        self.soak.loop.selector.register(sock, self.interest, self.on_event)

    def on_event(self, mask: int) -> None:
        """Readiness: finish connecting, read echoes, send more."""
        sock = self.sock
        if sock is None:
            return
        if self.connecting:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._discard()
                self.stats.connect_errors += 1
                self.soak.loop.call_later(0.05, self.start)
                return
            self.connecting = False
            self.stats.connections += 1
            self.last_progress = time.monotonic()
            self.plan()
            self._update_interest()
            return
        if mask & selectors.EVENT_READ:
            self.read()
        if self.sock is sock and mask & selectors.EVENT_WRITE:
            self.write()

    def plan(self) -> None:
        """Choose this session's payloads and whether (and where) to cut it."""
        rng = self.rng
        total = 0
        for _ in range(rng.randint(1, 6)):
            size = max(1, min(MAX_PAYLOAD, int(math.exp(rng.uniform(0.0, math.log(MAX_PAYLOAD + 1))))))
            # [offset into the pool, bytes left to send, sent in small writes?]
            self.payloads.append([rng.randrange(POOL_SIZE - size + 1), size, rng.random() < 0.2])
            total += size
        self.session_sent = 0
        if rng.random() < CUT_PROBABILITY:
            self.cut_at = rng.randrange(total + 1)
            self.cut_reset = rng.random() < 0.5
        else:
            self.cut_at = None

    def _update_interest(self) -> None:
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.payloads else 0)
        if want != self.interest and self.sock is not None:
            self.interest = want
            self.soak.loop.selector.modify(self.sock, want, self.on_event)

    def write(self) -> None:
        """Send what the socket takes, in one large or many small writes."""
        sock = self.sock
        rng = self.rng
        stats = self.stats
        view = self.soak.pool_view
        payloads = self.payloads
        expected = self.expected
        budget = 64
        while payloads and budget:
            budget -= 1
            payload = payloads[0]
            offset, left, small = payload
            size = min(left, rng.randint(1, SMALL_WRITE_MAX)) if small else left
            try:
                n = sock.send(view[offset:offset + size])
            except BlockingIOError:
                break
            except OSError:
                self.server_gone()
                return
            if expected and expected[-1][0] + expected[-1][1] == offset:
                expected[-1][1] += n  # contiguous in the pool: one span
            else:
                expected.append([offset, n])
            self.expected_bytes += n
            self.session_sent += n
            stats.sent += n
            if n == left:
                payloads.popleft()
            else:
                payload[0] += n
                payload[1] -= n
            if self.cut_at is not None and self.session_sent >= self.cut_at:
                self.cut()
                return
            if n < size:
                break
        self._update_interest()

    def read(self) -> None:
        """Receive echoed bytes and check each against what we sent, in order."""
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            self.server_gone()
            return
        if not data:
            self.server_gone()
            return
        pool = self.soak.pool
        view = memoryview(data)
        expected = self.expected
        stats = self.stats
        while view:
            if not expected:
                stats.corrupted += len(view)  # bytes we never sent
                self.broken()
                return
            span = expected[0]
            offset, length = span
            n = min(length, len(view))
            if not pool.startswith(view[:n], offset):
                stats.corrupted += sum(1 for a, b in zip(view[:n], pool[offset:offset + n]) if a != b)
                self.expected_bytes -= n
                self.broken()
                return
            stats.verified += n
            self.expected_bytes -= n
            if n == length:
                expected.popleft()
            else:
                span[0] += n
                span[1] -= n
            view = view[n:]
        self.last_progress = time.monotonic()
        if not self.payloads and not expected:
            self.finish_session()

    def finish_session(self) -> None:
        """Everything came back: close cleanly and reconnect, or go on on this connection."""
        if self.soak.draining:
            self._discard()
            self.done = True
        elif self.rng.random() < 0.7:
            self._discard()
            self.stats.clean_closes += 1
            self.start()
        else:
            self.plan()
            self._update_interest()

    def cut(self) -> None:
        """Deliberately disconnect mid-stream; what has not come back yet is excused."""
        if self.cut_reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.stats.cuts_reset += 1
        else:
            self.stats.cuts_close += 1
        self.stats.excused += self.expected_bytes
        self._discard()
        self.start()

    def server_gone(self) -> None:
        """The server closed or reset a connection we did not cut: unechoed bytes are lost."""
        self.stats.server_closes += 1
        self.stats.lost += self.expected_bytes
        self._discard()
        if self.soak.draining:
            self.done = True
        else:
            self.soak.loop.call_later(0.05, self.start)

    def broken(self) -> None:
        """A corrupted stream: the rest cannot be verified, so it counts as lost."""
        self.stats.lost += self.expected_bytes
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._discard()
        if self.soak.draining:
            self.done = True
        else:
            self.start()

    def check_stall(self, now: float) -> None:
        """An echo that stopped coming for STALL_SECONDS is lost."""
        if self.sock is not None and self.expected_bytes and now - self.last_progress > STALL_SECONDS:
            self.stats.stalls += 1
            self.broken()

    def drain(self) -> None:
        """The end: send nothing more, cut nothing, wait for what is in flight."""
        self.payloads.clear()
        self.cut_at = None
        if self.sock is None:
            return  # a restart timer will see `draining` and stop
        if self.connecting or not self.expected_bytes:
            self._discard()
            self.done = True
        else:
            self._update_interest()

    def _discard(self) -> None:
        sock = self.sock
        if sock is None:
            return
        self.sock = None
        self.connecting = False
        self.soak.loop.selector.unregister(sock)
        sock.close()
        self.payloads.clear()
        self.expected.clear()
        self.expected_bytes = 0
        self.interest = 0


# ---------------------------------------------------------------------- IRC load


class IRCStats:
    """Counters over every IRC member."""

    def __init__(self) -> None:
        self.dropped = 0  # never-readers the server dropped
        self.drop_times: list[float] = []
        self.quit_reasons: dict[str, int] = {}
        self.flooders_dropped = 0
        self.normals_dropped = 0
        self.flood_lines = 0
        self.talk_lines = 0
        self.verified = 0
        self.missing = 0
        self.damaged = 0
        self.disordered = 0
        self.pings: list[float] = []
        self.ping_max = 0.0
        self.errors: list[str] = []


class IRCMember:
    """A member of #soak: ``normal`` (talks, checks), ``flooder`` or ``nonreader``."""

    def __init__(self, soak: "Soak", role: str, index: int) -> None:
        self.soak = soak
        self.role = role
        self.index = index
        self.gen = 0
        self.stats = soak.irc
        self.sock: socket.socket | None = None
        self.nick = ""
        self.inbuf = b""
        self.out = bytearray()
        self.interest = 0
        self.state = "idle"
        self.joined: set[str] = set()
        self.seq = 0
        self.joined_at = 0.0
        self.next_seq: dict[str, int] = {}  # normal: per sender nick, the next line expected
        self.ping_sent: dict[str, float] = {}

    # -- connection

    def start(self) -> None:
        """Connect and register (a never-reader also joins, all in one write)."""
        if self.soak.draining:
            return
        self.gen += 1
        self.nick = f"{NICK_PREFIX[self.role]}{self.index}g{self.gen}"
        self.inbuf = b""
        self.out.clear()
        self.joined.clear()
        self.seq = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.role == "nonreader":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, NONREADER_RCVBUF)
        sock.setblocking(False)
        err = sock.connect_ex((HOST, self.soak.irc_port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.soak.loop.call_later(0.2, self.start)
            return
        self.sock = sock
        self.state = "connecting"
        self.interest = selectors.EVENT_WRITE
        self.soak.loop.selector.register(sock, self.interest, self.on_event)

    def on_event(self, mask: int) -> None:
        """Readiness for this member's socket."""
        sock = self.sock
        if sock is None:
            return
        if self.state == "connecting":
            if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.gone("connect failed")
                return
            self.state = "registering"
            self.send(f"NICK {self.nick}\r\nUSER {self.nick} 0 * :soak {self.role}\r\n")
            if self.role == "nonreader":
                # Join everywhere and never read again; the server has to drop us.
                self.send(f"JOIN {','.join(IRC_CHANNELS)}\r\n")
                self.soak.loop.selector.unregister(self.sock)
                self.interest = 0
                self.state = "silent"
                self.joined_at = time.monotonic()
                self.soak.nonreaders[self.nick] = self
                self.soak.loop.call_later(0.25, self.watch)
            return
        if mask & selectors.EVENT_READ:
            self.read()
        if self.sock is sock and mask & selectors.EVENT_WRITE:
            self.flush()

    def watch(self) -> None:
        """A never-reader's other sign of a drop: its TCP state, polled.

        Often this never changes: the server's reset carries a sequence number past our
        full receive window, so our kernel ignores it; the QUIT the others see is then the
        only sign (see :meth:`dropped`).
        """
        sock = self.sock
        if sock is None or self.state != "silent":
            return
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        if info[0] == TCP_ESTABLISHED:
            self.soak.loop.call_later(0.25, self.watch)
        else:
            self.dropped()

    def dropped(self) -> None:
        """The server dropped this never-reader: count it, rejoin under a new nick."""
        sock = self.sock
        if sock is None or self.state != "silent":
            return
        self.stats.dropped += 1
        self.stats.drop_times.append(time.monotonic() - self.joined_at)
        self.soak.nonreaders.pop(self.nick, None)
        sock.close()
        self.sock = None
        self.state = "idle"
        self.soak.loop.call_later(0.2, self.start)

    def gone(self, why: str) -> None:
        """A reading member lost its connection."""
        sock = self.sock
        if sock is None:
            return
        self.sock = None
        if self.interest:
            self.soak.loop.selector.unregister(sock)
        sock.close()
        self.interest = 0
        was = self.state
        self.state = "idle"
        if self.soak.draining:
            return
        if self.role == "flooder":
            self.stats.flooders_dropped += 1
        elif self.role == "normal":
            self.stats.normals_dropped += 1
        self.stats.errors.append(f"{self.nick} ({self.role}, {was}): {why}")
        self.soak.loop.call_later(0.5, self.start)

    def send(self, text: str | bytes) -> None:
        """Queue bytes and send what the socket takes."""
        self.out += text.encode() if isinstance(text, str) else text
        self.flush()

    def flush(self) -> None:
        """Write out the queued bytes, asking for writability while some remain."""
        sock = self.sock
        if sock is None:
            return
        if self.out:
            try:
                n = sock.send(self.out)
                del self.out[:n]
            except BlockingIOError:
                pass
            except OSError as e:
                self.gone(f"send: {e}")
                return
        if self.role == "nonreader":
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)
        if want != self.interest:
            self.interest = want
            self.soak.loop.selector.modify(sock, want, self.on_event)

    # -- input

    def read(self) -> None:
        """Split lines and handle each; flooders skip relayed traffic cheaply."""
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError as e:
            self.gone(f"recv: {e}")
            return
        if not data:
            tail = (self.inbuf + data)[-200:].decode("latin-1")
            self.gone(f"closed by the server {tail!r}")
            return
        lines = (self.inbuf + data).split(b"\r\n")
        self.inbuf = lines.pop()
        flooder = self.role == "flooder"
        for line in lines:
            if flooder and b" PRIVMSG " in line:
                continue
            self.line(line)

    def line(self, line: bytes) -> None:
        """One line from the server."""
        if line.startswith(b"PING"):
            self.send(b"PONG" + line[4:] + b"\r\n")
            return
        if line.startswith(b"ERROR"):
            self.stats.errors.append(f"{self.nick}: {line.decode('latin-1')[:200]}")
            return
        parts = line.split(b" ", 3)
        if len(parts) < 3:
            return
        sender = parts[0][1:].split(b"!", 1)[0].decode("latin-1")
        command = parts[1]
        if command == b"PRIVMSG":
            if self.role == "normal" and len(parts) == 4:
                self.check(sender, parts[3][1:])
        elif command == b"001":
            self.state = "joining"
            channels = IRC_CHANNELS if self.role == "flooder" else IRC_CHANNELS[:1]
            self.send(f"JOIN {','.join(channels)}\r\n")
        elif command == b"JOIN" and sender == self.nick:
            self.joined.add(parts[2].lstrip(b":").decode("latin-1").lower())
            want = len(IRC_CHANNELS) if self.role == "flooder" else 1
            if len(self.joined) == want:
                self.state = "ready"
                self.soak.member_ready(self)
        elif command == b"QUIT" and self.role == "normal" and self.index == 0:
            reason = parts[2].lstrip(b":").decode("latin-1") + (
                b" " + parts[3] if len(parts) == 4 else b"").decode("latin-1")
            role = {prefix: role for role, prefix in NICK_PREFIX.items()}.get(sender[:1], "?")
            key = f"{role}: {reason}"
            self.stats.quit_reasons[key] = self.stats.quit_reasons.get(key, 0) + 1
            quiet = self.soak.nonreaders.get(sender)
            if quiet is not None:
                quiet.dropped()
        elif command == b"PONG" and len(parts) == 4:
            token = parts[3].lstrip(b":").decode("latin-1")
            sent = self.ping_sent.pop(token, None)
            if sent is not None:
                rtt = time.monotonic() - sent
                self.stats.pings.append(rtt)
                self.stats.ping_max = max(self.stats.ping_max, rtt)

    def check(self, sender: str, text: bytes) -> None:
        """A talk or flood line: the next in its sender's sequence, and intact."""
        stats = self.stats
        try:
            seq = int(text.split(b" ", 2)[1])
        except (IndexError, ValueError):
            stats.damaged += 1
            return
        if text != line_text(sender, seq):
            stats.damaged += 1
            return
        expected = self.next_seq.get(sender, 0)
        if seq > expected:
            stats.missing += seq - expected
        elif seq < expected:
            stats.disordered += 1
            return
        self.next_seq[sender] = seq + 1
        stats.verified += 1

    # -- output

    def talk(self) -> None:
        """A normal member's sequenced line to #soak, and a PING from the first member."""
        if self.sock is None or self.state != "ready" or self.soak.draining:
            return
        self.send(b"PRIVMSG #soak :" + line_text(self.nick, self.seq) + b"\r\n")
        self.seq += 1
        self.stats.talk_lines += 1
        self.soak.loop.call_later(IRC_TALK_PERIOD, self.talk)

    def ping(self) -> None:
        """Measure the server's responsiveness from the first normal member."""
        if self.sock is None or self.soak.draining:
            return
        token = f"soak{time.monotonic_ns()}"
        self.ping_sent[token] = time.monotonic()
        self.send(f"PING :{token}\r\n")
        self.soak.loop.call_later(IRC_PING_PERIOD, self.ping)

    def flood(self) -> None:
        """Send one line to every channel, paced under the server's flood limit."""
        if self.sock is None or self.state != "ready" or self.soak.draining:
            return
        self.send(b"PRIVMSG " + ",".join(IRC_CHANNELS).encode() + b" :"
                  + line_text(self.nick, self.seq) + b"\r\n")
        self.seq += 1
        self.stats.flood_lines += 1
        self.soak.loop.call_later(1.0 / IRC_FLOOD_RATE, self.flood)


def line_text(nick: str, seq: int) -> bytes:
    """The text a member sends as its ``seq``-th line: flood lines padded to ~400 bytes."""
    head = f"{nick} {seq}".encode()
    if nick.startswith("f"):
        return head + b" " + (b"%08d." % seq) * 48  # relayed lines of ~490 bytes
    return head


# ---------------------------------------------------------------------- servers


class Server:
    """``python -m inspector serve KIND`` on a free loopback port, its log in a file."""

    def __init__(self, kind: str, extra: list[str]) -> None:
        self.kind = kind
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix=f"soak-{kind}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "serve", kind, "--port", str(self.port), *extra],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.rss: list[float] = []
        self._cpu_mark = (time.monotonic(), self.cpu_seconds())

    def wait_accepting(self, timeout: float = 15.0) -> None:
        """Return once the server accepts a connection; raise if it died or never did."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                socket.create_connection((HOST, self.port), timeout=1.0).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.kind} server never accepted on port {self.port}")
                time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_mib(self) -> float:
        """Resident set size now (VmRSS), MiB; NaN once the process is gone."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return math.nan

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return math.nan

    def cpu_percent(self) -> float:
        """CPU use since the previous call, in percent of one core."""
        now, cpu = time.monotonic(), self.cpu_seconds()
        then, before = self._cpu_mark
        self._cpu_mark = (now, cpu)
        return (cpu - before) / (now - then) * 100 if now > then else math.nan

    def stop(self) -> None:
        """SIGINT, then SIGTERM, then SIGKILL, each given a few seconds."""
        for sig, wait in ((signal.SIGINT, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        self.log.close()

    def log_text(self) -> str:
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def log_messages(text: str) -> list[tuple[str, int]]:
    """The server's warnings and errors, numbers masked so repeats group, most frequent first."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        match = re.match(r"\S+ \S+ (WARNING|ERROR|CRITICAL) (.*)", line)
        if match:
            key = re.sub(r"\d+(\.\d+)?", "#", f"{match[1]} {match[2]}")[:110]
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------- the soak


class Soak:
    """Both loads on one loop, sampled into a table."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = Loop()
        rng = random.Random(args.seed)
        self.pool = rng.randbytes(POOL_SIZE)  # every payload is a slice of this
        self.pool_view = memoryview(self.pool)
        self.echo = EchoStats()
        self.irc = IRCStats()
        self.draining = False
        self.echo_port = 0
        self.irc_port = 0
        self.workers = [EchoWorker(self, random.Random(rng.random())) for _ in range(args.echo_connections)]
        self.members = (
            [IRCMember(self, "normal", i) for i in range(args.irc_normal)]
            + [IRCMember(self, "flooder", i) for i in range(args.irc_flooders)]
            + [IRCMember(self, "nonreader", i) for i in range(args.irc_nonreaders)]
        )
        self.irc_started = False
        self.nonreaders: dict[str, IRCMember] = {}  # by nick, while connected

    def member_ready(self, member: IRCMember) -> None:
        """Start talking and flooding once every normal member and flooder is in."""
        readers = [m for m in self.members if m.role != "nonreader"]
        if not self.irc_started:
            if all(m.state == "ready" for m in readers):
                self.irc_started = True
                for m in readers:
                    self._begin(m)
        else:
            self._begin(member)  # a flooder back after a drop

    def _begin(self, member: IRCMember) -> None:
        if member.role == "flooder":
            self.loop.call_later(random.random() / IRC_FLOOD_RATE, member.flood)
        elif member.role == "normal":
            self.loop.call_later(random.random() * IRC_TALK_PERIOD, member.talk)
            if member.index == 0:
                self.loop.call_later(IRC_PING_PERIOD, member.ping)

    def watch_stalls(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            worker.check_stall(now)
        self.loop.call_later(1.0, self.watch_stalls)

    def start(self) -> None:
        readers = [m for m in self.members if m.role != "nonreader"]
        for member in readers:
            member.start()
        for worker in self.workers:
            worker.start()
        self.loop.call_later(1.0, self.watch_stalls)

    def start_nonreaders(self) -> None:
        for member in self.members:
            if member.role == "nonreader":
                member.start()

    def drain(self) -> bool:
        """Stop sending; wait for every echo and every line in flight. True if all arrived."""
        self.draining = True
        for worker in self.workers:
            worker.drain()
        normals = [m for m in self.members if m.role == "normal" and m.sock is not None]
        senders = {m.nick: m.seq for m in self.members if m.role in ("normal", "flooder") and m.sock is not None}

        def settled() -> bool:
            if not all(w.done or w.sock is None for w in self.workers):
                return False
            for m in normals:
                for nick, sent in senders.items():
                    if nick != m.nick and m.next_seq.get(nick, 0) < sent:
                        return False
            return True

        deadline = time.monotonic() + DRAIN_SECONDS
        self.loop.run(lambda: settled() or time.monotonic() > deadline)
        for worker in self.workers:
            if worker.sock is not None and worker.expected_bytes:
                self.echo.lost += worker.expected_bytes
                self.echo.lost_at_end += worker.expected_bytes
        for m in normals:
            for nick, sent in senders.items():
                if nick != m.nick:
                    self.irc.missing += max(0, sent - m.next_seq.get(nick, 0))
        return settled()

    def close(self) -> None:
        for worker in self.workers:
            worker._discard()
        for member in self.members:
            if member.sock is not None:
                if member.interest:
                    self.loop.selector.unregister(member.sock)
                member.sock.close()
                member.sock = None


def rss_margin(kind: str, args: argparse.Namespace) -> float:
    """How much the last RSS may exceed the first without calling it growth, MiB.

    A sample catches whatever is in flight at that instant, and the allocators keep
    freed memory: the echo server may hold up to ECHO_PER_CONNECTION per connection,
    the IRC server up to its 1 MiB SendQ per never-reading member, both plus
    ALLOCATOR_SLACK. A leak, unlike these, grows with the connections made.
    """
    if kind == "echo":
        return (ALLOCATOR_SLACK + args.echo_connections * ECHO_PER_CONNECTION) / (1 << 20)
    return (ALLOCATOR_SLACK + args.irc_nonreaders * IRC_SENDQ) / (1 << 20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to load the servers")
    parser.add_argument("--interval", type=float, help="seconds between rows (default: seconds/12, 1..5)")
    parser.add_argument("--echo-connections", type=int, default=32)
    parser.add_argument("--irc-normal", type=int, default=3, help="members that talk and check")
    parser.add_argument("--irc-flooders", type=int, default=24, help="members that flood four channels")
    parser.add_argument("--irc-nonreaders", type=int, default=3, help="members that never read")
    parser.add_argument("--reactor", default=None, help="the servers' --reactor (default: theirs)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (kept anyway on failure)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.echo_connections < 1 or args.irc_normal < 2:
        parser.error("--seconds must be positive, --echo-connections at least 1, --irc-normal at least 2")
    interval = args.interval or max(1.0, min(5.0, args.seconds / 12))
    warm_up = min(10.0, args.seconds * 0.2)

    print(f"Soak, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python {platform.python_version()}, "
          f"{machine()}, load average {os.getloadavg()[0]:.2f}")
    print(f"echo: {args.echo_connections} connections, payloads 1 B..256 KiB, ~{CUT_PROBABILITY:.0%} cut "
          f"(close or reset); IRC: {args.irc_normal} talking, {args.irc_flooders} flooding "
          f"{len(IRC_CHANNELS)} channels at {IRC_FLOOD_RATE:g} lines/s, {args.irc_nonreaders} never reading; "
          f"{args.seconds:g} s")
    intake = args.irc_flooders * IRC_FLOOD_RATE * len(IRC_CHANNELS) * 485  # bytes/s to each never-reader
    wmem = kernel_send_buffer_max()
    print(f"IRC: each never-reader is sent ~{intake / 1e3:.0f} kB/s, so expect a drop every "
          f"~{(wmem + IRC_SENDQ) / intake:.0f} s ({wmem / (1 << 20):.0f} MiB kernel send buffer + "
          f"{IRC_SENDQ >> 20} MiB SendQ)")
    extra = ["--reactor", args.reactor] if args.reactor else []
    echo_server = Server("echo", extra)
    irc_server = Server("irc", extra)
    soak = Soak(args)
    died: list[str] = []
    rows: list[tuple] = []
    try:
        try:
            echo_server.wait_accepting()
            irc_server.wait_accepting()
        except RuntimeError as error:
            print(f"soak: {error}")
            return 1
        soak.echo_port, soak.irc_port = echo_server.port, irc_server.port
        print(f"servers: echo pid {echo_server.proc.pid} port {echo_server.port}, "
              f"irc pid {irc_server.proc.pid} port {irc_server.port}\n")
        header = (f"{'time s':>6} {'echo conns':>10} {'MB verified':>11} {'lost/bad B':>10} {'echo RSS':>9} "
                  f"{'echo CPU':>8} {'IRC RSS':>8} {'IRC CPU':>7} {'dropped':>7} {'IRC lines':>9} "
                  f"{'ping ms':>7} {'soak CPU':>8}")
        print(header)
        print("-" * len(header))
        start = time.monotonic()
        soak.start()
        # Never-readers come once the others are in, so they see every drop's QUIT.
        soak.loop.run(lambda: soak.irc_started or time.monotonic() - start > 10)
        soak.start_nonreaders()
        next_row = start + interval
        end = start + args.seconds
        cpu_mark = (time.monotonic(), sum(resource.getrusage(resource.RUSAGE_SELF)[:2]))
        while True:
            soak.loop.run(lambda: time.monotonic() >= min(next_row, end) or not echo_server.alive()
                          or not irc_server.alive())
            for server in (echo_server, irc_server):
                if not server.alive() and server.kind not in died:
                    died.append(server.kind)
            if died:
                break
            now = time.monotonic()
            own = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
            soak_cpu = (own - cpu_mark[1]) / (now - cpu_mark[0]) * 100
            cpu_mark = (now, own)
            ping = soak.irc.ping_max * 1000
            soak.irc.ping_max = 0.0
            row = (now - start, soak.echo.connections, soak.echo.verified / 1e6, soak.echo.lost + soak.echo.corrupted,
                   echo_server.rss_mib(), echo_server.cpu_percent(), irc_server.rss_mib(), irc_server.cpu_percent(),
                   soak.irc.dropped, soak.irc.verified, ping, soak_cpu)
            rows.append(row)
            print(f"{row[0]:>6.1f} {row[1]:>10,} {row[2]:>11,.1f} {row[3]:>10,} {row[4]:>8.1f}M {row[5]:>7.0f}% "
                  f"{row[6]:>7.1f}M {row[7]:>6.0f}% {row[8]:>7} {row[9]:>9,} {row[10]:>7.1f} {row[11]:>7.0f}%",
                  flush=True)
            if now >= end:
                break
            next_row = min(next_row + interval, end)
        all_in = soak.drain() if not died else False
        for server in (echo_server, irc_server):
            if not server.alive() and server.kind not in died:
                died.append(server.kind)
    finally:
        soak.close()
        echo_server.stop()
        irc_server.stop()

    e, i = soak.echo, soak.irc
    print()
    print(f"echo: {e.connections:,} connections ({e.connect_errors} connect errors), "
          f"{e.sent / 1e6:,.1f} MB sent, {e.verified / 1e6:,.1f} MB verified, "
          f"{e.excused / 1e6:,.1f} MB excused at {e.cuts_close:,} closes + {e.cuts_reset:,} resets, "
          f"lost {e.lost:,} B ({e.lost_at_end:,} unanswered at the end), corrupted {e.corrupted:,} B; "
          f"{e.clean_closes:,} clean closes, {e.server_closes} closed by the server, {e.stalls} stalls")
    mean_drop = sum(i.drop_times) / len(i.drop_times) if i.drop_times else math.nan
    pings = sorted(i.pings)
    p99 = pings[min(len(pings) - 1, int(len(pings) * 0.99))] * 1000 if pings else math.nan
    print(f"IRC: never-readers dropped {i.dropped} times (after {mean_drop:.1f} s on average); "
          f"flooders dropped {i.flooders_dropped}, talking members dropped {i.normals_dropped}; "
          f"{i.flood_lines:,} flood + {i.talk_lines:,} talk lines sent, {i.verified:,} receptions verified, "
          f"{i.missing} missing, {i.damaged} damaged, {i.disordered} out of order; "
          f"PING p99 {p99:.1f} ms, max {max(pings, default=math.nan) * 1000:.1f} ms over {len(pings)}")
    if i.quit_reasons:
        print("IRC QUIT reasons seen by members: "
              + "; ".join(f"{n} x {reason!r}" for reason, n in sorted(i.quit_reasons.items())))
    for line in i.errors[:10]:
        print(f"IRC: {line}")
    for server in (echo_server, irc_server):
        text = server.log_text()
        counts = {word: text.count(word) for word in ("Traceback", "CRITICAL", "ERROR", "WARNING", "SendQ")}
        print(f"{server.kind} server log: {len(text.splitlines()):,} lines, "
              + ", ".join(f"{n} {word}" for word, n in counts.items())
              + (f" ({server.log.name})" if args.keep_logs else ""))
        for message, n in log_messages(text)[:4]:
            print(f"  {n} x {message}")
        if server.kind in died:
            print(f"{server.kind} server DIED (exit {server.proc.returncode}); its log ends:\n{server.log_tail()}")

    rss_ok = True
    warm = [r for r in rows if r[0] >= warm_up] or rows[-1:]
    connections_after_warm_up = (rows[-1][1] - warm[0][1]) if warm else 0
    for kind, column in (("echo", 4), ("IRC", 6)):
        if not warm:
            break
        first, last = warm[0][column], warm[-1][column]
        peak = max(r[column] for r in rows)
        margin = rss_margin(kind.lower(), args)
        flat = last <= first + margin
        rss_ok = rss_ok and flat
        per_k = (
            (last - first) / connections_after_warm_up * 1000 if kind == "echo" and connections_after_warm_up else None
        )
        print(f"{kind} server RSS MiB: first {first:.1f} (at {warm[0][0]:.0f} s, after warm-up) / last {last:.1f} / "
              f"max {peak:.1f}; {'RSS flat' if flat else 'RSS GREW'} (margin {margin:.0f} MiB: what may be in "
              f"flight at a sample plus allocator slack)"
              + (f"; {per_k:+.3f} MiB per 1,000 connections" if per_k is not None else ""))
    drop_expected = (kernel_send_buffer_max() + IRC_SENDQ) / (
        args.irc_flooders * IRC_FLOOD_RATE * len(IRC_CHANNELS) * 485) if args.irc_flooders else math.inf
    never_dropped = args.irc_nonreaders and not i.dropped and args.seconds >= 3 * drop_expected
    if args.irc_nonreaders and not i.dropped:
        print(f"IRC: no never-reader was dropped in {args.seconds:g} s (a drop is expected after "
              f"~{drop_expected:.0f} s{'; that is a failure' if never_dropped else ''})")
    failed = bool(e.lost or e.corrupted or died or i.missing or i.damaged or i.disordered or i.normals_dropped
                  or never_dropped)
    verdict = "FAIL" if failed else "ok"
    for server in (echo_server, irc_server):
        if not (failed or args.keep_logs):
            os.unlink(server.log.name)
    print(f"\nsummary: {e.connections:,} connections, {e.verified / 1e6:,.1f} MB verified, {e.lost:,} B lost, "
          f"{e.corrupted:,} B corrupted, {i.dropped} never-reading IRC members dropped, "
          f"{'servers alive' if not died else 'DIED: ' + ', '.join(died)}, "
          f"{('RSS flat' if rss_ok else 'RSS grew') if rows else 'no RSS samples'} -> {verdict}")
    if not all_in and not died:
        print("(some echoes or lines were still in flight after the drain; counted as lost or missing)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
