"""The demo scenario: echo server and clients, QOTD asked every second, IRC bots chatting.

The demo is itself a service: it is listed under Running (first, as "demo"), the
launcher's Stop and Stop all stop it, and stopping it cancels its timers, its QOTD
queries in flight and every service it started. Those are started through the
launcher (so they are listed and can be stopped one by one) on ports the system
picks, and kept busy by timers on the reactor.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inspector import catalog
from inspector.catalog.handles import Handle
from inspector.defer import Deferred, succeed
from inspector.ui.panels.launcher import LauncherPanel
from inspector.ui.viewmodel.services import Service

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.ui.demo")

CHAT = (
    "hello, is anybody listening?",
    "loud and clear",
    "how is the loop today?",
    "every turn under a millisecond",
    "did you see that Deferred chain?",
    "three callbacks and an errback",
    "ping me when the quote arrives",
    "will do",
)


@dataclass(frozen=True)
class DemoEntry:
    """What the launcher's list needs to know of the demo (it is not in the catalogue)."""

    title: str = "Demo"
    role: str = "demo"
    transport: str = ""
    key: str = "demo"
    accepts_lines: bool = False


class DemoHandle(Handle):
    """The demo as a launcher handle: ``stop()`` ends the whole demo, ``done`` fires then.

    Output, listeners, transcript and ``running`` are the catalogue's :class:`Handle`'s;
    ``output(line)`` reports what the demo just did to the list.
    """

    TRANSCRIPT = 50

    def __init__(self, demo: "Demo") -> None:
        super().__init__(DemoEntry(), "demo: echo, QOTD and IRC bots")  # type: ignore[arg-type]  # Entry's shape
        self.demo = demo

    def stop(self) -> Deferred:
        """Stop the demo and everything it started."""
        self.demo.stop()
        return succeed(None)

    def send_line(self, text: str) -> Deferred:
        """The demo takes no typed lines."""
        raise TypeError("the demo does not send lines")


class Demo:
    """Starts the demo services and the timers that keep them talking; ``stop()`` ends it."""

    def __init__(self, launcher: LauncherPanel, reactor: ReactorLike, echo_clients: int = 3) -> None:
        self.launcher = launcher
        self.reactor = reactor
        self.echo_clients = echo_clients
        self.services: list[Service] = []
        self.timers: list[Any] = []
        self.queries: list[Any] = []
        self.running = False
        self.handle = DemoHandle(self)
        self.service: Service | None = None
        self._lines = itertools.count(1)
        self._chat = itertools.cycle(CHAT)

    def start(self) -> list[str]:
        """Start everything it can; return the problems (also shown in the window)."""
        self.running = True
        self.service = self.launcher.add_handle(self.handle.entry, self.handle, {})
        problems: list[str] = []
        echo = self._start("echo", "server", {"port": 0})
        if echo is not None:
            port = echo.handle.address.port
            clients = [self._start("echo", "client", {"port": port}) for _ in range(self.echo_clients)]
            self._every(0.7, self._echo_tick, [c for c in clients if c is not None])
        else:
            problems.append("echo server")
        qotd = self._start("qotd", "server", {"port": 0})
        if qotd is not None:
            self._every(1.0, self._qotd_tick, qotd.handle.address.port)
        else:
            problems.append("qotd server")
        if self._has("irc", "server"):
            irc = self._start("irc", "server", {"port": 0})
            if irc is not None:
                port = irc.handle.address.port
                bots = [
                    self._start("irc", "client", {"port": port, "nick": nick, "channel": "#demo"})
                    for nick in ("alice", "bob")
                ]
                self._every(1.3, self._chat_tick, [b for b in bots if b is not None])
            else:
                problems.append("irc server")
        else:
            problems.append("irc (not in the catalogue)")
        for problem in problems:
            log.warning("demo: could not start %s", problem)
        started = len(self.services)
        self.handle.output(f"{started} services" + (f", without {', '.join(problems)}" if problems else ""))
        return problems

    def stop(self) -> None:
        """Cancel the demo's timers and queries in flight and stop its services."""
        if not self.running:
            return
        self.running = False
        for timer in self.timers:
            if timer.active():
                timer.cancel()
        self.timers.clear()
        for handle in self.queries:
            if handle.running:
                handle.stop()
        self.queries.clear()
        for service in self.services:
            self.launcher.stop(service)
        if not self.handle.done.called:
            self.handle.done.callback(None)

    @staticmethod
    def _has(name: str, role: str) -> bool:
        try:
            catalog.find(name, role)
        except KeyError:
            return False
        return True

    def _start(self, name: str, role: str, values: dict[str, Any]) -> Service | None:
        try:
            entry = catalog.find(name, role)
        except KeyError:
            return None
        known = {param.name for param in entry.params}
        service = self.launcher.start_entry(entry, {k: v for k, v in values.items() if k in known})
        if service is not None:
            self.services.append(service)
        return service

    def _every(self, interval: float, fn: Any, *args: Any) -> None:
        def tick() -> None:
            if not self.running:
                return
            try:
                fn(*args)
            except Exception:
                log.exception("demo step %s failed", getattr(fn, "__name__", fn))
            self.timers.append(self.reactor.callLater(interval, tick))
            self.timers[:] = [t for t in self.timers if t.active()]

        self.timers.append(self.reactor.callLater(interval, tick))

    def _echo_tick(self, clients: list[Service]) -> None:
        for service in clients:
            if service.running:
                self._send(service, f"ping {next(self._lines)} from client {service.number}")

    def _qotd_tick(self, port: int) -> None:
        entry = catalog.find("qotd", "client")
        handle = entry.start(self.reactor, port=port)
        self.queries[:] = [q for q in self.queries if q.running]
        self.queries.append(handle)
        handle.done.addErrback(lambda failure: log.warning("demo QOTD query failed: %s", failure.getErrorMessage()))

    def _chat_tick(self, bots: list[Service]) -> None:
        live = [b for b in bots if b.running]
        if live:
            speaker = live[next(self._lines) % len(live)]
            self._send(speaker, next(self._chat))

    @staticmethod
    def _send(service: Service, text: str) -> None:
        try:
            d = service.handle.send_line(text)
        except Exception as exc:
            log.warning("demo: %s could not send: %s", service.handle.description, exc)
            return
        if d is not None and hasattr(d, "addErrback"):
            d.addErrback(
                lambda failure: log.warning("demo: %s: %s", service.handle.description, failure.getErrorMessage())
            )
