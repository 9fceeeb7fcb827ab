"""Talk raw: a TCP client, a TCP listener and a UDP client that send what is typed.

Typed text is turned into bytes by :func:`typed_bytes`: escapes ``\\r``, ``\\n``,
``\\t``, ``\\0``, ``\\xHH`` and ``\\\\`` are interpreted (so ``GET / HTTP/1.0\\r\\n\\r\\n``
is one request), or, in hex mode, the text is hex digits (spaces allowed). Every
byte that arrives is shown: as text (undecodable bytes as ``\\xff``; the CLI and log
escape control characters for the terminal), or as hex in hex mode.
``inspector connect raw --host H --port P`` is netcat with the trace; ``--dissector NAME``
(any name of :mod:`inspector.dissect`, plug-ins included) decodes both directions live
into the trace's messages (the window's parsed-messages table).
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

from inspector.catalog.builtin import HOST, client_params, server_params
from inspector.catalog.checks import check_port
from inspector.catalog.handles import ClientHandle, Handle, ServerHandle
from inspector.catalog.model import Entry, Param
from inspector.defer import Deferred, fail, succeed
from inspector.dissect import UnknownDissector
from inspector.dissect import get as get_dissector
from inspector.dissect import names as dissector_names
from inspector.dissect.live import LiveDissector
from inspector.failure import Failure
from inspector.protocol import ClientFactory, DatagramProtocol, Factory, Protocol, connectionDone

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

log = logging.getLogger("inspector.catalog")

__all__ = ["RAW_ENTRIES", "typed_bytes", "shown_bytes"]

_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\x00", "\\": b"\\"}


def _unescape(text: str) -> bytes:
    """``text`` as UTF-8 with its backslash escapes interpreted; ValueError for a bad one."""
    out = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out += char.encode("utf-8")
            i += 1
            continue
        code = text[i + 1:i + 2]
        if code in _ESCAPES:
            out += _ESCAPES[code]
            i += 2
        elif code == "x":
            digits = text[i + 2:i + 4]
            try:
                if len(digits) != 2:
                    raise ValueError
                out.append(int(digits, 16))
            except ValueError:
                raise ValueError(f"\\x needs two hex digits, got {text[i:i + 4]!r}") from None
            i += 4
        else:
            raise ValueError(f"unknown escape {text[i:i + 2]!r} (use \\r \\n \\t \\0 \\xHH \\\\)")
    return bytes(out)


def typed_bytes(text: str, hex_mode: bool = False, line_end: str = "") -> bytes:
    """The bytes a typed ``text`` stands for: hex digits in ``hex_mode``, else text with
    escapes, followed by ``line_end`` (itself escaped text). ValueError when malformed."""
    if hex_mode:
        digits = "".join(text.split())
        try:
            return bytes.fromhex(digits)
        except ValueError:
            raise ValueError(f"not hex: {text!r} (type pairs of hex digits, e.g. 48 69 0d 0a)") from None
    return _unescape(text) + _unescape(line_end)


def shown_bytes(data: bytes, hex_mode: bool = False) -> str:
    """``data`` as one line of output: hex pairs in ``hex_mode``, else text with bytes that
    are not UTF-8 and control characters shown as ``\\xHH``, one trailing newline dropped."""
    if hex_mode:
        return data.hex(" ")
    text = data.decode("utf-8", "backslashreplace")
    return (text[:-1] if text.endswith("\n") else text).translate(_CONTROLS)


#: Control characters (but tab and newline) as visible escapes: what arrives is shown
#: the same in the window's lists as on a terminal, never obeyed or drawn as boxes.
_CONTROLS = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)] if code not in (9, 10)}


def _check_line_end(value: str) -> None:
    """ValueError if ``value`` holds a malformed escape."""
    _unescape(value)


def _check_dissector(name: str) -> None:
    """ValueError naming the dissectors there are when none is called ``name``."""
    try:
        get_dissector(name)
    except UnknownDissector as exc:
        raise ValueError(str(exc)) from None


HEX = Param("hex", "flag", False, "type and show hex (48 69 0a) instead of text with escapes")
LINE_END = Param("line_end", "str", "\\n",
                 "added after each typed line in text mode, with escapes (\\r\\n, or empty for none)",
                 _check_line_end)
PORT = Param("port", "int", 8007, "port to send to", check_port)
TIMEOUT = client_params(0)[-1]
DISSECTOR = Param("dissector", "str", "raw",
                  "decode both directions into parsed messages with this dissector: raw, lines, irc, "
                  "netstrings, int32 or a plug-in's name", _check_dissector, choices=dissector_names)


class _RawProtocol(Protocol):
    """Shows every byte that arrives on the handle; remembers its transport for sending.
    Both directions go through ``live``, the chosen dissector, into the trace."""

    def __init__(self, handle: Handle, hex_mode: bool, label: str, dissector: str = "raw") -> None:
        self.handle = handle
        self.hex_mode = hex_mode
        self.label = label
        self.live = LiveDissector(self, dissector)

    def send(self, data: bytes) -> None:
        """Write ``data`` to the peer (the dissector sees it as ``out``)."""
        assert self.transport is not None
        self.transport.write(data)
        self.live.feed("out", data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.live.flush()

    def dataReceived(self, data: bytes) -> None:
        self.live.feed("in", data)
        shown = shown_bytes(data, self.hex_mode)
        if self.label:  # a listener: headless, the log is where arrivals are seen
            log.info("%s: from %s: %s", self.handle.description, self.label, shown)
            shown = f"{self.label}: {shown}"
        self.handle.output(shown)


class RawServerHandle(ServerHandle):
    """A raw listener: shows what each connection sends; typed lines go to the newest
    open connection (the one a person just saw arrive)."""

    accepts_lines = True

    def __init__(self, entry: Entry, factory: Any, hex_mode: bool, line_end: str) -> None:
        super().__init__(entry, entry.title.lower())
        self.hex_mode = hex_mode
        self.line_end = line_end

    def send_line(self, text: str) -> Deferred:
        """Send typed ``text`` to the newest open connection."""
        return self.send_line_to(None, text)

    def send_line_to(self, peer: str | None, text: str) -> Deferred:
        """Send typed ``text`` to the open connection from ``peer`` ("host:port", as the
        connections list shows it), or to the newest one when ``peer`` is None."""
        open_ = [protocol for protocol in self.connections
                 if protocol.transport is not None and (peer is None or protocol.label == peer)]
        if not open_:
            whom = f"from {peer}" if peer else "to send to"
            return fail(RuntimeError(f"{self.description}: no open connection {whom}"))
        data = typed_bytes(text, self.hex_mode, self.line_end)
        open_[-1].send(data)
        return succeed(len(data))


def _start_raw_server(
    entry: Entry, reactor: ReactorLike, port: int, interface: str, hex: bool, line_end: str, dissector: str,
) -> Handle:
    factory = Factory()
    handle = RawServerHandle(entry, factory, hex, line_end)

    def build(addr: Any) -> Protocol:
        peer = f"{addr.host}:{addr.port}" if hasattr(addr, "port") else str(addr)
        return _RawProtocol(handle, hex, peer, dissector)

    factory.buildProtocol = build  # type: ignore[method-assign]
    handle._track(factory)  # count the connections and close them on stop()
    handle.listening(reactor.listenTCP(port, factory, interface=interface))
    return handle


def _start_raw_client(
    entry: Entry, reactor: ReactorLike, host: str, port: int, hex: bool, line_end: str, timeout: float,
    dissector: str,
) -> Handle:
    from inspector.error import ConnectionDone

    handle = ClientHandle(entry, f"raw client to {host}:{port}/tcp")
    state: dict[str, Any] = {}
    connected: Deferred = Deferred()

    class Raw(_RawProtocol):
        def connectionMade(self) -> None:
            state["protocol"] = self
            handle.note(f"connected to {host}:{port}")
            connected.callback(self)

        def connectionLost(self, reason: Failure = connectionDone) -> None:
            super().connectionLost(reason)
            handle.note(f"connection closed: {reason.getErrorMessage()}")
            if reason.check(ConnectionDone) or handle.stopping or state.get("closing"):
                handle.finish(None)
            else:
                handle.finish(reason)

    class RawFactory(ClientFactory):
        def buildProtocol(self, addr: Any) -> Protocol:
            return Raw(handle, hex, "", dissector)

        def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
            if not handle.stopping:
                handle.note(f"could not connect to {host}:{port}: {reason.getErrorMessage()}")
            handle.finish(reason)
            if not connected.called:
                connected.errback(reason)
                connected.addErrback(lambda _: None)

    connector = reactor.connectTCP(host, port, RawFactory(), timeout=timeout)

    def send(text: str) -> Deferred:
        data = typed_bytes(text, hex, line_end)  # a malformed line fails now, not later

        def write(protocol: Any) -> int:
            if protocol.transport is None:
                raise RuntimeError(f"{handle.description}: not connected")
            protocol.send(data)
            return len(data)

        result: Deferred = Deferred()

        def go(protocol: Any) -> Any:
            try:
                result.callback(write(protocol))
            except RuntimeError:
                result.errback(Failure())
            return protocol

        connected.addCallback(go)
        return result

    def stop() -> None:
        protocol = state.get("protocol")
        if protocol is not None and protocol.transport is not None:
            protocol.transport.loseConnection()
        else:
            connector.disconnect()

    def close() -> None:
        # End of typed input, as netcat -N: shut down our sending side only, so the
        # server sees the end and its reply still arrives; done fires when it closes.
        def go(protocol: Any) -> Any:
            if protocol.transport is not None:
                state["closing"] = True
                protocol.transport.loseWriteConnection()
            return protocol

        connected.addCallback(go)

    handle.attach(stop, send, close)
    return handle


class _RawDatagrams(DatagramProtocol):
    """Shows every datagram that arrives, with its sender; the dissector is fed each one."""

    def __init__(self, handle: Handle, hex_mode: bool, dissector: str = "raw") -> None:
        self.handle = handle
        self.hex_mode = hex_mode
        self.live = LiveDissector(self, dissector)

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.live.feed("in", datagram)
        self.handle.output(f"{addr[0]}:{addr[1]}: {shown_bytes(datagram, self.hex_mode)}")


def _start_raw_udp(
    entry: Entry, reactor: ReactorLike, host: str, port: int, hex: bool, line_end: str, timeout: float,
    dissector: str,
) -> Handle:
    address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4]
    target = (str(address[0]), int(address[1]))
    handle = ClientHandle(entry, f"raw UDP to {host}:{port}")
    protocol = _RawDatagrams(handle, hex, dissector)
    udp_port = reactor.listenUDP(0, protocol, interface="::" if ":" in target[0] else "0.0.0.0")

    def send(text: str) -> Deferred:
        data = typed_bytes(text, hex, line_end)
        udp_port.write(data, target)
        protocol.live.feed("out", data)
        return succeed(len(data))

    def stop() -> None:
        udp_port.stopListening()
        handle.finish(None)

    def close() -> None:
        # Replies may still be on their way: wait up to ``timeout`` for them.
        reactor.callLater(min(timeout, 1.0), stop)

    handle.attach(stop, send, close)
    handle.note(f"sending to {target[0]}:{target[1]} from port {udp_port.getHost().port}")
    return handle


RAW_ENTRIES: list[Entry] = [
    Entry("raw", "client", "tcp", "Raw client",
          "Connects anywhere; each typed line is sent (escapes \\r \\n \\t \\0 \\xHH, or --hex) "
          "and every byte that comes back is shown: netcat with the trace.",
          (HOST, PORT, HEX, LINE_END, TIMEOUT, DISSECTOR),
          _start_raw_client, accepts_lines=True),
    Entry("raw", "client", "udp", "Raw client",
          "Sends each typed line as one datagram to host:port and shows every reply.",
          (HOST, PORT, HEX, LINE_END, TIMEOUT, DISSECTOR),
          _start_raw_udp, accepts_lines=True),
    Entry("raw", "server", "tcp", "Raw listener",
          "Accepts anything and shows what arrives; typed lines go to the newest connection.",
          server_params(9000, HEX, LINE_END, DISSECTOR, tcp=False), _start_raw_server, accepts_lines=True),
]
