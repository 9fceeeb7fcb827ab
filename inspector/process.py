"""Child processes: spawning, the pipes to them, and noticing when they end.

Shared by every reactor, which only watches descriptors: each pipe to the child is a
non-blocking descriptor watched like a socket, and the child's exit is noticed through
a pidfd (Linux >= 5.3) that becomes readable when the child exits, so no SIGCHLD
handler is installed (none can race Qt's or asyncio's). Where pidfds are missing, a
timer asks ``waitpid`` every ``Process.poll_interval`` seconds instead.

Spawning uses ``posix_spawnp`` (thread-safe: the window's threads cannot deadlock the
child) and, when a working directory, uid or gid is asked, ``subprocess.Popen``'s C
fork/exec; both report a missing executable at once with OSError, as Twisted does.
Behaviour follows Twisted's ``twisted.internet.process``: ``processExited`` when the
child is reaped, ``processEnded`` once it is reaped AND every pipe has closed. Unlike
Twisted, the pipes only we write to (stdin) are closed when the child is reaped, so
``processEnded`` waits for the child's output only, not for whoever else (a job the child
left running, another thread) still holds the far end of its stdin.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import logging
import os
import signal
import subprocess
from typing import Any, Mapping, Sequence

from zope.interface import implementer

from inspector import error
from inspector.failure import Failure
from inspector.helpers import describe_callable, written_bytes
from inspector.interfaces import IAddress, IConsumer, IProcessTransport, IPushProducer, ReactorLike
from inspector.writebuffer import WriteBuffer

log = logging.getLogger("inspector.process")
# A TraceHooks (the contract in inspector/hooks.py) while tracing is on, else None;
# every hook call is one line: `if _tracer is not None: _tracer.hook(...)`.
_tracer = None
#: Bytes of a stderr chunk quoted in its trace message (the bytes-in event has them all).
_QUOTED = 1024


def _stream_kind(child_fd: int) -> str:
    """The trace's name for what the child writes on ``child_fd`` (not stdout)."""
    return "stderr" if child_fd == 2 else f"fd {child_fd}"


__all__ = ["Process", "ProcessAddress", "spawn_process"]

#: Signal names ``signalProcess`` takes besides numbers (any other ``SIG*`` name works too).
_SIGNAL_NAMES = ("HUP", "STOP", "INT", "KILL", "TERM")


@implementer(IAddress)
class ProcessAddress:
    """What the trace and the window show as a process's peer: its pid and command line."""

    def __init__(self, pid: int | None, command: str) -> None:
        self.pid = pid
        self.command = command

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.command}" if self.pid is not None else self.command

    def __repr__(self) -> str:
        return f"ProcessAddress({self.pid!r}, {self.command!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProcessAddress) and (self.pid, self.command) == (other.pid, other.command)

    def __hash__(self) -> int:
        return hash((self.pid, self.command))


def _call_logged(what: str, func: Any, *args: Any) -> None:
    """Call a user callback; log it with its traceback instead of raising."""
    try:
        func(*args)
    except Exception:
        log.error("Error in %s %s", what, describe_callable(func), exc_info=True)


def _fsencode(value: Any, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return os.fsencode(value)
    if isinstance(value, os.PathLike):
        return os.fsencode(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


# ----------------------------------------------------------------------- the pipes


class _Pipe(WriteBuffer):
    """Our end of one pipe to the child (or of its pseudo-terminal).

    ``reads``: the child writes, we read and hand the bytes to the process. Otherwise we
    write: bytes go out at once while nothing is buffered, the rest waits until the pipe
    is writable; past ``high_water`` buffered bytes a registered producer is paused.
    A write end is watched for readability too: it turns readable only when the child
    closed its end, which is how we notice a child closing its stdin before we write.
    """

    read_size = 65536

    def __init__(self, process: "Process", child_fd: int, fd: int, reads: bool, writes: bool) -> None:
        self.process = process
        self.reactor = process.reactor
        self.child_fd = child_fd
        self.fd = fd
        self.reads = reads
        self.writes = writes
        os.set_blocking(fd, False)
        self._send = functools.partial(os.write, fd)
        self._buffer = bytearray()
        self._writing = False
        self._reading = False
        self.disconnecting = False
        self.lost = False
        self.producer: Any = None
        self.streamingProducer = False
        self.producerPaused = False

    def fileno(self) -> int:
        return self.fd if not self.lost else -1

    def start(self) -> None:
        """Begin watching: readability always (data, or the child's hang-up)."""
        if not self.lost:
            self._reading = True
            self.reactor.addReader(self)
            if self._buffer:
                self._start_writing()

    def pause_reading(self) -> None:
        if self.reads and self._reading and not self.lost:
            self._reading = False
            self.reactor.removeReader(self)

    def resume_reading(self) -> None:
        if self.reads and not self._reading and not self.lost and not self.disconnecting:
            self._reading = True
            self.reactor.addReader(self)

    def _start_writing(self) -> None:
        if not self._writing and not self.lost:
            self._writing = True
            self.reactor.addWriter(self)

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            self.reactor.removeWriter(self)

    def doRead(self) -> BaseException | None:
        """Read what the child wrote; or, on a write end, learn the child closed its end."""
        if not self.reads:
            return error.ConnectionLost("the child closed its end of the pipe")
        try:
            data = os.read(self.fd, self.read_size)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if exc.errno == errno.EIO:  # a pseudo-terminal whose child side is all closed
                return error.ConnectionDone()
            return error.ConnectionLost(exc)
        if not data:
            return error.ConnectionDone()
        self.process._received(self.child_fd, data)
        return None

    # doWrite (send what is buffered, finish a pending close once drained) is WriteBuffer's.

    def write(self, data: bytes) -> None:
        if not data or self.lost or self.disconnecting:
            return
        buf = self._buffer
        if buf:
            buf += data
        else:
            try:
                sent = os.write(self.fd, data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # broken: the buffered write fails in doWrite and drops the pipe
            if sent == len(data):
                return
            buf += memoryview(data)[sent:]
            self._start_writing()
        if len(buf) > self.high_water:
            producer = self.producer
            if producer is not None and self.streamingProducer and not self.producerPaused:
                self.producerPaused = True
                producer.pauseProducing()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        if self.producer is not None:
            raise RuntimeError(f"the child's stdin already has a producer ({self.producer!r})")
        if self.lost:
            producer.stopProducing()
            return
        self.producer = producer
        self.streamingProducer = bool(streaming)
        if not streaming:
            self._start_writing()  # doWrite asks the pull producer for data

    def unregisterProducer(self) -> None:
        self.producer = None
        self.producerPaused = False
        if self.disconnecting and not self._buffer:
            self._start_writing()  # a close waited for the producer: finish it

    def loseConnection(self) -> None:
        """Close once everything written has been sent."""
        if self.lost or self.disconnecting:
            return
        self.disconnecting = True
        if self.writes and (self._buffer or (self.producer is not None and not self.streamingProducer)):
            self._start_writing()
            return
        self.pause_reading()
        self.reactor.callLater(0, self._close_now)

    def _close_now(self) -> None:
        if not self.lost:
            self.connectionLost(Failure(error.ConnectionDone()))

    def connectionLost(self, reason: Failure) -> None:
        """Close our end (once) and tell the process which child descriptor is gone."""
        if self.lost:
            return
        self.lost = True
        self._reading = self._writing = False
        self.reactor._forget(self)
        try:
            os.close(self.fd)
        except OSError:  # pragma: no cover
            pass
        self._buffer = bytearray()
        producer, self.producer = self.producer, None
        if producer is not None:
            _call_logged("producer", producer.stopProducing)
        self.process._pipe_lost(self.child_fd, reason)

    def __repr__(self) -> str:
        return f"<pipe to fd {self.child_fd} of {self.process!r}>"


class _ExitWatcher:
    """A pidfd that turns readable when the child exits: the process is then reaped."""

    def __init__(self, process: "Process", pidfd: int) -> None:
        self.process = process
        self.pidfd = pidfd
        self.closed = False

    def fileno(self) -> int:
        return self.pidfd if not self.closed else -1

    def doRead(self) -> None:
        self.process._try_reap()
        return None

    def doWrite(self) -> None:
        return None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.process.reactor._forget(self)
            os.close(self.pidfd)

    def connectionLost(self, reason: Failure) -> None:
        """The reactor shut down: stop watching (the child is left running, as Twisted does)."""
        self.close()


# ---------------------------------------------------------------------- spawning


def _plan_child_fds(childFDs: Mapping[int, Any]) -> tuple[dict[int, int], dict[int, tuple[int, str]]]:
    """Make the pipes ``childFDs`` asks for.

    Returns (child fd -> parent descriptor the child gets there, child fd -> (our end,
    'r' or 'w')). Descriptors made here are closed again if a later entry is invalid.
    """
    fdmap: dict[int, int] = {}
    ours: dict[int, tuple[int, str]] = {}
    made: list[int] = []
    try:
        for child_fd, target in childFDs.items():
            if isinstance(child_fd, bool) or not isinstance(child_fd, int) or child_fd < 0:
                raise ValueError(f"childFDs keys must be descriptor numbers >= 0, got {child_fd!r}")
            if target == "r":  # the child writes, we read
                read_end, write_end = os.pipe()
                made += (read_end, write_end)
                fdmap[child_fd], ours[child_fd] = write_end, (read_end, "r")
            elif target == "w":  # we write, the child reads
                read_end, write_end = os.pipe()
                made += (read_end, write_end)
                fdmap[child_fd], ours[child_fd] = read_end, (write_end, "w")
            elif isinstance(target, int) and not isinstance(target, bool):
                os.fstat(target)  # OSError(EBADF) now rather than a half-started child
                fdmap[child_fd] = target
            else:
                raise ValueError(f"childFDs[{child_fd}] must be 'r', 'w' or a descriptor number, got {target!r}")
    except BaseException:
        for fd in made:
            os.close(fd)
        raise
    return fdmap, ours


def _reset_signals() -> list[int]:
    """Signals we ignore, which a child would inherit ignored (SIGPIPE above all)."""
    ignored: list[int] = []
    for signum in signal.valid_signals():
        try:
            if signal.getsignal(signum) is signal.SIG_IGN:
                ignored.append(int(signum))
        except (ValueError, OSError):  # pragma: no cover
            pass
    if signal.SIGPIPE not in ignored:
        ignored.append(int(signal.SIGPIPE))  # Python ignores it at the C level: getsignal does not say
    return ignored


def _spawn_posix(executable: bytes, argv: list[bytes], env: Any, fdmap: dict[int, int],
                 tty_name: str | None) -> int:
    """``posix_spawnp`` with the descriptors of ``fdmap`` at their child numbers."""
    actions: list[tuple] = []
    temps: list[int] = []
    try:
        if tty_name is not None:  # setsid first, so opening the terminal makes it the controlling one
            actions.append((os.POSIX_SPAWN_OPEN, 0, tty_name, os.O_RDWR, 0))
            actions.append((os.POSIX_SPAWN_DUP2, 0, 1))
            actions.append((os.POSIX_SPAWN_DUP2, 0, 2))
        else:
            # Copies above every child number, close-on-exec: dup2 onto the child numbers
            # cannot clobber a source, and the copies vanish at exec.
            floor = max(fdmap, default=2) + 1
            for child_fd, parent_fd in sorted(fdmap.items()):
                temp = fcntl.fcntl(parent_fd, fcntl.F_DUPFD_CLOEXEC, floor)
                temps.append(temp)
                actions.append((os.POSIX_SPAWN_DUP2, temp, child_fd))
            for std in (0, 1, 2):  # a standard descriptor not asked for is closed, as in Twisted
                if std not in fdmap and _is_open(std):
                    actions.append((os.POSIX_SPAWN_CLOSE, std))
        return os.posix_spawnp(executable, argv, env, file_actions=actions,
                               setsigdef=_reset_signals(), setsid=tty_name is not None)
    finally:
        for temp in temps:
            os.close(temp)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _spawn_popen(executable: bytes, argv: list[bytes], env: Any, path: Any, uid: Any, gid: Any,
                 fdmap: dict[int, int], new_session: bool) -> subprocess.Popen:
    """``subprocess.Popen`` (C fork/exec) for a working directory, uid or gid."""
    extra = {child: parent for child, parent in fdmap.items() if child > 2}
    if any(child != parent for child, parent in extra.items()):
        raise ValueError("childFDs beyond 0, 1 and 2 cannot be combined with path, uid or gid "
                         "(only a descriptor passed under its own number can)")
    return subprocess.Popen(
        argv, executable=executable, env=env, cwd=path, user=uid, group=gid,
        stdin=fdmap.get(0, subprocess.DEVNULL), stdout=fdmap.get(1, subprocess.DEVNULL),
        stderr=fdmap.get(2, subprocess.DEVNULL), pass_fds=tuple(extra), close_fds=True,
        start_new_session=new_session,
    )


# ---------------------------------------------------------------------- transport


@implementer(IProcessTransport, IConsumer, IPushProducer)
class Process:
    """A running child process: the transport its ProcessProtocol talks to.

    ``pipes`` maps each child descriptor we read or write to our end of its pipe.
    ``write`` goes to the child's stdin (lost silently if it has none, as in Twisted);
    a producer registered here feeds stdin and is paused while more than
    ``_Pipe.high_water`` bytes wait, so a child that does not read cannot grow our
    memory without bound. Pausing the process stops reading its output.
    """

    #: Seconds between ``waitpid`` polls where pidfds are missing.
    poll_interval = 0.1

    def __init__(self, reactor: ReactorLike, processProtocol: Any, executable: Any, args: Sequence[Any] = (),
                 env: Mapping[Any, Any] | None = None, path: Any = None, uid: int | None = None,
                 gid: int | None = None, usePTY: bool = False,
                 childFDs: Mapping[int, Any] | None = None) -> None:
        self.reactor = reactor
        self.proto = processProtocol
        self.pid: int | None = None
        self.status: int | None = -1
        self.pipes: dict[int, _Pipe] = {}
        self.lostProcess = False
        self.usePTY = bool(usePTY)
        self._ended = False
        self._watcher: _ExitWatcher | None = None
        self._poll_call: Any = None
        self._popen: subprocess.Popen | None = None
        self._exit_reason: BaseException | None = None
        if usePTY and childFDs is not None:
            raise ValueError("childFDs cannot be used with usePTY=True")
        exe = _fsencode(executable, "executable")
        argv = [_fsencode(a, "each argument") for a in args] or [exe]
        environment: Mapping[Any, Any] = os.environ if env is None else {
            _fsencode(k, "env keys"): _fsencode(v, "env values") for k, v in env.items()}
        self._command = " ".join(os.fsdecode(a) for a in argv)
        if self.usePTY:
            self._spawn_pty(exe, argv, environment, path, uid, gid)
        else:
            self._spawn_pipes(exe, argv, environment, path, uid, gid,
                              {0: "w", 1: "r", 2: "r"} if childFDs is None else childFDs)
        if _tracer is not None: _tracer.connection_opened(self, "client", "process")
        if self.proto is not None:
            _call_logged("makeConnection of", self.proto.makeConnection, self)
        for pipe in list(self.pipes.values()):
            pipe.start()
        self._watch_exit()

    # ------------------------------------------------------------ spawning

    def _spawn_pipes(self, exe: bytes, argv: list[bytes], env: Any, path: Any, uid: Any, gid: Any,
                     childFDs: Mapping[int, Any]) -> None:
        fdmap, ours = _plan_child_fds(childFDs)
        try:
            if path is None and uid is None and gid is None:
                self.pid = _spawn_posix(exe, argv, env, fdmap, None)
            else:
                self._popen = _spawn_popen(exe, argv, env, path, uid, gid, fdmap, False)
                self.pid = self._popen.pid
        except BaseException:
            for end, _ in ours.values():
                os.close(end)
            for child_fd in ours:
                os.close(fdmap[child_fd])
            raise
        for child_fd, (end, mode) in ours.items():
            os.close(fdmap[child_fd])  # the child's end: only the child keeps it now
            self.pipes[child_fd] = _Pipe(self, child_fd, end, reads=mode == "r", writes=mode == "w")

    def _spawn_pty(self, exe: bytes, argv: list[bytes], env: Any, path: Any, uid: Any, gid: Any) -> None:
        import pty

        master, slave = pty.openpty()
        try:
            if path is None and uid is None and gid is None:
                self.pid = _spawn_posix(exe, argv, env, {}, os.ttyname(slave))
            else:
                self._popen = _spawn_popen(exe, argv, env, path, uid, gid, {0: slave, 1: slave, 2: slave}, True)
                self.pid = self._popen.pid
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        # One descriptor both ways: the child's output arrives as fd 1, writes go in as fd 0.
        self.pipes[0] = _Pipe(self, 0, master, reads=True, writes=True)

    def _watch_exit(self) -> None:
        """Watch a pidfd for the child's exit; poll waitpid where there is none."""
        assert self.pid is not None
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            try:
                pidfd = pidfd_open(self.pid)
            except OSError as exc:
                if exc.errno == errno.ESRCH:  # gone (reaped elsewhere): find out now
                    self._try_reap()
                    if self.lostProcess:
                        return
            else:
                os.set_inheritable(pidfd, False)
                self._watcher = _ExitWatcher(self, pidfd)
                self.reactor.addReader(self._watcher)
                return
        self._poll_call = self.reactor.callLater(self.poll_interval, self._poll)

    def _poll(self) -> None:
        self._poll_call = None
        self._try_reap()
        if not self.lostProcess:
            self._poll_call = self.reactor.callLater(self.poll_interval, self._poll)

    def _try_reap(self) -> None:
        """Reap the child if it has exited (never blocks)."""
        if self.lostProcess or self.pid is None:
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            log.warning("child process %d was reaped by someone else; its exit status is unknown", self.pid)
            self._exited(None)
            return
        if pid:
            self._exited(status)

    # -------------------------------------------------------------- endings

    @staticmethod
    def _reason(status: int | None) -> BaseException:
        """ProcessDone for exit code 0, else ProcessTerminated (code or signal), as Twisted."""
        if status is None:
            return error.ProcessTerminated(None, None, None)
        code = sig = None
        if os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
        if code or sig:
            return error.ProcessTerminated(code, sig, status)
        return error.ProcessDone(status)

    def _exited(self, status: int | None) -> None:
        self.lostProcess = True
        self.status = status
        if self._popen is not None:  # it must not reap (or warn about) what we reaped
            self._popen.returncode = os.waitstatus_to_exitcode(status) if status is not None else -1
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        if self._poll_call is not None and self._poll_call.active():
            self._poll_call.cancel()
        self._poll_call = None
        self.pid = None
        self._exit_reason = reason = self._reason(status)
        if self.proto is not None:
            _call_logged("processExited of", self.proto.processExited, Failure(reason))
        self._close_write_pipes()
        self._maybe_ended()

    def _close_write_pipes(self) -> None:
        """The child is reaped: close the pipes only we write to (after sending what waits).

        Their far end now stays open only in someone else's hands -- a job the child left
        running, or any other holder of that descriptor -- so waiting for it to close would
        hold ``processEnded`` back for as long as they live, for nothing: the child's output
        (what ``processEnded`` waits for) comes through the pipes it writes to.
        """
        for pipe in list(self.pipes.values()):
            if pipe.writes and not pipe.reads:
                pipe.loseConnection()

    def _pipe_lost(self, child_fd: int, reason: Failure) -> None:
        self.pipes.pop(child_fd, None)
        if self.proto is not None and not self.usePTY:
            _call_logged("childConnectionLost of", self.proto.childConnectionLost, child_fd)
        if not self.pipes and not self.lostProcess:
            self._try_reap()  # the child closed everything: it has likely exited
        self._maybe_ended()

    def _maybe_ended(self) -> None:
        """processEnded once the child is reaped and every pipe is closed."""
        if self._ended or self.pipes or not self.lostProcess:
            return
        self._ended = True
        reason = self._exit_reason
        assert reason is not None
        if _tracer is not None: _tracer.connection_closed(self, reason)
        proto, self.proto = self.proto, None
        if proto is not None:
            _call_logged("processEnded of", proto.processEnded, Failure(reason))

    def _received(self, child_fd: int, data: bytes) -> None:
        if _tracer is not None: _tracer.bytes_in(self, data)
        if child_fd != 1 and not self.usePTY:
            self._name_stream(child_fd, data)
        if self.proto is not None:
            self.proto.childDataReceived(1 if self.usePTY else child_fd, data)

    def _name_stream(self, child_fd: int, data: bytes) -> None:
        """Bytes in from stderr (or another child fd) are followed in the trace by a message
        of kind ``stderr`` (``fd N``) quoting them, so the window tells them from stdout."""
        if _tracer is not None: _tracer.message(self.proto, _stream_kind(child_fd), data[:_QUOTED], "in")

    # ------------------------------------------------------------- writing

    def writeToChild(self, childFD: int, data: bytes) -> None:
        """Write ``data`` to the pipe the child reads as ``childFD``; KeyError if none."""
        pipe = self.pipes[childFD]
        if not pipe.writes:
            raise KeyError(childFD)
        if type(data) is not bytes:
            data = written_bytes(data)
        if _tracer is not None: _tracer.bytes_out(self, data)
        pipe.write(data)

    def write(self, data: bytes) -> None:
        """Write ``data`` to the child's stdin (lost if stdin is closed, as in Twisted)."""
        if type(data) is not bytes:
            data = written_bytes(data)
        pipe = self.pipes.get(0)
        if pipe is not None and pipe.writes:
            if _tracer is not None: _tracer.bytes_out(self, data)
            pipe.write(data)

    def writeSequence(self, seq: Sequence[bytes]) -> None:
        """Write each bytes object of ``seq`` to the child's stdin, in order."""
        self.write(b"".join(c if type(c) is bytes else written_bytes(c) for c in seq))

    def getBufferSize(self) -> int:
        """How many bytes written to stdin still wait to be sent."""
        pipe = self.pipes.get(0)
        return len(pipe._buffer) if pipe is not None else 0

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Feed the child's stdin from ``producer``; stopped at once if stdin is closed."""
        pipe = self.pipes.get(0)
        if pipe is None or not pipe.writes:
            producer.stopProducing()
            return
        pipe.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        """Stop feeding stdin from the registered producer."""
        pipe = self.pipes.get(0)
        if pipe is not None:
            pipe.unregisterProducer()

    # ------------------------------------------------------------- closing

    def closeChildFD(self, descriptor: int) -> None:
        """Close our end of the pipe joined to ``descriptor`` (after flushing a write end)."""
        if self.usePTY:
            raise NotImplementedError("a pseudo-terminal has no separate descriptors; use loseConnection()")
        pipe = self.pipes.get(descriptor)
        if pipe is not None:
            pipe.loseConnection()

    def closeStdin(self) -> None:
        """Close the child's stdin once what was written has been sent (the child sees EOF)."""
        if not self.usePTY:  # a pseudo-terminal has one descriptor both ways, as in Twisted
            self.closeChildFD(0)

    def closeStdout(self) -> None:
        """Close the pipe from the child's stdout."""
        if not self.usePTY:
            self.closeChildFD(1)

    def closeStderr(self) -> None:
        """Close the pipe from the child's stderr."""
        if not self.usePTY:
            self.closeChildFD(2)

    def loseConnection(self) -> None:
        """Close stdin (after flushing), stdout and stderr; the child runs on."""
        if self.usePTY:
            pipe = self.pipes.get(0)
            if pipe is not None:
                pipe.loseConnection()
            return
        self.closeStdin()
        self.closeStderr()
        self.closeStdout()

    def signalProcess(self, signalID: str | int) -> None:
        """Send ``signalID`` ('TERM', 'KILL', 'INT', 'HUP', 'STOP', another name or a number)."""
        if isinstance(signalID, str):
            name = signalID.upper()
            name = name if name.startswith("SIG") else "SIG" + name
            try:
                signum = int(signal.Signals[name])
            except KeyError:
                raise ValueError(f"unknown signal {signalID!r}") from None
        elif isinstance(signalID, int) and not isinstance(signalID, bool):
            signum = signalID
        else:
            raise TypeError(f"signalID must be a signal name or number, not {type(signalID).__name__}")
        if self.pid is None:
            raise error.ProcessExitedAlready()
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            raise error.ProcessExitedAlready() from None

    # ----------------------------------------- producer (pausing the child's output)

    def pauseProducing(self) -> None:
        """Stop reading the child's output (it blocks once the pipes fill)."""
        for pipe in self.pipes.values():
            pipe.pause_reading()

    def resumeProducing(self) -> None:
        """Read the child's output again."""
        for pipe in self.pipes.values():
            pipe.resume_reading()

    def stopProducing(self) -> None:
        """Close every pipe (the child runs on)."""
        self.loseConnection()

    # ------------------------------------------------------------ addresses

    def getPeer(self) -> ProcessAddress:
        """The child: its pid (None once reaped) and command line."""
        return ProcessAddress(self.pid, self._command)

    def getHost(self) -> ProcessAddress:
        """This process (the parent)."""
        return ProcessAddress(os.getpid(), "this process")

    @property
    def protocol(self) -> Any:
        """The ProcessProtocol (None once processEnded ran), named as a stream transport's."""
        return self.proto

    def __repr__(self) -> str:
        state = "running" if not self.lostProcess else "exited"
        return f"<Process pid={self.pid} {self._command!r} {state}>"


def spawn_process(reactor: ReactorLike, processProtocol: Any, executable: Any, args: Sequence[Any] = (),
                  env: Mapping[Any, Any] | None = {}, path: Any = None,  # noqa: B006 - Twisted's default
                  uid: int | None = None, gid: int | None = None, usePTY: bool = False,
                  childFDs: Mapping[int, Any] | None = None) -> Process:
    """Start a child process on ``reactor`` (what ``reactor.spawnProcess`` does).

    ``env`` is the child's whole environment: {} (the default) an empty one, None ours,
    as in Twisted on POSIX. A missing executable raises FileNotFoundError here.
    """
    if processProtocol is not None and not hasattr(processProtocol, "makeConnection"):
        raise TypeError(f"processProtocol must be a ProcessProtocol, got {processProtocol!r}")
    return Process(reactor, processProtocol, executable, args, env, path, uid, gid, usePTY, childFDs)
