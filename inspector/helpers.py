"""Small dependency-free helpers shared by the reactors and the transports.

They live in this leaf module (it imports nothing from ``inspector``) so that
``reactors/base.py`` and ``tcp.py``/``udp.py`` can both use them without importing
each other: the transports sit below the reactors.
"""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["describe_callable", "is_ip_address", "written_bytes"]


def describe_callable(func: Any) -> str:
    """Return ``name (file:line)`` for a callable, looking through bound methods and partials.

    Used in log lines about failing or slow callbacks, so the reader can find the code.
    """
    target = func
    for _ in range(5):
        inner = getattr(target, "func", None)  # functools.partial
        if inner is None or inner is target:
            break
        target = inner
    target = getattr(target, "__func__", target)
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)
    code = getattr(target, "__code__", None)
    if code is None:
        call = getattr(type(target), "__call__", None)
        code = getattr(call, "__code__", None)
    if code is not None:
        return f"{name} ({code.co_filename}:{code.co_firstlineno})"
    return str(name)


def is_ip_address(host: str) -> bool:
    """Return True if ``host`` is an IPv4 or IPv6 address literal (a scope id allowed),
    so callers can skip name resolution."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host.split("%", 1)[0] if family == socket.AF_INET6 else host)
        except (OSError, ValueError):
            continue
        return True
    return False


def written_bytes(data: Any) -> bytes:
    """``data`` (not already bytes) as the bytes a transport's ``write`` sends: a bytearray
    or memoryview is copied; a str or anything else is a TypeError saying what to do."""
    if isinstance(data, str):
        raise TypeError("write() takes bytes, not str; encode it first (e.g. data.encode())")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"write() takes bytes, not {type(data).__name__}")
