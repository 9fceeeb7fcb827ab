"""Dissectors: sans-IO objects turning a connection's bytes into messages.

``create("irc").feed("in", data)`` returns the messages ``data`` completes. Built in:
``lines``, ``irc``, ``netstrings``, ``int32`` and ``raw``; more are registered with
:func:`register` or declared by installed distributions in the entry-point group
``inspector.dissectors``.
"""

from inspector.dissect.base import DIRECTIONS, Direction, Dissector, DissectorFactory, Message, StreamDissector
from inspector.dissect.registry import ENTRY_POINT_GROUP, BadDissector, UnknownDissector, create, get, names, register

__all__ = [
    "DIRECTIONS", "Direction", "Dissector", "DissectorFactory", "Message", "StreamDissector",
    "ENTRY_POINT_GROUP", "BadDissector", "UnknownDissector", "create", "get", "names", "register",
]
