"""Reassigning a case (its owner, its team) and re-prioritising it, as people do it.

These are not engine commands. Like naming people on a case (`participants.py`), a
change is appended to the case's hash-chained log under the case row's lock
(`case_log.append_entries`), which moves the case's version on (If-Match, warm copies)
and offers the entries to webhook subscribers, and it sets the `cases` columns in the
same UPDATE. The entries hold what changed, from what to what, and nothing else:

- `CaseReassigned`: `{"owner": {"from": "ann", "to": "bob"}, "team": {"from": "north",
  "to": "south"}}`, with only the one of the two that changed when only one did;
- `CasePriorityChanged`: `{"priority": {"from": 3, "to": 1}}`.

A request that changes the owner or team and the priority writes both entries, as one
change of the case (its version moves on by one); one that changes nothing writes
nothing. `projections rebuild` and the case as of a date read them back
(`rebuild.entry_columns`).

Who may (`access.may_reassign_case`): admins, the case's owner, case managers and the
members of its team, among those who see it; a case they may not see is NotFound. The
new owner must be an active account who would see the case without owning it
(`access.may_own_case`), the team one that exists (InvalidInput naming the field).

**The priority rule.** A case's priority (1 highest .. 5) is `cases.priority`; each plan
item carries its own in `plan_items.priority`, what inboxes and queues sort by.

- A change made here sets the case's priority and that of every plan item of the case
  that is not completed or terminated (`projection.reprioritise`): its open work moves in
  the queues at once, and what it creates later gets it too. Ended items keep the
  priority they ended with.
- The case file's `priority` field (an integer 1..5, set by a person, a form or a
  decision) sets the case's priority when a command gives it a new value, with the same
  effect on the plan items (`cases.run_command`).
- Whichever came last holds. A change made here stays until the case file's `priority`
  takes a new value (a command that leaves it as it is does not undo it), and it is not
  written into the case file.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session, sessionmaker

from casework.services import idempotency, membership
from casework.services.access import CaseFacts, may_own_case, may_reassign_case, may_see_case
from casework.services.actors import Actor
from casework.services.case_commands import CaseRef
from casework.services.case_log import append_entries, locked_case
from casework.services.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed
from casework.services.identity import actor_for_username
from casework.services.projection import reprioritise
from casework.services.visibility import case_facts
from casework.store.tables import Case

REASSIGNED: Final = "CaseReassigned"
PRIORITY_CHANGED: Final = "CasePriorityChanged"
# The fields these entries change, as `cases` columns of the same names.
ASSIGNMENT_FIELDS: Final = ("owner", "team", "priority")


class _Unset:
    """An argument not given (None is a value: "nobody owns it", "no team")."""


UNSET: Final = _Unset()


def reassign_case(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    now: datetime,
    owner: str | _Unset | None = UNSET,
    team: str | _Unset | None = UNSET,
    priority: int | _Unset = UNSET,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> CaseRef:
    """Change the case's owner (an active user, or None: nobody), team (an existing one,
    or None) and priority (1..5), those given, in one transaction.

    `expected_version` (If-Match): PreconditionFailed when the case is at another
    version. With `idempotency_key`, a repeat of the request returns the first result.
    """
    given: dict[str, Any] = {
        name: value
        for name, value in (("owner", owner), ("team", team), ("priority", priority))
        if not isinstance(value, _Unset)
    }
    if not given:
        raise InvalidInput("say what to change: owner, team or priority")
    if "priority" in given:
        value = given["priority"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise InvalidInput("priority must be between 1 (highest) and 5", field="priority")
    request = {"op": "reassign", "case": case_id, **given}
    # The same key may be stored meanwhile by a request of the actor's on another case
    # (one on this case waits for the row lock, then finds the key): its answer.
    return idempotency.after_collision(
        idempotency_key,
        lambda: _reassign(
            db, actor, case_id, given, now, expected_version, idempotency_key, request
        ),
    )


def _reassign(
    db: sessionmaker[Session],
    actor: Actor,
    case_id: str,
    given: dict[str, Any],
    now: datetime,
    expected_version: int | None,
    key: str | None,
    request: dict[str, Any],
) -> CaseRef:
    with db.begin() as session:
        # The lock first: a request repeated with its key while the first one runs
        # waits here, then finds the key.
        row = locked_case(session, case_id)
        stored = idempotency.replayed(session, actor, key, request, now=now)
        if stored is not None:
            return _ref(stored)
        facts = case_facts(session, case_id)
        if not may_see_case(actor, facts):
            raise NotFound(f"no case {case_id}")
        if not may_reassign_case(actor, facts):
            raise Forbidden(
                "only the case's owner, its team, a case manager or an administrator may "
                "reassign or re-prioritise it"
            )
        if expected_version is not None and row.version != expected_version:
            raise PreconditionFailed(
                f"case {case_id} is at version {row.version}, not {expected_version}"
            )
        entries, columns = _changes(session, row, facts, given)
        if entries:
            append_entries(session, row, entries, actor, now, **columns)
            if "priority" in columns:
                reprioritise(session.connection(), case_id, columns["priority"], now)
        ref = CaseRef(case_id, row.version, row.status)
        idempotency.remember(
            session,
            actor,
            key,
            request,
            {"case_id": ref.case_id, "version": ref.version, "status": ref.status},
            now,
        )
    return ref


def _changes(
    session: Session, row: Case, facts: CaseFacts, given: dict[str, Any]
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """The log entries and `cases` columns of the change (none when nothing changes)."""
    columns: dict[str, Any] = {}
    team = _team(session, given["team"]) if "team" in given else facts.team
    if team != facts.team:
        columns["team"] = team
    if "owner" in given:
        # Checked against the case as it will be: its new team may be why they see it.
        owner = _owner(session, replace(facts, team=team), given["owner"])
        if owner != facts.owner:
            columns["owner"] = owner
    before = {"owner": facts.owner, "team": facts.team}
    moved: dict[str, Any] = {
        name: {"from": before[name], "to": columns[name]}
        for name in ("owner", "team")
        if name in columns
    }
    entries: list[tuple[str, dict[str, Any]]] = []
    if moved:
        entries.append((REASSIGNED, moved))
    if "priority" in given and given["priority"] != row.priority:
        entries.append(
            (PRIORITY_CHANGED, {"priority": {"from": row.priority, "to": given["priority"]}})
        )
        columns["priority"] = given["priority"]
    return entries, columns


def _team(session: Session, name: str | None) -> str | None:
    return None if name is None else membership.existing_team(session, name)


def _owner(session: Session, after: CaseFacts, username: str | None) -> str | None:
    """The new owner's username, when they may own the case as it will be (`after`)."""
    if username is None:
        return None
    person = actor_for_username(session, username)
    if person is None:
        raise InvalidInput(f"no active user {username}", field="owner")
    if person.id != after.owner and not may_own_case(person, after):
        if after.confidential:
            why = "it is confidential: name them on it first"
        else:
            why = "they need to be in its team, hold a role its case type names or be named on it"
        raise InvalidInput(f"{person.id} may not see this case: {why}", field="owner")
    return person.id


def _ref(stored: dict[str, Any]) -> CaseRef:
    return CaseRef(stored["case_id"], stored["version"], stored["status"])
