"""A case's timeline: every entry of its log, newest first, each with a line a person can
read, filtered by type and time, a page at a time.

Pages are cut by sequence number (the log's primary key after the case id), so a page
never repeats or skips an entry however many are appended while a client pages. Names
come from the case's type version (plan items, decisions) and its plan item rows (timers
and sentries name only an instance). A link to a case the reader may not see keeps its
entry, without that case's id: the id alone must not tell them it exists. The entries
of internal notes are left out for whoever may not read those notes (a requester).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from casework.engine import CaseEngine
from casework.services.access import may_read_internal_notes
from casework.services.actors import Actor
from casework.services.case_types import engine_for
from casework.services.cursors import before_cursor, before_key
from casework.services.errors import InvalidInput
from casework.services.rebuild import utc
from casework.services.visibility import case_facts, get_case, visible_condition
from casework.store.tables import Case, CaseEvent, PlanItemRow

MAX_LIMIT = 500
_SHORT = 120  # characters of a note or a case file change shown in a summary
_LINK_EVENTS = frozenset({"CasesLinked", "CasesUnlinked"})
_ASSIGNED = {"claim": "claimed by", "assign": "assigned to", "delegate": "delegated to"}
_DOCUMENT_VERBS = {
    "DocumentAdded": "document added",
    "DocumentVersionAdded": "new document version",
    "DocumentDeleted": "document moved to the bin",
    "DocumentRestored": "document restored from the bin",
    "DocumentPurged": "document purged",
}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    seq: int
    type: str
    at: datetime
    actor: str
    summary: str
    data: dict[str, Any]  # the logged payload (a hidden linked case's id left out)


@dataclass(frozen=True, slots=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: str | None


def timeline(
    session: Session,
    *,
    actor: Actor,
    case_id: str,
    types: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TimelinePage:
    """Entries newest first; `since` inclusive, `until` exclusive; NotFound for a case
    the actor may not see."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    row = get_case(session, actor, case_id)
    query = select(CaseEvent).where(CaseEvent.case_id == case_id)
    if not _reads_internal_notes(session, actor, case_id):
        query = query.where(_NOT_INTERNAL_NOTE)
    if cursor is not None:
        query = query.where(CaseEvent.seq < before_key(cursor))
    if types:
        query = query.where(CaseEvent.type.in_(sorted(set(types))))
    if since is not None:
        query = query.where(CaseEvent.at >= utc(since))
    if until is not None:
        query = query.where(CaseEvent.at < utc(until))
    rows = list(session.scalars(query.order_by(CaseEvent.seq.desc()).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = before_cursor(rows[-1].seq)
    engine = engine_for(session, row.type_id, row.type_version)
    return TimelinePage(describe(session, actor, engine, case_id, rows), next_cursor)


def last_entries(
    session: Session,
    *,
    actor: Actor,
    engine: CaseEngine,
    case_id: str,
    count: int,
    internal: bool,
) -> list[TimelineEntry]:
    """The newest `count` entries of a case the caller has already been allowed to see;
    `internal`: whether they may read its internal notes (the caller knows the case)."""
    query = select(CaseEvent).where(CaseEvent.case_id == case_id)
    if not internal:
        query = query.where(_NOT_INTERNAL_NOTE)
    rows = session.scalars(query.order_by(CaseEvent.seq.desc()).limit(count))
    return describe(session, actor, engine, case_id, list(rows))


# A requester's timeline has no entry for an internal note at all, not even a sealed
# one: that the staff wrote about their request, and when, is itself what they must not
# read. Left out in the query, so a page still holds `limit` entries.
_NOT_INTERNAL_NOTE = or_(
    CaseEvent.type != "NoteAdded",
    func.coalesce(CaseEvent.payload["internal"].as_boolean(), false()).is_(false()),
)


def _reads_internal_notes(session: Session, actor: Actor, case_id: str) -> bool:
    return actor.is_admin or may_read_internal_notes(actor, case_facts(session, case_id))


def describe(
    session: Session, actor: Actor, engine: CaseEngine, case_id: str, rows: Sequence[CaseEvent]
) -> list[TimelineEntry]:
    hidden = _hidden_cases(session, actor, rows)
    names = _Names(engine, _instance_names(session, case_id, rows))
    entries = []
    for r in rows:
        payload = dict(r.payload)
        if r.type in _LINK_EVENTS and payload.get("other") in hidden:
            payload["other"] = None
        entries.append(
            TimelineEntry(
                seq=r.seq,
                type=r.type,
                at=utc(r.at),
                actor=r.actor,
                summary=summary(r.type, payload, names),
                data=payload,
            )
        )
    return entries


def _hidden_cases(session: Session, actor: Actor, rows: Iterable[CaseEvent]) -> set[str]:
    linked = {str(r.payload.get("other")) for r in rows if r.type in _LINK_EVENTS}
    if not linked or actor.is_admin:
        return set()
    seen = set(
        session.scalars(
            select(Case.id).where(Case.id.in_(sorted(linked)), visible_condition(session, actor))
        )
    )
    return linked - seen


def _instance_names(session: Session, case_id: str, rows: Iterable[CaseEvent]) -> dict[str, str]:
    wanted = {
        str(r.payload["instance_id"]) for r in rows if isinstance(r.payload.get("instance_id"), str)
    }
    if not wanted:
        return {}
    found = session.execute(
        select(PlanItemRow.instance_id, PlanItemRow.name).where(
            PlanItemRow.case_id == case_id, PlanItemRow.instance_id.in_(sorted(wanted))
        )
    )
    return {instance: name for instance, name in found}


class _Names:
    """Plan item and decision names of a case type version, and of instances."""

    def __init__(self, engine: CaseEngine, instances: Mapping[str, str]) -> None:
        self._specs = engine.compiled.specs
        self._decisions = {d.id: d.name for d in engine.definition.decisions}
        self._instances = instances

    def of(self, payload: Mapping[str, Any]) -> str:
        """The name of the instance an entry is about: its plan item row's (an ad-hoc
        task's own name), else its plan item's, else the id."""
        instance = payload.get("instance_id")
        if isinstance(instance, str) and instance in self._instances:
            return self._instances[instance]
        spec = self._specs.get(str(payload.get("item_id")))
        if spec is not None:
            return spec.item.name
        return str(payload.get("item_id") or instance)

    def decision(self, decision_id: Any) -> str | None:
        return self._decisions.get(str(decision_id))


def summary(type_: str, p: Mapping[str, Any], names: _Names) -> str:
    """One line about a log entry."""
    if type_ == "CaseOpened":
        text = f"case opened: {p.get('title')}"
        who = [f"owner {p['owner']}"] if p.get("owner") else []
        who += [f"team {p['team']}"] if p.get("team") else []
        return text + (f" ({', '.join(who)})" if who else "")
    if type_ == "CaseStarted":
        return f"case started ({p.get('definition_id')} version {p.get('definition_version')})"
    if type_ == "CaseTransitioned":
        return f"case {p.get('transition')}: {p.get('from_state')} → {p.get('to_state')}"
    if type_ == "CaseFileChanged":
        return "case file: " + _changes(p.get("changes") or {})
    if type_ == "PlanItemCreated":
        repeat = f" #{p['index']}" if int(p.get("index") or 1) > 1 else ""
        return f"{names.of(p)}{repeat} created ({p.get('state')})"
    if type_ == "PlanItemTransitioned":
        return f"{names.of(p)}: {p.get('transition')} ({p.get('from_state')} → {p.get('to_state')})"
    if type_ == "PlanItemFaulted":
        return f"{names.of(p)} failed: {_short(str(p.get('reason', '')))}"
    if type_ == "TimerScheduled":
        return f"{names.of(p)}: timer due {p.get('due')}"
    if type_ == "OnPartRemembered":
        return f"{names.of(p)}: part of a condition met"
    if type_ == "OnPartsForgotten":
        return f"{names.of(p)}: condition parts forgotten"
    if type_ == "DecisionEvaluated":
        return decision_text(p, names.decision(p.get("decision")))
    if type_ == "TaskAssigned":
        if p.get("assignee") is None:
            return f"{names.of(p)}: back in the queue ({p.get('how')})"
        verb = _ASSIGNED.get(str(p.get("how")), "assigned to")
        return f"{names.of(p)}: {verb} {p.get('assignee')}"
    if type_ == "AdHocTaskAdded":
        role = f" for the {p['role']} role" if p.get("role") else ""
        return f"ad-hoc task added: {p.get('name')}{role}"
    return _collaboration_summary(type_, p)


def _collaboration_summary(type_: str, p: Mapping[str, Any]) -> str:
    if type_ == "CaseMigrated":
        added = ", ".join(str(item) for item in p.get("created") or ())
        return f"migrated from version {p.get('from')} to version {p.get('to')}" + (
            f", adding {added}" if added else ""
        )
    if type_ == "DeadlinePassed":
        who = f", assigned to {p['assignee']}" if p.get("assignee") else ""
        return f"{p.get('name')}: deadline passed (due {p.get('due_at')}{who})"
    if type_ == "NoteAdded":
        return ("internal note: " if p.get("internal") else "note: ") + _short(
            str(p.get("body", ""))
        )
    if type_ in _LINK_EVENTS:
        verb = "linked" if type_ == "CasesLinked" else "unlinked"
        other = p.get("other") or "a case you may not see"
        return f"{verb}: {p.get('kind')} {other}"
    if type_ == "ParticipantAdded":
        return f"{p.get('user')} named on the case as {p.get('role')}"
    if type_ == "ParticipantRemoved":
        return f"{p.get('user')} no longer named on the case"
    if type_ == "ConfidentialityChanged":
        return "made confidential" if p.get("confidential") else "no longer confidential"
    if type_ == "CaseReassigned":
        moves = [f"{name} {_move(p[name])}" for name in ("owner", "team") if name in p]
        return "reassigned: " + ", ".join(moves)
    if type_ == "CasePriorityChanged":
        return f"priority changed: {_move(p.get('priority'))}"
    if type_ in _DOCUMENT_VERBS:
        version = f" (version {p['version']})" if "version" in p else ""
        return f"{_DOCUMENT_VERBS[type_]}: {p.get('name')}{version}"
    # Entries other parts of the system add later still read as words.
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type_).lower()


def _move(change: Any) -> str:
    """`ann → bob` of a {"from", "to"} change; no one, no team: `(none)`."""
    if not isinstance(change, Mapping):
        return "?"
    before, after = change.get("from"), change.get("to")
    return f"{'(none)' if before is None else before} → {'(none)' if after is None else after}"


def decision_text(payload: Mapping[str, Any], name: str | None = None) -> str:
    """One line for a DecisionEvaluated entry: what the decision set, by which rules (with
    their notes), and the warnings of a null result."""
    outputs = ", ".join(
        f"{field} = {json.dumps(value, ensure_ascii=False)}"
        for field, value in payload.get("outputs", {}).items()
    )
    matched = payload.get("matched", [])
    rules = ", ".join(
        str(m.get("index")) + (f" ({'; '.join(m['annotations'])})" if m.get("annotations") else "")
        for m in matched
    )
    why = f"rule{'s' if len(matched) > 1 else ''} {rules}" if matched else "no rule matched"
    text = f"decision {name or payload.get('decision')}: {outputs} · {why}"
    warnings = payload.get("warnings") or []
    if warnings:
        text += " · warnings: " + "; ".join(str(w) for w in warnings)
    return text


def _changes(changes: Mapping[str, Any]) -> str:
    parts = [
        f"{k} removed" if v is None else f"{k} = {json.dumps(v, ensure_ascii=False, default=str)}"
        for k, v in changes.items()
    ]
    return _short(", ".join(parts))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"
