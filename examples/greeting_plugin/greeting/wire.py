"""The greeting wire format, without any I/O: netstrings holding ``VERB text``.

Client to server: ``HELLO name`` (asks for a greeting), ``BYE`` (ends the session).
Server to client: ``GREETING text``, ``ERROR reason``, ``BYE`` (then it hangs up).
"""

from __future__ import annotations

#: Every verb, and who sends it.
CLIENT_VERBS = ("HELLO", "BYE")
SERVER_VERBS = ("GREETING", "ERROR", "BYE")

#: The port the server listens on and the client connects to unless told otherwise.
DEFAULT_PORT = 8099


def pack(verb: str, text: str = "") -> bytes:
    """One message's payload (the netstring framing is the protocol's job)."""
    return f"{verb} {text}".rstrip(" ").encode("utf-8")


def unpack(payload: bytes) -> tuple[str, str]:
    """``(verb, text)`` from a payload; ValueError if it is not UTF-8 or has no verb."""
    try:
        decoded = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    verb, _, text = decoded.partition(" ")
    if not verb or not verb.isalpha() or not verb.isupper():
        raise ValueError(f"no verb at the start of {decoded[:40]!r}")
    return verb, text
