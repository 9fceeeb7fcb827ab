"""What the catalogue is made of: parameters and entries.

A :class:`Param` describes one launch parameter (type, default, help, check); an
:class:`Entry` one launchable thing (protocol, role, transport, parameters and the
function that starts it). Values typed by users arrive as text and are converted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    from inspector.catalog.handles import Handle
    from inspector.interfaces import ReactorLike

__all__ = ["ParameterError", "Param", "Entry"]


class ParameterError(ValueError):
    """A launch parameter is missing, unknown or invalid; the message names it."""


_KINDS: dict[str, type] = {"int": int, "float": float, "str": str, "path": str, "flag": bool}

#: How a "flag" parameter may be typed (a form field, ``--insecure`` stores "yes").
_FLAG_WORDS = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}


def _flag(raw: Any) -> bool:
    """``raw`` (a bool, or yes/no, true/false, on/off, 1/0) as a bool; ValueError otherwise."""
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word not in _FLAG_WORDS:
        raise ValueError(f"expected yes or no, got {raw!r}")
    return _FLAG_WORDS[word]


@dataclass(frozen=True)
class Param:
    """One launch parameter: what the form field or ``--option`` asks for.

    ``kind`` is "int", "float", "str", "path" (a file the user picks) or "flag" (yes/no;
    on the command line an option without a value). ``check``
    raises ValueError with a short reason for a bad value; ``optional`` parameters
    may be left empty (None). Values given as text (CLI, form fields) are converted.
    ``replaces`` names parameters this one stands in for (an endpoint string replaces
    port and interface): giving both explicitly is an error, see :meth:`Entry.conflicts`.
    ``choices``, when given, lists the values known now (asked each time, since plug-ins
    add dissectors): the launcher offers them in a drop-down beside the text it still accepts.
    """

    name: str
    kind: str
    default: Any
    help: str
    check: Callable[[Any], None] | None = None
    optional: bool = False
    replaces: tuple[str, ...] = ()
    choices: Callable[[], Sequence[str]] | None = None

    @property
    def option(self) -> str:
        """The command-line spelling: ``--quote-file`` for ``quote_file``."""
        return "--" + self.name.replace("_", "-")

    def parse(self, raw: Any) -> Any:
        """Return ``raw`` converted to this parameter's type and checked; ParameterError if bad."""
        if raw is None or (isinstance(raw, str) and raw == "" and self.kind != "str"):
            if self.default is None and not self.optional:
                raise ParameterError(f"{self.name}: a value is required")
            return self.default
        if self.kind == "flag":
            try:
                return _flag(raw)
            except ValueError as exc:
                raise ParameterError(f"{self.name}: {exc}") from None
        convert = _KINDS[self.kind]
        if isinstance(raw, bool) or (self.kind != "float" and not isinstance(raw, (str, convert))):
            raise ParameterError(f"{self.name}: expected {self.kind}, got {type(raw).__name__}")
        try:
            value = convert(raw.strip() if isinstance(raw, str) and self.kind != "str" else raw)
        except (TypeError, ValueError):
            what = {"int": "a whole number", "float": "a number"}.get(self.kind, self.kind)
            raise ParameterError(f"{self.name}: expected {what}, got {raw!r}") from None
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as exc:
                raise ParameterError(f"{self.name}: {exc}") from None
        return value


@dataclass(frozen=True)
class Entry:
    """One launchable thing: protocol name, role, transport, parameters and starter.

    ``name`` is what ``inspector serve NAME`` / ``connect NAME`` take; ``role`` is
    "server" or "client"; ``transport`` "tcp", "udp", "tls", "unix" or "pipes" (entries
    of one name and role differ by transport, chosen with ``--transport``). ``title`` and
    ``description`` are shown in the launcher and ``--help``; ``params`` become its form
    fields and ``--options``. ``starter(entry, reactor, **params)`` receives every
    parameter already converted and checked, and returns a
    :class:`~inspector.catalog.Handle`. ``accepts_lines`` marks a client (or a raw
    listener) whose handle's ``send_line(text)`` sends what the user types.
    Plug-ins build these too: see :mod:`inspector.catalog`.
    """

    name: str
    role: str
    transport: str
    title: str
    description: str
    params: tuple[Param, ...]
    starter: Callable[..., Handle] = field(repr=False)
    accepts_lines: bool = False

    @property
    def key(self) -> str:
        """A unique id: "echo server tcp"."""
        return f"{self.name} {self.role} {self.transport}"

    def param(self, name: str) -> Param:
        """Return the parameter called ``name``."""
        for param in self.params:
            if param.name == name:
                return param
        raise ParameterError(f"{self.title} has no parameter {name!r}")

    def defaults(self) -> dict[str, Any]:
        """Return every parameter's default value."""
        return {param.name: param.default for param in self.params}

    def conflicts(self, given: Iterable[str]) -> None:
        """Raise ParameterError if ``given`` (names set explicitly) holds a parameter and
        one it replaces: one of them would be silently ignored."""
        names = set(given)
        for param in self.params:
            if param.name in names:
                clash = [name for name in param.replaces if name in names]
                if clash:
                    others = " or ".join(self.param(name).option for name in clash)
                    raise ParameterError(
                        f"{param.option} replaces {others}: give one or the other, not both"
                    )

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Return all parameters, converted and checked, defaults filled in.

        Raises ParameterError for an unknown name or a bad value, naming it.
        """
        known = {param.name for param in self.params}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(
                f"{self.title} has no parameter {unknown[0]!r}; it takes: {', '.join(sorted(known))}"
            )
        return {param.name: param.parse(values.get(param.name)) for param in self.params}

    def start(self, reactor: ReactorLike, **params: Any) -> Handle:
        """Validate ``params`` and start on ``reactor``; return the Handle."""
        return self.starter(self, reactor, **self.validate(params))
