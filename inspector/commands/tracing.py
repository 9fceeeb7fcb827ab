"""The global tracing options of the ``inspector`` command: ``--trace``, ``--record FILE``,
``--record-secrets``, ``--force``, ``--trace-listen ENDPOINT`` and ``--trace-token TOKEN``,
accepted before or after the sub-command.

With ``--trace`` the trace's summary (the text ``inspector open`` prints for a
recording) goes to standard error when the command exits. With ``--trace-listen`` (or
the ``INSPECTOR_TRACE_LISTEN`` environment variable, its token in
``INSPECTOR_TRACE_TOKEN``) the process serves its trace to ``inspector attach``
(:func:`inspector.trace.listen`) as soon as the command has chosen its reactor
(:func:`serve_trace`).
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

__all__ = ["options_parser", "add_options", "start_from_args", "serve_trace", "LISTEN_ENV", "TOKEN_ENV"]

#: The environment variables read at start-up by every command.
LISTEN_ENV = "INSPECTOR_TRACE_LISTEN"
TOKEN_ENV = "INSPECTOR_TRACE_TOKEN"

log = logging.getLogger("inspector.trace")

#: (endpoint text, token) asked for by the options or the environment, served by
#: :func:`serve_trace` once the reactor is chosen.
_listen_request: tuple[str, str | None] | None = None


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
    group.add_argument(
        "--trace-listen", metavar="ENDPOINT", default=default,
        help="trace, and serve the trace to 'inspector attach' on ENDPOINT (e.g. 6669, "
        "tcp:6669:interface=127.0.0.1; default from INSPECTOR_TRACE_LISTEN); beyond loopback a token is required",
    )
    group.add_argument(
        "--trace-token", metavar="TOKEN", default=default,
        help="with --trace-listen: the token viewers must send (better: INSPECTOR_TRACE_TOKEN, "
        "which other users cannot see in the process list)",
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
    # A viewer does not serve its own trace (INSPECTOR_TRACE_LISTEN set in its shell would
    # make it take the port of the process it attaches to).
    listen = _listen_from(args) if getattr(args, "command", None) != "attach" else None
    if not (getattr(args, "trace", False) or record_path or listen):
        return None
    from inspector import trace
    from inspector.trace.recording import record

    tracer = trace.enable()
    if listen is not None:
        global _listen_request
        _listen_request = listen
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


def _listen_from(args: argparse.Namespace) -> tuple[str, str | None] | None:
    """The trace server asked for (option, else environment), checked: a bad endpoint,
    or one beyond loopback without a token, exits with status 2 and one line."""
    endpoint = getattr(args, "trace_listen", None) or os.environ.get(LISTEN_ENV, "").strip()
    token = getattr(args, "trace_token", None) or os.environ.get(TOKEN_ENV) or None
    if not endpoint:
        if getattr(args, "trace_token", None):
            raise _refuse("inspector: --trace-token needs --trace-listen ENDPOINT (or INSPECTOR_TRACE_LISTEN)")
        return None
    from inspector.trace.live import is_local, server_endpoint

    try:
        server = server_endpoint(None, endpoint)
    except ValueError as exc:
        raise _refuse(f"inspector: cannot serve the trace on {endpoint!r}: {exc}") from None
    if not token and not is_local(server):
        raise _refuse(
            f"inspector: serving the trace on {endpoint} lets other machines read it: give a token "
            f"({TOKEN_ENV}=... or --trace-token), or listen on 127.0.0.1"
        )
    return endpoint, token


def serve_trace(reactor: ReactorLike) -> Any:
    """Start the trace server that ``--trace-listen`` or ``INSPECTOR_TRACE_LISTEN`` asked
    for, on ``reactor`` (every command calls this once it has its reactor); return the
    Deferred of the :class:`~inspector.trace.live.TraceServer`, or None if none was
    asked for. A port that cannot be had is logged as an error; the command goes on."""
    global _listen_request
    request, _listen_request = _listen_request, None
    if request is None:
        return None
    from inspector.trace.live import listen

    endpoint, token = request

    def failed(failure: Any) -> None:
        log.error("cannot serve the trace on %s: %s", endpoint, failure.getErrorMessage())

    return listen(reactor, endpoint, token).addErrback(failed)


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


