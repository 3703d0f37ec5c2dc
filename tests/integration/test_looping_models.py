"""A case type that deploys but loops forever at run time (a repetition that always
holds on a task that completes by itself) on SQLite and PostgreSQL: opening a case or
running the command that sets it off is refused in one line, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.cli_support import cli, one_line_error

from casework.engine import commands as c
from casework.services import case_types, cases
from casework.services.actors import SYSTEM
from casework.services.errors import Refused
from casework.store.db import session_factory
from casework.store.tables import Case, CaseEvent

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


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    for source in (LOOPS_AT_ONCE, LOOPS_LATER):
        case_types.deploy(db, actor=SYSTEM, source=source, now=NOW)
    yield db


def _count(db: sessionmaker[Session], table: type[Case] | type[CaseEvent]) -> int:
    with db() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_a_looping_model_is_refused_and_writes_nothing(db: sessionmaker[Session]) -> None:
    with pytest.raises(Refused, match="case type 'looper' version 1 loops forever"):
        cases.open_case(db, actor=SYSTEM, type_id="looper", now=NOW)
    assert _count(db, Case) == 0 and _count(db, CaseEvent) == 0
    case_id = cases.open_case(db, actor=SYSTEM, type_id="later", now=NOW).case_id
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
    one_line_error(cli(url, "case", "open", "looper"), "loops forever")
