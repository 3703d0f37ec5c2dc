"""Notes and links: case changes that are not the engine's, on the same audit trail.

They are appended to the case's event log like engine events (types `NoteAdded`,
`CasesLinked`, `CasesUnlinked`), so the timeline and the hash chain cover them;
replaying the engine skips them (see `engine_events`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from casework.engine.events import EVENT_TYPES, Event, event_from_dict
from casework.services.actors import Actor
from casework.services.case_log import append_entry, locked_case
from casework.services.errors import InvalidInput
from casework.services.idempotency import once
from casework.services.search import mark_stale
from casework.store.tables import CaseEvent, CaseLink, Note

LINK_KINDS = frozenset({"parent", "child", "related", "duplicate-of"})
_INVERSE = {"parent": "child", "child": "parent", "related": "related"}
MAX_NOTE = 20_000
_MENTION = re.compile(r"(?<![\w.])@([A-Za-z0-9_.-]{2,64})")


def mentions(body: str) -> list[str]:
    """`@name` mentions in a note, in order, without repeats."""
    return list(dict.fromkeys(m.rstrip(".") for m in _MENTION.findall(body)))


def add_note(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    body: str,
    now: datetime,
    idempotency_key: str | None = None,
    internal: bool = False,
) -> int:
    """The new note's id; with `idempotency_key`, a repeat returns the first note's id
    (the key is stored in the note's transaction: a note is not idempotent by nature).
    An `internal` note is for the people who work on the case (`case_relations`)."""
    body = body.strip()
    if not body:
        raise InvalidInput("a note needs some text", field="body")
    if len(body) > MAX_NOTE:
        raise InvalidInput(f"a note is at most {MAX_NOTE} characters", field="body")
    request: dict[str, Any] = {"op": "note", "case": case_id, "body": body}
    if internal:
        # Only when set: a key stored for an ordinary note before internal notes existed
        # still matches its request.
        request["internal"] = True

    def action(session: Session) -> dict[str, Any]:
        row = locked_case(session, case_id)
        note_id = session.execute(
            insert(Note)
            .values(case_id=case_id, author=actor.id, body=body, created_at=now, internal=internal)
            .returning(Note.id)
        ).scalar_one()
        payload: dict[str, Any] = {"note_id": note_id, "body": body, "mentions": mentions(body)}
        if internal:
            # Only when set, so the entries of ordinary notes keep their exact shape.
            payload["internal"] = True
        append_entry(session, row, "NoteAdded", payload, actor, now)
        mark_stale(session, case_id, row.last_seq)  # append_entry moved it on
        return {"note_id": int(note_id)}

    result = once(db, actor=actor, key=idempotency_key, request=request, now=now, action=action)
    return int(result["note_id"])


def link_cases(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    other_id: str,
    kind: str,
    now: datetime,
) -> None:
    with db.begin() as session:
        link_in(session, actor=actor, case_id=case_id, other_id=other_id, kind=kind, now=now)


def link_in(
    session: Session, *, actor: Actor, case_id: str, other_id: str, kind: str, now: datetime
) -> None:
    """`link_cases` in the caller's transaction."""
    if kind not in LINK_KINDS:
        allowed = ", ".join(sorted(LINK_KINDS))
        raise InvalidInput(f"link kind must be one of: {allowed}", field="kind")
    if case_id == other_id:
        raise InvalidInput("a case cannot be linked to itself", field="other_id")
    # Lock both cases in id order so two opposite links cannot deadlock.
    rows = {cid: locked_case(session, cid) for cid in sorted((case_id, other_id))}
    exists = session.get(CaseLink, (case_id, other_id, kind))
    if exists is not None:
        return
    session.execute(
        insert(CaseLink).values(case_id=case_id, other_id=other_id, kind=kind, created_at=now)
    )
    append_entry(
        session, rows[case_id], "CasesLinked", {"other": other_id, "kind": kind}, actor, now
    )
    inverse = _INVERSE.get(kind)
    if inverse is not None and session.get(CaseLink, (other_id, case_id, inverse)) is None:
        session.execute(
            insert(CaseLink).values(
                case_id=other_id, other_id=case_id, kind=inverse, created_at=now
            )
        )
        append_entry(
            session, rows[other_id], "CasesLinked", {"other": case_id, "kind": inverse}, actor, now
        )


def unlink_cases(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    other_id: str,
    kind: str,
    now: datetime,
) -> bool:
    """Remove a link and its inverse (parent/child, related); False when there was none.
    Each removal goes on the log of the case it leaves, like the link did."""
    with db.begin() as session:
        return unlink_in(
            session, actor=actor, case_id=case_id, other_id=other_id, kind=kind, now=now
        )


def unlink_in(
    session: Session, *, actor: Actor, case_id: str, other_id: str, kind: str, now: datetime
) -> bool:
    """`unlink_cases` in the caller's transaction."""
    rows = {cid: locked_case(session, cid) for cid in sorted({case_id, other_id})}
    pairs = [(case_id, other_id, kind)]
    inverse = _INVERSE.get(kind)
    if inverse is not None:
        pairs.append((other_id, case_id, inverse))
    removed = False
    for this, that, how in pairs:
        gone = session.execute(
            delete(CaseLink)
            .where(CaseLink.case_id == this, CaseLink.other_id == that, CaseLink.kind == how)
            .returning(CaseLink.case_id)
        ).first()
        if gone is None:
            continue
        removed = True
        append_entry(session, rows[this], "CasesUnlinked", {"other": that, "kind": how}, actor, now)
    return removed


def notes_of(session: Session, case_id: str) -> list[Note]:
    return list(
        session.scalars(
            select(Note).where(Note.case_id == case_id).order_by(Note.created_at, Note.id)
        )
    )


def links_of(session: Session, case_id: str) -> list[CaseLink]:
    return list(
        session.scalars(
            select(CaseLink)
            .where(CaseLink.case_id == case_id)
            .order_by(CaseLink.kind, CaseLink.other_id)
        )
    )


def engine_events(rows: list[CaseEvent]) -> list[Event]:
    """The engine's events among a case's log rows (notes and links left out)."""
    return [event_from_dict({"type": r.type, **r.payload}) for r in rows if r.type in EVENT_TYPES]
