"""``inspector serve NAME``: run a catalogue server headless until interrupted.

Connections are logged as they open and close; SIGINT (Ctrl-C) or SIGTERM stops
the reactor, and the server is stopped in a "before shutdown" trigger so open
connections are closed and the port released before the process exits.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from inspector import catalog
from inspector.commands.common import (
    add_entry_parsers,
    choose_reactor,
    entry_for,
    given_params,
    install_signal_handlers,
    setup_logging,
)

log = logging.getLogger("inspector.serve")

__all__ = ["add_parser", "run_serve"]


def add_parser(subparsers: Any) -> None:
    """Add ``serve`` and one sub-parser per server in the catalogue."""
    parser = subparsers.add_parser(
        "serve",
        help="run a server headless until interrupted",
        description="Run a server from the catalogue until Ctrl-C or SIGTERM.",
    )
    names = parser.add_subparsers(dest="protocol", metavar="NAME", required=True)
    add_entry_parsers(names, "server")
    parser.set_defaults(run_command=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Start the server the arguments name and run until interrupted; return the exit status."""
    setup_logging(args.verbose)
    try:
        entry = entry_for(args)
        params = entry.validate(given_params(args, entry))
    except (ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"inspector serve {args.protocol}: error: {message}", file=sys.stderr)
        return 2
    reactor = choose_reactor(args)
    status = {"code": 0}

    def start() -> None:
        try:
            handle = entry.start(reactor, **params)
        except Exception as exc:  # CannotListenError, a bad quote file ...
            log.error("cannot start %s: %s", entry.title.lower(), exc)
            status["code"] = 1
            reactor.stop()
            return
        reactor.addSystemEventTrigger("before", "shutdown", handle.stop)
        log.info("%s running; press Ctrl-C to stop", handle.description)

    restore = install_signal_handlers(reactor)
    reactor.callWhenRunning(start)
    try:
        reactor.run()
    finally:
        restore()
        reactor.close()
    log.info("stopped")
    return status["code"]
