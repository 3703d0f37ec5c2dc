"""Warm cases: a process keeps the state of cases it wrote, and never acts on a stale one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import CaseEngine
from casework.engine import commands as c
from casework.services import audit, case_assignment, case_types, cases, collaboration, warm
from casework.services.actors import SYSTEM
from casework.services.errors import PreconditionFailed, Refused
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, PlanItemRow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TRIO = """
id: trio
name: Trio
case_file:
  note: {type: string}
plan:
  items:
    - task: One
    - task: Two
    - task: Three
"""


@pytest.fixture
def two_processes(db_url: str) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    """Two engines on one database: as far as the warm cache knows, two processes."""
    migrate.upgrade(db_url)
    first, second = make_engine(db_url), make_engine(db_url)
    yield session_factory(first), session_factory(second)
    first.dispose()
    second.dispose()


def _items(db: sessionmaker[Session], case_id: str) -> dict[str, str]:
    with db() as session:
        rows = session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == case_id))
        return {r.item_id: r.state for r in rows if r.kind != "stage"}


def test_a_warm_copy_made_stale_by_another_process_is_detected_and_reread(
    two_processes: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    a, b = two_processes
    case_types.deploy(a, actor=SYSTEM, source=TRIO, now=NOW)
    ref = cases.open_case(a, actor=SYSTEM, type_id="trio", now=NOW)
    cases.run_command(
        a, actor=SYSTEM, case_id=ref.case_id, command=c.CompletePlanItem("one"), now=NOW
    )
    assert warm.get(a.kw["bind"], ref.case_id) is not None
    # The other process moves the case on: A's warm copy no longer matches the row.
    cases.run_command(
        b,
        actor=SYSTEM,
        case_id=ref.case_id,
        command=c.SetVariables({"note": "from b"}),
        now=NOW,
    )
    cases.run_command(
        b, actor=SYSTEM, case_id=ref.case_id, command=c.CompletePlanItem("two"), now=NOW
    )
    # Were A to act on its stale copy, "two" would still be active and B's data lost.
    done = cases.run_command(
        a, actor=SYSTEM, case_id=ref.case_id, command=c.CompletePlanItem("three"), now=NOW
    )
    assert done.version == 5
    assert _items(a, ref.case_id) == {"one": "completed", "two": "completed", "three": "completed"}
    with a() as session:
        row = session.get(Case, ref.case_id)
        assert row is not None and row.data == {"note": "from b"} and row.status == "completed"
        assert audit.verify_case(session, ref.case_id) is None
    kept = warm.get(a.kw["bind"], ref.case_id)
    assert kept is not None and kept.version == 5 and kept.state.variables == {"note": "from b"}


def test_a_rolled_back_command_leaves_no_warm_state(
    two_processes: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    a, _ = two_processes
    case_types.deploy(a, actor=SYSTEM, source=TRIO, now=NOW)
    ref = cases.open_case(a, actor=SYSTEM, type_id="trio", now=NOW)

    def fail(_conn: Connection) -> None:
        raise RuntimeError("the job could not be marked done")

    with pytest.raises(RuntimeError):
        cases.run_command(
            a,
            actor=SYSTEM,
            case_id=ref.case_id,
            command=c.CompletePlanItem("one"),
            now=NOW,
            on_commit=fail,
        )
    assert warm.get(a.kw["bind"], ref.case_id) is None
    # The command runs again from the stored state: "one" was never completed.
    again = cases.run_command(
        a, actor=SYSTEM, case_id=ref.case_id, command=c.CompletePlanItem("one"), now=NOW
    )
    assert again.version == 2
    assert _items(a, ref.case_id)["one"] == "completed"


def test_if_match_is_checked_against_the_stored_version_not_the_warm_one(
    two_processes: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    a, b = two_processes
    case_types.deploy(a, actor=SYSTEM, source=TRIO, now=NOW)
    ref = cases.open_case(a, actor=SYSTEM, type_id="trio", now=NOW)
    cases.run_command(
        b, actor=SYSTEM, case_id=ref.case_id, command=c.CompletePlanItem("one"), now=NOW
    )
    # A still holds version 1 warm; the row is at version 2.
    with pytest.raises(PreconditionFailed):
        cases.run_command(
            a,
            actor=SYSTEM,
            case_id=ref.case_id,
            command=c.CompletePlanItem("two"),
            now=NOW,
            expected_version=1,
        )
    ok = cases.run_command(
        a,
        actor=SYSTEM,
        case_id=ref.case_id,
        command=c.CompletePlanItem("two"),
        now=NOW,
        expected_version=2,
    )
    assert ok.version == 3


def test_an_entry_outside_the_engine_drops_the_warm_copy_so_the_next_command_runs_once(
    two_processes: tuple[sessionmaker[Session], sessionmaker[Session]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, _ = two_processes
    bind = a.kw["bind"]
    case_types.deploy(a, actor=SYSTEM, source=TRIO, now=NOW)
    first = cases.open_case(a, actor=SYSTEM, type_id="trio", now=NOW).case_id
    other = cases.open_case(a, actor=SYSTEM, type_id="trio", now=NOW).case_id
    runs: list[object] = []
    apply = CaseEngine.apply
    monkeypatch.setattr(CaseEngine, "apply", lambda *args: runs.append(args) or apply(*args))
    entries = [
        lambda: collaboration.add_note(a, actor=SYSTEM, case_id=first, body="called", now=NOW),
        lambda: collaboration.link_cases(
            a, actor=SYSTEM, case_id=first, other_id=other, kind="related", now=NOW
        ),
        lambda: case_assignment.reassign_case(a, actor=SYSTEM, case_id=first, now=NOW, priority=1),
    ]
    for n, entry in enumerate(entries):
        assert warm.get(bind, first) is not None
        entry()
        assert warm.get(bind, first) is None
        task = ("one", "two", "three")[n]
        cases.run_command(a, actor=SYSTEM, case_id=first, command=c.CompletePlanItem(task), now=NOW)
        assert len(runs) == n + 1  # not once on the stale copy and again on the stored state


CHAIN = """
id: chain
name: Chain
plan:
  items:
    - task: First
    - task: Second
      after: First
    - timer: Chase
      after: PT1H
      starts_on: Second completes
    - task: Follow up
      after: Chase
"""


def _run(
    db: sessionmaker[Session], case_id: str, command: c.Command, now: datetime = NOW
) -> cases.CaseRef:
    return cases.run_command(db, actor=SYSTEM, case_id=case_id, command=command, now=now)


def test_a_command_refused_on_a_stale_copy_is_tried_on_the_row_before_it_is_refused(
    two_processes: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    a, b = two_processes
    case_types.deploy(a, actor=SYSTEM, source=TRIO, now=NOW)
    ref = cases.open_case(a, actor=SYSTEM, type_id="trio", now=NOW)
    _run(a, ref.case_id, c.SuspendPlanItem("two"))
    # The other process resumes Two; A's copy still has it suspended, which refuses a
    # completion that the case as stored allows.
    _run(b, ref.case_id, c.ResumePlanItem("two"))
    done = _run(a, ref.case_id, c.CompletePlanItem("two"))
    assert done.version == 4
    assert _items(a, ref.case_id)["two"] == "completed"
    # A refusal on the row stands (and is the row's: "it is completed").
    with pytest.raises(Refused, match="completed"):
        _run(a, ref.case_id, c.CompletePlanItem("two"))


def test_a_timer_that_another_process_scheduled_fires_from_a_stale_copy(
    two_processes: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    """The worker (A) ran the case's first step and kept it warm; a person (B) then
    scheduled its timer. When the timer's job comes due, A must fire it: on its stale
    copy there is no timer, nothing to do, and the job would end with the timer lost."""
    a, b = two_processes
    case_types.deploy(a, actor=SYSTEM, source=CHAIN, now=NOW)
    ref = cases.open_case(a, actor=SYSTEM, type_id="chain", now=NOW)
    _run(a, ref.case_id, c.CompletePlanItem("first"))
    _run(b, ref.case_id, c.CompletePlanItem("second"))
    fired = _run(a, ref.case_id, c.FireDueTimers(), NOW + timedelta(hours=2))
    assert fired.version == 4
    assert _items(a, ref.case_id)["follow_up"] == "active"
