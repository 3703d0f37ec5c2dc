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
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.services.actors import Actor
from casework.services.errors import InvalidInput
from casework.store.tables import IdempotencyKey, table_of

KEY_FIELD = "Idempotency-Key"
_KEYS = table_of(IdempotencyKey)
# Built once: engine commands with a key check it on every call.
_LOAD_KEY = select(_KEYS.c.request_hash, _KEYS.c.result).where(
    _KEYS.c.key == bindparam("b_key"), _KEYS.c.actor == bindparam("b_actor")
)
_INSERT_KEY = _KEYS.insert()


def request_hash(request: dict[str, Any]) -> str:
    text = json.dumps(request, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def replayed(
    bind: Session | Connection, actor: Actor, key: str | None, request: dict[str, Any]
) -> dict[str, Any] | None:
    """The stored result of `key` when it was used for this request; None when unused."""
    if key is None:
        return None
    row = bind.execute(_LOAD_KEY, {"b_key": key, "b_actor": actor.id}).first()
    if row is None:
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
    if key is None:
        return
    bind.execute(
        _INSERT_KEY,
        {
            "key": key,
            "actor": actor.id,
            "request_hash": request_hash(request),
            "result": result,
            "created_at": now,
        },
    )


def once(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    key: str | None,
    request: dict[str, Any],
    now: datetime,
    action: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """`action()`'s result, or the stored one when `key` was used for this request."""
    if key is None:
        return action()
    with db() as session:
        stored = replayed(session, actor, key, request)
    if stored is not None:
        return stored
    result = action()
    try:
        with db.begin() as session:
            remember(session, actor, key, request, result, now)
    except IntegrityError:
        # A request with the same key finished first: its result is the one that stands
        # (or, for another request, the refusal).
        with db() as session:
            stored = replayed(session, actor, key, request)
        return stored if stored is not None else result
    return result
