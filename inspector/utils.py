"""Run a program and get its output or exit code as a Deferred (``twisted.internet.utils``).

``args`` never include the program's name: it is put first for you, as in Twisted.
``env`` is the whole environment ({} by default, so an empty one; None for ours) and
``path`` the working directory. A missing executable raises OSError at once, as
``spawnProcess`` does.

One departure: Twisted errbacks ``getProcessOutputAndValue`` with a bare tuple when a
signal killed the child; a Failure here wraps only exceptions, so it errbacks with
:class:`ProcessOutputSignalled`, an exception that unpacks like that tuple
(``out, err, signalNum = failure.value``).
"""

from __future__ import annotations

from io import BytesIO
from typing import Any, Callable, Iterator, Mapping, Sequence

from inspector.defer import Deferred
from inspector.failure import Failure
from inspector.interfaces import IReactorProcess
from inspector.protocol import ProcessProtocol

__all__ = ["ProcessOutputSignalled", "getProcessOutput", "getProcessOutputAndValue", "getProcessValue"]


class _UnexpectedErrorOutput(IOError):
    """The child wrote to stderr where ``getProcessOutput`` expected nothing there.

    ``processEnded`` is a Deferred that errbacks with the child's end reason once it
    has ended (exited and every pipe closed).
    """

    def __init__(self, text: bytes, processEnded: Deferred) -> None:
        super().__init__(f"got stderr: {text!r}")
        self.processEnded = processEnded


class ProcessOutputSignalled(Exception):
    """A signal killed the child: what it wrote to stdout and stderr, and the signal.

    Unpacks as ``(out, err, signalNum)``, the tuple Twisted errbacks with.
    """

    def __init__(self, out: bytes, err: bytes, signalNum: int) -> None:
        super().__init__(out, err, signalNum)
        self.out = out
        self.err = err
        self.signal = signalNum

    def __iter__(self) -> Iterator[Any]:
        return iter(self.args)

    def __getitem__(self, index: int) -> Any:
        return self.args[index]

    def __len__(self) -> int:
        return 3

    def __str__(self) -> str:
        return f"the process was killed by signal {self.signal} ({len(self.out)} bytes out, {len(self.err)} bytes err)"


class _BackRelay(ProcessProtocol):
    """Collects stdout (and stderr when ``errortoo``) into the Deferred's result."""

    def __init__(self, deferred: Deferred, errortoo: bool = False) -> None:
        self.deferred: Deferred | None = deferred
        self.onProcessEnded: Deferred | None = None
        self.errortoo = errortoo
        self.s = BytesIO()

    def outReceived(self, data: bytes) -> None:
        self.s.write(data)

    def errReceived(self, data: bytes) -> None:
        if self.errortoo:
            self.s.write(data)
        elif self.deferred is not None:
            # Fail at the first stderr bytes and stop listening (as Twisted does).
            self.onProcessEnded = Deferred()
            d, self.deferred = self.deferred, None
            d.errback(Failure(_UnexpectedErrorOutput(data, self.onProcessEnded)))
            self.transport.loseConnection()

    def processEnded(self, reason: Failure) -> None:
        if self.deferred is not None:
            d, self.deferred = self.deferred, None
            d.callback(self.s.getvalue())
        elif self.onProcessEnded is not None:
            self.onProcessEnded.errback(reason)


class _ValueGetter(ProcessProtocol):
    """Fires with the exit code (None when a signal ended the child)."""

    def __init__(self, deferred: Deferred) -> None:
        self.deferred = deferred

    def processEnded(self, reason: Failure) -> None:
        ended: Any = reason.value  # ProcessDone or ProcessTerminated
        self.deferred.callback(ended.exitCode)


class _EverythingGetter(ProcessProtocol):
    """Fires with ``(out, err, code)``; errbacks with ProcessOutputSignalled on a signal."""

    def __init__(self, deferred: Deferred, stdinBytes: bytes | None = None) -> None:
        self.deferred = deferred
        self.outBuf = BytesIO()
        self.errBuf = BytesIO()
        self.stdinBytes = stdinBytes

    def connectionMade(self) -> None:
        if self.stdinBytes is not None:
            self.transport.writeToChild(0, self.stdinBytes)
            self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.outBuf.write(data)

    def errReceived(self, data: bytes) -> None:
        self.errBuf.write(data)

    def processEnded(self, reason: Failure) -> None:
        out, err = self.outBuf.getvalue(), self.errBuf.getvalue()
        ended: Any = reason.value  # ProcessDone or ProcessTerminated
        if ended.signal:
            self.deferred.errback(ProcessOutputSignalled(out, err, ended.signal))
        else:
            self.deferred.callback((out, err, ended.exitCode))


def _run(make: Callable[[Deferred], ProcessProtocol], executable: Any, args: Sequence[Any],
         env: Mapping[Any, Any] | None, path: Any, reactor: IReactorProcess | None) -> Deferred:
    if reactor is None:
        from inspector.reactors import default_reactor

        reactor = default_reactor()
    d: Deferred = Deferred()
    reactor.spawnProcess(make(d), executable, (executable, *args), env, path)
    return d


def getProcessOutput(executable: Any, args: Sequence[Any] = (), env: Mapping[Any, Any] | None = {},  # noqa: B006
                     path: Any = None, reactor: IReactorProcess | None = None,
                     errortoo: bool = False) -> Deferred:
    """A Deferred of everything ``executable`` writes to stdout (and stderr if ``errortoo``).

    Without ``errortoo``, the first bytes on stderr errback it with an IOError (its
    ``processEnded`` attribute a Deferred of the child's end) and close the pipes.
    """
    return _run(lambda d: _BackRelay(d, errortoo=errortoo), executable, args, env, path, reactor)


def getProcessValue(executable: Any, args: Sequence[Any] = (), env: Mapping[Any, Any] | None = {},  # noqa: B006
                    path: Any = None, reactor: IReactorProcess | None = None) -> Deferred:
    """A Deferred of ``executable``'s exit code (None when a signal killed it)."""
    return _run(_ValueGetter, executable, args, env, path, reactor)


def getProcessOutputAndValue(executable: Any, args: Sequence[Any] = (),
                             env: Mapping[Any, Any] | None = {},  # noqa: B006
                             path: Any = None, reactor: IReactorProcess | None = None,
                             stdinBytes: bytes | None = None) -> Deferred:
    """A Deferred of ``(stdout, stderr, exit code)``; on a signal it errbacks with
    :class:`ProcessOutputSignalled` ``(stdout, stderr, signal)``. ``stdinBytes`` is
    written to the child's stdin, which is then closed."""
    return _run(lambda d: _EverythingGetter(d, stdinBytes), executable, args, env, path, reactor)
