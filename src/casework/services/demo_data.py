"""Demo data for `casework run`: the built-in case types, a person for every role they
name, and a few hundred cases at every stage of their lives.

Every case is real: opened and moved on through the same services a person's clicks go
through, by the person holding the role each step needs, at simulated times spread over
the past weeks — so timelines, inboxes, queues, overdue work and closed cases all look
like an office that has been running for a while. Deterministic for a given seed.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import CaseEngine, CaseInstance
from casework.engine import commands as c
from casework.engine.serialize import load_state
from casework.engine.states import CaseState
from casework.services import (
    case_relations,
    case_types,
    cases,
    identity,
    membership,
    participants,
    work,
)
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import Conflict, ServiceError
from casework.store.identity_tables import User
from casework.store.tables import Case
from casework.templates import list_templates, load_template, template_text
from casework.templates.walk import next_step, sample_case_file

# Printed by `casework run`: demo accounts are for trying the product on one machine.
DEMO_PASSWORD = "casework-demo"
ADMIN = "admin"
# Someone who asked for things: named as the requester on every REQUESTED-th case, where
# the case's people also leave them a note and write an internal one.
REQUESTER = "requester"
REQUESTED = 10
# How far back the oldest demo case was opened, and how many steps a case may take.
HISTORY = timedelta(days=45)
MAX_STEPS = 14


@dataclass
class DemoData:
    users: dict[str, list[str]] = field(default_factory=dict)  # case type -> usernames
    cases: int = 0
    closed: int = 0
    requested: list[str] = field(default_factory=list)  # the requester's cases


def has_people(db: sessionmaker[Session]) -> bool:
    with db() as session:
        return bool(session.scalar(select(func.count()).select_from(User)))


def seed(
    db: sessionmaker[Session], *, now: datetime, n_cases: int = 300, seed: int = 7
) -> DemoData:
    """Deploy the built-in case types, create the demo people and open `n_cases` cases."""
    rng = random.Random(seed)
    result = DemoData()
    identity.create_user(
        db,
        actor=SYSTEM,
        username=ADMIN,
        name="Ada Admin",
        email="admin@example.org",
        password=DEMO_PASSWORD,
        is_admin=True,
        now=now,
    )
    identity.create_user(
        db,
        actor=SYSTEM,
        username=REQUESTER,
        name="Rita Requester",
        email="requester@example.org",
        password=DEMO_PASSWORD,
        now=now,
    )
    types = list_templates()
    for type_id in types:
        case_types.deploy(db, actor=SYSTEM, source=template_text(type_id), now=now)
        result.users[type_id] = _people(db, type_id, now)
    for i in range(n_cases):
        type_id = types[i % len(types)]
        opened = now - HISTORY * rng.random()
        # The requester's cases: their first person writes to them, and about them.
        writer = result.users[type_id][0] if i % REQUESTED == 0 else None
        case_id, closed = _walk(db, type_id, opened, now, rng, requested_by=writer)
        if writer is not None:
            result.requested.append(case_id)
        result.cases += 1
        result.closed += closed
    _fill_inboxes(db, result, now, rng)
    return result


def _people(db: sessionmaker[Session], type_id: str, now: datetime) -> list[str]:
    """One person per role of the case type (shared by types naming the same role), all
    in the type's team."""
    team = type_id.replace("_", " ")
    membership.create_team(db, actor=SYSTEM, name=team, now=now)
    usernames = []
    for role in load_template(type_id).roles:
        username = role.name.lower()
        # Another case type may name the same role: then one person holds it for both.
        with contextlib.suppress(ServiceError):
            identity.create_user(
                db,
                actor=SYSTEM,
                username=username,
                name=role.name.replace("_", " ").title(),
                email=f"{username}@example.org",
                password=DEMO_PASSWORD,
                now=now,
            )
        membership.grant_role(db, actor=SYSTEM, username=username, role=role.name, now=now)
        membership.add_member(db, actor=SYSTEM, team=team, username=username, now=now)
        usernames.append(username)
    return usernames


def _walk(
    db: sessionmaker[Session],
    type_id: str,
    opened: datetime,
    now: datetime,
    rng: random.Random,
    *,
    requested_by: str | None = None,
) -> tuple[str, bool]:
    """Open one case and move it on a random number of steps, never past `now`; its id,
    and whether it ended up closed. With `requested_by`, the demo requester is named on
    it and that person of the case's writes notes first (`_correspond`)."""
    with db() as session:
        version = case_types.latest_version(session, type_id)
        engine = case_types.engine_for(session, type_id, version)
    team = type_id.replace("_", " ")
    ref = cases.open_case(
        db,
        actor=SYSTEM,
        type_id=type_id,
        now=opened,
        data=sample_case_file(engine, rng),
        priority=rng.choice((1, 2, 3, 3, 3, 4, 5)),
        team=team,
    )
    at, planned = opened, set[str]()
    if requested_by is not None:
        participants.add_participant(
            db, actor=SYSTEM, case_id=ref.case_id, username=REQUESTER, role="requester", now=at
        )
        if at + timedelta(hours=1) <= now:  # notes from the future would read oddly
            at = _correspond(db, ref.case_id, requested_by, at)
    for _ in range(rng.randint(0, MAX_STEPS)):
        state = _state(db, ref.case_id, engine)
        if state.ended:
            if state.status is not CaseState.CLOSED and at + timedelta(days=1) < now:
                at += timedelta(days=1)
                cases.run_command(
                    db, actor=SYSTEM, case_id=ref.case_id, command=c.CloseCase(), now=at
                )
            break
        step = next_step(engine, state, planned, rng)
        if step is None:
            due = engine.next_due(state)
            if due is None or due > now:
                break
            at, actor = max(at, due), SYSTEM
            command: c.Command = c.FireDueTimers()
        else:
            at += timedelta(hours=rng.uniform(1, 30))
            if at > now:
                break
            command = step.command
            actor = _person(step.role)
        try:
            cases.run_command(db, actor=actor, case_id=ref.case_id, command=command, now=at)
        except ServiceError:
            break  # e.g. a form value a rule refuses: leave the case where it is
    return ref.case_id, _state(db, ref.case_id, engine).status is CaseState.CLOSED


def _correspond(db: sessionmaker[Session], case_id: str, worker: str, at: datetime) -> datetime:
    """A note to the requester, then one for the case's people only, from `worker`; the
    time of the last."""
    with db() as session:
        person = identity.actor_for_username(session, worker)
    assert person is not None  # made by `_people`
    at += timedelta(minutes=30)
    case_relations.add_note(
        db,
        actor=person,
        case_id=case_id,
        body=f"@{REQUESTER} we have your request and will keep you posted here.",
        now=at,
    )
    at += timedelta(minutes=10)
    case_relations.add_note(
        db,
        actor=person,
        case_id=case_id,
        body="Checked the file against last year's: nothing unusual so far.",
        now=at,
        internal=True,
    )
    return at


def _person(role: str | None) -> Actor:
    if role is None:
        return SYSTEM
    return Actor(role.lower(), roles=frozenset({role}))


def _state(db: sessionmaker[Session], case_id: str, engine: CaseEngine) -> CaseInstance:
    with db() as session:
        raw = session.scalar(select(Case.state).where(Case.id == case_id))
    assert raw is not None, case_id  # opened by this very module
    return load_state(raw, engine.compiled)


def _fill_inboxes(
    db: sessionmaker[Session], result: DemoData, now: datetime, rng: random.Random
) -> None:
    """Everyone claims a few tasks from their queues, so inboxes are not empty."""
    for type_id, usernames in result.users.items():
        for username in usernames:
            roles = load_template(type_id).roles
            role = next((r.name for r in roles if r.name.lower() == username), None)
            if role is None:
                continue
            actor = Actor(username, roles=frozenset({role}))
            for _ in range(rng.randint(1, 4)):
                try:
                    if work.claim_next(db, actor=actor, role=role, now=now) is None:
                        break
                except Conflict:
                    break
