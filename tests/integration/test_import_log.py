"""XES event logs imported as historical cases, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from casework.services import audit, cases
from casework.services.actors import Actor
from casework.services.errors import InvalidInput
from casework.services.import_log import TYPE_ID, import_log
from casework.services.rebuild import case_as_of, rebuild_projections, utc
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, CaseEvent, PlanItemRow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPERATOR = Actor("cli:tester", is_admin=True)
SHARED_LOGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "eventlogs"

SMALL_XES = """<?xml version="1.0" encoding="UTF-8" ?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <string key="concept:name" value="small"/>
  <trace>
    <string key="concept:name" value="claim 1"/>
    <float key="amount" value="250.5"/>
    <event>
      <string key="concept:name" value="Register"/>
      <string key="org:resource" value="Ann"/>
      <date key="time:timestamp" value="2024-01-01T10:00:00.000+02:00"/>
      <string key="lifecycle:transition" value="complete"/>
      <string key="channel" value="phone"/>
    </event>
    <event>
      <string key="concept:name" value="Assess"/>
      <string key="org:resource" value="Bob"/>
      <date key="time:timestamp" value="2024-01-01T09:00:00Z"/>
      <string key="lifecycle:transition" value="schedule"/>
    </event>
    <event>
      <string key="concept:name" value="Assess"/>
      <string key="org:resource" value="Bob"/>
      <date key="time:timestamp" value="2024-01-02T09:00:00Z"/>
      <string key="lifecycle:transition" value="start"/>
    </event>
    <event>
      <string key="concept:name" value="Assess"/>
      <string key="org:resource" value="Bob"/>
      <date key="time:timestamp" value="2024-01-02T11:00:00Z"/>
      <string key="lifecycle:transition" value="complete"/>
      <int key="score" value="7"/>
    </event>
    <event>
      <string key="concept:name" value="Register"/>
      <date key="time:timestamp" value="2024-01-03T08:00:00Z"/>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="claim 2"/>
    <event>
      <string key="concept:name" value="Register"/>
      <string key="org:resource" value="Ann"/>
      <date key="time:timestamp" value="2024-02-01T08:00:00Z"/>
    </event>
    <event>
      <string key="concept:name" value="Assess"/>
      <string key="org:resource" value="Cid"/>
      <date key="time:timestamp" value="2024-02-01T09:00:00Z"/>
      <string key="lifecycle:transition" value="start"/>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="empty"/>
  </trace>
</log>
"""


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def _cases(db: sessionmaker[Session]) -> dict[str, Case]:
    with db() as session:
        return {row.title: row for row in session.scalars(select(Case))}


def _items(db: sessionmaker[Session], case_id: str) -> list[tuple[str, str]]:
    with db() as session:
        rows = session.scalars(
            select(PlanItemRow)
            .where(PlanItemRow.case_id == case_id, PlanItemRow.parent_id.is_not(None))
            .order_by(PlanItemRow.created_at, PlanItemRow.instance_id)
        )
        return [(r.name, r.state) for r in rows]


def _plain(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return repr(value)


def _snapshot(db: sessionmaker[Session]) -> list[Any]:
    with db() as session:
        items = [
            tuple(getattr(r, c.key) for c in PlanItemRow.__table__.columns)
            for r in session.scalars(select(PlanItemRow))
        ]
        # JSON columns compared as values: their key order is the database's business
        # (PostgreSQL's JSONB reorders keys; the log stores payloads with sorted keys).
        rows = [
            tuple(_plain(getattr(r, c.key)) for c in Case.__table__.columns)
            for r in session.scalars(select(Case))
        ]
    return sorted(items, key=repr) + sorted(rows)


@pytest.mark.parametrize("compressed", [False, True])
def test_a_small_log_becomes_closed_cases_that_tell_its_story(
    db: sessionmaker[Session], tmp_path: Path, compressed: bool
) -> None:
    path = tmp_path / ("small.xes.gz" if compressed else "small.xes")
    if compressed:
        path.write_bytes(gzip.compress(SMALL_XES.encode()))
    else:
        path.write_text(SMALL_XES, encoding="utf-8")
    ticks: list[int] = []
    result = import_log(db, path, actor=OPERATOR, now=NOW, progress=ticks.append)
    assert (result.cases, result.events, result.activities, result.skipped) == (2, 7, 2, 1)
    assert result.skipped_reasons == ["trace empty: no timestamps"]
    assert len(ticks) == 3

    rows = _cases(db)
    one, two = rows["claim 1"], rows["claim 2"]
    assert one.type_id == TYPE_ID and one.status == two.status == "closed"
    # 10:00+02:00 is 08:00 UTC: the log is sorted by time, so Assess's schedule comes first.
    assert utc(one.opened_at) == datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    assert utc(one.closed_at or NOW) == datetime(2024, 1, 3, 8, 0, tzinfo=UTC)
    assert one.data == {"concept:name": "claim 1", "amount": 250.5, "channel": "phone", "score": 7}
    # In time order (Register at 08:00 UTC, Assess scheduled at 09:00), activity by activity.
    assert _items(db, one.id) == [
        ("End of log", "completed"),
        ("Register", "completed"),
        ("Assess", "completed"),
        ("Register", "completed"),
    ]
    # An activity started but never completed in the log is exited when the log ends.
    assert ("Assess", "terminated") in _items(db, two.id)

    with db() as session:
        events = cases.events_of(session, one.id)
        actors = {e.actor for e in events}
        assert {"Ann", "Bob", OPERATOR.id} <= actors
        assert audit.verify_all(session) == []
    # Mid-trace, Assess is being worked on.
    state, engine = case_as_of(db, one.id, datetime(2024, 1, 2, 10, 0, tzinfo=UTC))
    assess = [
        i for i in state.items.values() if engine.compiled.specs[i.item_id].item.name == "Assess"
    ]
    assert [i.state.value for i in assess] == ["active"]

    # The projections are exactly what a rebuild from the log computes.
    before = _snapshot(db)
    assert rebuild_projections(db) == 2
    assert _snapshot(db) == before

    # Importing again finds the cases and writes nothing.
    again = import_log(db, path, actor=OPERATOR, now=NOW)
    assert (again.cases, again.skipped, again.type_version) == (0, 3, result.type_version)
    with db() as session:
        assert len(session.scalars(select(CaseEvent.seq)).all()) == result.log_events


def test_a_file_that_is_not_xes_is_refused_before_anything_is_written(
    db: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "broken.xes"
    path.write_text("<log><trace><event>", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"broken\.xes: not a readable XES file"):
        import_log(db, path, actor=OPERATOR, now=NOW)
    assert _cases(db) == {}


def test_a_real_log_imports_with_a_limit(db: sessionmaker[Session]) -> None:
    path = SHARED_LOGS / "02_teleclaims.xes.gz"
    if not path.is_file():
        pytest.skip(f"the shared event logs are not here ({path})")
    result = import_log(db, path, actor=OPERATOR, now=NOW, limit=5)
    assert result.cases == 5 and result.skipped == 0 and result.events > 5
    rows = _cases(db)
    assert len(rows) == 5 and {r.status for r in rows.values()} == {"closed"}
    with db() as session:
        assert audit.verify_all(session) == []
        resources = set(session.scalars(select(CaseEvent.actor)))
    assert "Call Centre Agent Brisbane" in resources or len(resources) > 2


def test_a_float_that_is_no_json_number_is_kept_as_the_logs_text() -> None:
    from lxml import etree

    from casework.services.import_log import _value

    def value(kind: str, raw: str) -> Any:
        return _value(etree.Element(kind, key="amount", value=raw))

    assert value("float", "1.5") == 1.5
    assert value("float", "NaN") == "NaN"
    assert value("float", "-Infinity") == "-Infinity"
    assert value("int", "12") == 12
