"""``inspector.components``: Twisted's registerAdapter, Componentized and proxyForInterface.

Each test declares its own interfaces, since the adapter registry is process-wide (as
Twisted's is) and a pair registered by one test would make another's registration fail.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from zope.interface import Attribute, Interface, implementer
from zope.interface.interface import InterfaceClass, fromFunction
from zope.interface.verify import verifyObject

from inspector import components

_made = itertools.count()


def fresh_interfaces() -> tuple[Any, Any, Any]:
    """A source interface and two targets, new for each test.

    zope.interface compares interfaces by module and name, so each call makes new names.
    """
    n = next(_made)
    store = InterfaceClass(f"IStore{n}", attrs={"get": fromFunction(lambda key: None, name="get")},
                           __module__=__name__)
    reader = InterfaceClass(f"IReader{n}", attrs={"read": fromFunction(lambda key: None, name="read")},
                            __module__=__name__)
    lister = InterfaceClass(f"ILister{n}", attrs={"keys": fromFunction(lambda: None, name="keys")},
                            __module__=__name__)
    return store, reader, lister


def fresh(name: str) -> Any:
    """One more interface with no methods and a name no other test uses."""
    return InterfaceClass(f"{name}{next(_made)}", __module__=__name__)


def make_store(IStore: Any) -> Any:
    @implementer(IStore)
    class Store:
        def __init__(self, data: dict[str, str]) -> None:
            self.data = data

        def get(self, key: str) -> str:
            return self.data[key]

    return Store


def test_calling_the_interface_adapts_through_the_registered_factory() -> None:
    IStore, IReader, _ = fresh_interfaces()
    Store = make_store(IStore)

    @implementer(IReader)
    class ReaderFromStore:
        def __init__(self, store: Any) -> None:
            self.store = store

        def read(self, key: str) -> str:
            return self.store.get(key).upper()

    components.registerAdapter(ReaderFromStore, IStore, IReader)
    store = Store({"moshez": "happy"})
    reader = IReader(store)
    assert isinstance(reader, ReaderFromStore) and reader.store is store
    assert reader.read("moshez") == "HAPPY"
    verifyObject(IReader, reader)
    assert components.getAdapterFactory(IStore, IReader, None) is ReaderFromStore


def test_nothing_registered_is_a_type_error_or_the_default() -> None:
    IStore, IReader, _ = fresh_interfaces()
    store = make_store(IStore)({})
    with pytest.raises(TypeError, match="Could not adapt"):
        IReader(store)
    assert IReader(store, "fallback") == "fallback"
    assert components.CannotAdapt is TypeError
    assert components.getAdapterFactory(IStore, IReader, "none") == "none"


def test_registering_the_same_pair_twice_is_refused_and_the_first_stays() -> None:
    IStore, IReader, _ = fresh_interfaces()
    first = type("First", (), {"__init__": lambda self, original: None})
    second = type("Second", (), {"__init__": lambda self, original: None})
    components.registerAdapter(first, IStore, IReader)
    with pytest.raises(components.AdapterRegistrationError, match="already registered") as caught:
        components.registerAdapter(second, IStore, IReader)
    assert isinstance(caught.value, ValueError)  # what Twisted raises, so old except clauses still catch it
    assert isinstance(IReader(make_store(IStore)({})), first)


def test_allow_duplicates_lets_a_second_registration_replace_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    IStore, IReader, _ = fresh_interfaces()
    components.registerAdapter(lambda original: "first", IStore, IReader)
    monkeypatch.setattr(components, "ALLOW_DUPLICATES", True)
    components.registerAdapter(lambda original: "second", IStore, IReader)
    assert IReader(make_store(IStore)({})) == "second"


def test_one_factory_for_several_interfaces_and_nothing_registered_when_one_is_taken() -> None:
    IStore, IReader, ILister = fresh_interfaces()

    @implementer(IReader, ILister)
    class Both:
        def __init__(self, store: Any) -> None:
            self.store = store

        def read(self, key: str) -> str:
            return self.store.get(key)

        def keys(self) -> list[str]:
            return sorted(self.store.data)

    components.registerAdapter(Both, IStore, IReader, ILister)
    store = make_store(IStore)({"a": "1", "b": "2"})
    assert IReader(store).read("b") == "2"
    assert ILister(store).keys() == ["a", "b"]

    IOther, IThird = fresh("IOther"), fresh("IThird")

    components.registerAdapter(lambda original: "taken", IOther, IReader)
    with pytest.raises(components.AdapterRegistrationError):
        components.registerAdapter(lambda original: "new", IOther, IThird, IReader)
    # All or nothing: IThird was not registered either.
    other = implementer(IOther)(type("Other", (), {}))()
    assert IThird(other, None) is None


def test_a_class_can_be_adapted_from_without_declaring_an_interface() -> None:
    _, IReader, _ = fresh_interfaces()

    class Plain:
        value = "plain"

    class Sub(Plain):
        value = "sub"

    components.registerAdapter(lambda original: f"read {original.value}", Plain, IReader)
    assert IReader(Plain()) == "read plain"
    assert IReader(Sub()) == "read sub"  # subclasses' instances too, as with Twisted
    assert components.getAdapterFactory(Plain, IReader, None) is not None


def test_bad_arguments_are_clear_errors() -> None:
    IStore, IReader, _ = fresh_interfaces()
    with pytest.raises(TypeError, match="at least one interface"):
        components.registerAdapter(lambda original: None, IStore)
    with pytest.raises(TypeError, match="can only adapt to an interface"):
        components.registerAdapter(lambda original: None, IStore, str)
    with pytest.raises(TypeError, match="an interface or a class"):
        components.registerAdapter(lambda original: None, "IStore", IReader)


def test_an_object_providing_the_interface_is_returned_itself() -> None:
    IStore, _, _ = fresh_interfaces()
    components.registerAdapter(lambda original: "never used", object, IStore)
    store = make_store(IStore)({})
    assert IStore(store) is store


def test_componentized_keeps_adapters_and_set_components() -> None:
    IStore, IReader, ILister = fresh_interfaces()
    built: list[Any] = []

    @implementer(IReader)
    class Reader(components.Adapter):
        def read(self, key: str) -> str:
            return key

    class Thing(components.Componentized):
        pass

    def make_reader(original: Any) -> Reader:
        reader = Reader(original)
        built.append(reader)
        return reader

    components.registerAdapter(make_reader, Thing, IReader)
    thing = Thing()
    first = IReader(thing)
    assert IReader(thing) is first and built == [first]  # kept, not built again
    assert first.original is thing

    lister = object()
    thing.setComponent(ILister, lister)
    assert ILister(thing) is lister
    thing.unsetComponent(ILister)
    assert ILister(thing, None) is None
    assert thing.removeComponent(first) == [IReader]
    assert IReader(thing) is not first and len(built) == 2
    assert thing.getComponent(IStore, "missing") == "missing"


def test_a_temporary_adapter_is_built_each_time() -> None:
    _, IReader, _ = fresh_interfaces()

    class Temporary(components.Adapter):
        temporaryAdapter = True

    class Thing(components.Componentized):
        pass

    components.registerAdapter(Temporary, Thing, IReader)
    thing = Thing()
    assert IReader(thing) is not IReader(thing)


def test_proxy_for_interface_passes_on_only_the_interface() -> None:
    class IGreeter(Interface):
        greeting = Attribute("what is said")

        def greet(name: str) -> str:
            """Greet ``name``."""

    @implementer(IGreeter)
    class Greeter:
        greeting = "hello"

        def greet(self, name: str) -> str:
            return f"{self.greeting} {name}"

        def secret(self) -> str:
            return "not in the interface"

    Proxy = components.proxyForInterface(IGreeter)
    proxy = Proxy(Greeter())
    assert proxy.greet("moshez") == "hello moshez" and proxy.greeting == "hello"
    assert not hasattr(proxy, "secret")
    assert IGreeter.providedBy(proxy)
    verifyObject(IGreeter, proxy)

    class Louder(components.proxyForInterface(IGreeter, "wrapped")):  # type: ignore[misc]
        def greet(self, name: str) -> str:
            return self.wrapped.greet(name).upper()

    assert Louder(Greeter()).greet("glyph") == "HELLO GLYPH"
    with pytest.raises(TypeError, match="needs an interface"):
        components.proxyForInterface(Greeter)


def test_a_multi_component_adapter_serves_every_interface_it_was_registered_for() -> None:
    _, IReader, ILister = fresh_interfaces()
    built: list[Any] = []

    @implementer(IReader, ILister)
    class Both(components.Adapter):
        def __init__(self, original: Any) -> None:
            super().__init__(original)
            built.append(self)

        def read(self, key: str) -> str:
            return key

        def keys(self) -> list[str]:
            return []

    class Thing(components.Componentized):
        pass

    components.registerAdapter(Both, Thing, IReader, ILister)
    thing = Thing()
    reader = IReader(thing)
    assert ILister(thing) is reader and built == [reader]  # one adapter, kept under both

    class IExtra(Interface):
        pass

    extra = implementer(IExtra)(type("Extra", (), {}))()
    assert thing.addComponent(extra) == []  # not a registered adapter of Thing: not stored
    assert IExtra(thing, None) is None
    assert thing.addComponent(extra, ignoreClass=True) == [IExtra]
    assert IExtra(thing) is extra


def test_an_adapter_lets_its_original_answer_for_other_interfaces() -> None:
    _, IReader, ILister = fresh_interfaces()

    class Thing(components.Componentized):
        pass

    thing = Thing()
    lister = object()
    thing.setComponent(ILister, lister)
    wrapper = components.Adapter(thing)
    assert ILister(wrapper) is lister  # asked of the adapter, answered by the Componentized it wraps
    assert components.Adapter(object()).__conform__(IReader) is None
