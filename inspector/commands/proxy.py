"""``inspector proxy --listen ENDPOINT --to ENDPOINT``: put the inspector between a client
and a server, relaying, tracing and perturbing what passes.

Each client that connects to ``--listen`` gets its own connection to ``--to``; faults
(latency, bandwidth, slicing, cuts, resets, holds) come from the flags. Headless, it logs
one line per session (who, bytes each way, how it ended) until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any, Callable, cast

from inspector import reactors
from inspector.commands.common import choose_reactor, install_signal_handlers, setup_logging
from inspector.commands.tracing import options_parser as trace_options

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.proxy")

__all__ = ["add_parser", "run_proxy", "faults_from_args", "WindowRunner"]

#: Opens the window with the proxy running (the window's runner, handed over by
#: ``inspector.cli`` as for ``inspector run``); None: only ``--headless`` works.
WindowRunner = Callable[[argparse.Namespace], int]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value != value or value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 seconds or more, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of bytes, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected more than 0")
    return value


def add_parser(subparsers: Any) -> None:
    """Add ``inspector proxy`` and its fault flags."""
    parser = subparsers.add_parser(
        "proxy", help="relay a client to a server, traced, parsed and with faults",
        description="Relay every client that connects to --listen to the server at --to, both legs traced "
        "and linked, parsed by --dissector, with faults. Directions: 'up' is client to server, 'down' "
        "server to client. Example: inspector proxy --headless --listen 6600 --to 127.0.0.1:6667 "
        "--dissector irc --latency-down 0.2 --jitter 0.05",
        parents=[trace_options()],
    )
    parser.add_argument("--listen", required=True, metavar="ENDPOINT",
                        help="where clients connect: a port (8000, on 127.0.0.1) or an endpoint "
                        "(tcp:8000:interface=0.0.0.0, tcp6:8000)")
    parser.add_argument("--to", required=True, metavar="ENDPOINT", dest="upstream",
                        help="the server: HOST:PORT ([::1]:7000) or tcp:host=HOST:port=PORT")
    parser.add_argument("--dissector", metavar="NAME",
                        help="parse both legs with this dissector (lines, irc, netstrings, int32, raw, plug-ins); "
                        "its messages go to the trace")
    parser.add_argument("--headless", action="store_true", help="no window: log one line per session")
    parser.add_argument("--reactor", dest="sub_reactor", choices=sorted(reactors.REACTORS),
                        help="reactor to run on (default: INSPECTOR_REACTOR, else selectors)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    faults = parser.add_argument_group("faults (each can be changed live from the window)")
    faults.add_argument("--latency", type=_seconds, metavar="SECONDS",
                        help="seconds added to every chunk, each direction")
    faults.add_argument("--latency-up", type=_seconds, metavar="SECONDS",
                        help="seconds added client -> server (overrides --latency that way)")
    faults.add_argument("--latency-down", type=_seconds, metavar="SECONDS",
                        help="seconds added server -> client (overrides --latency that way)")
    faults.add_argument("--jitter", type=_seconds, metavar="SECONDS",
                        help="each chunk's latency varies by up to this much either way (order is kept)")
    faults.add_argument("--bandwidth", type=_positive, metavar="BYTES_PER_SECOND",
                        help="limit each direction to this rate")
    faults.add_argument("--bandwidth-up", type=_positive, metavar="BYTES_PER_SECOND",
                        help="limit client -> server (overrides --bandwidth that way)")
    faults.add_argument("--bandwidth-down", type=_positive, metavar="BYTES_PER_SECOND",
                        help="limit server -> client (overrides --bandwidth that way)")
    faults.add_argument("--slice", type=_positive, metavar="BYTES",
                        help="write at most BYTES at a time, pieces --slice-interval apart (tests framing code)")
    faults.add_argument("--slice-interval", type=_seconds, metavar="SECONDS", default=0.002,
                        help="seconds between slices (default: 0.002)")
    faults.add_argument("--cut-after", type=_count, metavar="BYTES",
                        help="end each session once BYTES were relayed (both directions together)")
    faults.add_argument("--cut-after-seconds", type=_seconds, metavar="S",
                        help="end each session S seconds after the client connected")
    faults.add_argument("--reset", action="store_true",
                        help="end sessions with a TCP reset (RST) instead of a FIN, also when a peer closes")
    faults.add_argument("--hold", choices=["up", "down", "both"],
                        help="queue what arrives in that direction until released (from the window)")
    parser.set_defaults(run_command=run_proxy)


def faults_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~inspector.proxy.Faults` the flags describe."""
    from inspector.proxy import Faults

    def pick(specific: Any, both: Any, default: Any) -> Any:
        return specific if specific is not None else both if both is not None else default

    hold = args.hold or ""
    return Faults(
        latency_up=pick(args.latency_up, args.latency, 0.0),
        latency_down=pick(args.latency_down, args.latency, 0.0),
        jitter=args.jitter or 0.0,
        bandwidth_up=pick(args.bandwidth_up, args.bandwidth, None),
        bandwidth_down=pick(args.bandwidth_down, args.bandwidth, None),
        slice_size=args.slice, slice_interval=args.slice_interval,
        cut_after_bytes=args.cut_after, cut_after_seconds=args.cut_after_seconds or None,
        reset=args.reset, hold_up=hold in ("up", "both"), hold_down=hold in ("down", "both"),
    )


def make_proxy(args: argparse.Namespace, reactor: ReactorLike) -> Any:
    """The :class:`~inspector.proxy.Proxy` the arguments describe (not listening yet).

    Raises ValueError (or ``UnknownDissector``) with a one-line message for a bad flag."""
    from inspector.proxy import Proxy

    return Proxy(reactor, args.upstream, faults_from_args(args), dissector=args.dissector)


def run_proxy(args: argparse.Namespace, window: WindowRunner | None = None) -> int:
    """Run the proxy until interrupted; return the exit status (2 for bad flags, 1 if it
    cannot listen)."""
    from inspector.dissect import UnknownDissector
    from inspector.proxy import server_endpoint_string

    if not args.headless:
        if window is not None:
            return window(args)
        print("inspector proxy: the window cannot show a proxy yet; add --headless", file=sys.stderr)
        return 2
    setup_logging(args.verbose)
    try:
        listen = server_endpoint_string(args.listen)
        from inspector.endpoints import serverFromString

        serverFromString(cast("ReactorLike", None), listen)  # only parsed: a bad --listen is reported before starting
    except ValueError as exc:
        print(f"inspector proxy: error: --listen: {exc}", file=sys.stderr)
        return 2
    reactor = choose_reactor(args)
    try:
        proxy = make_proxy(args, reactor)
    except (ValueError, UnknownDissector) as exc:
        print(f"inspector proxy: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        reactor.close()
        return 2
    failed: list[str] = []

    def start() -> None:
        def cannot(reason: Any) -> None:
            failed.append(reason.getErrorMessage())
            log.error("cannot listen on %s: %s", listen, reason.getErrorMessage())
            reactor.stop()

        proxy.listen(listen).addCallbacks(
            lambda port: log.info("press Ctrl-C to stop"), cannot)

    def stop_proxy() -> Any:
        return proxy.stop()

    if args.hold:
        log.warning("--hold %s headless: held chunks wait until the session ends (release them from the window)",
                    args.hold)
    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop_proxy)
    restore = install_signal_handlers(reactor)
    try:
        reactor.run()
    finally:
        restore()
        reactor.close()
    log.info("stopped")
    return 1 if failed else 0
