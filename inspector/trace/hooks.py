"""Install a tracer into the framework's hooked modules, and take it out again.

The hooks are a contract owned by the core (:mod:`inspector.hooks`): ``TraceHooks``
lists every hook and ``HOOKED_MODULES`` the modules that call them, each through a
module-level ``_tracer = None`` and one-line ``if _tracer is not None: _tracer.hook(...)``
calls. Installing sets that name in every such module; uninstalling sets it back to
``None``, so tracing off costs one ``is None`` check per hook. The modules that capture
TCP bytes at the call site (``CAPTURING_MODULES``) get the tracer's capture seam too
(``CAPTURE_SEAM``: the appends, the key list and its bound), and the tracer keeps their
namespaces to point the key append at its outside-a-turn variant between loop turns.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from inspector.hooks import CAPTURE_SEAM, CAPTURING_MODULES, HOOKED_MODULES, TraceHooks
from inspector.trace.tracer import Tracer, skip_frames_in

#: Modules whose frames are plumbing when finding where a Deferred was created.
PLUMBING_MODULES = ("inspector.defer",)


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def hooked_modules() -> list[ModuleType]:
    """The modules of the hook contract, imported (a missing one is skipped)."""
    found: list[ModuleType] = []
    for name in HOOKED_MODULES:
        module = _import(name)
        if module is not None and hasattr(module, "_tracer"):
            found.append(module)
    return found


def install(tracer: Tracer) -> list[str]:
    """Point every hooked module's ``_tracer`` at ``tracer``; return the modules' names."""
    hooks: TraceHooks = tracer  # the Tracer implements the whole contract
    for name in PLUMBING_MODULES:
        module = _import(name)
        filename = getattr(module, "__file__", None)
        if module is not None and filename:
            skip_frames_in(filename)
    modules = hooked_modules()
    seams = []
    for module in modules:
        if module.__name__ in CAPTURING_MODULES:
            seams.append(vars(module))
    tracer.attach_seams(seams)  # sets the seam's names before _tracer says they are set
    for module in modules:
        module._tracer = hooks  # type: ignore[attr-defined]
    tracer.installed = True
    return [module.__name__ for module in modules]


def uninstall() -> None:
    """Switch every hook back off."""
    for module in hooked_modules():
        tracer = module._tracer
        module._tracer = None  # type: ignore[attr-defined]
        if isinstance(tracer, Tracer):
            tracer.installed = False
            tracer.let_go()
        if module.__name__ in CAPTURING_MODULES:
            for name in CAPTURE_SEAM:
                setattr(module, name, 0 if name == "_capture_limit" else None)
