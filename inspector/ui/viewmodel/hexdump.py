"""Byte formatting for the session view: a hex dump and a printable-text rendering."""

from __future__ import annotations

_PRINTABLE = bytes(range(32, 127))
_DOTS = bytes(b if b in _PRINTABLE else ord(".") for b in range(256))


def hex_lines(data: bytes, offset: int = 0, width: int = 16) -> list[str]:
    """Return hexdump lines: offset, hex bytes in two groups, printable column."""
    lines = []
    half = width // 2
    for start in range(0, len(data), width):
        row = data[start : start + width]
        left = row[:half].hex(" ")
        right = row[half:].hex(" ")
        hex_part = f"{left:<{half * 3 - 1}}  {right:<{half * 3 - 1}}"
        lines.append(f"{offset + start:08x}  {hex_part}  |{row.translate(_DOTS).decode('ascii')}|")
    return lines


def printable(data: bytes) -> str:
    """Decode bytes as UTF-8 for reading: CRLF reads as a line end; undecodable bytes and
    other control characters become escapes (the hex view shows every byte as it is)."""
    text = bytes(data).replace(b"\r\n", b"\n").decode("utf-8", "backslashreplace")
    out = []
    for char in text:
        if char in "\n\t" or char >= " " and char != "\x7f":
            out.append(char)
        elif char == "\r":
            out.append("\\r")
        else:
            out.append(f"\\x{ord(char):02x}")
    return "".join(out)
