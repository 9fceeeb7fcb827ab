"""Attaching to a process that serves its trace: :func:`attach`.

``attach(reactor, "tcp:host=127.0.0.1:port=6669", token=None, on_events=f,
on_state=g)`` connects (non-blocking, on ``reactor``), sends the hello, and from then
on calls ``f(attachment, events)`` with the events each arriving chunk completed,
exactly as :meth:`~inspector.trace.recording.RecordingReader.step` yields a file's.
``g(attachment, state, detail)`` hears every change of :class:`ViewerState`:

* ``connecting`` (first attempt), ``connected`` (a header arrived; ``session`` counts
  the processes seen: 1 first, 2 after a restart ...), ``disconnected`` (the process
  went away or is not there yet; it retries every ``retry`` seconds, doubling up to
  ``max_retry``), ``refused`` (wrong or missing token: no retry), ``stopped``.

Each session (one connection to one process instance) gets a fresh
:class:`~inspector.trace.model.Trace` (``attachment.trace``), as event numbers and
ids start again in a restarted process. :func:`namespaced` renumbers one session's
ids so several sessions can share one store or recording.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, Callable

from inspector.failure import Failure
from inspector.interfaces import ReactorLike
from inspector.protocol import ClientFactory, Protocol, connectionDone
from inspector.trace import events as ev
from inspector.trace.model import Trace
from inspector.trace.stream import StreamReader, hello_line

__all__ = ["ViewerState", "Attachment", "attach", "client_endpoint_text", "copied_event", "namespaced",
           "process_instance", "ID_FIELDS",
           "ID_STRIDE"]

log = logging.getLogger("inspector.trace")

#: The most a viewer reads at once, in bytes (about 600 events).
READ_SIZE = 64 * 1024


class ViewerState(str, enum.Enum):
    """Where an :class:`Attachment` stands."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REFUSED = "refused"
    STOPPED = "stopped"


EventsCallback = Callable[["Attachment", list[ev.Event]], None]
StateCallback = Callable[["Attachment", ViewerState, str], None]


def client_endpoint_text(text: str) -> str:
    """A viewer's ENDPOINT as a client endpoint string: ``HOST:PORT`` (``[::1]:6669``) or
    a bare port (on 127.0.0.1) become ``tcp:host=...:port=...``; an endpoint string is
    kept. ValueError for text that is neither."""
    from inspector.endpoints import client_string_for

    return client_string_for(text, what="the endpoint", bare_port_host="127.0.0.1")


def process_instance(header: dict[str, Any], session: int) -> tuple[Any, ...]:
    """Which process instance a session's ``header`` names: (host, pid, start clock), the
    same again when a dropped connection to a still-running process is made again, so a
    consumer can skip what the new session's snapshot repeats. Without those facts every
    session counts as a new instance."""
    facts = (header.get("host"), header.get("pid"), header.get("start_monotonic"))
    return facts if None not in facts else ("session", session)


class Attachment:
    """One attached process (its endpoint), reconnecting whenever it goes away.

    ``state`` is a :class:`ViewerState`; ``session`` counts the process instances
    connected so far; ``header`` is the current one's recording header (``pid``,
    ``process``, ``reactor``, ``host`` ...); ``missed`` how many events the process could
    not send us in this session; ``refusal`` the server's reason once refused.
    """

    def __init__(self, reactor: ReactorLike, endpoint: str, token: str | None = None, *,
                 on_events: EventsCallback | None = None, on_state: StateCallback | None = None,
                 retry: float = 0.5, max_retry: float = 5.0, label: str | None = None) -> None:
        from inspector.endpoints import clientFromString

        self.reactor = reactor
        self.endpoint_text = client_endpoint_text(endpoint)
        self.endpoint = clientFromString(reactor, self.endpoint_text)  # ValueError for bad text
        self.label = label or endpoint
        self.token = token
        self.on_events = on_events
        self.on_state = on_state
        self.retry = retry
        self.max_retry = max_retry
        self.state = ViewerState.STOPPED
        self.session = 0
        self.header: dict[str, Any] = {}
        self.trace: Trace | None = None
        self.refusal = ""
        self._delay = retry
        self._timer: Any = None
        self._attempt: Any = None
        self._protocol: _ViewerProtocol | None = None
        self._stopped = False

    @property
    def instance(self) -> tuple[Any, ...]:
        """Which process instance the current session is on: see :func:`process_instance`."""
        return process_instance(self.header, self.session)

    @property
    def missed(self) -> int:
        """Events the process dropped for us in this session (we read too slowly)."""
        protocol = self._protocol
        return protocol.reader.missed if protocol is not None else 0

    def start(self) -> Attachment:
        """Begin connecting (done by :func:`attach`)."""
        self._stopped = False
        self._set(ViewerState.CONNECTING, self.endpoint_text)
        self._connect()
        return self

    def stop(self) -> None:
        """Disconnect and stop retrying."""
        self._stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._attempt is not None:
            attempt, self._attempt = self._attempt, None
            attempt.cancel()
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.loseConnection()
        self._set(ViewerState.STOPPED, "")

    def _set(self, state: ViewerState, detail: str) -> None:
        if state == self.state and state != ViewerState.CONNECTED:
            return
        self.state = state
        if self.on_state is not None:
            try:
                self.on_state(self, state, detail)
            except Exception:
                log.exception("the state callback of the trace viewer for %s failed", self.label)

    def _connect(self) -> None:
        self._timer = None
        if self._stopped:
            return
        factory = _ViewerFactory(self)
        attempt = self.endpoint.connect(factory)
        self._attempt = attempt
        attempt.addCallbacks(self._connected, self._failed)

    def _connected(self, protocol: Any) -> None:
        self._attempt = None

    def _failed(self, failure: Any) -> None:
        self._attempt = None
        if self._stopped:
            return None
        reason = failure.getErrorMessage() if hasattr(failure, "getErrorMessage") else str(failure)
        self._lost(f"cannot connect: {reason}")
        return None

    def _retry_later(self) -> None:
        if self._stopped or self._timer is not None:
            return
        self._timer = self.reactor.callLater(self._delay, self._connect)
        self._delay = min(self.max_retry, self._delay * 2)

    # -- from the protocol ----------------------------------------------------------

    def _session_started(self, protocol: _ViewerProtocol, header: dict[str, Any]) -> None:
        self._protocol = protocol
        self._delay = self.retry
        self.session += 1
        self.header = header
        again = self.session > 1
        process = header.get("process") or "a process"
        pid = header.get("pid")
        log.info("%s %s: %s%s", "connected again to" if again else "attached to", self.label,
                 process, f" (pid {pid})" if pid else "")
        self._set(ViewerState.CONNECTED, "again" if again else "")

    def _events(self, events: list[ev.Event]) -> None:
        if self.on_events is None or not events:
            return
        try:
            self.on_events(self, events)
        except Exception:
            log.exception("the events callback of the trace viewer for %s failed", self.label)

    def _refused(self, reason: str) -> None:
        self.refusal = reason
        self._stopped = True
        log.error("%s refused us: %s", self.label, reason)
        self._set(ViewerState.REFUSED, reason)

    def _lost(self, reason: str) -> None:
        self._protocol = None
        if self._stopped:
            return
        if self.state != ViewerState.DISCONNECTED:
            if self.session:
                log.warning("disconnected from %s (%s); retrying", self.label, reason)
            else:
                log.warning("nothing serves a trace at %s yet (%s); retrying", self.label, reason)
        self._set(ViewerState.DISCONNECTED, reason)
        self._retry_later()


def attach(reactor: ReactorLike, endpoint: str, token: str | None = None, *,
           on_events: EventsCallback | None = None, on_state: StateCallback | None = None,
           retry: float = 0.5, max_retry: float = 5.0, label: str | None = None) -> Attachment:
    """Attach to the process serving its trace at ``endpoint`` (``HOST:PORT`` or a client
    endpoint string) and keep attached across restarts; see the module docstring.
    ValueError at once for an endpoint that cannot be parsed."""
    return Attachment(reactor, endpoint, token, on_events=on_events, on_state=on_state,
                      retry=retry, max_retry=max_retry, label=label).start()


class _ViewerProtocol(Protocol):
    """One connection to one process instance: the hello out, the stream in."""

    def __init__(self, attachment: Attachment) -> None:
        self.attachment = attachment
        self.trace = Trace()
        self.reader = StreamReader(self.trace, attachment.label)
        self._started = False

    def connectionMade(self) -> None:
        # At most READ_SIZE bytes a read: a big catch-up (a late viewer's snapshot, a
        # restatement) is then decoded and shown in slices between which the viewer's
        # loop (the window's) runs, not in one callback that holds it for a tenth of a
        # second (a TCP transport's reads otherwise grow to 1 MiB while they fill).
        if hasattr(self.transport, "max_read_size"):
            self.transport.max_read_size = READ_SIZE
        self.transport.write(hello_line(self.attachment.token))

    def dataReceived(self, data: bytes) -> None:
        reader = self.reader
        events = reader.feed(data)
        if not self._started and reader.header is not None:
            self._started = True
            self.attachment.trace = self.trace
            self.attachment._session_started(self, dict(self.trace.header))
        if events:
            self.attachment._events(events)
        if reader.done:
            if reader.refused:
                self.attachment._refused(reader.refused)
            elif reader.header is None:  # a wrong port: something else answers there
                self.attachment._refused(f"it does not serve an Inspector trace ({self.trace.problems[-1]})")
            elif self.trace.problems:
                log.error("%s sent something that is not a trace: %s", self.attachment.label,
                          self.trace.problems[-1])
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.attachment._protocol is self or not self._started:
            message = reason.getErrorMessage() if hasattr(reason, "getErrorMessage") else str(reason)
            self.attachment._lost(message)


class _ViewerFactory(ClientFactory):
    def __init__(self, attachment: Attachment) -> None:
        self.attachment = attachment

    def buildProtocol(self, addr: Any) -> _ViewerProtocol:
        protocol = _ViewerProtocol(self.attachment)
        protocol.factory = self
        return protocol


#: Event fields that hold ids a process numbers from 1 (renumbered by :func:`namespaced`).
ID_FIELDS = ("conn", "turn", "port", "deferred", "timer", "waiting_on", "waited_on", "subject")
#: Session ``k``'s ids become ``k * ID_STRIDE + id`` (session 0's stay as they are).
ID_STRIDE = 1_000_000_000


_FIELDS: dict[type, tuple[str, ...]] = {}


def copied_event(event: ev.Event) -> ev.Event:
    """A shallow copy of ``event`` (a quarter of what ``copy.copy`` costs a slotted event),
    for a consumer that renumbers what a session's own trace must keep as it came."""
    cls = type(event)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(cls._field_types)
    new = object.__new__(cls)
    for name in names:
        setattr(new, name, getattr(event, name))
    return new


def namespaced(event: ev.Event, index: int) -> ev.Event:
    """``event`` with its ids moved into session ``index``'s range (``index *
    ID_STRIDE + id``; ids 0, meaning "none", stay 0), so sessions of several processes
    (or one process restarted) do not mix up in one store. Changes ``event`` in place."""
    if index:
        offset = index * ID_STRIDE
        for name in ID_FIELDS:
            value = getattr(event, name, None)
            if value:
                setattr(event, name, value + offset)
    return event
