"""Which launched service owns a traced connection: decided by the catalogue, by port."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inspector import catalog
from inspector.address import IPv4Address
from inspector.catalog.ownership import (
    connection_port,
    line_clients_on_port,
    owners_by_port,
    protocol_title,
    service_port,
    shown_protocol,
)


class ListeningPort:
    def __init__(self, port: int) -> None:
        self.port = port

    def getHost(self) -> IPv4Address:  # noqa: N802 (Twisted's name)
        return IPv4Address("TCP", "127.0.0.1", self.port)


@dataclass
class Launched:
    entry: Any
    handle: Any
    params: dict[str, Any] = field(default_factory=dict)


def server(name: str, port: int | None, transport: str = "tcp") -> Launched:
    entry = catalog.find(name, "server", transport)
    handle = catalog.ServerHandle(entry, entry.title.lower())
    if port is not None:
        handle.port = ListeningPort(port)
    return Launched(entry, handle)


def client(name: str, port: int) -> Launched:
    entry = catalog.find(name, "client")
    return Launched(entry, catalog.ClientHandle(entry, f"{name} client"), {"host": "127.0.0.1", "port": port})


def test_a_server_owns_its_listening_port_and_a_client_the_port_it_reaches() -> None:
    irc_server, echo_client = server("irc", 6667), client("echo", 7000)
    assert service_port(irc_server) == "6667"
    assert service_port(echo_client) == "7000"
    assert service_port(server("echo", None)) is None  # not listening yet
    owners = owners_by_port([echo_client, irc_server])
    # The server's accepted connection is matched by its local port, a client's by its peer's.
    assert owners[connection_port("server", "127.0.0.1:6667", "127.0.0.1:50000")] is irc_server
    assert owners[connection_port("client", "127.0.0.1:50001", "127.0.0.1:7000")] is echo_client
    assert connection_port("client", "[::1]:50002", "[::1]:6667") == "6667"


def test_a_loopback_session_is_named_after_the_server_not_its_client() -> None:
    echo_server, echo_client = server("echo", 7001), client("irc", 7001)
    assert owners_by_port([echo_client, echo_server])["7001"] is echo_server


def test_connections_are_named_after_the_catalogue_entry_keeping_udp() -> None:
    irc, udp_echo = server("irc", 6668), server("echo", 9000, "udp")
    assert protocol_title(irc.entry) == "IRC"
    assert shown_protocol(irc, "IRCServerProtocol") == "IRC"
    assert shown_protocol(udp_echo, "EchoDatagram (udp)") == "Echo (udp)"


def test_only_line_clients_of_that_port_can_send_lines() -> None:
    echo, qotd, other = client("echo", 7002), client("qotd", 7002), client("echo", 7003)
    assert line_clients_on_port([qotd, echo, other], "7002") == [echo]
