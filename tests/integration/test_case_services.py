"""Case services on SQLite and PostgreSQL: durable commands, the log, concurrency."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, event, select, update
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import commands as c
from casework.services import audit, case_types, cases
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Refused,
)
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, CaseEvent, Job, PlanItemRow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLAIM = """
id: claim
name: Claim
roles: [handler, manager]
case_file:
  amount: {type: number, required: true}
  risk: {type: string, enum: [low, medium, high]}
plan:
  items:
    - task: Assess
      role: handler
      due: P2D
    - task: Approve
      role: manager
      after: Assess
    - timer: Reminder
      after: PT24H
    - automated: Pay
      handler: claims.pay
      after: Approve
  discretionary:
    - task: Ask expert
      role: handler
      planned_by: manager
"""


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database of the test's own (conftest's db_url: SQLite and PostgreSQL)."""
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


HANDLER = Actor("hana", roles=frozenset({"handler"}))
MANAGER = Actor("max", roles=frozenset({"manager"}))


def _deploy(db: sessionmaker[Session]) -> None:
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)


def test_an_opening_is_admitted_in_its_own_transaction_on_the_version_it_gets(
    db: sessionmaker[Session],
) -> None:
    """`admit` sees the version the case is opened with (the newest, read in the write's
    transaction), and what it refuses leaves nothing written."""
    _deploy(db)
    case_types.deploy(
        db, actor=SYSTEM, source=CLAIM.replace("name: Claim", "name: Claim 2"), now=NOW
    )
    seen: list[int] = []

    def admit(conn: Connection, version: int) -> None:
        seen.append(version)

    ref = cases.open_case(
        db, actor=HANDLER, type_id="claim", data={"amount": 1}, now=NOW, admit=admit
    )
    with db() as session:
        assert seen == [session.get(Case, ref.case_id).type_version] == [2]  # type: ignore[union-attr]

    def refuse(conn: Connection, version: int) -> None:
        raise Forbidden("not this one")

    with pytest.raises(Forbidden):
        cases.open_case(
            db, actor=HANDLER, type_id="claim", data={"amount": 2}, now=NOW, admit=refuse
        )
    with db() as session:
        assert session.scalars(select(Case.id)).all() == [ref.case_id]
        assert {e.case_id for e in session.scalars(select(CaseEvent))} == {ref.case_id}


def test_a_case_opens_runs_and_leaves_a_verifiable_log(db: sessionmaker[Session]) -> None:
    _deploy(db)
    ref = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 500}, now=NOW)
    assert ref.version == 1 and ref.status == "active"
    ref = cases.run_command(
        db, actor=HANDLER, case_id=ref.case_id, command=c.CompletePlanItem("assess"), now=NOW
    )
    assert ref.version == 2
    with db() as session:
        row = session.get(Case, ref.case_id)
        assert row is not None and row.data == {"amount": 500}
        items = {
            r.item_id: r.state
            for r in session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == ref.case_id))
        }
        assert items["assess"] == "completed" and items["approve"] == "active"
        seqs = [e.seq for e in cases.events_of(session, ref.case_id)]
        assert seqs == list(range(1, len(seqs) + 1))
        assert audit.verify_case(session, ref.case_id) is None
        jobs = sorted((j.kind, j.ref) for j in session.scalars(select(Job)))
        # The reminder's timer, and Assess's deadline (due: P2D).
        assert jobs == [("deadline", "pi-2"), ("timer", "pi-4")]


def test_tampering_with_an_event_is_found_and_named(db: sessionmaker[Session]) -> None:
    _deploy(db)
    ref = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 1}, now=NOW)
    with db.begin() as session:
        session.execute(
            update(CaseEvent)
            .where(CaseEvent.case_id == ref.case_id, CaseEvent.seq == 2)
            .values(actor="mallory")
        )
    with db() as session:
        problem = audit.verify_case(session, ref.case_id)
        assert problem is not None and problem.seq == 2 and "altered" in problem.message


def test_the_whole_log_is_verified_in_one_pass_as_case_by_case(
    db: sessionmaker[Session],
) -> None:
    """`verify_all` streams the log once; it must name what `verify_case` names, case by
    case: an altered event, a removed one in the middle, a removed end, all events gone."""
    _deploy(db)
    ids = [
        cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": n}, now=NOW).case_id
        for n in range(6)
    ]
    intact, altered, holed, cut, emptied, _also_intact = ids
    with db.begin() as session:
        session.execute(
            update(CaseEvent)
            .where(CaseEvent.case_id == altered, CaseEvent.seq == 3)
            .values(payload={"forged": True})
        )
        session.execute(delete(CaseEvent).where(CaseEvent.case_id == holed, CaseEvent.seq == 2))
        last = session.scalar(select(Case.last_seq).where(Case.id == cut))
        session.execute(delete(CaseEvent).where(CaseEvent.case_id == cut, CaseEvent.seq == last))
        session.execute(delete(CaseEvent).where(CaseEvent.case_id == emptied))
    seen: list[None] = []
    with db() as session:
        found = audit.verify_all(session, on_case=lambda: seen.append(None))
        one_by_one = [p for c in sorted(ids) if (p := audit.verify_case(session, c)) is not None]
    assert found == one_by_one
    assert len(seen) == len(ids)
    named = {p.case_id: (p.seq, p.message.split(" ")[0]) for p in found}
    assert named == {
        altered: (3, "altered"),
        holed: (2, "missing"),
        cut: (last, "missing"),
        emptied: (1, "missing"),
    }
    assert intact not in named


def test_the_log_is_verified_a_batch_of_cases_at_a_time_each_in_its_own_snapshot(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long check holds no snapshot throughout: what is committed while it runs is
    read by the batches after it (here, a forged event in the last case)."""
    _deploy(db)
    ids = sorted(
        cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": n}, now=NOW).case_id
        for n in range(5)
    )
    monkeypatch.setattr(audit, "VERIFY_CASES", 2)
    seen: list[None] = []

    def forge_once_the_first_case_is_checked() -> None:
        seen.append(None)
        if len(seen) == 1:
            with db.begin() as session:
                session.execute(
                    update(CaseEvent)
                    .where(CaseEvent.case_id == ids[-1], CaseEvent.seq == 2)
                    .values(actor="mallory")
                )

    with db() as session:
        found = audit.verify_all(session, on_case=forge_once_the_first_case_is_checked)
    assert len(seen) == 5  # every case once, across three batches
    assert [(p.case_id, p.seq) for p in found] == [(ids[-1], 2)]


def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    db: sessionmaker[Session],
) -> None:
    _deploy(db)
    with pytest.raises(InvalidInput) as err:
        cases.open_case(db, actor=HANDLER, type_id="claim", data={}, now=NOW)
    assert err.value.field == "data.amount"
    with pytest.raises(InvalidInput) as err:
        cases.open_case(
            db, actor=HANDLER, type_id="claim", data={"amount": 5, "risk": "extreme"}, now=NOW
        )
    assert err.value.field == "data.risk"
    with pytest.raises(NotFound):
        cases.open_case(db, actor=HANDLER, type_id="nope", data={}, now=NOW)
    with db() as session:
        assert session.scalars(select(Case)).all() == []
    # A required field can be left out of a change, not removed by it (null), whichever
    # command carries the change.
    case_id = cases.open_case(
        db, actor=HANDLER, type_id="claim", data={"amount": 5}, now=NOW
    ).case_id

    def stored() -> tuple[int, dict[str, Any], int]:
        with db() as session:
            row = cases.get_row(session, case_id)
            return row.version, row.data, len(cases.events_of(session, case_id))

    opened = stored()
    for command in (
        c.SetVariables({"amount": None, "risk": "low"}),
        c.CompletePlanItem("assess", {"amount": None}),
    ):
        with pytest.raises(InvalidInput, match="cannot be removed") as err:
            cases.run_command(db, actor=SYSTEM, case_id=case_id, command=command, now=NOW)
        assert err.value.field == "data.amount"
    assert stored() == opened == (1, {"amount": 5}, opened[2])
    cases.run_command(
        db, actor=SYSTEM, case_id=case_id, command=c.SetVariables({"risk": "low"}), now=NOW
    )
    assert stored()[:2] == (2, {"amount": 5, "risk": "low"})


def test_work_is_for_its_role_and_refusals_change_nothing(db: sessionmaker[Session]) -> None:
    _deploy(db)
    ref = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 1}, now=NOW)
    with pytest.raises(Forbidden):
        cases.run_command(
            db, actor=MANAGER, case_id=ref.case_id, command=c.CompletePlanItem("assess"), now=NOW
        )
    with pytest.raises(Refused):
        cases.run_command(
            db, actor=MANAGER, case_id=ref.case_id, command=c.CompletePlanItem("approve"), now=NOW
        )
    with pytest.raises(Refused, match="only manager may plan"):
        cases.run_command(
            db,
            actor=HANDLER,
            case_id=ref.case_id,
            command=c.PlanDiscretionaryItem("ask_expert"),
            now=NOW,
        )
    with db() as session:
        row = session.get(Case, ref.case_id)
        assert row is not None and row.version == 1


def test_if_match_and_idempotency_keys(db: sessionmaker[Session]) -> None:
    _deploy(db)
    first = cases.open_case(
        db, actor=HANDLER, type_id="claim", data={"amount": 1}, now=NOW, idempotency_key="k1"
    )
    again = cases.open_case(
        db, actor=HANDLER, type_id="claim", data={"amount": 1}, now=NOW, idempotency_key="k1"
    )
    assert again == first
    with pytest.raises(InvalidInput):
        cases.open_case(
            db, actor=HANDLER, type_id="claim", data={"amount": 2}, now=NOW, idempotency_key="k1"
        )
    with pytest.raises(PreconditionFailed):
        cases.run_command(
            db,
            actor=HANDLER,
            case_id=first.case_id,
            command=c.CompletePlanItem("assess"),
            now=NOW,
            expected_version=7,
        )
    cmd = c.CompletePlanItem("assess")
    one = cases.run_command(
        db, actor=HANDLER, case_id=first.case_id, command=cmd, now=NOW, idempotency_key="k2"
    )
    two = cases.run_command(
        db, actor=HANDLER, case_id=first.case_id, command=cmd, now=NOW, idempotency_key="k2"
    )
    assert one == two and one.version == 2


def test_twenty_writers_on_one_case_lose_no_update(db: sessionmaker[Session]) -> None:
    _deploy(db)
    ref = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 1}, now=NOW)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            cases.run_command(
                db,
                actor=HANDLER,
                case_id=ref.case_id,
                command=c.SetVariables({f"field_{n}": n}),
                now=NOW + timedelta(seconds=n),
            )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db() as session:
        row = session.get(Case, ref.case_id)
        assert row is not None
        assert row.version == 21
        assert all(row.data[f"field_{n}"] == n for n in range(20))
        seqs = [e.seq for e in cases.events_of(session, ref.case_id)]
        assert seqs == list(range(1, len(seqs) + 1))
        assert audit.verify_case(session, ref.case_id) is None


def test_notes_and_links_go_on_the_audit_trail(db: sessionmaker[Session]) -> None:
    from casework.services import collaboration

    _deploy(db)
    one = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 1}, now=NOW)
    two = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 2}, now=NOW)
    note_id = collaboration.add_note(
        db, actor=HANDLER, case_id=one.case_id, body="Spoke to @max about it. cc @ana.", now=NOW
    )
    collaboration.link_cases(
        db, actor=HANDLER, case_id=one.case_id, other_id=two.case_id, kind="parent", now=NOW
    )
    with pytest.raises(InvalidInput):
        collaboration.add_note(db, actor=HANDLER, case_id=one.case_id, body="  ", now=NOW)
    with pytest.raises(InvalidInput):
        collaboration.link_cases(
            db, actor=HANDLER, case_id=one.case_id, other_id=two.case_id, kind="cousin", now=NOW
        )
    with db() as session:
        events = cases.events_of(session, one.case_id)
        assert [e.type for e in events[-2:]] == ["NoteAdded", "CasesLinked"]
        assert events[-2].payload == {
            "note_id": note_id,
            "body": "Spoke to @max about it. cc @ana.",
            "mentions": ["max", "ana"],
        }
        assert [
            (link.other_id, link.kind) for link in collaboration.links_of(session, two.case_id)
        ] == [(one.case_id, "child")]
        assert audit.verify_case(session, one.case_id) is None
        assert audit.verify_case(session, two.case_id) is None
        engine_only = collaboration.engine_events(events)
        assert all(e.type not in ("NoteAdded", "CasesLinked") for e in engine_only)
    # The engine still runs after non-engine events bumped the version.
    ref = cases.run_command(
        db, actor=HANDLER, case_id=one.case_id, command=c.CompletePlanItem("assess"), now=NOW
    )
    assert ref.status == "active"


def test_a_note_writes_the_case_row_once(db: sessionmaker[Session]) -> None:
    """An entry appended outside the engine updates the case row in one (direct)
    statement; the ORM must not write the new version and hash again at commit."""
    from casework.services import collaboration

    _deploy(db)
    ref = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 1}, now=NOW)
    bind = db.kw["bind"]
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        statements.append(" ".join(sql.split()))

    event.listen(bind, "before_cursor_execute", seen)
    try:
        collaboration.add_note(db, actor=HANDLER, case_id=ref.case_id, body="Called", now=NOW)
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    # Direct statements run on the DBAPI cursor: whatever SQLAlchemy executes is extra.
    assert [s for s in statements if s.startswith("UPDATE cases ")] == []
    with db() as session:
        row = session.get(Case, ref.case_id)
        assert row is not None and row.version == ref.version + 1
        assert audit.verify_case(session, ref.case_id) is None


def test_cases_are_found_by_case_file_fields_and_paged_by_cursor(
    db: sessionmaker[Session],
) -> None:
    from casework.services import queries

    _deploy(db)
    ids = []
    for n, (amount, risk) in enumerate(
        [(500, "low"), (1500, "medium"), (25000, "high"), (1200, "low")]
    ):
        ref = cases.open_case(
            db,
            actor=HANDLER,
            type_id="claim",
            owner="hana",
            data={"amount": amount, "risk": risk},
            now=NOW + timedelta(minutes=n),
        )
        ids.append(ref.case_id)
    with db() as session:

        def found(*filters: str) -> set[str]:
            page = queries.list_cases(session, actor=SYSTEM, filters=list(filters))
            return {row.id for row in page.cases}

        assert found("amount > 1000") == {ids[1], ids[2], ids[3]}
        assert found("amount > 1000", "risk = low") == {ids[3]}
        assert found("risk != 'low'") == {ids[1], ids[2]}
        assert found("amount <= 500") == {ids[0]}
        with pytest.raises(InvalidInput):
            queries.parse_filter("amount >> 3")
        first = queries.list_cases(session, actor=SYSTEM, limit=3)
        assert [r.id for r in first.cases] == ids[::-1][:3]
        assert first.next_cursor is not None
        rest = queries.list_cases(session, actor=SYSTEM, limit=3, cursor=first.next_cursor)
        assert [r.id for r in rest.cases] == [ids[0]] and rest.next_cursor is None
        # Someone who neither owns the cases, nor is in their team, nor holds a role the
        # claim type names sees none of them (services/access.py has the whole policy).
        stranger = Actor("sam", roles=frozenset({"gardener"}))
        assert queries.list_cases(session, actor=stranger).cases == []
        assert len(queries.list_cases(session, actor=Actor("hana")).cases) == 4


def test_new_cases_use_the_newest_version_and_running_cases_keep_theirs(
    db: sessionmaker[Session],
) -> None:
    _deploy(db)
    old = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 1}, now=NOW)
    v2 = CLAIM.replace(
        "    - task: Approve\n",
        "    - task: Double check\n      role: handler\n    - task: Approve\n",
    )
    deployed = case_types.deploy(db, actor=SYSTEM, source=v2, now=NOW)
    assert [(d.type_id, d.version, d.created) for d in deployed] == [("claim", 2, True)]
    assert case_types.deploy(db, actor=SYSTEM, source=v2, now=NOW)[0].created is False
    new = cases.open_case(db, actor=HANDLER, type_id="claim", data={"amount": 1}, now=NOW)
    with db() as session:
        assert cases.get_row(session, old.case_id).type_version == 1
        assert cases.get_row(session, new.case_id).type_version == 2
        names = {
            r.item_id
            for r in session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == new.case_id))
        }
        assert "double_check" in names
    # The old case still runs on version 1.
    cases.run_command(
        db, actor=HANDLER, case_id=old.case_id, command=c.CompletePlanItem("assess"), now=NOW
    )
    with pytest.raises(InvalidInput) as err:
        cases.run_command(
            db,
            actor=HANDLER,
            case_id=old.case_id,
            command=c.SetVariables({"amount": "lots"}),
            now=NOW,
        )
    assert err.value.field == "data.amount"
    with pytest.raises(InvalidInput):
        case_types.deploy(db, actor=SYSTEM, source="id: x\nplan: [", now=NOW)
    with pytest.raises(Forbidden):
        case_types.deploy(db, actor=HANDLER, source=v2, now=NOW)


def test_a_task_form_must_be_filled_before_the_task_completes(db: sessionmaker[Session]) -> None:
    form_type = """
id: form
name: Form
case_file:
  severity: {type: string, enum: [high, low]}
plan:
  items:
    - task: Triage
      form:
        severity: {type: enum, options: [high, low], required: true}
"""
    case_types.deploy(db, actor=SYSTEM, source=form_type, now=NOW)
    ref = cases.open_case(db, actor=HANDLER, type_id="form", now=NOW)
    with pytest.raises(InvalidInput) as err:
        cases.run_command(
            db, actor=HANDLER, case_id=ref.case_id, command=c.CompletePlanItem("triage"), now=NOW
        )
    assert err.value.field == "data.severity"
    with pytest.raises(InvalidInput):
        cases.run_command(
            db,
            actor=HANDLER,
            case_id=ref.case_id,
            command=c.CompletePlanItem("triage", {"severity": "huge"}),
            now=NOW,
        )
    done = cases.run_command(
        db,
        actor=HANDLER,
        case_id=ref.case_id,
        command=c.CompletePlanItem("triage", {"severity": "high"}),
        now=NOW,
    )
    assert done.status == "completed"


def test_the_log_opens_with_what_the_engine_does_not_know(db: sessionmaker[Session]) -> None:
    from casework.services.rebuild import rebuild_projections

    _deploy(db)
    ref = cases.open_case(
        db,
        actor=HANDLER,
        type_id="claim",
        data={"amount": 1},
        now=NOW,
        title="Flooded cellar",
        priority=1,
        owner="hana",
        team="south",
    )
    with db() as session:
        first = cases.events_of(session, ref.case_id)[0]
        assert (first.seq, first.type) == (1, "CaseOpened")
        assert first.payload == {
            "type": "claim",
            "version": 1,
            "title": "Flooded cellar",
            "priority": 1,
            "owner": "hana",
            "team": "south",
        }
        assert audit.verify_case(session, ref.case_id) is None
    # Projections lost their priority; the log still has it.
    with db.begin() as session:
        session.execute(update(Case).values(priority=5))
        session.execute(update(PlanItemRow).values(priority=5))
    rebuild_projections(db)
    with db() as session:
        assert cases.get_row(session, ref.case_id).priority == 1
        priorities = set(
            session.scalars(select(PlanItemRow.priority).where(PlanItemRow.case_id == ref.case_id))
        )
        assert priorities == {1}
