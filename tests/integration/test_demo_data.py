"""`make run`'s demo data: real cases at every stage, people for every role, on both
databases; and `casework run` loading it once then serving."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from casework.cli.main import app
from casework.services import audit, case_relations, demo_data, identity, queries
from casework.services.actors import Actor
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, Note, PlanItemRow
from casework.templates import list_templates, load_template

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def test_demo_data_is_real_cases_at_every_stage_worked_by_people_of_every_role(
    db: sessionmaker[Session],
) -> None:
    assert not demo_data.has_people(db)
    loaded = demo_data.seed(db, now=NOW, n_cases=28)
    assert demo_data.has_people(db)
    assert loaded.cases == 28
    with db() as session:
        rows = session.execute(select(Case.type_id, Case.status, Case.opened_at)).all()
        assert Counter(r.type_id for r in rows) == {t: 4 for t in list_templates()}
        statuses = Counter(r.status for r in rows)
        assert statuses["active"] > 0 and statuses["closed"] == loaded.closed > 0
        assert all(r.opened_at.replace(tzinfo=UTC) <= NOW for r in rows)
        assert audit.verify_all(session) == []
        assigned = session.scalars(
            select(PlanItemRow.assignee).where(PlanItemRow.assignee.is_not(None))
        ).all()
        assert assigned, "people have work in their inboxes"
    # The requester sees their cases, the notes written to them, not the internal ones.
    rita = Actor(demo_data.REQUESTER)
    assert len(loaded.requested) == 3  # cases 0, 10 and 20 of 28
    with db() as session:
        listed = queries.list_cases(session, actor=rita)
        assert sorted(c.id for c in listed.cases) == sorted(loaded.requested)
        written = [
            case_relations.list_notes(session, actor=rita, case_id=case_id).notes
            for case_id in loaded.requested
        ]
        assert any(written), "the requester has notes written to them"
        for notes in written:
            assert all(not n.internal for n in notes)
        internal = session.scalar(select(func.count()).select_from(Note).where(Note.internal))
        assert internal == sum(len(notes) for notes in written) > 0
    for type_id in list_templates():
        for role in load_template(type_id).roles:
            user = identity.authenticate_password(
                db,
                username=role.name.lower(),
                password=demo_data.DEMO_PASSWORD,
                client="test",
                now=NOW,
            )
            assert user.username == role.name.lower()


def test_casework_run_loads_the_demo_once_then_serves_with_a_worker(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CASEWORK_BLOB_DIR", str(tmp_path / "blobs"))
    monkeypatch.delenv("CASEWORK_BLOB_URL", raising=False)
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("casework.cli.serve_cmd.serve", lambda **kw: served.append(kw))
    runner = CliRunner()
    args = ["run", "--cases", "7", "--port", "8123", "--database-url", db_url]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Demo data: 7 cases" in result.output
    assert "admin / casework-demo" in result.output
    assert "Authorization: Bearer" in result.output and ":8123/api/v1/me" in result.output
    assert served and served[0]["port"] == 8123 and served[0]["database_url"] == db_url
    # A second start finds the people there and loads nothing more.
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "Demo data" not in again.output
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert len(conn.execute(select(Case.id)).all()) == 7
    finally:
        engine.dispose()


def test_casework_run_refuses_a_bad_blob_url_before_doing_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("casework.cli.serve_cmd.serve", lambda **kw: served.append(kw))
    database = tmp_path / "casework.db"
    result = CliRunner().invoke(
        app,
        ["run", "--cases", "7", "--database-url", f"sqlite:///{database}"],
        env={"CASEWORK_BLOB_URL": "s3://AKIAEXAMPLE:hunter2@docs/x"},
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: CASEWORK_BLOB_URL") and result.stderr.count("\n") == 1
    assert "hunter2" not in result.output and "Traceback" not in result.output
    assert served == [] and not database.exists()  # no schema, no demo data, no server
