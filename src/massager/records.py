"""Record classes that cost little to create: `@record` (immutable) and `@record(frozen=False)`.

`@dataclass(frozen=True)` writes each method it adds (`__init__`, `__repr__`, `__eq__`,
`__hash__`, `__setattr__`, `__delattr__`) as source and compiles it when the class is
created: about 4 M instructions a class on Python 3.11, paid at the start of every process
that imports it. A record class writes its own `__init__` (compiled once, into the module's
bytecode cache) and shares the other methods, written once here for every record class.

A record class is still a dataclass with slots (`dataclasses.fields`, `replace` and
`asdict` work on it) and behaves as the dataclass would: equal to a record of the same class
with equal fields, shown as `Name(field=value, ...)`, and, when frozen, hashed by its fields
and refusing assignment with `FrozenInstanceError`. Its `__init__` sets every field (with
`object.__setattr__` when frozen); the defaults are written there, not in the class body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, fields
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_names)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:  # a bool, or NotImplemented for another class
    if other.__class__ is self.__class__:
        key: Callable[[object], tuple[Any, ...]] = self._record_key
        return key(self) == key(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self._record_key(self))


def _setattr(self: Any, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in self._record_names)


def _setstate(self: Any, state: tuple[Any, ...]) -> None:
    for name, value in zip(self._record_names, state, strict=True):
        object.__setattr__(self, name, value)


def _make(cls: type[_T], frozen: bool) -> type[_T]:
    if "__init__" not in cls.__dict__:
        raise TypeError(f"record {cls.__name__} must write its own __init__")
    made: Any = dataclass(init=False, repr=False, eq=False, slots=True)(cls)
    names = tuple(f.name for f in fields(made))
    if len(names) < 2:
        raise TypeError(f"record {cls.__name__} needs two fields or more")
    made._record_names = names
    made._record_key = attrgetter(*names)  # a tuple of the field values
    made.__repr__ = _repr
    made.__eq__ = _eq
    if frozen:
        made.__hash__ = _hash
        made.__setattr__ = _setattr
        made.__delattr__ = _delattr
        made.__getstate__ = _getstate  # copies and pickles are made without __setattr__
        made.__setstate__ = _setstate
    else:
        made.__hash__ = None  # mutable and equal by value, as a dataclass: unhashable
    result: type[_T] = made
    return result


@overload
def record(cls: type[_T], /) -> type[_T]: ...
@overload
def record(*, frozen: bool = True) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True)
def record(
    cls: type[_T] | None = None, /, *, frozen: bool = True
) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """Make `cls` (which writes its own `__init__`) a record class: frozen unless told."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)
