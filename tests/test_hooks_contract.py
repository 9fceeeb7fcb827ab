"""The trace hooks are a declared contract (inspector/hooks.py) that the trace implements.

A hook called anywhere in the package but not declared, declared but called nowhere,
called by a module the contract does not name, or implemented with another signature
fails here; so does a hook call that costs more than one ``is None`` check when off.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

import inspector
from inspector import trace as trace_module
from inspector.hooks import HOOKED_MODULES, TraceHooks, hook_names
from inspector.trace.tracer import Tracer

PACKAGE = Path(inspector.__file__).resolve().parent
#: The shape benchmarks/trace_bench.py removes to measure "no hooks".
HOOK_LINE = re.compile(r"^\s*if _tracer is not None: _tracer\.\w+\(.*\)$")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _hook_calls() -> dict[str, set[str]]:
    """Module name -> the ``_tracer.<hook>`` names it calls, for every module in the
    package that holds a module-level ``_tracer``."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        has_slot = any(
            isinstance(node, (ast.Assign, ast.AnnAssign))
            and any(isinstance(t, ast.Name) and t.id == "_tracer"
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))
            for node in tree.body
        )
        calls = {
            node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "_tracer"
        }
        if has_slot or calls:
            found[_module_name(path)] = calls
    return found


def test_the_contract_lists_hooks() -> None:
    names = hook_names()
    assert len(names) == len(set(names)) > 30
    assert {"bytes_in", "bytes_out", "deferred_created", "turn_started", "timer_started",
            "message"} <= set(names)


def test_every_hooked_module_calls_exactly_the_hooks_the_contract_gives_it() -> None:
    calls = _hook_calls()
    assert set(calls) == set(HOOKED_MODULES), "hooked modules differ from inspector.hooks.HOOKED_MODULES"
    for module, hooks in calls.items():
        assert hooks == set(HOOKED_MODULES[module]), module


def test_every_declared_hook_is_called_somewhere() -> None:
    used = set().union(*HOOKED_MODULES.values())
    assert used == set(hook_names())


def test_every_hook_call_is_one_is_none_check() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source, str(path))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "_tracer"):
                line = lines[node.lineno - 1]
                assert HOOK_LINE.match(line), f"{path}:{node.lineno}: {line.strip()}"


@pytest.mark.parametrize("name", hook_names())
def test_the_tracer_implements_the_hook_with_its_signature(name: str) -> None:
    assert TraceHooks in Tracer.__mro__  # declared, not merely matching
    implementation = getattr(Tracer, name)
    assert implementation is not getattr(TraceHooks, name), f"Tracer does not implement {name}"
    declared = inspect.signature(getattr(TraceHooks, name))
    actual = inspect.signature(implementation)
    assert [(p.name, p.kind, p.default) for p in actual.parameters.values()] == \
        [(p.name, p.kind, p.default) for p in declared.parameters.values()]
    # Annotations (strings under postponed evaluation) match, or the tracer takes Any.
    for want, got in zip(declared.parameters.values(), actual.parameters.values()):
        if want.name != "self":
            assert got.annotation in (want.annotation, "Any"), (name, want.name, got.annotation)
    assert actual.return_annotation == declared.return_annotation == "None"


def test_installing_sets_every_hooked_module_and_only_those() -> None:
    tracer = trace_module.enable()
    try:
        modules = [importlib.import_module(name) for name in HOOKED_MODULES]
        assert all(module._tracer is tracer for module in modules)
    finally:
        trace_module.disable()
    assert all(module._tracer is None for module in modules)
