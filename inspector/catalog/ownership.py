"""Which launched service a traced connection belongs to.

A server owns the connections accepted on its listening port; a client owns the
connections it made to the port it was told to reach. The trace knows connections
only by their addresses, so the window asks here, by port, whom each one belongs to,
and names it after the catalogue entry ("IRC", not the protocol's class name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar

from inspector.catalog.handles import Handle
from inspector.catalog.model import Entry

__all__ = ["Launched", "connection_port", "owners_by_port", "protocol_title", "service_port", "shown_protocol",
           "line_clients_on_port"]


class Launched(Protocol):
    """A started catalogue entry, as whoever started it keeps it."""

    @property
    def entry(self) -> Entry: ...

    @property
    def handle(self) -> Handle: ...

    @property
    def params(self) -> Mapping[str, Any]: ...


L = TypeVar("L", bound=Launched)


def protocol_title(entry: Entry) -> str:
    """The user-facing name of an entry's protocol: "Echo", "IRC", "QOTD"."""
    title = str(getattr(entry, "title", "") or getattr(entry, "name", ""))
    for role in (" server", " client"):
        if title.endswith(role):
            return title[: -len(role)]
    return title


def service_port(launched: Launched) -> str | None:
    """The port that identifies ``launched``: where a server listens (once it does),
    where a client connects, "pid N" for a child process; None when there is none yet."""
    peer_key = getattr(launched.handle, "peer_key", None)  # a child process: "pid N"
    if peer_key is not None:
        return str(peer_key)
    if launched.entry.role == "server":
        if getattr(launched.handle, "port", None) is None:
            return None
        return str(launched.handle.address.port)  # type: ignore[attr-defined]
    port = launched.params.get("port")
    return None if port is None else str(port)


def connection_port(role: str, local: str, peer: str) -> str:
    """The port that ties a traced connection to its service: the peer's for a client
    connection, its own (the listening port) for a server's; "pid N" for a child
    process, whose peer reads "pid N: command"."""
    if role == "client" and peer.startswith("pid "):
        return peer.partition(":")[0]
    return (peer if role == "client" else local).rpartition(":")[2]


def owners_by_port(running: Iterable[L]) -> dict[str, L]:
    """Map each port to the running service that owns it; a server wins over a client
    of the same port (both ends of a loopback session are named after the server)."""
    services = list(running)
    owners: dict[str, L] = {}
    for role in ("server", "client"):
        for launched in services:
            if launched.entry.role != role:
                continue
            port = service_port(launched)
            if port is not None:
                if role == "server":
                    owners[port] = launched
                else:
                    owners.setdefault(port, launched)
    return owners


def shown_protocol(owner: Launched, traced: str) -> str:
    """What the connections list calls a connection of ``owner`` that the trace called
    ``traced``: the entry's protocol, keeping the trace's "(udp)" mark."""
    return protocol_title(owner.entry) + (" (udp)" if traced.endswith("(udp)") else "")


def line_clients_on_port(running: Iterable[L], port: str) -> list[L]:
    """Running clients that send typed lines and connect to ``port``, in start order."""
    return [launched for launched in running
            if launched.entry.role == "client" and launched.entry.accepts_lines and service_port(launched) == port]
