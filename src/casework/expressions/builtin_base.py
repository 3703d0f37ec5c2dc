"""The shape shared by every FEEL built-in function and the argument helpers they use.

The functions themselves live in ``builtins`` (the core of DMN 1.5 section 10.3.4) and in
one module per family (``builtins_lists``, ``builtins_numbers``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import warn
from .semantics import to_number


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str
    # Alternative signatures; a trailing "?" marks an optional parameter.
    signatures: tuple[tuple[str, ...], ...]
    fn: Callable[..., Any]
    variadic: bool = False

    def bind(self, args: list[Any], named: Mapping[str, Any] | None) -> list[Any] | None:
        """Positional arguments for ``fn``, or None if no signature accepts the call."""
        if named is None:
            if self.variadic:
                return args
            for sig in self.signatures:
                required = sum(1 for p in sig if not p.endswith("?"))
                if required <= len(args) <= len(sig):
                    return args
            return None
        for sig in self.signatures:
            names = [p.rstrip("?") for p in sig]
            if not set(named) <= set(names):
                continue
            if any(not p.endswith("?") and p not in named for p in sig):
                continue
            bound = [named.get(n) for n in names]
            while bound and names[len(bound) - 1] not in named:
                bound.pop()
            return bound
        return None


class BuiltinFunction:
    """A built-in function used as a value (``sort(xs, max)``, ``bkm(abs)``): called with
    the same argument binding and null-on-error rules as a direct call."""

    __slots__ = ("builtin",)

    def __init__(self, builtin: Builtin) -> None:
        self.builtin = builtin

    def __repr__(self) -> str:
        return f"<built-in function {self.builtin.name}>"

    def __call__(self, *args: Any, **named: Any) -> Any:
        bound = self.builtin.bind(list(args), named or None)
        if bound is None:
            warn(f"wrong arguments for built-in function '{self.builtin.name}'")
            return None
        try:
            return self.builtin.fn(*bound)
        except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
            warn(f"function call failed: {exc}")
            return None


def string_arg(value: Any) -> str | None:
    return value if type(value) is str else None


def int_arg(value: Any) -> int | None:
    number = to_number(value)
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


def items_arg(args: tuple[Any, ...]) -> list[Any] | None:
    """List functions accept one list or the items spread as arguments."""
    if len(args) == 1 and isinstance(args[0], list | tuple):
        return list(args[0])
    return list(args) if args else None


def numbers_arg(args: tuple[Any, ...]) -> list[Decimal] | None:
    items = items_arg(args)
    if items is None:
        return None
    numbers = [to_number(v) for v in items]
    if any(n is None for n in numbers):
        return None
    return [n for n in numbers if n is not None]
