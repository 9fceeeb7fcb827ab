"""The trace's part of the ``inspector`` command: ``--trace``, ``--record FILE`` and
``inspector open FILE`` (a headless summary of a recording, plus its exports)."""

from __future__ import annotations

import argparse
import atexit
import datetime
import sys
from typing import Any, TextIO

from inspector.trace.model import Trace


def add_arguments(parser: argparse.ArgumentParser, subparsers: Any) -> None:
    """Add the global ``--trace``/``--record`` options and the ``open`` sub-command."""
    parser.add_argument(
        "--trace", action="store_true",
        help="trace connections, Deferreds, timers and loop turns (costs some speed)",
    )
    parser.add_argument(
        "--record", metavar="FILE",
        help="trace, and stream the trace to FILE as JSON Lines (open it with 'inspector open')",
    )
    opener = subparsers.add_parser(
        "open", help="inspect a trace recording",
        description="Print a summary of a trace recording made with --record, or export it.",
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


def start_from_args(args: argparse.Namespace) -> Any:
    """Switch tracing on if ``--trace`` or ``--record`` was given; return the tracer or None.

    With ``--record`` the recording is flushed as the loop runs and closed at exit.
    """
    record_path = getattr(args, "record", None)
    if not (getattr(args, "trace", False) or record_path):
        return None
    from inspector import trace
    from inspector.trace.recording import record

    tracer = trace.enable()
    if record_path:
        try:
            recorder = record(record_path, tracer)
        except OSError as exc:
            trace.disable()
            raise SystemExit(
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
    if not isinstance(stamp, (int, float)):
        return "?"
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


def print_summary(trace: Trace, out: TextIO) -> None:
    """Write a human-readable summary of ``trace`` to ``out``."""
    h = trace.header
    w = out.write
    w(f"recording: version {h.get('version', '?')}, started {_when(h.get('start_time'))}, "
      f"reactor {h.get('reactor') or '?'}, host {h.get('host', '?')}\n")
    for problem in trace.problems:
        w(f"WARNING: {problem}\n")
    if h.get("missed"):
        w(f"WARNING: the recorder fell behind and missed {h['missed']} events\n")
    totals = trace.totals()
    w(f"events: {sum(totals.values())}")
    if totals:
        w(" (" + ", ".join(f"{kind} {n}" for kind, n in sorted(totals.items())) + ")")
    w("\n")
    dropped = h.get("dropped") or {}
    if dropped:
        w("dropped while live: " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) + "\n")
    turns = trace.buffers["loop.turn"]
    if len(turns):
        durations = [t.duration for t in turns]
        w(f"loop turns: {turns.total}, mean {1000 * sum(durations) / len(durations):.3f} ms, "
          f"longest {1000 * max(durations):.3f} ms\n")
    fired = trace.buffers["timer.fired"]
    if len(fired):
        w(f"timers fired: {fired.total}, latest by {1000 * max(t.lateness for t in fired):.3f} ms\n")
    w(f"\nconnections: {len(trace.connections)}\n")
    for c in trace.connections.values():
        reason = f" ({c.reason_type}: {c.reason})" if c.reason_type else ""
        w(f"  #{c.id} {c.role or '?'} {c.transport} {c.protocol or '?'} "
          f"{c.local or '?'} <-> {c.peer or '?'}: {c.state}{reason}, "
          f"{c.bytes_in} B in, {c.bytes_out} B out, {len(c.messages)} messages\n")
    finished = list(trace.finished.values())
    failed = [d for d in finished if d.state == "failed"]
    w(f"\nDeferreds: {len(trace.pending)} pending, {len(finished)} finished "
      f"({len(failed)} failed)\n")
    for d in list(trace.pending.values())[:20]:
        waits = f", waits on {d.waiting_on}" if d.waiting_on else ""
        w(f"  pending #{d.id} created at {d.site or '?'} in {d.function or '?'}{waits}\n")
    for d in failed[:20]:
        w(f"  failed #{d.id} {d.result_type}: {d.result_repr} (created at {d.site or '?'})\n")
    warnings = trace.warnings
    w(f"\nwarnings: {warnings.total}\n")
    for warning in warnings:
        w(f"  [{warning.category}] {warning.message}\n")
