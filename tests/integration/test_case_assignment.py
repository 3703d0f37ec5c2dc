"""Reassigning and re-prioritising cases on SQLite and PostgreSQL: one log entry per kind
of change, who may, the new owner's sight of the case, If-Match and idempotency keys,
the tasks' priority in queues and inboxes, and the case file's priority alongside."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from tests.people import make_user

from casework.engine import commands as c
from casework.services import audit, case_types, cases, participants, timeline, work
from casework.services.actors import SYSTEM, Actor
from casework.services.case_assignment import reassign_case
from casework.services.case_commands import CaseRef
from casework.services.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed
from casework.services.identity import actor_for_username
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.identity_tables import User
from casework.store.tables import Case, CaseEvent, PlanItemRow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLAIM = """
id: claim
name: Claim
roles: [handler, manager]
case_file:
  amount: number
  priority: integer
plan:
  items:
    - task: Assess
      role: handler
    - task: Approve
      role: handler
      after: Assess
"""


@dataclass(frozen=True)
class World:
    db: sessionmaker[Session]
    case: str  # owner olga, team north, rita its requester

    def actor(self, username: str) -> Actor:
        with self.db() as session:
            found = actor_for_username(session, username)
        assert found is not None, username
        return found

    def row(self, case_id: str | None = None) -> Case:
        with self.db() as session:
            row = session.get(Case, case_id or self.case)
            assert row is not None
            return row

    def entries(self, case_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        with self.db() as session:
            rows = session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == (case_id or self.case))
                .order_by(CaseEvent.seq)
            )
            return [(r.type, dict(r.payload)) for r in rows]

    def items(self, case_id: str) -> dict[str, tuple[str, int]]:
        with self.db() as session:
            rows = session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == case_id))
            return {r.item_id: (r.state, r.priority) for r in rows}


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
    people: dict[str, dict[str, Any]] = {
        "olga": {},
        "wendy": {"teams": ("north",)},
        "sid": {"teams": ("south",)},
        "hank": {"roles": ("handler",)},
        "mia": {"roles": ("manager", "case_manager")},
        "carl": {"roles": ("manager@claim", "case_manager@claim")},
        "rita": {},
        "nina": {},
        "ivan": {"teams": ("north",)},
        "ada": {"is_admin": True},
    }
    for username, grants in people.items():
        make_user(db, username, password=None, **grants)
    with db.begin() as session:
        session.execute(update(User).where(User.username == "ivan").values(active=False))
    case_id = cases.open_case(
        db, actor=SYSTEM, type_id="claim", owner="olga", team="north", now=NOW
    ).case_id
    participants.add_participant(
        db, actor=SYSTEM, case_id=case_id, username="rita", role="requester", now=NOW
    )
    yield World(db, case_id)
    engine.dispose()


def _change(world: World, who: str | Actor, case_id: str | None = None, **kw: Any) -> CaseRef:
    actor = who if isinstance(who, Actor) else world.actor(who)
    kw.setdefault("now", NOW + timedelta(hours=1))
    return reassign_case(world.db, actor=actor, case_id=case_id or world.case, **kw)


def test_each_change_is_one_entry_of_the_log_and_moves_the_case(world: World) -> None:
    at = NOW + timedelta(hours=1)
    before = world.row().version
    ref = _change(world, "olga", owner="wendy", now=at)
    assert ref.version == before + 1 and ref.status == "active"
    row = world.row()
    assert (row.owner, row.team, row.priority, row.version) == ("wendy", "north", 3, before + 1)
    assert row.updated_at.replace(tzinfo=UTC) == at
    assert world.entries()[-1] == ("CaseReassigned", {"owner": {"from": "olga", "to": "wendy"}})

    _change(world, "ada", team="south")
    assert world.entries()[-1] == ("CaseReassigned", {"team": {"from": "north", "to": "south"}})
    _change(world, "wendy", priority=1)
    assert world.entries()[-1] == ("CasePriorityChanged", {"priority": {"from": 3, "to": 1}})

    # All at once: both entries, one change of the case (its version moves on by one).
    ref = _change(world, "wendy", owner="hank", team=None, priority=5)
    assert ref.version == before + 4
    assert world.entries()[-2:] == [
        (
            "CaseReassigned",
            {"owner": {"from": "wendy", "to": "hank"}, "team": {"from": "south", "to": None}},
        ),
        ("CasePriorityChanged", {"priority": {"from": 1, "to": 5}}),
    ]
    row = world.row()
    assert (row.owner, row.team, row.priority, row.version) == ("hank", None, 5, before + 4)
    _change(world, "ada", owner=None)
    assert world.row().owner is None

    with world.db() as session:
        assert audit.verify_case(session, world.case) is None  # the chain holds
        page = timeline.timeline(session, actor=SYSTEM, case_id=world.case, limit=6)
    assert [e.summary for e in page.entries][:6] == [
        "reassigned: owner hank → (none)",
        "priority changed: 1 → 5",
        "reassigned: owner wendy → hank, team south → (none)",
        "priority changed: 3 → 1",
        "reassigned: team north → south",
        "reassigned: owner olga → wendy",
    ]


def test_a_change_to_what_the_case_has_writes_nothing(world: World) -> None:
    before = world.row().version, len(world.entries())
    ref = _change(world, "olga", owner=" OLGA ", team=" north ", priority=3)
    assert ref.version == before[0]
    assert (world.row().version, len(world.entries())) == before
    with pytest.raises(InvalidInput, match="say what to change"):
        _change(world, "olga")


def test_who_may_reassign_and_reprioritise(world: World) -> None:
    outcomes: dict[str, type[Exception] | None] = {
        "nina": NotFound,  # does not see it
        "sid": NotFound,  # another team's member
        "rita": Forbidden,  # its requester: sees it, does not manage it
        "hank": Forbidden,  # a role holder: works on it, does not manage it
        "wendy": None,  # its team
        "olga": None,  # its owner
        "mia": None,  # a case manager
        "carl": None,  # a case manager for claims only
        "ada": None,  # an administrator
    }
    for n, (who, refusal) in enumerate(outcomes.items()):
        version = world.row().version
        priority = 1 + n % 2  # another one each time
        if refusal is None:
            assert _change(world, who, priority=priority).version == version + 1, who
        else:
            with pytest.raises(refusal) as caught:
                _change(world, who, priority=priority)
            if refusal is NotFound:
                assert str(caught.value) == f"no case {world.case}"  # as if there were none
            assert world.row().version == version, who
    with pytest.raises(NotFound):
        _change(world, SYSTEM, case_id="C-NOPE", priority=1)


def test_the_new_owner_must_exist_and_see_the_case(world: World) -> None:
    refusals: list[tuple[dict[str, Any], str, str]] = [
        ({"owner": "nina"}, "owner", "nina may not see this case"),
        ({"owner": "ghost"}, "owner", "no active user ghost"),
        ({"owner": "ivan"}, "owner", "no active user ivan"),  # deactivated
        ({"owner": "sid"}, "owner", "sid may not see this case"),  # not in its team
        ({"team": "nowhere"}, "team", "no team nowhere"),
        ({"priority": 0}, "priority", r"between 1 \(highest\) and 5"),
        ({"priority": 6}, "priority", r"between 1 \(highest\) and 5"),
        ({"priority": True}, "priority", r"between 1 \(highest\) and 5"),
    ]
    version = world.row().version
    for changes, field, message in refusals:
        with pytest.raises(InvalidInput, match=message) as caught:
            _change(world, "ada", **changes)
        assert caught.value.field == field, changes
    assert world.row().version == version
    # sid sees the case through its new team: checked against the case as it will be.
    _change(world, "olga", owner="sid", team="south")
    assert (world.row().owner, world.row().team) == ("sid", "south")
    # Someone named on it may own it; so may a holder of a role its type names.
    _change(world, "sid", owner="rita")
    _change(world, "rita", owner="hank")
    assert world.row().owner == "hank"


def test_a_confidential_case_stays_with_the_people_named_on_it(world: World) -> None:
    secret = cases.open_case(
        world.db,
        actor=SYSTEM,
        type_id="claim",
        owner="olga",
        team="north",
        confidential=True,
        now=NOW,
    ).case_id
    participants.add_participant(
        world.db, actor=SYSTEM, case_id=secret, username="rita", role="named", now=NOW
    )
    with pytest.raises(NotFound):  # its team does not see it
        _change(world, "wendy", secret, priority=1)
    with pytest.raises(InvalidInput, match="confidential: name them on it first"):
        _change(world, "olga", secret, owner="wendy")
    _change(world, "olga", secret, owner="rita", team="south")
    assert (world.row(secret).owner, world.row(secret).team) == ("rita", "south")
    with pytest.raises(NotFound):  # handed over: olga is not named on it any more
        _change(world, "olga", secret, priority=1)
    _change(world, "rita", secret, priority=1)


def test_a_new_priority_moves_the_open_tasks_in_queues_and_inboxes(world: World) -> None:
    handler = world.actor("hank")
    first, second = (
        cases.open_case(
            world.db, actor=SYSTEM, type_id="claim", team="north", now=NOW + timedelta(minutes=m)
        ).case_id
        for m in (1, 2)
    )

    def queued() -> list[tuple[str, int]]:
        with world.db() as session:
            page = work.queue(session, actor=handler, role="handler", now=NOW)
        return [(t.case_id, t.priority) for t in page.items if t.case_id in (first, second)]

    assert queued() == [(first, 3), (second, 3)]
    _change(world, "wendy", second, priority=1)
    assert queued() == [(second, 1), (first, 3)]
    assert world.items(second) == {
        "casePlanModel": ("active", 1),
        "assess": ("active", 1),
        "approve": ("available", 1),
    }
    # claim_next takes the head of the queue (then the shared case's task, then first's).
    claimed = [work.claim_next(world.db, actor=handler, role="handler", now=NOW) for _ in "abc"]
    assert [t.case_id if t else None for t in claimed] == [second, world.case, first]
    _change(world, "wendy", second, priority=5)
    with world.db() as session:
        inbox = [(t.case_id, t.priority) for t in work.inbox(session, assignee="hank")]
        mine = work.my_tasks(session, actor=handler, now=NOW).items
    assert [entry for entry in inbox if entry[0] in (first, second)] == [(first, 3), (second, 5)]
    assert [t.case_id for t in mine if t.case_id in (first, second)] == [first, second]
    # Ended work keeps the priority it was done at; what is open (or comes) takes the new.
    cases.run_command(
        world.db, actor=handler, case_id=second, command=c.CompletePlanItem("assess"), now=NOW
    )
    _change(world, "wendy", second, priority=2)
    assert world.items(second) == {
        "casePlanModel": ("active", 2),
        "assess": ("completed", 5),
        "approve": ("active", 2),
    }


def test_the_case_files_priority_and_a_persons_change_the_last_one_holds(
    world: World,
) -> None:
    handler = world.actor("hank")
    case_id = cases.open_case(
        world.db, actor=SYSTEM, type_id="claim", team="north", data={"priority": 4}, now=NOW
    ).case_id

    def set_data(**values: Any) -> None:
        cases.run_command(
            world.db, actor=handler, case_id=case_id, command=c.SetVariables(values), now=NOW
        )

    assert world.row(case_id).priority == 4
    _change(world, "wendy", case_id, priority=1)
    assert world.items(case_id)["assess"] == ("active", 1)
    set_data(amount=10)  # leaves the case file's priority alone: the person's stays
    set_data(priority=4)  # the value it already had: no change of the case file's
    assert world.row(case_id).priority == 1
    set_data(priority=2)  # a new value: the case's priority follows it, as it always did
    assert world.row(case_id).priority == 2
    # ... and so does its open work, as after a person's change.
    assert world.items(case_id)["assess"] == ("active", 2)
    assert world.row(case_id).data["priority"] == 2  # never written by a person's change


def test_if_match_and_idempotency_keys(world: World) -> None:
    version = world.row().version
    with pytest.raises(PreconditionFailed, match=f"at version {version}, not {version - 1}"):
        _change(world, "olga", priority=1, expected_version=version - 1)
    assert world.row().version == version
    ref = _change(world, "olga", priority=1, expected_version=version)
    assert ref.version == version + 1

    count = len(world.entries())
    one = _change(world, "olga", priority=2, idempotency_key="k1")
    two = _change(world, "olga", priority=2, idempotency_key="k1", now=NOW + timedelta(hours=2))
    assert one == two and len(world.entries()) == count + 1
    with pytest.raises(InvalidInput) as caught:  # the same key, another request
        _change(world, "olga", priority=4, idempotency_key="k1")
    assert caught.value.field == "Idempotency-Key"
    # The key is the actor's: the same one from someone else is another request.
    assert _change(world, "wendy", priority=4, idempotency_key="k1").version == one.version + 1


def _in_threads(count: int, work_of: Any) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work_of(n)
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_writers_queue_on_the_case_and_lose_nothing(world: World) -> None:
    handler = world.actor("hank")
    version = world.row().version

    def writer(n: int) -> None:
        at = NOW + timedelta(minutes=n)
        if n % 2:
            cases.run_command(
                world.db,
                actor=handler,
                case_id=world.case,
                command=c.SetVariables({"amount": n}),
                now=at,
            )
        else:
            _change(world, "olga", priority=1 + (n // 2) % 5, now=at)

    assert _in_threads(10, writer) == []
    changes = [p["priority"] for t, p in world.entries() if t == "CasePriorityChanged"]
    # Each change starts from where the one before it left the case: none was lost.
    assert all(a["to"] == b["from"] for a, b in itertools.pairwise(changes))
    assert changes[0]["from"] == 3 and changes[-1]["to"] == world.row().priority
    assert world.row().version == version + 5 + len(changes)
    with world.db() as session:
        assert audit.verify_case(session, world.case) is None

    # One request sent several times at once with its key: done once, the same answer.
    refs: list[CaseRef] = []
    lock = threading.Lock()

    def repeat(_n: int) -> None:
        ref = _change(world, "olga", owner="hank", idempotency_key="once")
        with lock:
            refs.append(ref)

    count = len(world.entries())
    assert _in_threads(4, repeat) == []
    assert len(set(refs)) == 1 and len(world.entries()) == count + 1
