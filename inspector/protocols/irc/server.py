"""A small IRC server: registration, channels, messages, PING/idle handling and limits.

:class:`IRCServerFactory` holds the network state (users by nick, channels) and the
limits, each a constructor parameter with a sane default; one
:class:`IRCServerProtocol` serves each connection. Nicks and channel names compare
with ASCII case-mapping (advertised as ``CASEMAPPING=ascii``). Replies to NOTICE are
never sent, as RFC 2812 asks, so errors only answer PRIVMSG.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable

from inspector import __version__ as _inspector_version
from inspector.failure import Failure
from inspector.interfaces import IReactorTime
from inspector.protocol import ServerFactory, connectionDone
from inspector.protocols.basic import default_max_connections
from inspector.protocols.irc.framing import IRCLineProtocol
from inspector.protocols.irc.message import (
    CHANNEL_LENGTH,
    MAX_LINE_LENGTH,
    NICK_LENGTH,
    Message,
    ParseError,
    is_valid_channel,
    is_valid_nick,
)
from inspector.protocols.irc.numerics import (
    ERR_ALREADYREGISTRED,
    ERR_CANNOTSENDTOCHAN,
    ERR_CHANOPRIVSNEEDED,
    ERR_ERRONEUSNICKNAME,
    ERR_INPUTTOOLONG,
    ERR_INVALIDCAPCMD,
    ERR_NEEDMOREPARAMS,
    ERR_NICKNAMEINUSE,
    ERR_NOMOTD,
    ERR_NONICKNAMEGIVEN,
    ERR_NOORIGIN,
    ERR_NORECIPIENT,
    ERR_NOSUCHCHANNEL,
    ERR_NOSUCHNICK,
    ERR_NOTEXTTOSEND,
    ERR_NOTONCHANNEL,
    ERR_NOTREGISTERED,
    ERR_PASSWDMISMATCH,
    ERR_TOOMANYCHANNELS,
    ERR_UMODEUNKNOWNFLAG,
    ERR_UNKNOWNCOMMAND,
    ERR_UNKNOWNMODE,
    ERR_USERNOTINCHANNEL,
    ERR_USERSDONTMATCH,
    RPL_CHANNELMODEIS,
    RPL_CREATED,
    RPL_CREATIONTIME,
    RPL_ENDOFBANLIST,
    RPL_ENDOFMOTD,
    RPL_ENDOFNAMES,
    RPL_ENDOFWHO,
    RPL_ENDOFWHOIS,
    RPL_ISON,
    RPL_ISUPPORT,
    RPL_LIST,
    RPL_LISTEND,
    RPL_LISTSTART,
    RPL_LUSERCHANNELS,
    RPL_LUSERCLIENT,
    RPL_LUSERME,
    RPL_LUSERUNKNOWN,
    RPL_MOTD,
    RPL_MOTDSTART,
    RPL_MYINFO,
    RPL_NAMREPLY,
    RPL_NOTOPIC,
    RPL_TOPIC,
    RPL_TOPICWHOTIME,
    RPL_UMODEIS,
    RPL_WELCOME,
    RPL_WHOISCHANNELS,
    RPL_WHOISSERVER,
    RPL_WHOISUSER,
    RPL_WHOREPLY,
    RPL_YOURHOST,
)

log = logging.getLogger("inspector.irc.server")
# Set by inspector.trace when tracing is on; every hook is `if _tracer is not None:`.
_tracer = None

__all__ = ["IRCServerFactory", "IRCServerProtocol", "Channel"]

#: The channel kinds this server keeps: network-wide (#) and local (&).
_CHANTYPES = "#&"
#: Channel modes we keep: flags without arguments, and member modes (with a nick).
_CHANNEL_FLAGS = "mnt"
_MEMBER_MODES = {"o": "@", "v": "+"}
#: Commands an unregistered connection may send.
_BEFORE_REGISTRATION = frozenset({"NICK", "USER", "PASS", "CAP", "PING", "PONG", "QUIT"})
_VERSION = f"inspector-{_inspector_version}"


def irc_lower(name: str) -> str:
    """Case-fold a nick or channel name (ASCII case-mapping)."""
    return name.lower()


def _truncate_utf8(text: str, size: int) -> str:
    return text.encode("utf-8")[: max(size, 0)].decode("utf-8", "ignore")


#: A last parameter keeps at least this many bytes before the middle ones are cut.
_KEEP_LAST = 64
#: No parameter is cut below this many bytes (one UTF-8 character always fits).
_KEEP_ANY = 4


def _cut(data: bytes, size: int) -> bytes:
    """The first ``size`` bytes of ``data``, not splitting a UTF-8 character if it is UTF-8."""
    if size >= len(data):
        return data
    head = data[:size]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return head  # not UTF-8 (relayed as received): any byte is a boundary
    return head.decode("utf-8", "ignore").encode("utf-8")


def _as_bytes(value: str | bytes) -> bytes:
    return value if type(value) is bytes else value.encode("utf-8")  # type: ignore[union-attr]


def _line(prefix: str | None, command: str, params: Iterable[str | bytes]) -> bytes:
    """Serialize one outgoing line, CRLF included, of at most 512 bytes.

    Parameters are text or bytes; bytes (a relayed message's text as it arrived) go out
    unchanged. A line that would be too long is cut, never blanked: first the last
    parameter, down to its first 64 bytes; then the longest middle parameters (echoed
    input such as an over-long target); then the last one again. No parameter becomes
    empty, and no line over 512 bytes is ever sent.
    """
    parts = [_as_bytes(param) for param in params]
    for index in range(len(parts) - 1):
        param = parts[index]
        if not param or b" " in param or param[:1] == b":":
            # Echoed user input must not break the line's structure.
            parts[index] = param.replace(b" ", b"_").lstrip(b":") or b"*"
    head = (b":" + prefix.encode("utf-8") + b" " if prefix is not None else b"") + command.encode("utf-8")
    if parts:
        last = parts[-1]
        if not last or b" " in last or last[:1] == b":":
            parts[-1] = b":" + last
        body = head + b" " + b" ".join(parts)
    else:
        body = head
    excess = len(body) + 2 - MAX_LINE_LENGTH
    if excess > 0 and parts:
        body = _fit(head, parts, excess)
    if b"\r" in body or b"\n" in body or b"\0" in body:
        raise ValueError(f"an IRC line must not contain CR, LF or NUL: {body[:60]!r}")
    return body + b"\r\n"


def _fit(head: bytes, parts: list[bytes], excess: int) -> bytes:
    """Cut ``parts`` (the last one already with its colon if it needs one) by ``excess`` bytes."""
    last = parts[-1]
    colon = last[:1] == b":"
    text = last[1:] if colon else last

    def cut_last(floor: int) -> None:
        nonlocal text, excess
        room = len(text) - max(min(len(text), floor), 0)
        if room > 0 and excess > 0:
            before = len(text)
            text = _cut(text, before - min(room, excess))
            excess -= before - len(text)

    cut_last(_KEEP_LAST)
    middles = parts[:-1]
    while excess > 0:
        longest = max(range(len(middles)), key=lambda i: len(middles[i]), default=None)
        if longest is None or len(middles[longest]) <= _KEEP_ANY:
            break
        before = len(middles[longest])
        middles[longest] = _cut(middles[longest], max(before - excess, _KEEP_ANY)) or middles[longest][:_KEEP_ANY]
        excess -= before - len(middles[longest])
    cut_last(_KEEP_ANY)
    last = (b":" + text) if colon else text
    body = head + b" " + b" ".join([*middles, last])
    if len(body) + 2 > MAX_LINE_LENGTH:
        # Only a prefix or command too long by themselves gets here; never send it.
        raise ValueError(f"an IRC line cannot be cut to {MAX_LINE_LENGTH} bytes: {body[:60]!r}")
    return body


class Channel:
    """A channel: its members (each with a set of member modes), topic and flags."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[IRCServerProtocol, set[str]] = {}
        #: Bytes when it was set in another encoding than UTF-8 (sent on as it came).
        self.topic: str | bytes = ""
        self.topic_setter = ""
        self.topic_time = 0
        self.flags: set[str] = {"n", "t"}
        self.created = int(time.time())

    def send(self, line: bytes, exclude: Any = None) -> None:
        """Write ``line`` to every member but ``exclude``."""
        for member in self.members:
            if member is not exclude:
                member.write(line)

    def member_prefix(self, member: IRCServerProtocol) -> str:
        """``member``'s highest member-mode symbol: "@", "+" or ""."""
        modes = self.members.get(member, ())
        if "o" in modes:
            return "@"
        if "v" in modes:
            return "+"
        return ""

    def prefixed_nick(self, member: IRCServerProtocol) -> str:
        """``member``'s nick with its highest member-mode prefix (@ or +)."""
        return self.member_prefix(member) + member.nick


class IRCServerProtocol(IRCLineProtocol):
    """One client connection to :class:`IRCServerFactory`'s network."""

    factory: IRCServerFactory

    nick: str = "*"
    user: str | None = None
    realname = ""
    host = "unknown"
    registered = False
    _quit_reason: str | bytes = "Connection closed"
    #: The message being handled: its parameters' bytes as received are relayed.
    _message: Message | None = None

    def connectionMade(self) -> None:
        """Count the connection, refuse it past ``max_connections``, start the idle timer."""
        factory = self.factory
        self.MAX_LENGTH = factory.max_line_length
        self.channels: dict[str, Channel] = {}
        self._closing = False
        self._nick_given = False
        self._cap_negotiating = False
        self._password: str | None = None
        peer = self.transport.getPeer()
        self.host = getattr(peer, "host", None) or "unknown"
        self._now = factory.reactor.seconds
        now = self._now()
        self._connected_at = now
        self._last_seen = now
        self._ping_sent: float | None = None
        self._tokens = float(factory.flood_burst)
        self._timer = None
        factory.connection_count += 1
        if factory.connection_count > factory.max_connections:
            self.close("Too many connections")
            return
        first = min(factory.registration_timeout, factory.ping_interval)
        self._timer = factory.reactor.callLater(first, self._check_idle)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Leave every channel (telling their members) and free the nick."""
        super().connectionLost(reason)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.factory.connection_count -= 1
        if not self.registered and self._nick_given:
            if self.factory.users.get(irc_lower(self.nick)) is self:
                del self.factory.users[irc_lower(self.nick)]
        if self.registered:
            self._quit(self._quit_reason)

    # ------------------------------------------------------------ output

    @property
    def mask(self) -> str:
        """This user's ``nick!user@host``."""
        return f"{self.nick}!{self.user}@{self.host}"

    def write(self, line: bytes) -> None:
        """Send raw bytes (one or more CRLF-terminated lines) unless we are closing.

        A client that stops reading is dropped once ``max_send_queue`` bytes wait for it,
        so it cannot make the server's memory grow without bound.
        """
        if self._closing:
            return
        transport = self.transport
        if _tracer is not None: _tracer.message(self, "irc", line, "out")
        transport.write(line)
        if transport.getBufferSize() > self.factory.max_send_queue:
            log.warning(
                "%s (%s) dropped: SendQ exceeded (%d bytes unsent; the limit is %d)",
                self.mask, self.host, transport.getBufferSize(), self.factory.max_send_queue,
            )
            self.close("SendQ exceeded", abort=True)

    def reply(self, command: str, *params: str | bytes) -> None:
        """Send a numeric or command from the server, addressed to our nick (or *)."""
        self.write(_line(self.factory.server_name, command, (self.nick, *params)))

    def send_from(self, prefix: str, command: str, *params: str | bytes) -> None:
        """Send a message with an explicit source prefix."""
        self.write(_line(prefix, command, params))

    def close(self, reason: str | bytes, abort: bool = False) -> None:
        """Send ``ERROR :Closing Link`` and close once it is written (at once if ``abort``).

        ``reason`` is also the QUIT reason the user's channel peers see.
        """
        if self._closing:
            return
        self._closing = True
        self._quit_reason = reason
        if abort:
            self.transport.abortConnection()
            return
        text = b"Closing Link: " + self.host.encode("utf-8") + b" (" + _as_bytes(reason) + b")"
        self.transport.write(_line(None, "ERROR", (text,)))
        self.transport.loseConnection()

    # ------------------------------------------------------------ input

    def message_received(self, message: Message) -> None:
        """Dispatch one parsed message to ``irc_<COMMAND>``; the trace hooks this method."""
        if self._closing or not self._take_token():
            return
        command = message.command
        if not self.registered and command not in _BEFORE_REGISTRATION:
            if command.isdigit() or not hasattr(self, "irc_" + command):
                self.reply(ERR_UNKNOWNCOMMAND, command, "Unknown command")
            else:
                self.reply(ERR_NOTREGISTERED, "You have not registered")
            return
        handler = getattr(self, "irc_" + command, None)
        if handler is None:
            self.reply(ERR_UNKNOWNCOMMAND, command, "Unknown command")
            return
        self._message = message
        try:
            handler(message.prefix, message.params)
        except Exception:
            log.exception("error handling %s from %s", command, self.mask)
        finally:
            self._message = None

    def bad_line_received(self, line: bytes, error: ParseError) -> None:
        """Answer a line that is not an IRC message with ERR_UNKNOWNCOMMAND (421) and go on."""
        if self._closing or not self._take_token():
            return
        word = line.split(None, 1)[0] if line.split() else b"*"
        shown = "".join(ch for ch in word.decode("latin-1") if ch.isprintable() and ch != ":")[:32]
        self.reply(ERR_UNKNOWNCOMMAND, shown or "*", f"Unknown command ({error.reason})")

    def lineLengthExceeded(self, line: bytes) -> None:
        """Answer an over-long line with ERR_INPUTTOOLONG (417), drop it, and keep the connection."""
        if self._closing or not self._take_token():
            return
        self.reply(ERR_INPUTTOOLONG, "Input line was too long")

    def _as_received(self, params: list[str], index: int) -> str | bytes:
        """``params[index]`` of the message being handled, as bytes if it was not UTF-8.

        Text that arrived in another encoding is relayed byte for byte instead of being
        re-encoded (a Latin-1 "é" must not reach others as UTF-8 "Ã©").
        """
        message = self._message
        if message is not None and message.undecodable and message.params is params:
            return message.param_bytes(index)
        return params[index]

    def _take_token(self) -> bool:
        """Flood limit (token bucket) and idle bookkeeping: False once the client flooded."""
        factory = self.factory
        now = self._now()
        self._tokens = min(factory.flood_burst, self._tokens + (now - self._last_seen) * factory.flood_rate) - 1
        self._last_seen = now
        if self._tokens < 0:
            self.close("Excess Flood")
            return False
        return True

    def _check_idle(self) -> None:
        """Drop connections that never registered or stopped answering PING."""
        self._timer = None
        if self._closing:
            return
        factory = self.factory
        now = self._now()
        if not self.registered:
            if now - self._connected_at >= factory.registration_timeout:
                self.close("Registration timed out")
                return
        if self._ping_sent is not None:
            if self._last_seen <= self._ping_sent:
                self.close(f"Ping timeout: {factory.ping_timeout:g} seconds")
                return
            self._ping_sent = None
        idle = now - self._last_seen
        if idle >= factory.ping_interval:
            self._ping_sent = now
            self.write(_line(None, "PING", (factory.server_name,)))
            delay = factory.ping_timeout
        else:
            delay = factory.ping_interval - idle
        if not self.registered:
            delay = min(delay, max(factory.registration_timeout - (now - self._connected_at), 0.0))
        self._timer = factory.reactor.callLater(delay, self._check_idle)

    # ------------------------------------------------------------ registration

    def irc_CAP(self, prefix: str | None, params: list[str]) -> None:
        """CAP LS/LIST (no capabilities offered), REQ (refused), END (registration resumes)."""
        if not params:
            self.reply(ERR_NEEDMOREPARAMS, "CAP", "Not enough parameters")
            return
        sub = params[0].upper()
        if sub == "LS":
            if not self.registered:
                self._cap_negotiating = True
            self.reply("CAP", "LS", "")
        elif sub == "LIST":
            self.reply("CAP", "LIST", "")
        elif sub == "REQ":
            if not self.registered:
                self._cap_negotiating = True
            self.reply("CAP", "NAK", params[-1] if len(params) > 1 else "")
        elif sub == "END":
            self._cap_negotiating = False
            self._maybe_register()
        else:
            self.reply(ERR_INVALIDCAPCMD, params[0], "Invalid CAP command")

    def irc_PASS(self, prefix: str | None, params: list[str]) -> None:
        if not params:
            self.reply(ERR_NEEDMOREPARAMS, "PASS", "Not enough parameters")
        elif self.registered:
            self.reply(ERR_ALREADYREGISTRED, "You may not reregister")
        else:
            self._password = params[0]

    def irc_NICK(self, prefix: str | None, params: list[str]) -> None:
        """Choose or change nick: ERR_NONICKNAMEGIVEN, ERR_ERRONEUSNICKNAME or ERR_NICKNAMEINUSE; tell channel peers."""
        factory = self.factory
        if not params or not params[0]:
            self.reply(ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        new = params[0]
        if not is_valid_nick(new, factory.nick_length):
            self.reply(ERR_ERRONEUSNICKNAME, new, "Erroneous nickname")
            return
        key = irc_lower(new)
        holder = factory.users.get(key)
        if holder is not None and holder is not self:
            self.reply(ERR_NICKNAMEINUSE, new, "Nickname is already in use")
            return
        if new == self.nick:
            return
        if not self.registered:
            if self._nick_given:
                factory.users.pop(irc_lower(self.nick), None)
            self.nick = new
            self._nick_given = True
            factory.users[key] = self
            self._maybe_register()
            return
        line = _line(self.mask, "NICK", (new,))
        del factory.users[irc_lower(self.nick)]
        factory.users[key] = self
        self.nick = new
        for peer in self._peers():
            peer.write(line)
        self.write(line)

    def irc_USER(self, prefix: str | None, params: list[str]) -> None:
        if self.registered:
            self.reply(ERR_ALREADYREGISTRED, "You may not reregister")
            return
        if len(params) < 4 or not params[0]:
            self.reply(ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
            return
        self.user = "".join(ch for ch in params[0] if ch.isalnum() or ch in "-_.[]{}`^|")[:10] or "user"
        self.realname = params[3]
        self._maybe_register()

    def _maybe_register(self) -> None:
        if self.registered or not self._nick_given or self.user is None or self._cap_negotiating:
            return
        factory = self.factory
        if factory.password is not None and self._password != factory.password:
            self.reply(ERR_PASSWDMISMATCH, "Password incorrect")
            self.close("Bad password")
            return
        self.registered = True
        name = factory.server_name
        self.reply(RPL_WELCOME, f"Welcome to the {factory.network} IRC Network {self.mask}")
        self.reply(RPL_YOURHOST, f"Your host is {name}, running version {_VERSION}")
        self.reply(RPL_CREATED, f"This server was created {factory.created}")
        self.reply(RPL_MYINFO, name, _VERSION, "i", "mntov")
        self.reply(RPL_ISUPPORT, *factory.isupport_tokens(), "are supported by this server")
        self.irc_LUSERS(None, [])
        self.irc_MOTD(None, [])

    def irc_LUSERS(self, prefix: str | None, params: list[str]) -> None:
        factory = self.factory
        users = sum(1 for user in factory.users.values() if user.registered)
        self.reply(RPL_LUSERCLIENT, f"There are {users} users and 0 invisible on 1 servers")
        unknown = factory.connection_count - users
        if unknown > 0:
            self.reply(RPL_LUSERUNKNOWN, str(unknown), "unknown connection(s)")
        if factory.channels:
            self.reply(RPL_LUSERCHANNELS, str(len(factory.channels)), "channels formed")
        self.reply(RPL_LUSERME, f"I have {users} clients and 0 servers")

    def irc_MOTD(self, prefix: str | None, params: list[str]) -> None:
        motd = self.factory.motd
        if not motd:
            self.reply(ERR_NOMOTD, "MOTD File is missing")
            return
        self.reply(RPL_MOTDSTART, f"- {self.factory.server_name} Message of the day - ")
        for text in motd:
            self.reply(RPL_MOTD, f"- {text}")
        self.reply(RPL_ENDOFMOTD, "End of /MOTD command.")

    def irc_PING(self, prefix: str | None, params: list[str]) -> None:
        if not params or not params[0]:
            self.reply(ERR_NOORIGIN, "No origin specified")
            return
        name = self.factory.server_name
        self.send_from(name, "PONG", name, params[-1])

    def irc_PONG(self, prefix: str | None, params: list[str]) -> None:
        """Any input counts as alive; PONG needs no answer."""

    def irc_QUIT(self, prefix: str | None, params: list[str]) -> None:
        """Tell channel peers, answer ERROR, close."""
        reason: str | bytes = "Quit"
        if params and params[0]:
            text = self._as_received(params, 0)
            reason = b"Quit: " + text if isinstance(text, bytes) else f"Quit: {text}"
        if self.registered:
            self._quit(reason)
        self.close(reason)

    def _quit(self, reason: str | bytes) -> None:
        """Leave the network: QUIT to every channel peer once, free the nick."""
        if not self.registered:
            return
        self.registered = False
        line = _line(self.mask, "QUIT", (reason,))
        for peer in self._peers():
            peer.write(line)
        for channel in list(self.channels.values()):
            self._remove_from(channel)
        self.factory.users.pop(irc_lower(self.nick), None)

    def _peers(self) -> set[IRCServerProtocol]:
        """Everyone sharing a channel with us, ourselves excluded."""
        peers: set[IRCServerProtocol] = set()
        for channel in self.channels.values():
            peers.update(channel.members)
        peers.discard(self)
        return peers

    # ------------------------------------------------------------ channels

    def _remove_from(self, channel: Channel) -> None:
        channel.members.pop(self, None)
        self.channels.pop(irc_lower(channel.name), None)
        if not channel.members:
            self.factory.channels.pop(irc_lower(channel.name), None)

    def _channel_or_error(self, name: str) -> Channel | None:
        channel = self.factory.channels.get(irc_lower(name))
        if channel is None:
            self.reply(ERR_NOSUCHCHANNEL, name, "No such channel")
        return channel

    def _member_channel(self, name: str) -> Channel | None:
        """The channel ``name`` if we are on it; else reply ERR_NOSUCHCHANNEL or ERR_NOTONCHANNEL, return None."""
        channel = self._channel_or_error(name)
        if channel is not None and self not in channel.members:
            self.reply(ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
            return None
        return channel

    def irc_JOIN(self, prefix: str | None, params: list[str]) -> None:
        """Join channels: JOIN to every member (us included), then topic and names."""
        if not params or not params[0]:
            self.reply(ERR_NEEDMOREPARAMS, "JOIN", "Not enough parameters")
            return
        if params[0] == "0":
            for joined in list(self.channels.values()):
                self._part(joined, self.nick)
            return
        factory = self.factory
        for name in params[0].split(","):
            if not name:
                continue
            key = irc_lower(name)
            if key in self.channels:
                continue
            if not is_valid_channel(name, factory.channel_length, _CHANTYPES):
                self.reply(ERR_NOSUCHCHANNEL, name, "No such channel")
                continue
            if len(self.channels) >= factory.max_channels_per_user:
                self.reply(ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
                continue
            channel = factory.channels.get(key)
            if channel is None:
                channel = factory.channels[key] = Channel(name)
                channel.members[self] = {"o"}
            else:
                channel.members[self] = set()
            self.channels[key] = channel
            channel.send(_line(self.mask, "JOIN", (channel.name,)))
            if channel.topic:
                self._send_topic(channel)
            self._send_names(channel)

    def irc_PART(self, prefix: str | None, params: list[str]) -> None:
        if not params or not params[0]:
            self.reply(ERR_NEEDMOREPARAMS, "PART", "Not enough parameters")
            return
        reason = self._as_received(params, 1) if len(params) > 1 else ""
        for name in params[0].split(","):
            channel = self._member_channel(name)
            if channel is not None:
                self._part(channel, reason)

    def _part(self, channel: Channel, reason: str | bytes) -> None:
        params = (channel.name, reason) if reason else (channel.name,)
        channel.send(_line(self.mask, "PART", params))
        self._remove_from(channel)

    def irc_KICK(self, prefix: str | None, params: list[str]) -> None:
        if len(params) < 2:
            self.reply(ERR_NEEDMOREPARAMS, "KICK", "Not enough parameters")
            return
        channel = self._member_channel(params[0])
        if channel is None:
            return
        if "o" not in channel.members[self]:
            self.reply(ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
            return
        target = self.factory.users.get(irc_lower(params[1]))
        if target is None or target not in channel.members:
            self.reply(ERR_USERNOTINCHANNEL, params[1], channel.name, "They aren't on that channel")
            return
        reason = self._as_received(params, 2) if len(params) > 2 else self.nick
        channel.send(_line(self.mask, "KICK", (channel.name, target.nick, reason)))
        target._remove_from(channel)

    def irc_TOPIC(self, prefix: str | None, params: list[str]) -> None:
        if not params:
            self.reply(ERR_NEEDMOREPARAMS, "TOPIC", "Not enough parameters")
            return
        channel = self._member_channel(params[0])
        if channel is None:
            return
        if len(params) == 1:
            if channel.topic:
                self._send_topic(channel)
            else:
                self.reply(RPL_NOTOPIC, channel.name, "No topic is set")
            return
        if "t" in channel.flags and "o" not in channel.members[self]:
            self.reply(ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
            return
        topic = self._as_received(params, 1)
        limit = self.factory.topic_length
        channel.topic = _cut(topic, limit) if isinstance(topic, bytes) else _truncate_utf8(topic, limit)
        channel.topic_setter = self.mask
        channel.topic_time = int(time.time())
        channel.send(_line(self.mask, "TOPIC", (channel.name, channel.topic)))

    def _send_topic(self, channel: Channel) -> None:
        self.reply(RPL_TOPIC, channel.name, channel.topic)
        self.reply(RPL_TOPICWHOTIME, channel.name, channel.topic_setter, str(channel.topic_time))

    def _send_names(self, channel: Channel) -> None:
        """RPL_NAMREPLY lines (each kept under 512 bytes), then RPL_ENDOFNAMES."""
        name = self.factory.server_name
        head = len(f":{name} 353 {self.nick} = {channel.name} :".encode("utf-8")) + 2
        batch: list[str] = []
        size = head
        for member in channel.members:
            shown = channel.prefixed_nick(member)
            if batch and size + len(shown) + 1 > MAX_LINE_LENGTH:
                self.reply(RPL_NAMREPLY, "=", channel.name, " ".join(batch))
                batch, size = [], head
            batch.append(shown)
            size += len(shown) + 1
        if batch:
            self.reply(RPL_NAMREPLY, "=", channel.name, " ".join(batch))
        self.reply(RPL_ENDOFNAMES, channel.name, "End of /NAMES list")

    def irc_NAMES(self, prefix: str | None, params: list[str]) -> None:
        if not params or not params[0]:
            self.reply(RPL_ENDOFNAMES, "*", "End of /NAMES list")
            return
        for name in params[0].split(","):
            channel = self.factory.channels.get(irc_lower(name))
            if channel is None:
                self.reply(RPL_ENDOFNAMES, name, "End of /NAMES list")
            else:
                self._send_names(channel)

    def irc_LIST(self, prefix: str | None, params: list[str]) -> None:
        self.reply(RPL_LISTSTART, "Channel", "Users  Name")
        for channel in list(self.factory.channels.values()):
            self.reply(RPL_LIST, channel.name, str(len(channel.members)), channel.topic)
        self.reply(RPL_LISTEND, "End of /LIST")

    def irc_WHO(self, prefix: str | None, params: list[str]) -> None:
        """WHO #channel lists its members; WHO nick that user; 315 ends the list."""
        mask = params[0] if params and params[0] else "*"
        channel = self.factory.channels.get(irc_lower(mask))
        if channel is not None:
            for member in channel.members:
                self._who_line(channel.name, member, channel.members[member])
        else:
            user = self.factory.users.get(irc_lower(mask))
            if user is not None and user.registered:
                self._who_line("*", user, set())
        self.reply(RPL_ENDOFWHO, mask, "End of /WHO list")

    def _who_line(self, where: str, user: IRCServerProtocol, modes: set[str]) -> None:
        flags = "H" + ("@" if "o" in modes else "+" if "v" in modes else "")
        name = self.factory.server_name
        self.reply(RPL_WHOREPLY, where, user.user or "user", user.host, name, user.nick, flags, f"0 {user.realname}")

    def irc_WHOIS(self, prefix: str | None, params: list[str]) -> None:
        if not params or not params[-1]:
            self.reply(ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = params[-1]
        user = self.factory.users.get(irc_lower(nick))
        if user is None or not user.registered:
            self.reply(ERR_NOSUCHNICK, nick, "No such nick/channel")
        else:
            self.reply(RPL_WHOISUSER, user.nick, user.user or "user", user.host, "*", user.realname)
            names = " ".join(c.member_prefix(user) + c.name for c in user.channels.values())
            if names:
                self.reply(RPL_WHOISCHANNELS, user.nick, names)
            self.reply(RPL_WHOISSERVER, user.nick, self.factory.server_name, self.factory.network)
        self.reply(RPL_ENDOFWHOIS, nick, "End of /WHOIS list")

    def irc_ISON(self, prefix: str | None, params: list[str]) -> None:
        if not params:
            self.reply(ERR_NEEDMOREPARAMS, "ISON", "Not enough parameters")
            return
        users = self.factory.users
        online = [u.nick for word in " ".join(params).split() if (u := users.get(irc_lower(word))) and u.registered]
        self.reply(RPL_ISON, " ".join(online))

    def irc_MODE(self, prefix: str | None, params: list[str]) -> None:
        """Channel flags +m +n +t, member modes +o +v; our own user modes (only +i)."""
        if not params:
            self.reply(ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
            return
        target = params[0]
        if target[:1] in _CHANTYPES:
            self._channel_mode(target, params[1:])
            return
        user = self.factory.users.get(irc_lower(target))
        if user is None:
            self.reply(ERR_NOSUCHNICK, target, "No such nick/channel")
        elif user is not self:
            self.reply(ERR_USERSDONTMATCH, "Cannot change mode for other users")
        elif len(params) == 1:
            self.reply(RPL_UMODEIS, "+")
        else:
            for ch in params[1]:
                if ch not in "+-i":
                    self.reply(ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
                    break

    def _channel_mode(self, name: str, args: list[str]) -> None:
        channel = self._channel_or_error(name)
        if channel is None:
            return
        if not args:
            self.reply(RPL_CHANNELMODEIS, channel.name, "+" + "".join(sorted(channel.flags)))
            self.reply(RPL_CREATIONTIME, channel.name, str(channel.created))
            return
        if args[0] in ("b", "+b"):
            self.reply(RPL_ENDOFBANLIST, channel.name, "End of channel ban list")
            return
        if self not in channel.members or "o" not in channel.members[self]:
            self.reply(ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
            return
        adding = True
        values = iter(args[1:])
        applied: list[tuple[str, str, str | None]] = []
        # At most max_modes changes per command (MODES= in 005): the rest are ignored,
        # so one line cannot make the server send hundreds of replies.
        budget = self.factory.max_modes
        for ch in args[0]:
            if ch in "+-":
                adding = ch == "+"
                continue
            if budget <= 0:
                break
            budget -= 1
            if ch in _CHANNEL_FLAGS:
                (channel.flags.add if adding else channel.flags.discard)(ch)
                applied.append(("+" if adding else "-", ch, None))
            elif ch in _MEMBER_MODES:
                nick = next(values, None)
                if nick is None:
                    self.reply(ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                    continue
                member = self.factory.users.get(irc_lower(nick))
                if member is None or member not in channel.members:
                    self.reply(ERR_USERNOTINCHANNEL, nick, channel.name, "They aren't on that channel")
                    continue
                (channel.members[member].add if adding else channel.members[member].discard)(ch)
                applied.append(("+" if adding else "-", ch, member.nick))
            else:
                self.reply(ERR_UNKNOWNMODE, ch, "is unknown mode char to me")
        if applied:
            modes = ""
            sign = ""
            extra = []
            for applied_sign, letter, arg in applied:
                if applied_sign != sign:
                    modes += applied_sign
                    sign = applied_sign
                modes += letter
                if arg is not None:
                    extra.append(arg)
            channel.send(_line(self.mask, "MODE", (channel.name, modes, *extra)))

    # ------------------------------------------------------------ messages

    def irc_PRIVMSG(self, prefix: str | None, params: list[str]) -> None:
        self._relay("PRIVMSG", params)

    def irc_NOTICE(self, prefix: str | None, params: list[str]) -> None:
        self._relay("NOTICE", params)

    def _relay(self, command: str, params: list[str]) -> None:
        """Deliver to channels (every member but us) and nicks; errors answer PRIVMSG only."""
        answer = command == "PRIVMSG"
        if not params or not params[0]:
            if answer:
                self.reply(ERR_NORECIPIENT, f"No recipient given ({command})")
            return
        if len(params) < 2 or not params[-1]:
            if answer:
                self.reply(ERR_NOTEXTTOSEND, "No text to send")
            return
        text = self._as_received(params, len(params) - 1)
        factory = self.factory
        for target in params[0].split(",")[: factory.max_targets]:
            if target[:1] in _CHANTYPES:
                channel = factory.channels.get(irc_lower(target))
                if channel is None:
                    if answer:
                        self.reply(ERR_NOSUCHCHANNEL, target, "No such channel")
                    continue
                modes = channel.members.get(self)
                if (modes is None and "n" in channel.flags) or (
                    "m" in channel.flags and not (modes and modes & {"o", "v"})
                ):
                    if answer:
                        self.reply(ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel")
                    continue
                channel.send(_line(self.mask, command, (channel.name, text)), exclude=self)
            else:
                user = factory.users.get(irc_lower(target))
                if user is None or not user.registered:
                    if answer:
                        self.reply(ERR_NOSUCHNICK, target, "No such nick/channel")
                    continue
                user.write(_line(self.mask, command, (user.nick, text)))


class IRCServerFactory(ServerFactory):
    """The network: users by nick, channels by name, and the server's limits.

    Every limit is a parameter: ``max_line_length`` (bytes with CRLF; longer lines get
    417), ``max_connections`` (more get ERROR and a close; by default 1024, or less
    to stay below the descriptor limit), ``max_channels_per_user`` (405),
    ``max_modes`` (mode changes handled per MODE command, advertised as ``MODES=``;
    the rest are ignored), ``max_send_queue`` (bytes waiting for a client that does not read; past it
    the client is dropped), ``flood_burst``/``flood_rate`` (a token bucket of lines; an empty bucket
    means ERROR "Excess Flood" and a close), ``ping_interval``/``ping_timeout`` (idle
    clients get PING; no answer means a close), ``registration_timeout``.
    """

    protocol = IRCServerProtocol

    def __init__(
        self,
        reactor: IReactorTime | None = None,
        *,
        server_name: str = "irc.inspector.local",
        network: str = "Inspector",
        motd: str | Iterable[str] | None = None,
        password: str | None = None,
        max_line_length: int = MAX_LINE_LENGTH,
        max_connections: int | None = None,
        max_channels_per_user: int = 20,
        max_targets: int = 4,
        max_modes: int = 6,
        max_send_queue: int = 1 << 20,
        flood_burst: int = 30,
        flood_rate: float = 10.0,
        ping_interval: float = 120.0,
        ping_timeout: float = 60.0,
        registration_timeout: float = 60.0,
        nick_length: int = NICK_LENGTH,
        channel_length: int = CHANNEL_LENGTH,
        topic_length: int = 390,
    ) -> None:
        if max_connections is None:
            max_connections = default_max_connections()
        if max_line_length < 64:
            raise ValueError(f"max_line_length must be at least 64 bytes, not {max_line_length}")
        for name, value in (
            ("max_connections", max_connections),
            ("max_channels_per_user", max_channels_per_user),
            ("max_targets", max_targets),
            ("max_modes", max_modes),
            ("max_send_queue", max_send_queue),
            ("flood_burst", flood_burst),
            ("nick_length", nick_length),
            ("channel_length", channel_length),
            ("topic_length", topic_length),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        for name, number in (
            ("flood_rate", flood_rate),
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("registration_timeout", registration_timeout),
        ):
            if not number > 0:
                raise ValueError(f"{name} must be positive, not {number}")
        if not server_name or " " in server_name:
            raise ValueError(f"bad server name {server_name!r}")
        self._reactor = reactor
        self.server_name = server_name
        self.network = network
        if isinstance(motd, str):
            motd = motd.splitlines()
        self.motd = list(motd) if motd is not None else []
        self.password = password
        self.max_line_length = max_line_length
        self.max_connections = max_connections
        self.max_channels_per_user = max_channels_per_user
        self.max_targets = max_targets
        self.max_modes = max_modes
        self.max_send_queue = max_send_queue
        self.flood_burst = flood_burst
        self.flood_rate = flood_rate
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.registration_timeout = registration_timeout
        self.nick_length = nick_length
        self.channel_length = channel_length
        self.topic_length = topic_length
        self.created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        self.users: dict[str, IRCServerProtocol] = {}
        self.channels: dict[str, Channel] = {}
        self.connection_count = 0

    @property
    def reactor(self) -> IReactorTime:
        """The reactor for timers: the one given, else the process default."""
        if self._reactor is None:
            from inspector.reactors import default_reactor

            self._reactor = default_reactor()
        return self._reactor

    @reactor.setter
    def reactor(self, value: IReactorTime) -> None:
        self._reactor = value

    def isupport_tokens(self) -> list[str]:
        """The 005 tokens that describe this server."""
        return [
            f"NETWORK={self.network.replace(' ', '_')}",
            "CASEMAPPING=ascii",
            f"CHANTYPES={_CHANTYPES}",
            f"CHANMODES=b,,,{_CHANNEL_FLAGS}",
            "PREFIX=(ov)@+",
            f"CHANLIMIT={_CHANTYPES}:{self.max_channels_per_user}",
            f"NICKLEN={self.nick_length}",
            f"CHANNELLEN={self.channel_length}",
            f"TOPICLEN={self.topic_length}",
            f"MAXTARGETS={self.max_targets}",
            f"MODES={self.max_modes}",
            f"LINELEN={self.max_line_length}",
        ]
