"""The "Proxy" entry: relay clients to a server with faults, both legs traced and linked.

``inspector serve proxy --port 8000 --upstream-host 127.0.0.1 --upstream-port 7000`` and
the launcher's form start the same :class:`~inspector.proxy.Proxy`; its handle
(:class:`ProxyHandle`) keeps it as ``handle.proxy``, whose ``faults`` may be changed live.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from inspector.catalog.builtin import ENDPOINT, INTERFACE
from inspector.catalog.checks import check_host, check_port, check_server_port
from inspector.catalog.handles import ServerHandle
from inspector.catalog.model import Entry, Param
from inspector.defer import Deferred, succeed
from inspector.failure import Failure

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike
    from inspector.proxy import Proxy

log = logging.getLogger("inspector.catalog")

__all__ = ["PROXY_ENTRIES", "ProxyHandle", "HOLD_CHOICES", "faults_from"]

#: What ``hold`` takes: nothing held, one direction, or both.
HOLD_CHOICES = ("", "up", "down", "both")


def _check_dissector(value: str) -> None:
    from inspector import dissect

    if value and value not in dissect.names():
        raise ValueError(f"no dissector {value!r}; known: {', '.join(dissect.names())}")


def _dissector_names() -> list[str]:
    from inspector import dissect

    return ["", *dissect.names()]


def _check_not_negative(value: float) -> None:
    if value != value or value < 0:
        raise ValueError(f"must be 0 or more, got {value}")


def _check_positive(value: float) -> None:
    if value != value or value <= 0:
        raise ValueError(f"must be more than 0, got {value}")


def _check_hold(value: str) -> None:
    if value not in HOLD_CHOICES:
        raise ValueError(f"expected up, down or both, got {value!r}")


PROXY_PARAMS: tuple[Param, ...] = (
    Param("port", "int", 8000, "port to listen on for clients (0: any free port)", check_server_port),
    INTERFACE,
    Param("upstream_host", "str", "127.0.0.1", "server each client is relayed to", check_host),
    Param("upstream_port", "int", 8007, "port of that server (8007: the echo server's)", check_port),
    Param("dissector", "str", None, "parse both legs with this dissector (lines, irc, raw ...)",
          _check_dissector, optional=True, choices=_dissector_names),
    Param("latency_up", "float", None, "seconds added to each chunk client -> server",
          _check_not_negative, optional=True),
    Param("latency_down", "float", None, "seconds added to each chunk server -> client",
          _check_not_negative, optional=True),
    Param("jitter", "float", None, "up to this many seconds more or less on each chunk",
          _check_not_negative, optional=True),
    Param("bandwidth", "int", None, "bytes per second, each direction", _check_positive, optional=True),
    Param("slice", "int", None, "write at most this many bytes at a time", _check_positive, optional=True),
    Param("cut_after_bytes", "int", None, "end each session after this many bytes (both ways)",
          _check_not_negative, optional=True),
    Param("cut_after_seconds", "float", None, "end each session after this many seconds",
          _check_positive, optional=True),
    Param("reset", "flag", False, "end sessions with a TCP reset instead of a FIN"),
    Param("hold", "str", None, "hold a direction until released: up, down or both", _check_hold, optional=True,
          choices=lambda: HOLD_CHOICES),
    ENDPOINT,
)


def faults_from(params: dict[str, Any]) -> Any:
    """The :class:`~inspector.proxy.Faults` the entry's parameters describe."""
    from inspector.proxy import Faults

    hold = params.get("hold") or ""
    bandwidth = params.get("bandwidth")
    return Faults(
        latency_up=params.get("latency_up") or 0.0, latency_down=params.get("latency_down") or 0.0,
        jitter=params.get("jitter") or 0.0, bandwidth_up=bandwidth, bandwidth_down=bandwidth,
        slice_size=params.get("slice"), cut_after_bytes=params.get("cut_after_bytes"),
        cut_after_seconds=params.get("cut_after_seconds"), reset=bool(params.get("reset")),
        hold_up=hold in ("up", "both"), hold_down=hold in ("down", "both"),
    )


class ProxyHandle(ServerHandle):
    """A running proxy: ``proxy`` is the :class:`~inspector.proxy.Proxy` (its sessions and
    live faults); ``stop()`` stops listening and closes every session."""

    def __init__(self, entry: Entry, proxy: Proxy) -> None:
        super().__init__(entry, f"proxy to {proxy.upstream_label}")
        self.proxy = proxy

    def stop(self) -> Deferred:
        if self.done.called:
            return succeed(None)
        log.info("%s stopping", self.description)

        def stopped(_: Any) -> None:
            log.info("%s stopped", self.description)
            self.finish(None)

        return self.proxy.stop().addCallback(stopped)


def _start_proxy(entry: Entry, reactor: ReactorLike, port: int, interface: str, upstream_host: str,
                 upstream_port: int, endpoint: str | None = None, **params: Any) -> ProxyHandle:
    from inspector.proxy import Proxy

    host = f"[{upstream_host}]" if ":" in upstream_host else upstream_host
    proxy = Proxy(reactor, f"tcp:host={host}:port={upstream_port}", faults_from(params),
                  dissector=params.get("dissector"))
    where = endpoint or f"tcp:{port}:interface={f'[{interface}]' if ':' in interface else interface}"
    outcome: list[Any] = []
    proxy.listen(where).addBoth(outcome.append)
    if outcome and isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    handle = ProxyHandle(entry, proxy)
    if outcome:
        handle.listening(outcome[0])
    return handle


PROXY_ENTRIES: list[Entry] = [
    Entry("proxy", "server", "tcp", "Proxy",
          "Relays each client to a server, both legs traced and linked, parsed by a dissector, "
          "with faults: latency, bandwidth, slicing, cuts, resets and holds (changeable live).",
          PROXY_PARAMS, _start_proxy),
]
