"""The people named on a case, and whether it is confidential: who besides its team and
role holders may see it (the policy is in `access.py`).

Each change goes on the case's event log like notes and links do
(`ParticipantAdded`, `ParticipantRemoved`, `ConfidentialityChanged`), so the audit trail
shows who let whom see a case; replaying the engine skips them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from casework.services.access import PARTICIPANT_ROLES, may_manage_participants, may_see_case
from casework.services.actors import Actor
from casework.services.case_log import append_entry, locked_case
from casework.services.errors import Forbidden, InvalidInput, NotFound
from casework.services.identity import aware, user_row
from casework.services.visibility import case_facts
from casework.store.identity_tables import CaseParticipant, User
from casework.store.tables import Case


@dataclass(frozen=True, slots=True)
class Participant:
    username: str
    role: str
    added_by: str
    created_at: datetime


def participants_of(session: Session, *, actor: Actor, case_id: str) -> list[Participant]:
    if not may_see_case(actor, case_facts(session, case_id)):
        raise NotFound(f"no case {case_id}")
    rows = session.execute(
        select(
            User.username,
            CaseParticipant.role,
            CaseParticipant.added_by,
            CaseParticipant.created_at,
        )
        .join(User, User.id == CaseParticipant.user_id)
        .where(CaseParticipant.case_id == case_id)
        .order_by(User.username)
    )
    return [Participant(u, r, by, aware(at)) for u, r, by, at in rows]


def add_participant(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    username: str,
    role: str,
    now: datetime,
) -> None:
    """Name a person on a case (their role changes if they are named already)."""
    with db.begin() as session:
        add_in(session, actor=actor, case_id=case_id, username=username, role=role, now=now)


def add_in(
    session: Session, *, actor: Actor, case_id: str, username: str, role: str, now: datetime
) -> None:
    """`add_participant` in the caller's transaction."""
    if role not in PARTICIPANT_ROLES:
        allowed = ", ".join(sorted(PARTICIPANT_ROLES))
        raise InvalidInput(f"role must be one of: {allowed}", field="role")
    row = _writable(session, actor, case_id)
    user = user_row(session, username)
    existing = session.get(CaseParticipant, (case_id, user.id))
    if existing is not None and existing.role == role:
        return
    if existing is not None:
        existing.role = role
    else:
        session.execute(
            insert(CaseParticipant).values(
                case_id=case_id, user_id=user.id, role=role, added_by=actor.id, created_at=now
            )
        )
    append_entry(
        session, row, "ParticipantAdded", {"user": user.username, "role": role}, actor, now
    )


def remove_participant(
    db: sessionmaker[Session], *, actor: Actor, case_id: str, username: str, now: datetime
) -> None:
    with db.begin() as session:
        remove_in(session, actor=actor, case_id=case_id, username=username, now=now)


def remove_in(
    session: Session, *, actor: Actor, case_id: str, username: str, now: datetime
) -> None:
    """`remove_participant` in the caller's transaction."""
    row = _writable(session, actor, case_id)
    user = user_row(session, username)
    gone = session.execute(
        delete(CaseParticipant)
        .where(CaseParticipant.case_id == case_id, CaseParticipant.user_id == user.id)
        .returning(CaseParticipant.user_id)
    ).first()
    if gone is not None:
        append_entry(session, row, "ParticipantRemoved", {"user": user.username}, actor, now)


def set_confidential(
    db: sessionmaker[Session], *, actor: Actor, case_id: str, confidential: bool, now: datetime
) -> None:
    """Only admins and the case's owner may hide a case from its team and role holders."""
    with db.begin() as session:
        confidential_in(session, actor=actor, case_id=case_id, confidential=confidential, now=now)


def confidential_in(
    session: Session, *, actor: Actor, case_id: str, confidential: bool, now: datetime
) -> None:
    """`set_confidential` in the caller's transaction."""
    facts = case_facts(session, case_id)
    if not may_see_case(actor, facts):
        raise NotFound(f"no case {case_id}")
    if not (actor.is_admin or facts.owner == actor.id):
        raise Forbidden("only the case's owner or an administrator may change this")
    row = locked_case(session, case_id)
    if row.confidential == confidential:
        return
    append_entry(
        session,
        row,
        "ConfidentialityChanged",
        {"confidential": confidential},
        actor,
        now,
        confidential=confidential,
    )


def _writable(session: Session, actor: Actor, case_id: str) -> Case:
    facts = case_facts(session, case_id)
    if not may_see_case(actor, facts):
        raise NotFound(f"no case {case_id}")
    if not may_manage_participants(actor, facts):
        raise Forbidden("only the case's owner, its team or an administrator may name people")
    return locked_case(session, case_id)


def cases_named_on(
    session: Session, *, actor: Actor, role: str | None = None, limit: int = 50
) -> list[Case]:
    """The cases `actor` is named on (as `role`, or any), newest first: what a requester
    calls "my requests". Being named on a case is seeing it, confidential or not."""
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be between 1 and 500", field="limit")
    query = (
        select(Case)
        .join(CaseParticipant, CaseParticipant.case_id == Case.id)
        .join(User, User.id == CaseParticipant.user_id)
        .where(User.username == actor.id)
        .order_by(Case.opened_at.desc(), Case.id.desc())
        .limit(limit)
    )
    if role is not None:
        query = query.where(CaseParticipant.role == role)
    return list(session.scalars(query).all())
