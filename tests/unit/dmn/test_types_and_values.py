"""Type checks against typeRefs, and FEEL values to and from JSON."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from casework.dmn import DmnError, ItemDefinition
from casework.dmn.types import TypeRegistry, coerce
from casework.dmn.values import from_text, parse_json, to_json
from casework.expressions import YearsMonthsDuration, collect_warnings

ITEMS = [
    ItemDefinition("tStatus", "string", '"open", "closed"'),
    ItemDefinition("tStatuses", "string", '"open", "closed"', is_collection=True),
    ItemDefinition("tScore", "number", "[0..100]"),
    ItemDefinition(
        "tLoan",
        components=(ItemDefinition("amount", "number"), ItemDefinition("status", "tStatus")),
    ),
    ItemDefinition("tNumbers", "number", is_collection=True),
    ItemDefinition("tAlias", "tScore"),
]
TYPES = TypeRegistry(ITEMS)


@pytest.mark.parametrize(
    ("type_ref", "value", "expected"),
    [
        ("number", 5, 5),
        ("number", Decimal("1.5"), Decimal("1.5")),
        ("number", "5", None),
        ("number", True, None),
        ("string", "x", "x"),
        ("boolean", False, False),
        ("boolean", "false", None),
        ("date", date(2024, 1, 2), date(2024, 1, 2)),
        ("date", datetime(2024, 1, 2, 3), None),
        # allowed conversion: the date at UTC midnight (DMN 1.5 10.3.2.9.4)
        ("date and time", date(2024, 1, 2), datetime(2024, 1, 2, tzinfo=UTC)),
        ("dateTime", datetime(2024, 1, 2, 3), datetime(2024, 1, 2, 3)),  # DMN 1.1 name
        ("time", time(8), time(8)),
        ("days and time duration", timedelta(days=1), timedelta(days=1)),
        ("yearMonthDuration", YearsMonthsDuration(3), YearsMonthsDuration(3)),
        ("years and months duration", timedelta(1), None),
        ("tStatus", "open", "open"),
        ("tStatus", "lost", None),
        ("tStatus", ["open"], "open"),  # a singleton list unwraps
        ("tStatuses", ["open", "closed"], ["open", "closed"]),
        ("tStatuses", "open", ["open"]),  # a single value wraps
        ("tStatuses", ["open", "lost"], None),
        ("tScore", 100, 100),
        ("tScore", 101, None),
        ("tAlias", 50, 50),
        ("tAlias", -1, None),
        ("tLoan", {"amount": 1, "status": "lost"}, None),  # a component's allowed values
        ("tNumbers", [1, 2], [1, 2]),
        ("tNumbers", [1, "2"], None),
        ("unknownType", object, object),  # unknown types are not checked
        (None, "anything", "anything"),
    ],
)
def test_coercion(type_ref: str | None, value: Any, expected: Any) -> None:
    coerced = coerce(value, TYPES.resolve(type_ref))
    if expected is None:
        assert coerced.value is None
        assert coerced.problem is not None and "does not conform" in coerced.problem
    else:
        assert coerced.value == expected
        assert coerced.problem is None


def test_structures_need_their_components_and_allow_extra_entries() -> None:
    loan = TYPES.resolve("tLoan")
    assert coerce({"amount": 1, "status": "open", "extra": 2}, loan).value is not None
    assert coerce({"amount": "1", "status": "open"}, loan).value is None
    # A context conforms only when it has every component (DMN 1.5 10.3.2.9.1).
    assert coerce({"amount": 1}, loan).value is None
    assert coerce({"amount": 1, "status": None}, loan).value == {"amount": 1, "status": None}
    assert coerce("not a context", loan).value is None


def test_null_conforms_to_every_type() -> None:
    for name in ("number", "tStatus", "tLoan", "tStatuses"):
        assert coerce(None, TYPES.resolve(name)).problem is None


def test_base_type_follows_item_definitions() -> None:
    assert TYPES.base_type("tAlias") == "number"
    assert TYPES.base_type("tLoan") == "context"
    assert TYPES.base_type("dateTime") == "date and time"
    assert TYPES.base_type("mystery") is None


def test_recursive_types_do_not_loop() -> None:
    tree = ItemDefinition("tTree", components=(ItemDefinition("child", "tTree"),))
    types = TypeRegistry([tree])
    assert coerce({"child": {"child": None}}, types.resolve("tTree")).problem is None


def test_bad_allowed_values_are_a_model_error() -> None:
    types = TypeRegistry([ItemDefinition("tBad", "number", "< <")])
    with pytest.raises(DmnError, match="itemDefinition 'tBad'"):
        types.resolve("tBad")


def test_checked_values_warn_through_the_collector() -> None:
    from casework.dmn.types import checked

    with collect_warnings() as sink:
        assert checked("lost", TYPES.resolve("tStatus"), "input 'Status'") is None
    assert [w.message for w in sink] == [
        "input 'Status': 'lost' does not conform to type 'tStatus'"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12"), 12),
        (Decimal("12.50"), 12.5),
        (Decimal("0.1"), 0.1),
        (Decimal("2778.693549432766768088520383236299"), "2778.693549432766768088520383236299"),
        (7, 7),
        (date(2024, 1, 31), "2024-01-31"),
        (datetime(2024, 1, 31, 8, 30), "2024-01-31T08:30:00"),
        (time(8, 30), "08:30:00"),
        (timedelta(days=1, hours=2), "P1DT2H"),
        (YearsMonthsDuration(14), "P1Y2M"),
        ({"a": [Decimal(1), None, True]}, {"a": [1, None, True]}),
        ((1, "x"), [1, "x"]),
    ],
)
def test_to_json(value: Any, expected: Any) -> None:
    converted = to_json(value)
    assert converted == expected
    assert type(converted) is type(expected)
    json.dumps(converted)


def test_functions_and_ranges_still_serialise() -> None:
    from casework.expressions import compile_expression

    value = compile_expression("{f: function(x) x, r: [1..2]}").evaluate({})
    assert json.loads(json.dumps(to_json(value))) == {"f": "<function>", "r": "[1..2]"}


def test_parse_json_keeps_fractions_exact() -> None:
    assert parse_json('{"rate": 0.1, "n": 3}') == {"rate": Decimal("0.1"), "n": 3}


def test_from_text_reads_declared_temporal_types_only() -> None:
    assert from_text("2024-01-31", "date") == date(2024, 1, 31)
    assert from_text("P2D", "days and time duration") == timedelta(days=2)
    assert from_text("2024-01-31", "string") == "2024-01-31"
    assert from_text("not a date", "date") == "not a date"  # left for the type check
