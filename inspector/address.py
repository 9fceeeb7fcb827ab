"""Addresses returned by ``getHost()`` and ``getPeer()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from zope.interface import implementer

from inspector.interfaces import IAddress


@implementer(IAddress)
@dataclass(frozen=True, slots=True)
class IPv4Address:
    """An IPv4 socket address: transport type, host and port."""

    type: Literal["TCP", "UDP"]
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@implementer(IAddress)
@dataclass(frozen=True, slots=True)
class IPv6Address:
    """An IPv6 socket address; ``flowInfo`` and ``scopeID`` as the socket reports them."""

    type: Literal["TCP", "UDP"]
    host: str
    port: int
    flowInfo: int = 0
    scopeID: int | str = 0

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}"


@implementer(IAddress)
@dataclass(frozen=True, slots=True)
class HostnameAddress:
    """A host name (as bytes, like Twisted's) and port, before it is resolved."""

    hostname: bytes
    port: int


@implementer(IAddress)
@dataclass(frozen=True, slots=True)
class UNIXAddress:
    """A Unix socket's name: a path, an abstract name (bytes starting with ``b"\\0"``),
    or None for an unnamed socket (the usual peer of an accepted connection)."""

    name: str | bytes | None

    def __str__(self) -> str:
        name = self.name
        if not name:
            return "unix:(unnamed)"
        if isinstance(name, bytes):
            name = name.decode("utf-8", "backslashreplace")
        return "unix:@" + name[1:] if name.startswith("\0") else f"unix:{name}"
