"""Opening cases, changing their case file and their status, as people do it (the API's
rules), on top of `cases.open_case` and `cases.run_command`.

What this adds to those: who may (the policy in `access.py`; a case one may not see is
NotFound), checks of what a request names (the case type, the owner, the team), the
case file's merge patch, and running commands as `actor.for_case_type(type)`, so that
roles granted for one case type count on its cases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import commands as c
from casework.model.definitions import Requests
from casework.services import cases, membership
from casework.services.access import may_change_case_status, may_open_case, may_see_case
from casework.services.actors import Actor
from casework.services.case_commands import CaseRef
from casework.services.case_types import engine_for, latest_version
from casework.services.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from casework.services.identity import normalize_username
from casework.services.visibility import case_facts, case_type_roles, get_case
from casework.store.direct import DirectQuery
from casework.store.identity_tables import User

# A merge patch that merges into objects is computed from the case file it read, so it
# runs pinned to that version; a lost race reads again, this many times at most.
MAX_PATCH_ATTEMPTS = 5

STATUS_COMMANDS: dict[str, Callable[[], c.Command]] = {
    "suspend": c.SuspendCase,
    "resume": c.ResumeCase,
    "terminate": c.TerminateCase,
    "close": c.CloseCase,
    "reopen": c.ReopenCase,
}


def open_case(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    type_id: str,
    now: datetime,
    data: dict[str, Any] | None = None,
    title: str | None = None,
    priority: int = 3,
    owner: str | None = None,
    team: str | None = None,
    confidential: bool = False,
    idempotency_key: str | None = None,
) -> CaseRef:
    """Open a case of the newest version of `type_id`, which the opener then sees.

    Forbidden without a role the type names, unless the type takes requests
    (`requests:`): then anyone signed in asks for one, and is named on it as its
    requester; it goes to the type's team, owned by nobody yet, at the usual priority
    (a requester sets neither owner, team, priority nor confidentiality: Forbidden).
    A confidential case must be the opener's own (only its owner, participants and
    admins see it). The owner must be an active account and the team must exist
    (InvalidInput naming the field).
    """
    if owner is not None:
        owner = normalize_username(owner)
    if team is not None:
        team = team.strip()
    requested = _request_route(db, actor, type_id)
    if requested is not None:
        if owner not in (None, actor.id) or (team is not None and team != requested.team):
            raise Forbidden("a request goes to the team that handles it: it names no owner or team")
        if confidential or priority != DEFAULT_PRIORITY:
            raise Forbidden("a request is neither confidential nor prioritised by its requester")
        owner, team = None, requested.team
    if confidential and not (actor.is_admin or owner == actor.id):
        raise Forbidden(
            "a confidential case is seen only by its owner, its participants and "
            "administrators: open it as its owner"
        )

    def admit(conn: Connection, version: int) -> None:
        # In the write's own transaction, on the version the case is opened with: a
        # version deployed meanwhile cannot slip past the check, and the request
        # spends no session of its own on it.
        key = (type_id, version)
        if requested is None:
            if not may_open_case(actor, type_id, case_type_roles(conn, [key])[key]):
                raise Forbidden(f"opening {type_id} cases needs a role that case type names")
        elif _requests(conn, type_id, version) != requested:
            # A version deployed since the request was routed takes them otherwise.
            raise Conflict(f"the {type_id} case type changed meanwhile: ask again")
        if owner is not None and _ACTIVE_USER.first(conn, {"b_name": owner}) is None:
            raise InvalidInput(f"no active user {owner}", field="owner")
        if team is not None:
            membership.existing_team(conn, team)

    try:
        return cases.open_case(
            db,
            actor=actor.for_case_type(type_id),
            type_id=type_id,
            now=now,
            data=data,
            title=title,
            owner=owner,
            team=team,
            priority=priority,
            confidential=confidential,
            idempotency_key=idempotency_key,
            admit=admit,
            named=(actor.id, REQUESTER) if requested is not None else None,
        )
    except NotFound as exc:
        if exc.field != "type":
            raise
        raise InvalidInput(exc.message, field="type") from None


DEFAULT_PRIORITY = 3
REQUESTER = "requester"


def _requests(session: Session | Connection, type_id: str, version: int) -> Requests | None:
    return engine_for(session, type_id, version).definition.requests


def _request_route(db: sessionmaker[Session], actor: Actor, type_id: str) -> Requests | None:
    """How `actor` opening a case of `type_id` is routed as a request, or None when they
    open it as a case worker (they hold a role the type names) or the type takes no
    requests (the usual checks then refuse or admit them)."""
    if actor.is_admin:
        return None  # admins open every type as case workers: no read needed
    with db() as session:
        try:
            version = latest_version(session, type_id)
        except NotFound:
            return None  # `open_case` says so, naming the field
        requests = _requests(session, type_id, version)
        if requests is None:
            return None
        key = (type_id, version)
        if may_open_case(actor, type_id, case_type_roles(session, [key])[key]):
            return None
    return requests


_ACTIVE_USER = DirectQuery(
    select(User.id).where(User.username == bindparam("b_name"), User.active.is_(True))
)


# --- the case file -----------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge key by key, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def merged_fields(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The new value of each top-level field the patch touches (None: remove it), what
    the engine's SetVariables takes."""
    return {k: None if v is None else merge_patch(data.get(k), v) for k, v in patch.items()}


def patch_data(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    patch: Any,
    now: datetime,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> CaseRef:
    """Apply a JSON merge patch to the case file. Whoever sees the case may change it
    (as they may add documents and notes); types, enums and required fields (which
    cannot be removed) are checked by `run_command`.

    `expected_version` (If-Match) pins the command: PreconditionFailed when the case is
    at another version. Without it, a concurrent change is retried: a patch of top-level
    values does not depend on what it read (run_command retries it as it is); one that
    merges into an object is computed again from a fresh read.
    """
    if not isinstance(patch, dict):
        raise InvalidInput("a merge patch of the case file is a JSON object", field="data")
    # Checked against what the client sent: a retry after the case moved on recomputes
    # the fields, and must still match its first attempt.
    request = {"op": "merge-patch", "case": case_id, "patch": patch}
    reads_objects = any(isinstance(v, dict) for v in patch.values())
    for _attempt in range(MAX_PATCH_ATTEMPTS):
        with db() as session:
            row = get_case(session, actor, case_id)
            data, version, type_id = dict(row.data), row.version, row.type_id
        fields = merged_fields(data, patch)
        pin = expected_version
        if pin is None and reads_objects:
            pin = version
        try:
            return cases.run_command(
                db,
                actor=actor.for_case_type(type_id),
                case_id=case_id,
                command=c.SetVariables(fields),
                now=now,
                expected_version=pin,
                idempotency_key=idempotency_key,
                request=request,
            )
        except (PreconditionFailed, Conflict):
            if expected_version is not None or pin is None:
                raise  # the client's If-Match, or run_command's own retries gave up
    raise Conflict(f"case {case_id} is too busy: gave up after {MAX_PATCH_ATTEMPTS} attempts")


# --- status ------------------------------------------------------------------------------


def change_status(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    action: str,
    now: datetime,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> CaseRef:
    """Suspend, resume, terminate, close or reopen a case, as the engine allows (Refused
    otherwise: only a completed or terminated case closes, only an ended one reopens)."""
    command = STATUS_COMMANDS.get(action)
    if command is None:
        raise InvalidInput(f"action must be one of: {', '.join(STATUS_COMMANDS)}", field="action")
    with db() as session:
        facts = case_facts(session, case_id)
    if not may_see_case(actor, facts):
        raise NotFound(f"no case {case_id}")
    if not may_change_case_status(actor, facts):
        raise Forbidden(
            f"only the case's owner, a case manager or an administrator may {action} it"
        )
    return cases.run_command(
        db,
        actor=actor.for_case_type(facts.type_id),
        case_id=case_id,
        command=command(),
        now=now,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
    )
