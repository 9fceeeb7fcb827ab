"""Adapters for ``.tac`` files and plug-ins: Twisted's ``twisted.python.components`` API.

``registerAdapter(factory, IFrom, ITo)`` teaches ``ITo(obj)`` to build ``factory(obj)`` for
any ``obj`` providing ``IFrom`` (or an instance of the class ``IFrom``). The registry is
zope.interface's own ``AdapterRegistry``, consulted through its adapter hooks, so calling
an interface is all a user does: ``IFingerFactory(service)``. Registering the same pair
twice is an :class:`AdapterRegistrationError` (a ``ValueError``, as in Twisted) unless
:data:`ALLOW_DUPLICATES` is set. :class:`Componentized` and :func:`proxyForInterface`
cover the rest of what Twisted's tutorials use.
"""

from __future__ import annotations

from typing import Any, Callable

from zope.interface import Interface, declarations, implementer
from zope.interface.adapter import AdapterRegistry
from zope.interface.interface import InterfaceClass, adapter_hooks

__all__ = [
    "ALLOW_DUPLICATES",
    "AdapterRegistrationError",
    "CannotAdapt",
    "Adapter",
    "Componentized",
    "globalRegistry",
    "registerAdapter",
    "getAdapterFactory",
    "getRegistry",
    "proxyForInterface",
]

#: Set true to let a second ``registerAdapter`` for the same pair replace the first.
ALLOW_DUPLICATES = False

#: What an interface call raises when nothing adapts the object (Twisted's alias).
CannotAdapt = TypeError

#: The process-wide registry ``registerAdapter`` writes and interface calls read.
globalRegistry = AdapterRegistry()


class AdapterRegistrationError(ValueError):
    """An adapter for this (from, to) pair is registered already; the message names it."""


def _spec(origin: Any) -> Any:
    """An interface stays itself; a class stands for what its instances provide."""
    if isinstance(origin, InterfaceClass):
        return origin
    if isinstance(origin, type):
        return declarations.implementedBy(origin)
    raise TypeError(f"adapt from an interface or a class, not {origin!r}")


def registerAdapter(adapterFactory: Callable[[Any], Any], origInterface: Any, *interfaceClasses: Any) -> None:
    """Register ``adapterFactory(obj)`` as the way to get each of ``interfaceClasses`` from
    an ``obj`` providing ``origInterface`` (an interface, or a class for its instances).

    Nothing is registered if any pair is taken already: AdapterRegistrationError.
    """
    if not interfaceClasses:
        raise TypeError("registerAdapter needs at least one interface to adapt to")
    origin = _spec(origInterface)
    for target in interfaceClasses:
        if not isinstance(target, InterfaceClass):
            raise TypeError(f"can only adapt to an interface, not {target!r}")
        existing = globalRegistry.registered([origin], target)
        if existing is not None and not ALLOW_DUPLICATES:
            raise AdapterRegistrationError(
                f"an adapter ({existing!r}) from {_name(origInterface)} to {target.__name__} "
                "was already registered")
    for target in interfaceClasses:
        globalRegistry.register([origin], target, "", adapterFactory)


def _name(origin: Any) -> str:
    return getattr(origin, "__name__", repr(origin))


def getAdapterFactory(fromInterface: Any, toInterface: Any, default: Any) -> Any:
    """The factory registered from ``fromInterface`` (or a class) to ``toInterface``, else ``default``."""
    factory = globalRegistry.lookup1(_spec(fromInterface), toInterface)  # type: ignore[attr-defined]
    return default if factory is None else factory


def getRegistry() -> AdapterRegistry:
    """The registry :func:`registerAdapter` fills (zope.interface's ``AdapterRegistry``)."""
    return globalRegistry


def _adapter_hook(interface: Any, obj: Any) -> Any:
    """zope.interface calls this when ``interface(obj)`` finds no direct provider."""
    factory = globalRegistry.lookup1(declarations.providedBy(obj), interface)  # type: ignore[attr-defined]
    return None if factory is None else factory(obj)


if _adapter_hook not in adapter_hooks:
    adapter_hooks.append(_adapter_hook)


class Adapter:
    """A base for adapters: keeps the adapted object as ``original``."""

    #: Twisted's flags: a Componentized never keeps a temporary adapter, and keeps a
    #: multi-component one under every interface it is the registered adapter for.
    temporaryAdapter = False
    multiComponent = True

    def __init__(self, original: Any) -> None:
        self.original = original

    def __conform__(self, interface: Any) -> Any:
        """Let the original answer for interfaces this adapter does not provide."""
        conform = getattr(self.original, "__conform__", None)
        return None if conform is None else conform(interface)


class Componentized:
    """An object assembled from components, one per interface, looked up by interface.

    ``IThing(componentized)`` returns the component set for ``IThing``, else adapts the
    object with a registered adapter and (unless the adapter says it is temporary)
    keeps that adapter as the component.
    """

    def __init__(self) -> None:
        self._adapterCache: dict[Any, Any] = {}

    def __conform__(self, interface: Any) -> Any:
        return self.getComponent(interface)

    def locateAdapterClass(self, klass: type, interfaceClass: Any, default: Any) -> Any:
        """The adapter factory from ``klass`` to ``interfaceClass``, or ``default``."""
        return getAdapterFactory(klass, interfaceClass, default)

    def setAdapter(self, interfaceClass: Any, adapterClass: Callable[[Any], Any]) -> None:
        """Build ``adapterClass(self)`` now and keep it as the ``interfaceClass`` component."""
        self.setComponent(interfaceClass, adapterClass(self))

    def addAdapter(self, adapterClass: Callable[[Any], Any], ignoreClass: bool = False) -> Any:
        """Build ``adapterClass(self)`` and add it under every interface it provides."""
        return self.addComponent(adapterClass(self), ignoreClass)

    def setComponent(self, interfaceClass: Any, component: Any) -> None:
        """Use ``component`` whenever ``interfaceClass`` is asked of this object."""
        self._adapterCache[interfaceClass] = component

    def addComponent(self, component: Any, ignoreClass: bool = False) -> list[Any]:
        """Store ``component`` under each interface it provides for which its class is the
        registered adapter from this object's class (every one if ``ignoreClass``); returns them."""
        stored = []
        for iface in declarations.providedBy(component).flattened():
            if iface is Interface:
                continue  # everything provides it; storing under it would shadow the object itself
            if ignoreClass or self.locateAdapterClass(type(self), iface, None) is type(component):
                self._adapterCache[iface] = component
                stored.append(iface)
        return stored

    def unsetComponent(self, interfaceClass: Any) -> None:
        """Forget the ``interfaceClass`` component (it is adapted again next time)."""
        self._adapterCache.pop(interfaceClass, None)

    def removeComponent(self, component: Any) -> list[Any]:
        """Forget ``component`` under every interface it was stored for; returns them."""
        gone = [iface for iface, held in self._adapterCache.items() if held is component]
        for iface in gone:
            del self._adapterCache[iface]
        return gone

    def getComponent(self, interface: Any, default: Any = None) -> Any:
        """The component for ``interface``: the one set, else this object if it provides
        ``interface``, else a registered adapter's (kept unless temporary), else ``default``."""
        if interface in self._adapterCache:
            return self._adapterCache[interface]
        adapter = interface.__adapt__(self)  # provided directly, else the adapter hooks
        if adapter is None:
            return default
        if not getattr(adapter, "temporaryAdapter", False):
            self._adapterCache[interface] = adapter
            if getattr(adapter, "multiComponent", False):
                self.addComponent(adapter)
        return adapter


class _Forward:
    """A class attribute that reads the same name from the wrapped object."""

    def __init__(self, attribute: str, name: str) -> None:
        self.attribute = attribute
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return getattr(getattr(instance, self.attribute), self.name)


def proxyForInterface(iface: Any, originalAttribute: str = "original") -> type:
    """A class whose instances wrap one object and pass on only ``iface``'s names.

    ``Proxy = proxyForInterface(IThing); Proxy(thing).method()`` calls ``thing.method()``;
    subclass it to override a few of them. The wrapped object is ``originalAttribute``.
    """
    if not isinstance(iface, InterfaceClass):
        raise TypeError(f"proxyForInterface needs an interface, not {iface!r}")

    def __init__(self: Any, original: Any) -> None:
        setattr(self, originalAttribute, original)

    namespace: dict[str, Any] = {
        "__init__": __init__,
        "__doc__": f"Passes {iface.__name__} on to .{originalAttribute}.",
    }
    for name in iface.names(all=True):
        namespace[name] = _Forward(originalAttribute, name)
    proxy = type(f"(Proxy for {iface.__module__}.{iface.__name__})", (object,), namespace)
    return implementer(iface)(proxy)
