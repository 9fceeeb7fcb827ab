"""The proxy's ``--listen`` and ``--to`` as users type them, turned into endpoint strings.

``--listen`` takes what ``inspector serve --endpoint`` takes (``tcp:8000:interface=::1``)
or a plain port (``8000``, on 127.0.0.1). ``--to`` takes a client endpoint string
(``tcp:host=H:port=P``) or plain ``HOST:PORT`` (``[::1]:7000`` for IPv6).
"""

from __future__ import annotations

import re

from inspector.endpoints import client_string_for

__all__ = ["server_endpoint_string", "client_endpoint_string", "upstream_label"]


def server_endpoint_string(text: str) -> str:
    """``text`` as a server endpoint string: a plain port listens on 127.0.0.1."""
    text = text.strip()
    if text.isdigit():
        return f"tcp:{int(text)}:interface=127.0.0.1"
    if not text:
        raise ValueError("where to listen is empty; give a port (8000) or an endpoint (tcp:8000)")
    return text


def client_endpoint_string(text: str) -> str:
    """``text`` as a client endpoint string; ``HOST:PORT`` and ``[V6]:PORT`` are accepted."""
    return client_string_for(text, what="the upstream")


def upstream_label(description: str) -> str:
    """A short name for a client endpoint string: ``HOST:PORT`` for ``tcp:host=H:port=P``."""
    host = re.search(r"(?:^|:)host=(\[[^\]]*\]|[^:]*)", description)
    port = re.search(r"(?:^|:)port=(\d+)", description)
    if host and port:
        return f"{host.group(1)}:{port.group(1)}"
    return description
