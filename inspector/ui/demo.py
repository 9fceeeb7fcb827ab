"""The demo scenario: echo server and clients, QOTD asked every second, IRC bots chatting.

Everything is started through the launcher (so it is listed and can be stopped) on
ports the system picks, and kept busy by timers on the reactor.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from inspector import catalog
from inspector.ui.launcher import LauncherPanel, Service

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


class Demo:
    """Starts the demo services and the timers that keep them talking; ``stop()`` ends it."""

    def __init__(self, launcher: LauncherPanel, reactor: Any, echo_clients: int = 3) -> None:
        self.launcher = launcher
        self.reactor = reactor
        self.echo_clients = echo_clients
        self.services: list[Service] = []
        self.timers: list[Any] = []
        self.running = False
        self._lines = itertools.count(1)
        self._chat = itertools.cycle(CHAT)

    def start(self) -> list[str]:
        """Start everything it can; return the problems (also shown in the window)."""
        self.running = True
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
                bots = [self._start("irc", "client", {"port": port, "nick": nick, "channel": "#demo"}) for nick in ("alice", "bob")]
                self._every(1.3, self._chat_tick, [b for b in bots if b is not None])
            else:
                problems.append("irc server")
        else:
            problems.append("irc (not in the catalogue)")
        for problem in problems:
            log.warning("demo: could not start %s", problem)
        return problems

    def stop(self) -> None:
        """Cancel the demo's timers and stop its services."""
        self.running = False
        for timer in self.timers:
            if timer.active():
                timer.cancel()
        self.timers.clear()
        for service in self.services:
            self.launcher.stop(service)

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
            d.addErrback(lambda failure: log.warning("demo: %s: %s", service.handle.description, failure.getErrorMessage()))
