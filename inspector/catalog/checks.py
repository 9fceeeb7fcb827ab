"""Validation of launch parameters: each check raises ValueError with a short reason.

The catalogue's :class:`~inspector.catalog.model.Param` prefixes the reason with the
parameter's name, so users read "port: must be between 1 and 65535, got 70000".
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from inspector.interfaces import ReactorLike

__all__ = [
    "check_port",
    "check_server_port",
    "check_host",
    "check_nick",
    "check_channel",
    "check_positive",
    "check_seconds",
    "MAX_SECONDS",
    "check_quote_file",
    "check_user_file",
    "check_finger_query",
    "check_server_endpoint",
    "check_pem_file",
]


def check_port(value: int, allow_zero: bool = False) -> None:
    """Raise ValueError unless ``value`` is a TCP/UDP port (0 too, if ``allow_zero``)."""
    low = 0 if allow_zero else 1
    if not low <= value <= 65535:
        raise ValueError(f"must be between {low} and 65535, got {value}")


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_server_port(value: int) -> None:
    """Raise ValueError unless ``value`` is a port to listen on (0 picks a free one)."""
    check_port(value, allow_zero=True)


def check_host(value: str) -> None:
    """Raise ValueError unless ``value`` is an IPv4/IPv6 address or a host name."""
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(p) for p in name.split(".")):
        raise ValueError(f"{value!r} is neither an IP address nor a host name")
    # No top-level domain is all digits, so "300.1.1.1" or "10.1" is a mistyped
    # address, not a name: the resolver would turn some of these into surprises.
    if name.rsplit(".", 1)[-1].isdigit():
        raise ValueError(
            f"{value!r} is not a valid IPv4 address (four numbers from 0 to 255, e.g. 127.0.0.1)"
        )


def check_nick(value: str) -> None:
    """Raise ValueError unless ``value`` is an IRC nickname (RFC 2812 syntax, up to 30)."""
    from inspector.protocols.irc.console_commands import require_nick

    require_nick(value)  # the console's /nick says the same


def check_channel(value: str) -> None:
    """Raise ValueError unless ``value`` is an IRC channel name (#, &, + or ! prefix)."""
    from inspector.protocols.irc.message import is_valid_channel

    if not is_valid_channel(value):
        raise ValueError(
            f"{value!r} is not a channel: start with #, & , + or !, then 1-49 characters "
            "without spaces, commas or colons"
        )


def check_quote_file(value: str) -> None:
    """Raise ValueError unless ``value`` is a readable fortune file with quotes."""
    from inspector.protocols.qotd import load_fortune_file

    load_fortune_file(value)  # QuoteFileError (a ValueError) says what is wrong


def check_user_file(value: str) -> None:
    """Raise ValueError unless ``value`` is a readable finger user file."""
    from inspector.protocols.finger import UserDatabase

    UserDatabase.from_file(value)


def check_positive(value: float) -> None:
    """Raise ValueError unless ``value`` is more than zero."""
    if not value > 0:
        raise ValueError(f"must be more than 0, got {value:g}")


#: The longest timeout a parameter accepts: a day. Longer ones are typing mistakes
#: (3e6, inf) that would only park a timer where no reactor can wait for it.
MAX_SECONDS = 86400.0


def check_seconds(value: float) -> None:
    """Raise ValueError unless ``value`` is a finite number of seconds, above 0, at most a day."""
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number of seconds, got {value}")
    check_positive(value)
    if value > MAX_SECONDS:
        raise ValueError(f"must be at most {MAX_SECONDS:g} seconds (a day), got {value:g}")


def check_finger_query(value: str) -> None:
    """Raise ValueError unless ``value`` is one line of printable ASCII."""
    if any(not (" " <= ch <= "~") for ch in value):
        raise ValueError("must be printable ASCII on one line")


def check_server_endpoint(value: str) -> None:
    """Raise ValueError unless ``value`` is a server endpoint string (tcp:PORT...)."""
    from inspector.endpoints import serverFromString

    # Only parsed: the endpoint made is never used, so it needs no reactor.
    serverFromString(cast("ReactorLike", None), value)  # its ValueError names what is wrong


def check_pem_file(value: str) -> None:
    """Raise ValueError unless ``value`` is a readable file with a PEM block (a certificate
    or a key), so a wrong path is reported at launch, not at the first handshake."""
    from inspector.files import read_regular_file

    data = read_regular_file(value, "PEM file", 1024 * 1024)  # FileRefused is a ValueError
    if b"-----BEGIN " not in data:
        raise ValueError(f"{value} is not a PEM file (no -----BEGIN ...----- line)")
