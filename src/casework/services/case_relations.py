"""Notes, links, participants and confidentiality as people change them (the API's rules),
on top of `collaboration.py` and `participants.py`.

Those services write; these add who may (a case one may not see is NotFound), check
what a request names (another case, a person), and honour Idempotency-Key.

- **Notes**: whoever sees a case may add one. A note that mentions a person who may not
  see the case is refused (422, naming them) rather than sent with the mention dropped:
  the writer believes they told someone, and must name them on the case first or leave
  the mention out. `@words` that name no active account are just text.
- **Links**: whoever sees both cases may link or unlink them. A link to a case the
  reader may not see is left out of lists, so its id is never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from casework.services import collaboration, participants
from casework.services.access import CaseFacts, may_read_internal_notes, may_see_case
from casework.services.actors import Actor
from casework.services.cursors import before_cursor, before_key
from casework.services.errors import Forbidden, InvalidInput, NotFound
from casework.services.idempotency import once
from casework.services.identity import actor_for_user, aware, normalize_username, record_of
from casework.services.participants import Participant
from casework.services.visibility import case_facts, get_case, visible_condition
from casework.store.identity_tables import User
from casework.store.tables import Case, CaseLink, Note

MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class NoteRecord:
    id: int
    author: str
    body: str
    created_at: datetime
    mentions: tuple[str, ...]
    internal: bool = False


@dataclass(frozen=True, slots=True)
class NotePage:
    notes: list[NoteRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class LinkRecord:
    other_id: str
    kind: str
    title: str
    status: str
    created_at: datetime


def visible_facts(session: Session, actor: Actor, case_id: str) -> CaseFacts:
    facts = case_facts(session, case_id)
    if not may_see_case(actor, facts):
        raise NotFound(f"no case {case_id}")
    return facts


# --- notes -------------------------------------------------------------------------------


def add_note(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    body: str,
    now: datetime,
    idempotency_key: str | None = None,
    internal: bool = False,
) -> NoteRecord:
    """Add a note to a case; an `internal` one is for the people who work on it only
    (`access.may_read_internal_notes`): they alone write it, and it mentions no one else."""
    with db() as session:
        facts = visible_facts(session, actor, case_id)
        if internal and not may_read_internal_notes(actor, facts):
            raise Forbidden("internal notes are for the people who work on the case")
        blind = _mentioned_who_may_not_see(
            session, facts, collaboration.mentions(body), internal=internal
        )
    if blind:
        names = ", ".join(f"@{name}" for name in blind)
        what = "this case's internal notes" if internal else "this case"
        raise InvalidInput(
            f"{names} may not see {what}: name them on it first, or leave the mention out",
            field="body",
        )
    note_id = collaboration.add_note(
        db,
        actor=actor,
        case_id=case_id,
        body=body,
        now=now,
        idempotency_key=idempotency_key,
        internal=internal,
    )
    with db() as session:
        note = session.get(Note, note_id)
        assert note is not None  # just written, and notes are never deleted
        return _note(note)


def _mentioned_who_may_not_see(
    session: Session, facts: CaseFacts, mentioned: list[str], *, internal: bool
) -> list[str]:
    names = sorted({normalize_username(m) for m in mentioned})
    if not names:
        return []
    users = session.scalars(
        select(User).where(User.username.in_(names), User.active.is_(True)).order_by(User.username)
    ).all()
    may_read = may_read_internal_notes if internal else may_see_case
    return [
        user.username
        for user in users
        if not may_read(actor_for_user(session, record_of(user)), facts)
    ]


def list_notes(
    session: Session,
    *,
    actor: Actor,
    case_id: str,
    limit: int = 50,
    cursor: str | None = None,
) -> NotePage:
    """Notes newest first, a page at a time (cut by note id: stable while notes arrive);
    internal ones only for those who may read them."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    facts = visible_facts(session, actor, case_id)
    query = select(Note).where(Note.case_id == case_id)
    if not may_read_internal_notes(actor, facts):
        query = query.where(Note.internal.is_(False))
    if cursor is not None:
        query = query.where(Note.id < before_key(cursor))
    rows = list(session.scalars(query.order_by(Note.id.desc()).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = before_cursor(rows[-1].id)
    return NotePage([_note(r) for r in rows], next_cursor)


def note_count(session: Session, case_id: str, *, internal: bool) -> int:
    """How many notes the case has, the internal ones counted only with `internal`."""
    query = select(func.count()).where(Note.case_id == case_id)
    if not internal:
        query = query.where(Note.internal.is_(False))
    return int(session.scalar(query) or 0)


def _note(row: Note) -> NoteRecord:
    return NoteRecord(
        id=row.id,
        author=row.author,
        body=row.body,
        created_at=aware(row.created_at),
        mentions=tuple(collaboration.mentions(row.body)),
        internal=bool(row.internal),
    )


# --- links -------------------------------------------------------------------------------


def links_of(session: Session, *, actor: Actor, case_id: str) -> list[LinkRecord]:
    """The case's links to cases the actor may see too."""
    get_case(session, actor, case_id)
    rows = session.execute(
        select(CaseLink.other_id, CaseLink.kind, CaseLink.created_at, Case.title, Case.status)
        .join(Case, Case.id == CaseLink.other_id)
        .where(CaseLink.case_id == case_id, visible_condition(session, actor))
        .order_by(CaseLink.kind, CaseLink.other_id)
    )
    return [LinkRecord(o, k, t, s, aware(at)) for o, k, at, t, s in rows]


def link(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    other_id: str,
    kind: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> LinkRecord:
    _check_both_visible(db, actor, case_id, other_id)

    def action(session: Session) -> dict[str, Any]:
        collaboration.link_in(
            session, actor=actor, case_id=case_id, other_id=other_id, kind=kind, now=now
        )
        return {}

    request = {"op": "link", "case": case_id, "other": other_id, "kind": kind}
    once(db, actor=actor, key=idempotency_key, request=request, now=now, action=action)
    with db() as session:
        found = [
            r
            for r in links_of(session, actor=actor, case_id=case_id)
            if (r.other_id, r.kind) == (other_id, kind)
        ]
    if not found:  # unlinked again in the meantime
        raise NotFound(f"case {case_id} has no {kind} link to {other_id}")
    return found[0]


def unlink(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    other_id: str,
    kind: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> None:
    with db() as session:
        get_case(session, actor, case_id)
        # A case one may not see is not there, and neither is a link to it.
        if not session.scalar(
            select(Case.id).where(Case.id == other_id, visible_condition(session, actor))
        ):
            raise NotFound(f"case {case_id} has no {kind} link to {other_id}")

    def action(session: Session) -> dict[str, Any]:
        removed = collaboration.unlink_in(
            session, actor=actor, case_id=case_id, other_id=other_id, kind=kind, now=now
        )
        if not removed:  # nothing written, nothing remembered
            raise NotFound(f"case {case_id} has no {kind} link to {other_id}")
        return {"removed": True}

    request = {"op": "unlink", "case": case_id, "other": other_id, "kind": kind}
    once(db, actor=actor, key=idempotency_key, request=request, now=now, action=action)


def _check_both_visible(
    db: sessionmaker[Session], actor: Actor, case_id: str, other_id: str
) -> None:
    with db() as session:
        get_case(session, actor, case_id)
        try:
            get_case(session, actor, other_id)
        except NotFound:
            # Named in the body, not the path: a field problem, saying no more than a 404.
            raise InvalidInput(f"no case {other_id}", field="other_id") from None


# --- participants and confidentiality ----------------------------------------------------


def participants_of(session: Session, *, actor: Actor, case_id: str) -> list[Participant]:
    return participants.participants_of(session, actor=actor, case_id=case_id)


def add_participant(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    username: str,
    role: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> Participant:
    def action(session: Session) -> dict[str, Any]:
        try:
            participants.add_in(
                session, actor=actor, case_id=case_id, username=username, role=role, now=now
            )
        except NotFound as exc:
            if exc.field != "username":
                raise
            # The person is named in the body: a field problem, not a missing resource.
            raise InvalidInput(exc.message, field="username") from None
        return {}

    request = {"op": "participant", "case": case_id, "user": username, "role": role}
    once(db, actor=actor, key=idempotency_key, request=request, now=now, action=action)
    wanted = normalize_username(username)
    with db() as session:
        found = [
            p
            for p in participants.participants_of(session, actor=actor, case_id=case_id)
            if p.username == wanted
        ]
    if not found:  # removed again in the meantime
        raise NotFound(f"{username} is not named on case {case_id}")
    return found[0]


def remove_participant(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    username: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> None:
    def action(session: Session) -> dict[str, Any]:
        participants.remove_in(session, actor=actor, case_id=case_id, username=username, now=now)
        return {}

    request = {"op": "unparticipant", "case": case_id, "user": username}
    once(db, actor=actor, key=idempotency_key, request=request, now=now, action=action)


def set_confidential(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    confidential: bool,
    now: datetime,
    idempotency_key: str | None = None,
) -> None:
    def action(session: Session) -> dict[str, Any]:
        participants.confidential_in(
            session, actor=actor, case_id=case_id, confidential=confidential, now=now
        )
        return {}

    request = {"op": "confidential", "case": case_id, "confidential": confidential}
    once(db, actor=actor, key=idempotency_key, request=request, now=now, action=action)
