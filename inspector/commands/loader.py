"""Find the entry point of a user's program for ``inspector run``.

A target is a Python file (``app.py``, ``app.tac``) or ``package.module``, either
optionally followed by ``:name``. The module is looked up, in this order, for
``application`` (an Application or any IService, the ``.tac`` shape),
``makeService(options)`` (a plug-in's service builder) and ``main(reactor, *args)``
(the shape of ``task.react``). Every way this can go wrong raises :class:`LoadError`
with a one-line message, and a traceback trimmed to the user's frames when the
user's own code raised.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
import types
from dataclasses import dataclass
from typing import Any

from inspector.interfaces import IService

__all__ = ["LoadError", "EntryPoint", "ENTRY_NAMES", "load_entry_point", "user_traceback"]

#: What is looked for in a target, in order, as the error message names it.
ENTRY_NAMES = ("application", "makeService", "main")
_LOOKED_FOR = "application (an Application or IService), makeService(options), main(reactor, *args)"
_FILE_SUFFIXES = (".py", ".tac")


class LoadError(Exception):
    """The target could not be loaded; ``str()`` is the one-line message, ``details``
    the user's trimmed traceback (empty when there is none to show)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


@dataclass
class EntryPoint:
    """What was found: ``kind`` is one of :data:`ENTRY_NAMES`, ``value`` the object."""

    kind: str
    value: Any
    source: str


def _is_framework_file(filename: str) -> bool:
    """True for a frame of the inspector package or the import machinery."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return filename.startswith("<frozen ") or os.path.abspath(filename).startswith(package + os.sep)


def user_traceback(exc: BaseException) -> str:
    """Format ``exc`` with the frames before the user's code (ours, importlib's) left out."""
    tb = exc.__traceback__
    while tb is not None and _is_framework_file(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip("\n")


def _split_target(target: str) -> tuple[str, str | None]:
    """Split ``where[:name]``; a Windows drive letter or a file that exists keeps its colon."""
    if os.path.exists(target):
        return target, None
    where, sep, name = target.rpartition(":")
    if sep and name.isidentifier() and where:
        return where, name
    return target, None


def _looks_like_file(where: str) -> bool:
    return where.endswith(_FILE_SUFFIXES) or os.sep in where or "/" in where


def _load_file(path: str) -> types.ModuleType:
    """Run the file as a module named after it, its directory first on ``sys.path``."""
    if not os.path.isfile(path):
        raise LoadError(f"{path}: no such file")
    with open(path, "rb") as handle:
        source = handle.read()
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise LoadError(f"{exc.filename or path}:{exc.lineno}: syntax error: {exc.msg}") from None
    name = os.path.splitext(os.path.basename(path))[0]
    module = types.ModuleType(name if name.isidentifier() else "__inspector_run__")
    module.__file__ = os.path.abspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    sys.modules.setdefault(module.__name__, module)
    try:
        exec(code, module.__dict__)
    except Exception as exc:
        raise LoadError(f"{path}: {type(exc).__name__} while importing: {exc}", user_traceback(exc)) from None
    return module


def _import_module(name: str) -> types.ModuleType:
    """Import ``package.module``, telling "no such module" from the module failing."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like ``python -m``: modules in the current directory
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise LoadError(f"{name}: no such module or file") from None
        raise LoadError(f"{name}: {type(exc).__name__} while importing: {exc}", user_traceback(exc)) from None
    except SyntaxError as exc:
        raise LoadError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        raise LoadError(f"{name}: {type(exc).__name__} while importing: {exc}", user_traceback(exc)) from None


def _kind_of(name: str, value: Any) -> str:
    """The entry shape of an object named explicitly with ``:name``."""
    if name in ENTRY_NAMES:
        return name
    if IService(value, None) is not None:
        return "application"
    if callable(value):
        return "main"
    raise LoadError(f"{name} is neither an IService nor a callable; expected {_LOOKED_FOR}")


def load_entry_point(target: str) -> EntryPoint:
    """Load ``target`` and return its entry point, or raise :class:`LoadError`."""
    where, name = _split_target(target)
    module = _load_file(where) if _looks_like_file(where) else _import_module(where)
    if name is not None:
        if not hasattr(module, name):
            raise LoadError(f"{where}: has no {name!r}")
        value = getattr(module, name)
        return EntryPoint(_kind_of(name, value), value, where)
    for kind in ENTRY_NAMES:
        value = getattr(module, kind, None)
        if value is None:
            continue
        if kind == "application" and IService(value, None) is None:
            raise LoadError(f"{where}: application is {type(value).__name__}, not an Application or IService")
        if kind != "application" and not callable(value):
            raise LoadError(f"{where}: {kind} is {type(value).__name__}, not a function")
        return EntryPoint(kind, value, where)
    raise LoadError(f"{where}: no entry point found; looked for {_LOOKED_FOR}")
