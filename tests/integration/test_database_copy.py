"""`casework db copy`: a whole database copied into another, across SQLite and PostgreSQL,
row for row, with its hash chains, its ids and its times intact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, insert, make_url, null, select
from typer.testing import CliRunner

from casework.cli.main import app
from casework.engine import commands as c
from casework.services import audit, cases, collaboration, demo_data, queries
from casework.services.actors import SYSTEM, Actor
from casework.services.case_fields import field_rows
from casework.services.database_copy import CopyRefused, copy_database
from casework.store import copy as store_copy
from casework.store import migrate
from casework.store.copy import schema_tables, table_counts
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, CaseField
from casework.store.webhook_tables import WebhookSubscription

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
ADMIN = Actor("admin", is_admin=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'target.db'}"
    url: str = request.getfixturevalue("other_postgres_schema_url")
    return url


def filled(url: str) -> dict[str, Any]:
    """A database with something in most tables: demo cases worked by people, notes, a
    link, and webhook subscriptions whose nullable JSON is SQL NULL in one and JSON null
    in the other. What a test needs to know of it."""
    migrate.upgrade(url)
    engine = make_engine(url)
    db = session_factory(engine)
    try:
        demo_data.seed(db, now=NOW, n_cases=8)
        with db() as session:
            ids = list(session.scalars(select(Case.id).order_by(Case.id)))
        note = collaboration.add_note(
            db, actor=ADMIN, case_id=ids[0], body="Gutachten über die Schäden", now=NOW
        )
        collaboration.link_cases(
            db, actor=ADMIN, case_id=ids[0], other_id=ids[1], kind="related", now=NOW
        )
        with engine.begin() as conn:
            hook = {"url": "https://example.org/h", "secret": "s", "created_by": "admin"}
            conn.execute(
                insert(WebhookSubscription),
                [
                    {**hook, "event_types": null(), "created_at": NOW},
                    {**hook, "event_types": JSON.NULL, "created_at": NOW},
                    {**hook, "event_types": ["CaseOpened"], "created_at": NOW},
                ],
            )
        return {"case_ids": ids, "note": note}
    finally:
        engine.dispose()


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every schema table, in key order, as values that mean the same on
    both databases: times as aware UTC instants; for a nullable JSON column, its value
    and whether it is SQL NULL."""
    engine = make_engine(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as conn:
            for table in schema_tables():
                cols = list(table.columns)
                nulls = [
                    col.is_(None) for col in cols if isinstance(col.type, JSON) and col.nullable
                ]
                rows = conn.execute(
                    select(*cols, *nulls).order_by(*table.primary_key.columns)
                ).all()
                out[table.name] = [tuple(_same(v) for v in row) for row in rows]
    finally:
        engine.dispose()
    return out


def _same(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def test_a_copy_holds_every_row_of_every_table_and_carries_on_as_the_original(
    db_url: str, target_url: str
) -> None:
    known = filled(db_url)
    before = contents(db_url)
    steps: list[tuple[str, int | None]] = []
    report = copy_database(
        db_url, target_url, on_step=lambda what, rows: steps.append((what, rows))
    )

    assert report.problems == []
    copied = contents(target_url)
    # The marks of search documents still to build were copied, then used up: the
    # target's index was built from the copied cases.
    assert before["case_search_pending"] and copied.pop("case_search_pending") == []
    assert copied == {k: v for k, v in before.items() if k != "case_search_pending"}
    assert report.tables == {name: len(rows) for name, rows in before.items()}
    assert report.tables["cases"] == 8 and report.tables["case_events"] > 8
    # The progress total is counted in the copy's own snapshot: exactly what it copies.
    assert ("copying the tables", sum(report.tables.values())) in steps
    assert steps[-1][0] == "building the search index of the target"
    assert report.indexed == 8
    # The case file fields are not copied but built on the target, with the index.
    engine = make_engine(target_url)
    try:
        with engine.connect() as conn:
            built = set(conn.scalars(select(CaseField.case_id)))
            with_fields = {
                case_id
                for case_id, data in conn.execute(select(Case.id, Case.data))
                if field_rows(case_id, data)
            }
    finally:
        engine.dispose()
    assert built == with_fields and built

    engine = make_engine(target_url)
    db = session_factory(engine)
    try:
        if engine.dialect.name == "sqlite":
            # Planned by its rows at once (the upgrade before the copy saw none).
            with engine.connect() as conn:
                stat = conn.exec_driver_sql(
                    "SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_cases_opened'"
                ).scalar()
            assert stat is not None and stat.startswith("8 ")
        with db() as session:
            assert audit.verify_all(session) == []
            # The search index was built on the target's own terms (FTS5 or tsvector).
            found = queries.list_cases(session, actor=ADMIN, text="gutachten schaden")
            assert [row.id for row in found.cases] == [known["case_ids"][0]]
        # New rows get new ids after the copied ones (PostgreSQL's sequences moved on).
        note = collaboration.add_note(
            db, actor=ADMIN, case_id=known["case_ids"][1], body="next", now=NOW
        )
        assert note > known["note"]
        # A copied case goes on: its chain continues on the target.
        with db() as session:
            case = session.get(Case, known["case_ids"][2])
            assert case is not None
            last_seq = case.last_seq
        ref = cases.run_command(
            db,
            actor=SYSTEM,
            case_id=known["case_ids"][2],
            command=c.SetVariables({"remark": "carried on after the copy"}),
            now=NOW + timedelta(minutes=1),
        )
        with db() as session:
            assert audit.verify_case(session, ref.case_id) is None
            case = session.get(Case, ref.case_id)
            assert case is not None and case.last_seq > last_seq
    finally:
        engine.dispose()


def test_times_are_the_same_instants_whatever_the_source_session_time_zone(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    """PostgreSQL hands timestamptz values over in the session's time zone; SQLite keeps
    whatever wall time it is given. The copy writes UTC."""
    filled(postgres_schema_url)
    url = make_url(postgres_schema_url)
    tokyo = url.update_query_dict(
        {"options": url.query["options"] + " -ctimezone=Asia/Tokyo"}
    ).render_as_string(hide_password=False)
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    copy_database(tokyo, target)
    newest = "SELECT id, opened_at FROM cases ORDER BY opened_at DESC, id LIMIT 1"
    engine = make_engine(postgres_schema_url)
    try:
        with engine.connect() as conn:
            case_id, opened = conn.exec_driver_sql(newest).one()  # aware, from timestamptz
    finally:
        engine.dispose()
    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            stored = conn.exec_driver_sql(newest).one()  # SQLite's text, as written
    finally:
        engine.dispose()
    assert stored == (case_id, opened.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))


def test_a_target_with_rows_is_refused_and_left_as_it_was(db_url: str, tmp_path: Path) -> None:
    filled(db_url)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    copy_database(db_url, target)
    before = contents(target)
    with pytest.raises(CopyRefused, match="not empty: table case_type_versions has rows"):
        copy_database(db_url, target)
    assert contents(target) == before


def test_a_source_behind_this_casework_is_refused_before_the_target_is_touched(
    db_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(db_url, "0013")
    target = tmp_path / "target.db"
    with pytest.raises(CopyRefused, match="source is at schema revision 0013"):
        copy_database(db_url, f"sqlite:///{target}")
    assert not target.exists()
    with pytest.raises(CopyRefused, match="source has no Casework tables"):
        copy_database(f"sqlite:///{tmp_path / 'typo.db'}", f"sqlite:///{target}")
    assert not target.exists() and not (tmp_path / "typo.db").exists()


def test_a_copy_that_fails_half_way_leaves_the_target_without_a_row(
    db_url: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    filled(db_url)
    real = store_copy._copy_table

    def failing(src: Any, dst: Any, table: Any, *args: Any) -> int:
        if table.name == "plan_items":  # after cases and their events
            raise RuntimeError("disk full")
        return real(src, dst, table, *args)

    monkeypatch.setattr(store_copy, "_copy_table", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        copy_database(db_url, target_url)
    engine = make_engine(target_url)
    try:
        assert set(table_counts(engine).values()) == {0}
    finally:
        engine.dispose()
    # Nothing half done stands in the way: the copy runs again.
    monkeypatch.setattr(store_copy, "_copy_table", real)
    assert copy_database(db_url, target_url).problems == []


def test_the_cli_copies_says_what_it_did_and_fails_in_one_line(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'casework.db'}"
    known = filled(source)
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    runner = CliRunner()

    result = runner.invoke(app, ["db", "copy", "--to", target, "--database-url", source])
    assert result.exit_code == 0, result.output
    assert "(8 cases, " in result.output and "verified on the target" in result.output

    again = runner.invoke(app, ["db", "copy", "--to", target, "--database-url", source])
    assert again.exit_code == 2
    assert again.output.strip().splitlines() == [
        f"error: copy from {source} to {target}: the target is not empty: "
        "table case_type_versions has rows"
    ]
    bad = runner.invoke(app, ["db", "copy", "--to", "nonsense", "--database-url", source])
    assert bad.exit_code == 2
    assert bad.output.startswith(f"error: copy from {source} to (invalid URL): ")
    assert "nothing was copied" in bad.output and len(bad.output.strip().splitlines()) == 1

    other = f"sqlite:///{tmp_path / 'json.db'}"
    as_json = runner.invoke(app, ["db", "copy", "--to", other, "--database-url", source, "--json"])
    assert as_json.exit_code == 0, as_json.output
    summary = json.loads(as_json.stdout)
    assert summary["ok"] is True and summary["problems"] == []
    assert summary["tables"]["cases"] == len(known["case_ids"]) == 8
    assert summary["rows"] == sum(summary["tables"].values())
    assert summary["cases_indexed"] == 8


def test_a_chain_broken_in_the_source_is_named_and_the_cli_exits_1(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'casework.db'}"
    known = filled(source)
    victim = known["case_ids"][3]
    engine = make_engine(source)
    try:
        with engine.begin() as conn:  # someone edited the log behind Casework's back
            conn.exec_driver_sql(
                "UPDATE case_events SET actor = 'mallory' WHERE case_id = ? AND seq = 2",
                (victim,),
            )
    finally:
        engine.dispose()
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    result = CliRunner().invoke(app, ["db", "copy", "--to", target, "--database-url", source])
    assert result.exit_code == 1, result.output
    broken = [line for line in result.output.splitlines() if line.startswith("broken chain:")]
    assert len(broken) == 1 and broken[0].startswith(f"broken chain: case {victim}: event 2: ")
    assert "verified on the target" not in result.output
