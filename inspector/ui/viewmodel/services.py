"""What the launcher knows about each service it started: plain Python, no Qt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Service", "peer_hint", "service_texts"]


@dataclass
class Service:
    """A handle started from the launcher, with what the window knows about it."""

    number: int
    entry: Any
    handle: Any
    params: dict[str, Any]
    status: str = "running"
    last_output: str = ""
    error: str = ""
    connection_ids: list[int] = field(default_factory=list)
    #: Started from the form by the user (not by the demo): its first connection is
    #: selected so its session shows at once.
    from_form: bool = False

    @property
    def running(self) -> bool:
        """True until the handle's ``done`` fired."""
        return self.status in ("running", "stopping")


def service_texts(service: Service) -> tuple[str, ...]:
    """The cells of ``service``'s row: a Stop button while it runs, number, what, status."""
    return ("Stop" if service.status == "running" else "", str(service.number), service.handle.description,
            service.status)


def peer_hint(params: dict[str, Any]) -> str:
    """The "host:port" a client started with ``params`` connects to ("" if not a client's)."""
    host, port = params.get("host"), params.get("port")
    return f"{host}:{port}" if host and port else ""
