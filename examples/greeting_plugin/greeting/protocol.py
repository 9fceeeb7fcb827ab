"""The greeting server and client protocols, on Inspector's ``NetstringReceiver``."""

from __future__ import annotations

from typing import Any, Callable

from greeting.wire import pack, unpack
from inspector.defer import Deferred
from inspector.protocol import ClientFactory, Factory
from inspector.protocols.basic import NetstringReceiver


class GreetingServer(NetstringReceiver):
    """Answers ``HELLO name`` with the factory's greeting; ``BYE`` ends the session."""

    factory: GreetingFactory

    def stringReceived(self, string: bytes) -> None:
        try:
            verb, text = unpack(string)
        except ValueError as exc:
            self.sendString(pack("ERROR", f"bad message: {exc}"))
            return
        if verb == "HELLO":
            name = text.strip()
            if name:
                self.sendString(pack("GREETING", f"{self.factory.greeting}, {name}!"))
            else:
                self.sendString(pack("ERROR", "HELLO needs a name"))
        elif verb == "BYE":
            self.sendString(pack("BYE"))
            self.transport.loseConnection()
        else:
            self.sendString(pack("ERROR", f"unknown verb {verb}"))


class GreetingFactory(Factory):
    """Makes a :class:`GreetingServer` per connection; ``greeting`` is what they say."""

    protocol = GreetingServer

    def __init__(self, greeting: str = "Hello") -> None:
        self.greeting = greeting


class GreetingClient(NetstringReceiver):
    """Says ``HELLO`` for each name given to :meth:`hello`; each reply fires its Deferred.

    Replies come in order, so the oldest waiting Deferred gets each one. ``on_reply``
    (set by the factory) sees every ``GREETING`` and ``ERROR`` text as it arrives.
    """

    factory: GreetingClientFactory

    def connectionMade(self) -> None:
        self.waiting: list[Deferred] = []
        self.factory.connected(self)

    def hello(self, name: str) -> Deferred:
        """Ask for a greeting for ``name``; fires with the reply's text (ERROR: a ValueError)."""
        replied: Deferred = Deferred()
        self.waiting.append(replied)
        self.sendString(pack("HELLO", name))
        return replied

    def bye(self) -> None:
        """End the session politely: the server answers BYE and hangs up."""
        self.sendString(pack("BYE"))

    def stringReceived(self, string: bytes) -> None:
        try:
            verb, text = unpack(string)
        except ValueError as exc:
            verb, text = "ERROR", f"bad message from the server: {exc}"
        if verb == "BYE":
            return  # the server hangs up next
        self.factory.on_reply(f"{verb.lower()}: {text}" if verb != "GREETING" else text)
        if self.waiting:
            replied = self.waiting.pop(0)
            if verb == "GREETING":
                replied.callback(text)
            else:
                replied.errback(ValueError(text))

    def connectionLost(self, reason: Any = None) -> None:
        waiting, self.waiting = getattr(self, "waiting", []), []
        for replied in waiting:
            replied.errback(ConnectionError("the server hung up before answering"))
        self.factory.lost(reason)


class GreetingClientFactory(ClientFactory):
    """One client connection: ``connected(protocol)``, ``on_reply(text)`` and ``lost(reason)``
    report to whoever started it; ``failed(reason)`` if the connection cannot be made."""

    protocol = GreetingClient

    def __init__(self, connected: Callable[[GreetingClient], Any], on_reply: Callable[[str], Any],
                 lost: Callable[[Any], Any], failed: Callable[[Any], Any]) -> None:
        self.connected = connected
        self.on_reply = on_reply
        self.lost = lost
        self.failed = failed

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        self.failed(reason)
