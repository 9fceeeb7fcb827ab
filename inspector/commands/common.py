"""What ``inspector serve`` and ``inspector connect`` share: catalogue options, the
reactor choice, logging, and clean shutdown on SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable

from inspector import catalog, reactors
from inspector.commands.tracing import options_parser as trace_options
from inspector.commands.tracing import serve_trace
from inspector.helpers import terminal_text
from inspector.reactors.base import SignalWaker

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.commands")

__all__ = [
    "add_command_parser",
    "add_entry_parsers",
    "entry_for",
    "given_params",
    "entry_and_params",
    "choose_reactor",
    "setup_logging",
    "install_signal_handlers",
    "terminal_text",
]


class TerminalSafeFormatter(logging.Formatter):
    """A log formatter whose messages go through :func:`terminal_text`: log lines quote
    peers (an IRC server's ERROR text, a failure's message) and go to a terminal too."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_text(super().formatMessage(record))


def add_command_parser(
    subparsers: Any, command: str, role: str, summary: str, description: str, run: Callable[[argparse.Namespace], int],
) -> None:
    """Add ``inspector COMMAND NAME`` for every catalogue entry with ``role``; ``run`` runs it."""
    parser = subparsers.add_parser(command, help=summary, description=description)
    names = parser.add_subparsers(dest="protocol", metavar="NAME", required=True)
    add_entry_parsers(names, role)
    parser.set_defaults(run_command=run)


def add_entry_parsers(
    subparsers: Any, role: str, extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Add one sub-parser per catalogue protocol with ``role``, its options from the entries.

    Entries of one protocol over TCP and UDP share a sub-parser with ``--transport``.
    """
    for name in catalog.names(role):
        kinds = [e for e in catalog.entries() if (e.name, e.role) == (name, role)]
        first = kinds[0]
        parser = subparsers.add_parser(
            name,
            help=f"{first.title}: {first.description}".replace("%", "%%"),
            description=f"{first.title}: {first.description}",
            parents=[trace_options()],  # --trace/--record after the name too, like --reactor
        )
        transports = [entry.transport for entry in kinds]
        parser.add_argument(
            "--transport", choices=transports, default=transports[0],
            help=f"transport (default: {transports[0]})",
        )
        if "tls" in transports:
            parser.add_argument("--tls", dest="transport", action="store_const", const="tls",
                                help="over TLS (the same as --transport tls)")
        parser.add_argument(
            "--reactor", dest="sub_reactor", choices=sorted(reactors.REACTORS),
            help="reactor to run on (default: INSPECTOR_REACTOR, else selectors)",
        )
        parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
        if extra is not None:
            extra(parser)
        seen: set[str] = set()
        for entry in kinds:
            for param in entry.params:
                if param.name in seen:
                    continue
                seen.add(param.name)
                only = [e.transport for e in kinds if any(p.name == param.name for p in e.params)]
                note = "" if len(only) == len(kinds) else f" [{'/'.join(only)} only]"
                if param.kind == "flag":
                    parser.add_argument(param.option, dest=f"param_{param.name}", action="store_const",
                                        const="yes", help=f"{param.help}{note}".replace("%", "%%"))
                    continue
                default = "" if param.default is None else f" (default: {param.default or 'empty'})"
                others = {e.transport: p.default for e in kinds for p in e.params
                          if p.name == param.name and p.default != param.default}
                if others and param.default is not None:  # e.g. IRC: 6667, over TLS 6697
                    default = f" (default: {param.default or 'empty'}; " + "; ".join(
                        f"over {transport}: {value}" for transport, value in others.items()) + ")"
                parser.add_argument(
                    param.option, dest=f"param_{param.name}", metavar=param.kind.upper(),
                    help=f"{param.help}{default}{note}".replace("%", "%%"),
                )
        parser.set_defaults(role=role)


def entry_for(args: argparse.Namespace) -> catalog.Entry:
    """Return the catalogue entry the parsed arguments name."""
    return catalog.find(args.protocol, args.role, args.transport)


def given_params(args: argparse.Namespace, entry: catalog.Entry) -> dict[str, Any]:
    """Return the parameters given on the command line, as text, for ``entry``.

    An empty value for a number or a file (``--port ''``) is an error here, not "the
    default": on a command line it is a mistake (an unset variable), not a blank field.
    """
    params = {}
    for key, value in vars(args).items():
        if key.startswith("param_") and value is not None:
            name = key[len("param_"):]
            option = f"--{name.replace('_', '-')}"
            known = [param for param in entry.params if param.name == name]
            if not known:
                raise catalog.ParameterError(f"{option} does not apply to {entry.title} over {entry.transport}")
            if known[0].kind != "str" and not value.strip():
                raise catalog.ParameterError(f"{option} needs a value, got an empty one")
            params[name] = value
    entry.conflicts(params)
    return params


def entry_and_params(args: argparse.Namespace, command: str) -> tuple[catalog.Entry, dict[str, Any]] | None:
    """Return the entry the arguments name and its validated parameters.

    On a bad option, print ``inspector COMMAND NAME: error: ...`` to standard error
    and return None (the command then exits with status 2).
    """
    try:
        entry = entry_for(args)
        return entry, entry.validate(given_params(args, entry))
    except (ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"inspector {command} {args.protocol}: error: {message}", file=sys.stderr)
        return None


def choose_reactor(args: argparse.Namespace) -> Any:
    """Make the reactor named by ``--reactor`` (either position), INSPECTOR_REACTOR or selectors."""
    name = getattr(args, "sub_reactor", None) or args.reactor
    name = name or os.environ.get("INSPECTOR_REACTOR") or "selectors"
    reactor = reactors.install(name)
    serve_trace(reactor)  # --trace-listen / INSPECTOR_TRACE_LISTEN, once there is a reactor
    return reactor


def setup_logging(verbose: bool) -> None:
    """Log to standard error: INFO and up, or DEBUG with ``--verbose``; control
    characters in messages are escaped (:func:`terminal_text`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TerminalSafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])


def install_signal_handlers(reactor: ReactorLike) -> Callable[[], None]:
    """Make SIGINT/SIGTERM stop ``reactor`` cleanly (shutdown triggers run).

    A second signal while shutting down stops at once, without waiting for the
    triggers. Returns a function that restores the previous handlers.
    """
    waker = SignalWaker()
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        reactor.callFromThread(shutdown, signum, len(received))

    def shutdown(signum: int, count: int) -> None:
        name = signal.Signals(signum).name
        if count == 1:
            log.info("%s received: shutting down", name)
            if reactor.running:
                reactor.stop()
        elif count == 2:
            log.warning("%s received again: stopping without waiting", name)
            reactor.crash()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    old_fd = signal.set_wakeup_fd(waker.writer.fileno())
    reactor.addReader(waker)

    def restore() -> None:
        signal.set_wakeup_fd(old_fd)
        for sig, old in previous.items():
            signal.signal(sig, old)
        reactor.removeReader(waker)
        waker.close()

    return restore
