"""``inspector attach ENDPOINT...``: watch processes that serve their trace.

A process serves its trace with ``--trace-listen`` (or ``INSPECTOR_TRACE_LISTEN``,
or :func:`inspector.trace.listen`). ``inspector attach 127.0.0.1:6669 --headless
--record FILE`` writes what arrives to FILE, a recording ``inspector open`` reads
(several processes in one file: :mod:`inspector.trace.merged`), until ``--duration``
seconds have passed or Ctrl-C. Each process is re-attached when it restarts
("disconnected" / "connected again" in the log). A refused token exits with status 1
and the process's one-line reason; bad options exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Callable

from inspector.commands.common import choose_reactor, install_signal_handlers, setup_logging

log = logging.getLogger("inspector.attach")

__all__ = ["add_parser", "run_attach"]

#: The window's runner for ``attach`` without ``--headless`` (set by whoever can import
#: the window: the window sits above the commands layer).
WindowRunner = Callable[[argparse.Namespace, list[Any]], int]


def add_parser(subparsers: Any) -> None:
    """Add ``inspector attach``."""
    parser = subparsers.add_parser(
        "attach", help="watch processes that serve their trace (--trace-listen)",
        description="Attach to processes serving their trace (started with --trace-listen ENDPOINT or "
        "INSPECTOR_TRACE_LISTEN) and follow them live, re-attaching when they restart.",
    )
    parser.add_argument(
        "endpoints", metavar="ENDPOINT", nargs="*",
        help="HOST:PORT or a client endpoint string (tcp:host=127.0.0.1:port=6669); several to watch "
        "several processes (default: 127.0.0.1:6669, where --trace-listen 6669 serves)",
    )
    parser.add_argument(
        "--token", default=None,
        help="the token the processes want (default: INSPECTOR_TRACE_TOKEN)",
    )
    parser.add_argument("--headless", action="store_true", help="no window: record what arrives (with --record)")
    parser.add_argument(
        "--record", dest="attach_record", metavar="FILE",
        help="write what arrives to FILE, a recording 'inspector open' reads (private, 0600)",
    )
    parser.add_argument("--force", dest="attach_force", action="store_true",
                        help="with --record: replace FILE if it exists")
    parser.add_argument("--duration", type=_seconds, metavar="SECONDS",
                        help="stop after SECONDS (default: run until Ctrl-C)")
    parser.add_argument("--reactor", dest="sub_reactor", choices=["selectors", "asyncio"],
                        help="reactor to run on (default: INSPECTOR_REACTOR, else selectors)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    parser.set_defaults(run_command=run_attach)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86400 * 365:
        raise argparse.ArgumentTypeError(f"--duration must be more than 0 seconds, got {text}")
    return value


def _refuse(message: str) -> int:
    print(f"inspector attach: {message}", file=sys.stderr)
    return 2


def run_attach(args: argparse.Namespace, window: WindowRunner | None = None) -> int:
    """Attach to the processes the arguments name; return the exit status."""
    from inspector.endpoints import clientFromString
    from inspector.trace.live import DEFAULT_PORT
    from inspector.trace.viewer import client_endpoint_text

    token = args.token or os.environ.get("INSPECTOR_TRACE_TOKEN") or None
    if not args.endpoints:
        args.endpoints = [f"127.0.0.1:{DEFAULT_PORT}"]
    for text in args.endpoints:
        try:
            clientFromString(None, client_endpoint_text(text))  # type: ignore[arg-type]  # only parsed
        except ValueError as exc:
            return _refuse(f"bad endpoint {text!r}: {exc}")
    if not args.headless:
        if window is None:
            return _refuse("the window cannot show attached processes yet; use --headless --record FILE")
        return window(args, [])
    if not args.attach_record:
        return _refuse("--headless needs --record FILE (where to write what arrives)")
    setup_logging(args.verbose)
    from inspector.trace.merged import MergedRecording

    try:
        recording = MergedRecording(args.attach_record, overwrite=args.attach_force)
    except FileExistsError:
        return _refuse(f"will not overwrite {args.attach_record}: it exists (give --force to replace it)")
    except OSError as exc:
        return _refuse(f"cannot write {args.attach_record}: {exc.strerror or exc}")
    reactor = choose_reactor(args)
    return _run_headless(reactor, args.endpoints, token, recording, args.duration)


def _run_headless(reactor: Any, endpoints: list[str], token: str | None, recording: Any,
                  duration: float | None) -> int:
    from inspector.trace.viewer import ViewerState, attach

    refusals: list[str] = []
    attachments: list[Any] = []

    def on_events(attachment: Any, events: list[Any]) -> None:
        recording.add(attachment, events)
        if recording.error:
            log.error("%s", recording.error)
            stop()

    def on_state(attachment: Any, state: ViewerState, detail: str) -> None:
        if state == ViewerState.REFUSED:
            refusals.append(f"{attachment.label}: {detail}")
            if all(a.state in (ViewerState.REFUSED, ViewerState.STOPPED) for a in attachments):
                stop()

    def stop_attachments() -> None:
        for attachment in attachments:
            attachment.stop()  # before the loop ends, so its end is not logged as the process's

    def stop() -> None:
        stop_attachments()
        if reactor.running:
            reactor.stop()

    def start() -> None:
        for text in endpoints:
            attachments.append(attach(reactor, text, token, on_events=on_events, on_state=on_state))
        if duration is not None:
            reactor.callLater(duration, stop)
        log.info("recording to %s; %s", recording.path,
                 f"stopping after {duration:g} s" if duration is not None else "press Ctrl-C to stop")

    restore = install_signal_handlers(reactor)
    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop_attachments)  # Ctrl-C, SIGTERM
    try:
        reactor.run()
    finally:
        restore()
        for attachment in attachments:
            attachment.stop()
        recording.close()
        reactor.close()
    log.info("wrote %d events to %s", recording.written, recording.path)
    for refusal in refusals:
        print(f"inspector attach: refused by {refusal}", file=sys.stderr)
    if recording.error:
        return 1
    return 1 if refusals else 0
