"""Small dependency-free helpers shared by the reactors and the transports.

They live in this leaf module (it imports nothing from ``inspector``) so that
``reactors/base.py`` and ``tcp.py``/``udp.py`` can both use them without importing
each other: the transports sit below the reactors.
"""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["describe_callable", "is_ip_address", "terminal_text", "written_bytes"]


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


def _unsafe_characters(keep: str) -> dict[int, str]:
    """What :func:`terminal_text` replaces (code point -> visible escape), but for ``keep``."""
    table = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
    # Bidirectional embeddings, overrides, isolates and marks reorder what is shown
    # ("Trojan Source"): the text on screen would not be the text received.
    for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)):
        table[code] = f"\\u{code:04x}"
    # Lone surrogates (undecodable bytes kept by surrogateescape) cannot be written at all.
    for code in range(0xD800, 0xE000):
        table[code] = f"\\u{code:04x}"
    for char in keep:
        del table[ord(char)]
    return table


_MULTI_LINE = _unsafe_characters(keep="\t\n")  # tab and newline are layout, not commands
_ONE_LINE = _unsafe_characters(keep="")


def terminal_text(text: str, one_line: bool = False) -> str:
    """Return ``text`` safe to write to a terminal: control characters shown as escapes.

    Peer-supplied text may hold escape sequences that retitle the window, clear the
    screen or make the terminal type a reply. Every C0 control (but tab and newline,
    unless ``one_line``), DEL, every C1 control and the bidi controls are written as
    ``\\x1b`` or ``\\u202e``, so they are seen, never obeyed.
    """
    if text.isprintable():
        # Every character replaced is a control, format or surrogate one, none of which
        # is printable: most log lines hold none and skip the slow translate per character.
        return text
    return text.translate(_ONE_LINE if one_line else _MULTI_LINE)
