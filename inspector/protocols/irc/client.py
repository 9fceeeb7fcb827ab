"""An IRC client protocol with Twisted's ``IRCClient`` method names.

Subclass :class:`IRCClient`, set ``nickname``, and override the event methods
(``signedOn``, ``joined``, ``privmsg``, ``action``, ``noticed`` ...). Every message
also goes through ``irc_<COMMAND>(prefix, params)`` — numerics by their symbolic name,
``irc_RPL_WELCOME`` for 001 — and ``irc_unknown`` when no such method exists.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from typing import Any, Callable, Iterator

from inspector.defer import Deferred
from inspector.failure import Failure
from inspector.protocol import connectionDone
from inspector.protocols.irc.framing import IRCLineProtocol
from inspector.protocols.irc.message import (
    CHANNEL_PREFIXES,
    MAX_LINE_LENGTH,
    X_DELIM,
    Message,
    ParseError,
    ctcp_extract,
    ctcp_stringify,
    numeric_to_symbolic,
    split_prefix,
)

log = logging.getLogger("inspector.irc")
# Set by inspector.trace when tracing is on; every hook is `if _tracer is not None:`.
_tracer = None

__all__ = ["IRCClient", "split_text"]

#: Room assumed for the "nick!user@host" prefix a server adds when relaying our message.
_HOSTNAME_ROOM = 63
#: Only CR and LF break lines; IRC formatting codes such as \x1d are text.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-8 bytes.

    Each line of ``text`` starts a new piece; a long line is cut at its last space
    that fits (else between characters, never inside one). Empty lines are dropped.
    """
    if limit < 4:
        raise ValueError(f"limit {limit} is too small to carry text")
    pieces: list[str] = []
    for line in _LINE_BREAK.split(text):
        while line:
            encoded = line.encode("utf-8")
            if len(encoded) <= limit:
                pieces.append(line)
                break
            cut = encoded[:limit].decode("utf-8", "ignore")
            space = cut.rfind(" ")
            if space > 0:
                pieces.append(cut[:space])
                line = line[space + 1:]
            else:
                pieces.append(cut)
                line = line[len(cut):]
    return pieces


class IRCClient(IRCLineProtocol):
    """One connection to an IRC server, as a user.

    Attributes (set on the class or instance before connecting): ``nickname``,
    ``username``, ``realname``, ``password``, ``lineRate`` (seconds between sent
    lines, None to send at once), ``versionName`` (answer to CTCP VERSION),
    ``cap_negotiation`` (send ``CAP LS 302`` before registering) and
    ``requested_capabilities`` (capabilities to ``CAP REQ`` when offered).
    """

    nickname = "inspector"
    username: str | None = None
    realname: str | None = None
    password: str | None = None
    lineRate: float | None = None
    versionName: str | None = None
    versionNum: str | None = None
    versionEnv: str | None = None
    erroneousNickFallback = "defaultnick"
    #: Seconds between the PINGs we send once registered (None: never), as in Twisted.
    heartbeatInterval: float | None = None
    cap_negotiation = False
    requested_capabilities: tuple[str, ...] = ()
    #: Received lines may be longer than RFC 1459 allows: some servers relay them.
    MAX_LENGTH = 16384

    _registered = False
    _cap_pending = False
    _attemptedNick: str | None = None
    _queue: deque | None = None
    _queue_call: Any = None
    _heartbeat: Any = None

    # ------------------------------------------------------------ connection

    def connectionMade(self) -> None:
        """Start registration as soon as the connection is up."""
        self.supported: dict[str, str | None] = {}
        self.motd: list[str] | None = None
        self.offered_capabilities: dict[str, str | None] = {}
        self.enabled_capabilities: set[str] = set()
        self._names: dict[str, list[str]] = {}
        self._pings: deque = deque()
        self._ctcp_pings: dict[tuple[str, str], float] = {}
        self._queue = deque()
        self.register(self.nickname)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Stop the send queue and the heartbeat, and fail pending server pings."""
        super().connectionLost(reason)
        self.stopHeartbeat()
        if self._queue_call is not None and self._queue_call.active():
            self._queue_call.cancel()
        self._queue_call = None
        if self._queue:
            self._queue.clear()
        pings, self._pings = self._pings, deque()
        for _token, _sent, waiting in pings:
            waiting.errback(reason)

    def _reactor(self) -> Any:
        """The reactor used for timers: one set on us, the connection's, the factory's, or the default."""
        found = getattr(self, "reactor", None) or getattr(self.transport, "reactor", None)
        if found is None:
            found = getattr(self.factory, "reactor", None)
        if found is None:
            from inspector.reactors import default_reactor

            found = default_reactor()
        return found

    # ------------------------------------------------------------ sending

    def sendLine(self, line: str | bytes) -> None:
        """Send one line (CRLF added), honouring ``lineRate``."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        if b"\r" in line or b"\n" in line or b"\x00" in line:
            raise ValueError(f"an IRC line must not contain CR, LF or NUL: {line[:60]!r}")
        if self.lineRate is None or self._queue is None:
            self._reallySendLine(line)
            return
        self._queue.append(line)
        if self._queue_call is None:
            self._send_queued()

    def _reallySendLine(self, line: bytes) -> None:
        if self.transport is not None:
            if _tracer is not None: _tracer.message(self, "irc", line, "out")
            self.transport.write(line + b"\r\n")

    def _send_queued(self) -> None:
        queue = self._queue
        if not queue:
            self._queue_call = None
            return
        self._reallySendLine(queue.popleft())
        self._queue_call = self._reactor().callLater(self.lineRate, self._send_queued)

    def startHeartbeat(self) -> None:
        """Send a PING every ``heartbeatInterval`` seconds, so idle links stay alive."""
        self.stopHeartbeat()
        if self.heartbeatInterval:
            self._heartbeat = self._reactor().callLater(self.heartbeatInterval, self._sendHeartbeat)

    def stopHeartbeat(self) -> None:
        """Stop sending heartbeat PINGs."""
        if self._heartbeat is not None and self._heartbeat.active():
            self._heartbeat.cancel()
        self._heartbeat = None

    def _sendHeartbeat(self) -> None:
        self._heartbeat = None
        if self.transport is None or getattr(self.transport, "disconnecting", False):
            return
        self.send_message("PING", f"heartbeat-{time.monotonic_ns()}")
        self.startHeartbeat()

    def send_message(self, command: str, *params: str) -> None:
        """Serialize and send a message; ``ValueError`` if it cannot be one line."""
        self.sendLine(Message(command, list(params)).to_bytes())

    def _text_limit(self, command: str, target: str) -> int:
        """Bytes of text that fit in one ``command target :text`` relayed with our prefix."""
        prefix = f":{self.nickname}!{self.username or self.nickname}@"
        overhead = len(f"{prefix} {command} {target} :".encode("utf-8")) + _HOSTNAME_ROOM + 2
        return MAX_LINE_LENGTH - overhead

    def _send_text(self, command: str, target: str, message: str, length: int | None) -> None:
        if not target or " " in target:
            raise ValueError(f"bad target {target!r}")
        limit = self._text_limit(command, target) if length is None else length
        for piece in split_text(message, limit):
            self.sendLine(f"{command} {target} :{piece}")

    # ------------------------------------------------------------ commands

    def register(self, nickname: str, hostname: str = "foo", servername: str = "bar") -> None:
        """Send CAP LS (if enabled), PASS (if set), NICK and USER."""
        if self.cap_negotiation:
            self._cap_pending = True
            self.sendLine("CAP LS 302")
        if self.password:
            self.sendLine(f"PASS :{self.password}")
        self.setNick(nickname)
        username = self.username or nickname
        realname = self.realname or nickname
        self.send_message("USER", username, "0", "*", realname)

    def setNick(self, nickname: str) -> None:
        """Ask for ``nickname``; before registration, 433 makes us try another."""
        self._attemptedNick = nickname
        self.send_message("NICK", nickname)

    def join(self, channel: str, key: str | None = None) -> None:
        """Join ``channel`` ("#" is added when it has no channel prefix)."""
        channel = self._channel(channel)
        if key:
            self.send_message("JOIN", channel, key)
        else:
            self.send_message("JOIN", channel)

    def leave(self, channel: str, reason: str | None = None) -> None:
        """Part ``channel``, with an optional reason."""
        channel = self._channel(channel)
        if reason:
            self.send_message("PART", channel, reason)
        else:
            self.send_message("PART", channel)

    part = leave

    def kick(self, channel: str, user: str, reason: str | None = None) -> None:
        """Kick ``user`` from ``channel``."""
        params = [self._channel(channel), user] + ([reason] if reason else [])
        self.send_message("KICK", *params)

    def topic(self, channel: str, topic: str | None = None) -> None:
        """Ask for the topic of ``channel``, or set it when ``topic`` is given."""
        if topic is None:
            self.send_message("TOPIC", self._channel(channel))
        else:
            self.send_message("TOPIC", self._channel(channel), topic)

    def mode(
        self,
        chan: str,
        set: bool,
        modes: str,
        limit: int | None = None,
        user: str | None = None,
        mask: str | None = None,
    ) -> None:
        """Set (``set`` True) or unset ``modes`` on a channel or ourselves, as in Twisted.

        One argument at most goes with them: a ``limit`` (+l), a ``user`` (+o, +v) or a
        ban ``mask`` (+b).
        """
        params = [chan, ("+" if set else "-") + modes]
        if limit is not None:
            params.append(str(int(limit)))
        elif user is not None:
            params.append(user)
        elif mask is not None:
            params.append(mask)
        self.send_message("MODE", *params)

    def names(self, *channels: str) -> None:
        """Ask for the members of ``channels``; ``namesReceived`` gets each list."""
        self.send_message("NAMES", ",".join(self._channel(c) for c in channels))

    def say(self, channel: str, message: str, length: int | None = None) -> None:
        """Send ``message`` to ``channel`` ("#" added when missing)."""
        self.msg(self._channel(channel), message, length)

    def msg(self, user: str, message: str, length: int | None = None) -> None:
        """PRIVMSG ``message`` to a nick or channel, split so each line fits 512 bytes.

        ``length`` overrides the number of text bytes per line.
        """
        self._send_text("PRIVMSG", user, message, length)

    def notice(self, user: str, message: str) -> None:
        """NOTICE ``message`` to a nick or channel (split like ``msg``)."""
        self._send_text("NOTICE", user, message, None)

    def describe(self, channel: str, action: str) -> None:
        """Send a CTCP ACTION ("/me") to a nick or channel."""
        self.ctcpMakeQuery(channel, [("ACTION", action)])

    me = describe

    def away(self, message: str = "") -> None:
        """Mark ourselves away with ``message``."""
        self.send_message("AWAY", message)

    def back(self) -> None:
        """Clear the away status."""
        self.sendLine("AWAY")

    def whois(self, nickname: str) -> None:
        """Ask the server about ``nickname``."""
        self.send_message("WHOIS", nickname)

    def quit(self, message: str = "") -> None:
        """Tell the server we leave; it answers ERROR and closes the connection."""
        self.send_message("QUIT", message)

    def ping_server(self, token: str | None = None) -> Deferred:
        """Send PING and return a Deferred that fires with the round-trip time in seconds.

        A PONG matches a pending ping by token; a PONG whose token matches none (some
        servers drop the token) answers the oldest pending one.
        """
        token = token or f"inspector-{time.monotonic_ns()}"
        waiting: Deferred = Deferred()
        self._pings.append((token, time.monotonic(), waiting))
        self.send_message("PING", token)
        return waiting

    def ctcpMakeQuery(self, user: str, messages: list[tuple[str, str | None]]) -> None:
        """Send CTCP queries (a list of (TAG, data or None)) in one PRIVMSG."""
        self.sendLine(f"PRIVMSG {user} :{ctcp_stringify(messages)}")

    def ctcpMakeReply(self, user: str, messages: list[tuple[str, str | None]]) -> None:
        """Send CTCP replies in one NOTICE (never in PRIVMSG, to avoid reply loops)."""
        self.sendLine(f"NOTICE {user} :{ctcp_stringify(messages)}")

    @staticmethod
    def _channel(channel: str) -> str:
        """``channel`` with "#" added when it has no channel prefix; ValueError if unusable."""
        if not channel or any(ch in channel for ch in " ,\x07\r\n\x00"):
            raise ValueError(f"bad channel name {channel!r}")
        return channel if channel[0] in CHANNEL_PREFIXES else "#" + channel

    # ------------------------------------------------------------ events users override

    def created(self, when: str) -> None:
        """002–003: when the server was created."""

    def yourHost(self, info: str) -> None:
        """002: the server's name and version."""

    def myInfo(self, servername: str, version: str, umodes: str, cmodes: str) -> None:
        """004: the server's name, version and modes."""

    def isupport(self, options: list[str]) -> None:
        """005: server features (also collected in ``self.supported``)."""

    def luserClient(self, info: str) -> None:
        """251: how many users are on."""

    def receivedMOTD(self, motd: list[str]) -> None:
        """The whole message of the day (an empty list after 422)."""

    def signedOn(self) -> None:
        """Registration finished (001 received); join channels here."""

    def joined(self, channel: str) -> None:
        """We joined ``channel``."""

    def left(self, channel: str) -> None:
        """We left ``channel``."""

    def kickedFrom(self, channel: str, kicker: str, message: str) -> None:
        """``kicker`` kicked us from ``channel``."""

    def nickChanged(self, nick: str) -> None:
        """Our nick is now ``nick``."""

    def privmsg(self, user: str, channel: str, message: str) -> None:
        """``user`` (nick!user@host) said ``message`` to ``channel`` (or to our nick)."""

    def noticed(self, user: str, channel: str, message: str) -> None:
        """A NOTICE arrived; never answer it automatically (RFC 1459)."""

    def action(self, user: str, channel: str, data: str) -> None:
        """``user`` did a CTCP ACTION ("/me ``data``") in ``channel``."""

    def userJoined(self, user: str, channel: str) -> None:
        """``user`` (a nick) joined ``channel``."""

    def userLeft(self, user: str, channel: str) -> None:
        """``user`` (a nick) left ``channel``."""

    def userQuit(self, user: str, quitMessage: str) -> None:
        """``user`` (a nick) quit IRC."""

    def userKicked(self, kickee: str, channel: str, kicker: str, message: str) -> None:
        """``kicker`` kicked ``kickee`` from ``channel``."""

    def userRenamed(self, oldname: str, newname: str) -> None:
        """A user changed nick."""

    def topicUpdated(self, user: str, channel: str, newTopic: str) -> None:
        """The topic of ``channel`` is ``newTopic`` (set by ``user``, or told on join)."""

    def namesReceived(self, channel: str, nicks: list[str]) -> None:
        """The full member list of ``channel`` (353 lines up to 366), prefixes such as @ kept."""

    def modeChanged(self, user: str, channel: str, set: bool, modes: str, args: tuple) -> None:
        """A mode changed on ``channel`` (or on us, then ``channel`` is our nick)."""

    def pong(self, user: str, secs: float) -> None:
        """A CTCP PING we sent to ``user`` came back after ``secs`` seconds."""

    # ------------------------------------------------------------ dispatch

    def message_received(self, message: Message) -> None:
        """Dispatch one parsed message to ``irc_<COMMAND>``; the trace hooks this method.

        An exception raised by a handler is logged and the connection goes on.
        """
        command = message.command
        name = numeric_to_symbolic.get(command, command)
        handler = getattr(self, "irc_" + name, None)
        prefix = message.prefix or ""
        try:
            if handler is not None:
                handler(prefix, message.params)
            else:
                self.irc_unknown(prefix, command, message.params)
        except Exception:
            log.exception("error handling IRC message %s %r", command, message.params)

    def bad_line_received(self, line: bytes, error: ParseError) -> None:
        """Log and skip a line the server sent that does not parse."""
        log.warning("ignoring a malformed line from the server (%s): %r", error.reason, line[:120])

    def lineLengthExceeded(self, line: bytes) -> None:
        """Log and skip an absurdly long line (over ``MAX_LENGTH``)."""
        log.warning("ignoring a %d-byte line from the server", len(line))

    def irc_unknown(self, prefix: str, command: str, params: list[str]) -> None:
        """A message with no ``irc_`` method; override to see them."""

    # registration

    def irc_RPL_WELCOME(self, prefix: str, params: list[str]) -> None:
        if params:
            self.nickname = params[0]
        self._registered = True
        self._cap_pending = False
        self.startHeartbeat()
        self.signedOn()

    def irc_RPL_YOURHOST(self, prefix: str, params: list[str]) -> None:
        self.yourHost(params[-1] if params else "")

    def irc_RPL_CREATED(self, prefix: str, params: list[str]) -> None:
        self.created(params[-1] if params else "")

    def irc_RPL_MYINFO(self, prefix: str, params: list[str]) -> None:
        info = (params[1:] + ["", "", "", ""])[:4]
        self.myInfo(*info)

    def irc_RPL_ISUPPORT(self, prefix: str, params: list[str]) -> None:
        options = params[1:-1] if len(params) > 2 else params[1:]
        for option in options:
            key, eq, value = option.partition("=")
            if key.startswith("-"):
                self.supported.pop(key[1:], None)
            else:
                self.supported[key] = value if eq else None
        self.isupport(options)

    def irc_RPL_LUSERCLIENT(self, prefix: str, params: list[str]) -> None:
        self.luserClient(params[-1] if params else "")

    def irc_RPL_MOTDSTART(self, prefix: str, params: list[str]) -> None:
        self.motd = [params[-1]] if params else []

    def irc_RPL_MOTD(self, prefix: str, params: list[str]) -> None:
        if self.motd is None:
            self.motd = []
        self.motd.append(params[-1] if params else "")

    def irc_RPL_ENDOFMOTD(self, prefix: str, params: list[str]) -> None:
        motd, self.motd = self.motd or [], None
        self.receivedMOTD(motd)

    def irc_ERR_NOMOTD(self, prefix: str, params: list[str]) -> None:
        self.motd = None
        self.receivedMOTD([])

    def irc_ERR_NICKNAMEINUSE(self, prefix: str, params: list[str]) -> None:
        """Before registration, try ``alterCollidedNick`` of the refused nick."""
        if not self._registered:
            self.setNick(self.alterCollidedNick(self._attemptedNick or self.nickname))

    def irc_ERR_ERRONEUSNICKNAME(self, prefix: str, params: list[str]) -> None:
        """Before registration, fall back to ``erroneousNickFallback``."""
        if not self._registered:
            self.setNick(self.erroneousNickFallback)

    def alterCollidedNick(self, nickname: str) -> str:
        """Return the nick to try after ``nickname`` was taken (appends "_")."""
        return nickname + "_"

    def irc_CAP(self, prefix: str, params: list[str]) -> None:
        """Capability negotiation: REQ what we want of what is offered, then END."""
        if len(params) < 2:
            return
        sub = params[1].upper()
        if sub == "LS":
            more = len(params) >= 4 and params[2] == "*"
            for item in params[-1].split():
                key, eq, value = item.partition("=")
                self.offered_capabilities[key] = value if eq else None
            if more or not self._cap_pending:
                return
            wanted = [c for c in self.requested_capabilities if c in self.offered_capabilities]
            if wanted:
                self.send_message("CAP", "REQ", " ".join(wanted))
            else:
                self._cap_end()
        elif sub in ("ACK", "NAK"):
            if sub == "ACK":
                self.enabled_capabilities.update(params[-1].split())
            if self._cap_pending:
                self._cap_end()

    def _cap_end(self) -> None:
        self._cap_pending = False
        self.sendLine("CAP END")

    def irc_ERR_UNKNOWNCOMMAND(self, prefix: str, params: list[str]) -> None:
        """A server without CAP (or PASS) says so with 421; registration goes on regardless."""
        if any(p.upper() == "CAP" for p in params[:2]):
            self._cap_pending = False

    def irc_PING(self, prefix: str, params: list[str]) -> None:
        """Answer with the same token, at any time (during registration too)."""
        if params:
            self.send_message("PONG", params[-1])
        else:
            self.sendLine("PONG")

    def irc_PONG(self, prefix: str, params: list[str]) -> None:
        if not self._pings:
            return
        token = params[-1] if params else None
        for index, (sent_token, sent_at, waiting) in enumerate(self._pings):
            if sent_token == token:
                del self._pings[index]
                break
        else:
            sent_token, sent_at, waiting = self._pings.popleft()
        waiting.callback(time.monotonic() - sent_at)

    def irc_ERROR(self, prefix: str, params: list[str]) -> None:
        log.info("server says ERROR: %s", params[-1] if params else "")

    # channels and users

    def irc_JOIN(self, prefix: str, params: list[str]) -> None:
        nick = split_prefix(prefix)[0]
        channel = params[0] if params else ""
        if nick == self.nickname:
            self.joined(channel)
        else:
            self.userJoined(nick, channel)

    def irc_PART(self, prefix: str, params: list[str]) -> None:
        nick = split_prefix(prefix)[0]
        channel = params[0] if params else ""
        if nick == self.nickname:
            self.left(channel)
        else:
            self.userLeft(nick, channel)

    def irc_QUIT(self, prefix: str, params: list[str]) -> None:
        self.userQuit(split_prefix(prefix)[0], params[-1] if params else "")

    def irc_KICK(self, prefix: str, params: list[str]) -> None:
        kicker = split_prefix(prefix)[0]
        channel, kicked = (params + ["", ""])[:2]
        message = params[2] if len(params) > 2 else ""
        if kicked == self.nickname:
            self.kickedFrom(channel, kicker, message)
        else:
            self.userKicked(kicked, channel, kicker, message)

    def irc_NICK(self, prefix: str, params: list[str]) -> None:
        old = split_prefix(prefix)[0]
        new = params[-1] if params else ""
        if old == self.nickname:
            self.nickname = new
            self.nickChanged(new)
        else:
            self.userRenamed(old, new)

    def irc_TOPIC(self, prefix: str, params: list[str]) -> None:
        if params:
            self.topicUpdated(split_prefix(prefix)[0], params[0], params[-1] if len(params) > 1 else "")

    def irc_RPL_TOPIC(self, prefix: str, params: list[str]) -> None:
        if len(params) >= 3:
            self.topicUpdated(prefix, params[1], params[-1])

    def irc_RPL_NOTOPIC(self, prefix: str, params: list[str]) -> None:
        if len(params) >= 2:
            self.topicUpdated(prefix, params[1], "")

    def irc_RPL_NAMREPLY(self, prefix: str, params: list[str]) -> None:
        # 353 me (=|*|@) #channel :nick1 @nick2 ...  (RFC 1459 servers omit the type)
        if len(params) < 3:
            return
        channel = params[-2]
        self._names.setdefault(channel, []).extend(params[-1].split())

    def irc_RPL_ENDOFNAMES(self, prefix: str, params: list[str]) -> None:
        if len(params) >= 2:
            channel = params[1]
            self.namesReceived(channel, self._names.pop(channel, []))

    def irc_MODE(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        target, modes = params[0], params[1]
        values = iter(params[2:])
        is_channel = target != self.nickname
        for sign, letters in _mode_runs(modes):
            adding = sign == "+"
            args = tuple(
                next(values, "") for letter in letters if is_channel and self._mode_takes_value(letter, adding)
            )
            self.modeChanged(prefix, target, adding, letters, args)

    def _mode_takes_value(self, letter: str, adding: bool) -> bool:
        """Whether a channel mode letter carries a parameter, from 005 PREFIX/CHANMODES."""
        prefix = self.supported.get("PREFIX") or "(ov)@+"
        member_modes = prefix[1 : prefix.find(")")] if prefix.startswith("(") else "ov"
        kinds = ((self.supported.get("CHANMODES") or "beI,k,l,imnpst").split(",") + ["", "", ""])[:3]
        if letter in member_modes or letter in kinds[0] or letter in kinds[1]:
            return True
        return adding and letter in kinds[2]

    # messages

    def irc_PRIVMSG(self, prefix: str, params: list[str]) -> None:
        self._text_received(prefix, params, self.ctcpQuery, self.privmsg)

    def irc_NOTICE(self, prefix: str, params: list[str]) -> None:
        self._text_received(prefix, params, self.ctcpReply, self.noticed)

    def _text_received(
        self,
        prefix: str,
        params: list[str],
        on_ctcp: Callable[[str, str, list[tuple[str, str | None]]], None],
        on_text: Callable[[str, str, str], None],
    ) -> None:
        """PRIVMSG and NOTICE alike: CTCP messages go to ``on_ctcp``, plain text to ``on_text``."""
        if len(params) < 2:
            return
        channel, message = params[0], params[-1]
        if message.startswith(X_DELIM):
            extended, normal = ctcp_extract(message)
            if extended:
                on_ctcp(prefix, channel, extended)
            for text in normal:
                on_text(prefix, channel, text)
            return
        on_text(prefix, channel, message)

    # CTCP

    def ctcpQuery(self, user: str, channel: str, messages: list[tuple[str, str | None]]) -> None:
        """Dispatch CTCP queries to ``ctcpQuery_<TAG>(user, channel, data)``."""
        for tag, data in messages:
            handler = getattr(self, "ctcpQuery_" + tag, None)
            if handler is None:
                self.ctcpUnknownQuery(user, channel, tag, data)
            else:
                handler(user, channel, data)

    def ctcpQuery_ACTION(self, user: str, channel: str, data: str | None) -> None:
        self.action(user, channel, data or "")

    def ctcpQuery_PING(self, user: str, channel: str, data: str | None) -> None:
        self.ctcpMakeReply(split_prefix(user)[0], [("PING", data)])

    def ctcpQuery_VERSION(self, user: str, channel: str, data: str | None) -> None:
        if self.versionName:
            text = ":".join(x or "" for x in (self.versionName, self.versionNum, self.versionEnv))
            self.ctcpMakeReply(split_prefix(user)[0], [("VERSION", text)])

    def ctcpUnknownQuery(self, user: str, channel: str, tag: str, data: str | None) -> None:
        """A CTCP query we do not know; ignored (log at debug level)."""
        log.debug("unknown CTCP query %s from %s", tag, user)

    def ctcpReply(self, user: str, channel: str, messages: list[tuple[str, str | None]]) -> None:
        """Dispatch CTCP replies (from NOTICE) to ``ctcpReply_<TAG>``; never answered."""
        for tag, data in messages:
            handler = getattr(self, "ctcpReply_" + tag, None)
            if handler is not None:
                handler(user, channel, data)

    def ctcpReply_PING(self, user: str, channel: str, data: str | None) -> None:
        sent = self._ctcp_pings.pop((split_prefix(user)[0], data or ""), None)
        if sent is not None:
            self.pong(split_prefix(user)[0], time.monotonic() - sent)

    def ping(self, user: str, text: str | None = None) -> None:
        """Send a CTCP PING to ``user``; ``pong`` reports the round trip."""
        key = text or str(time.monotonic_ns())
        self._ctcp_pings[(user, key)] = time.monotonic()
        self.ctcpMakeQuery(user, [("PING", key)])


def _mode_runs(modes: str) -> Iterator[tuple[str, str]]:
    """Yield (sign, letters) runs of a mode string such as "+o-v"."""
    sign = "+"
    letters = ""
    for ch in modes:
        if ch in "+-":
            if letters:
                yield sign, letters
            sign, letters = ch, ""
        else:
            letters += ch
    if letters:
        yield sign, letters
