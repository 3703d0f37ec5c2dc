"""Real processes writing to the same case and to different cases at once."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from casework.engine import commands as c
from casework.services import audit, case_types, cases
from casework.services.actors import SYSTEM
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, PlanItemRow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORK = """
id: queue
name: Work queue
plan:
  items:
    - task: Work
      repeat: true
"""
WRITERS = 20


def _writer(url: str, case_ids: list[str], n: int) -> None:
    engine = make_engine(url)
    db = session_factory(engine)
    for case_id in case_ids:
        command = c.CompletePlanItem("work") if n % 2 else c.SetVariables({f"w{n}": n})
        cases.run_command(
            db, actor=SYSTEM, case_id=case_id, command=command, now=NOW + timedelta(seconds=n)
        )
    engine.dispose()


@pytest.fixture
def target(db_url: str) -> str:
    """A migrated database of the test's own; its URL also reaches the processes."""
    migrate.upgrade(db_url)
    return db_url


def test_twenty_processes_on_shared_and_own_cases_lose_nothing(
    target: str,
) -> None:
    url = target
    engine = make_engine(url)
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=WORK, now=NOW)
    shared = cases.open_case(db, actor=SYSTEM, type_id="queue", now=NOW).case_id
    own = [
        cases.open_case(db, actor=SYSTEM, type_id="queue", now=NOW).case_id for _ in range(WRITERS)
    ]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, [shared, own[n]], n)) for n in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    with db() as session:
        row = session.get(Case, shared)
        assert row is not None and row.version == 1 + WRITERS
        assert {k: v for k, v in row.data.items()} == {f"w{n}": n for n in range(0, WRITERS, 2)}
        work = session.scalars(
            select(PlanItemRow.state).where(
                PlanItemRow.case_id == shared, PlanItemRow.item_id == "work"
            )
        ).all()
        assert sorted(work).count("completed") == WRITERS // 2
        assert work.count("active") == 1
        for case_id in [shared, *own]:
            assert audit.verify_case(session, case_id) is None
            seqs = [e.seq for e in cases.events_of(session, case_id)]
            assert seqs == list(range(1, len(seqs) + 1))
        for case_id in own:
            assert cases.get_row(session, case_id).version == 2
    engine.dispose()
