"""The IRC entries: a server, and a client whose typed lines go to a channel.

The IRC protocols are imported only when one of them starts; the console's command
table (``inspector.protocols.irc.console_commands``) is all the description needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from inspector.catalog.builtin import (
    client_params,
    connect_stream,
    listen_stream,
    server_params,
    tls_client_params,
    tls_server_params,
)
from inspector.catalog.checks import check_channel, check_nick, check_seconds
from inspector.catalog.handles import ClientHandle, ExchangeError, Handle
from inspector.catalog.model import Entry, Param
from inspector.catalog.tls import verify_hint
from inspector.defer import Deferred, succeed
from inspector.failure import Failure
from inspector.protocols.irc.console_commands import COMMANDS, commands_summary

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

__all__ = ["IRC_COMMANDS", "irc_entries"]


def _start_irc_server(
    entry: Entry, reactor: ReactorLike, port: int, interface: str, motd: str | None,
    max_connections: int | None = None, endpoint: str | None = None, certificate: str | None = None,
    private_key: str | None = None,
) -> Handle:
    from inspector.protocols.irc import IRCServerFactory

    factory = IRCServerFactory(reactor, motd=motd, max_connections=max_connections)
    return listen_stream(entry, reactor, factory, port, interface, endpoint, certificate, private_key)


#: What an IRC client handle understands in ``send_line`` besides plain text: each
#: command's syntax and help, from the console's one table.
IRC_COMMANDS = {command.name: f"{command.syntax}: {command.help}" for command in COMMANDS}


def _irc_client_protocol(
    handle: ClientHandle, nick: str, channel: str, ready: Callable[[Any], None],
    quitting: Callable[[], None] = lambda: None,
) -> Any:
    """Make the IRC console client: it joins ``channel`` and reports what it sees to ``handle``.

    ``ready(protocol)`` is called on each join: typed lines can go to the channel.
    ``quitting()`` is called when it sends QUIT, so the close that follows is expected.
    """
    from inspector.protocols.irc.console import IRCConsoleClient

    return IRCConsoleClient(nick, channel, handle.output, ready, quitting)


def _start_irc_client(
    entry: Entry, reactor: ReactorLike, host: str, port: int, nick: str, channel: str, timeout: float,
    registration_timeout: float, ca_file: str | None = None, insecure: bool = False,
) -> Handle:
    from inspector.protocol import ClientFactory

    handle = ClientHandle(entry, f"irc client {nick} to {host}:{port}/{entry.transport}")
    state: dict[str, Any] = {}
    # Lines typed before the first join wait here, then go to the channel in order.
    waiting: list[tuple[str, Deferred]] = []
    # Fires (with None) on the first join, or when the client ends before it.
    in_channel: Deferred = Deferred()

    def ready(protocol: Any) -> None:
        state["joined"] = True
        timer = state.pop("registration", None)
        if timer is not None and timer.active():
            timer.cancel()
        if not in_channel.called:
            in_channel.callback(None)
        while waiting and protocol.transport is not None:
            text, d = waiting.pop(0)
            try:
                protocol.send_user_line(text)
            except ValueError as exc:
                d.errback(Failure(exc))
            else:
                d.callback(None)

    def fail_waiting(reason: Failure) -> None:
        while waiting:
            waiting.pop(0)[1].errback(reason)
        if not in_channel.called:
            in_channel.callback(None)

    def quitting() -> None:
        state["quitting"] = True

    def registration_expired() -> None:
        state.pop("registration", None)
        protocol = state.get("protocol")
        step = f"in {channel}" if getattr(protocol, "signed_on", False) else "signed on"
        reason = Failure(ExchangeError(
            f"not {step} at {host}:{port} within {registration_timeout:g} s (--registration-timeout)"
        ))
        handle.note(reason.getErrorMessage())
        fail_waiting(reason)
        handle.finish(reason)
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abortConnection()

    class Factory(ClientFactory):
        def buildProtocol(self, addr: Any) -> Any:
            protocol = _irc_client_protocol(handle, nick, channel, ready, quitting)
            protocol.factory = self
            protocol.reactor = reactor
            state["protocol"] = protocol
            state["registration"] = reactor.callLater(registration_timeout, registration_expired)
            return protocol

        def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
            if not handle.stopping:  # a stop is reported by finish()
                handle.note(f"could not connect to {host}:{port}: {reason.getErrorMessage()}")
            fail_waiting(reason)
            handle.finish(reason)

        def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
            timer = state.pop("registration", None)
            if timer is not None and timer.active():
                timer.cancel()
            handle.note(f"connection closed: {reason.getErrorMessage()}")
            hint = verify_hint(reason, insecure)
            if hint:
                handle.note(hint)
            fail_waiting(reason)
            if handle.stopping or state.get("quitting"):
                handle.finish(None)  # we left: the server closing is the normal end
                return
            protocol = state.get("protocol")
            if state.get("joined"):
                when = "after sign-on"
            elif getattr(protocol, "signed_on", False):
                when = f"after sign-on, before joining {channel}"
            else:
                when = "before sign-on"
            handle.finish(Failure(ExchangeError(
                f"{host}:{port} closed the connection {when}: {reason.getErrorMessage()}"
            )))

    connector = connect_stream(entry, reactor, host, port, Factory(), timeout, ca_file, insecure)

    def send(text: str) -> Deferred:
        protocol = state.get("protocol")
        if not state.get("joined") or protocol is None or protocol.transport is None:
            d: Deferred = Deferred()
            waiting.append((text, d))
            return d
        protocol.send_user_line(text)
        return succeed(None)

    def leave(protocol: Any, message: str) -> None:
        state["quitting"] = True
        protocol.quit(message)
        # The server closes after ERROR; don't wait for it forever.
        reactor.callLater(2, protocol.transport.loseConnection)

    def stop() -> None:
        protocol = state.get("protocol")
        if protocol is not None and protocol.transport is not None:
            leave(protocol, "stopped from Inspector")
        else:
            connector.disconnect()

    def close() -> None:
        def go(_: Any) -> None:
            protocol = state.get("protocol")
            if state.get("joined") and protocol is not None and protocol.transport is not None:
                leave(protocol, "end of input")

        in_channel.addCallback(go)  # not joined yet: after the join (or the failure)

    handle.attach(stop, send, close)
    return handle


def irc_entries() -> list[Entry]:
    """The IRC entries, when the IRC package is there (it is imported only to start one)."""
    import importlib.util

    if importlib.util.find_spec("inspector.protocols.irc") is None:
        return []
    motd = Param("motd", "str", None, "message of the day (none: 422)", optional=True)
    client_extra = (
        Param("nick", "str", "inspector", "nickname", check_nick),
        Param("channel", "str", "#inspector", "channel to join", check_channel),
        Param("registration_timeout", "float", 30.0,
              "seconds to sign on and join the channel once connected", check_seconds),
    )
    client_description = f"Joins a channel; typed lines go to it. Commands: {commands_summary()}."
    return [
        Entry("irc", "server", "tcp", "IRC server",
              "A small IRC server: channels, messages, nick changes, limits.",
              server_params(
                  6667,
                  Param("motd", "str", None, "message of the day (none: 422)", optional=True),
              ), _start_irc_server),
        Entry("irc", "client", "tcp", "IRC client",
              f"Joins a channel; typed lines go to it. Commands: {commands_summary()}.",
              client_params(
                  6667,
                  Param("nick", "str", "inspector", "nickname", check_nick),
                  Param("channel", "str", "#inspector", "channel to join", check_channel),
                  Param("registration_timeout", "float", 30.0,
                        "seconds to sign on and join the channel once connected", check_seconds),
              ), _start_irc_client, accepts_lines=True),
        Entry("irc", "server", "tls", "IRC server",
              "The small IRC server over TLS (port 6697; your certificate, or a throwaway one).",
              tls_server_params(6697, motd), _start_irc_server),
        Entry("irc", "client", "tls", "IRC client", f"Over TLS. {client_description}",
              tls_client_params(6697, *client_extra), _start_irc_client, accepts_lines=True),
    ]
