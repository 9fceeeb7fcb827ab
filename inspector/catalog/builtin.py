"""The entries for echo, QOTD and finger: their parameters and how each one starts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from inspector import data
from inspector.catalog.checks import (
    check_finger_query,
    check_host,
    check_port,
    check_positive,
    check_quote_file,
    check_seconds,
    check_server_endpoint,
    check_server_port,
    check_user_file,
)
from inspector.catalog.handles import ClientHandle, ExchangeError, Handle, listen_tcp, listen_udp, one_shot
from inspector.catalog.model import Entry, Param
from inspector.catalog.tls import CA_FILE, CERTIFICATE, INSECURE, PRIVATE_KEY, client_context, listen_ssl, verify_hint
from inspector.defer import Deferred
from inspector.failure import Failure

if TYPE_CHECKING:
    from inspector.interfaces import IConnector, IProtocolFactory, ReactorLike

__all__ = [
    "BUILTIN", "DEMO_USERS", "server_params", "client_params", "tls_server_params", "tls_client_params",
    "listen_stream", "connect_stream",
]

INTERFACE = Param("interface", "str", "127.0.0.1", "address to listen on (0.0.0.0 or :: for all)",
                  check_host)
ENDPOINT = Param("endpoint", "str", None,
                 "where to listen, e.g. tcp:8007:interface=127.0.0.1 or tcp6:8007 "
                 "(instead of port and interface)", check_server_endpoint, optional=True,
                 replaces=("port", "interface"))
HOST = Param("host", "str", "127.0.0.1", "server to connect to (name or address)", check_host)
TIMEOUT = Param("timeout", "float", 10.0, "seconds to wait for the server to accept", check_seconds)
MAX_CONNECTIONS = Param("max_connections", "int", None,
                        "most clients at once (default: 1024, kept below the descriptor limit)",
                        check_positive, optional=True)
REPLY_TIMEOUT = Param("reply_timeout", "float", 10.0, "seconds to wait for each line's echo",
                      check_seconds)


def server_params(default_port: int, *extra: Param, tcp: bool = True) -> tuple[Param, ...]:
    """Port and interface, then ``extra``, then (over TCP) a connection cap and an endpoint string."""
    port = Param("port", "int", default_port, "port to listen on (0: any free port)", check_server_port)
    return (port, INTERFACE, *extra, *((MAX_CONNECTIONS, ENDPOINT) if tcp else ()))


def client_params(default_port: int, *extra: Param) -> tuple[Param, ...]:
    """Host and port, then ``extra``, then the timeout."""
    port = Param("port", "int", default_port, "port to connect to", check_port)
    return (HOST, port, *extra, TIMEOUT)


def tls_server_params(default_port: int, *extra: Param) -> tuple[Param, ...]:
    """Port and interface, then ``extra``, the certificate and key, and a connection cap."""
    port = Param("port", "int", default_port, "port to listen on (0: any free port)", check_server_port)
    return (port, INTERFACE, *extra, CERTIFICATE, PRIVATE_KEY, MAX_CONNECTIONS)


def tls_client_params(default_port: int, *extra: Param) -> tuple[Param, ...]:
    """Host and port, the CA file and --insecure, then ``extra``, then the timeout."""
    port = Param("port", "int", default_port, "port to connect to", check_port)
    return (HOST, port, CA_FILE, INSECURE, *extra, TIMEOUT)


def listen_stream(
    entry: Entry, reactor: ReactorLike, factory: IProtocolFactory, port: int, interface: str,
    endpoint: str | None = None,
    certificate: str | None = None, private_key: str | None = None,
) -> Handle:
    """Listen with ``factory`` over TCP, or over TLS for an entry whose transport is "tls"."""
    if entry.transport == "tls":
        return listen_ssl(entry, reactor, factory, port, interface, certificate, private_key)
    return listen_tcp(entry, reactor, factory, port, interface, endpoint)


def connect_stream(
    entry: Entry, reactor: ReactorLike, host: str, port: int, factory: IProtocolFactory, timeout: float,
    ca_file: str | None = None, insecure: bool = False,
) -> IConnector:
    """Connect ``factory`` to ``host:port`` over TCP, or over TLS (verifying the server
    unless ``insecure``) for an entry whose transport is "tls"; return the connector."""
    if entry.transport == "tls":
        options = client_context(host, ca_file, insecure)
        return reactor.connectSSL(host, port, factory, options, timeout=timeout)
    return reactor.connectTCP(host, port, factory, timeout=timeout)


def _start_echo_server(
    entry: Entry, reactor: ReactorLike, port: int, interface: str, max_connections: int | None = None,
    endpoint: str | None = None, certificate: str | None = None, private_key: str | None = None,
) -> Handle:
    from inspector.protocols.echo import EchoFactory, EchoUDP

    if entry.transport == "udp":
        return listen_udp(entry, reactor, EchoUDP(), port, interface)
    return listen_stream(entry, reactor, EchoFactory(max_connections=max_connections), port, interface, endpoint,
                         certificate, private_key)


def _start_echo_client(
    entry: Entry, reactor: ReactorLike, host: str, port: int, timeout: float, reply_timeout: float,
    ca_file: str | None = None, insecure: bool = False,
) -> Handle:
    from inspector.error import ConnectionDone
    from inspector.protocols.echo import EchoClientFactory

    handle = ClientHandle(entry, f"echo client to {host}:{port}/{entry.transport}")
    factory = EchoClientFactory(reactor, on_reply=lambda reply: handle.output(str(reply)))
    connector = connect_stream(entry, reactor, host, port, factory, timeout, ca_file, insecure)
    state: dict[str, Any] = {}

    def connected(protocol: Any) -> None:
        state["protocol"] = protocol
        handle.note(f"connected to {host}:{port}")

    def failed(reason: Failure) -> None:
        if not handle.stopping:  # a stop is reported by finish()
            handle.note(f"could not connect to {host}:{port}: {reason.getErrorMessage()}")
        handle.finish(reason)

    def timed(echoed: Deferred, text: str) -> Deferred:
        """``echoed``, failed with ExchangeError if no echo comes within ``reply_timeout``.

        Echoes come back in order, so once one is overdue the rest cannot be matched:
        the client gives up (the exchange failed) and drops the connection.
        """
        result: Deferred = Deferred()

        def expire() -> None:
            reason = Failure(ExchangeError(
                f"no echo of {text!r} from {host}:{port} within {reply_timeout:g} s (--reply-timeout)"
            ))
            result.errback(reason)
            handle.finish(reason)
            protocol = state.get("protocol")
            if protocol is not None and protocol.transport is not None:
                protocol.transport.abortConnection()

        timer = reactor.callLater(reply_timeout, expire)

        def settled(outcome: Any) -> None:
            if timer.active():
                timer.cancel()
            if result.called:
                return
            if isinstance(outcome, Failure):
                result.errback(outcome)
            else:
                result.callback(outcome)

        echoed.addBoth(settled)
        return result

    def send(text: str) -> Deferred:
        protocol = state.get("protocol")
        if protocol is not None:
            return timed(protocol.send_line(text), text)
        # Still connecting: send once connected.
        later: Deferred = Deferred()

        def go(_: Any) -> None:
            if "protocol" in state:
                try:
                    timed(state["protocol"].send_line(text), text).chainDeferred(later)
                except (ValueError, RuntimeError):
                    later.errback(Failure())
            else:
                later.errback(Failure(RuntimeError(f"{handle.description}: not connected")))

        factory_connected.addBoth(go)
        return later

    def lost(reason: Any) -> None:
        handle.note(f"connection closed: {reason}")
        hint = verify_hint(reason, insecure)
        if hint:
            handle.note(hint)
        # A clean close ends the exchange (a line still due fails on its own); a reset
        # or an error while we were not closing is a failure.
        if isinstance(reason, ConnectionDone) or handle.stopping or state.get("closing"):
            handle.finish(None)
        else:
            handle.finish(Failure(reason))

    def stop() -> None:
        protocol = state.get("protocol")
        if protocol is not None and protocol.transport is not None:
            protocol.transport.loseConnection()
        else:
            connector.disconnect()

    def close() -> None:
        def go(_: Any) -> None:
            protocol = state.get("protocol")
            if protocol is not None and protocol.transport is not None:
                state["closing"] = True
                protocol.transport.loseConnection()

        factory_connected.addBoth(go)  # a failed attempt has already failed ``done``

    factory_connected: Deferred = Deferred()
    # A new factory: its ``connected`` has not fired yet, so it is still a Deferred.
    cast(Deferred, factory.connected).addCallbacks(connected, failed).chainDeferred(factory_connected)
    factory.lost.addCallback(lost)
    handle.attach(stop, send, close)
    return handle


def _make_quoter(quote: str | None, quote_file: str | None) -> Any:
    """The quote, else the user's quote file, else the quotes shipped in the package."""
    from inspector.protocols.qotd import FortuneQuoter, StaticQuoter

    if quote:
        return StaticQuoter(quote)
    if quote_file:
        return FortuneQuoter(quote_file)
    with data.path_of(data.QUOTES) as path:  # read at creation, so a temporary copy will do
        return FortuneQuoter(path)


def _start_qotd_server(
    entry: Entry, reactor: ReactorLike, port: int, interface: str, quote_file: str | None, quote: str | None,
    max_connections: int | None = None, endpoint: str | None = None,
) -> Handle:
    from inspector.protocols.qotd import QOTDUDP, QOTDFactory

    quoter = _make_quoter(quote, quote_file)
    if entry.transport == "udp":
        return listen_udp(entry, reactor, QOTDUDP(quoter), port, interface)
    return listen_tcp(
        entry, reactor, QOTDFactory(quoter, reactor, max_connections=max_connections), port, interface, endpoint
    )


def _start_qotd_client(entry: Entry, reactor: ReactorLike, host: str, port: int, timeout: float) -> Handle:
    from inspector.protocols.qotd import get_quote, get_quote_udp

    ask = get_quote_udp if entry.transport == "udp" else get_quote
    d = ask(reactor, host, port, timeout=timeout)
    return one_shot(entry, f"qotd client to {host}:{port}/{entry.transport}", d, str)


#: Who a finger server describes when no user file is given.
DEMO_USERS = {
    "alice": "Alice Liddell\nOffice: down the rabbit hole\nPlan: follow the white rabbit",
    "bob": "Bob the builder\nPlan: fix it",
    "root": "The system administrator",
}


def _start_finger_server(
    entry: Entry, reactor: ReactorLike, port: int, interface: str, users_file: str | None,
    idle_timeout: float, max_connections: int | None = None, endpoint: str | None = None,
) -> Handle:
    from inspector.protocols.finger import FingerFactory, UserDatabase

    users = UserDatabase.from_file(users_file) if users_file else UserDatabase(DEMO_USERS)
    factory = FingerFactory(users, reactor, idle_timeout, max_connections=max_connections)
    return listen_tcp(entry, reactor, factory, port, interface, endpoint)


def _start_finger_client(
    entry: Entry, reactor: ReactorLike, host: str, port: int, query: str, timeout: float
) -> Handle:
    from inspector.protocols.finger import finger

    d = finger(reactor, host, port, query, timeout=timeout)
    return one_shot(entry, f"finger client to {host}:{port}/tcp ({query or 'all users'})", d, str)


_QUOTE_PARAMS = (
    Param("quote_file", "path", None,
          "fortune file: quotes separated by % lines (default: the built-in quotes)",
          check_quote_file, optional=True),
    Param("quote", "str", None, "serve this one quote instead of the file", optional=True),
)

BUILTIN: list[Entry] = [
    Entry("echo", "server", "tcp", "Echo server",
          "Sends back every byte; stops reading from a client that does not read its echoes.",
          server_params(8007), _start_echo_server),
    Entry("echo", "server", "udp", "Echo server",
          "Sends every datagram back to its sender.", server_params(8007, tcp=False),
          _start_echo_server),
    Entry("echo", "server", "tls", "Echo server",
          "Sends back every byte, over TLS (your certificate, or a throwaway one for localhost).",
          tls_server_params(8007), _start_echo_server),
    Entry("echo", "client", "tcp", "Echo client",
          "Sends lines and shows each echo with its round-trip time.",
          client_params(8007, REPLY_TIMEOUT), _start_echo_client, accepts_lines=True),
    Entry("echo", "client", "tls", "Echo client",
          "Sends lines over TLS and shows each echo with its round-trip time.",
          tls_client_params(8007, REPLY_TIMEOUT), _start_echo_client, accepts_lines=True),
    Entry("qotd", "server", "tcp", "QOTD server",
          "Quote of the Day (RFC 865): sends a quote and closes.",
          server_params(8017, *_QUOTE_PARAMS), _start_qotd_server),
    Entry("qotd", "server", "udp", "QOTD server",
          "Quote of the Day (RFC 865): answers every datagram with a quote.",
          server_params(8017, *_QUOTE_PARAMS, tcp=False), _start_qotd_server),
    Entry("qotd", "client", "tcp", "QOTD client", "Fetches one quote.",
          client_params(8017), _start_qotd_client),
    Entry("qotd", "client", "udp", "QOTD client", "Asks for one quote with a datagram.",
          client_params(8017), _start_qotd_client),
    Entry("finger", "server", "tcp", "Finger server",
          "Finger (RFC 1288): describes users; the empty query and /W list them.",
          server_params(
              8079,
              Param("users_file", "path", None, "file of 'user: info' lines (default: a demo list)",
                    check_user_file, optional=True),
              Param("idle_timeout", "float", 30.0, "seconds a client may take to send its query",
                    check_seconds),
          ), _start_finger_server),
    Entry("finger", "client", "tcp", "Finger client", "Asks a finger server about a user.",
          client_params(8079, Param("query", "str", "", "user name, /W, or empty for everyone",
                                     check_finger_query)), _start_finger_client),
]
