"""``inspector connect NAME``: run a catalogue client headless.

What the client receives (a quote, a finger answer, each echo with its round-trip
time, a child process's output) goes to standard output; status goes to the log on
standard error. For clients that take lines (echo, irc, process), each line typed on
standard input is sent; end of input closes the connection (a child's stdin) once the
replies are in. Control characters from the peer are shown escaped (``\\x1b``), never
passed to the terminal. Exit status 0 when the exchange ended normally (or on Ctrl-C),
1 when it failed (refused, reset, a line not answered, no sign-on in time, a program
that cannot run ...) with the reason on standard error, 2 for bad options; a process
client exits with its child's status (128 + N when killed by signal N).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import Any, Callable, cast

from inspector.catalog.handles import ClientHandle
from inspector.commands.common import (
    add_command_parser,
    choose_reactor,
    entry_and_params,
    install_signal_handlers,
    setup_logging,
    terminal_text,
)
from inspector.failure import Failure
from inspector.interfaces import IReactorThreads

log = logging.getLogger("inspector.connect")

__all__ = ["add_parser", "run_connect", "StdinLines"]


def add_parser(subparsers: Any) -> None:
    """Add ``connect`` and one sub-parser per client in the catalogue."""
    add_command_parser(
        subparsers,
        "connect",
        "client",
        "run a client headless",
        "Run a client from the catalogue; for echo, irc and process, lines on stdin are sent.",
        run_connect,
    )


class StdinLines:
    """Reads standard input in a thread and hands each line to the reactor thread.

    A thread (rather than ``addReader``) works for every kind of stdin (terminal,
    pipe, regular file) on every reactor; ``os.read`` avoids the buffered reader's
    lock, so the daemon thread never blocks interpreter exit.

    A line longer than ``max_line`` bytes is not buffered whole: the rest of it is
    skipped as it arrives (linear cost, bounded memory), ``on_too_long(number)`` is
    called with its line number, and reading goes on with the next line.
    """

    #: The longest line passed on, in bytes; longer ones are reported and skipped.
    MAX_LINE = 1 << 20

    def __init__(self, reactor: IReactorThreads, on_line: Callable[[str], Any], on_eof: Callable[[], Any],
                 fd: int | None = None, on_too_long: Callable[[int], Any] | None = None,
                 max_line: int | None = None) -> None:
        self.reactor = reactor
        self.on_line = on_line
        self.on_eof = on_eof
        self.on_too_long = on_too_long
        self.max_line = self.MAX_LINE if max_line is None else max_line
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.thread = threading.Thread(target=self._read, name="inspector-stdin", daemon=True)

    def start(self) -> None:
        """Start reading."""
        self.thread.start()

    def _read(self) -> None:
        pending = bytearray()  # the current line so far (never more than max_line)
        number = 1  # the current line's number
        skipping = False  # the current line is too long: drop it up to its end
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            start = 0
            while start < len(chunk):
                end = chunk.find(b"\n", start)
                piece = chunk[start:] if end < 0 else chunk[start:end]
                if not skipping:
                    if len(pending) + len(piece) > self.max_line:
                        skipping = True
                        pending.clear()
                        self._too_long(number)
                    else:
                        pending += piece
                if end < 0:
                    break
                if not skipping:
                    self._line(bytes(pending))
                pending.clear()
                skipping = False
                number += 1
                start = end + 1
        if pending and not skipping:
            self._line(bytes(pending))
        self.reactor.callFromThread(self.on_eof)

    def _line(self, line: bytes) -> None:
        self.reactor.callFromThread(self.on_line, line.rstrip(b"\r").decode("utf-8", "replace"))

    def _too_long(self, number: int) -> None:
        if self.on_too_long is not None:
            self.reactor.callFromThread(self.on_too_long, number)


def run_connect(args: argparse.Namespace) -> int:
    """Run the client the arguments name until its exchange ends; return the exit status."""
    from inspector.defer import DeferredList

    setup_logging(args.verbose)
    chosen = entry_and_params(args, "connect")
    if chosen is None:
        return 2
    entry, params = chosen
    reactor = choose_reactor(args)
    status = {"code": 0}

    def show(line: str) -> None:
        # Peer text: escape what a terminal would obey (title, clear, query replies).
        sys.stdout.write(terminal_text(line) + "\n")
        sys.stdout.flush()

    def failed_line(message: str) -> None:
        """A typed line was refused or never answered: the exchange failed."""
        log.error("%s", message)
        status["code"] = 1

    def ended(result: Any, handle: Any) -> None:
        if isinstance(result, Failure):
            log.error("%s: %s", handle.description, result.getErrorMessage())
            status["code"] = 1
        exit_code = getattr(handle, "exit_code", None)  # a process client: the child's own status
        if exit_code:  # (0 keeps a failure seen on the way, a line not sent)
            status["code"] = exit_code
        if reactor.running:
            reactor.stop()

    def start() -> None:
        try:
            handle = entry.start(reactor, **params)
        except Exception as exc:
            log.error("cannot start %s: %s", entry.title.lower(), exc)
            status["code"] = 1
            reactor.stop()
            return
        handle.on_output(show)
        handle.done.addBoth(ended, handle)
        reactor.addSystemEventTrigger("before", "shutdown", handle.stop)
        if not handle.accepts_lines:
            return
        sent: list[Any] = []

        def send(text: str) -> None:
            if not handle.running:
                failed_line(f"line {text!r} not sent: the connection is closed")
                return
            try:
                d = handle.send_line(text)
            except (ValueError, RuntimeError) as exc:
                failed_line(f"line {text!r} not sent: {exc}")
                return
            if len(sent) > 1000:  # keep only the replies still due
                sent[:] = [waiting for waiting in sent if not waiting.called]
            sent.append(d)

            def failed(reason: Failure) -> None:
                failed_line(f"line {text!r} not answered: {reason.getErrorMessage()}")

            d.addErrback(failed)

        def too_long(number: int) -> None:
            failed_line(f"line {number} of standard input is longer than {StdinLines.MAX_LINE} bytes: not sent")

        def eof() -> None:
            # End of input is not a stop: wait for the replies still due (each has a
            # timeout), then close; a failure before or during that still counts.
            # accepts_lines: a client
            DeferredList(sent, consumeErrors=True).addBoth(lambda _: cast(ClientHandle, handle).close())

        StdinLines(reactor, send, eof, on_too_long=too_long).start()

    restore = install_signal_handlers(reactor)
    reactor.callWhenRunning(start)
    try:
        reactor.run()
    finally:
        restore()
        reactor.close()
    return status["code"]
