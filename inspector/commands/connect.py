"""``inspector connect NAME``: run a catalogue client headless.

What the client receives (a quote, a finger answer, each echo with its round-trip
time) goes to standard output; status goes to the log on standard error. For
clients that take lines (echo, irc), each line typed on standard input is sent;
end of input closes the connection once the replies are in. Exit status 0 when the
exchange ended normally, 1 when it failed (refused, timed out ...), 2 for bad options.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import Any, Callable

from inspector.commands.common import (
    add_command_parser,
    choose_reactor,
    entry_and_params,
    install_signal_handlers,
    setup_logging,
)
from inspector.failure import Failure

log = logging.getLogger("inspector.connect")

__all__ = ["add_parser", "run_connect", "StdinLines"]


def add_parser(subparsers: Any) -> None:
    """Add ``connect`` and one sub-parser per client in the catalogue."""
    add_command_parser(
        subparsers,
        "connect",
        "client",
        "run a client headless",
        "Run a client from the catalogue; for echo and irc, lines on stdin are sent.",
        run_connect,
    )


class StdinLines:
    """Reads standard input in a thread and hands each line to the reactor thread.

    A thread (rather than ``addReader``) works for every kind of stdin (terminal,
    pipe, regular file) on every reactor; ``os.read`` avoids the buffered reader's
    lock, so the daemon thread never blocks interpreter exit.
    """

    def __init__(self, reactor: Any, on_line: Callable[[str], Any], on_eof: Callable[[], Any],
                 fd: int | None = None) -> None:
        self.reactor = reactor
        self.on_line = on_line
        self.on_eof = on_eof
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.thread = threading.Thread(target=self._read, name="inspector-stdin", daemon=True)

    def start(self) -> None:
        """Start reading."""
        self.thread.start()

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                text = line.rstrip(b"\r").decode("utf-8", "replace")
                self.reactor.callFromThread(self.on_line, text)
        if pending:
            self.reactor.callFromThread(self.on_line, pending.rstrip(b"\r").decode("utf-8", "replace"))
        self.reactor.callFromThread(self.on_eof)


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
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def ended(result: Any) -> None:
        if isinstance(result, Failure):
            log.error("%s", result.getErrorMessage())
            status["code"] = 1
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
        handle.done.addBoth(ended)
        reactor.addSystemEventTrigger("before", "shutdown", handle.stop)
        if not handle.accepts_lines:
            return
        sent: list[Any] = []

        def send(text: str) -> None:
            if not handle.running:
                return
            try:
                d = handle.send_line(text)
            except (ValueError, RuntimeError) as exc:
                log.error("not sent: %s", exc)
                return
            if len(sent) > 1000:  # keep only the replies still due
                sent[:] = [waiting for waiting in sent if not waiting.called]
            sent.append(d)

            def failed(reason: Failure) -> None:
                log.error("line %r not answered: %s", text, reason.getErrorMessage())

            d.addErrback(failed)

        def eof() -> None:
            # Wait for the replies still due, then close.
            DeferredList(sent, consumeErrors=True).addBoth(lambda _: handle.stop())

        StdinLines(reactor, send, eof).start()

    restore = install_signal_handlers(reactor)
    reactor.callWhenRunning(start)
    try:
        reactor.run()
    finally:
        restore()
        reactor.close()
    return status["code"]
