"""Reading a user-named file without trusting it: regular files only, bounded size.

Quote files, user files and recordings are named by the user, who may point at
``/dev/zero``, a FIFO or a directory by mistake. Reading those whole would hang or
exhaust memory, so every file the user names goes through :func:`open_regular_file`
or :func:`read_regular_file`, which refuse them with a one-line reason.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

__all__ = ["FileRefused", "open_regular_file", "read_regular_file", "MiB"]

MiB = 1 << 20


class FileRefused(ValueError):
    """A user-named file that cannot be read: missing, not a regular file, or too large.

    ``str()`` is one line naming the file and the reason, fit for a status bar or stderr.
    """


def _kind(mode: int) -> str:
    """A name for a file type a user recognises ('directory', 'FIFO', ...)."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular_file(path: str | os.PathLike[str], what: str, max_bytes: int | None = None) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file of at most ``max_bytes``.

    ``what`` names the file in messages ("quote file", "recording"). The file is opened
    non-blocking first, so a FIFO with no writer is refused instead of hanging the caller.
    Raises :class:`FileRefused`.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileRefused(f"{what} not found: {name}") from None
    except IsADirectoryError:
        raise FileRefused(f"{what} {name} is a directory, not a file") from None
    except OSError as exc:
        raise FileRefused(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{what} {name} is {_kind(info.st_mode)}; give a regular file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise FileRefused(
                f"{what} {name} is {info.st_size / MiB:.1f} MiB; the limit is {max_bytes / MiB:.1f} MiB"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_file(path: str | os.PathLike[str], what: str, max_bytes: int) -> bytes:
    """Return the bytes of the regular file ``path`` (at most ``max_bytes``; see :func:`open_regular_file`).

    The size is checked again while reading, so a file that grows after the check is
    still refused rather than read without bound.
    """
    with open_regular_file(path, what, max_bytes) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise FileRefused(f"cannot read {what} {os.fspath(path)}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise FileRefused(f"{what} {os.fspath(path)} is larger than the limit of {max_bytes / MiB:.1f} MiB")
    return data
