"""What routes get from the app: the database, the clock, the settings, and headers that
several routes read the same way.

Routes open sessions themselves (`with db() as session:` for reads) and pass `db` to
services that write (each owns its transaction). A request-long session is avoided on
purpose: on SQLite every transaction takes the write lock, so a read session held open
across a service's write would wait on itself.

A dependency that does no I/O is `async def`: FastAPI runs a plain `def` one on a worker
thread, a hop there and back for each, several a request. Those that reach the database
(the caller from a token or a session cookie) stay plain functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from casework.server.metrics import Metrics
from casework.server.settings import Settings
from casework.services.errors import InvalidInput

IDEMPOTENCY_KEY_LENGTH = 200
# The largest id (and version) the databases store: a larger one in a path or query is a
# 422, not an overflow inside the driver (a 500).
MAX_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
# Every API route module's router carries the whole prefix itself, and the app includes
# them without adding one: the matched route's template (`scope["route"].path`, what
# metrics and logs label requests with) is then the full path on every FastAPI version.
API_PREFIX = "/api/v1"


@dataclass(frozen=True, slots=True)
class ServerState:
    """One per app: its settings, its one engine, its metrics and its clock."""

    settings: Settings
    engine: Engine
    db: sessionmaker[Session]
    metrics: Metrics
    clock: Callable[[], datetime]


async def server_state(request: Request) -> ServerState:
    state = request.app.state.casework
    assert isinstance(state, ServerState)
    return state


State = Annotated[ServerState, Depends(server_state)]


async def get_db(state: State) -> sessionmaker[Session]:
    return state.db


async def get_now(state: State) -> datetime:
    """The one reading of the clock for a request (services take `now` as an argument)."""
    return state.clock()


Db = Annotated[sessionmaker[Session], Depends(get_db)]
Now = Annotated[datetime, Depends(get_now)]


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique string: repeating a request with the same key returns "
            "the first result instead of doing it twice.",
        ),
    ] = None,
) -> str | None:
    """The Idempotency-Key header, checked; the services store and replay per actor
    (`services.cases`: `idempotency_key=`), so routes only pass it on."""
    if key is None:
        return None
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_LENGTH} printable ASCII characters",
            field="Idempotency-Key",
        )
    return key


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


def given_fields(body: BaseModel, *, nullable: set[str]) -> dict[str, Any]:
    """The fields a PATCH body gave, for a service's keyword arguments: null only where it
    means something (`email: null` removes the address), else a 422."""
    changes: dict[str, Any] = {}
    for name in sorted(body.model_fields_set):
        value = getattr(body, name)
        if value is None and name not in nullable:
            raise InvalidInput(f"{name} cannot be null", field=name)
        changes[name] = value
    return changes
