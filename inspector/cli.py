"""The ``inspector`` command: opens the window, or runs servers and clients headless."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from inspector import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for ``inspector`` and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="inspector",
        description="A desktop network inspector. Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    parser.add_argument(
        "--reactor",
        choices=["selectors", "qt", "asyncio"],
        help="reactor to run on (default: INSPECTOR_REACTOR, else selectors; the window uses qt)",
    )
    parser.add_argument(
        "--screenshot",
        metavar="FILE",
        help="open the window, run the scenario (or `run TARGET`'s program) a few seconds, save a PNG "
        "of it to FILE, exit (works with no display)",
    )
    parser.add_argument(
        "--scenario", choices=["demo"], help="what the window starts with (the demo: echo, QOTD, IRC)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    from inspector.commands import add_parsers

    add_parsers(commands)
    from inspector.commands import open as open_command
    from inspector.commands.tracing import add_options as add_tracing_options

    add_tracing_options(parser)
    open_command.add_parser(commands)
    from inspector.commands import run as run_command

    run_command.add_parser(commands)
    return parser


#: Exit status of a command whose output reader went away (as a shell reports SIGPIPE).
BROKEN_PIPE_STATUS = 128 + 13


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``inspector`` console script."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # `inspector open FILE | head`: the reader has what it wanted. Point standard
        # output at /dev/null so the interpreter's final flush does not fail again.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
        return BROKEN_PIPE_STATUS


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    from inspector.commands.run import split_program_args

    own, program_args = split_program_args(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(own)
    if program_args is not None:
        args.program_args = [*args.program_args, *program_args]
    if args.command != "open":
        from inspector.commands.tracing import start_from_args

        start_from_args(args)
    if args.command is None:
        try:
            from inspector.ui.app import run_window
        except ImportError:
            parser.print_help()
            print(f"\ninspector {__version__}: the window is not built yet.")
            return 0
        return run_window(args)
    if args.command == "run":
        return _run(args)
    if args.command == "proxy" and not args.headless:
        return _proxy_window(args)
    if args.command == "attach" and not args.headless:
        return _attach(args)
    if getattr(args, "run_command", None) is not None:
        return args.run_command(args)
    return 0


def _run(args: argparse.Namespace) -> int:
    """``inspector run``: headless in the commands layer, or in the window.

    ``inspector.commands.run`` may not import the window (the layers put ``ui`` above
    ``commands``), so the window's runner is handed to it from here, the one module
    that sits above both.
    """
    from inspector.commands.run import run_command

    if args.headless:
        return run_command(args)
    try:
        from inspector.ui.app import run_window
    except ImportError as exc:  # PySide6 missing: say so, and how to run without it
        print(f"inspector run: the window cannot open ({exc}); use --headless", file=sys.stderr)
        return 2
    return run_command(args, window=run_window)


def _attach(args: argparse.Namespace) -> int:
    """``inspector attach`` without ``--headless``: the window on the attached processes
    (handed to the command from here, as for ``run``)."""
    from inspector.commands.attach import run_attach

    try:
        from inspector.ui.app import run_window
    except ImportError as exc:
        print(f"inspector attach: the window cannot open ({exc}); use --headless --record FILE", file=sys.stderr)
        return 2
    return run_attach(args, window=lambda parsed, _extra: run_window(parsed))


def _proxy_window(args: argparse.Namespace) -> int:
    """``inspector proxy`` without ``--headless``: the window, with the proxy running in it
    (handed to the command as ``inspector run`` hands its window runner)."""
    from inspector.commands.proxy import run_proxy

    try:
        from inspector.ui.app import run_window
    except ImportError as exc:  # PySide6 missing: say so, and how to run without it
        print(f"inspector proxy: the window cannot open ({exc}); use --headless", file=sys.stderr)
        return 2
    return run_proxy(args, window=run_window)


if __name__ == "__main__":
    sys.exit(main())
