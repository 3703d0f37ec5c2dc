"""FEEL types as written after ``instance of`` (DMN 1.5 sections 10.3.2.9 and 10.3.2.9.4):
base types (``number``, ``date and time``, ``Any``, ``Null``), ``list<T>``,
``context<name: T, ...>``, ``range<T>``, ``function<T, ...> -> T`` and names of types that
a model defines (DMN item definitions).

Names the FEEL package does not know are looked up, when evaluating, through
:data:`named_types`: the DMN engine sets it to its item-definition registry while it
evaluates a model, so ``x instance of tPerson`` checks against the model's ``tPerson``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from .errors import warn
from .semantics import Range
from .temporal import YearsMonthsDuration

Check = Callable[[Any], bool]
TypeResolver = Callable[[str], "Check | None"]


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """A parsed type: ``kind`` is "name", "list", "context", "range" or "function"."""

    kind: str
    name: str = ""
    args: tuple[TypeSpec, ...] = ()
    fields: tuple[tuple[str, TypeSpec], ...] = ()

    def __str__(self) -> str:
        if self.kind == "name":
            return self.name
        if self.kind == "context":
            return "context<" + ", ".join(f"{n}: {t}" for n, t in self.fields) + ">"
        if self.kind == "function":
            *params, result = self.args
            return "function<" + ", ".join(map(str, params)) + f"> -> {result}"
        return f"{self.kind}<{self.args[0]}>"


def _is_number(v: Any) -> bool:
    kind = type(v)
    return kind is Decimal or kind is int or kind is float


BASE_CHECKS: dict[str, Check] = {
    "Any": lambda v: v is not None,
    "Null": lambda v: v is None,
    "number": _is_number,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "date": lambda v: type(v) is date,
    "time": lambda v: type(v) is time,
    "date and time": lambda v: type(v) is datetime,
    "days and time duration": lambda v: type(v) is timedelta,
    "years and months duration": lambda v: type(v) is YearsMonthsDuration,
    "list": lambda v: isinstance(v, list | tuple),
    "context": lambda v: isinstance(v, Mapping),
    "range": lambda v: isinstance(v, Range),
    "function": callable,
}

# Type names made of several words; the parser reads them as one name.
MULTI_WORD_TYPES = ("date and time", "days and time duration", "years and months duration")

named_types: ContextVar[TypeResolver | None] = ContextVar("named_types", default=None)


@contextmanager
def resolving_types(resolver: TypeResolver) -> Iterator[None]:
    """Names of ``instance of`` types are resolved by ``resolver`` inside this block."""
    token = named_types.set(resolver)
    try:
        yield
    finally:
        named_types.reset(token)


def _named(name: str) -> Check:
    base = BASE_CHECKS.get(name)
    if base is not None:
        return base

    def check(value: Any) -> bool:
        resolver = named_types.get()
        found = resolver(name) if resolver is not None else None
        if found is None:
            warn(f"unknown type {name!r}")
            return False
        return found(value)

    return check


def _member(check: Check) -> Check:
    # Inside a collection, context or range, null conforms to every type.
    return lambda v: v is None or check(v)


def compile_type(spec: TypeSpec) -> Check:
    """A conformance check for non-null values of ``spec`` (null conforms only to Null)."""
    if spec.kind == "name":
        return _named(spec.name)
    if spec.kind == "list":
        item = _member(compile_type(spec.args[0]))
        return lambda v: isinstance(v, list | tuple) and all(item(x) for x in v)
    if spec.kind == "range":
        point = _member(compile_type(spec.args[0]))
        return lambda v: isinstance(v, Range) and point(v.start) and point(v.end)
    if spec.kind == "context":
        fields = [(name, _member(compile_type(t))) for name, t in spec.fields]

        def context(v: Any) -> bool:
            if not isinstance(v, Mapping):
                return False
            return all(name in v and check(v[name]) for name, check in fields)

        return context
    # Functions carry no declared types here; any function value conforms.
    return callable


def instance_of(value: Any, check: Check, spec: TypeSpec) -> bool:
    if value is None:
        return spec.kind == "name" and spec.name == "Null"
    return check(value)
