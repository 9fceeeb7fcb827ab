"""A user's program (``inspector run TARGET``) running inside the window.

The program is loaded and started as the headless command does it (the loader and the
shared pieces of :mod:`inspector.commands.run`); here each part becomes a launcher row:
every service of an ``application`` / ``makeService`` (each child of the top service
collection, or the lone service) with its own Stop, and ``main(reactor, *args)`` as one
row that ends (or fails) when its Deferred fires. Anything that goes wrong while loading
or starting opens a non-blocking dialog and leaves a Log entry with the details; the
window stays usable.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from inspector.catalog.handles import Handle
from inspector.commands.loader import LoadError, load_entry_point, user_traceback
from inspector.commands.run import (
    StartError,
    as_deferred,
    child_services,
    describe_service,
    raise_listen_errors,
    service_of,
    start_service,
)
from inspector.defer import Deferred, DeferredList, maybeDeferred, succeed
from inspector.failure import Failure

if TYPE_CHECKING:
    from inspector.interfaces import IService, ReactorLike
    from inspector.ui.panels.launcher import LauncherPanel

log = logging.getLogger("inspector.run")

__all__ = ["ProgramEntry", "ServiceHandle", "MainHandle", "Program", "run_program", "show_problem"]


@dataclass(frozen=True)
class ProgramEntry:
    """What the launcher's list needs to know of a user's program (it is not in the catalogue)."""

    title: str = "Your program"
    role: str = "program"
    transport: str = ""
    key: str = "program"
    accepts_lines: bool = False


def _short(source: str) -> str:
    """``app.tac`` for a path, the module name for a module."""
    return os.path.basename(source) or source


class ServiceHandle(Handle):
    """One service of the program as a launcher row; Stop stops that service alone.

    A service that has a running parent is taken out of it (Twisted's
    ``removeService``, which calls its ``stopService``), so when the window closes the
    application's own ``stopService`` stops only what still runs, each service once.
    """

    def __init__(self, service: IService, description: str) -> None:
        super().__init__(ProgramEntry(), description)  # type: ignore[arg-type]  # Entry's shape
        self.service = service

    def stop(self) -> Deferred:
        """Stop the service; the Deferred fires (with None) once its ``stopService`` has."""
        if self.done.called:
            return succeed(None)
        service: Any = self.service
        parent = getattr(service, "parent", None)
        if parent is not None and getattr(parent, "running", False):
            stopping = maybeDeferred(service.disownServiceParent)
        elif service.running:
            stopping = maybeDeferred(service.stopService)
        else:
            stopping = succeed(None)

        def stopped(result: Any) -> None:
            self.finish(result if isinstance(result, Failure) else None)

        return stopping.addBoth(stopped)


class MainHandle(Handle):
    """``main(reactor, *args)`` as one launcher row: "ended" when its Deferred fires,
    "failed" (with the failure's message) when it fails; Stop cancels it."""

    def __init__(self, main: Callable[..., Any], args: list[str], reactor: ReactorLike, source: str) -> None:
        super().__init__(ProgramEntry(), f"main of {_short(source)}")  # type: ignore[arg-type]  # Entry's shape
        self.main = main
        self.args = args
        self.reactor = reactor
        self.deferred: Deferred | None = None
        self.stopping = False

    def start(self) -> None:
        """Call main; its Deferred (or value, coroutine, exception) decides how the row ends."""
        self.deferred = as_deferred(self.main)(self.reactor, *self.args)
        self.deferred.addBoth(self._fired)

    def _fired(self, result: Any) -> None:
        if isinstance(result, Failure):
            if self.stopping:
                self.note(f"stopped ({result.getErrorMessage()})")
                result = None
        elif result is not None:
            self.output(f"main returned {result!r}")
        self.finish(result)

    def stop(self) -> Deferred:
        """Cancel main's Deferred (its canceller, if any, runs); the row shows stopped."""
        if not self.done.called and self.deferred is not None:
            self.stopping = True
            self.deferred.cancel()
            self.finish(None)  # a Deferred without a canceller does not fire on cancel
        return succeed(None)


class Program:
    """A program started in the window: its top service (None for ``main``) and its rows."""

    def __init__(self, source: str, service: IService | None, handles: list[Handle]) -> None:
        self.source = source
        self.service = service
        self.handles = handles

    def stop(self) -> Deferred | None:
        """Stop what still runs (a shutdown trigger: closing the window runs it).

        Services stopped from their row already left the application, so the
        application's ``stopService`` stops each remaining one once; a main still
        running is cancelled.
        """
        service: Any = self.service
        waits = [handle.stop() for handle in self.handles if handle.running and not isinstance(handle, ServiceHandle)]
        if service is not None and service.running:
            waits.append(maybeDeferred(service.stopService).addErrback(self._stop_failed))
        for handle in self.handles:  # stopped with the application
            if isinstance(handle, ServiceHandle) and not handle.service.running:
                handle.finish(None)
        return DeferredList(waits, consumeErrors=True) if waits else None

    def _stop_failed(self, failure: Failure) -> None:
        log.error("%s: stopping failed: %s", self.source, failure.getErrorMessage(),
                  extra={"details": failure.getTraceback()})


def show_problem(parent: QWidget, title: str, message: str, details: str = "") -> QMessageBox:
    """Say what went wrong in a dialog that does not block the loop (``open()``), in the
    status bar and as a Log entry carrying ``details`` (a trimmed traceback)."""
    log.error("%s", message, extra={"details": details})
    status = getattr(parent, "statusBar", None)
    if status is not None:
        status().showMessage(message, 15000)
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("run.problem")
    box.setInformativeText("The Log panel has this too. The window still works: start anything from the launcher.")
    if details:
        box.setDetailedText(details)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def run_program(
    window: QWidget, launcher: LauncherPanel, reactor: ReactorLike, target: str, program_args: list[str]
) -> Program | None:
    """Load ``target`` and start it on ``reactor``, listing its parts in ``launcher``.

    Returns the running :class:`Program`, or None after showing why it could not load
    or start (``window`` is the dialog's parent).
    """
    title = f"Cannot run {target}"
    try:
        entry = load_entry_point(target)
    except LoadError as exc:
        show_problem(window, title, str(exc), exc.details)
        return None
    if entry.kind == "main":
        main = MainHandle(entry.value, program_args, reactor, entry.source)
        launcher.add_handle(main.entry, main, {})
        main.start()
        program = Program(entry.source, None, [main])
    else:
        try:
            service = service_of(entry, program_args)
        except LoadError as exc:
            show_problem(window, title, str(exc), exc.details)
            return None
        raise_listen_errors(service)
        try:
            start_service(service)
        except StartError as exc:
            cause = exc.__cause__
            show_problem(window, title, f"{entry.source}: cannot start: {exc}",
                         user_traceback(cause) if cause is not None else "")
            return None
        handles: list[Handle] = []
        for child in child_services(service):
            handle = ServiceHandle(child, describe_service(child))
            launcher.add_handle(handle.entry, handle, {})
            handles.append(handle)
        program = Program(entry.source, service, handles)
    reactor.addSystemEventTrigger("before", "shutdown", program.stop)
    log.info("%s running in the window", entry.source)
    return program
