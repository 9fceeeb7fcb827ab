"""Services: long-running parts of an application that start and stop together.

A ``Service`` has a name, a parent and a ``running`` flag; a ``MultiService`` holds
services and starts or stops them all (stopping in reverse order, and waiting for any
Deferred their ``stopService`` returns). An ``Application`` is the top ``MultiService``.
``start_application`` ties it to a reactor: start when the reactor starts, stop (and
wait) before it shuts down — what the headless ``inspector serve`` runs.
"""

from __future__ import annotations

import logging
import random
import socket
from typing import Any, Callable, Iterator

from zope.interface import implementer

from inspector.defer import CancelledError, Deferred, DeferredList, fail, maybeDeferred, succeed
from inspector.interfaces import (
    IDatagramProtocol,
    IProtocolFactory,
    IReactorCore,
    IReactorTCP,
    IReactorTime,
    IService,
    IServiceCollection,
    ReactorLike,
)
from inspector.task import LoopingCall

log = logging.getLogger("inspector.service")

__all__ = [
    "Service",
    "MultiService",
    "Application",
    "StreamServerEndpointService",
    "TCPServer",
    "TCPClient",
    "UDPServer",
    "TimerService",
    "ClientService",
    "backoffPolicy",
    "start_application",
    "run_application",
]


@implementer(IService)
class Service:
    """A thing that is started and stopped; override ``startService``/``stopService``."""

    name: str | None = None
    parent: Any = None
    running = False

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__}{label} {state}>"

    def setName(self, name: str) -> None:
        """Name the service; only allowed before it joins a parent, which indexes by name."""
        if self.parent is not None:
            raise RuntimeError(f"cannot rename {self!r}: it already has a parent")
        self.name = name

    def setServiceParent(self, parent: Any) -> Any:
        """Join ``parent`` (a service collection, or anything adaptable to one)."""
        if self.parent is not None:
            self.disownServiceParent()
        parent = IServiceCollection(parent, parent)
        self.parent = parent
        return self.parent.addService(self)

    def disownServiceParent(self) -> Any:
        """Leave the parent; returns what its ``removeService`` returns (maybe a Deferred)."""
        if self.parent is None:
            raise RuntimeError(f"{self!r} has no parent to leave")
        result = self.parent.removeService(self)
        self.parent = None
        return result

    def privilegedStartService(self) -> None:
        """Do start-up work that needs privileges (binding low ports) before ``startService``."""

    def startService(self) -> None:
        """Start; subclasses call this first."""
        self.running = True

    def stopService(self) -> Any:
        """Stop; subclasses may return a Deferred that fires once fully stopped."""
        self.running = False
        return None


@implementer(IServiceCollection)
class MultiService(Service):
    """A service made of services: starts them in order, stops them in reverse."""

    def __init__(self) -> None:
        self.services: list[Any] = []
        self.namedServices: dict[str, Any] = {}

    def __iter__(self) -> Iterator[Any]:
        return iter(self.services)

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        for service in self:
            service.privilegedStartService()

    def startService(self) -> None:
        Service.startService(self)
        for service in list(self):
            service.startService()

    def stopService(self) -> Deferred:
        """Stop every child, last first; a DeferredList of their ``stopService`` results."""
        Service.stopService(self)
        stopping = [maybeDeferred(service.stopService) for service in reversed(self.services)]
        return DeferredList(stopping)

    def getServiceNamed(self, name: str) -> Any:
        """Return the child called ``name``; KeyError if there is none."""
        return self.namedServices[name]

    def addService(self, service: Any) -> None:
        """Add a child (started at once if this service is running)."""
        if service.name is not None:
            if service.name in self.namedServices:
                raise RuntimeError(f"cannot have two services named {service.name!r}")
            self.namedServices[service.name] = service
        self.services.append(service)
        if self.running:
            service.privilegedStartService()
            service.startService()

    def removeService(self, service: Any) -> Any:
        """Remove a child; if running, stop it and return what its ``stopService`` returns."""
        if service.name is not None:
            del self.namedServices[service.name]
        self.services.remove(service)
        if self.running:
            return service.stopService()
        return None


@implementer(IService, IServiceCollection)
class Application(MultiService):
    """The top of an application's service tree, named for logs and ``inspector serve``.

    It is itself the service collection, so Twisted's idioms work unchanged:
    ``IServiceCollection(application)`` and ``IService(application)`` both return it,
    and ``service.setServiceParent(application)`` adds a service to it.
    """

    def __init__(self, name: str, uid: int | None = None, gid: int | None = None) -> None:
        super().__init__()
        self.name = name
        # Twisted's signature, so a .tac file written for twistd loads; the ids are kept
        # for the caller to see, never used to switch user (``inspector run`` does not).
        self.uid = uid
        self.gid = gid


# -------------------------------------------------------------------- network services


class StreamServerEndpointService(Service):
    """Listens on ``endpoint`` with ``factory`` while running.

    A failure to listen is logged; set ``_raiseSynchronously`` to have
    ``privilegedStartService`` raise it instead (if it is known at once).
    """

    _raiseSynchronously = False

    def __init__(self, endpoint: Any, factory: IProtocolFactory) -> None:
        self.endpoint = endpoint
        self.factory = factory
        self._waitingForPort: Deferred | None = None
        self.port: Any = None

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        self._waitingForPort = self.endpoint.listen(self.factory)
        raised: list[Any] = []
        in_call = [True]  # a failure known before this method returns can be raised

        def got_port(port: Any) -> Any:
            self.port = port
            return port

        def failed(failure: Any) -> None:
            if self._raiseSynchronously and in_call[0]:
                raised.append(failure)
            else:
                log.error(
                    "%r could not listen on %r: %s",
                    self,
                    self.endpoint,
                    failure.getErrorMessage(),
                )
            return None

        self._waitingForPort.addCallbacks(got_port, failed)
        in_call[0] = False
        if raised:
            raised[0].raiseException()

    def startService(self) -> None:
        Service.startService(self)
        if self._waitingForPort is None:
            self.privilegedStartService()

    def stopService(self) -> Deferred:
        """Stop listening; the Deferred fires once the port is closed."""
        waiting, self._waitingForPort = self._waitingForPort, None
        if waiting is None:
            Service.stopService(self)
            return succeed(None)
        waiting.cancel()

        def stop_listening(port: Any) -> Any:
            self.port = None
            if port is not None:
                return port.stopListening()
            return None

        def stopped(result: Any) -> Any:
            self.running = False
            return result

        return waiting.addCallback(stop_listening).addBoth(stopped)


def _reactor_or_default(reactor: Any) -> Any:
    if reactor is not None:
        return reactor
    from inspector.reactors import default_reactor

    return default_reactor()


class TCPServer(Service):
    """``listenTCP(port, factory, backlog, interface)`` while running."""

    def __init__(
        self,
        port: int,
        factory: IProtocolFactory,
        backlog: int = socket.SOMAXCONN,
        interface: str = "127.0.0.1",
        reactor: IReactorTCP | None = None,
    ) -> None:
        self.args: tuple[Any, ...] = (port, factory)
        self.kwargs: dict[str, Any] = {"backlog": backlog, "interface": interface}
        self.reactor = reactor
        self._port: Any = None

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        self._port = self._listen()

    def startService(self) -> None:
        Service.startService(self)
        if self._port is None:
            self._port = self._listen()

    def _listen(self) -> Any:
        return _reactor_or_default(self.reactor).listenTCP(*self.args, **self.kwargs)

    def getHost(self) -> Any:
        """The address the port is bound to (useful with port 0)."""
        if self._port is None:
            raise RuntimeError(f"{self!r} is not listening; start it first")
        return self._port.getHost()

    def stopService(self) -> Any:
        """Stop listening; returns what ``stopListening`` returns (maybe a Deferred)."""
        Service.stopService(self)
        port, self._port = self._port, None
        if port is not None:
            return port.stopListening()
        return None


class TCPClient(Service):
    """``connectTCP(host, port, factory, timeout, bindAddress)`` while running."""

    def __init__(
        self,
        host: str,
        port: int,
        factory: IProtocolFactory,
        timeout: float = 30,
        bindAddress: Any = None,
        reactor: IReactorTCP | None = None,
    ) -> None:
        self.args = (host, port, factory)
        self.kwargs = {"timeout": timeout, "bindAddress": bindAddress}
        self.reactor = reactor
        self._connection: Any = None

    def startService(self) -> None:
        Service.startService(self)
        self._connection = _reactor_or_default(self.reactor).connectTCP(*self.args, **self.kwargs)

    def stopService(self) -> None:
        """Disconnect (or stop connecting)."""
        Service.stopService(self)
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.disconnect()


class UDPServer(TCPServer):
    """``listenUDP(port, protocol, interface, maxPacketSize)`` while running (Twisted's shape).

    A TCPServer in all but what it listens with: start, getHost and stop are shared.
    """

    def __init__(
        self,
        port: int,
        protocol: IDatagramProtocol,
        interface: str = "127.0.0.1",
        maxPacketSize: int = 65535,
        reactor: ReactorLike | None = None,
    ) -> None:
        self.args = (port, protocol)
        self.kwargs = {"interface": interface, "maxPacketSize": maxPacketSize}
        self.reactor = reactor
        self._port: Any = None

    def _listen(self) -> Any:
        return _reactor_or_default(self.reactor).listenUDP(*self.args, **self.kwargs)


class TimerService(Service):
    """Calls ``callable(*args, **kwargs)`` every ``step`` seconds while running, first at start.

    A call that raises (or returns a failing Deferred) is logged and ends the timer, as
    Twisted's does. ``clock`` (an IReactorTime) defaults to the process-wide reactor;
    ``stopService`` returns a Deferred fired once the current call, if any, is over.
    """

    clock: IReactorTime | None = None

    def __init__(self, step: float, callable: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.step = step
        self.call = (callable, args, kwargs)
        self._loop: Any = None
        self._finished: Deferred | None = None

    def startService(self) -> None:
        Service.startService(self)
        function, args, kwargs = self.call
        self._loop = LoopingCall(function, *args, **kwargs)
        if self.clock is not None:
            self._loop.clock = self.clock
        self._finished = self._loop.start(self.step, now=True)
        self._finished.addErrback(self._failed)

    def _failed(self, failure: Any) -> None:
        log.error("%r: %r failed, the timer stops: %s", self, self.call[0], failure.getErrorMessage(),
                  exc_info=(failure.type, failure.value, failure.getTracebackObject()))

    def stopService(self) -> Deferred:
        """Stop calling; fires once a call in progress has finished."""
        Service.stopService(self)
        loop, self._loop = self._loop, None
        finished, self._finished = self._finished, None
        if loop is not None and loop.running:
            loop.stop()
        if finished is None:
            return succeed(None)
        return finished.addCallback(lambda _: None)


# ------------------------------------------------------------ a connection kept alive


def backoffPolicy(
    initialDelay: float = 1.0,
    maxDelay: float = 60.0,
    factor: float = 1.5,
    jitter: Callable[[], float] = random.random,
) -> Callable[[int], float]:
    """Return ``policy(failedAttempts) -> seconds``: exponential, capped, plus ``jitter()``."""

    def policy(failedAttempts: int) -> float:
        try:
            delay = min(initialDelay * factor ** min(failedAttempts, 100), maxDelay)
        except OverflowError:
            delay = maxDelay
        return delay + jitter()

    return policy


class _LossWatchingFactory:
    """Builds the user's protocols and tells the ClientService when each one's connection ends.

    The protocol is handed to the transport itself (no proxy on the data path); only
    its ``connectionLost`` is wrapped, on the instance.
    """

    def __init__(self, wrapped: Any, service: "ClientService") -> None:
        self._wrapped = wrapped
        self._service = service

    def doStart(self) -> None:
        self._wrapped.doStart()

    def doStop(self) -> None:
        self._wrapped.doStop()

    def buildProtocol(self, addr: Any) -> Any:
        protocol = self._wrapped.buildProtocol(addr)
        if protocol is None:
            return None
        original = protocol.connectionLost
        service = self._service

        def connectionLost(reason: Any) -> None:
            # Forget it first, so code run by the protocol's own connectionLost
            # (whenConnected, say) never gets the dead connection back.
            service._forget(protocol)
            try:
                original(reason)
            finally:
                service._connection_lost(protocol)

        protocol.connectionLost = connectionLost
        return protocol


class ClientService(Service):
    """Keeps one connection to ``endpoint`` open while running, reconnecting when it drops.

    ``whenConnected()`` gives a Deferred of the current protocol (at once if connected).
    Failed attempts and lost connections are retried after ``retryPolicy(failures)``
    seconds (default: ``backoffPolicy()``), on ``clock`` (default: the endpoint's
    reactor). ``prepareConnection(protocol)``, if given, runs on every new connection
    (it may return a Deferred) before ``whenConnected`` waiters see it. ``stopService``
    stops retrying, closes the connection and fires once it is gone.
    """

    def __init__(
        self,
        endpoint: Any,
        factory: IProtocolFactory,
        retryPolicy: Callable[[int], float] | None = None,
        clock: IReactorTime | None = None,
        prepareConnection: Callable[[Any], Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.factory = factory
        self._retry_policy = retryPolicy if retryPolicy is not None else backoffPolicy()
        self._clock = clock
        self._prepare = prepareConnection
        self._protocol: Any = None
        self._attempt: Deferred | None = None
        self._retry_call: Any = None
        self._failures = 0
        self._waiters: list[tuple[Deferred, int | None]] = []
        self._stopped: list[Deferred] = []

    def _reactor_clock(self) -> Any:
        if self._clock is None:
            self._clock = _reactor_or_default(getattr(self.endpoint, "_reactor", None))
        return self._clock

    def startService(self) -> None:
        if self.running:
            return
        Service.startService(self)
        self._failures = 0
        self._connect()

    def whenConnected(self, failAfterFailures: int | None = None) -> Deferred:
        """A Deferred of the connected protocol; fails after ``failAfterFailures`` failed attempts.

        While the service is stopped it fails with CancelledError.
        """
        if self._protocol is not None:
            return succeed(self._protocol)
        if not self.running:
            return fail(CancelledError(f"{self!r} is not running"))
        waiter: Deferred = Deferred()
        self._waiters.append((waiter, failAfterFailures))
        return waiter

    def _connect(self) -> None:
        self._retry_call = None
        attempt = self.endpoint.connect(_LossWatchingFactory(self.factory, self))
        self._attempt = attempt
        attempt.addCallbacks(self._connected, self._attempt_failed)

    def _connected(self, protocol: Any) -> Any:
        self._attempt = None
        if not self.running:
            protocol.transport.loseConnection()
            return None
        if self._prepare is None:
            self._ready(protocol)
            return None
        return maybeDeferred(self._prepare, protocol).addCallbacks(
            lambda _: self._ready(protocol), self._prepare_failed, errbackArgs=(protocol,)
        )

    def _ready(self, protocol: Any) -> None:
        if not self.running:  # stopped while prepareConnection ran
            protocol.transport.loseConnection()
            return
        self._failures = 0
        self._protocol = protocol
        waiters, self._waiters = self._waiters, []
        for waiter, _ in waiters:
            waiter.callback(protocol)

    def _prepare_failed(self, failure: Any, protocol: Any) -> None:
        log.error("%r: prepareConnection failed: %s", self, failure.getErrorMessage())
        protocol.transport.loseConnection()  # _connection_lost schedules the retry

    def _attempt_failed(self, failure: Any) -> None:
        self._attempt = None
        if not self.running:
            return None
        self._failures += 1
        keep = []
        for waiter, limit in self._waiters:
            if limit is not None and self._failures >= limit:
                waiter.errback(failure)
            else:
                keep.append((waiter, limit))
        self._waiters = keep
        self._schedule_retry()
        return None

    def _forget(self, protocol: Any) -> None:
        if protocol is self._protocol:
            self._protocol = None

    def _connection_lost(self, protocol: Any) -> None:
        if not self.running:
            stopped, self._stopped = self._stopped, []
            for d in stopped:
                d.callback(None)
            return
        self._failures += 1
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        delay = max(0.0, self._retry_policy(self._failures))
        log.info("%r: connecting again in %.3g s", self, delay)
        self._retry_call = self._reactor_clock().callLater(delay, self._connect)

    def stopService(self) -> Deferred:
        """Stop reconnecting and close the connection; fires once it is closed."""
        if not self.running:
            return succeed(None)
        Service.stopService(self)
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        self._retry_call = None
        if self._attempt is not None:
            attempt, self._attempt = self._attempt, None
            attempt.addErrback(lambda f: f.trap(CancelledError))
            attempt.cancel()
        waiters, self._waiters = self._waiters, []
        for waiter, _ in waiters:
            waiter.errback(CancelledError(f"{self!r} stopped before connecting"))
        protocol, self._protocol = self._protocol, None
        if protocol is None or protocol.transport is None:
            return succeed(None)
        gone: Deferred = Deferred()
        self._stopped.append(gone)
        protocol.transport.loseConnection()
        return gone


# --------------------------------------------------------------------- the application


def start_application(application: Any, reactor: IReactorCore) -> None:
    """Start ``application``'s services once ``reactor`` runs; stop them before it shuts down.

    The reactor waits for the Deferred the services' ``stopService`` returns before
    completing shutdown, so ports are closed and connections finished first.
    """
    service = IService(application)
    service.privilegedStartService()
    reactor.callWhenRunning(service.startService)
    reactor.addSystemEventTrigger("before", "shutdown", _stop_if_running, service)


def _stop_if_running(service: Any) -> Any:
    if service.running:
        return service.stopService()
    return None


def run_application(application: Any, reactor: IReactorCore) -> None:
    """``start_application`` and run ``reactor`` until it is stopped."""
    start_application(application, reactor)
    reactor.run()
