"""Idempotency keys: the same request sent twice with one key is applied once.

Engine commands (`cases.open_case`, `cases.run_command`), document uploads, notes,
links and participants all keep theirs here. Here a result is any JSON
object, in the same `idempotency_keys` table and per actor, so one key is one request
whatever route it was sent to: the same key with a different request is refused.

- `replayed` / `remember` run inside the caller's transaction: the write and its key
  commit together (what `collaboration.add_note` does; a note is not idempotent).
- `once` wraps a write that runs its own transaction, checking the key before and
  storing it after. Only for writes that are idempotent by nature (naming a participant
  twice, linking two cases again, setting the same confidentiality): should the process
  die between the write and the key, or two requests with one key run at once, doing it
  again changes nothing.

Keys expire: one older than `kept_for()` (CASEWORK_RETENTION_IDEMPOTENCY, 7 days by
default, `off`: never) is forgotten, and a retry with it is a new request. Retention
(`services/retention.py`, run by the workers and `casework db prune`) deletes such keys;
to make this exact whatever the pruner is doing, `replayed` also treats a stored key
that old (by the request's `now`) as absent, and `remember` then overwrites it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.services.actors import Actor
from casework.services.errors import InvalidInput, ServiceError
from casework.store.tables import IdempotencyKey, table_of

log = logging.getLogger(__name__)
T = TypeVar("T")

KEY_FIELD = "Idempotency-Key"
_KEYS = table_of(IdempotencyKey)
# Built once: engine commands with a key check it on every call.
_LOAD_KEY = select(_KEYS.c.request_hash, _KEYS.c.result, _KEYS.c.created_at).where(
    _KEYS.c.key == bindparam("b_key"), _KEYS.c.actor == bindparam("b_actor")
)
_INSERT_KEY = _KEYS.insert()


def _overwriting(insert: Any) -> Any:
    """INSERT the key, or overwrite the stored one if it expired (`created_at` before
    `b_cutoff`); RETURNING a row when either happened, none when an unexpired key with
    that name is stored."""
    statement = insert(_KEYS)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[_KEYS.c.key, _KEYS.c.actor],
        set_={"request_hash": new.request_hash, "result": new.result, "created_at": new.created_at},
        where=_KEYS.c.created_at < bindparam("b_cutoff"),
    ).returning(_KEYS.c.key)


_UPSERT_KEY = {"postgresql": _overwriting(postgresql.insert), "sqlite": _overwriting(sqlite.insert)}


@functools.cache
def kept_for() -> timedelta | None:
    """How long a key is remembered (None: for ever): CASEWORK_RETENTION_IDEMPOTENCY,
    read from the environment once per process, at the first keyed request.

    A value it cannot read is logged as an error, and keys are then never treated as
    expired here (a retry is never applied twice because of a typo); the workers and
    `casework db prune` refuse to start with it. Tests change the variable and call
    `kept_for.cache_clear()`."""
    # Imported here: retention imports the services that import this module.
    from casework.services import retention

    try:
        return retention.idempotency_from_env(os.environ)
    except InvalidInput as exc:
        log.error("%s: idempotency keys are kept for ever until it is fixed", exc.message)
        return None


def _expired(created_at: datetime, now: datetime) -> bool:
    period = kept_for()
    if period is None:
        return False
    if created_at.tzinfo is None:  # SQLite: the UTC wall time, as it was written
        created_at = created_at.replace(tzinfo=UTC)
    return created_at < now - period


class _KeyTaken(Exception):
    """An unexpired key of that name and actor is stored already."""


def request_hash(request: dict[str, Any]) -> str:
    text = json.dumps(request, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def replayed(
    bind: Session | Connection,
    actor: Actor,
    key: str | None,
    request: dict[str, Any],
    *,
    now: datetime,
) -> dict[str, Any] | None:
    """The stored result of `key` when it was used for this request; None when unused,
    or when it expired by `now` (the request's time, as passed to `remember`)."""
    if key is None:
        return None
    row = bind.execute(_LOAD_KEY, {"b_key": key, "b_actor": actor.id}).first()
    if row is None or _expired(row.created_at, now):
        return None
    if row.request_hash != request_hash(request):
        raise InvalidInput(
            "this Idempotency-Key was already used for a different request", field=KEY_FIELD
        )
    result: dict[str, Any] = dict(row.result)
    return result


def remember(
    bind: Session | Connection,
    actor: Actor,
    key: str | None,
    request: dict[str, Any],
    result: dict[str, Any],
    now: datetime,
) -> None:
    """Store `key`'s result, in the caller's transaction; an expired key of that name is
    overwritten. IntegrityError when an unexpired one is stored (a request with the same
    key committed first)."""
    if key is None:
        return
    row = {
        "key": key,
        "actor": actor.id,
        "request_hash": request_hash(request),
        "result": result,
        "created_at": now,
    }
    period = kept_for()
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    upsert = _UPSERT_KEY.get(dialect.name)
    if period is None or upsert is None:
        bind.execute(_INSERT_KEY, row)
        return
    # In UTC, as `created_at` is written (SQLite keeps no offset).
    cutoff = now.astimezone(UTC) - period
    if bind.execute(upsert, {**row, "b_cutoff": cutoff}).first() is None:
        # What the plain INSERT raised, for callers that retry on it (they then replay
        # the stored key or refuse a different request).
        raise IntegrityError(
            "INSERT INTO idempotency_keys", None, _KeyTaken(f"key {key!r} is already stored")
        )


def after_collision(key: str | None, attempt: Callable[[], T]) -> T:
    """`attempt()`, and once more when its key write collided with a copy of the request
    that committed first (PostgreSQL runs copies at once; the attempt was rolled back):
    the second attempt finds the key and answers with the first one's result, or
    refuses a different request with it. Anything else fails again the same way."""
    try:
        return attempt()
    except IntegrityError:
        if key is None:
            raise
    return attempt()


def stored_answer(
    db: sessionmaker[Session],
    actor: Actor,
    key: str | None,
    request: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any] | None:
    """`replayed`, in a read of its own: for a keyed request refused on what a copy of it
    left behind (the task it completed, the link it removed), the copy's answer."""
    if key is None or request is None:
        return None
    with db() as session:
        return replayed(session, actor, key, request, now=now)


def once(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    key: str | None,
    request: dict[str, Any],
    now: datetime,
    action: Callable[[Session], dict[str, Any]],
) -> dict[str, Any]:
    """`action(session)`'s result, or the stored one when `key` was used for this request.

    The action and the key are written in one transaction: a copy of the request sent
    while the first one runs either finds the key (SQLite lets one writer in at a time),
    or, on PostgreSQL, runs on what the first one committed: its key write collides, or
    its action is refused there; either way it is rolled back, action and all, and
    answers with the first one's result."""

    def attempt() -> dict[str, Any]:
        with db.begin() as session:
            stored = replayed(session, actor, key, request, now=now)
            if stored is not None:
                return stored
            result = action(session)
            remember(session, actor, key, request, result, now)
            return result

    try:
        return after_collision(key, attempt)
    except ServiceError:
        stored = stored_answer(db, actor, key, request, now)
        if stored is None:
            raise
        return stored
