"""Exceptions users meet, with the names and meanings Twisted gives them.

Connection outcomes are exceptions so that they travel inside a Failure to
``connectionLost``, ``clientConnectionFailed`` and errbacks.
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inspector.interfaces import IAddress


def _with_details(message: str, args: tuple[object, ...]) -> str:
    """``message: arg arg.`` — the way Twisted's errors describe themselves."""
    if args:
        message = f"{message}: {' '.join(str(arg) for arg in args)}"
    return f"{message}."


class ConnectionClosed(Exception):
    """Base of the reasons a connection ended."""


class ConnectionDone(ConnectionClosed):
    """The connection was closed cleanly."""

    MESSAGE = "Connection was closed cleanly"

    def __str__(self) -> str:
        return _with_details(self.MESSAGE, self.args)


class ConnectionLost(ConnectionClosed):
    """The connection was lost in a non-clean fashion (reset, error, abort)."""

    MESSAGE = "Connection to the other side was lost in a non-clean fashion"

    def __str__(self) -> str:
        return _with_details(self.MESSAGE, self.args)


class ConnectionAborted(ConnectionLost):
    """The connection was aborted locally with ``abortConnection``."""

    MESSAGE = "Connection was aborted locally using ITCPTransport.abortConnection"


class BindError(Exception):
    """An error occurred binding to an interface"""

    MESSAGE = "An error occurred binding to an interface"

    def __str__(self) -> str:
        return _with_details(self.MESSAGE, self.args)


class CannotListenError(BindError):
    """A port could not be listened on; says which address and why."""

    def __init__(self, interface: str, port: int, socketError: BaseException) -> None:
        super().__init__(interface, port, socketError)
        self.interface = interface
        self.port = port
        self.socketError = socketError

    def __str__(self) -> str:
        iface = self.interface or "any"
        return f"Couldn't listen on {iface}:{self.port}: {self.socketError}."


class MulticastJoinError(Exception):
    """Joining a multicast group failed."""


class DNSLookupError(OSError):
    """DNS lookup failed"""

    MESSAGE = "DNS lookup failed"

    def __str__(self) -> str:
        return _with_details(self.MESSAGE, self.args)


class ConnectError(Exception):
    """An error occurred while connecting"""

    MESSAGE = "An error occurred while connecting"

    def __init__(self, osError: object = None, string: object = "") -> None:
        self.osError = osError
        super().__init__(string)

    def __str__(self) -> str:
        text = self.MESSAGE
        if self.osError:
            text = f"{text}: {self.osError}"
        if self.args[0]:
            text = f"{text}: {self.args[0]}"
        return f"{text}."


class ConnectBindError(ConnectError):
    """Couldn't bind"""

    MESSAGE = "Couldn't bind"


class UnknownHostError(ConnectError):
    """Hostname couldn't be looked up"""

    MESSAGE = "Hostname couldn't be looked up"


class NoRouteError(ConnectError):
    """No route to host"""

    MESSAGE = "No route to host"


class ConnectionRefusedError(ConnectError):  # noqa: A001 - Twisted's spelling
    """Connection was refused by other side"""

    MESSAGE = "Connection was refused by other side"


class TCPTimedOutError(ConnectError):
    """TCP connection timed out"""

    MESSAGE = "TCP connection timed out"


class BadFileError(ConnectError):
    """File used for UNIX socket is no good"""

    MESSAGE = "File used for UNIX socket is no good"


class ServiceNameUnknownError(ConnectError):
    """Service name given as port is unknown"""

    MESSAGE = "Service name given as port is unknown"


class UserError(ConnectError):
    """User aborted connection"""

    MESSAGE = "User aborted connection"


class TimeoutError(UserError):  # noqa: A001 - Twisted's spelling
    """User timeout caused connection failure"""

    MESSAGE = "User timeout caused connection failure"


class SSLError(ConnectError):
    """An SSL error occurred"""

    MESSAGE = "An SSL error occurred"


_ERRNO_ERRORS: dict[int, type[ConnectError]] = {
    errno.ENETUNREACH: NoRouteError,
    errno.EHOSTUNREACH: NoRouteError,
    errno.ECONNREFUSED: ConnectionRefusedError,
    errno.ETIMEDOUT: TCPTimedOutError,
}


def getConnectError(e: BaseException | tuple[int, str]) -> ConnectError:
    """The ConnectError subclass for a socket error (or an ``(errno, text)`` pair).

    Refused, unreachable and timed-out connects get their own classes, as in Twisted,
    so programs can catch exactly the outcome they handle.
    """
    args = e.args if isinstance(e, BaseException) else e
    try:
        number, string = args
    except ValueError:
        return ConnectError(string=e)
    if isinstance(e, socket.gaierror):
        return UnknownHostError(number, string)
    return _ERRNO_ERRORS.get(number, ConnectError)(number, string)


class ConnectingCancelledError(Exception):
    """An endpoint's connect was cancelled before it connected.

    ``address`` is the destination the cancelled attempt was connecting to.
    """

    def __init__(self, address: IAddress) -> None:
        super().__init__(address)
        self.address = address


class NoProtocol(Exception):
    """The factory given to a client endpoint built no protocol (returned None)."""


class NotConnectingError(RuntimeError):
    """The Connector was not connecting when it was asked to stop connecting"""

    MESSAGE = "The Connector was not connecting when it was asked to stop connecting"

    def __str__(self) -> str:
        return _with_details(self.MESSAGE, self.args)


class NotListeningError(RuntimeError):
    """The Port was not listening when it was asked to stop listening"""

    MESSAGE = "The Port was not listening when it was asked to stop listening"

    def __str__(self) -> str:
        return _with_details(self.MESSAGE, self.args)


class ProcessDone(ConnectionDone):
    """A process has ended without apparent errors"""

    MESSAGE = "A process has ended without apparent errors"

    def __init__(self, status: int) -> None:
        super().__init__("process finished with exit code 0")
        self.exitCode = 0
        self.signal: int | None = None
        self.status = status


class ProcessTerminated(ConnectionLost):
    """A process has ended with a probable error condition"""

    MESSAGE = "A process has ended with a probable error condition"

    def __init__(self, exitCode: int | None = None, signal: int | None = None, status: int | None = None) -> None:
        self.exitCode = exitCode
        self.signal = signal
        self.status = status
        text = "process ended"
        if exitCode is not None:
            text += f" with exit code {exitCode}"
        if signal is not None:
            text += f" by signal {signal}"
        super().__init__(text)


class ProcessExitedAlready(Exception):
    """The process has already exited, so the operation asked for cannot be done."""


class AlreadyCalled(ValueError):
    """Tried to cancel or reset a DelayedCall that has already run."""


class AlreadyCancelled(ValueError):
    """Tried to cancel or reset a DelayedCall that was already cancelled."""


class ReactorNotRunning(RuntimeError):
    """``stop`` was called on a reactor that is not running."""


class ReactorAlreadyRunning(RuntimeError):
    """``run`` was called on a reactor that is already running."""


class ReactorNotRestartable(RuntimeError):
    """``run`` was called on a reactor that has already run and stopped."""


class ReactorAlreadyInstalledError(AssertionError):
    """A process-wide reactor was already chosen."""


class MessageLengthError(Exception):
    """A datagram was too long to send."""
