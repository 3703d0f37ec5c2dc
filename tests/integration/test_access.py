"""Who may see which case, on SQLite and PostgreSQL: the policy of services/access.py in
SQL (`get_case`, `list_cases`) and in memory (`may_see_case`) agree on every person."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.people import NOW, cheap_hashing, make_user  # noqa: F401

from casework.services import access, audit, case_types, cases, participants, queries
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import Forbidden, InvalidInput, NotFound
from casework.services.visibility import case_facts, case_type_roles, get_case
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, CaseEvent

CLAIM = """
id: claim
name: Claim
roles: [handler, manager]
case_file:
  amount: {type: number}
plan:
  items:
    - task: Assess
      role: handler
    - task: Approve
      role: manager
      after: Assess
"""
OTHER = """
id: other
name: Other
roles: [clerk]
plan:
  items:
    - task: File
      role: clerk
"""


@dataclass(frozen=True)
class World:
    db: sessionmaker[Session]
    open_case: str  # team north, requester rita
    secret_case: str  # confidential, team north, owner olga, participant rita
    actors: dict[str, Actor]


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    db = session_factory(engine)
    for source in (CLAIM, OTHER):
        case_types.deploy(db, actor=SYSTEM, source=source, now=NOW)
    for username in ("rita", "olga", "nina"):
        make_user(db, username)
    open_case = cases.open_case(db, actor=SYSTEM, type_id="claim", team="north", now=NOW).case_id
    secret_case = cases.open_case(
        db, actor=SYSTEM, type_id="claim", team="north", owner="olga", now=NOW
    ).case_id
    participants.add_participant(
        db, actor=SYSTEM, case_id=open_case, username="rita", role="requester", now=NOW
    )
    participants.add_participant(
        db, actor=SYSTEM, case_id=secret_case, username="rita", role="named", now=NOW
    )
    participants.set_confidential(
        db, actor=Actor("olga"), case_id=secret_case, confidential=True, now=NOW
    )
    actors = {
        "nobody": Actor("nina"),
        "requester": Actor("rita"),
        "owner": Actor("olga"),
        "worker of another team": Actor("walt", teams=frozenset({"south"})),
        "worker of the team": Actor("wendy", teams=frozenset({"north"})),
        "role holder": Actor("hank", roles=frozenset({"handler"})),
        "role holder for the type": Actor("sid", type_roles=frozenset({("claim", "handler")})),
        "role holder for another type": Actor("otto", type_roles=frozenset({("other", "handler")})),
        "holder of another type's role": Actor("cleo", roles=frozenset({"clerk"})),
        "manager": Actor("mia", roles=frozenset({"manager"})),
        "admin": Actor("ada", is_admin=True),
        "system": SYSTEM,
    }
    yield World(db, open_case, secret_case, actors)
    engine.dispose()


SEES_OPEN = {
    "requester",
    "worker of the team",
    "role holder",
    "role holder for the type",
    "manager",
    "admin",
    "system",
}
SEES_SECRET = {"requester", "owner", "admin", "system"}


def test_the_visibility_matrix(world: World) -> None:
    with world.db() as session:
        for who, actor in world.actors.items():
            listed = {row.id for row in queries.list_cases(session, actor=actor).cases}
            for case_id, seers in ((world.open_case, SEES_OPEN), (world.secret_case, SEES_SECRET)):
                expected = who in seers
                in_memory = access.may_see_case(actor, case_facts(session, case_id))
                assert in_memory is expected, (who, case_id)
                assert (case_id in listed) is expected, (who, case_id)
                if expected:
                    assert get_case(session, actor, case_id).id == case_id
                else:
                    # Not Forbidden: they must not learn that the case exists.
                    with pytest.raises(NotFound) as caught:
                        get_case(session, actor, case_id)
                    assert str(caught.value) == f"no case {case_id}"
        with pytest.raises(NotFound):
            get_case(session, SYSTEM, "C-NOPE")


def test_who_works_on_a_case_agrees_in_sql_and_in_memory(world: World) -> None:
    """`access.worked_cases_condition` (which cases a search may find by their internal
    notes) selects exactly what `may_work_on_case` allows, for every person of the
    matrix."""
    with world.db() as session:
        for who, actor in world.actors.items():
            condition = access.worked_cases_condition(actor, case_type_roles(session))
            worked = set(session.scalars(select(Case.id).where(condition)))
            for case_id in (world.open_case, world.secret_case):
                in_memory = access.may_work_on_case(actor, case_facts(session, case_id))
                assert (case_id in worked) is in_memory, (who, case_id)
            if who == "requester":
                assert worked == set(), "a requester works on nothing"
            if who in ("admin", "system", "owner"):
                assert world.secret_case in worked, who


def test_case_type_roles_are_every_role_a_version_names(world: World) -> None:
    with world.db() as session:
        roles = case_type_roles(session)
    assert roles == {("claim", 1): {"handler", "manager"}, ("other", 1): {"clerk"}}
    # A new version that drops a role: the cases of version 1 keep theirs.
    case_types.deploy(
        world.db,
        actor=SYSTEM,
        source=CLAIM.replace("role: manager", "role: handler").replace(", manager]", "]"),
        now=NOW,
    )
    mia = world.actors["manager"]
    newer = cases.open_case(world.db, actor=SYSTEM, type_id="claim", now=NOW).case_id
    with world.db() as session:
        assert case_type_roles(session)[("claim", 2)] == {"handler"}
        assert get_case(session, mia, world.open_case).id == world.open_case
        with pytest.raises(NotFound):
            get_case(session, mia, newer)


def test_who_may_name_people_and_make_a_case_confidential(world: World) -> None:
    case_id, a = world.open_case, world.actors

    def add(actor: Actor, username: str = "nina", role: str = "named") -> None:
        participants.add_participant(
            world.db, actor=actor, case_id=case_id, username=username, role=role, now=NOW
        )

    add(a["worker of the team"], role="participant")
    with pytest.raises(Forbidden):  # sees it through a role, but is not its team
        add(a["role holder"])
    with pytest.raises(NotFound):  # does not see it at all
        add(a["worker of another team"])
    with pytest.raises(InvalidInput):
        add(SYSTEM, role="boss")
    with pytest.raises(NotFound):
        add(SYSTEM, username="ghost")
    with world.db() as session:
        named = participants.participants_of(session, actor=SYSTEM, case_id=case_id)
        assert [(p.username, p.role) for p in named] == [
            ("nina", "participant"),
            ("rita", "requester"),
        ]
        assert get_case(session, Actor("nina"), case_id).id == case_id
    with pytest.raises(Forbidden):  # only the owner or an admin hides a case
        participants.set_confidential(
            world.db, actor=a["worker of the team"], case_id=case_id, confidential=True, now=NOW
        )
    participants.set_confidential(
        world.db, actor=SYSTEM, case_id=case_id, confidential=True, now=NOW
    )
    participants.remove_participant(
        world.db, actor=SYSTEM, case_id=case_id, username="nina", now=NOW
    )
    with world.db() as session:
        with pytest.raises(NotFound):
            get_case(session, Actor("nina"), case_id)
        with pytest.raises(NotFound):
            get_case(session, a["worker of the team"], case_id)
        # Every change is on the case's hash-chained log, which still verifies.
        types = session.scalars(
            select(CaseEvent.type).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        ).all()
        assert types[-4:] == [
            "ParticipantAdded",
            "ParticipantAdded",
            "ConfidentialityChanged",
            "ParticipantRemoved",
        ]
        assert audit.verify_case(session, case_id) is None
        assert session.get(Case, case_id).confidential is True  # type: ignore[union-attr]


def test_deploying_case_types_needs_an_admin_or_the_grant(world: World) -> None:
    assert access.may_deploy_case_types(Actor("x", roles=frozenset({access.CASE_TYPE_ADMIN})))
    assert access.may_deploy_case_types(world.actors["admin"])
    assert not access.may_deploy_case_types(world.actors["role holder"])
    with pytest.raises(Forbidden):
        case_types.deploy(world.db, actor=world.actors["manager"], source=OTHER, now=NOW)
    assert access.may_administer_users(SYSTEM)
    assert not access.may_administer_users(Actor("x", roles=frozenset({"admin"})))
