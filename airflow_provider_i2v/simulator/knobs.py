"""How a simulator setting is declared once and checked, read and offered from that declaration.

A setting is a field of :class:`~.config.SimConfig`: its *type* is the field's
annotation, its *default* the field's default, and everything else (help text,
choices, bounds, a rule no type can say, the CLI flag's name) is a :class:`Setting`
in the field's ``metadata``, written with :func:`setting`. From that one place come
the validation (:func:`problem`), the reading of JSON values (:func:`coerce`: lists
become tuples, fault objects become :class:`~.faults.Fault`) and the command line
(``__main__.py``). Nothing here knows any particular setting.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_i2v.protocol import is_int, is_number

#: A rule no type or bound can say; returns what is wrong with the value, or ``None``.
Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Setting:
    """What a config field means and which values it takes, beyond its type."""

    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    #: The bound is excluded (``minimum < value``, ``value < maximum``).
    exclusive: bool = False
    check: Check | None = None
    #: Normalises an accepted value (``"solo"`` -> ``("solo",)``) before it is checked.
    convert: Callable[[Any], Any] | None = None
    #: CLI flag, when not ``--`` plus the name with dashes; and more spellings of it.
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    #: How the CLI reads one value of the flag (default: from the type).
    parse: Callable[[str], Any] | None = None
    metavar: str | None = None


def setting(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    help: str,
    **details: Any,
) -> Any:
    """A dataclass field carrying its :class:`Setting` (``details`` are its other fields)."""
    metadata = {"setting": Setting(help=help, **details)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Declared:
    """One setting as declared: its name, type, default and :class:`Setting`."""

    name: str
    hint: Any
    default: Any
    spec: Setting

    @property
    def flag(self) -> str:
        return self.spec.flag or "--" + self.name.replace("_", "-")


def declared(cls: type) -> tuple[Declared, ...]:
    """Every setting of the dataclass ``cls``, in declaration order."""
    hints = typing.get_type_hints(cls)
    found = []
    for item in dataclasses.fields(cls):
        spec = item.metadata.get("setting")
        if not isinstance(spec, Setting):
            raise TypeError(f"{cls.__name__}.{item.name} is not declared with setting()")
        factory = item.default_factory
        default = factory() if factory is not dataclasses.MISSING else item.default
        found.append(Declared(item.name, hints[item.name], default, spec))
    return tuple(found)


def options(hint: Any) -> tuple[Any, ...]:
    """The members of a union type (``str | None`` -> ``(str, NoneType)``), else ``(hint,)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def element_of(hint: Any) -> Any:
    """The element type of a ``tuple[X, ...]`` hint (``Any`` if unsaid), else ``None``."""
    if (typing.get_origin(hint) or hint) is not tuple:
        return None
    return (typing.get_args(hint) or (Any,))[0]


def conforms(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of type ``hint`` as JSON means it (``True`` is no number)."""
    for option in options(hint):
        origin = typing.get_origin(option) or option
        if option is type(None):
            matched = value is None
        elif origin is bool:
            matched = isinstance(value, bool)
        elif origin is int:
            matched = is_int(value)
        elif origin is float:
            matched = is_number(value)
        elif origin is tuple:
            item = element_of(option)
            matched = isinstance(value, tuple) and all(item is Any or conforms(v, item) for v in value)
        else:
            matched = isinstance(value, origin)
        if matched:
            return True
    return False


def describe(hint: Any) -> str:
    """A type as a person reads it: ``a number or null``, ``a list of str``."""
    words = []
    for option in options(hint):
        origin = typing.get_origin(option) or option
        if option is type(None):
            words.append("null")
        elif origin is tuple:
            words.append(f"a list of {getattr(element_of(option), '__name__', 'values')}")
        else:
            words.append(
                {
                    bool: "a boolean",
                    int: "an integer",
                    float: "a number",
                    str: "a string",
                    Mapping: "an object",
                }.get(origin, getattr(origin, "__name__", str(origin)))
            )
    return " or ".join(words)


def coerce(value: Any, hint: Any) -> Any:
    """A JSON value as the declared type wants it: lists as tuples, objects as their class.

    A value that already has the type is returned as it is (the very same object: a
    fault list kept by identity keeps its ``first_n`` counts).
    """
    if conforms(value, hint):
        return value
    for option in options(hint):
        item = element_of(option)
        if item is not None and isinstance(value, list | tuple):
            reader = getattr(item, "from_value", None)
            return tuple(reader(v) if reader is not None else v for v in value)
    return value


def problem(item: Declared, value: Any) -> str | None:
    """What is wrong with ``value`` for the setting ``item``, or ``None``."""
    spec = item.spec
    if not conforms(value, item.hint):
        return f"{item.name} must be {describe(item.hint)}, not {value!r}"
    if spec.choices is not None and value is not None and value not in spec.choices:
        return f"{item.name} must be one of {spec.choices}, not {value!r}"
    if is_number(value) and not _within(value, spec):
        return f"{item.name} must be {bounds(spec)}, not {value!r}"
    return spec.check(value) if spec.check is not None and value is not None else None


def bounds(spec: Setting) -> str:
    """The bounds in words: ``>= 0``, ``in 0..1``, ``> 0``."""
    low, high = spec.minimum, spec.maximum
    if low is not None and high is not None:
        return f"in {low:g}..{high:g}" + (" (both excluded)" if spec.exclusive else "")
    if low is not None:
        return f"{'>' if spec.exclusive else '>='} {low:g}"
    return f"{'<' if spec.exclusive else '<='} {high:g}"


def _within(value: float, spec: Setting) -> bool:
    if spec.minimum is not None and (value <= spec.minimum if spec.exclusive else value < spec.minimum):
        return False
    return spec.maximum is None or (value < spec.maximum if spec.exclusive else value <= spec.maximum)


def normalised(item: Declared, value: Any) -> Any:
    """``value`` (JSON-shaped or already typed) as the setting keeps it; not yet checked."""
    if item.spec.convert is not None:
        value = item.spec.convert(value)
    return coerce(value, item.hint)


def check_names(items: tuple[Declared, ...], names: Iterable[str]) -> None:
    """``ValueError`` naming every name in ``names`` that is no setting (a typo tests nothing)."""
    unknown = set(names) - {item.name for item in items}
    if unknown:
        raise ValueError(f"unknown config keys: {sorted(unknown)}")
