"""The catalogue entries: what the launcher, ``inspector serve greeting`` and
``inspector connect greeting`` show and start. Only ``inspector.catalog``'s public API is used."""

from __future__ import annotations

from typing import Any

from greeting.protocol import GreetingClient, GreetingClientFactory, GreetingFactory
from greeting.wire import DEFAULT_PORT
from inspector.catalog import ClientHandle, Entry, ExchangeError, Handle, Param, check_host, check_port, listen_tcp
from inspector.defer import Deferred, DeferredList
from inspector.error import ConnectionDone
from inspector.failure import Failure


def check_text(value: str) -> None:
    """A greeting or a name must have something in it."""
    if not value.strip():
        raise ValueError("cannot be blank")


def check_listen_port(value: int) -> None:
    """A port to listen on: 0 lets the system choose a free one."""
    if not 0 <= value <= 65535:
        raise ValueError(f"must be between 0 and 65535, got {value}")


def start_server(entry: Entry, reactor: Any, port: int, interface: str, greeting: str) -> Handle:
    """Listen with a :class:`GreetingFactory`; the handle closes every connection on stop."""
    return listen_tcp(entry, reactor, GreetingFactory(greeting), port, interface, None)


def start_client(entry: Entry, reactor: Any, host: str, port: int, name: str, timeout: float) -> Handle:
    """Connect, say HELLO ``name``, then HELLO each typed line; closing says BYE once every
    greeting asked for has come back."""
    handle = ClientHandle(entry, f"greeting client to {host}:{port}/tcp")
    state: dict[str, Any] = {"protocol": None, "queued": [], "asked": [], "closing": False}

    def connected(protocol: GreetingClient) -> None:
        handle.note(f"connected to {host}:{port}")
        state["protocol"] = protocol
        queued, state["queued"] = state["queued"], []
        for text, answer in queued:
            protocol.hello(text).chainDeferred(answer)

    def failed(reason: Failure) -> None:
        if not handle.stopping:
            handle.note(f"could not connect to {host}:{port}: {reason.getErrorMessage()}")
        queued, state["queued"] = state["queued"], []
        for _, answer in queued:
            answer.errback(reason)
        handle.finish(reason)

    def lost(reason: Failure) -> None:
        handle.note(f"connection closed: {reason.getErrorMessage()}")
        if reason.check(ConnectionDone) or handle.stopping or state["closing"]:
            handle.finish(None)
        else:
            handle.finish(reason)

    def send(text: str) -> Deferred:
        """HELLO ``text`` now, or once connected; fires with the greeting."""
        protocol = state["protocol"]
        if protocol is not None:
            answer = protocol.hello(text)
        else:
            answer = Deferred()
            state["queued"].append((text, answer))
        answer.addTimeout(timeout, reactor, onTimeoutCancel=overdue)
        state["asked"].append(answer)
        return answer

    def overdue(result: Any, seconds: float) -> Failure:
        """A greeting did not come in time: the exchange failed, and the connection is dropped."""
        reason = Failure(ExchangeError(f"no greeting from {host}:{port} within {seconds:g} s (--timeout)"))
        protocol = state["protocol"]
        handle.finish(reason)
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abortConnection()
        return reason

    def stop() -> None:
        protocol = state["protocol"]
        if protocol is not None and protocol.transport is not None:
            protocol.transport.loseConnection()
        else:
            connector.disconnect()

    def close() -> None:
        def bye(_: Any) -> None:
            protocol = state["protocol"]
            if protocol is not None and protocol.transport is not None and not handle.done.called:
                state["closing"] = True
                protocol.bye()

        DeferredList(list(state["asked"]), consumeErrors=True).addCallback(bye)

    factory = GreetingClientFactory(connected, handle.output, lost, failed)
    connector = reactor.connectTCP(host, port, factory, timeout=timeout)
    handle.attach(stop, send, close)
    send(name).addErrback(lambda reason: handle.note(f"no greeting for {name!r}: {reason.getErrorMessage()}"))
    return handle


PORT = Param("port", "int", DEFAULT_PORT, "port of the greeting server", check_port)
LISTEN_PORT = Param("port", "int", DEFAULT_PORT, "port to listen on (0: any free port)", check_listen_port)


def entries() -> list[Entry]:
    """The greeting server and client, for the ``inspector.catalog`` entry point."""
    return [
        Entry("greeting", "server", "tcp", "Greeting server",
              "Answers HELLO name with a greeting (netstrings); BYE ends the session.",
              (LISTEN_PORT, Param("interface", "str", "127.0.0.1", "address to listen on", check_host),
               Param("greeting", "str", "Hello", "what the server says before the name", check_text)),
              start_server),
        Entry("greeting", "client", "tcp", "Greeting client",
              "Says HELLO with a name, then with each line you type; shows the greetings.",
              (Param("host", "str", "127.0.0.1", "greeting server to connect to", check_host), PORT,
               Param("name", "str", "world", "the first name to be greeted", check_text),
               Param("timeout", "float", 10.0, "seconds to wait for the server to accept, and for each greeting")),
              start_client, accepts_lines=True),
    ]
