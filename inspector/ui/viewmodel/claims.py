"""Which connection belongs to which service the window launched.

Each refresh, connections the trace just reported (or just learnt the protocol of)
are named after the catalogue entry that owns their port, and a client's connection
is tied to the client that made it, so the session panel can send lines through it.
The port matching itself is the catalogue's (:mod:`inspector.catalog.ownership`);
this keeps the window's memory of what it already matched. No Qt.
"""

from __future__ import annotations

from inspector.catalog.ownership import (
    connection_port,
    line_clients_on_port,
    owners_by_port,
    service_port,
    shown_protocol,
)
from inspector.ui.viewmodel.services import Service
from inspector.ui.viewmodel.store import Store

__all__ = ["Claims"]


class Claims:
    """The window's ties between connections and launched services."""

    def __init__(self) -> None:
        #: connection id -> the client service that sends lines on it
        self.owners: dict[int, Service] = {}
        self._to_select: list[Service] = []  # clients the user started, not yet connected
        self._named: set[int] = set()  # connections already named after their service

    def client_started(self, service: Service) -> None:
        """The user started ``service`` from the form: select its first connection."""
        self._to_select = [s for s in self._to_select if s.running] + [service]

    def owner(self, conn_id: int) -> Service | None:
        """The client service that sends lines on connection ``conn_id``, if any."""
        return self.owners.get(conn_id)

    def forget(self, gone: list[int]) -> None:
        """Connections ``gone`` were cleared from the list."""
        for conn_id in gone:
            self.owners.pop(conn_id, None)
            self._named.discard(conn_id)

    def claim(self, store: Store, running: list[Service]) -> int | None:
        """Name and tie the store's new connections to the ``running`` services; return
        the connection to select (a just-started client's first), if any."""
        unnamed = [c for c in store.new_connections if c not in self._named]
        unnamed += [c for c in store.changed_connections if c not in self._named and c in store.connections]
        if not unnamed:
            return None
        for conn_id in [c for c, s in self.owners.items() if not s.running]:
            del self.owners[conn_id]
        owners = owners_by_port(running)
        select = None
        for conn_id in unnamed:
            conn = store.connections[conn_id]
            if not conn.protocol:
                continue  # a client's protocol is known once it connected
            self._named.add(conn_id)
            port = connection_port(conn.role, conn.local, conn.peer)
            owner = owners.get(port)
            if owner is not None:
                conn.protocol = shown_protocol(owner, conn.protocol)
                store.changed_connections.add(conn_id)
            if conn.role == "server" and owner is not None and owner.entry.accepts_lines:
                self.owners[conn_id] = owner  # a raw listener: typed lines go to this peer
            if conn.role == "client" and self._tie(conn_id, port, running):
                select = conn_id
        return select

    def _tie(self, conn_id: int, port: str, running: list[Service]) -> bool:
        """Tie client connection ``conn_id`` to the line client on ``port``; True if it
        is the first connection of a client the user is waiting to see."""
        for service in line_clients_on_port(running, port):
            if not service.connection_ids:
                service.connection_ids.append(conn_id)
                self.owners[conn_id] = service
                break
        for service in self._to_select:
            if service_port(service) == port:
                self._to_select.remove(service)
                return True
        return False
