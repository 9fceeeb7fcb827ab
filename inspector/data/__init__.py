"""Files shipped inside the package: the built-in quotes, a sample finger users file, the icon.

They are found through :mod:`importlib.resources`, so they work wherever Inspector is
installed (a clone, a wheel in site-packages, a zip) rather than by a path built from
the source tree, which only exists in a clone.
"""

from __future__ import annotations

from contextlib import contextmanager
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Iterator

__all__ = ["QUOTES", "USERS", "ICON_SVG", "ICON_PNG", "resource", "read_text", "path_of"]

#: The quotes a QOTD server serves when given no quote file (fortune format).
QUOTES = "quotes.txt"
#: A sample finger users file (``user: info`` lines).
USERS = "users.txt"
#: The window's icon, drawn as SVG, and the same drawing as a 256-pixel PNG.
ICON_SVG = "icon.svg"
ICON_PNG = "icon.png"


def resource(name: str) -> Traversable:
    """Return the shipped file ``name``, wherever the package is installed."""
    return files(__name__).joinpath(name)


def read_text(name: str) -> str:
    """Return the shipped text file ``name``, decoded as UTF-8."""
    return resource(name).read_text(encoding="utf-8")


@contextmanager
def path_of(name: str) -> Iterator[Path]:
    """Give a real filesystem path to the shipped file ``name`` for the ``with`` block.

    For code that wants a path (a file reader, Qt): from a zip the file is copied to a
    temporary file that is removed when the block ends.
    """
    with as_file(resource(name)) as path:
        yield Path(path)
