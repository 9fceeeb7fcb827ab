"""Hostile recordings and hostile places to record to (issue 13, items 3, 4, 9 and 10).

A damaged recording loads up to the damage with a one-line reason; ``inspector open``
never prints a traceback and its Perfetto export is strict JSON; devices, FIFOs and
oversized files are refused; a recording that cannot be written stops with one error
while the server keeps serving; recordings are private and hold no IRC passwords.
"""

from __future__ import annotations

import base64
import io
import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inspector.trace as trace_module
from inspector import cli
from inspector.commands.open import print_summary
from inspector.trace import events as ev
from inspector.trace import perfetto, session
from inspector.trace.model import Trace
from inspector.trace.recording import MAX_RECORDING_BYTES, RecordingError, load
from inspector.trace.redact import Redactor

from irc_support import RawClient, close_all, connect, serve, signed_on
from reactor_support import free_port

QUOTE = b"Hostile files are still files.\r\n"
SECRET = "hunter2-sesame-7f3a"


# ------------------------------------------------------------------ helpers


def _env() -> dict[str, str]:
    return dict(os.environ, INSPECTOR_REACTOR="selectors", PYTHONUNBUFFERED="1")


def _limit_memory() -> None:
    """In the child: at most 1 GiB of address space, so a runaway read fails fast."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def _inspector(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector", *args], capture_output=True, text=True,
                          timeout=timeout, env=_env(), preexec_fn=_limit_memory)


def _strict_json(text: str) -> Any:
    """Parse ``text`` as strict JSON (NaN and Infinity are not JSON)."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"{token} in the JSON")

    return json.loads(text, parse_constant=refuse)


def _serve_one_quote(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.sendall(QUOTE)
    listener.close()


@pytest.fixture(scope="module")
def real_recording(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real recording: ``inspector --record`` of a QOTD client session."""
    path = tmp_path_factory.mktemp("real") / "qotd.jsonl"
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=_serve_one_quote, args=(listener,), daemon=True)
    thread.start()
    done = _inspector("--record", str(path), "connect", "qotd", "--port", str(listener.getsockname()[1]))
    thread.join(5)
    assert done.returncode == 0, done.stderr
    data = path.read_bytes()
    assert data.count(b"\n") > 10
    return data


def _check_opens(path: Path, capsys: pytest.CaptureFixture) -> Trace | None:
    """Everything a user can do with ``path`` works or says why in one line.

    ``load`` returns a trace (each problem one line) or raises RecordingError;
    ``inspector open`` exits 0, 1 (damage) or 2 (not a recording) with no traceback;
    the Perfetto export of what loaded is strict JSON; transcripts print.
    """
    try:
        trace = load(path)
    except RecordingError as exc:
        assert "\n" not in str(exc)
        trace = None
    out_json = path.with_suffix(".perfetto.json")
    status = cli.main(["open", str(path), "--perfetto", str(out_json)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    if trace is None:
        assert status == 2 and len(captured.err.strip().splitlines()) == 1, captured.err
        return None
    assert status == (1 if trace.problems else 0), (status, trace.problems, captured.err)
    for problem in trace.problems:
        assert "\n" not in problem and problem in captured.out
    _strict_json(out_json.read_text())
    _strict_json(perfetto.dumps(perfetto.to_trace_events(trace)))
    for conn in list(trace.connections):
        assert "\x1b" not in session.transcript(trace, conn)
    summary = io.StringIO()
    print_summary(trace, summary)
    return trace


# ------------------------------------------------------------------ damaged recordings


def _event_lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


HEADER = b'{"format":"inspector-trace","version":1}\n'
TURN = b'{"kind":"loop.turn","seq":%d,"ts":%s,"duration":0.001}\n'


def _turns(count: int, start: int = 1) -> bytes:
    return b"".join(TURN % (seq, b"%d.5" % seq) for seq in range(start, start + count))


@pytest.mark.parametrize(
    "content, loaded, reason",
    [
        (HEADER + _turns(3) + b"[" * 100_000 + b"\n" + _turns(2, 4), 3, "nested too deeply"),
        (HEADER + _turns(3) + b'{"kind":"loop.turn","seq":4,"ts":NaN}\n', 3, "out of range"),
        (HEADER + _turns(3) + b'{"kind":"loop.turn","seq":4,"ts":1e400}\n', 3, "out of range"),
        (HEADER + _turns(3) + b'{"kind":"loop.turn","seq":4,"ts":1e300}\n', 3, "out of range"),
        (HEADER + _turns(3) + b'{"kind":"conn.in","seq":4,"size":1' + b"0" * 300 + b"}\n", 3,
         "out of range"),
        (HEADER + _turns(3) + os.urandom(64).replace(b"\n", b"") + b"\n", 3, "not valid JSON"),
        (HEADER + _turns(3) + b'{"meta":{"dropped":7}}\n' + _turns(2, 4), 5, "'dropped' is 7"),
        (HEADER + _turns(3) + b'{"meta":{"end_time":NaN,"reactor":[1]}}\n', 3, "'end_time' is nan"),
        (b'{"format":"inspector-trace","version":1,"start_time":1e20}\n' + _turns(2), 2,
         "'start_time' is 1e+20"),
        (b'{"format":"inspector-trace","version":1,"start_time":NaN,"start_monotonic":Infinity}\n'
         + _turns(2), 2, "'start_monotonic' is inf"),
        (HEADER + _turns(3) + b'{"kind":"loop.turn","se', 3, "truncated"),
    ],
    ids=["nesting", "nan", "overflow", "huge-float", "huge-int", "garbage", "dropped-not-object",
         "meta-nan", "start-time-1e20", "start-nan", "truncated"],
)
def test_damaged_recording_loads_up_to_the_damage_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: bytes, loaded: int, reason: str
) -> None:
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(content)
    trace = _check_opens(path, capsys)
    assert trace is not None
    assert sum(trace.totals().values()) == loaded
    assert any(reason in problem for problem in trace.problems), trace.problems


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty"), (os.urandom(256) + b"\n", "not an Inspector trace"),
     (b"{\"format\":" + b"[" * 50_000 + b"\n", "does not start with a JSON header")],
    ids=["empty", "binary", "nested-header"],
)
def test_a_file_that_is_no_recording_gets_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: bytes, reason: str
) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=reason):
        load(path)
    assert _check_opens(path, capsys) is None


_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(1 << 70), max_value=1 << 70)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
            | st.sampled_from([1e20, -1e20, 1e308, 2 ** 64, -1, 0, "", "\x1b]0;pwned\x07", "\udc80"]))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_MUTATION = st.one_of(
    st.tuples(st.just("field"), st.integers(min_value=0), st.integers(min_value=0), _JSON),
    st.tuples(st.just("new-field"), st.integers(min_value=0), st.text(max_size=10), _JSON),
    st.tuples(st.just("line"), st.integers(min_value=0), st.binary(max_size=40), st.none()),
    st.tuples(st.just("nest"), st.integers(min_value=0), st.integers(min_value=1, max_value=200_000),
              st.none()),
    st.tuples(st.just("cut"), st.integers(min_value=0), st.integers(min_value=0), st.none()),
)


def _mutate(lines: list[bytes], mutation: tuple[Any, ...]) -> list[bytes]:
    """Apply one mutation to one line after the header (the header's damage is tested apart)."""
    what, index, arg, value = mutation
    index = 1 + index % (len(lines) - 1)
    line = lines[index]
    if what in ("field", "new-field"):
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # an earlier mutation's damage
            obj = None
        if not isinstance(obj, dict):
            obj = {"kind": "loop.turn"}
        target = obj["meta"] if "meta" in obj and isinstance(obj["meta"], dict) else obj
        key = sorted(target)[arg % len(target)] if what == "field" and target else str(arg)
        target[key] = value
        line = json.dumps(obj).encode("utf-8", "surrogatepass") + b"\n"
    elif what == "line":
        line = arg.replace(b"\n", b"") + b"\n"
    elif what == "nest":
        line = b'{"kind":' + b"[" * arg + b"\n"
    else:
        lines = lines[: index + 1]
        line = line[: arg % max(1, len(line) - 1)]
    return lines[:index] + [line] + lines[index + 1:]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutations=st.lists(_MUTATION, min_size=1, max_size=4))
def test_randomly_damaged_real_recordings_never_raise(
    real_recording: bytes, tmp_path: Path, capsys: pytest.CaptureFixture, mutations: list[Any]
) -> None:
    lines = _event_lines(real_recording)
    for mutation in mutations:
        lines = _mutate(lines, mutation)
    path = tmp_path / "mutated.jsonl"
    path.write_bytes(b"".join(lines))
    trace = _check_opens(path, capsys)
    assert trace is not None  # the header is intact: something always loads


def test_damaged_header_fields_are_ignored_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    header = {"format": "inspector-trace", "version": 1, "start_time": "yesterday", "reactor": {"x": 1},
              "dropped": [1, 2], "missed": -4, "host": "h\x1b[2J"}
    path = tmp_path / "h.jsonl"
    path.write_bytes(json.dumps(header).encode() + b"\n" + _turns(2))
    trace = _check_opens(path, capsys)
    assert trace is not None and sum(trace.totals().values()) == 2
    assert len(trace.problems) == 4, trace.problems
    assert "start_time" not in trace.header and "dropped" not in trace.header


# ------------------------------------------------------------------ files that are not files


def test_open_refuses_devices_fifos_and_oversized_files(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as handle:  # sparse: no disk used
        handle.write(HEADER)
        handle.truncate(MAX_RECORDING_BYTES + 1)
    for path, reason in (("/dev/zero", "character device"), (str(fifo), "FIFO"),
                         (str(big), "limit is 1024.0 MiB"), (str(tmp_path), "directory")):
        # In a child with bounded memory first: reading /dev/zero whole must not take the machine.
        started = time.monotonic()
        done = _inspector("open", path, timeout=20)
        assert time.monotonic() - started < 15
        assert done.returncode == 2, (path, done.returncode, done.stderr[-500:])
        assert "Traceback" not in done.stderr and reason in done.stderr, done.stderr[-500:]
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        with pytest.raises(RecordingError, match=reason):
            load(path)


# ------------------------------------------------------------------ recording where writes fail


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def _echo(port: int, line: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(line)
        got = b""
        while not got.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            got += chunk
        return got


def _stderr_until(process: subprocess.Popen, needle: str, timeout: float = 15.0) -> str:
    """Read the child's stderr lines until one holds ``needle`` (the recorder fails at a flush)."""
    lines: list[str] = []
    found = threading.Event()

    def pump() -> None:
        assert process.stderr is not None
        for text in process.stderr:
            lines.append(text)
            if needle in text:
                found.set()
        found.set()

    threading.Thread(target=pump, daemon=True).start()
    found.wait(timeout)
    return "".join(lines)


@pytest.mark.parametrize("target, extra", [("/dev/full", []), ("/proc/version", ["--force"])],
                         ids=["dev-full", "proc-version"])
def test_a_recording_that_cannot_be_written_stops_with_one_error_and_serving_goes_on(
    target: str, extra: list[str]
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "inspector", "--record", target, *extra, "serve", "echo", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )
    try:
        _wait_listening(port, process)
        assert _echo(port, b"before\n") == b"before\n"
        # The recorder writes about five times a second; wait for it to fail, then for
        # several more flush periods, serving all the while.
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            assert _echo(port, b"still here\n") == b"still here\n"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in err, err
    failures = [line for line in err.splitlines() if "recording to" in line]
    assert len(failures) == 1, err
    assert f"recording to {target} stopped:" in failures[0]
    assert "No space left on device" in failures[0] or "Input/output error" in failures[0]
    assert process.returncode == 0, err


def test_recording_refuses_to_overwrite_without_force_and_to_write_where_it_cannot(tmp_path: Path) -> None:
    existing = tmp_path / "old.jsonl"
    existing.write_text("precious\n")
    done = _inspector("--record", str(existing), "serve", "echo", "--port", str(free_port()))
    assert done.returncode == 2, done.stderr
    assert "will not overwrite" in done.stderr and "--force" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert existing.read_text() == "precious\n"

    nowhere = tmp_path / "no-such-dir" / "t.jsonl"
    done = _inspector("serve", "echo", "--port", str(free_port()), "--record", str(nowhere))
    assert done.returncode == 2 and "cannot record the trace" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_record_is_accepted_after_the_sub_command_and_force_replaces_a_file_privately(tmp_path: Path) -> None:
    path = tmp_path / "after.jsonl"
    path.write_text("old\n")
    os.chmod(path, 0o644)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "inspector", "serve", "echo", "--port", str(port), "--record", str(path),
         "--force"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )
    try:
        _wait_listening(port, process)
        assert _echo(port, b"recorded\n") == b"recorded\n"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    trace = load(path)
    assert trace.problems == []
    assert any(e.data == b"recorded\n" for e in trace.events(ev.BytesIn.kind))


# ------------------------------------------------------------------ secrets


def _all_text(path: Path) -> str:
    """The file's text plus every base64 payload decoded (secrets must be in neither)."""
    text = path.read_text()
    decoded = []
    for line in text.splitlines()[1:]:
        obj = json.loads(line)
        if obj.get("data"):
            decoded.append(base64.b64decode(obj["data"]).decode("latin-1"))
    return text + "\n" + "\n".join(decoded)


@pytest.mark.parametrize("keep", [False, True], ids=["masked", "kept"])
def test_irc_passwords_stay_out_of_recordings_unless_asked(
    reactor: Any, run: Any, tmp_path: Path, keep: bool
) -> None:
    path = tmp_path / "irc.jsonl"
    tracer = trace_module.enable()
    try:
        recorder = trace_module.record(path, tracer, secrets=keep)

        async def scenario() -> None:
            factory, port, listening = serve(reactor, password=SECRET)
            client = await signed_on(reactor, port, "alice", password=SECRET)
            raw = connect(reactor, port, RawClient())
            await raw.made
            # A command split across writes, OPER and SASL too.
            for piece in (b"PA", b"SS :" + SECRET[:5].encode(), SECRET[5:].encode() + b"\r\n",
                          b"OPER admin " + SECRET.encode() + b"\r\n",
                          b"AUTHENTICATE " + base64.b64encode(SECRET.encode()) + b"\r\n"):
                raw.send(piece)
            await raw.register("bob")
            await close_all(client, raw)
            await listening.stopListening()

        run(scenario)
        recorder.close()
    finally:
        trace_module.disable()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    everything = _all_text(path)
    secrets = (SECRET, base64.b64encode(SECRET.encode()).decode())
    if keep:
        assert all(secret in everything for secret in secrets)
    else:
        assert not any(secret in everything for secret in secrets)
        assert "PASS ***" in everything and "OPER ***" in everything
    trace = load(path)
    assert trace.problems == []
    assert len(trace.connections) >= 4  # both sides of both clients


def test_the_redactor_masks_a_secret_split_at_every_byte() -> None:
    stream = b"NICK a\r\n@t=1 :x!y@z pass :" + SECRET.encode() + b"\r\nPRIVMSG #c :PASS is a word\r\n"
    for cut in range(1, len(stream)):
        redactor = Redactor()
        out = b""
        for seq, piece in enumerate((stream[:cut], stream[cut:]), start=1):
            obj = redactor.to_json(ev.BytesIn(seq=seq, conn=1, size=len(piece), data=piece))
            out += base64.b64decode(obj["data"])
        assert out == b"NICK a\r\n@t=1 :x!y@z pass ***\r\nPRIVMSG #c :PASS is a word\r\n", cut


def test_a_flood_of_bad_meta_fields_is_reported_briefly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "flood.jsonl"
    path.write_bytes(HEADER + b'{"meta":{"missed":-1}}\n' * 10_000 + _turns(2))
    trace = _check_opens(path, capsys)
    assert trace is not None and sum(trace.totals().values()) == 2
    assert len(trace.problems) == 21, len(trace.problems)
    assert "9980 more bad header or meta fields ignored" in trace.problems[-1]


@pytest.mark.parametrize("depth", [65, 990, 1981, 20_000])
def test_a_deeply_nested_line_reads_the_same_from_any_stack_depth(tmp_path: Path, depth: int) -> None:
    """Where json.loads gives up on nesting depends on the caller's stack (and on the
    recursion limit, which test runners raise): ``inspector open`` and ``load`` must still
    name the same damage, so a line nested deeper than any event is damage by itself."""
    path = tmp_path / "deep.jsonl"
    path.write_bytes(HEADER + b'{"kind":' + b"[" * depth + b"\n" + _turns(1))

    def load_at(frames: int) -> list[str]:
        return load_at(frames - 1) if frames else load(path).problems

    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(limit + 3000)
        seen = {tuple(load_at(frames)) for frames in (0, 100, 600)}
    finally:
        sys.setrecursionlimit(limit)
    assert seen == {(f"{path}, line 2: not valid JSON (nested too deeply); loaded the 0 events before it "
                     "and ignored the rest",)}, seen
