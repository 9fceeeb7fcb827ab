"""Endpoint strings and catalogue values that used to be silently reinterpreted.

``tcp6:...:interface=127.0.0.1`` listened on IPv4, ``interface=::1`` said "'interface' is
given twice", ``300.1.1.1`` passed as a host name, ``inf`` and ``3e6`` passed as timeouts,
and endpoints listened with a backlog of 50. Each is refused with a reason that says what
to write instead, or (the backlog, the escaped IPv6 interface) now does what it says, checked
over real loopback sockets on every reactor.
"""

from __future__ import annotations

import socket

import pytest

from inspector import catalog
from inspector.defer import inlineCallbacks
from inspector.endpoints import clientFromString, serverFromString
from inspector.protocol import Factory, Protocol


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("tcp6:8007:interface=127.0.0.1", "tcp6 endpoint listens on IPv6, but interface 127.0.0.1 is IPv4"),
        ("tcp6:8007:interface=0.0.0.0", "is IPv4"),
        ("tcp:8007:interface=::1", r"write interface=\:\:1 or interface=[::1]"),
        ("tcp6:8007:interface=::", r"write interface=\:\: or interface=[::]"),
        ("tcp:8007:interface=fe80::1:backlog=5", r"interface=fe80\:\:1"),
        ("tcp:8007:interface=300.1.1.1", "interface must be an IP address"),
        ("tcp:8007:interface=", "interface= has no value"),
    ],
)
def test_server_strings_that_meant_something_else_are_refused(description, message) -> None:
    with pytest.raises(ValueError) as info:
        serverFromString(None, description)
    assert message in str(info.value)
    assert description in str(info.value)


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("tcp:300.1.1.1:80", "'300.1.1.1' is not a valid IPv4 address"),
        ("tcp:host=10.0.0.256:port=80", "is not a valid IPv4 address"),
        ("tcp:host=::1:port=80", r"write host=\:\:1 or host=[::1]"),
        ("tcp:localhost:80:timeout=inf", "up to a day"),
        ("tcp:localhost:80:timeout=3e6", "up to a day"),
        ("tcp:localhost:80:timeout=nan", "positive number of seconds"),
    ],
)
def test_client_strings_that_meant_something_else_are_refused(description, message) -> None:
    with pytest.raises(ValueError) as info:
        clientFromString(None, description)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("name", "role", "values", "message"),
    [
        ("echo", "client", {"host": "300.1.1.1"}, "host: '300.1.1.1' is not a valid IPv4 address"),
        ("echo", "client", {"host": "1.2.3"}, "is not a valid IPv4 address"),
        ("echo", "server", {"interface": "256.0.0.1"}, "is not a valid IPv4 address"),
        ("qotd", "client", {"timeout": "inf"}, "timeout: must be a finite number of seconds"),
        ("qotd", "client", {"timeout": "-inf"}, "must be a finite number"),
        ("qotd", "client", {"timeout": "nan"}, "must be a finite number"),
        ("qotd", "client", {"timeout": "3e6"}, "timeout: must be at most 86400 seconds (a day)"),
        ("finger", "server", {"idle_timeout": "inf"}, "idle_timeout: must be a finite number"),
        ("finger", "server", {"idle_timeout": "1e300"}, "must be at most 86400 seconds"),
        ("echo", "client", {"reply_timeout": "inf"}, "reply_timeout: must be a finite number"),
        ("irc", "client", {"registration_timeout": "1e9"}, "registration_timeout: must be at most"),
    ],
)
def test_catalogue_refuses_hosts_and_timeouts_that_would_misbehave(name, role, values, message) -> None:
    with pytest.raises(catalog.ParameterError) as info:
        catalog.find(name, role).validate(values)
    assert message in str(info.value)


def test_catalogue_still_takes_names_addresses_and_a_day() -> None:
    entry = catalog.find("qotd", "client")
    for host in ("localhost", "example.com.", "10.1.2.3", "::1", "host-1.example"):
        assert entry.validate({"host": host, "timeout": "86400"})["host"] == host


def test_a_server_endpoint_listens_with_the_systems_full_backlog(reactor, run) -> None:
    """A backlog of 50 made 2,000 sequential connects wait for SYN retransmits."""

    @inlineCallbacks
    def scenario():
        port = yield serverFromString(reactor, "tcp:0").listen(Factory.forProtocol(Echo))
        try:
            return port.backlog
        finally:
            yield port.stopListening()

    assert run(scenario) == socket.SOMAXCONN


@pytest.mark.parametrize("description", [r"tcp:0:interface=\:\:1", "tcp:0:interface=[::1]", "tcp6:0"])
def test_tcp_with_an_escaped_ipv6_interface_listens_on_ipv6(reactor, run, description) -> None:
    """Like Twisted's, a ``tcp`` endpoint takes an IPv6 interface once its colons are escaped."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")

    def talk(number: int) -> bytes:
        with socket.create_connection(("::1", number), timeout=5) as sock:
            sock.sendall(b"over ipv6")
            return sock.recv(100)

    @inlineCallbacks
    def scenario():
        from apps_support import in_thread

        port = yield serverFromString(reactor, description).listen(Factory.forProtocol(Echo))
        try:
            echoed = yield in_thread(reactor, talk, port.getHost().port)
            return port.getHost().host, echoed
        finally:
            yield port.stopListening()

    assert run(scenario) == ("::1", b"over ipv6")
