"""Limiting password guesses: at most N failed logins per username and client in a window.

Kept in the database (`login_failures`) so that the limit holds for several server
processes and machines. An attempt is written down *before* the password is checked and
counted again after its own commit: of any number of concurrent attempts, the k-th to
commit sees at least k rows, so no burst gets more than N guesses through. A successful
login clears the username's rows for that client; old rows are deleted as new ones come.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from casework.services.errors import RateLimited
from casework.services.transactions import transaction
from casework.store.identity_tables import LoginFailure

MAX_KEY = 200


@dataclass(frozen=True, slots=True)
class LoginLimit:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


DEFAULT_LIMIT = LoginLimit()


def _key(username: str, client: str) -> tuple[str, str]:
    return username.strip().lower()[:MAX_KEY], (client or "unknown")[:100]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def begin_attempt(
    db: sessionmaker[Session], username: str, client: str, now: datetime, limit: LoginLimit
) -> int:
    """Count one attempt; RateLimited (nothing written) when the limit is reached.

    Returns the attempt's row id: `succeeded` deletes it with the others, a failure
    leaves it to count.
    """
    user_key, client_key = _key(username, client)
    since = now - limit.window
    with transaction(db) as conn:
        conn.execute(delete(LoginFailure).where(LoginFailure.at <= since))
        _check(conn, user_key, client_key, since, now, limit, limit.max_failures)
        attempt_id = conn.execute(
            insert(LoginFailure)
            .values(username=user_key, client=client_key, at=now)
            .returning(LoginFailure.id)
        ).scalar_one()
    # Committed: count again, this attempt included, to catch concurrent ones.
    try:
        with transaction(db) as conn:
            _check(conn, user_key, client_key, since, now, limit, limit.max_failures + 1)
    except RateLimited:
        with transaction(db) as conn:
            conn.execute(delete(LoginFailure).where(LoginFailure.id == attempt_id))
        raise
    return int(attempt_id)


def _check(
    conn: Connection,
    username: str,
    client: str,
    since: datetime,
    now: datetime,
    limit: LoginLimit,
    allowed: int,
) -> None:
    """RateLimited when `allowed` or more attempts are in the window."""
    where = (
        LoginFailure.username == username,
        LoginFailure.client == client,
        LoginFailure.at > since,
    )
    count = conn.execute(select(func.count()).select_from(LoginFailure).where(*where)).scalar_one()
    if count < allowed:
        return
    # Allowed again once enough of the oldest attempts have left the window.
    times = conn.scalars(
        select(LoginFailure.at).where(*where).order_by(LoginFailure.at).limit(count - allowed + 1)
    ).all()
    free_at = _utc(times[-1]) + limit.window
    wait = max(1, math.ceil((free_at - now).total_seconds()))
    raise RateLimited(
        f"too many failed logins: try again in {wait} seconds", retry_after=wait, field="username"
    )


def succeeded(db: sessionmaker[Session], username: str, client: str) -> None:
    """A correct password: the failures of this username from this client are forgiven."""
    user_key, client_key = _key(username, client)
    with transaction(db) as conn:
        conn.execute(
            delete(LoginFailure).where(
                LoginFailure.username == user_key, LoginFailure.client == client_key
            )
        )
