"""The trace hooks are a declared contract (inspector/hooks.py) that the trace implements.

A hook called anywhere in the package but not declared, declared but called nowhere,
called by a module the contract does not name, or implemented with another signature
fails here; so does a hook call that costs more than one ``is None`` check when off,
and a call-site capture (``CAPTURING_MODULES``) of another shape than the contract's.
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
from inspector.hooks import CAPTURE_SEAM, CAPTURING_MODULES, HOOKED_MODULES, TraceHooks, hook_names
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
    used = set().union(*HOOKED_MODULES.values(), *CAPTURING_MODULES.values())
    assert used == set(hook_names())


def _is_off_check(node: ast.AST) -> bool:
    """``_tracer is not None``."""
    return (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name)
            and node.left.id == "_tracer" and len(node.ops) == 1
            and isinstance(node.ops[0], ast.IsNot)
            and isinstance(node.comparators[0], ast.Constant) and node.comparators[0].value is None)


def _calls(node: ast.AST, name: str) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
            and len(node.args) == 1 and not node.keywords)


def _is_capture(node: ast.AST, key: str) -> bool:
    """``_capture_key(self.<key>) or _capture_data(...)``, on a write also ``or
    len(_captured) > _capture_limit and _tracer.capture_full()``."""
    if not (isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) in (2, 3)):
        return False
    first, second, *bound = node.values
    if not (_calls(first, "_capture_key") and _calls(second, "_capture_data")):
        return False
    arg = first.args[0]  # type: ignore[attr-defined]
    if not (isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)
            and arg.value.id == "self" and arg.attr == key):
        return False
    if not bound:
        return True
    expected = "len(_captured) > _capture_limit and _tracer.capture_full()"
    return ast.unparse(bound[0]) == expected


def _hook_statements(tree: ast.AST) -> list[ast.If]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.If) and _is_off_check(node.test)]


def test_every_hook_call_is_one_is_none_check() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source, str(path))
        inside: set[int] = set()
        for statement in _hook_statements(tree):
            inside.update(id(node) for node in ast.walk(statement))
            line = lines[statement.lineno - 1]
            if HOOK_LINE.match(line):
                continue
            # The call-site capture: one statement, one is-None check, no else.
            assert _module_name(path) in CAPTURING_MODULES, f"{path}:{statement.lineno}: {line.strip()}"
            assert len(statement.body) == 1 and not statement.orelse, f"{path}:{statement.lineno}"
            body = statement.body[0]
            assert isinstance(body, ast.Expr), f"{path}:{statement.lineno}"
            assert _is_capture(body.value, "_recv") or _is_capture(body.value, "_send"), \
                f"{path}:{statement.lineno}: {ast.unparse(body.value)}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "_tracer"):
                assert id(node) in inside, f"{path}:{node.lineno}: a hook call outside its check"
            if isinstance(node, ast.Name) and node.id in CAPTURE_SEAM and isinstance(node.ctx, ast.Load):
                assert id(node) in inside, f"{path}:{node.lineno}: the capture seam outside its check"


def test_the_capturing_modules_hold_the_seam_and_capture_declared_hooks() -> None:
    names = set(hook_names())
    for name, hooks in CAPTURING_MODULES.items():
        assert name in HOOKED_MODULES
        assert hooks <= names
        module = importlib.import_module(name)
        assert all(getattr(module, seam) in (None, 0) for seam in CAPTURE_SEAM), name
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        captured = sum(1 for statement in _hook_statements(ast.parse(source))
                       if not HOOK_LINE.match(source.splitlines()[statement.lineno - 1]))
        assert captured >= len(hooks), name  # each hook captured somewhere


def test_installing_sets_the_capture_seam_and_uninstalling_clears_it() -> None:
    tracer = trace_module.enable()
    try:
        for name in CAPTURING_MODULES:
            module = importlib.import_module(name)
            assert module._captured is tracer._keys
            assert module._capture_data == tracer._items.append
            assert module._capture_limit == tracer.config.raw_size
    finally:
        trace_module.disable()
    for name in CAPTURING_MODULES:
        module = importlib.import_module(name)
        assert all(getattr(module, seam) in (None, 0) for seam in CAPTURE_SEAM)


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
