"""``inspector serve NAME``: run a catalogue server headless until interrupted.

The server runs as a service of an Application (``inspector.service``): it starts
with the reactor, connections are logged as they open and close (the first ten one by
one, then one summary line every ten seconds while they keep coming; ``-v`` logs each,
and a connection that ends in an error is always logged: inspector/catalog/connlog.py), and SIGINT
(Ctrl-C) or SIGTERM stops the reactor, whose "before shutdown" trigger stops the
service, so open connections are closed and the port released before the exit.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from inspector import catalog
from inspector.commands.common import (
    add_command_parser,
    choose_reactor,
    entry_and_params,
    install_signal_handlers,
    setup_logging,
)
from inspector.service import Application, Service, run_application

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.serve")

__all__ = ["add_parser", "EntryService", "run_serve"]


def add_parser(subparsers: Any) -> None:
    """Add ``serve`` and one sub-parser per server in the catalogue."""
    add_command_parser(
        subparsers,
        "serve",
        "server",
        "run a server headless until interrupted",
        "Run a server from the catalogue until Ctrl-C or SIGTERM.",
        run_serve,
    )


class EntryService(Service):
    """A catalogue server as a service: started with the reactor, stopped before shutdown.

    If it cannot start (port in use, bad quote file ...), the error is logged and
    the reactor stopped, with ``failed`` set so the command exits with status 1.
    """

    def __init__(self, entry: catalog.Entry, params: dict[str, Any], reactor: ReactorLike) -> None:
        self.entry = entry
        self.params = params
        self.reactor = reactor
        self.handle: catalog.Handle | None = None
        self.failed = False
        self.setName(entry.key)

    def startService(self) -> None:
        super().startService()
        try:
            self.handle = self.entry.start(self.reactor, **self.params)
        except Exception as exc:  # CannotListenError, a bad quote file ...
            log.error("cannot start %s: %s", self.entry.title.lower(), exc)
            self.failed = True
            self.running = False
            self.reactor.stop()
            return
        log.info("%s running; press Ctrl-C to stop", self.handle.description)

    def stopService(self) -> Any:
        super().stopService()
        if self.handle is not None:
            return self.handle.stop()
        return None


def run_serve(args: argparse.Namespace) -> int:
    """Start the server the arguments name and run until interrupted; return the exit status."""
    setup_logging(args.verbose)
    chosen = entry_and_params(args, "serve")
    if chosen is None:
        return 2
    entry, params = chosen
    reactor = choose_reactor(args)
    application = Application("inspector serve")
    server = EntryService(entry, params, reactor)
    server.setServiceParent(application)
    restore = install_signal_handlers(reactor)
    try:
        run_application(application, reactor)
    finally:
        restore()
        reactor.close()
    log.info("stopped")
    return 1 if server.failed else 0
