"""Cases: open, find, read whole (or as they were), change their case file and status,
reassign and re-prioritise them.

Every route needs a signed-in caller; a case they may not see is a 404 exactly like one
that does not exist, and an action the policy refuses on a case they see is a 403 (the
rules: `services/access.py`, applied by `services/case_actions.py`). Reads of a case and
writes to it answer with `ETag: "<version>"`; the writes that run engine commands, and
reassigning, honour `If-Match` (a stale one is a 412) and `Idempotency-Key`.

Notes, links, participants, confidentiality and the timeline: `routes_case_activity.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, status
from pydantic import Field
from sqlalchemy.orm import Session, sessionmaker

from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, MAX_ID, Db, IdempotencyKey, Now, given_fields
from casework.server.problems import problem_responses
from casework.server.schemas_cases import (
    CaseAsOfOut,
    CaseChangeIn,
    CaseIn,
    CaseOut,
    CaseViewOut,
    Page,
)
from casework.services import case_actions, case_assignment, case_view, queries
from casework.services.actors import Actor
from casework.services.errors import InvalidInput, NotFound, PreconditionFailed, UnsupportedType

router = APIRouter(prefix=API_PREFIX, tags=["cases"], responses=problem_responses(401, 404))

CaseViewOrAsOf = Annotated[CaseViewOut | CaseAsOfOut, Field(discriminator="view")]
MERGE_PATCH = "application/merge-patch+json"


# --- shared by the case routes -----------------------------------------------------------


def etag(version: int) -> str:
    return f'"{version}"'


async def expected_version(
    _actor: CurrentActor,  # first: without credentials a 401, whatever the header says
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The case\'s ETag (`"7"`): the change applies only to that version.',
        ),
    ] = None,
) -> int | None:
    """The version an If-Match names; None without one (or with `*`). An ETag this server
    never gave out cannot match: a 412, as for a stale one."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip()
    if "," in value:
        raise InvalidInput("If-Match: send the one ETag of the case", field="If-Match")
    digits = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else ""
    if not digits.isdigit() or int(digits) > MAX_ID:
        raise PreconditionFailed(f"If-Match {value} is not an ETag of this case")
    return int(digits)


ExpectedVersion = Annotated[int | None, Depends(expected_version)]


def next_link(request: Request, cursor: str | None) -> str | None:
    """The URL of the next page: this request's, with the new cursor."""
    if cursor is None:
        return None
    url = request.url.include_query_params(cursor=cursor)
    return f"{url.path}?{url.query}"


def summary(db: sessionmaker[Session], actor: Actor, case_id: str, response: Response) -> CaseOut:
    """The case after a write, with its ETag (read again: the answer shows what is stored,
    whoever else wrote since)."""
    with db() as session:
        found = case_view.case_summary(session, actor=actor, case_id=case_id)
    response.headers["ETag"] = etag(found.version)
    return CaseOut.model_validate(found)


# --- opening and finding -----------------------------------------------------------------


@router.post(
    "/cases",
    status_code=status.HTTP_201_CREATED,
    summary="Open a case of the newest version of a case type",
    responses=problem_responses(403, 422),
)
def open_case(
    body: CaseIn, response: Response, actor: CurrentActor, db: Db, now: Now, key: IdempotencyKey
) -> CaseOut:
    # Left out, the owner is the opener; an explicit null opens a case nobody owns.
    owner = body.owner if "owner" in body.model_fields_set else actor.id
    ref = case_actions.open_case(
        db,
        actor=actor,
        type_id=body.type,
        now=now,
        data=body.data,
        title=body.title,
        priority=body.priority,
        owner=owner,
        team=body.team,
        confidential=body.confidential,
        idempotency_key=key,
    )
    response.headers["Location"] = f"{API_PREFIX}/cases/{ref.case_id}"
    return summary(db, actor, ref.case_id, response)


def _data_filters(request: Request, given: list[str]) -> list[str]:
    """Case file filters for `queries.parse_filter`: `filter=data.amount>1000`, or the
    same written as a query parameter of its own (`?data.amount>1000&data.risk=high`)."""
    texts = list(given)
    for key, value in request.query_params.multi_items():
        if key.startswith("data."):
            # `data.amount>=10` arrives as the key `data.amount>` and the value `10`.
            texts.append(f"{key}={value}" if value else key)
    out = []
    for text in texts:
        path = text.strip()
        if not path.startswith("data."):
            raise InvalidInput(
                f"cannot read filter {text!r}: case file filters start with data. "
                "(data.amount>1000)",
                field="filter",
            )
        out.append(path.removeprefix("data."))
    return out


@router.get(
    "/cases",
    summary="Find cases (only those you may see), a page at a time",
    responses=problem_responses(422),
)
def list_cases(
    request: Request,
    actor: CurrentActor,
    db: Db,
    status_: Annotated[str | None, Query(alias="status")] = None,
    type_id: Annotated[str | None, Query(alias="type", description="A case type id.")] = None,
    stage: Annotated[str | None, Query(description="The innermost active stage's name.")] = None,
    assignee: Annotated[str | None, Query(description="Has active work assigned to.")] = None,
    priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    risk: str | None = None,
    owner: str | None = None,
    team: str | None = None,
    q: Annotated[
        str | None, Query(max_length=500, description="Words in the title, case file, notes.")
    ] = None,
    filters: Annotated[
        list[str] | None,
        Query(
            alias="filter",
            description="Case file conditions, all must hold: `data.amount>1000`, "
            '`data.risk=high`, `data.claimant.city="Lyon"` (=, !=, <, <=, >, >=).',
        ),
    ] = None,
    sort: Annotated[
        str,
        Query(description="opened_at, updated_at, priority, title or status; `-` descending."),
    ] = "-opened_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="From the previous page's `next`.")] = None,
) -> Page[CaseOut]:
    with db() as session:
        page = queries.list_cases(
            session,
            actor=actor,
            status=status_,
            type_id=type_id,
            stage=stage,
            owner=owner,
            team=team,
            priority=priority,
            risk=risk,
            assignee=assignee,
            filters=_data_filters(request, filters or []),
            text=q,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        items = [CaseOut.model_validate(case_view.summary_of(row)) for row in page.cases]
    return Page(items=items, next=next_link(request, page.next_cursor))


# --- reading one -------------------------------------------------------------------------


@router.get(
    "/cases/{case_id}",
    summary="A case whole: case file, plan, tasks, documents, notes, links, people, history",
    response_model=CaseViewOrAsOf,
    responses=problem_responses(422),
)
def get_case(
    case_id: str,
    response: Response,
    actor: CurrentActor,
    db: Db,
    as_of: Annotated[
        datetime | None,
        Query(description="The case as it stood then (ISO 8601; no zone means UTC)."),
    ] = None,
) -> CaseViewOut | CaseAsOfOut:
    if as_of is not None:
        return _as_of(db, actor, case_id, as_of)
    with db() as session:
        view = case_view.case_view(session, actor=actor, case_id=case_id)
    response.headers["ETag"] = etag(view.summary.version)
    # The records are validated from their attributes (the schemas' from_attributes).
    return CaseViewOut.model_validate(
        {
            **CaseOut.model_validate(view.summary).model_dump(),
            "type_name": view.type_name,
            "plan": view.plan,
            "tasks": view.tasks,
            "documents": view.documents,
            "notes": view.notes,
            "note_count": view.note_count,
            "links": view.links,
            "participants": view.participants,
            "history": view.history,
            "may": view.may,
        }
    )


@router.get(
    "/cases/{case_id}/as-of/{moment}",
    summary="A case as it stood at a moment: state, case file and plan",
    responses=problem_responses(422),
)
def get_case_as_of(case_id: str, moment: datetime, actor: CurrentActor, db: Db) -> CaseAsOfOut:
    return _as_of(db, actor, case_id, moment)


def _as_of(db: sessionmaker[Session], actor: Actor, case_id: str, at: datetime) -> CaseAsOfOut:
    return CaseAsOfOut.model_validate(
        case_view.case_as_of_view(db, actor=actor, case_id=case_id, at=at)
    )


# --- changing it -------------------------------------------------------------------------


async def merge_patch_media(request: Request) -> None:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in (MERGE_PATCH, "application/json"):
        raise UnsupportedType(f"send the changes as a JSON merge patch ({MERGE_PATCH})")


@router.patch(
    "/cases/{case_id}/data",
    summary="Change the case file with a JSON merge patch (RFC 7396: null removes a field)",
    dependencies=[Depends(merge_patch_media)],
    responses=problem_responses(403, 409, 412, 415, 422),
)
def patch_data(
    case_id: str,
    patch: Annotated[dict[str, Any], Body(media_type=MERGE_PATCH)],
    response: Response,
    actor: CurrentActor,
    db: Db,
    now: Now,
    version: ExpectedVersion,
    key: IdempotencyKey,
) -> CaseOut:
    try:
        ref = case_actions.patch_data(
            db,
            actor=actor,
            case_id=case_id,
            patch=patch,
            now=now,
            expected_version=version,
            idempotency_key=key,
        )
    except InvalidInput as exc:
        # The services name case file fields `data.<name>`; here the body is the case
        # file itself, so its fields are named (and pointed at) without the prefix.
        if exc.field is None or not exc.field.startswith("data."):
            raise
        raise InvalidInput(exc.message, field=exc.field.removeprefix("data.")) from None
    return summary(db, actor, ref.case_id, response)


@router.patch(
    "/cases/{case_id}",
    summary="Reassign a case (owner, team) or re-prioritise it: the fields given change",
    response_model=CaseOut,
    responses={
        204: {"description": "Changed, and you no longer see the case (another team's now)."},
        **problem_responses(403, 412, 422),
    },
)
def change_case(
    case_id: str,
    body: CaseChangeIn,
    response: Response,
    actor: CurrentActor,
    db: Db,
    now: Now,
    version: ExpectedVersion,
    key: IdempotencyKey,
) -> Response | CaseOut:
    changes = given_fields(body, nullable={"owner", "team"})
    ref = case_assignment.reassign_case(
        db,
        actor=actor,
        case_id=case_id,
        now=now,
        expected_version=version,
        idempotency_key=key,
        **changes,
    )
    try:
        return summary(db, actor, ref.case_id, response)
    except NotFound:
        # Handed to another team or owner: the change stands, the case is out of sight.
        return Response(status_code=status.HTTP_204_NO_CONTENT)


def _status_route(action: str, what: str) -> None:
    def change(
        case_id: str,
        response: Response,
        actor: CurrentActor,
        db: Db,
        now: Now,
        version: ExpectedVersion,
        key: IdempotencyKey,
    ) -> CaseOut:
        ref = case_actions.change_status(
            db,
            actor=actor,
            case_id=case_id,
            action=action,
            now=now,
            expected_version=version,
            idempotency_key=key,
        )
        return summary(db, actor, ref.case_id, response)

    router.post(
        f"/cases/{{case_id}}/{action}",
        name=f"{action}_case",
        summary=what,
        responses=problem_responses(403, 409, 412),
    )(change)


for _action, _what in (
    ("suspend", "Suspend an active case (its work halts until resumed)"),
    ("resume", "Resume a suspended case"),
    ("terminate", "Terminate an active case: its open work ends unfinished"),
    ("close", "Close a completed or terminated case"),
    ("reopen", "Reopen an ended case: its plan starts anew with the case file as it is"),
):
    _status_route(_action, _what)
