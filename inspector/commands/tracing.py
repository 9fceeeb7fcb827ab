"""The global tracing options of the ``inspector`` command: ``--trace``, ``--record FILE``,
``--record-secrets`` and ``--force``, accepted before or after the sub-command.

With ``--trace`` the trace's summary (the text ``inspector open`` prints for a
recording) goes to standard error when the command exits.
"""

from __future__ import annotations

import argparse
import atexit
import sys
from typing import Any, TextIO

__all__ = ["options_parser", "add_options", "start_from_args"]


def options_parser() -> argparse.ArgumentParser:
    """A parent parser with ``--trace``, ``--record``, ``--record-secrets`` and ``--force``.

    Sub-commands take it through ``parents=`` so the options work after the sub-command
    too (``inspector serve echo --record f.jsonl``). Its defaults are suppressed, so an
    option given before the sub-command is not reset by the sub-command's parser.
    """
    parser = argparse.ArgumentParser(add_help=False)
    add_options(parser, argparse.SUPPRESS)
    return parser


def add_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    group = parser.add_argument_group("tracing")
    group.add_argument(
        "--trace", action="store_true", default=False if default is None else default,
        help="trace connections, Deferreds, timers and loop turns (costs some speed)",
    )
    group.add_argument(
        "--record", metavar="FILE", default=default,
        help="trace, and stream the trace to FILE as JSON Lines (open it with 'inspector open'); "
        "the file is private (0600) and IRC PASS/OPER/AUTHENTICATE arguments are masked",
    )
    group.add_argument(
        "--record-secrets", action="store_true", default=False if default is None else default,
        help="with --record: keep IRC PASS/OPER/AUTHENTICATE arguments in the recording",
    )
    group.add_argument(
        "--force", action="store_true", default=False if default is None else default,
        help="with --record: replace FILE if it exists (else an existing file is an error)",
    )


def _refuse(message: str) -> SystemExit:
    """Print ``message`` on standard error; return a SystemExit with status 2 carrying it."""
    print(message, file=sys.stderr)
    stop = SystemExit(message)
    stop.code = 2
    return stop


def start_from_args(args: argparse.Namespace) -> Any:
    """Switch tracing on if ``--trace`` or ``--record`` was given; return the tracer or None.

    With ``--record`` the recording is flushed as the loop runs and closed at exit. A
    file that cannot be created, or exists without ``--force``, exits with status 2.
    A write that fails later stops the recording with one error; the command goes on.
    """
    record_path = getattr(args, "record", None)
    if not (getattr(args, "trace", False) or record_path):
        return None
    from inspector import trace
    from inspector.trace.recording import record

    tracer = trace.enable()
    if record_path:
        try:
            recorder = record(record_path, tracer, overwrite=bool(getattr(args, "force", False)),
                              secrets=bool(getattr(args, "record_secrets", False)))
        except FileExistsError:
            trace.disable()
            raise _refuse(f"inspector: will not overwrite {record_path}: it exists "
                          "(give --force to replace it)") from None
        except OSError as exc:
            trace.disable()
            raise _refuse(
                f"inspector: cannot record the trace to {record_path}: {exc.strerror or exc}"
            ) from None
        atexit.register(recorder.close)
    if getattr(args, "trace", False):
        atexit.register(print_exit_summary, tracer)
    return tracer


def print_exit_summary(tracer: Any, out: TextIO | None = None) -> None:
    """Write the summary of what ``tracer`` saw (connections, bytes, Deferreds, warnings)
    to ``out`` (standard error): what ``--trace`` shows for a headless command."""
    from inspector.commands.open import print_summary

    out = out or sys.stderr
    try:
        out.write("\ntrace summary\n")
        print_summary(tracer.trace, out)
        out.flush()
    except (OSError, ValueError):
        pass  # standard error is gone (closed pipe): nothing to tell


