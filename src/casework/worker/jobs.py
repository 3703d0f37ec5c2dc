"""The job queue on the `jobs` table: claiming with a lease, finishing, retrying.

No broker: workers share the table. A claim moves a job from `pending` to `running` and
stamps it with the worker's name and a lease (`locked_until`). Every later write by that
worker is conditional on still holding the job, so a worker that lost its lease (it was
too slow and someone reclaimed the job) cannot overwrite the new owner's result.

A `running` job whose lease has expired belonged to a worker that died mid-job (kill -9,
OOM, power cut). The next claim takes it back, counting the crashed run as a failed
attempt, so a job that crashes every worker it touches still ends up `failed`.

Every function here is one short transaction of its own: the worker never holds a
transaction open while a handler runs.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from casework.services.transactions import transaction
from casework.store.direct import DirectQuery, DirectStatement
from casework.store.tables import JOB_PENDING_WHERE, JOB_RUNNING_WHERE, Job, table_of

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
MAX_ERROR_CHARS = 4000
LEASE_EXPIRED = "the worker running it stopped before finishing (lease expired)"


def utc(value: datetime) -> datetime:
    """Aware UTC. SQLite hands back naive datetimes; we only ever store UTC there."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A snapshot of a job as it was claimed (detached from any session)."""

    id: int
    kind: str
    case_id: str | None
    ref: str | None
    payload: dict[str, Any]
    due_at: datetime
    attempts: int  # failed (or crashed) runs before this one
    max_attempts: int
    idempotency_key: str
    last_error: str | None = None

    @property
    def attempt(self) -> int:
        """This run's number, from 1."""
        return self.attempts + 1

    @property
    def exhausted(self) -> bool:
        """Already out of attempts (e.g. it crashed its workers): give up, don't run it."""
        return self.attempts >= self.max_attempts


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits base * 2**(n-1), at most `cap`.

    The jitter takes up to `jitter` (a fraction) off the delay, so the jobs that failed
    together (an outage of the system a handler calls) do not all come back together.
    """

    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.2
    rand: Any = field(default=random.random, compare=False, repr=False)

    def delay(self, failed_attempts: int) -> timedelta:
        exponent = max(failed_attempts - 1, 0)
        # min() before multiplying keeps 2**exponent from overflowing timedelta.
        raw = self.cap if exponent >= 40 else min(self.cap, self.base * (2**exponent))
        return raw * (1.0 - self.jitter * float(self.rand()))


def _error_text(error: str) -> str:
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"


# A URL's credentials (scheme://user:password@) and its query (?token=...).
_URL_SECRETS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)[^\s/@]+@|(?P<query>\?)[^\s#'\"]+")


def shown_error(error: str) -> str:
    """A handler's error as the case's record may show it (to everyone who sees the case
    and to webhook subscribers, where `last_error` is for administrators): URLs keep their
    host and path, not their credentials or query, where API keys and tokens travel."""

    def scrub(match: re.Match[str]) -> str:
        return f"{match['scheme']}…@" if match["scheme"] else "?…"

    return _URL_SECRETS.sub(scrub, error)


def _snapshot(job: Any) -> ClaimedJob:
    """From a `jobs` row (Core row or ORM object: the same attribute names)."""
    return ClaimedJob(
        id=job.id,
        kind=job.kind,
        case_id=job.case_id,
        ref=job.ref,
        payload=dict(job.payload or {}),
        due_at=utc(job.due_at),
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        idempotency_key=job.idempotency_key,
        last_error=job.last_error,
    )


def claim(
    db: sessionmaker[Session],
    *,
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[ClaimedJob]:
    """Take up to `limit` due jobs (and jobs whose lease expired) for `worker`.

    Two statements, each an UPDATE of the jobs it picks in a subquery, returning them:
    first the expired ones (so a flood of new jobs cannot starve a crashed one), then due
    pending ones. On PostgreSQL the subqueries lock what they pick with SKIP LOCKED, so
    concurrent claimers pass over each other's jobs instead of queueing; SQLite has no row
    locks, and its BEGIN IMMEDIATE (see store.db) serialises claimers instead.
    """
    now = utc(now)
    params = {"b_now": now, "b_worker": worker, "b_until": now + lease}
    with transaction(db) as conn:
        if conn.dialect.name == "postgresql":
            _GENERIC_PLANS.execute(conn, {})
        rows = _RECLAIM_EXPIRED.all(conn, {**params, "b_limit": limit})
        if len(rows) < limit:
            rows += _CLAIM_PENDING.all(conn, {**params, "b_limit": limit - len(rows)})
    return sorted((_snapshot(row) for row in rows), key=lambda job: (job.due_at, job.id))


def _owned(job: ClaimedJob, worker: str) -> Any:
    return and_(Job.id == job.id, Job.status == RUNNING, Job.locked_by == worker)


def _update_owned(db: sessionmaker[Session], job: ClaimedJob, worker: str, **values: Any) -> bool:
    """Write to a job only while `worker` still holds it; False when the lease was lost."""
    with db.begin() as session:
        result = session.execute(
            update(Job)
            .where(_owned(job, worker))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def renew(
    db: sessionmaker[Session], job: ClaimedJob, *, worker: str, now: datetime, lease: timedelta
) -> bool:
    """Extend the lease before running a job (the batch may have waited behind others)."""
    return _update_owned(db, job, worker, locked_until=utc(now) + lease)


def mark_done_in(
    session: Session | Connection, job: ClaimedJob, *, worker: str, note: str | None = None
) -> bool:
    """Mark the job done inside the caller's transaction (the one changing the case)."""
    conn = session if isinstance(session, Connection) else session.connection()
    done = _MARK_DONE.execute(conn, {"b_id": job.id, "b_worker": worker, "last_error": note})
    return bool(done.rowcount)


_JOBS = table_of(Job)
# For the claim's transaction: PostgreSQL keeps a prepared statement's generic plan only
# when it looks no dearer than one made for the values at hand, and for "due before
# $now" over a long queue of jobs not yet due it never does (a third of the queue
# guessed against none), so the claim was planned again on every poll. Its plan is the
# same either way: the partial index in due order, up to the limit. The SET is a round
# trip of its own, and an empty poll over 20,000 jobs not yet due still takes about
# 300 µs less (1.1-1.3 against 1.4-1.5 ms).
_GENERIC_PLANS = DirectStatement(text("SET LOCAL plan_cache_mode = force_generic_plan"))
# Built once: these run for every job, and a prebuilt statement skips SQLAlchemy's
# per-call construction and cache-key work.


def _pick(name: str, *conditions: Any) -> Any:
    """The ids of up to `b_limit` jobs meeting `conditions`, oldest due first, locked
    (PostgreSQL) and skipped by other claimers while this transaction lasts.

    A materialised CTE, not an `IN (subquery)`: PostgreSQL may run such a subquery more
    than once, its LIMIT then bounding each run rather than the claim (it took every due
    job in a test)."""
    picked = (
        select(_JOBS.c.id)
        .where(*conditions)
        .order_by(_JOBS.c.due_at, _JOBS.c.id)
        .limit(bindparam("b_limit"))
        .with_for_update(skip_locked=True)
        .cte(name)
        .prefix_with("MATERIALIZED")
    )
    return select(picked.c.id)


# The partial indexes' own conditions, in their words, so both databases use them.
_DUE = (text(JOB_PENDING_WHERE), _JOBS.c.due_at <= bindparam("b_now"))
_EXPIRED = (text(JOB_RUNNING_WHERE), _JOBS.c.locked_until < bindparam("b_now"))
# Direct queries: SQLAlchemy's execution of them (the statement's cache key, the
# execution context, the result's metadata) was most of an empty poll's CPU (85 against
# 32 µs on SQLite) and a tenth of a timer job's time there, 25 jobs to a claim.
_CLAIM_PENDING = DirectQuery(
    _JOBS.update()
    .where(_JOBS.c.id.in_(_pick("due", *_DUE)), *_DUE)
    .values(status=RUNNING, locked_by=bindparam("b_worker"), locked_until=bindparam("b_until"))
    .returning(*_JOBS.c)
)
# Reclaiming after a crash: the crashed run counts as a failed attempt.
_RECLAIM_EXPIRED = DirectQuery(
    _JOBS.update()
    .where(_JOBS.c.id.in_(_pick("expired", *_EXPIRED)), *_EXPIRED)
    .values(
        status=RUNNING,
        locked_by=bindparam("b_worker"),
        locked_until=bindparam("b_until"),
        attempts=_JOBS.c.attempts + 1,
        last_error=LEASE_EXPIRED,
    )
    .returning(*_JOBS.c)
)
_MARK_DONE = DirectStatement(
    _JOBS.update()
    .where(
        _JOBS.c.id == bindparam("b_id"),
        _JOBS.c.status == RUNNING,
        _JOBS.c.locked_by == bindparam("b_worker"),
    )
    .values(status=DONE, locked_until=None, last_error=bindparam("last_error"))
)


def mark_done(
    db: sessionmaker[Session], job: ClaimedJob, *, worker: str, note: str | None = None
) -> bool:
    # locked_by stays as a record of who ran it; locked_until no longer means anything.
    return _update_owned(db, job, worker, status=DONE, locked_until=None, last_error=note)


def mark_failed(
    db: sessionmaker[Session], job: ClaimedJob, *, worker: str, attempts: int, error: str
) -> bool:
    """Give up on the job for good: it stays `failed` until someone requeues it."""
    return _update_owned(
        db,
        job,
        worker,
        status=FAILED,
        attempts=attempts,
        locked_until=None,
        last_error=_error_text(error),
    )


def schedule_retry(
    db: sessionmaker[Session],
    job: ClaimedJob,
    *,
    worker: str,
    attempts: int,
    due_at: datetime,
    error: str,
) -> bool:
    """Back to `pending`, due again at `due_at`, with the error kept for operators."""
    return _update_owned(
        db,
        job,
        worker,
        status=PENDING,
        attempts=attempts,
        due_at=utc(due_at),
        locked_by=None,
        locked_until=None,
        last_error=_error_text(error),
    )


def release(db: sessionmaker[Session], job: ClaimedJob, *, worker: str) -> bool:
    """Hand a claimed but unstarted job back (shutting down): no attempt is used up."""
    return _update_owned(db, job, worker, status=PENDING, locked_by=None, locked_until=None)
