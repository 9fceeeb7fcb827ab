"""``inspector open`` and the window agree about the same recording.

Both fold trace events into connection and Deferred summaries; this loads the same
recording both ways — the way ``inspector open`` does (:func:`~inspector.trace.recording.load`
into a :class:`~inspector.trace.model.Trace`) and the way the window does (the step-wise
:class:`~inspector.trace.recording.RecordingReader`, each slice applied to a
:class:`~inspector.ui.viewmodel.store.Store` by the window's own translation) — and checks they
agree on every connection's state, bytes in and out and close reason, and on every
Deferred's state. Recordings come from real ``inspector --record`` runs (echo over TCP
and UDP, an IRC session, a connection reset by its peer) and from event sequences
hypothesis makes up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.trace import events as ev
from inspector.trace.model import Trace
from inspector.trace.recording import RecordingReader, load
from inspector.ui.viewmodel.feed import apply
from inspector.ui.viewmodel.store import Store

ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INSPECTOR_REACTOR": "selectors"}


# -- the two readings ---------------------------------------------------------------------


def open_view(path: Path) -> tuple[dict[int, tuple[Any, ...]], dict[int, str]]:
    """What ``inspector open`` reports: per connection (state, in, out, close reason), per
    Deferred its state."""
    trace = load(path)
    connections = {
        c.id: (c.state, c.bytes_in, c.bytes_out,
               f"{c.reason_type}: {c.reason}" if c.reason else c.reason_type)
        for c in trace.connections.values()
    }
    deferreds = {d.id: d.state for d in trace.deferreds()}
    return connections, deferreds


def window_view(path: Path) -> tuple[dict[int, tuple[Any, ...]], dict[int, str]]:
    """What the window shows for the same file, loaded in slices as the window loads it."""
    store = Store(clock=0.0)
    reader = RecordingReader(path, Trace())
    try:
        while not reader.done:
            apply(store, reader.step(max_lines=7))
    finally:
        reader.close()
    connections = {
        c.id: (c.state, c.bytes_in, c.bytes_out, c.close_reason) for c in store.connections.values()
    }
    deferreds = {d.id: d.state for d in store.deferreds.values()}
    return connections, deferreds


def assert_agree(path: Path) -> None:
    opened, shown = open_view(path), window_view(path)
    assert shown[0] == opened[0], "connections differ"
    assert shown[1] == opened[1], "Deferreds differ"


# -- real recordings ----------------------------------------------------------------------


class Recording:
    """``inspector --record FILE serve ARGS`` running; stop it with :meth:`stop`."""

    def __init__(self, path: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "--record", str(path), "serve", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
        )
        self.log = ""
        self._port: int | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            self.log += line
            if "listening on" in line and self._port is None:
                self._port = int(line.rsplit(":", 1)[1].split()[0].strip())
                self._ready.set()

    def port(self) -> int:
        assert self._ready.wait(30), self.log
        assert self._port is not None
        return self._port

    def stop(self) -> None:
        time.sleep(0.3)  # let the server see the last close
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(30) == 0, self.log


def _reset(port: int) -> None:
    """Connect, send a line, and close with a RST (SO_LINGER 0): the server sees a reset."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"about to vanish\n")
    sock.recv(100)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_an_echo_session_over_tcp_and_a_reset_read_the_same_both_ways(tmp_path: Path) -> None:
    path = tmp_path / "echo.jsonl"
    server = Recording(path, "echo", "--port", "0")
    try:
        port = server.port()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"hello\n")
            assert sock.recv(100) == b"hello\n"
        _reset(port)
    finally:
        if server.proc.poll() is None:
            server.stop()
    connections, _ = open_view(path)
    assert len(connections) == 2 and {c[0] for c in connections.values()} == {"closed", "failed"}
    assert_agree(path)


def test_a_udp_echo_port_reads_the_same_both_ways(tmp_path: Path) -> None:
    path = tmp_path / "udp.jsonl"
    server = Recording(path, "echo", "--transport", "udp", "--port", "0")
    try:
        port = server.port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(b"ping", ("127.0.0.1", port))
            assert sock.recvfrom(100)[0] == b"ping"
    finally:
        if server.proc.poll() is None:
            server.stop()
    connections, _ = open_view(path)
    assert [c[0] for c in connections.values()] == ["closed"]  # the port closed cleanly at exit
    assert_agree(path)


def record_irc_session(path: Path) -> None:
    """``inspector --record path serve irc`` with one client that joins, talks, pings and quits."""
    server = Recording(path, "irc", "--port", "0")
    try:
        port = server.port()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"NICK watcher\r\nUSER w 0 * :Watcher\r\nJOIN #inspector\r\n")
            seen = b""
            while b"366" not in seen:
                seen += sock.recv(4096)
            sock.sendall(b"PRIVMSG #inspector :hello\r\nPING :x\r\nQUIT :bye\r\n")
            while sock.recv(4096):
                pass
    finally:
        if server.proc.poll() is None:
            server.stop()


def test_an_irc_session_reads_the_same_both_ways(tmp_path: Path) -> None:
    path = tmp_path / "irc.jsonl"
    record_irc_session(path)
    _, deferreds = open_view(path)
    assert deferreds, "the session made no Deferreds to compare"
    assert_agree(path)


# -- made-up recordings --------------------------------------------------------------------

CONNS = st.integers(1, 3)
DEFS = st.integers(1, 4)
SIZES = st.integers(0, 50)
REASONS = st.sampled_from(["", "ConnectionDone", "ConnectionLost", "ConnectionRefusedError"])
STATE_NAMES = st.sampled_from(ev.STATES)

EVENTS = st.one_of(
    st.builds(ev.ConnectionOpened, conn=CONNS, role=st.sampled_from(["client", "server", "udp"]),
              transport=st.sampled_from(["tcp", "udp"]), protocol=st.just("Echo")),
    st.builds(ev.ConnectionState, conn=CONNS, state=STATE_NAMES),
    st.builds(ev.BytesIn, conn=CONNS, size=SIZES),
    st.builds(ev.BytesOut, conn=CONNS, size=SIZES),
    st.builds(ev.ConnectionClosed, conn=CONNS, reason_type=REASONS,
              reason=st.sampled_from(["", "gone"]), bytes_in=SIZES, bytes_out=SIZES),
    st.builds(ev.DeferredCreated, deferred=DEFS),
    st.builds(ev.CallbackAdded, deferred=DEFS,
              callback_kind=st.sampled_from(["callback", "errback", "both"])),
    st.builds(ev.CallbackRan, deferred=DEFS, input_kind=st.sampled_from(["value", "failure"]),
              output_type=st.sampled_from(["int", "Failure", "Deferred"])),
    st.builds(ev.DeferredChained, deferred=DEFS, waiting_on=DEFS),
    st.builds(ev.DeferredResumed, deferred=DEFS, waited_on=DEFS),
    st.builds(ev.DeferredPaused, deferred=DEFS),
    st.builds(ev.DeferredUnpaused, deferred=DEFS),
    st.builds(ev.DeferredFired, deferred=DEFS, result_type=st.just("int"), result_repr=st.just("1")),
    st.builds(ev.DeferredFailed, deferred=DEFS, error_type=st.just("KeyError"), message=st.just("k")),
    st.builds(ev.DeferredCancelled, deferred=DEFS),
    st.builds(ev.DeferredUnhandled, deferred=DEFS, error_type=st.just("KeyError")),
    st.builds(ev.TraceWarning, category=st.just("abandoned"), subject=DEFS),
)


def write_recording(path: Path, events: list[ev.Event]) -> None:
    lines = [json.dumps({"format": "inspector-trace", "version": 1})]
    for seq, event in enumerate(events, 1):
        event.seq, event.ts = seq, seq / 10
        lines.append(json.dumps(event.to_json()))
    path.write_text("\n".join(lines) + "\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(EVENTS, max_size=40))
def test_any_event_sequence_reads_the_same_both_ways(tmp_path: Path, events: list[ev.Event]) -> None:
    path = tmp_path / "made-up.jsonl"
    write_recording(path, events)
    assert_agree(path)
