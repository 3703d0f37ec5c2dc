"""Opening cases and running commands on them, each in a transaction of its own.

The command itself (load, check, engine, log, projections) is `case_commands`. Every
write is one transaction: the events, the engine state, the projections and the jobs
they cause commit together or not at all. Concurrency is optimistic: a case's `version`
goes up by one per commit; a writer that lost the race retries from a fresh read when
its command still applies, and otherwise gets a Conflict.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import AgendaOverflow, CommandRefused
from casework.engine import commands as c
from casework.engine.serialize import dump_state
from casework.services import idempotency, webhooks
from casework.services import warm as warm_cases
from casework.services.actors import Actor
from casework.services.audit import GENESIS, encoded_log_row, event_rows, insert_events
from casework.services.case_commands import (
    CaseRef,
    LostRace,
    StaleWarm,
    apply_command,
)
from casework.services.case_types import engine_for, latest_version
from casework.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Refused,
    ServiceError,
)
from casework.services.forms import check_case_file
from casework.services.projection import (
    project,
    stamped,
    state_columns,
)
from casework.services.search import has_index, mark
from casework.services.transactions import transaction
from casework.services.warm import WarmCase
from casework.store.direct import DirectQuery, DirectStatement, pipeline
from casework.store.direct_compile import json_text
from casework.store.identity_tables import CaseParticipant, User
from casework.store.tables import Case, CaseEvent, table_of

MAX_ATTEMPTS = 5

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_case_id(now: datetime) -> str:
    """A case id that sorts by opening time (ULID-like: 10 base32 digits of Unix
    milliseconds, then 6 random ones): new cases, their events and their plan items land
    at the right edge of their primary-key indexes instead of on random pages, so a busy
    database keeps writing the same few hot pages."""
    stamp = int(now.timestamp() * 1000)
    number = (stamp << 30) | secrets.randbits(30)
    digits = []
    for _ in range(16):
        number, digit = divmod(number, 32)
        digits.append(_CROCKFORD[digit])
    return "C-" + "".join(reversed(digits))


def open_case(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    type_id: str,
    now: datetime,
    data: dict[str, Any] | None = None,
    title: str | None = None,
    owner: str | None = None,
    team: str | None = None,
    priority: int = 3,
    case_id: str | None = None,
    idempotency_key: str | None = None,
    confidential: bool = False,
    admit: Callable[[Connection, int], None] | None = None,
    named: tuple[str, str] | None = None,
) -> CaseRef:
    """Open a case of the newest version of `type_id`. `admit`, when given, is called in
    the write's transaction with the version the case gets, before anything is
    written, to refuse the opening (by raising) on what the database says then.
    `named` (username, participant role): someone named on the case as it opens, in the
    same transaction and on its log (the requester of a request)."""
    data = dict(data or {})
    if not 1 <= priority <= 5:
        raise InvalidInput("priority must be between 1 (highest) and 5", field="priority")
    request = {
        "op": "open",
        "type": type_id,
        "data": data,
        "title": title,
        "owner": owner,
        "team": team,
        "priority": priority,
        "confidential": confidential,
        "named": list(named) if named is not None else None,
    }
    attempt = partial(
        _open,
        db,
        actor=actor,
        type_id=type_id,
        now=now,
        data=data,
        title=title,
        owner=owner,
        team=team,
        priority=priority,
        case_id=case_id,
        confidential=confidential,
        admit=admit,
        named=named,
        idempotency_key=idempotency_key,
        request=request,
    )
    return idempotency.after_collision(idempotency_key, attempt)


def _open(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    type_id: str,
    now: datetime,
    data: dict[str, Any],
    title: str | None,
    owner: str | None,
    team: str | None,
    priority: int,
    case_id: str | None,
    confidential: bool,
    admit: Callable[[Connection, int], None] | None,
    named: tuple[str, str] | None,
    idempotency_key: str | None,
    request: dict[str, Any],
) -> CaseRef:
    with transaction(db) as conn:
        replay = _replayed(conn, actor, idempotency_key, request, now)
        if replay is not None:
            return replay
        version = latest_version(conn, type_id)
        if admit is not None:
            admit(conn, version)
        engine = engine_for(conn, type_id, version)
        check_case_file(engine, data)
        case_id = case_id or new_case_id(now)
        try:
            state, events = engine.start(now, data, case_id=case_id)
        except (CommandRefused, AgendaOverflow) as exc:
            raise Refused(str(exc)) from None
        columns = state_columns(engine, state)
        values = stamped(columns, now)
        row_title = title or f"{engine.definition.name} {case_id}"
        # The log's first entry says what the engine's events do not: which type version,
        # title, priority, owner and team the case was opened with.
        opened = {
            "type": type_id,
            "version": version,
            "title": row_title,
            "priority": priority,
            "owner": owner,
            "team": team,
        }
        if confidential:
            # Only when set, so the entries of ordinary cases keep their exact shape.
            opened["confidential"] = True
        first = encoded_log_row(GENESIS, case_id, 1, "CaseOpened", opened, actor.id, now)
        rows, last_seq, last_hash = event_rows(case_id, 1, first["hash"], events, actor, now)
        rows.insert(0, first)
        named_id = None
        if named is not None:
            username, role = named
            named_id = _ACCOUNT_ID.first(conn, {"b_name": username})
            if named_id is None:
                raise InvalidInput(f"no active user {username}", field="named")
            last_seq += 1
            entry = {"user": username, "role": role}
            rows.append(
                encoded_log_row(
                    last_hash, case_id, last_seq, "ParticipantAdded", entry, actor.id, now
                )
            )
            last_hash = rows[-1]["hash"]
        # Its search document is marked in the pipeline; whether the database has the
        # index is asked before it (a read through SQLAlchemy, which cannot run inside a
        # pipeline; answered from memory once it is yes).
        indexed = has_index(conn)
        with pipeline(conn):
            _INSERT_CASE.execute(
                conn,
                {
                    "id": case_id,
                    "type_id": type_id,
                    "type_version": version,
                    "title": row_title,
                    "owner": owner,
                    "team": team,
                    "confidential": confidential,
                    "opened_at": now,
                    "state": json_text(dump_state(state)),
                    "version": 1,
                    "last_seq": last_seq,
                    "last_hash": last_hash,
                    **{**values, "priority": values.get("priority", priority)},
                },
            )
            insert_events(conn, rows)
            project(
                conn,
                engine=engine,
                case_id=case_id,
                state=state,
                events=events,
                now=now,
                priority=values.get("priority", priority),
            )
            if indexed:
                mark(conn, case_id, last_seq)  # its search document: services.search
            if named is not None and named_id is not None:  # both or neither
                _INSERT_NAMED.execute(
                    conn,
                    {
                        "case_id": case_id,
                        "user_id": named_id.id,
                        "role": named[1],
                        "added_by": actor.id,
                        "created_at": now,
                    },
                )
        webhooks.enqueue(conn, type_id, case_id, rows)
        ref = CaseRef(case_id, 1, values["status"])
        _remember(conn, actor, idempotency_key, request, ref, now)
        bind = conn.engine
    # Committed: the next command on this case can start from the state in hand.
    warm = WarmCase(
        version=1,
        priority=values.get("priority", priority),
        type_id=type_id,
        type_version=version,
        state=state,
        status=ref.status,
        last_seq=last_seq,
        last_hash=last_hash,
        columns=columns,
    )
    warm_cases.put(bind, case_id, warm)
    return ref


def run_command(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    command: c.Command,
    now: datetime,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    on_commit: Callable[[Connection], None] | None = None,
    request: dict[str, Any] | None = None,
) -> CaseRef:
    """Apply one engine command to a case, durably, with optimistic concurrency.

    `on_commit` runs inside the same transaction after the change, on its Connection (the
    worker marks its job done there, so the case change and the job's end commit
    together); if it raises, nothing of the command is kept.

    `request` is what an `idempotency_key` is checked against (default: the command).
    A caller whose command depends on the state it read (a merge patch) passes what the
    client sent, so a retry of the same request matches after the case moved on.
    """
    if request is None and idempotency_key is not None:
        # Only a keyed command is matched against its request: repr is not free.
        request = {"op": type(command).__name__, "case": case_id, "command": repr(command)}
    for attempt in range(MAX_ATTEMPTS):
        bind: Engine | None = None
        try:
            with transaction(db) as conn:
                bind = conn.engine
                replay = _replayed(conn, actor, idempotency_key, request, now)
                if replay is not None:
                    return replay
                # A retry reads the row: the warm copy is what lost the race.
                ref, warm = apply_command(
                    conn, actor, case_id, command, now, expected_version, warm_ok=attempt == 0
                )
                _remember(conn, actor, idempotency_key, request, ref, now)
                if on_commit is not None:
                    on_commit(conn)
        except (LostRace, IntegrityError) as exc:
            if bind is not None:
                warm_cases.drop(bind, case_id)
            # Another writer committed first; read again. If the command no longer
            # applies, the engine refuses it on the fresh state (a Refused, not a retry).
            if expected_version is not None and not isinstance(exc, StaleWarm):
                raise Conflict("the case changed while the command ran") from None
            continue
        except ServiceError:
            if bind is not None:
                warm_cases.drop(bind, case_id)
            # Refused (the task is done, the version the client saw is gone): maybe by
            # this very request, sent twice with its key, whose first copy committed
            # while this one waited for the case's lock. Then its answer; otherwise the
            # refusal stands.
            stored = idempotency.stored_answer(db, actor, idempotency_key, request, now)
            if stored is None:
                raise
            return _ref_of(stored)
        except BaseException:
            if bind is not None:
                warm_cases.drop(bind, case_id)
            raise
        warm_cases.put(bind, case_id, warm)
        return ref
    raise Conflict(f"case {case_id} is too busy: gave up after {MAX_ATTEMPTS} attempts")


_INSERT_CASE = DirectStatement(table_of(Case).insert())
_INSERT_NAMED = DirectStatement(table_of(CaseParticipant).insert())
_ACCOUNT_ID = DirectQuery(
    select(table_of(User).c.id).where(
        table_of(User).c.username == bindparam("b_name"), table_of(User).c.active.is_(True)
    )
)


def _replayed(
    conn: Connection,
    actor: Actor,
    key: str | None,
    request: dict[str, Any] | None,
    now: datetime,
) -> CaseRef | None:
    if key is None or request is None:
        return None
    result = idempotency.replayed(conn, actor, key, request, now=now)
    return None if result is None else _ref_of(result)


def _ref_of(result: dict[str, Any]) -> CaseRef:
    created = tuple(result.get("created", ()))
    return CaseRef(result["case_id"], result["version"], result["status"], created)


def _remember(
    conn: Connection,
    actor: Actor,
    key: str | None,
    request: dict[str, Any] | None,
    ref: CaseRef,
    now: datetime,
) -> None:
    if key is None or request is None:
        return
    result = {
        "case_id": ref.case_id,
        "version": ref.version,
        "status": ref.status,
        "created": list(ref.created),
    }
    idempotency.remember(conn, actor, key, request, result, now)


def get_row(session: Session, case_id: str) -> Case:
    row = session.get(Case, case_id)
    if row is None:
        raise NotFound(f"no case {case_id}")
    return row


def events_of(session: Session, case_id: str) -> list[CaseEvent]:
    return list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        )
    )
