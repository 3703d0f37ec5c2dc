"""Case file filters give the same cases on both databases, whatever kinds of values the
case files hold: every filter is checked against `case_file_filters.matches`, the rule
written in Python."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select, text, update
from tests.integration.rows import case_row
from tests.integration.test_case_services import HANDLER, NOW, _deploy

from casework.engine import commands as c
from casework.services import case_fields, cases, queries, search
from casework.services.actors import SYSTEM
from casework.services.case_fields import field_rows
from casework.services.case_file_filters import DataFilter, matches, parse_filter
from casework.services.errors import InvalidInput
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.libpq_pipeline import positional
from casework.store.tables import Case, CaseField, table_of

NUMBERS: list[Any] = [-3, -1, 0, 1, 2, 2.0, 2.5, 10, 1000, 1500, 25000, 1e-3]
LONG = "x" * 240  # longer than the index keeps of a text (FIELD_TEXT_CHARS)
TEXTS = ["", "a", "B", "ab", "b", "é", "Z", "2", "10", "2000", "n/a", "true", "null", "Lyon"]
TEXTS += [LONG, LONG + "y", LONG[:200], "x" * 199 + "y"]
VALUES: list[Any] = [*NUMBERS, *TEXTS, True, False, None, [1], {"x": 1}]
MISSING = object()


def _case_files(n: int, seed: int) -> list[dict[str, Any]]:
    """Case files whose fields `a` and `b.c` hold values of every kind, or are missing."""
    rnd = random.Random(seed)
    files = []
    for _ in range(n):
        data: dict[str, Any] = {}
        a = rnd.choice([*VALUES, MISSING])
        if a is not MISSING:
            data["a"] = a
        b = rnd.choice([{"c": rnd.choice(VALUES)}, {}, "flat", None, MISSING])
        if b is not MISSING:
            data["b"] = b
        files.append(data)
    return files


def _filter_text(path: str, op: str, value: Any) -> str:
    if isinstance(value, str):
        return f'{path} {op} "{value}"'
    if value is None:
        return f"{path} {op} null"
    if isinstance(value, bool):
        return f"{path} {op} {'true' if value else 'false'}"
    return f"{path} {op} {value!r}"


def test_filters_match_the_same_cases_as_the_rule_on_every_kind_of_value(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through each way a filter reads: the case fields' index (built by a batch), that
    index behind writes still marked for the next batch, and the JSON alone (the index
    finding too many cases)."""
    files = _case_files(160, seed=11)
    ids = [f"C-{i:04d}" for i in range(len(files))]
    with engine.begin() as conn:
        conn.execute(
            insert(table_of(Case)),
            [case_row(case_id, data=data) for case_id, data in zip(ids, files, strict=True)],
        )
    db = session_factory(engine)
    assert search.reindex_all(db) == len(ids)  # every case's fields in the index
    comparable = st.sampled_from([*NUMBERS, *TEXTS])

    @settings(max_examples=100, deadline=None, database=None)
    @given(
        path=st.sampled_from(["a", "b.c", "b", "missing"]),
        op_value=st.one_of(
            st.tuples(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), comparable),
            st.tuples(st.sampled_from(["=", "!="]), st.sampled_from([True, False, None])),
        ),
    )
    def check(path: str, op_value: tuple[str, Any]) -> None:
        op, value = op_value
        text = _filter_text(path, op, value)
        f = parse_filter(text)
        assert f == DataFilter(tuple(path.split(".")), op, value)
        expected = {i for i, data in zip(ids, files, strict=True) if matches(f, data)}
        with db() as session:
            page = queries.list_cases(session, actor=SYSTEM, filters=[text], limit=500)
        assert {row.id for row in page.cases} == expected, text

    check()
    # A third of the case files rewritten, as writes do: each case marked in the same
    # transaction, its fields in the index left as they were until the next batch.
    changed = _case_files(len(ids) // 3, seed=12)
    with engine.begin() as conn:
        for k, data in enumerate(changed):
            case_id = ids[3 * k]
            conn.execute(update(Case).where(Case.id == case_id).values(data=data))
            search.mark(conn, case_id, 1)
            files[3 * k] = data
    check()
    monkeypatch.setattr(queries, "FEW_MATCHES", 3)
    check()
    monkeypatch.undo()
    assert search.index_pending(db) == len(changed)
    check()


def test_a_text_that_looks_like_a_number_is_text_and_a_number_never_matches_text(
    engine: Engine,
) -> None:
    files = {"C-1": {"amount": 2000}, "C-2": {"amount": "3000"}, "C-3": {"amount": "n/a"}}
    with engine.begin() as conn:
        conn.execute(insert(table_of(Case)), [case_row(i, data=data) for i, data in files.items()])
    db = session_factory(engine)
    search.reindex_all(db)
    with db() as session:

        def found(text: str) -> set[str]:
            page = queries.list_cases(session, actor=SYSTEM, filters=[text])
            return {row.id for row in page.cases}

        # PostgreSQL failed on "n/a" (a cast to a number); SQLite matched "3000".
        assert found("amount > 1000") == {"C-1"}
        assert found("amount = '3000'") == {"C-2"}
        assert found("amount != 'n/a'") == {"C-2"}
        assert found("amount < 'o'") == {"C-2", "C-3"}


@pytest.mark.parametrize(
    "text",
    ["covered > true", "covered <= false", "owner < null", "amount >> 3", "amount", "= 3"],
)
def test_filters_that_cannot_hold_are_refused_naming_the_filter(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_filter(text)
    assert refused.value.field == "filter"
    assert repr(text) in str(refused.value)


def test_words_that_are_no_json_number_stay_text() -> None:
    assert parse_filter("code = nan").value == "nan"
    assert parse_filter("code = inf").value == "inf"
    assert parse_filter("amount >= 1e3").value == 1000.0
    assert parse_filter("risk = high").value == "high"


def test_text_compares_by_code_point_in_a_postgresql_database_that_collates_by_language(
    postgres_admin: Engine,
) -> None:
    """A database created with a language's collation (ICU, English) orders "a" before
    "B"; a filter still compares text by code point, as SQLite does."""
    name = f"t_icu_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as conn:
        conn.execute(
            text(
                f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8 '
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        )
    url = postgres_admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                assert conn.scalar(text("SELECT 'a' < 'B'")) is True  # the language's order
                conn.execute(
                    insert(table_of(Case)),
                    [case_row(f"C-{v}", data={"name": v}) for v in ("a", "B", "b", "Z")],
                )
            search.reindex_all(session_factory(engine))
            with session_factory(engine)() as session:
                page = queries.list_cases(session, actor=SYSTEM, filters=["name < a"])
                assert {row.id for row in page.cases} == {"C-B", "C-Z"}
        finally:
            engine.dispose()
    finally:
        with postgres_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_a_case_is_found_by_its_new_case_file_before_and_after_the_batch(engine: Engine) -> None:
    """Through the services: an opened case and a changed case file are found at once
    (marked), and after the batch that rebuilds their fields (from the index)."""
    db = session_factory(engine)
    _deploy(db)
    ref = cases.open_case(
        db, actor=HANDLER, type_id="claim", data={"amount": 1200, "city": "Lyon"}, now=NOW
    )
    other = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 80}, now=NOW)

    def found(*filters: str) -> set[str]:
        with db() as session:
            page = queries.list_cases(session, actor=SYSTEM, filters=list(filters))
        return {row.id for row in page.cases}

    def fields() -> dict[str, Any]:
        with db() as session:
            rows = session.execute(select(CaseField).where(CaseField.case_id == ref.case_id))
            return {
                row.path: row.number if row.text is None else row.text for row in rows.scalars()
            }

    assert fields() == {}  # the write marked the case, the batch builds its fields
    assert found("amount > 1000") == {ref.case_id}
    assert search.index_pending(db) == 2
    assert fields() == {"amount": 1200.0, "city": "Lyon"}
    assert found("amount > 1000") == {ref.case_id}
    assert found("city = Lyon") == {ref.case_id}
    assert found("amount < 100") == {other.case_id}
    cases.run_command(
        db,
        actor=HANDLER,
        case_id=ref.case_id,
        command=c.SetVariables({"amount": 90, "city": "Nantes"}),
        now=NOW,
    )
    assert found("amount > 1000") == set()
    assert found("amount < 100") == {ref.case_id, other.case_id}
    assert found("city = Lyon") == set()
    assert search.index_pending(db) == 1
    assert fields() == {"amount": 90.0, "city": "Nantes"}
    assert found("amount < 100") == {ref.case_id, other.case_id}


def test_a_case_files_fields_are_its_numbers_texts_and_booleans_by_the_paths_filters_name() -> None:
    data = {
        "amount": 12,
        "rate": 0.5,
        "covered": True,
        "note": None,
        "claimant": {"city": "Lyon", "age": 40, "tags": ["a", "b"]},
        "items": [{"price": 3}],
        "not a key": 1,
        "big": 10**400,
        "long": "y" * 300,
        "deep": {"k" * 200: {"k" * 200: 1}},  # a path longer than the index keeps
    }
    rows = field_rows("C-1", data)
    assert {row["path"]: (row["number"], row["text"], row["flag"]) for row in rows} == {
        "amount": (12.0, None, None),
        "rate": (0.5, None, None),
        "covered": (None, None, True),
        "claimant.city": (None, "Lyon", None),
        "claimant.age": (40.0, None, None),
        "big": (float("inf"), None, None),
        "long": (None, "y" * 200, None),
    }


def test_postgresql_plans_the_index_reads_for_any_value(postgres_schema_url: str) -> None:
    """psycopg prepares a statement run often, and PostgreSQL then keeps one plan for
    every value: the index reads must be index scans in that plan too, or a filter few
    cases pass (and each batch's delete) would scan the whole table."""
    migrate.upgrade(postgres_schema_url)
    engine = make_engine(postgres_schema_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(table_of(Case)), [case_row(f"C-{i:05d}") for i in range(20_000)])
            conn.execute(
                text(
                    "INSERT INTO case_fields (case_id, path, number, text) "
                    "SELECT id, 'amount', cast(substr(id, 3) AS integer), NULL FROM cases"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO case_fields (case_id, path, flag) "
                    "SELECT id, 'escalated', cast(substr(id, 3) AS integer) % 100 = 0 FROM cases"
                )
            )
            conn.exec_driver_sql("ANALYZE case_fields")
        reads = {
            "narrowing": case_fields._narrowing(parse_filter("amount > 19990")).limit(1001),  # type: ignore[union-attr]
            "flag": case_fields._narrowing(parse_filter("escalated = true")).limit(1001),  # type: ignore[union-attr]
            "delete": case_fields.DELETE_CASE,
        }
        with engine.connect() as conn:
            conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            for name, statement in reads.items():
                compiled = statement.compile(dialect=conn.dialect)
                sql, names = positional(compiled.string)
                conn.exec_driver_sql(f"PREPARE {name} AS {sql}")
                values = compiled.construct_params({"b_case": "C-00001"})
                given = ", ".join(_literal(values[n]) for n in names)
                plan = "\n".join(
                    str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE {name}({given})")
                )
                assert "Index" in plan and "Seq Scan" not in plan, (name, plan)
    finally:
        engine.dispose()


def _literal(value: Any) -> str:
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else repr(value)


def test_a_field_whose_path_the_index_does_not_keep_is_still_found(engine: Engine) -> None:
    key = "k" * 200
    with engine.begin() as conn:
        conn.execute(insert(table_of(Case)), [case_row("C-1", data={key: {key: 7}})])
    db = session_factory(engine)
    search.reindex_all(db)
    with db() as session:
        page = queries.list_cases(session, actor=SYSTEM, filters=[f"{key}.{key} > 5"])
        assert [row.id for row in page.cases] == ["C-1"]
        assert session.scalar(select(CaseField.path).where(CaseField.case_id == "C-1")) is None
