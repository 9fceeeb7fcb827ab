"""Exceptions users meet, with the names and meanings Twisted gives them.

Connection outcomes are exceptions so that they travel inside a Failure to
``connectionLost``, ``clientConnectionFailed`` and errbacks.
"""

from __future__ import annotations


class ConnectionClosed(Exception):
    """Base of the reasons a connection ended."""


class ConnectionDone(ConnectionClosed):
    """The connection was closed cleanly."""

    def __str__(self) -> str:
        return "Connection was closed cleanly." + (f" {self.args[0]}" if self.args else "")


class ConnectionLost(ConnectionClosed):
    """The connection was lost in a non-clean fashion (reset, error, abort)."""

    def __str__(self) -> str:
        return "Connection to the other side was lost in a non-clean fashion." + (
            f" {self.args[0]}" if self.args else ""
        )


class ConnectionAborted(ConnectionLost):
    """The connection was aborted locally with ``abortConnection``."""


class ConnectError(Exception):
    """A connection attempt failed. ``osError`` holds the OS-level cause when known."""

    def __init__(self, osError: object = None, string: str = "") -> None:
        self.osError = osError
        self.string = string
        super().__init__(osError, string)

    def __str__(self) -> str:
        doc = (self.__doc__ or "").strip().split("\n")[0]
        extra = ": ".join(str(p) for p in (self.osError, self.string) if p)
        return f"{doc}: {extra}." if extra else f"{doc}."


class ConnectionRefusedError(ConnectError):
    """Connection was refused by other side"""


class TimeoutError(ConnectError):  # noqa: A001 - Twisted's spelling
    """User timeout caused connection failure"""


class DNSLookupError(ConnectError, OSError):
    """DNS lookup failed"""


class NoRouteError(ConnectError):
    """No route to host"""


class UserError(ConnectError):
    """The connection attempt was stopped by the user"""


class NotConnectingError(RuntimeError):
    """``stopConnecting`` was called on a connector that is not connecting."""


class CannotListenError(OSError):
    """A port could not be listened on; says which address and why."""

    def __init__(self, interface: str, port: int, socketError: BaseException) -> None:
        self.interface = interface
        self.port = port
        self.socketError = socketError
        super().__init__(interface, port, socketError)

    def __str__(self) -> str:
        iface = self.interface or "any"
        return f"Couldn't listen on {iface}:{self.port}: {self.socketError}."


class NotListeningError(RuntimeError):
    """The port is not listening."""


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


class ReactorAlreadyInstalledError(RuntimeError):
    """A process-wide reactor was already chosen."""


class MessageLengthError(Exception):
    """A datagram was too long to send."""
