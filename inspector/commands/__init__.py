"""The headless sub-commands: ``inspector serve`` and ``inspector connect``.

Both build their options from the catalogue (:mod:`inspector.catalog`), so a
protocol's parameters are described in one place.
"""

from __future__ import annotations

from typing import Any

__all__ = ["add_parsers"]


def add_parsers(subparsers: Any) -> None:
    """Register ``serve`` and ``connect`` on the top-level parser's sub-parsers."""
    from inspector.commands import attach, connect, proxy, serve

    serve.add_parser(subparsers)
    connect.add_parser(subparsers)
    attach.add_parser(subparsers)
    proxy.add_parser(subparsers)

