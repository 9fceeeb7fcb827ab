"""The "Process" client entry: run a command and talk to it over its standard pipes.

The child's stdout (and its stderr, marked "stderr: ") arrives line by line as the
handle's output; each typed line goes to its stdin, and the end of typed input closes
stdin. The child is spawned with ``reactor.spawnProcess``, so the trace shows it as a
connection of kind "process" whose peer is "pid N: command".
"""

from __future__ import annotations

import os
import shlex
import signal
from typing import TYPE_CHECKING, Any

from inspector.catalog.handles import ClientHandle, Handle
from inspector.catalog.model import Entry, Param
from inspector.defer import Deferred, succeed
from inspector.error import ProcessExitedAlready, ProcessTerminated
from inspector.failure import Failure
from inspector.protocol import ProcessProtocol

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

__all__ = ["PROCESS_ENTRIES", "ProcessFailed", "ProcessHandle", "command_words"]

#: Seconds a stopped child gets to exit after SIGTERM before it is killed.
KILL_AFTER = 3.0
#: The longest output line kept whole; longer ones are passed on in pieces of this size.
MAX_LINE = 1 << 16


def command_words(command: str) -> list[str]:
    """Split a command line as a POSIX shell would (quotes, backslashes); ValueError if
    it is empty or its quoting is unbalanced."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"cannot split {command!r}: {exc}") from None
    if not words:
        raise ValueError("give the command to run, e.g. cat or \"sh -c 'echo hi; cat'\"")
    return words


def _check_command(command: str) -> None:
    command_words(command)


def _check_directory(directory: str) -> None:
    if directory and not os.path.isdir(directory):  # empty: the current directory
        raise ValueError(f"{directory!r} is not a directory")


class ProcessFailed(Exception):
    """The child ended with a non-zero status or by a signal; the message says which."""

    def __init__(self, message: str, exit_code: int | None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _signal_name(number: int) -> str:
    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"


class ProcessHandle(ClientHandle):
    """A running child process as a catalogue client.

    ``peer_key`` ("pid N") ties the traced process connection to this handle (see
    :mod:`inspector.catalog.ownership`). ``exit_code`` is the child's exit status once
    it ended by itself (128 + N when killed by signal N, as shells report it), None
    before that and when it was stopped.
    """

    def __init__(self, entry: Entry, description: str) -> None:
        super().__init__(entry, description)
        self.peer_key: str | None = None
        self.exit_code: int | None = None


class _LineSplitter:
    """Cuts a byte stream into text lines for the handle; a partial line waits for its end."""

    def __init__(self, handle: Handle, mark: str) -> None:
        self.handle = handle
        self.mark = mark
        self.pending = bytearray()

    def feed(self, data: bytes) -> None:
        self.pending += data
        while True:
            end = self.pending.find(b"\n")
            if end < 0:
                if len(self.pending) >= MAX_LINE:  # a child that never ends its line
                    self._emit(bytes(self.pending[:MAX_LINE]))
                    del self.pending[:MAX_LINE]
                    continue
                return
            line = bytes(self.pending[:end])
            del self.pending[:end + 1]
            self._emit(line)

    def flush(self) -> None:
        """The stream ended: pass on a last line that had no newline."""
        if self.pending:
            self._emit(bytes(self.pending))
            self.pending.clear()

    def _emit(self, line: bytes) -> None:
        self.handle.output(self.mark + line.rstrip(b"\r").decode("utf-8", "replace"))


class ProcessClient(ProcessProtocol):
    """Passes the child's output to the handle and ends the handle when the child ends."""

    def __init__(self, handle: ProcessHandle, on_end: Any) -> None:
        self.handle = handle
        self.on_end = on_end
        self.stdout = _LineSplitter(handle, "")
        self.stderr = _LineSplitter(handle, "stderr: ")

    def outReceived(self, data: bytes) -> None:
        self.stdout.feed(data)

    def errReceived(self, data: bytes) -> None:
        self.stderr.feed(data)

    def outConnectionLost(self) -> None:
        self.stdout.flush()

    def errConnectionLost(self) -> None:
        self.stderr.flush()

    def processEnded(self, reason: Failure) -> None:
        self.stdout.flush()
        self.stderr.flush()
        self.on_end(reason)


def _start_process_client(
    entry: Entry, reactor: ReactorLike, command: str, directory: str | None
) -> Handle:
    words = command_words(command)
    handle = ProcessHandle(entry, f"process {shlex.join(words)}")
    state: dict[str, Any] = {"stdin_open": True}

    def ended(reason: Failure) -> None:
        timer = state.pop("kill", None)
        if timer is not None and timer.active():
            timer.cancel()
        code = getattr(reason.value, "exitCode", None)
        sig = getattr(reason.value, "signal", None)
        if not handle.stopping:
            handle.exit_code = 128 + sig if sig else (code or 0)
        if sig:
            what = f"killed by {_signal_name(sig)}"
        elif code is None and isinstance(reason.value, ProcessTerminated):
            what = "ended with an unknown status"
        else:
            what = f"exited with status {code or 0}"
        failed = isinstance(reason.value, ProcessTerminated)
        if not (failed and handle.stopping):  # a stop notes "stopped (why)" itself
            handle.note(what)
        handle.finish(Failure(ProcessFailed(what, handle.exit_code)) if failed else None)

    protocol = ProcessClient(handle, ended)
    try:
        process = reactor.spawnProcess(
            protocol, words[0], words, env=None, path=directory or None)
    except FileNotFoundError:
        where = f" in {directory}" if os.sep in words[0] and directory else ""
        raise FileNotFoundError(
            f"cannot run {words[0]!r}: no such program{where}"
            + ("" if os.sep in words[0] else " on PATH")) from None
    except PermissionError:
        raise PermissionError(f"cannot run {words[0]!r}: permission denied (not executable?)") from None
    except OSError as exc:  # not a program (exec format error), too many open files ...
        clear = OSError(f"cannot run {words[0]!r}: {exc.strerror or exc}")
        clear.errno = exc.errno
        raise clear from None
    handle.peer_key = f"pid {process.pid}"
    handle.description = f"process {process.pid}: {shlex.join(words)}"
    handle.note("started")

    def send(text: str) -> Deferred:
        if not state["stdin_open"]:
            raise RuntimeError(f"{handle.description}: its standard input is closed")
        process.write(text.encode("utf-8") + b"\n")
        return succeed(None)

    def close() -> None:
        # End of typed input: the child reads EOF and, usually, finishes.
        state["stdin_open"] = False
        process.closeStdin()

    def stop() -> None:
        close()
        try:
            process.signalProcess("TERM")
        except ProcessExitedAlready:
            return
        state["kill"] = reactor.callLater(KILL_AFTER, kill)

    def kill() -> None:
        state.pop("kill", None)
        try:
            process.signalProcess("KILL")
        except ProcessExitedAlready:
            pass

    handle.attach(stop, send, close)
    return handle


PROCESS_ENTRIES: list[Entry] = [
    Entry("process", "client", "pipes", "Process client",
          "Runs a command: shows its output (stderr marked), typed lines go to its stdin, "
          "end of input closes it; ends with the command's exit status.",
          (
              Param("command", "str", "cat",
                    "command line, split like a shell does (no shell features: use sh -c '...')",
                    _check_command),
              Param("directory", "str", None, "working directory (default: the current one)",
                    _check_directory, optional=True),
          ),
          _start_process_client, accepts_lines=True),
]
