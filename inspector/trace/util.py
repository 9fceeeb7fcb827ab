"""Small helpers the tracer uses to describe things safely: names, places, reprs, reasons."""

from __future__ import annotations

import reprlib
from typing import Any

from inspector.failure import Failure

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 4
_short.maxlevel = 2


_PLAIN = (type(None), bool, int, float)


def safe_repr(value: Any, limit: int = 80) -> str:
    """A bounded repr that never raises (a broken ``__repr__`` is reported, not raised)."""
    kind = type(value)
    if kind in _PLAIN:
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 3] + "..."
    if kind is str or kind is bytes:
        text = repr(value[:limit])
        return text if len(text) <= limit and len(value) <= limit else text[: limit - 3] + "..."
    try:
        text = _short.repr(value)
    except Exception as exc:  # noqa: BLE001 - user code; report, never propagate
        text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def callable_name(fn: Any) -> str:
    """A readable name for a callable: ``module.qualname`` or its repr."""
    target = getattr(fn, "__func__", fn)
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if name is None:
        func = getattr(fn, "func", None)  # functools.partial
        return f"partial({callable_name(func)})" if func is not None else safe_repr(fn, 60)
    return name


def callable_location(fn: Any) -> str:
    """``file:line`` where ``fn`` is defined, or ``""`` when it has no Python code."""
    target = getattr(fn, "__func__", fn)
    target = getattr(target, "func", target)
    code = getattr(target, "__code__", None)
    if code is None:
        return ""
    return f"{code.co_filename}:{code.co_firstlineno}"


def is_failure(value: Any) -> bool:
    """True for a :class:`~inspector.failure.Failure`."""
    return isinstance(value, Failure)


def reason_parts(reason: Failure | BaseException | None) -> tuple[str, str]:
    """(exception type name, message) of a Failure, an exception or None."""
    if reason is None:
        return "", ""
    value = reason.value if isinstance(reason, Failure) else reason
    if isinstance(value, BaseException):
        return type(value).__name__, str(value)
    return type(value).__name__, safe_repr(value)


def address_text(addr: Any) -> str:
    """Render an IPv4Address/IPv6Address, a (host, port) tuple or None as text."""
    if addr is None:
        return ""
    host = getattr(addr, "host", None)
    port = getattr(addr, "port", None)
    if host is None and isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
    if host is None:
        return str(addr)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def call_quietly(obj: Any, method: str) -> Any:
    """``obj.method()``, or None when it is missing or raises (a half-built transport)."""
    fn = getattr(obj, method, None)
    if fn is None:
        return None
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a half-built transport may not know yet
        return None
