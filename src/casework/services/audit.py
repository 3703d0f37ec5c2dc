"""The event log's hash chain: appending events and checking nobody altered them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from json.encoder import encode_basestring_ascii
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from casework.engine.events import Event
from casework.services.actors import Actor
from casework.store.db import in_one_transaction
from casework.store.direct import DirectStatement
from casework.store.direct_compile import JsonText, json_encoder
from casework.store.tables import Case, CaseEvent, table_of

GENESIS = "0" * 64
# What json.dumps(..., sort_keys=True, separators=(",", ":"), default=str) gives, with
# the encoder built once instead of on every call.
_CANONICAL = json_encoder(sort_keys=True, default=str)
# What _CANONICAL does with a str (ensure_ascii), without its Python-level call.
_STRING: Callable[[str], str] = encode_basestring_ascii


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
    return _chained(previous, case_id, seq, type_, _CANONICAL(payload), actor, at)


def _chained(
    previous: str, case_id: str, seq: int, type_: str, payload_json: str, actor: str, at: datetime
) -> str:
    return _chained_after(previous, _Entry(case_id, actor, at), seq, type_, payload_json)


class _Entry:
    """What every event of one append shares (case, actor, time), as canonical JSON
    pieces: encoded once per command rather than once per event."""

    __slots__ = ("head",)

    def __init__(self, case_id: str, actor: str, at: datetime) -> None:
        text = _STRING
        # Keys in sorted order, exactly as the canonical encoder writes them (a property
        # test holds the two together): actor, at, case | payload | seq, type.
        self.head = f'{{"actor":{text(actor)},"at":{text(at.isoformat())},"case":{text(case_id)},'


def _chained_after(previous: str, entry: _Entry, seq: int, type_: str, payload_json: str) -> str:
    # Spelled out rather than encoding a dict around the payload: the payload's JSON is
    # encoded once and also stored (see encoded_log_row).
    body = f'{entry.head}"payload":{payload_json},"seq":{seq},"type":{_STRING(type_)}}}'
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


def encoded_log_row(
    previous: str,
    case_id: str,
    seq: int,
    type_: str,
    payload: dict[str, Any],
    actor: str,
    at: datetime,
) -> dict[str, Any]:
    """`log_row` with the payload already encoded as JSON text, for `DirectStatement`s
    only (SQLAlchemy's JSON type would encode the text again, as a JSON string)."""
    payload_json = JsonText(_CANONICAL(payload))
    entry = _Entry(case_id, actor, at)
    return {
        "case_id": case_id,
        "seq": seq,
        "type": type_,
        "payload": payload_json,
        "actor": actor,
        "at": at,
        "hash": _chained_after(previous, entry, seq, type_, payload_json),
    }


def event_rows(
    case_id: str,
    last_seq: int,
    last_hash: str,
    events: list[Event],
    actor: Actor,
    now: datetime,
) -> tuple[list[dict[str, Any]], int, str]:
    """The engine's events as `case_events` rows numbered after `last_seq` and chained
    after `last_hash`, for `insert_events`; with the new last seq and hash."""
    rows = []
    entry = _Entry(case_id, actor.id, now)
    for event in events:
        last_seq += 1
        payload_json = JsonText(payload_text(event))
        last_hash = _chained_after(last_hash, entry, last_seq, event.type, payload_json)
        rows.append(
            {
                "case_id": case_id,
                "seq": last_seq,
                "type": event.type,
                "payload": payload_json,
                "actor": actor.id,
                "at": now,
                "hash": last_hash,
            }
        )
    return rows, last_seq, last_hash


def payload_text(event: Event) -> str:
    """The canonical JSON of the event's payload, `_CANONICAL(event_payload(event))`,
    written straight from its fields: no dict is built, and the keys are sorted once per
    event class instead of on every event (a property test holds the two equal)."""
    write = _WRITERS.get(type(event))
    if write is None:
        write = _WRITERS[type(event)] = _payload_writer(type(event))
    return write(event)


_WRITERS: dict[type[Any], Callable[[Any], str]] = {}


def _payload_writer(cls: type[Any]) -> Callable[[Any], str]:
    names = sorted(field.name for field in fields(cls))
    if not names:
        return lambda _event: "{}"
    keys = tuple(("{" if i == 0 else ",") + _STRING(name) + ":" for i, name in enumerate(names))
    values: Callable[[Any], tuple[Any, ...]] = (
        attrgetter(*names) if len(names) > 1 else lambda event: (getattr(event, names[0]),)
    )
    value_text = _value_text

    def write(event: Any) -> str:
        return "".join(map(str.__add__, keys, map(value_text, values(event)))) + "}"

    return write


def _value_text(value: Any) -> str:
    """One payload value as `_CANONICAL(event_payload(...))` writes it."""
    kind = type(value)
    if kind is str:
        return _STRING(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if isinstance(value, datetime):
        return _STRING(value.isoformat())  # as event_payload turns it into text
    if isinstance(value, StrEnum):
        return _STRING(value.value)
    return _CANONICAL(value)  # lists, dicts, floats, booleans: the encoder's own way


_INSERT_EVENTS = DirectStatement(table_of(CaseEvent).insert())


def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write rows made by `event_rows` (their payloads are encoded JSON text)."""
    _INSERT_EVENTS.executemany(conn, rows)


@dataclass(frozen=True, slots=True)
class ChainProblem:
    case_id: str
    seq: int
    message: str

    def __str__(self) -> str:
        return f"case {self.case_id}: event {self.seq}: {self.message}"


def verify_case(session: Session, case_id: str) -> ChainProblem | None:
    """The first event of the case that was altered, removed or inserted, if any."""
    case = session.get(Case, case_id)
    events = table_of(CaseEvent)
    rows = session.execute(select(events).where(events.c.case_id == case_id).order_by(events.c.seq))
    return verify_rows(case_id, case.last_seq if case is not None else None, rows)


def verify_rows(case_id: str, last_seq: int | None, rows: Iterable[Any]) -> ChainProblem | None:
    """`verify_case` of the case's events already read, in `seq` order (rows or
    `CaseEvent`s), against the count its row records (`last_seq`; None: no row)."""
    check = _Chain(case_id, last_seq)
    for row in rows:
        check.add(row)
    return check.finish()


def verify_all(
    session: Session, *, on_case: Callable[[], None] | None = None
) -> list[ChainProblem]:
    """`verify_case` for every case: cases and their events streamed in (case, seq)
    order, VERIFY_CASES cases at a time, not a query per case, so a nightly check of
    millions of events costs one scan. Each batch is read in a snapshot of its own, on
    a session of its own: one snapshot held through the whole log would stop
    PostgreSQL's vacuum from cleaning what commands rewrite meanwhile (every command
    rewrites its case row) and SQLite from starting its write-ahead log afresh, for as
    long as the check runs. A case's chain and its `last_seq` come from one snapshot,
    which is all a chain needs. `on_case` is called once per case checked (progress)."""
    bind = session.get_bind()
    problems: list[ChainProblem] = []
    after = ""
    while True:
        with Session(bind=bind) as own, in_one_transaction(own) as reading:
            last = _verify_batch(reading, after, problems, on_case)
        if last is None:
            return problems
        after = last


def _verify_batch(
    reading: Session,
    after: str,
    problems: list[ChainProblem],
    on_case: Callable[[], None] | None,
) -> str | None:
    """Verify the VERIFY_CASES cases after `after` (by id); the last one's id, None when
    there were none. On PostgreSQL the rows come through a server-side cursor, which
    lives in a transaction: `store.db.in_one_transaction` gives the batch one."""
    events = table_of(CaseEvent)
    cases = (
        select(_CASES.c.id, _CASES.c.last_seq)
        .where(_CASES.c.id > after)
        .order_by(_CASES.c.id)
        .limit(VERIFY_CASES)
        .subquery("batch")
    )
    rows = reading.execute(
        select(
            cases.c.id,
            cases.c.last_seq,
            events.c.seq,
            events.c.type,
            events.c.payload,
            events.c.actor,
            events.c.at,
            events.c.hash,
        )
        .select_from(cases.outerjoin(events, events.c.case_id == cases.c.id))
        .order_by(cases.c.id, events.c.seq)
        .execution_options(yield_per=STREAM_ROWS)
    )
    check: _Chain | None = None
    for row in rows:
        if check is None or row.id != check.case_id:
            if check is not None:
                _done(check, problems, on_case)
            check = _Chain(row.id, row.last_seq)
        if row.seq is not None:
            check.add(row)
    if check is None:
        return None
    _done(check, problems, on_case)
    return check.case_id


def _done(check: _Chain, problems: list[ChainProblem], on_case: Callable[[], None] | None) -> None:
    problem = check.finish()
    if problem is not None:
        problems.append(problem)
    if on_case is not None:
        on_case()


STREAM_ROWS = 2_000  # rows fetched at a time by verify_all
VERIFY_CASES = 1_000  # cases verified in one snapshot
_CASES = table_of(Case)


class _Chain:
    """One case's chain as `verify_all` reads it, event by event; the first problem."""

    __slots__ = ("case_id", "expected_seq", "last_seq", "previous", "problem")

    def __init__(self, case_id: str, last_seq: int | None) -> None:
        self.case_id, self.last_seq = case_id, last_seq
        self.previous, self.expected_seq = GENESIS, 1
        self.problem: ChainProblem | None = None

    def add(self, row: Any) -> None:
        if self.problem is not None:
            return  # the first problem is the one to name
        if row.seq != self.expected_seq:
            self.problem = ChainProblem(
                self.case_id, self.expected_seq, f"missing (the sequence jumps to {row.seq})"
            )
            return
        at = row.at.astimezone(UTC) if row.at.tzinfo else row.at.replace(tzinfo=UTC)
        digest = event_hash(
            self.previous, self.case_id, row.seq, row.type, row.payload, row.actor, at
        )
        if digest != row.hash:
            self.problem = ChainProblem(self.case_id, row.seq, "altered (its hash does not match)")
            return
        self.previous, self.expected_seq = row.hash, self.expected_seq + 1

    def finish(self) -> ChainProblem | None:
        """The problem, once every event was added: the log may also have lost its end
        (the case row counts more events than came; None: no case row to count)."""
        if self.problem is None and self.last_seq not in (None, self.expected_seq - 1):
            self.problem = ChainProblem(
                self.case_id,
                self.expected_seq,
                f"missing (the case records {self.last_seq} events)",
            )
        return self.problem
