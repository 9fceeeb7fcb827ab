"""The framework's nouns are typed with its interfaces, not ``Any`` (issue 15, item 2).

A public function or method that takes a reactor, a transport, a protocol, a factory
or a failure says which one it needs (``IReactorTime``, ``ReactorLike``,
``ITCPTransport``, ``Failure`` ...), so the type checker can tell a caller it passed
the wrong thing. The modules listed in :data:`TYPED` are done: a new ``reactor: Any``
(or ``transport: Any`` ...) in a public signature there fails here. Modules still to be
done are counted in the failure message, not checked.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import inspector

#: Parameter names that stand for the framework's nouns.
NOUNS = frozenset({"reactor", "transport", "protocol", "factory", "reason", "failure"})

PACKAGE = Path(inspector.__file__).parent

#: Modules and packages (relative to inspector/) whose public signatures are typed.
TYPED = (
    "application/",
    "endpoints.py",
    "interfaces.py",
    "logger.py",
    "multicast.py",
    "process.py",
    "protocol.py",
    "policies.py",
    "reactors/base.py",
    "service.py",
    "testing.py",
    "task.py",
    "tcp.py",
    "threads.py",
    "tls.py",
    "udp.py",
    "unix.py",
    "utils.py",
    "commands/",
    "catalog/__init__.py",
    "catalog/builtin.py",
    "catalog/checks.py",
    "catalog/irc.py",
    "catalog/model.py",
    "catalog/ownership.py",
    "catalog/tls.py",
    "protocols/",
    "trace/",
    "ui/",
)


def _is_public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _signatures(body: list[ast.stmt]) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The public functions of a module body and the public methods of its classes
    (nested classes too); functions defined inside functions are local, not public."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_public(node.name):
            found.append(node)
        elif isinstance(node, ast.ClassDef):
            found.extend(_signatures(node.body))
    return found


def untyped_nouns(source: str, filename: str = "<source>") -> list[str]:
    """``file:line function(parameter)`` for each noun parameter annotated ``Any``."""
    found = []
    for function in _signatures(ast.parse(source, filename).body):
        arguments = function.args
        for argument in arguments.posonlyargs + arguments.args + arguments.kwonlyargs:
            if argument.arg in NOUNS and argument.annotation is not None:
                if ast.unparse(argument.annotation) in ("Any", "typing.Any"):
                    found.append(f"{filename}:{function.lineno} {function.name}({argument.arg})")
    return found


def _modules(entry: str) -> list[Path]:
    path = PACKAGE / entry
    return sorted(path.rglob("*.py")) if entry.endswith("/") else [path]


def _untyped_in(paths: list[Path]) -> list[str]:
    found: list[str] = []
    for path in paths:
        found.extend(untyped_nouns(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE))))
    return found


@cache
def _remaining() -> int:
    """How many untyped nouns the whole package still has (for the failure message)."""
    return len(_untyped_in(sorted(PACKAGE.rglob("*.py"))))


def test_the_scanner_finds_an_untyped_reactor_and_ignores_typed_private_and_local_ones() -> None:
    source = (
        "from typing import Any\n"
        "def listen(reactor: Any, port: int) -> None: ...\n"
        "def _helper(reactor: Any) -> None: ...\n"
        "def typed(reactor: IReactorTCP) -> None:\n"
        "    def local(protocol: Any) -> None: ...\n"
        "class Factory:\n"
        "    def __init__(self, reactor: Any = None) -> None: ...\n"
        "    def clientConnectionLost(self, connector: Any, reason: Any) -> None: ...\n"
        "    def _private(self, transport: Any) -> None: ...\n"
    )
    assert untyped_nouns(source) == [
        "<source>:2 listen(reactor)",
        "<source>:7 __init__(reactor)",
        "<source>:8 clientConnectionLost(reason)",
    ]


def test_every_listed_module_exists() -> None:
    for entry in TYPED:
        assert _modules(entry), entry
        for path in _modules(entry):
            assert path.is_file(), path


@pytest.mark.parametrize("entry", TYPED)
def test_typed_modules_take_no_noun_as_any(entry: str) -> None:
    assert _untyped_in(_modules(entry)) == [], (
        f"type these with inspector.interfaces (IReactorTime, ReactorLike, ITransport, "
        f"IProtocolFactory ...) or inspector.failure.Failure ({_remaining()} remain in "
        f"the package, most in modules not yet done)"
    )
