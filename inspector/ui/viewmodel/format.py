"""Small text formatters shared by the panels (sizes, rates, durations, ages)."""

from __future__ import annotations


def size(count: float) -> str:
    """Return a byte count for humans: 999 B, 1.5 KiB, 2.0 MiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def rate(per_second: float) -> str:
    """Return a byte rate for humans, empty when idle."""
    return f"{size(per_second)}/s" if per_second else ""


def duration(seconds: float | None) -> str:
    """Return a duration: 12 µs, 3.4 ms, 1.25 s, 2 min 3 s."""
    if seconds is None:
        return ""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def age(seconds: float) -> str:
    """Return a coarse age: 3 s, 4 min, 2 h."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
