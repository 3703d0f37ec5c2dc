"""The case file's numbers, texts and booleans in an index (`case_fields`), to narrow case
file filters.

A filter such as `amount > 9990` (`case_file_filters`) is a condition on each case's
JSON, which a database can only test case by case: when few cases match, a page reads
all of them. `case_fields` holds a row per number, text and boolean of each case file,
by path (`amount`, `claimant.city`: keys that filters can name, through objects, not
lists), indexed by (path, number), (path, text) and (path, flag). A filter then asks
the index which cases may match, and when they are few, reads only those; the JSON
condition still decides, so the index only has to find every case that matches, and
may find more:

- texts are kept to their first FIELD_TEXT_CHARS characters, and a number as a double:
  the index looks for `text >= v[:200]` where the filter says `text > v`, and so on;
  a path longer than FIELD_PATH_CHARS is left out, and a filter naming one reads the
  JSON only;
- the rows are rebuilt with the search documents, in batches (`services.search`): a
  write marks its case in `case_search_pending`, in its own transaction, and the marked
  cases join what the index finds (read first: a batch that ends in between leaves
  its cases marked or indexed, never neither). With many marks (many writes and
  no worker indexing them yet), filters read the JSON as they did before the index.

When the index finds many cases (a filter most cases pass), the list is read in its own
order and each case tested, which finds a page soonest; the same rule as text search.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Select, bindparam, delete, insert, inspect, select
from sqlalchemy.orm import Session

from casework.services.case_file_filters import DataFilter
from casework.store.tables import (
    FIELD_PATH_CHARS,
    FIELD_TEXT_CHARS,
    CaseField,
    SearchPending,
    table_of,
)

_KEY = re.compile(r"[A-Za-z_]\w*")  # the keys a filter can name (`case_file_filters`)
_FIELDS = table_of(CaseField)


def field_rows(case_id: str, data: Any) -> list[dict[str, Any]]:
    """The `case_fields` rows of a case file: one per number, text and boolean reached
    through objects by keys a filter can name. Each row has every column (one insert
    takes them all); a boolean's row has only its `flag`."""
    rows: list[dict[str, Any]] = []
    _walk(case_id, data, "", rows)
    return rows


def _walk(case_id: str, value: Any, path: str, rows: list[dict[str, Any]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(key, str) and _KEY.fullmatch(key):
                _walk(case_id, inner, f"{path}.{key}" if path else key, rows)
        return
    if not path or len(path) > FIELD_PATH_CHARS:
        return
    row = {"case_id": case_id, "path": path, "number": None, "text": None, "flag": None}
    if isinstance(value, bool):  # before int: a bool is one
        rows.append(row | {"flag": value})
    elif isinstance(value, int | float):
        rows.append(row | {"number": _double(value)})
    elif isinstance(value, str):
        rows.append(row | {"text": value[:FIELD_TEXT_CHARS]})


def _double(value: int | float) -> float:
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any double: as far as a double goes
        number = math.inf if value > 0 else -math.inf
    return number


# One statement per case, by the key's first column: the plan PostgreSQL prepares for
# `case_id IN (...)` on a table still small is a scan of the whole table, kept as the
# table grows.
DELETE_CASE = delete(_FIELDS).where(_FIELDS.c.case_id == bindparam("b_case"))


def store(conn: Connection, ids: Sequence[str], data: Mapping[str, Any]) -> None:
    """Replace the rows of `ids` with those of their case files in `data` (an id not in
    it: a case no longer there, its rows removed)."""
    if not has_fields(conn):
        return
    conn.execute(DELETE_CASE, [{"b_case": case_id} for case_id in ids])
    rows = [row for case_id in ids if case_id in data for row in field_rows(case_id, data[case_id])]
    if rows:
        conn.execute(insert(_FIELDS), rows)


# Engines known to have `case_fields` (migration 0017): only the positive answer is
# remembered, so a migration run later is seen.
_PRESENT: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def has_fields(session: Session | Connection) -> bool:
    """Whether the database keeps `case_fields` up to date: the table is there, and so is
    the search index whose batches rebuild it (a schema made from the models alone has
    the one without the other, and marks no case)."""
    conn = session if isinstance(session, Connection) else session.connection()
    if conn.engine in _PRESENT:
        return True
    present = inspect(conn)
    if not (present.has_table(_FIELDS.name) and present.has_table("case_search")):
        return False
    _PRESENT[conn.engine] = True
    return True


def candidates(session: Session, filters: Sequence[DataFilter], few: int) -> list[str] | None:
    """The ids of every case that may match all of `filters`, when they are at most
    `few` (`queries.FEW_MATCHES`, the same bound as for text search); None when the
    index cannot narrow them (no filter it holds, too many cases found or still marked)."""
    reads = [read for read in map(_narrowing, filters) if read is not None]
    if not reads or not has_fields(session):
        return None
    # The marks first: see the module's docstring.
    marked = session.scalars(select(SearchPending.case_id).limit(few + 1)).all()
    if len(marked) > few:
        return None
    best: Sequence[str] | None = None
    for read in reads:
        found = session.scalars(read.limit(few + 1)).all()
        if len(found) <= few and (best is None or len(found) < len(best)):
            best = found
    if best is None or len(best) + len(marked) > few:
        return None
    return sorted({*best, *marked})


def _narrowing(f: DataFilter) -> Select[Any] | None:
    """The index read finding every case whose field may satisfy `f`, or None when the
    index cannot tell (`!=`, null: what is missing has no row)."""
    path = ".".join(f.path)
    if f.op == "!=" or len(path) > FIELD_PATH_CHARS:
        return None
    kind = f.kind
    if kind == "boolean":  # only `=` takes one
        flag = _FIELDS.c.flag
        return select(_FIELDS.c.case_id).where(_FIELDS.c.path == path, flag == f.value)
    if kind == "number":
        column, value = _FIELDS.c.number, _double(f.value)
    elif kind == "text":
        column, value = _FIELDS.c.text, f.value[:FIELD_TEXT_CHARS]
    else:
        return None
    # A value cut short (a text's end, an integer's last digits in a double) may compare
    # equal where the whole one is above or below: the bounds are inclusive.
    if f.op == "=":
        condition = column == value
    elif f.op in (">", ">="):
        condition = column >= value
    else:
        condition = column <= value
    # In the index's order: a plan PostgreSQL prepares (for any value) then reads the
    # index from the bound, where it would otherwise scan the table until it has enough.
    return select(_FIELDS.c.case_id).where(_FIELDS.c.path == path, condition).order_by(column)
