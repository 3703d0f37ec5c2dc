"""The event log's hash chain: appending events and checking nobody altered them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.store.tables import Case, CaseEvent

GENESIS = "0" * 64
# What json.dumps(..., sort_keys=True, separators=(",", ":"), default=str) gives, with
# the encoder built once instead of on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def event_hash(
    previous: str,
    case_id: str,
    seq: int,
    type_: str,
    payload: dict[str, Any],
    actor: str,
    at: datetime,
) -> str:
    """sha256 over the previous hash and this event's canonical JSON (sorted keys, no
    spaces), so changing or removing any event breaks every hash after it."""
    body = _CANONICAL.encode(
        {
            "case": case_id,
            "seq": seq,
            "type": type_,
            "payload": payload,
            "actor": actor,
            "at": at.isoformat(),
        }
    )
    return hashlib.sha256((previous + body).encode()).hexdigest()


def log_row(
    previous: str,
    case_id: str,
    seq: int,
    type_: str,
    payload: dict[str, Any],
    actor: str,
    at: datetime,
) -> dict[str, Any]:
    """A `case_events` row, chained to the event before it (whose hash is `previous`)."""
    return {
        "case_id": case_id,
        "seq": seq,
        "type": type_,
        "payload": payload,
        "actor": actor,
        "at": at,
        "hash": event_hash(previous, case_id, seq, type_, payload, actor, at),
    }


@dataclass(frozen=True, slots=True)
class ChainProblem:
    case_id: str
    seq: int
    message: str

    def __str__(self) -> str:
        return f"case {self.case_id}: event {self.seq}: {self.message}"


def verify_case(session: Session, case_id: str) -> ChainProblem | None:
    """The first event of the case that was altered, removed or inserted, if any."""
    rows: Iterable[CaseEvent] = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
    )
    previous, expected_seq = GENESIS, 1
    for row in rows:
        if row.seq != expected_seq:
            return ChainProblem(case_id, expected_seq, f"missing (the sequence jumps to {row.seq})")
        # SQLite gives naive UTC back; PostgreSQL gives the session's time zone.
        at = row.at.astimezone(UTC) if row.at.tzinfo else row.at.replace(tzinfo=UTC)
        digest = event_hash(previous, case_id, row.seq, row.type, row.payload, row.actor, at)
        if digest != row.hash:
            return ChainProblem(case_id, row.seq, "altered (its hash does not match)")
        previous, expected_seq = row.hash, expected_seq + 1
    case = session.get(Case, case_id)
    if case is not None and case.last_seq != expected_seq - 1:
        return ChainProblem(
            case_id, expected_seq, f"missing (the case records {case.last_seq} events)"
        )
    return None


def verify_all(session: Session) -> list[ChainProblem]:
    problems = []
    for case_id in session.scalars(select(Case.id).order_by(Case.id)):
        problem = verify_case(session, case_id)
        if problem is not None:
            problems.append(problem)
    return problems
