"""Child processes on every reactor: spawnProcess, ProcessProtocol, the process transport,
inspector.utils, with real children (the Python running the tests, /bin/cat, /bin/sh)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import pytest
from zope.interface.verify import verifyObject

from inspector import error, utils
from inspector.defer import Deferred
from inspector.interfaces import IProcessProtocol, IProcessTransport, IReactorProcess
from inspector.protocol import ProcessProtocol

PY = sys.executable


class Recorder(ProcessProtocol):
    """Keeps everything a child tells; ``ended`` fires with processEnded's exception."""

    def __init__(self, stdin: bytes | None = None, close_stdin: bool = True) -> None:
        self.stdin = stdin
        self.close_stdin = close_stdin
        self.out = bytearray()
        self.err = bytearray()
        self.data: dict[int, bytearray] = {}
        self.events: list[Any] = []
        self.ended: Deferred = Deferred()
        self.pid_at_start: int | None = None
        self.pid_at_end: Any = "unset"

    def connectionMade(self) -> None:
        self.pid_at_start = self.transport.pid
        self.events.append("made")
        if self.stdin is not None:
            self.transport.write(self.stdin)
        if self.close_stdin:
            self.transport.closeStdin()

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.data.setdefault(childFD, bytearray()).extend(data)
        super().childDataReceived(childFD, data)

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def childConnectionLost(self, childFD: int) -> None:
        self.events.append(("lost", childFD))
        super().childConnectionLost(childFD)

    def processExited(self, reason: Any) -> None:
        self.events.append(("exited", type(reason.value).__name__))

    def processEnded(self, reason: Any) -> None:
        self.events.append("ended")
        self.pid_at_end = self.transport.pid
        self.ended.callback(reason.value)  # the exception: a Failure would errback


def spawn(reactor: Any, proto: Any, *argv: str, **kw: Any) -> Any:
    return reactor.spawnProcess(proto, argv[0], list(argv), **kw)


def test_every_reactor_provides_process_interfaces(reactor: Any, run: Any) -> None:
    assert verifyObject(IReactorProcess, reactor)
    assert verifyObject(IProcessProtocol, ProcessProtocol())

    def go() -> Deferred:
        proto = Recorder()
        transport = spawn(reactor, proto, "/bin/cat")
        assert verifyObject(IProcessTransport, transport)
        return proto.ended

    reason = run(go)
    assert isinstance(reason, error.ProcessDone)


def test_python_child_round_trip(reactor: Any, run: Any) -> None:
    code = "import sys; d = sys.stdin.buffer.read(); sys.stdout.buffer.write(d.upper()); sys.stderr.write('warn')"
    proto = Recorder(stdin=b"hello child")

    def go() -> Deferred:
        spawn(reactor, proto, PY, "-c", code, env=None)
        return proto.ended

    reason = run(go)
    assert bytes(proto.out) == b"HELLO CHILD"
    assert bytes(proto.err) == b"warn"
    assert isinstance(reason, error.ProcessDone)
    assert reason.exitCode == 0 and reason.status == 0
    assert proto.pid_at_start and proto.pid_at_end is None
    # processEnded comes last, after processExited and every pipe closing.
    assert proto.events[0] == "made" and proto.events[-1] == "ended"
    assert set(proto.events[1:-1]) == {("lost", 0), ("lost", 1), ("lost", 2), ("exited", "ProcessDone")}


def test_cat_echoes_and_loses_connection(reactor: Any, run: Any) -> None:
    class Cat(Recorder):
        def outReceived(self, data: bytes) -> None:
            self.out += data
            if self.out.endswith(b"three\n"):
                self.transport.closeStdin()

    proto = Cat(stdin=None, close_stdin=False)

    def go() -> Deferred:
        transport = spawn(reactor, proto, "/bin/cat")
        transport.writeSequence([b"one\n", b"two\n", b"three\n"])
        return proto.ended

    run(go)
    assert bytes(proto.out) == b"one\ntwo\nthree\n"


def test_exit_code_is_process_terminated(reactor: Any, run: Any) -> None:
    proto = Recorder()

    def go() -> Deferred:
        spawn(reactor, proto, "/bin/sh", "-c", "exit 3")
        return proto.ended

    reason = run(go)
    assert isinstance(reason, error.ProcessTerminated)
    assert reason.exitCode == 3 and reason.signal is None
    assert ("exited", "ProcessTerminated") in proto.events


def test_signal_kills_child_and_signal_after_exit_raises(reactor: Any, run: Any) -> None:
    proto = Recorder(close_stdin=False)
    transport: list[Any] = []

    def go() -> Deferred:
        t = spawn(reactor, proto, "/bin/cat")
        transport.append(t)
        t.signalProcess("KILL")
        return proto.ended

    reason = run(go)
    assert isinstance(reason, error.ProcessTerminated)
    assert reason.signal == signal.SIGKILL and reason.exitCode is None
    assert transport[0].pid is None
    with pytest.raises(error.ProcessExitedAlready):
        transport[0].signalProcess("TERM")
    with pytest.raises(error.ProcessExitedAlready):
        transport[0].signalProcess(signal.SIGINT)


def test_signal_by_number_and_name(reactor: Any, run: Any) -> None:
    proto = Recorder(close_stdin=False)

    def go() -> Deferred:
        t = spawn(reactor, proto, "/bin/cat")
        with pytest.raises(ValueError):
            t.signalProcess("NOSUCHSIGNAL")
        t.signalProcess(int(signal.SIGTERM))
        return proto.ended

    reason = run(go)
    assert reason.signal == signal.SIGTERM


def test_child_that_never_reads_stdin_keeps_memory_bounded(reactor: Any, run: Any) -> None:
    """10 MB offered through a producer to a child that never reads: the producer is
    paused, and at most a high-water mark and a chunk wait in our buffer."""
    chunk = b"x" * 65536
    state = {"written": 0, "paused": 0, "max_buffer": 0}

    class Producer:
        def __init__(self, transport: Any) -> None:
            self.transport = transport
            self.paused = False

        def pauseProducing(self) -> None:
            self.paused = True
            state["paused"] += 1

        def resumeProducing(self) -> None:
            self.paused = False

        def stopProducing(self) -> None:
            self.paused = True

        def pump(self) -> None:
            while not self.paused and state["written"] < 10 * 1024 * 1024:
                self.transport.write(chunk)
                state["written"] += len(chunk)
                state["max_buffer"] = max(state["max_buffer"], self.transport.getBufferSize())

    proto = Recorder(close_stdin=False)

    def go() -> Deferred:
        t = spawn(reactor, proto, PY, "-c", "import time; time.sleep(60)")
        producer = Producer(t)
        t.registerProducer(producer, True)
        producer.pump()
        # Let the loop turn a few times: nothing drains, the producer stays paused.
        d: Deferred = Deferred()

        def check() -> None:
            producer.pump()
            t.signalProcess("KILL")
            proto.ended.chainDeferred(d)

        reactor.callLater(0.2, check)
        return d

    reason = run(go)
    assert state["paused"] >= 1
    assert state["written"] < 1024 * 1024  # far from the 10 MB asked
    assert state["max_buffer"] <= 64 * 1024 + len(chunk)
    assert reason.signal == signal.SIGKILL


def test_child_writing_5mb_to_stdout(reactor: Any, run: Any) -> None:
    size = 5 * 1024 * 1024
    proto = Recorder()

    def go() -> Deferred:
        spawn(reactor, proto, PY, "-c", f"import sys; sys.stdout.buffer.write(b'a' * {size})", env=None)
        return proto.ended

    run(go, timeout=30)
    assert len(proto.out) == size and proto.out.count(b"a") == size


def test_missing_executable_raises_at_once(reactor: Any) -> None:
    """As Twisted: spawnProcess raises OSError (FileNotFoundError), nothing is leaked."""
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):
        reactor.spawnProcess(Recorder(), "/nonexistent/program", ["program"])
    with pytest.raises(FileNotFoundError):
        reactor.spawnProcess(Recorder(), "/nonexistent/program", ["program"], path="/")
    assert len(os.listdir("/proc/self/fd")) == before
    assert reactor.getReaders() == [] and reactor.getWriters() == []


def test_bad_childfds_are_refused(reactor: Any) -> None:
    with pytest.raises(ValueError, match="childFDs"):
        reactor.spawnProcess(Recorder(), "/bin/cat", ["cat"], childFDs={0: "w", 1: "x"})
    with pytest.raises(ValueError, match="usePTY"):
        reactor.spawnProcess(Recorder(), "/bin/cat", ["cat"], usePTY=True, childFDs={0: "w"})


def test_env_is_exactly_what_is_given_and_path_is_the_cwd(reactor: Any, run: Any, tmp_path: Any) -> None:
    code = "import os, sys; sys.stdout.write(repr(sorted(os.environ.items())) + '|' + os.getcwd())"
    empty, given, cwd = Recorder(), Recorder(), Recorder()

    def go() -> Deferred:
        spawn(reactor, empty, PY, "-c", code)  # env defaults to {} (Twisted: an empty environment)
        spawn(reactor, given, PY, "-c", code, env={"ONLY": "this", b"RAW": b"bytes"})
        spawn(reactor, cwd, PY, "-c", code, env={"X": "1"}, path=str(tmp_path))
        from inspector.defer import gatherResults

        return gatherResults([empty.ended, given.ended, cwd.ended])

    run(go)

    def parse(proto: Recorder) -> tuple[list, str]:
        env_text, _, where = bytes(proto.out).decode().partition("|")
        return [pair for pair in eval(env_text) if pair[0] != "LC_CTYPE"], where  # noqa: S307

    assert parse(empty)[0] == []
    assert parse(given)[0] == [("ONLY", "this"), ("RAW", "bytes")]
    assert parse(given)[1] == os.getcwd()
    assert parse(cwd) == ([("X", "1")], str(tmp_path))


def test_child_fds_with_extra_descriptor(reactor: Any, run: Any) -> None:
    code = ("import os; os.write(3, b'on three'); os.close(3); "
            "os.write(1, os.read(4, 100))")
    proto = Recorder(close_stdin=False)

    def go() -> Deferred:
        t = reactor.spawnProcess(proto, PY, [PY, "-c", code], childFDs={1: "r", 3: "r", 4: "w"})
        t.writeToChild(4, b"via four")
        t.closeChildFD(4)
        with pytest.raises(KeyError):
            t.writeToChild(7, b"nothing there")
        return proto.ended

    run(go)
    assert bytes(proto.data[3]) == b"on three"
    assert bytes(proto.out) == b"via four"
    assert ("lost", 3) in proto.events and ("lost", 4) in proto.events


def test_child_fd_mapped_to_one_of_ours(reactor: Any, run: Any, tmp_path: Any) -> None:
    target = tmp_path / "out.txt"
    proto = Recorder()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT)
    try:
        def go() -> Deferred:
            reactor.spawnProcess(proto, "/bin/sh", ["sh", "-c", "echo redirected"], childFDs={0: "w", 1: fd, 2: "r"})
            return proto.ended

        run(go)
    finally:
        os.close(fd)
    assert target.read_bytes() == b"redirected\n"


def test_pty(reactor: Any, run: Any) -> None:
    proto = Recorder(close_stdin=False)
    code = "import os, sys; sys.stdout.write(str(os.isatty(0)) + ' ' + input())"

    def go() -> Deferred:
        t = spawn(reactor, proto, PY, "-c", code, usePTY=True)
        t.write(b"typed\n")
        return proto.ended

    run(go)
    assert b"True typed" in bytes(proto.out)


def test_exception_in_protocol_is_logged_and_process_still_ends(reactor: Any, run: Any, caplog: Any) -> None:
    class Broken(Recorder):
        def outReceived(self, data: bytes) -> None:
            raise RuntimeError("boom in outReceived")

    proto = Broken()

    def go() -> Deferred:
        spawn(reactor, proto, "/bin/sh", "-c", "echo hi")
        return proto.ended

    run(go)
    assert "boom in outReceived" in caplog.text


def test_exit_is_noticed_without_a_sigchld_handler(reactor: Any, run: Any) -> None:
    proto = Recorder()

    def go() -> Deferred:
        assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL
        spawn(reactor, proto, "/bin/sh", "-c", "exit 0")
        return proto.ended

    run(go)
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


def test_end_is_reported_while_something_else_keeps_the_childs_stdin_open(reactor: Any, run: Any) -> None:
    """The child exits; what it started keeps its standard input (a background job, or, in
    the suite, another thread of this process still polling a descriptor number the pipe
    took over). The child's end is reported anyway: only its output is worth waiting for."""
    proto = Recorder(close_stdin=False)
    script = "exec 3<&0; sleep 30 <&3 >/dev/null 2>&1 & echo $!; exit 3"

    def go() -> Deferred:
        spawn(reactor, proto, "/bin/sh", "-c", script)
        return proto.ended

    try:
        reason = run(go)
    finally:
        if proto.out.strip().isdigit():
            try:
                os.kill(int(proto.out), signal.SIGKILL)  # the background job
            except ProcessLookupError:
                pass
    assert reason.exitCode == 3
    assert proto.events[-1] == "ended"
    assert sorted(map(str, proto.events[1:-1])) == ["('exited', 'ProcessTerminated')", "('lost', 0)", "('lost', 1)",
                                                    "('lost', 2)"], proto.events


def test_waitpid_polling_fallback(reactor: Any, run: Any, monkeypatch: Any) -> None:
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    proto = Recorder()

    def go() -> Deferred:
        spawn(reactor, proto, "/bin/sh", "-c", "exit 5")
        return proto.ended

    assert run(go).exitCode == 5


# ------------------------------------------------------------------------ utils


def test_get_process_output(reactor: Any, run: Any) -> None:
    from inspector.defer import gatherResults

    out, both = run(lambda: gatherResults([
        utils.getProcessOutput("/bin/sh", ["-c", "echo out; exit 2"], reactor=reactor),
        utils.getProcessOutput("/bin/sh", ["-c", "echo out; echo err >&2"], reactor=reactor, errortoo=True),
    ]))
    assert out == b"out\n"
    assert sorted(both.split()) == [b"err", b"out"]


def test_get_process_output_fails_on_stderr(reactor: Any, run: Any) -> None:
    def go() -> Deferred:
        d = utils.getProcessOutput("/bin/sh", ["-c", "echo err >&2; sleep 0.1"], reactor=reactor)
        result: Deferred = Deferred()

        def failed(f: Any) -> None:
            f.value.processEnded.addErrback(lambda ended: result.callback((f.value, ended)))

        d.addCallbacks(lambda out: result.errback(AssertionError(f"no error: {out!r}")), failed)
        return result

    exc, ended = run(go)
    assert isinstance(exc, IOError) and "got stderr" in str(exc) and "err" in str(exc)
    assert ended.check(error.ProcessDone, error.ProcessTerminated)


def test_get_process_value_and_output_and_value(reactor: Any, run: Any) -> None:
    from inspector.defer import gatherResults

    code, result = run(lambda: gatherResults([
        utils.getProcessValue("/bin/sh", ["-c", "exit 7"], reactor=reactor),
        utils.getProcessOutputAndValue("/bin/sh", ["-c", "cat; echo e >&2; exit 1"], reactor=reactor,
                                       stdinBytes=b"in"),
    ]))
    assert code == 7
    assert result == (b"in", b"e\n", 1)


def test_get_process_output_and_value_on_signal(reactor: Any, run: Any) -> None:
    with pytest.raises(utils.ProcessOutputSignalled) as info:
        run(lambda: utils.getProcessOutputAndValue("/bin/sh", ["-c", "echo partial; kill -9 $$"], reactor=reactor))
    out, err, signum = info.value
    assert out == b"partial\n" and err == b"" and signum == signal.SIGKILL


def test_traced_as_a_connection(reactor: Any, run: Any) -> None:
    """The trace sees the child as a client connection of kind 'process' (its command
    line as the peer), stdin as bytes out, stdout and stderr as bytes in (stderr's also
    as a message of kind 'stderr'), and its end."""
    from inspector import trace as trace_module
    from inspector.trace import events as ev

    proto = Recorder(stdin=b"to stdin")
    tracer = trace_module.enable()
    try:
        def go() -> Deferred:
            spawn(reactor, proto, "/bin/sh", "-c", "cat; echo oops >&2; exit 4")
            return proto.ended

        run(go)
        tracer.sync()
        events = tracer.trace.events()
    finally:
        trace_module.disable()
    opened = next(e for e in events if isinstance(e, ev.ConnectionOpened) and e.transport == "process")
    assert opened.role == "client" and opened.protocol == "Recorder" and "/bin/sh -c cat" in opened.peer
    mine = [e for e in events if getattr(e, "conn", None) == opened.conn]
    assert b"".join(e.data for e in mine if isinstance(e, ev.BytesOut)) == b"to stdin"
    assert sorted(e.data for e in mine if isinstance(e, ev.BytesIn)) == [b"oops\n", b"to stdin"]
    # stderr is told from stdout: a "stderr" message quotes it; stdout has none.
    assert [(e.message_kind, e.text, e.direction) for e in mine if isinstance(e, ev.ProtocolMessage)] == [
        ("stderr", "oops", "in")]
    closed = next(e for e in mine if isinstance(e, ev.ConnectionClosed))
    assert closed.reason_type == "ProcessTerminated"


def test_process_endpoint(reactor: Any, run: Any) -> None:
    """ProcessEndpoint runs a stream protocol over a child: stdin/stdout as its bytes,
    exit code 0 as ConnectionDone, another as ProcessTerminated."""
    from inspector.endpoints import ProcessEndpoint, connectProtocol
    from inspector.protocol import Protocol

    class Upper(Protocol):
        def __init__(self) -> None:
            self.got = bytearray()
            self.lost: Deferred = Deferred()

        def connectionMade(self) -> None:
            self.transport.write(b"abc")
            self.transport.closeStdin()

        def dataReceived(self, data: bytes) -> None:
            self.got += data

        def connectionLost(self, reason: Any) -> None:
            self.lost.callback(reason.value)

    async def go() -> Any:
        ok = await connectProtocol(ProcessEndpoint(reactor, "/usr/bin/tr", ["tr", "a-z", "A-Z"]), Upper())
        bad = await connectProtocol(ProcessEndpoint(reactor, "/bin/sh", ["sh", "-c", "exit 9"]), Upper())
        return ok, await ok.lost, bad, await bad.lost

    ok, ok_reason, bad, bad_reason = run(go)
    assert bytes(ok.got) == b"ABC"
    assert type(ok_reason) is error.ConnectionDone
    assert isinstance(bad_reason, error.ProcessTerminated) and bad_reason.exitCode == 9
    from inspector.protocol import Factory

    failed: list[Any] = []
    ProcessEndpoint(reactor, "/nonexistent/x").connect(Factory.forProtocol(Upper)).addErrback(failed.append)
    assert failed and failed[0].check(FileNotFoundError)
