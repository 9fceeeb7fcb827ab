"""Install a tracer into the framework's modules, and take it out again.

Each hooked core module has a module-level ``_tracer = None`` and hook lines of the
shape ``if _tracer is not None: _tracer.method(...)``. Installing sets that name in
every such module; uninstalling sets it back to ``None``, so tracing off costs one
``is None`` check per hook.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType
from typing import Any

from inspector.trace.tracer import skip_frames_in

#: Modules that carry hook lines (a missing one is skipped: it may not be written yet).
HOOK_MODULES = (
    "inspector.defer",
    "inspector.reactors.base",
    "inspector.reactors.selectors",
    "inspector.tcp",
    "inspector.udp",
    "inspector.protocols.basic",
)
#: Packages whose every module may carry hook lines.
HOOK_PACKAGES = ("inspector.protocols.irc",)
#: Hooked modules that are only touched once something else imported them (importing
#: the Qt reactor here would import Qt into the core). A reactor module imported later
#: is hooked when the tracer first sees one of its reactors (:func:`hook_module`).
LOADED_ONLY_MODULES = ("inspector.reactors.qt", "inspector.reactors.asyncio")

#: Modules whose frames are plumbing when finding where a Deferred was created.
PLUMBING_MODULES = ("inspector.defer",)


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def hooked_modules() -> list[ModuleType]:
    """The importable modules that declare ``_tracer``."""
    found: list[ModuleType] = []
    for name in HOOK_MODULES:
        module = _import(name)
        if module is not None and hasattr(module, "_tracer"):
            found.append(module)
    for package_name in HOOK_PACKAGES:
        package = _import(package_name)
        if package is None:
            continue
        if hasattr(package, "_tracer"):
            found.append(package)
        for info in pkgutil.iter_modules(getattr(package, "__path__", []), package_name + "."):
            module = _import(info.name)
            if module is not None and hasattr(module, "_tracer"):
                found.append(module)
    for name in LOADED_ONLY_MODULES:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "_tracer"):
            found.append(module)
    return found


def hook_module(name: str, tracer: Any) -> None:
    """Point ``name``'s ``_tracer`` at ``tracer`` if it is loaded, declares one, and is unset."""
    module = sys.modules.get(name)
    if module is not None and getattr(module, "_tracer", False) is None:
        module._tracer = tracer  # type: ignore[attr-defined]


def install(tracer: Any) -> list[str]:
    """Point every hooked module's ``_tracer`` at ``tracer``; return the modules' names."""
    for name in PLUMBING_MODULES:
        module = _import(name)
        if module is not None and getattr(module, "__file__", None):
            skip_frames_in(module.__file__)
    modules = hooked_modules()
    for module in modules:
        module._tracer = tracer  # type: ignore[attr-defined]
    tracer.installed = True
    return [module.__name__ for module in modules]


def uninstall() -> None:
    """Switch every hook back off."""
    for module in hooked_modules():
        tracer = module._tracer  # type: ignore[attr-defined]
        if tracer is not None:
            tracer.installed = False
            tracer.let_go()
        module._tracer = None  # type: ignore[attr-defined]
