"""``inspector run TARGET``: run a user's own program, as ``twistd -n`` runs a ``.tac``.

The target's entry point (:mod:`inspector.commands.loader`) decides how it runs:
an ``application`` or the service ``makeService(options)`` returns is started with
the reactor and stopped by SIGINT/SIGTERM through the shutdown triggers; ``main(reactor,
*args)`` runs until the Deferred it returns fires (``task.react``). Headless, it logs
to standard error and exits non-zero when the program cannot load or start.

The pieces both modes share (:func:`service_of`, :func:`start_service`,
:func:`child_services`, :func:`describe_service`, :func:`as_deferred`) are public here,
so the window (``inspector.ui.program``) runs a program exactly as the headless mode does.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
from typing import Any, Callable

from inspector import reactors
from inspector.commands.common import choose_reactor, install_signal_handlers, setup_logging
from inspector.commands.loader import EntryPoint, LoadError, load_entry_point, user_traceback
from inspector.commands.tracing import options_parser as trace_options
from inspector.defer import Deferred, ensureDeferred, fail, maybeDeferred, succeed
from inspector.error import CannotListenError
from inspector.interfaces import IService, IServiceCollection
from inspector.service import StreamServerEndpointService
from inspector.task import react

log = logging.getLogger("inspector.run")

__all__ = [
    "add_parser", "run_command", "split_program_args", "parse_options", "startup_message", "StartError",
    "service_of", "raise_listen_errors", "start_service", "child_services", "describe_service", "as_deferred",
]

#: Opens the window for ``inspector run`` without ``--headless``: given the parsed
#: arguments, returns the exit status. ``inspector.cli`` passes the window's runner.
WindowRunner = Callable[[argparse.Namespace], int]


def add_parser(subparsers: Any) -> None:
    """Add ``inspector run TARGET [--headless] [--reactor NAME] [--record FILE] [-- ARGS...]``."""
    parser = subparsers.add_parser(
        "run",
        help="run your own program: a .tac/.py file or package.module[:name]",
        description="Run your own program. TARGET is a Python file (app.py, app.tac) or package.module[:name]; "
        "it is searched, in this order, for `application` (an Application or IService), "
        "`makeService(options)` and `main(reactor, *args)`. Arguments after `--` go to the program: "
        "`--option value` pairs become makeService's options, or main's extra arguments. "
        "By default the window opens on the Qt reactor with tracing on: each of the program's services "
        "is listed under Running with its own Stop (main is one row), and its connections, Deferreds and "
        "timers are shown. With --headless it runs like `twistd -n`.",
        parents=[trace_options()],
    )
    parser.add_argument("target", metavar="TARGET", help="app.py, app.tac, or package.module[:name]")
    parser.add_argument("program_args", metavar="ARGS", nargs="*", help="after --: the program's arguments")
    parser.add_argument("--headless", action="store_true", help="no window: log to standard error (like twistd -n)")
    parser.add_argument(
        "--reactor", dest="sub_reactor", choices=sorted(reactors.REACTORS),
        help="reactor to run on with --headless (default: INSPECTOR_REACTOR, else selectors); the window runs on qt",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    parser.set_defaults(run_command=run_command)


def split_program_args(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Split ``inspector ... run TARGET ... -- ARGS`` at the ``--`` into ours and the program's.

    argparse drops a ``--`` given to a sub-command and then refuses what follows it,
    so the program's arguments are taken off before parsing. Other commands are left
    alone (None: no program arguments).
    """
    if "--" not in argv or "run" not in argv[: argv.index("--")]:
        return argv, None
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]


def parse_options(args: list[str]) -> dict[str, Any]:
    """Turn ``--name value`` / ``--name=value`` / ``--flag`` into ``{"name": "value", "flag": True}``.

    Raises ValueError on an argument that is not an option, so a typo is reported.
    """
    options: dict[str, Any] = {}
    index = 0
    while index < len(args):
        word = args[index]
        if not word.startswith("--") or word == "--":
            raise ValueError(f"expected --option value, got {word!r}")
        key, equals, value = word[2:].partition("=")
        if equals:
            options[key] = value
        elif index + 1 < len(args) and not args[index + 1].startswith("--"):
            options[key] = args[index + 1]
            index += 1
        else:
            options[key] = True
        index += 1
    return options


def startup_message(exc: BaseException) -> str:
    """One line saying why a service did not start; a port in use is named."""
    if isinstance(exc, CannotListenError):
        reason = exc.socketError
        why = getattr(reason, "strerror", None) or str(reason)
        where = exc.interface or "all interfaces"
        return f"cannot listen on port {exc.port} ({where}): {why}"
    return f"{type(exc).__name__}: {exc}"


def _error(message: str) -> int:
    print(f"inspector run: error: {message}", file=sys.stderr)
    return 1


class StartError(Exception):
    """A service did not start; ``str()`` is the one line :func:`startup_message` gives."""


def run_command(args: argparse.Namespace, window: WindowRunner | None = None) -> int:
    """Load the target and run it; return the exit status.

    With ``--headless`` it runs here, like ``twistd -n``. Otherwise ``window`` opens the
    window and runs the program in it: the commands layer may not import the window
    (``ui`` sits above ``commands``), so ``inspector.cli``, which may import both, passes
    it in. Without one, window mode is refused with status 2.
    """
    if not args.headless:
        if window is None:
            print("inspector run: no window here; use --headless", file=sys.stderr)
            return 2
        return window(args)
    setup_logging(args.verbose)
    sys.argv = [args.target, *args.program_args]
    # Installed before the target loads, so its default_reactor() is the one chosen.
    reactor = choose_reactor(args)
    try:
        try:
            entry = load_entry_point(args.target)
        except LoadError as exc:
            if exc.details:
                print(exc.details, file=sys.stderr)
            return _error(str(exc))
        if entry.kind == "main":
            return _run_main(entry.value, args.program_args, reactor)
        return _run_service(entry, args.program_args, reactor)
    finally:
        reactor.close()


def service_of(entry: EntryPoint, program_args: list[str]) -> Any:
    """The IService to run: the application itself, or what makeService(options) returns.

    Raises :class:`LoadError` for options that are not ``--name value`` pairs, a
    makeService that raises (with the user's frames) or returns no IService.
    """
    if entry.kind == "application":
        return IService(entry.value)
    try:
        options = parse_options(program_args)
    except ValueError as exc:
        raise LoadError(f"makeService options: {exc}") from None
    try:
        built = entry.value(options)
    except Exception as exc:
        raise LoadError(f"makeService failed: {type(exc).__name__}: {exc}", user_traceback(exc)) from None
    service = IService(built, None)
    if service is None:
        raise LoadError(f"makeService returned {type(built).__name__}, not an IService")
    return service


def raise_listen_errors(service: Any) -> None:
    """Make endpoint services raise a failure to listen instead of only logging it (as twistd does)."""
    if isinstance(service, StreamServerEndpointService):
        service._raiseSynchronously = True
    for child in getattr(service, "services", ()):
        raise_listen_errors(child)


def start_service(service: Any) -> None:
    """``privilegedStartService`` then ``startService``, for a reactor that already runs.

    On failure whatever did start is stopped again and :class:`StartError` says why in
    one line (a port in use is named).
    """
    try:
        service.privilegedStartService()
        service.startService()
    except Exception as exc:
        # Stopped even when not marked running: a sibling may already listen (TCPServer
        # binds in privilegedStartService), and its port must not stay open.
        maybeDeferred(service.stopService).addErrback(
            lambda failure: log.error("stopping %r after it failed to start: %s", service, failure.getErrorMessage())
        )
        raise StartError(startup_message(exc)) from exc


def child_services(service: Any) -> list[Any]:
    """The parts of a program listed (and stopped) one by one: the children of a service
    collection (an Application's services), or the service itself when it has none."""
    collection: Any = IServiceCollection(service, None)
    children = list(collection) if collection is not None else []
    return children or [service]


def describe_service(service: Any) -> str:
    """One short line naming ``service`` and, for a server that listens, where."""
    name = getattr(service, "name", None)
    label = f"{type(service).__name__} {name!r}" if name else type(service).__name__
    where = _listening_address(service)
    return f"{label} on {where}" if where else label


def _listening_address(service: Any) -> str:
    """``host:port`` a server service listens on, or "" (not a server, or not listening)."""
    port = getattr(service, "port", None) or getattr(service, "_port", None)
    try:
        host = port.getHost() if port is not None else None
    except Exception:
        return ""
    if host is None or not hasattr(host, "port"):
        return ""
    address = str(getattr(host, "host", ""))
    return f"[{address}]:{host.port}" if ":" in address else f"{address}:{host.port}"


def _run_service(entry: EntryPoint, program_args: list[str], reactor: Any) -> int:
    """Start the service tree with the reactor; stop it before shutdown; 1 if it failed to start."""
    try:
        service = service_of(entry, program_args)
    except LoadError as exc:
        if exc.details:
            print(exc.details, file=sys.stderr)
        return _error(str(exc))
    raise_listen_errors(service)
    failed: list[str] = []
    try:
        service.privilegedStartService()
    except Exception as exc:
        return _error(f"{entry.source}: cannot start: {startup_message(exc)}")

    def start() -> None:
        try:
            service.startService()
        except Exception as exc:
            failed.append(startup_message(exc))
            reactor.stop()
            return
        log.info("%s running; press Ctrl-C to stop", entry.source)

    def stop() -> Any:
        return service.stopService() if service.running else None

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    restore = install_signal_handlers(reactor)
    try:
        reactor.run()
    finally:
        restore()
    if failed:
        return _error(f"{entry.source}: cannot start: {failed[0]}")
    log.info("stopped")
    return 0


def as_deferred(main: Callable[..., Any]) -> Callable[..., Deferred[Any]]:
    """Wrap ``main`` so that any result (a value, a Deferred, a coroutine, an exception) is a Deferred."""

    def call(reactor: Any, *args: Any) -> Deferred[Any]:
        try:
            result = main(reactor, *args)
        except BaseException:
            return fail()
        if isinstance(result, Deferred):
            return result
        if inspect.iscoroutine(result):
            return ensureDeferred(result)
        return succeed(result)

    return call


def _run_main(main: Callable[..., Any], program_args: list[str], reactor: Any) -> int:
    """``task.react``: run until main's Deferred fires; 0 on success, 1 on failure."""
    restore = install_signal_handlers(reactor)
    try:
        react(as_deferred(main), program_args, reactor)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        restore()
    return 0
