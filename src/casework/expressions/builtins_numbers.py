"""FEEL numeric functions beyond the core set (DMN 1.5 section 10.3.4.5): rounding modes,
``modulo``, ``sqrt``, ``log``, ``exp``, ``odd`` and ``even``.

Results are decimal128 numbers (34 significant digits, see ``semantics.DECIMAL_CONTEXT``);
arguments outside a function's domain (``sqrt(-1)``, ``log(0)``, a zero divisor) give null.
"""

from __future__ import annotations

from decimal import (
    ROUND_DOWN,
    ROUND_HALF_DOWN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    InvalidOperation,
)
from typing import Any

from .builtin_base import Builtin, int_arg
from .semantics import DECIMAL_CONTEXT, to_number

# DMN limits the scale of the rounding functions to what decimal128 can express.
_MIN_SCALE, _MAX_SCALE = -6111, 6176


def rounded(n: Any, scale: Any, rounding: str) -> Decimal | None:
    """``n`` rounded to ``scale`` decimal places with the ``decimal`` rounding mode."""
    number, places = to_number(n), int_arg(scale)
    if number is None or places is None or not _MIN_SCALE <= places <= _MAX_SCALE:
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent <= places:
        return number  # already within the scale: nothing to round
    try:
        return number.quantize(
            Decimal(1).scaleb(-places), rounding=rounding, context=DECIMAL_CONTEXT
        )
    except InvalidOperation:
        return None


def _round_up(n: Any, scale: Any) -> Decimal | None:
    return rounded(n, scale, ROUND_UP)


def _round_down(n: Any, scale: Any) -> Decimal | None:
    return rounded(n, scale, ROUND_DOWN)


def _round_half_up(n: Any, scale: Any) -> Decimal | None:
    return rounded(n, scale, ROUND_HALF_UP)


def _round_half_down(n: Any, scale: Any) -> Decimal | None:
    return rounded(n, scale, ROUND_HALF_DOWN)


def _modulo(dividend: Any, divisor: Any) -> Decimal | None:
    # The result has the sign of the divisor: dividend - divisor * floor(dividend / divisor).
    a, b = to_number(dividend), to_number(divisor)
    if a is None or b is None or not b:
        return None
    quotient = DECIMAL_CONTEXT.divide(a, b).to_integral_value(rounding="ROUND_FLOOR")
    return DECIMAL_CONTEXT.subtract(a, DECIMAL_CONTEXT.multiply(b, quotient))


def _sqrt(number: Any) -> Decimal | None:
    n = to_number(number)
    if n is None or n < 0:
        return None
    return DECIMAL_CONTEXT.sqrt(n)


def _log(number: Any) -> Decimal | None:
    n = to_number(number)
    if n is None or n <= 0:
        return None
    return DECIMAL_CONTEXT.ln(n)


def _exp(number: Any) -> Decimal | None:
    n = to_number(number)
    if n is None:
        return None
    try:
        return DECIMAL_CONTEXT.exp(n)
    except ArithmeticError:
        return None


def _parity(number: Any) -> int | None:
    n = to_number(number)
    if n is None or n != n.to_integral_value():
        return None
    return int(n) % 2


def _odd(number: Any) -> bool | None:
    parity = _parity(number)
    return None if parity is None else parity == 1


def _even(number: Any) -> bool | None:
    parity = _parity(number)
    return None if parity is None else parity == 0


FUNCTIONS: list[Builtin] = [
    Builtin("round up", (("n", "scale"),), _round_up),
    Builtin("round down", (("n", "scale"),), _round_down),
    Builtin("round half up", (("n", "scale"),), _round_half_up),
    Builtin("round half down", (("n", "scale"),), _round_half_down),
    Builtin("modulo", (("dividend", "divisor"),), _modulo),
    Builtin("sqrt", (("number",),), _sqrt),
    Builtin("log", (("number",),), _log),
    Builtin("exp", (("number",),), _exp),
    Builtin("odd", (("number",),), _odd),
    Builtin("even", (("number",),), _even),
]
