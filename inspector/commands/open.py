"""``inspector open FILE``: a headless summary of a trace recording, its exports, and a
connection's transcript, raw bytes, or messages decoded again with a dissector.

The summary is built from the :class:`~inspector.trace.model.Trace` that
:func:`~inspector.trace.recording.load` folds (the same fold the window uses), so the
command and the window say the same about a recording.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import Any, Callable, TextIO, cast

from inspector.files import MiB
from inspector.trace import events as ev
from inspector.trace.model import Trace
from inspector.trace.recording import MAX_RECORDING_BYTES
from inspector.trace.session import printable

__all__ = ["add_parser", "run_open", "print_summary"]


def add_parser(subparsers: Any) -> None:
    """Register the ``open`` sub-command."""
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
    opener.add_argument("--decode", metavar="CONN:NAME", type=_decode_spec,
                        help="print connection CONN's recorded bytes decoded again with dissector "
                        "NAME, one message a line (names: lines, irc, netstrings, int32, raw, "
                        "and any plug-in)")
    opener.add_argument("--out", metavar="DIR", default=".",
                        help="directory for --raw (default: the current one)")
    opener.set_defaults(run_command=run_open)


def _decode_spec(text: str) -> tuple[int, str]:
    """``--decode``'s value: ``CONN:NAME``, a connection id and a dissector name."""
    conn, colon, name = text.partition(":")
    try:
        number = int(conn)
    except ValueError:
        number = -1
    if not colon or not name or number < 0:
        raise argparse.ArgumentTypeError(f"expected CONN:NAME (like 1:irc), not {text!r}")
    return number, name


def print_decoded(trace: Trace, conn: int, name: str, out: TextIO) -> int:
    """Decode connection ``conn``'s recorded bytes with dissector ``name``; print one line a message.

    Each line holds the seconds since the connection opened, the direction (``in`` from
    the peer, ``out`` to it), the message's kind and its summary. Returns how many
    messages there were. Raises ``UnknownDissector`` or ``UnknownConnection``. The
    decoding is the window's "Decode as…" (:class:`~inspector.dissect.decode.Redecoder`).
    """
    from inspector.dissect.decode import Redecoder
    from inspector.trace.session import UnknownConnection, recorded_chunks

    decoder = Redecoder(name)
    summary = trace.connections.get(conn)
    if summary is None:
        raise UnknownConnection(f"the trace holds no connection {conn} (known: "
                                f"{', '.join(map(str, trace.connections)) or 'none'})")
    found = decoder.update(recorded_chunks(summary))
    found += decoder.finish()
    for item in found:
        message = item.message
        # Bytes carry the time their loop turn began, which may be a hair before the open
        # was stamped in the same turn: nothing is shown before the connection opened.
        since = max(item.time - summary.opened, 0.0)
        out.write(printable(f"{since:+10.6f} {message.direction:<3} "
                            f"{message.kind:<10} {message.summary}") + "\n")
    return len(found)


def run_open(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``inspector open FILE``: load the recording, print its summary, run the exports.

    With ``--transcript`` or ``--decode`` only the transcript or the decoded messages go
    to ``out`` (so they can be redirected to a file); the recording's problems and what
    the exports wrote go to standard error.
    """
    from inspector.dissect import BadDissector, UnknownDissector
    from inspector.trace import perfetto, session
    from inspector.trace.recording import RecordingError, load

    out = out or sys.stdout
    try:
        trace = load(args.file)
    except (OSError, RecordingError) as exc:
        print(f"inspector open: {exc}", file=sys.stderr)
        return 2
    status = 1 if trace.problems else 0
    notes = out
    decode = getattr(args, "decode", None)
    if args.transcript is None and decode is None:
        print_summary(trace, out)
    else:
        notes = sys.stderr
        for problem in trace.problems:
            print(f"inspector open: WARNING: {printable(problem)}", file=notes)
    try:
        if args.transcript is not None:
            out.write(session.transcript(trace, args.transcript))
        if decode is not None:
            print_decoded(trace, decode[0], decode[1], out)
        if args.raw is not None:
            paths = session.write_raw(trace, args.raw, args.out)
            print(f"wrote {paths[0]} and {paths[1]}", file=notes)
        if args.perfetto:
            count = perfetto.export(trace, args.perfetto)
            print(f"wrote {count} trace events to {args.perfetto} "
                  "(open it in ui.perfetto.dev or chrome://tracing)", file=notes)
    except (session.UnknownConnection, UnknownDissector, BadDissector, OSError) as exc:
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
        if any(str(key).startswith("process.") for key in h):  # written by `inspector attach`
            w(f"WARNING: {h['missed']} events are not in this recording: the attached processes sent a "
              "sample, within their CPU budget, or the recorder fell behind (for every event, record in "
              "the process itself: --record FILE)")
        else:
            w(f"WARNING: the recorder fell behind and missed {h['missed']} events")
    totals = trace.totals()
    w(f"events: {sum(totals.values())}"
      + (" (" + ", ".join(f"{kind} {n}" for kind, n in sorted(totals.items())) + ")" if totals else ""))
    dropped = h.get("dropped") or {}
    if isinstance(dropped, dict) and dropped:
        w("dropped while live: " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    turns = trace.buffers["loop.turn"]
    if len(turns):
        durations = [cast(ev.LoopTurn, t).duration for t in turns]
        w(f"loop turns: {turns.total}, mean {1000 * sum(durations) / len(durations):.3f} ms, "
          f"longest {1000 * max(durations):.3f} ms")
    fired = trace.buffers["timer.fired"]
    if len(fired):
        w(f"timers fired: {fired.total}, latest by {1000 * max(cast(ev.TimerFired, t).lateness for t in fired):.3f} ms")
    w()
    kept = len(trace.connections)
    seen = kept + trace.connections_dropped
    if seen > kept:  # the fold keeps the open ones and the newest closed ones
        w(f"connections: {seen} (listed: the {kept} kept, every open one and the newest closed; "
          f"{trace.connections_dropped} older closed ones are only counted)")
    else:
        w(f"connections: {kept}")
    for c in trace.connections.values():
        reason = f" ({c.close_reason})" if c.close_reason else ""
        linked = f", proxied {'to' if c.link_role == 'client' else 'from'} #{c.linked}" if c.linked else ""
        w(f"  #{c.id} {c.role or '?'} {c.transport} {c.protocol or '?'} "
          f"{c.local or '?'} <-> {c.peer or '?'}: {c.state}{reason}, "
          f"{c.bytes_in} B in, {c.bytes_out} B out, {len(c.messages)} messages{linked}")
    finished = list(trace.finished.values())
    failed = [d for d in finished if d.state == "failed"]
    w()
    created = totals.get(ev.DeferredCreated.kind, 0)
    if created > len(trace.pending) + len(finished):
        w(f"Deferreds: {created} created; kept: {len(trace.pending)} pending, the newest {len(finished)} "
          f"finished ({len(failed)} of them failed)")
    else:
        w(f"Deferreds: {len(trace.pending)} pending, {len(finished)} finished ({len(failed)} failed)")
    for d in list(trace.pending.values())[:20]:
        waits = f", waits on {d.waiting_on}" if d.waiting_on else ""
        w(f"  pending #{d.id} created at {d.site or '?'} in {d.function or '?'}{waits}")
    for d in failed[:20]:
        w(f"  failed #{d.id} {d.result_type}: {d.result_repr} (created at {d.site or '?'})")
    warnings = trace.warnings
    w()
    _print_warnings([cast(ev.TraceWarning, event) for event in warnings], warnings.total, w)


#: Warnings of one category listed in a summary; the rest are counted.
WARNINGS_LISTED = 10


def _print_warnings(warnings: list[ev.TraceWarning], total: int, w: Callable[[str], None]) -> None:
    """The warnings line with counts per category, then the first :data:`WARNINGS_LISTED`
    of each category: a busy recording holds thousands of late timers, and a summary
    that lists them all buries the one slow callback that matters."""
    by_category: dict[str, list[ev.TraceWarning]] = {}
    for warning in warnings:
        by_category.setdefault(warning.category, []).append(warning)
    counts = ", ".join(f"{category} {len(items)}" for category, items in by_category.items())
    kept = "" if len(warnings) == total else f"the newest {len(warnings)} kept: "
    w(f"warnings: {total}" + (f" ({kept}{counts})" if len(by_category) > 1 or kept else ""))
    for category, items in by_category.items():
        for warning in items[:WARNINGS_LISTED]:
            w(f"  [{category}] {warning.message}")
        if len(items) > WARNINGS_LISTED:
            w(f"  ... and {len(items) - WARNINGS_LISTED} more [{category}]")
