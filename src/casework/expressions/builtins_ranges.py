"""FEEL range functions (DMN 1.5 sections 10.3.4.9 and 10.3.4.10): the ``range`` conversion
and the interval algebra (``before``, ``after``, ``meets``, ``overlaps``, ``during``, ...).

Each interval function takes two points, a point and a range, or two ranges; the formulas
are the specification's. A range's missing endpoint (``< 5`` has no start) is unbounded.
Comparisons that cannot be made (null, different types) make the result null.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import ast
from .builtin_base import Builtin, string_arg
from .errors import ExpressionError, warn
from .semantics import Range, compare

# --- endpoint comparisons ---------------------------------------------------------------


class _Unbounded(Exception):
    """Raised inside a formula when a comparison cannot be made: the result is null."""


def _cmp(a: Any, b: Any, a_low: bool, b_low: bool) -> int:
    """Compares endpoints; a None endpoint is -infinity when ``*_low`` else +infinity."""
    if a is None or b is None:
        if a is None and b is None and a_low == b_low:
            return 0
        if a is None:
            return -1 if a_low else 1
        return 1 if b_low else -1
    order = compare(a, b)
    if order is None:
        raise _Unbounded
    return order


def _pt(a: Any, b: Any) -> int:
    if a is None or b is None:
        raise _Unbounded
    return _cmp(a, b, True, True)


def _s(r: Range) -> tuple[Any, bool]:
    return r.start, True


def _e(r: Range) -> tuple[Any, bool]:
    return r.end, False


def _c(x: tuple[Any, bool], y: tuple[Any, bool]) -> int:
    return _cmp(x[0], y[0], x[1], y[1])


def _p(point: Any) -> tuple[Any, bool]:
    if point is None:
        raise _Unbounded
    return point, True


# --- the formulas, by argument kinds -----------------------------------------------------


def _before_pp(a: Any, b: Any) -> bool:
    return _pt(a, b) < 0


def _before_pr(p: Any, r: Range) -> bool:
    c = _c(_p(p), _s(r))
    return c < 0 or (c == 0 and not r.start_included)


def _before_rp(r: Range, p: Any) -> bool:
    c = _c(_e(r), _p(p))
    return c < 0 or (c == 0 and not r.end_included)


def _before_rr(r1: Range, r2: Range) -> bool:
    c = _c(_e(r1), _s(r2))
    return c < 0 or (c == 0 and (not r1.end_included or not r2.start_included))


def _meets(r1: Range, r2: Range) -> bool:
    return r1.end_included and r2.start_included and _c(_e(r1), _s(r2)) == 0


def _overlaps(r1: Range, r2: Range) -> bool:
    c1, c2 = _c(_e(r1), _s(r2)), _c(_s(r1), _e(r2))
    left = c1 > 0 or (c1 == 0 and r1.end_included and r2.start_included)
    right = c2 < 0 or (c2 == 0 and r1.start_included and r2.end_included)
    return left and right


def _overlaps_before(r1: Range, r2: Range) -> bool:
    c1, c2, c3 = _c(_s(r1), _s(r2)), _c(_e(r1), _s(r2)), _c(_e(r1), _e(r2))
    return (
        (c1 < 0 or (c1 == 0 and r1.start_included and not r2.start_included))
        and (c2 > 0 or (c2 == 0 and r1.end_included and r2.start_included))
        and (c3 < 0 or (c3 == 0 and (not r1.end_included or r2.end_included)))
    )


def _finishes_pr(p: Any, r: Range) -> bool:
    return r.end_included and _c(_e(r), _p(p)) == 0


def _finishes_rr(r1: Range, r2: Range) -> bool:
    c = _c(_s(r1), _s(r2))
    return (
        r1.end_included == r2.end_included
        and _c(_e(r1), _e(r2)) == 0
        and (c > 0 or (c == 0 and (not r1.start_included or r2.start_included)))
    )


def _during_pr(p: Any, r: Range) -> bool:
    point = _p(p)
    cs, ce = _c(_s(r), point), _c(_e(r), point)
    return (cs < 0 and ce > 0) or (cs == 0 and r.start_included) or (ce == 0 and r.end_included)


def _during_rr(r1: Range, r2: Range) -> bool:
    cs, ce = _c(_s(r2), _s(r1)), _c(_e(r2), _e(r1))
    return (cs < 0 or (cs == 0 and (r2.start_included or not r1.start_included))) and (
        ce > 0 or (ce == 0 and (r2.end_included or not r1.end_included))
    )


def _starts_pr(p: Any, r: Range) -> bool:
    return r.start_included and _c(_s(r), _p(p)) == 0


def _starts_rr(r1: Range, r2: Range) -> bool:
    c = _c(_e(r1), _e(r2))
    return (
        _c(_s(r1), _s(r2)) == 0
        and r1.start_included == r2.start_included
        and (c < 0 or (c == 0 and (not r1.end_included or r2.end_included)))
    )


def _coincides_rr(r1: Range, r2: Range) -> bool:
    return (
        _c(_s(r1), _s(r2)) == 0
        and r1.start_included == r2.start_included
        and _c(_e(r1), _e(r2)) == 0
        and r1.end_included == r2.end_included
    )


Formula = Callable[[Any, Any], bool]
Signatures = tuple[tuple[str, ...], ...]


def _flip(f: Formula) -> Formula:
    return lambda a, b: f(b, a)


def _dispatch(
    name: str, pp: Formula | None, pr: Formula | None, rp: Formula | None, rr: Formula | None
) -> Callable[[Any, Any], bool | None]:
    def run(a: Any, b: Any) -> bool | None:
        a_range, b_range = isinstance(a, Range), isinstance(b, Range)
        formula = (rr if b_range else rp) if a_range else (pr if b_range else pp)
        if formula is None:
            warn(f"{name}: no form for these arguments")
            return None
        try:
            return formula(a, b)
        except _Unbounded:
            return None

    return run


_POINTS = (("point1", "point2"), ("point", "range"), ("range", "point"), ("range1", "range2"))
_RANGES = (("range1", "range2"),)
_POINT_RANGE = (("point", "range"), ("range1", "range2"))
_RANGE_POINT = (("range", "point"), ("range1", "range2"))


def _interval(
    name: str, signatures: tuple[tuple[str, ...], ...], *forms: Formula | None
) -> Builtin:
    pp, pr, rp, rr = forms
    return Builtin(name, signatures, _dispatch(name, pp, pr, rp, rr))


# --- range(from) ----------------------------------------------------------------------------

_CONSTRUCTORS = frozenset({"date", "time", "date and time", "duration", "@"})


def _literal_endpoint(node: ast.Node) -> bool:
    """Range strings may only hold literals: numbers, strings, ``@"..."`` and the temporal
    constructors applied to a string literal."""
    if isinstance(node, ast.Literal):
        return True
    if isinstance(node, ast.Negation):
        return isinstance(node.operand, ast.Literal)
    if isinstance(node, ast.Call) and isinstance(node.callee, ast.Name):
        return (
            node.callee.name in _CONSTRUCTORS
            and node.named is None
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Literal)
            and isinstance(node.args[0].value, str)
        )
    return False


def _endpoint(text: str) -> tuple[bool, Any]:
    """(ok, value) of one endpoint's text; an empty text is a missing endpoint."""
    from .compiler import compile_node
    from .parser import parse_expression

    if not text.strip():
        return True, None
    try:
        node = parse_expression(text)
    except ExpressionError:
        return False, None
    if not _literal_endpoint(node):
        return False, None
    value = compile_node(node)({})
    return value is not None, value


def _split_endpoints(body: str) -> tuple[str, str] | None:
    """The texts on either side of the top-level "..", outside string literals."""
    in_string, i = False, 0
    while i < len(body) - 1:
        ch = body[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif body.startswith("..", i):
            return body[:i], body[i + 2 :]
        i += 1
    return None


def _range(text: Any) -> Range | None:
    if string_arg(text) is None:
        return None
    stripped = text.strip()
    if len(stripped) < 4 or stripped[0] not in "[(]" or stripped[-1] not in "])[":
        return _unary_range(stripped)
    parts = _split_endpoints(stripped[1:-1])
    if parts is None:
        return None
    (ok_start, start), (ok_end, end) = _endpoint(parts[0]), _endpoint(parts[1])
    if not (ok_start and ok_end) or (start is None and end is None):
        return None
    start_included, end_included = stripped[0] == "[", stripped[-1] == "]"
    # A missing endpoint is unbounded, and an unbounded side cannot be closed.
    if (start is None and start_included) or (end is None and end_included):
        return None
    if start is not None and end is not None and compare(start, end) is None:
        return None
    return Range(start, end, start_included, end_included)


def _unary_range(text: str) -> Range | None:
    """``range("< 5")``: the unary comparison forms are ranges with one endpoint."""
    found = re.match(r"^(<=|>=|<|>|=)\s*(.+)$", text)
    if found is None:
        return None
    op, rest = found.groups()
    ok, value = _endpoint(rest)
    if not ok or value is None:
        return None
    return {
        "<": Range(None, value, False, False),
        "<=": Range(None, value, False, True),
        ">": Range(value, None, False, False),
        ">=": Range(value, None, True, False),
        "=": Range(value, value, True, True),
    }[op]


FUNCTIONS: list[Builtin] = [
    Builtin("range", (("from",),), _range),
    _interval("before", _POINTS, _before_pp, _before_pr, _before_rp, _before_rr),
    _interval(
        "after",
        _POINTS,
        _flip(_before_pp),
        _flip(_before_rp),
        _flip(_before_pr),
        _flip(_before_rr),
    ),
    _interval("meets", _RANGES, None, None, None, _meets),
    _interval("met by", _RANGES, None, None, None, _flip(_meets)),
    _interval("overlaps", _RANGES, None, None, None, _overlaps),
    _interval("overlaps before", _RANGES, None, None, None, _overlaps_before),
    _interval("overlaps after", _RANGES, None, None, None, _flip(_overlaps_before)),
    _interval("finishes", _POINT_RANGE, None, _finishes_pr, None, _finishes_rr),
    _interval("finished by", _RANGE_POINT, None, None, _flip(_finishes_pr), _flip(_finishes_rr)),
    _interval("includes", _RANGE_POINT, None, None, _flip(_during_pr), _flip(_during_rr)),
    _interval("during", _POINT_RANGE, None, _during_pr, None, _during_rr),
    _interval("starts", _POINT_RANGE, None, _starts_pr, None, _starts_rr),
    _interval("started by", _RANGE_POINT, None, None, _flip(_starts_pr), _flip(_starts_rr)),
    _interval(
        "coincides",
        (("point1", "point2"), ("range1", "range2")),
        lambda a, b: _pt(a, b) == 0,
        None,
        None,
        _coincides_rr,
    ),
]
