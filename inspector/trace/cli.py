"""The trace's part of the ``inspector`` command: ``--trace``, ``--record FILE`` and
``inspector open FILE`` (a headless summary of a recording, plus its exports)."""

from __future__ import annotations

import argparse
import atexit
import datetime
import sys
from typing import Any, TextIO

from inspector.files import MiB
from inspector.trace.model import Trace
from inspector.trace.recording import MAX_RECORDING_BYTES
from inspector.trace.session import printable


def options_parser() -> argparse.ArgumentParser:
    """A parent parser with ``--trace``, ``--record``, ``--record-secrets`` and ``--force``.

    Sub-commands take it through ``parents=`` so the options work after the sub-command
    too (``inspector serve echo --record f.jsonl``). Its defaults are suppressed, so an
    option given before the sub-command is not reset by the sub-command's parser.
    """
    parser = argparse.ArgumentParser(add_help=False)
    _add_options(parser, argparse.SUPPRESS)
    return parser


def _add_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
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


def add_arguments(parser: argparse.ArgumentParser, subparsers: Any) -> None:
    """Add the global ``--trace``/``--record`` options and the ``open`` sub-command."""
    _add_options(parser)
    opener = subparsers.add_parser(
        "open", help="inspect a trace recording",
        description="Print a summary of a trace recording made with --record, or export it. "
        f"Recordings over {MAX_RECORDING_BYTES // MiB} MiB are refused.",
    )
    opener.add_argument("file", metavar="FILE", help="a recording made with --record")
    opener.add_argument("--perfetto", metavar="OUT",
                        help="also write it as Chrome/Perfetto trace-event JSON to OUT")
    opener.add_argument("--transcript", metavar="CONN", type=int,
                        help="print connection CONN's session as a text transcript")
    opener.add_argument("--raw", metavar="CONN", type=int,
                        help="write connection CONN's raw bytes (each direction) to --out")
    opener.add_argument("--out", metavar="DIR", default=".",
                        help="directory for --raw (default: the current one)")
    opener.set_defaults(run_command=run_open)


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
    return tracer


def run_open(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``inspector open FILE``: load the recording, print its summary, run the exports."""
    from inspector.trace import perfetto, session
    from inspector.trace.recording import RecordingError, load

    out = out or sys.stdout
    try:
        trace = load(args.file)
    except (OSError, RecordingError) as exc:
        print(f"inspector open: {exc}", file=sys.stderr)
        return 2
    print_summary(trace, out)
    status = 1 if trace.problems else 0
    try:
        if args.transcript is not None:
            print("", file=out)
            out.write(session.transcript(trace, args.transcript))
        if args.raw is not None:
            paths = session.write_raw(trace, args.raw, args.out)
            print(f"wrote {paths[0]} and {paths[1]}", file=out)
        if args.perfetto:
            count = perfetto.export(trace, args.perfetto)
            print(f"wrote {count} trace events to {args.perfetto} "
                  "(open it in ui.perfetto.dev or chrome://tracing)", file=out)
    except (session.UnknownConnection, OSError) as exc:
        print(f"inspector open: {exc}", file=sys.stderr)
        return 2
    return status


def _when(stamp: Any) -> str:
    if not isinstance(stamp, (int, float)) or isinstance(stamp, bool):
        return "?"
    try:
        return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return "?"


def print_summary(trace: Trace, out: TextIO) -> None:
    """Write a human-readable summary of ``trace`` to ``out``.

    Text from the recording is escaped (:func:`printable`): a recording is data from
    peers and may hold terminal escape sequences or line breaks.
    """
    h = trace.header

    def w(text: str = "") -> None:
        out.write(printable(text) + "\n")

    w(f"recording: version {h.get('version', '?')}, started {_when(h.get('start_time'))}, "
      f"reactor {h.get('reactor') or '?'}, host {h.get('host', '?')}")
    for problem in trace.problems:
        w(f"WARNING: {problem}")
    if h.get("missed"):
        w(f"WARNING: the recorder fell behind and missed {h['missed']} events")
    totals = trace.totals()
    w(f"events: {sum(totals.values())}"
      + (" (" + ", ".join(f"{kind} {n}" for kind, n in sorted(totals.items())) + ")" if totals else ""))
    dropped = h.get("dropped") or {}
    if isinstance(dropped, dict) and dropped:
        w("dropped while live: " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    turns = trace.buffers["loop.turn"]
    if len(turns):
        durations = [t.duration for t in turns]
        w(f"loop turns: {turns.total}, mean {1000 * sum(durations) / len(durations):.3f} ms, "
          f"longest {1000 * max(durations):.3f} ms")
    fired = trace.buffers["timer.fired"]
    if len(fired):
        w(f"timers fired: {fired.total}, latest by {1000 * max(t.lateness for t in fired):.3f} ms")
    w()
    w(f"connections: {len(trace.connections)}")
    for c in trace.connections.values():
        reason = f" ({c.reason_type}: {c.reason})" if c.reason_type else ""
        w(f"  #{c.id} {c.role or '?'} {c.transport} {c.protocol or '?'} "
          f"{c.local or '?'} <-> {c.peer or '?'}: {c.state}{reason}, "
          f"{c.bytes_in} B in, {c.bytes_out} B out, {len(c.messages)} messages")
    finished = list(trace.finished.values())
    failed = [d for d in finished if d.state == "failed"]
    w()
    w(f"Deferreds: {len(trace.pending)} pending, {len(finished)} finished ({len(failed)} failed)")
    for d in list(trace.pending.values())[:20]:
        waits = f", waits on {d.waiting_on}" if d.waiting_on else ""
        w(f"  pending #{d.id} created at {d.site or '?'} in {d.function or '?'}{waits}")
    for d in failed[:20]:
        w(f"  failed #{d.id} {d.result_type}: {d.result_repr} (created at {d.site or '?'})")
    warnings = trace.warnings
    w()
    w(f"warnings: {warnings.total}")
    for warning in warnings:
        w(f"  [{warning.category}] {warning.message}")
