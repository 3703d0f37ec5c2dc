"""Requests, on SQLite and PostgreSQL: a case type with `requests:` lets anyone signed in
ask for a case of it. The requester is named on the case as it opens (same transaction,
on its log), the case goes to the type's team with nobody owning it yet, and the
requester chooses neither owner, team, priority nor confidentiality."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.people import cheap_hashing, make_user  # noqa: F401  (autouse fixture)

from casework.services import audit, case_actions, case_types, participants, timeline
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import Forbidden
from casework.services.identity import actor_for_user, get_user
from casework.services.rebuild import rebuild_projections
from casework.services.visibility import get_case
from casework.store.db import session_factory
from casework.store.identity_tables import CaseParticipant
from casework.store.tables import Case, CaseEvent

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HELPDESK = """
id: helpdesk
name: Help desk
roles: [agent]
requests:
  team: support
case_file:
  summary: {type: string, required: true}
plan:
  items:
    - task: Answer
      role: agent
"""
INTERNAL = """
id: audit_finding
name: Audit finding
roles: [auditor]
plan:
  items:
    - task: Fix
"""


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    for source in (HELPDESK, INTERNAL):
        case_types.deploy(db, actor=SYSTEM, source=source, now=NOW)
    make_user(db, "rita")
    make_user(db, "andy", roles=("agent",), teams=("support",))
    yield db


def _actor(db: sessionmaker[Session], username: str) -> Actor:
    with db() as session:
        return actor_for_user(session, get_user(session, username))


def _count(db: sessionmaker[Session], table: type[Case] | type[CaseEvent]) -> int:
    with db() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_anyone_asks_and_is_named_requester_in_the_same_change(
    db: sessionmaker[Session],
) -> None:
    rita = _actor(db, "rita")
    ref = case_actions.open_case(
        db,
        actor=rita,
        type_id="helpdesk",
        now=NOW,
        data={"summary": "My laptop will not start"},
        owner="rita",  # what the API passes when the owner is left out
    )
    with db() as session:
        case = get_case(session, rita, ref.case_id)
        assert (case.owner, case.team, case.priority) == (None, "support", 3)
        named = session.scalars(
            select(CaseParticipant.role).where(CaseParticipant.case_id == ref.case_id)
        ).all()
        assert named == ["requester"]
        last = session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == ref.case_id).order_by(CaseEvent.seq)
        ).all()[-1]
        assert (last.type, last.payload, last.actor) == (
            "ParticipantAdded",
            {"user": "rita", "role": "requester"},
            "rita",
        )
        assert case.last_seq == last.seq
        assert audit.verify_case(session, ref.case_id) is None
        entries = timeline.timeline(session, actor=SYSTEM, case_id=ref.case_id).entries
        assert any("rita" in e.summary and "requester" in e.summary for e in entries)
        mine = participants.cases_named_on(session, actor=rita, role="requester")
        assert [c.id for c in mine] == [ref.case_id]
    # The team's agent sees it in the team's cases, and a rebuild agrees with the rows.
    before = _count(db, CaseEvent)
    assert rebuild_projections(db) == 1
    assert _count(db, CaseEvent) == before


@pytest.mark.parametrize(
    "extra",
    [{"owner": "andy"}, {"team": "elsewhere"}, {"priority": 1}, {"confidential": True}],
    ids=["owner", "team", "priority", "confidential"],
)
def test_a_requester_chooses_none_of_the_routing(
    db: sessionmaker[Session], extra: dict[str, Any]
) -> None:
    rita = _actor(db, "rita")
    with pytest.raises(Forbidden):
        case_actions.open_case(
            db,
            actor=rita,
            type_id="helpdesk",
            now=NOW,
            data={"summary": "x"},
            **extra,
        )
    assert _count(db, Case) == 0 and _count(db, CaseEvent) == 0


def test_types_without_requests_stay_closed_and_workers_open_as_before(
    db: sessionmaker[Session],
) -> None:
    rita = _actor(db, "rita")
    with pytest.raises(Forbidden, match="needs a role"):
        case_actions.open_case(db, actor=rita, type_id="audit_finding", now=NOW)
    andy = _actor(db, "andy")
    ref = case_actions.open_case(
        db,
        actor=andy,
        type_id="helpdesk",
        now=NOW,
        data={"summary": "Printer"},
        owner="andy",
        priority=1,
    )
    with db() as session:
        case = session.get_one(Case, ref.case_id)
        assert (case.owner, case.priority) == ("andy", 1)
        assert session.scalar(select(func.count()).select_from(CaseParticipant)) == 0
