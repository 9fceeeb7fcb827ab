"""Helpers for the IRC tests: recording clients, a raw line client, peers in subprocesses.

Every helper works over real loopback sockets on the reactor the test runs on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any, Callable

from inspector.defer import Deferred
from inspector.protocol import ClientFactory, Protocol
from inspector.protocols.irc import IRCClient, IRCServerFactory, Message, parse_message

from reactor_support import free_port


class Waiters:
    """Events recorded in order; ``wait_for`` returns a Deferred of the first matching one."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self._waiting: list[tuple[Callable[[tuple], bool], Deferred]] = []

    def record(self, *event: Any) -> None:
        self.events.append(event)
        for item in list(self._waiting):
            match, waiting = item
            if match(event):
                self._waiting.remove(item)
                waiting.callback(event)

    def wait_for(self, kind: str | tuple[str, ...], *values: Any, since: int = 0) -> Deferred:
        """Fire with the first event (from index ``since``) named ``kind`` (or any of a
        tuple of kinds) whose leading values equal ``values``."""
        kinds = kind if isinstance(kind, tuple) else (kind,)

        def match(event: tuple) -> bool:
            return event[0] in kinds and event[1 : 1 + len(values)] == values

        for event in self.events[since:]:
            if match(event):
                d: Deferred = Deferred()
                d.callback(event)
                return d
        d = Deferred()
        self._waiting.append((match, d))
        return d

    def kinds(self) -> list[str]:
        return [event[0] for event in self.events]


class RecordingClient(IRCClient):
    """An IRCClient that records every event users override."""

    def __init__(self, nickname: str = "tester", **attributes: Any) -> None:
        self.nickname = nickname
        for name, value in attributes.items():
            setattr(self, name, value)
        self.log = Waiters()
        self.lost: Deferred = Deferred()

    def connectionMade(self) -> None:
        self.log.record("connected")
        super().connectionMade()

    def connectionLost(self, reason: Any) -> None:
        super().connectionLost(reason)
        self.log.record("lost", reason)
        if not self.lost.called:
            self.lost.callback(getattr(reason, "value", reason))  # the exception, not a Failure

    def message_received(self, message: Message) -> None:
        super().message_received(message)  # handled first: waiters see the handled state
        self.log.record("message", message.command, message)

    def signedOn(self) -> None:
        self.log.record("signedOn", self.nickname)

    def receivedMOTD(self, motd: list[str]) -> None:
        self.log.record("motd", motd)

    def joined(self, channel: str) -> None:
        self.log.record("joined", channel)

    def left(self, channel: str) -> None:
        self.log.record("left", channel)

    def privmsg(self, user: str, channel: str, message: str) -> None:
        self.log.record("privmsg", user.split("!")[0], channel, message)

    def noticed(self, user: str, channel: str, message: str) -> None:
        self.log.record("noticed", user.split("!")[0], channel, message)

    def action(self, user: str, channel: str, data: str) -> None:
        self.log.record("action", user.split("!")[0], channel, data)

    def userJoined(self, user: str, channel: str) -> None:
        self.log.record("userJoined", user, channel)

    def userLeft(self, user: str, channel: str) -> None:
        self.log.record("userLeft", user, channel)

    def userQuit(self, user: str, quitMessage: str) -> None:
        self.log.record("userQuit", user, quitMessage)

    def userRenamed(self, oldname: str, newname: str) -> None:
        self.log.record("userRenamed", oldname, newname)

    def nickChanged(self, nick: str) -> None:
        self.log.record("nickChanged", nick)

    def topicUpdated(self, user: str, channel: str, newTopic: str) -> None:
        self.log.record("topicUpdated", channel, newTopic, user)

    def namesReceived(self, channel: str, nicks: list[str]) -> None:
        self.log.record("names", channel, nicks)

    def modeChanged(self, user: str, channel: str, set: bool, modes: str, args: tuple) -> None:
        self.log.record("mode", channel, set, modes, args)

    def kickedFrom(self, channel: str, kicker: str, message: str) -> None:
        self.log.record("kickedFrom", channel, kicker, message)

    def userKicked(self, kickee: str, channel: str, kicker: str, message: str) -> None:
        self.log.record("userKicked", kickee, channel, kicker)

    def pong(self, user: str, secs: float) -> None:
        self.log.record("pong", user, secs)

    def isupport(self, options: list[str]) -> None:
        self.log.record("isupport", options)

    def irc_unknown(self, prefix: str, command: str, params: list[str]) -> None:
        self.log.record("unknown", command, params)

    def numeric(self, code: str) -> Deferred:
        """Fire with the first message whose command is ``code``."""
        return self.log.wait_for("message", code)


class SingleClientFactory(ClientFactory):
    """Connects one given protocol instance; ``failed`` fires if connecting fails."""

    def __init__(self, protocol: Any, reactor: Any) -> None:
        self.instance = protocol
        self.reactor = reactor
        self.failed: Deferred = Deferred()

    def buildProtocol(self, addr: Any) -> Any:
        self.instance.factory = self
        return self.instance

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        self.failed.callback(reason)


def connect(reactor: Any, port: int, protocol: Any) -> Any:
    """Connect ``protocol`` to 127.0.0.1:``port``; return the protocol."""
    reactor.connectTCP("127.0.0.1", port, SingleClientFactory(protocol, reactor))
    return protocol


def serve(reactor: Any, **options: Any) -> tuple[IRCServerFactory, int, Any]:
    """Start our IRC server on a free loopback port: (factory, port number, listening port)."""
    factory = IRCServerFactory(reactor, **options)
    listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return factory, listening.getHost().port, listening


async def signed_on(reactor: Any, port: int, nick: str, **attributes: Any) -> RecordingClient:
    """Connect a RecordingClient and wait until it has registered."""
    client = connect(reactor, port, RecordingClient(nick, **attributes))
    await client.log.wait_for("signedOn")
    return client


async def close_all(*clients: Any) -> None:
    """Close the clients' connections (those still open) and wait until each is gone."""
    for client in clients:
        if client.transport is not None and not client.lost.called:
            client.transport.loseConnection()
    for client in clients:
        await client.lost


def write_junk(write: Callable[[bytes], Any], rng: Any, size: int, max_piece: int) -> None:
    """Write ``size`` random bytes (CR/LF, spaces and colons made frequent) in random-sized pieces."""
    alphabet = bytes(range(256)) + b"\r\n" * 40 + b" :!@#\x01" * 20
    junk = bytes(rng.choice(alphabet) for _ in range(size))
    offset = 0
    while offset < len(junk):
        step = rng.randint(1, max_piece)
        write(junk[offset : offset + step])
        offset += step


class LineRecorder(Protocol):
    """Splits the peer's CRLF lines, checks each parses, and records it as (COMMAND, *params)."""

    def __init__(self) -> None:
        self.log = Waiters()
        self.buffer = b""
        self.lost: Deferred = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\r\n")
        for line in lines:
            message = parse_message(line)
            assert isinstance(message, Message), (line, message)
            assert len(line) + 2 <= 512, f"the peer sent a {len(line) + 2}-byte line"
            self.log.record(message.command, *message.params)
            self.line_received(message)

    def line_received(self, message: Message) -> None:
        """Override to react to a line after it was recorded."""

    def connectionLost(self, reason: Any) -> None:
        self.log.record("lost")
        self.lost.callback(getattr(reason, "value", reason))  # the exception, not a Failure



class RawClient(LineRecorder):
    """Sends raw bytes to a server, records its lines and the close; answers PING."""

    def __init__(self) -> None:
        super().__init__()
        self.made: Deferred = Deferred()

    def connectionMade(self) -> None:
        self.made.callback(self)

    def send(self, data: bytes) -> None:
        """Write ``data`` exactly as given (line ends included, or not)."""
        self.transport.write(data)

    def line_received(self, message: Message) -> None:
        if message.command == "PING":
            self.transport.write(b"PONG :" + message.params[-1].encode() + b"\r\n")

    def register(self, nick: str) -> Deferred:
        """Send NICK/USER and fire once registration ends (the MOTD's 376, or 422)."""
        self.send(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
        return self.log.wait_for(("376", "422"), since=len(self.log.events))


class SilentClient(RawClient):
    """A raw client that never answers PING (a dead client, as the server sees it)."""

    def line_received(self, message: Message) -> None:
        pass


# ------------------------------------------------------------------ subprocess peers


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Block until something accepts on 127.0.0.1:``port`` (or the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"peer exited early with {process.returncode}: {process.stderr.read()[-2000:]!r}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def start_peer(args: list[str], port: int) -> subprocess.Popen:
    """Start a peer server process and wait until it listens; the caller must ``stop_peer`` it."""
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_listening(port, process)
    except BaseException:
        stop_peer(process)
        raise
    return process


def stop_peer(process: subprocess.Popen) -> None:
    """Terminate the peer, kill it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    if process.stderr:
        process.stderr.close()


def script(name: str) -> str:
    """The path of a console script installed next to the running interpreter."""
    return os.path.join(os.path.dirname(sys.executable), name)


def start_miniircd() -> tuple[int, subprocess.Popen]:
    """Start miniircd on a free loopback port; return the port and the process (``stop_peer`` it)."""
    port = free_port()
    args = [script("miniircd"), "--listen", "127.0.0.1", "--ports", str(port)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args += ["--setuid", "root"]  # miniircd refuses to run as root without it
    return port, start_peer(args, port)


# ------------------------------------------------------------------ a scripted server


class ScriptedServer(LineRecorder):
    """The server side of a client test: records the client's lines, sends what the test says."""

    def connectionLost(self, reason: Any) -> None:
        self.lost.callback(None)

    def send(self, *lines: str | bytes) -> None:
        """Write each line with CRLF added."""
        for line in lines:
            self.transport.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def commands(self) -> list[str]:
        return [event[0] for event in self.log.events]

    async def sync(self, token: str = "sync") -> None:
        """PING the client and wait for its PONG: all it sent before has arrived."""
        mark = len(self.log.events)
        self.send(f"PING :{token}")
        await self.log.wait_for("PONG", token, since=mark)


class ScriptedServerFactory(ClientFactory):
    """Builds ScriptedServer protocols; ``connected`` fires with the first one."""

    def __init__(self) -> None:
        self.connected: Deferred = Deferred()

    def buildProtocol(self, addr: Any) -> Any:
        server = ScriptedServer()
        server.factory = self
        if not self.connected.called:
            self.connected.callback(server)
        return server


async def scripted(reactor: Any, client: Any) -> tuple[Any, ScriptedServer, Any]:
    """Listen with a scripted server, connect ``client`` to it; return (client, server, port)."""
    factory = ScriptedServerFactory()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    connect(reactor, port.getHost().port, client)
    server = await factory.connected
    return client, server, port


class LogBot(IRCClient):
    """A logging bot written the way Twisted's documentation writes one.

    It subclasses the client, joins its factory's channel on ``signedOn``, logs what is
    said to a file, and answers when addressed by name or whispered to.
    """

    nickname = "logbot"

    def connectionMade(self) -> None:
        IRCClient.connectionMade(self)
        self.logfile = open(self.factory.filename, "a", encoding="utf-8")
        self.log_line("[connected]")

    def connectionLost(self, reason: Any) -> None:
        IRCClient.connectionLost(self, reason)
        self.log_line("[disconnected]")
        self.logfile.close()
        self.factory.done.callback(None)

    def log_line(self, text: str) -> None:
        self.logfile.write(text + "\n")
        self.logfile.flush()

    def signedOn(self) -> None:
        self.join(self.factory.channel)

    def joined(self, channel: str) -> None:
        self.log_line(f"[joined {channel}]")
        self.factory.joined.callback(channel)

    def privmsg(self, user: str, channel: str, msg: str) -> None:
        nick = user.split("!", 1)[0]
        self.log_line(f"<{nick}> {msg}")
        if channel == self.nickname:
            self.msg(nick, "Whispering is rude; talk in the channel.")
            return
        if msg.startswith(self.nickname + ":"):
            answer = f"{nick}: I log this channel"
            self.msg(channel, answer)
            self.log_line(f"<{self.nickname}> {answer}")

    def action(self, user: str, channel: str, msg: str) -> None:
        self.log_line(f"* {user.split('!', 1)[0]} {msg}")

    def irc_NICK(self, prefix: str, params: list[str]) -> None:
        self.log_line(f"{prefix.split('!')[0]} is now {params[0]}")

    def alterCollidedNick(self, nickname: str) -> str:
        return nickname + "^"


class LogBotFactory(ClientFactory):
    """Builds LogBots for one channel and log file; ``joined`` and ``done`` report progress."""

    def __init__(self, channel: str, filename: str, reactor: Any) -> None:
        self.channel = channel
        self.filename = filename
        self.reactor = reactor
        self.joined: Deferred = Deferred()
        self.done: Deferred = Deferred()

    def buildProtocol(self, addr: Any) -> Any:
        bot = LogBot()
        bot.factory = self
        self.bot = bot
        return bot
