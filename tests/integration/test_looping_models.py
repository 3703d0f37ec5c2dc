"""Case types that loop forever (a repetition that always holds on a task that completes
by itself), on SQLite and PostgreSQL.

One that loops on the first path a case takes is refused when it is deployed or
validated (`engine.walk`), saying where. One that loops only on some data deploys, and
opening a case or running the command that sets it off is then refused in one line,
with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.cli_support import cli, one_line_error

from casework.engine import commands as c
from casework.services import case_types, cases
from casework.services.actors import SYSTEM
from casework.services.case_type_catalog import check_source
from casework.services.errors import InvalidInput, Refused
from casework.store.db import session_factory
from casework.store.tables import Case, CaseEvent, CaseTypeVersion

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LOOPS_AT_ONCE = """
id: looper
name: Looper
plan:
  items:
    - task: Ping
      blocking: false
      repeat: "true"
"""
LOOPS_LATER = """
id: later
name: Later
plan:
  items:
    - task: Start
    - stage: Echo
      after: Start
      items:
        - task: Ping
          blocking: false
          repeat: "true"
"""
# Loop only on data a walk with an empty case file does not have: they deploy.
LOOPS_ON_DATA_AT_ONCE = """
id: looper
name: Looper
case_file:
  amount: number
plan:
  items:
    - task: Ping
      blocking: false
      repeat: "amount > 5"
"""
LOOPS_ON_DATA_LATER = """
id: later
name: Later
case_file:
  go: boolean
plan:
  items:
    - task: Start
    - stage: Echo
      after: Start
      items:
        - task: Ping
          blocking: false
          repeat: "go = true"
"""


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    for source in (LOOPS_ON_DATA_AT_ONCE, LOOPS_ON_DATA_LATER):
        case_types.deploy(db, actor=SYSTEM, source=source, now=NOW)
    yield db


def _count(db: sessionmaker[Session], table: type[Case] | type[CaseEvent]) -> int:
    with db() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_a_looping_model_is_refused_and_writes_nothing(db: sessionmaker[Session]) -> None:
    with pytest.raises(Refused, match="case type 'looper' version 1 loops forever"):
        cases.open_case(db, actor=SYSTEM, type_id="looper", now=NOW, data={"amount": 10})
    assert _count(db, Case) == 0 and _count(db, CaseEvent) == 0
    case_id = cases.open_case(db, actor=SYSTEM, type_id="later", now=NOW, data={"go": True}).case_id
    events = _count(db, CaseEvent)
    with pytest.raises(Refused, match="loops forever"):
        cases.run_command(
            db, actor=SYSTEM, case_id=case_id, command=c.CompletePlanItem("start"), now=NOW
        )
    assert _count(db, CaseEvent) == events
    with db() as session:
        row = session.get(Case, case_id)
        assert row is not None and row.version == 1


def test_the_command_line_says_so_in_one_line(engine: Engine, db: sessionmaker[Session]) -> None:
    url = engine.url.render_as_string(hide_password=False)
    one_line_error(cli(url, "case", "open", "looper", "--data", '{"amount": 10}'), "loops forever")


@pytest.mark.parametrize(
    ("source", "where"),
    [
        (LOOPS_AT_ONCE, "on this path: open a case ("),
        (LOOPS_LATER, "on this path: open a case → complete 'Start' ("),
    ],
    ids=["at-once", "later"],
)
def test_a_model_that_loops_on_its_first_path_is_not_deployed(
    db: sessionmaker[Session], engine: Engine, tmp_path: Path, source: str, where: str
) -> None:
    with db() as session:
        versions = session.scalar(select(func.count()).select_from(CaseTypeVersion))
    with pytest.raises(InvalidInput, match="loops forever") as refused:
        case_types.deploy(db, actor=SYSTEM, source=source.replace("id: ", "id: new_"), now=NOW)
    assert where in str(refused.value) and refused.value.field == "source"
    with db() as session:
        assert session.scalar(select(func.count()).select_from(CaseTypeVersion)) == versions
    # Validating says the same, without deploying.
    check = check_source(source)
    assert not check.valid and "loops forever" in check.problems[0].message
    path = tmp_path / "looping.yaml"
    path.write_text(source)
    url = engine.url.render_as_string(hide_password=False)
    result = cli(url, "model", "validate", str(path))
    assert result.exit_code == 2 and "loops forever" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
