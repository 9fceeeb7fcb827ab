"""The core's only way up the layers: a lazy ``default_reactor`` for short scripts.

``lint-imports`` ([tool.importlinter] in pyproject.toml, run by .ci/run) checks the layers,
with one listed exception: core modules that follow Twisted's API by defaulting to the
process-wide reactor (``deferToThread``, ``LoopingCall.clock``, ``react`` ...). That
exception is an import of the whole edge, so this test keeps it as narrow as its reason:
inside a function, and ``default_reactor`` only. A module-level import of a reactor (or
of anything above the core) would make importing the framework build a reactor's world.
"""

from __future__ import annotations

import ast
from pathlib import Path

import inspector

PACKAGE = Path(inspector.__file__).parent
#: Top-level modules above the core: the entry point may import anything.
TOP = {"__main__.py", "cli.py"}
#: Packages above the core, from the window down to the reactors.
ABOVE_CORE = ("ui", "commands", "catalog", "dissect", "protocols", "trace", "reactors")
ALLOWED = ("inspector.reactors", ("default_reactor",))


def _upward_imports(path: Path) -> list[tuple[int, str, tuple[str, ...], bool]]:
    """Each import of a layer above the core: (line, module, names, inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            modules: list[tuple[str, tuple[str, ...]]] = []
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                modules.append((child.module, tuple(alias.name for alias in child.names)))
                if child.module == "inspector":
                    modules = [(f"inspector.{alias.name}", ()) for alias in child.names]
            elif isinstance(child, ast.Import):
                modules.extend((alias.name, ()) for alias in child.names)
            for module, names in modules:
                parts = module.split(".")
                if parts[0] == "inspector" and len(parts) > 1 and parts[1] in ABOVE_CORE:
                    found.append((child.lineno, module, names, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def test_core_modules_reach_up_only_for_the_default_reactor_inside_a_function() -> None:
    core = [path for path in sorted(PACKAGE.glob("*.py")) if path.name not in TOP]
    assert {"defer.py", "task.py", "threads.py", "tcp.py"} <= {path.name for path in core}
    wrong = []
    for path in core:
        for line, module, names, in_function in _upward_imports(path):
            if not in_function or (module, names) != ALLOWED:
                wrong.append(f"{path.name}:{line}: {module} {names} "
                             f"{'in a function' if in_function else 'at module level'}")
    assert wrong == [], "core modules importing a layer above the core:\n" + "\n".join(wrong)


def test_the_check_sees_a_module_level_reactor_import(tmp_path: Path) -> None:
    # The test above must be able to fail: a module-level import is reported, a lazy one
    # of something else than default_reactor too.
    sample = tmp_path / "sample.py"
    sample.write_text("from inspector.reactors.base import DelayedCall\n"
                      "def f():\n    from inspector.reactors import install\n"
                      "def g():\n    from inspector.reactors import default_reactor\n")
    found = _upward_imports(sample)
    assert [(line, inside) for line, _, _, inside in found] == [(1, False), (3, True), (5, True)]
    assert [(module, names) == ALLOWED for _, module, names, _ in found] == [False, False, True]
