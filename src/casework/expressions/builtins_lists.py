"""FEEL list functions beyond the core set (DMN 1.5 section 10.3.4.4): positions, sorting,
replacement, boolean aggregation and statistics.

Positions are 1-based and negative positions count from the end, as everywhere in FEEL.
Every function returns null for arguments it cannot handle.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cmp_to_key
from typing import Any

from .builtin_base import Builtin, int_arg, items_arg, numbers_arg
from .errors import warn
from .semantics import DECIMAL_CONTEXT, compare


def _list(value: Any) -> list[Any] | None:
    # A single value where a list is expected is a one-element list (DMN 10.3.2.9.4).
    if isinstance(value, list | tuple):
        return list(value)
    return None if value is None else [value]


def _arity(function: Any) -> int | None:
    """The number of parameters of a FEEL-defined function, when it is known."""
    params = getattr(function, "params", None)
    if params is None:
        params = getattr(function, "parameters", None)
    return None if params is None else len(params)


def _offset(items: list[Any], position: Any) -> int | None:
    """The 0-based index of a FEEL position in ``items``, or None when out of range."""
    p = int_arg(position)
    if p is None or p == 0 or abs(p) > len(items):
        return None
    return p - 1 if p > 0 else len(items) + p


def _sublist(values: Any, start: Any, length: Any = None) -> list[Any] | None:
    items = _list(values)
    if items is None:
        return None
    begin = _offset(items, start)
    if begin is None:
        return None
    if length is None:
        return items[begin:]
    count = int_arg(length)
    if count is None or count < 0 or begin + count > len(items):
        return None
    return items[begin : begin + count]


def _insert_before(values: Any, position: Any, new_item: Any) -> list[Any] | None:
    items = _list(values)
    if items is None:
        return None
    index = _offset(items, position)
    if index is None:
        return None
    return [*items[:index], new_item, *items[index:]]


def _remove(values: Any, position: Any) -> list[Any] | None:
    items = _list(values)
    if items is None:
        return None
    index = _offset(items, position)
    if index is None:
        return None
    return items[:index] + items[index + 1 :]


def _list_replace(values: Any, position: Any, new_item: Any) -> list[Any] | None:
    """``list replace(list, position, newItem)`` or, with a function as the second
    argument, every item for which ``match(item, newItem)`` is true is replaced."""
    items = _list(values)
    if items is None:
        return None
    if callable(position):
        if _arity(position) not in (None, 2):
            return None  # match(item, newItem) takes exactly two parameters
        out = []
        for item in items:
            verdict = position(item, new_item)
            if verdict is not True and verdict is not False:
                return None
            out.append(new_item if verdict else item)
        return out
    index = _offset(items, position)
    if index is None:
        return None
    return [*items[:index], new_item, *items[index + 1 :]]


def _sort(values: Any, precedes: Any = None) -> list[Any] | None:
    items = _list(values)
    if items is None:
        return None
    if precedes is None:
        # Natural order when no function is given; items must be mutually comparable.
        if any(compare(items[0], i) is None for i in items[1:]):
            return None
        return sorted(items, key=cmp_to_key(lambda a, b: compare(a, b) or 0))
    if not callable(precedes):
        return None
    failed = False

    def order(a: Any, b: Any) -> int:
        nonlocal failed
        verdict = precedes(a, b)
        if verdict is True:
            return -1
        if verdict is not False:
            failed = True
        return 0 if precedes(b, a) is not True else 1

    result = sorted(items, key=cmp_to_key(order))
    if failed:
        warn("sort: the precedes function did not return a boolean")
        return None
    return result


def _booleans(args: tuple[Any, ...]) -> list[Any] | None:
    if len(args) == 1 and not isinstance(args[0], list | tuple):
        return [args[0]]
    return items_arg(args)


def _all(*args: Any) -> bool | None:
    items = _booleans(args)
    if items is None:
        return None
    if any(v is False for v in items):
        return False
    return True if all(v is True for v in items) else None


def _any(*args: Any) -> bool | None:
    items = _booleans(args)
    if items is None:
        return None
    if any(v is True for v in items):
        return True
    return False if all(v is False for v in items) else None


def _product(*args: Any) -> Decimal | None:
    numbers = numbers_arg(args)
    if not numbers:
        return None
    result = Decimal(1)
    for n in numbers:
        result = DECIMAL_CONTEXT.multiply(result, n)
    return result


def _median(*args: Any) -> Decimal | None:
    numbers = numbers_arg(args)
    if not numbers:
        return None
    ordered = sorted(numbers)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return DECIMAL_CONTEXT.divide(DECIMAL_CONTEXT.add(ordered[middle - 1], ordered[middle]), 2)


def _stddev(*args: Any) -> Decimal | None:
    # The sample standard deviation, as the specification's examples show.
    numbers = numbers_arg(args)
    if numbers is None or len(numbers) < 2:
        return None
    count = Decimal(len(numbers))
    mean = DECIMAL_CONTEXT.divide(sum(numbers, Decimal(0)), count)
    squares = sum((DECIMAL_CONTEXT.power(n - mean, 2) for n in numbers), Decimal(0))
    return DECIMAL_CONTEXT.sqrt(DECIMAL_CONTEXT.divide(squares, count - 1))


def _mode(*args: Any) -> list[Decimal] | None:
    numbers = numbers_arg(args)
    if numbers is None:
        return None
    counts: dict[Decimal, int] = {}
    for n in numbers:
        counts[n] = counts.get(n, 0) + 1
    if not counts:
        return []
    top = max(counts.values())
    return sorted(n for n, c in counts.items() if c == top)


FUNCTIONS: list[Builtin] = [
    Builtin("sublist", (("list", "start position", "length?"),), _sublist),
    Builtin("insert before", (("list", "position", "newItem"),), _insert_before),
    Builtin("remove", (("list", "position"),), _remove),
    Builtin(
        "list replace",
        (("list", "position", "newItem"), ("list", "match", "newItem")),
        _list_replace,
    ),
    Builtin("sort", (("list", "precedes?"),), _sort),
    Builtin("all", (("list",),), _all, variadic=True),
    Builtin("any", (("list",),), _any, variadic=True),
    Builtin("product", (("list",),), _product, variadic=True),
    Builtin("median", (("list",),), _median, variadic=True),
    Builtin("stddev", (("list",),), _stddev, variadic=True),
    Builtin("mode", (("list",),), _mode, variadic=True),
]
