"""What people do around a case's work: notes, links, the people named on it, its
confidentiality, and its timeline. The rules are in `services/case_relations.py` (and
the services it builds on); a case the caller may not see is a 404 on every route.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, Db, IdempotencyKey, Now
from casework.server.problems import problem_responses
from casework.server.routes_cases import next_link, summary
from casework.server.schemas import Items
from casework.server.schemas_cases import (
    CaseOut,
    ConfidentialIn,
    LinkIn,
    LinkKind,
    LinkOut,
    NoteIn,
    NoteOut,
    Page,
    ParticipantIn,
    ParticipantOut,
    TimelineEntryOut,
)
from casework.services import case_relations, timeline

CASE = f"{API_PREFIX}/cases/{{case_id}}"
router = APIRouter(prefix=CASE, tags=["cases"], responses=problem_responses(401, 404))
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(description="From the previous page's `next`.")]


# --- notes -------------------------------------------------------------------------------


@router.get("/notes", summary="The case's notes, newest first, a page at a time")
def list_notes(
    case_id: str,
    request: Request,
    actor: CurrentActor,
    db: Db,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[NoteOut]:
    with db() as session:
        page = case_relations.list_notes(
            session, actor=actor, case_id=case_id, limit=limit, cursor=cursor
        )
    return Page(
        items=[NoteOut.model_validate(n) for n in page.notes],
        next=next_link(request, page.next_cursor),
    )


@router.post(
    "/notes",
    status_code=status.HTTP_201_CREATED,
    summary="Add a note; `@username` mentions someone (who must be able to see the case)",
    responses=problem_responses(403, 422),
)
def add_note(
    case_id: str, body: NoteIn, actor: CurrentActor, db: Db, now: Now, key: IdempotencyKey
) -> NoteOut:
    note = case_relations.add_note(
        db,
        actor=actor,
        case_id=case_id,
        body=body.body,
        now=now,
        idempotency_key=key,
        internal=body.internal,
    )
    return NoteOut.model_validate(note)


# --- timeline ----------------------------------------------------------------------------


@router.get(
    "/timeline",
    summary="Every entry of the case's log, newest first, a page at a time",
    responses=problem_responses(422),
)
def get_timeline(
    case_id: str,
    request: Request,
    actor: CurrentActor,
    db: Db,
    types: Annotated[
        list[str] | None,
        Query(alias="type", description="Only entries of these types (repeat it)."),
    ] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TimelineEntryOut]:
    with db() as session:
        page = timeline.timeline(
            session,
            actor=actor,
            case_id=case_id,
            types=types or (),
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
    return Page(
        items=[TimelineEntryOut.model_validate(e) for e in page.entries],
        next=next_link(request, page.next_cursor),
    )


# --- links -------------------------------------------------------------------------------


@router.get("/links", summary="The case's links to cases you may see")
def list_links(case_id: str, actor: CurrentActor, db: Db) -> Items[LinkOut]:
    with db() as session:
        found = case_relations.links_of(session, actor=actor, case_id=case_id)
    return Items(items=[LinkOut.model_validate(link) for link in found])


@router.post(
    "/links",
    status_code=status.HTTP_201_CREATED,
    summary="Link another case you may see (parent and child, related both ways)",
    responses=problem_responses(422),
)
def link(
    case_id: str, body: LinkIn, actor: CurrentActor, db: Db, now: Now, key: IdempotencyKey
) -> LinkOut:
    made = case_relations.link(
        db,
        actor=actor,
        case_id=case_id,
        other_id=body.other_id,
        kind=body.kind,
        now=now,
        idempotency_key=key,
    )
    return LinkOut.model_validate(made)


@router.delete(
    "/links/{kind}/{other_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a link (and its other direction)",
)
def unlink(
    case_id: str,
    kind: LinkKind,
    other_id: str,
    actor: CurrentActor,
    db: Db,
    now: Now,
    key: IdempotencyKey,
) -> None:
    case_relations.unlink(
        db,
        actor=actor,
        case_id=case_id,
        other_id=other_id,
        kind=kind,
        now=now,
        idempotency_key=key,
    )


# --- people and confidentiality ----------------------------------------------------------


@router.get("/participants", summary="The people named on the case")
def list_participants(case_id: str, actor: CurrentActor, db: Db) -> Items[ParticipantOut]:
    with db() as session:
        found = case_relations.participants_of(session, actor=actor, case_id=case_id)
    return Items(items=[ParticipantOut.model_validate(p) for p in found])


@router.post(
    "/participants",
    status_code=status.HTTP_201_CREATED,
    summary="Name someone on the case (they then see it): its owner, team or an admin",
    responses=problem_responses(403, 422),
)
def add_participant(
    case_id: str,
    body: ParticipantIn,
    actor: CurrentActor,
    db: Db,
    now: Now,
    key: IdempotencyKey,
) -> ParticipantOut:
    named = case_relations.add_participant(
        db,
        actor=actor,
        case_id=case_id,
        username=body.username,
        role=body.role,
        now=now,
        idempotency_key=key,
    )
    return ParticipantOut.model_validate(named)


@router.delete(
    "/participants/{username}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Take someone off the case: its owner, team or an admin",
    responses=problem_responses(403),
)
def remove_participant(
    case_id: str, username: str, actor: CurrentActor, db: Db, now: Now, key: IdempotencyKey
) -> None:
    case_relations.remove_participant(
        db, actor=actor, case_id=case_id, username=username, now=now, idempotency_key=key
    )


@router.put(
    "/confidential",
    summary="Make the case confidential or not: its owner or an admin",
    responses=problem_responses(403, 422),
)
def set_confidential(
    case_id: str,
    body: ConfidentialIn,
    response: Response,
    actor: CurrentActor,
    db: Db,
    now: Now,
    key: IdempotencyKey,
) -> CaseOut:
    case_relations.set_confidential(
        db,
        actor=actor,
        case_id=case_id,
        confidential=body.confidential,
        now=now,
        idempotency_key=key,
    )
    return summary(db, actor, case_id, response)
